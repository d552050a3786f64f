#include "gate/mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ttt {
namespace {

// P(Z > z) for a standard normal Z.
double normal_sf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

void check_sample(const std::vector<double>& sample, const char* name) {
  if (sample.empty()) {
    throw std::invalid_argument(std::string("[mann_whitney_u] sample ") + name + " is empty");
  }
  for (double value : sample) {
    if (std::isnan(value)) {
      throw std::invalid_argument(std::string("[mann_whitney_u] sample ") + name + " holds a NaN");
    }
  }
}

}  // namespace

std::vector<std::uint64_t> mann_whitney_u_counts(std::size_t n, std::size_t m) {
  if (n + m > kExactLimit) {
    throw std::invalid_argument("[mann_whitney_u] exact counts need n + m <= " +
                                std::to_string(kExactLimit) + ", got " + std::to_string(n + m));
  }
  // counts[i][j][u]: arrangements of i x's and j y's with U = u. The largest pooled value is an x
  // (it exceeds all j y's: U grows by j) or a y (U unchanged).
  std::vector<std::vector<std::vector<std::uint64_t>>> counts(
      n + 1, std::vector<std::vector<std::uint64_t>>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) {
    for (std::size_t j = 0; j <= m; ++j) {
      std::vector<std::uint64_t>& here = counts[i][j];
      here.assign(i * j + 1, 0);
      if (i == 0 || j == 0) {
        here[0] = 1;
        continue;
      }
      const std::vector<std::uint64_t>& x_last = counts[i - 1][j];
      const std::vector<std::uint64_t>& y_last = counts[i][j - 1];
      for (std::size_t u = 0; u < x_last.size(); ++u) here[u + j] += x_last[u];
      for (std::size_t u = 0; u < y_last.size(); ++u) here[u] += y_last[u];
    }
  }
  return counts[n][m];
}

double smallest_p_value(std::size_t n, std::size_t m, Alternative alternative) {
  if (n == 0 || m == 0) return 1.0;
  const double log_choose = std::lgamma(static_cast<double>(n + m) + 1.0) -
                            std::lgamma(static_cast<double>(n) + 1.0) -
                            std::lgamma(static_cast<double>(m) + 1.0);
  const double one_sided = std::exp(-log_choose);
  return alternative == Alternative::two_sided ? std::min(1.0, 2.0 * one_sided) : one_sided;
}

MannWhitneyResult mann_whitney_u(const std::vector<double>& x, const std::vector<double>& y,
                                 Alternative alternative) {
  check_sample(x, "x");
  check_sample(y, "y");
  MannWhitneyResult result;
  result.n = x.size();
  result.m = y.size();
  const std::size_t total = x.size() + y.size();

  // Mid-ranks of the pooled sample (1-based) and the tie groups.
  std::vector<std::pair<double, bool>> pooled;  // (value, is x)
  pooled.reserve(total);
  for (double value : x) pooled.emplace_back(value, true);
  for (double value : y) pooled.emplace_back(value, false);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum_x = 0.0;
  double tie_term = 0.0;  // sum(t^3 - t) over tie groups.
  for (std::size_t start = 0; start < total;) {
    std::size_t end = start + 1;
    while (end < total && pooled[end].first == pooled[start].first) ++end;
    const double group = static_cast<double>(end - start);
    const double mid_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (std::size_t k = start; k < end; ++k) {
      if (pooled[k].second) rank_sum_x += mid_rank;
    }
    if (group > 1) {
      tie_term += group * group * group - group;
      result.ties = true;
    }
    start = end;
  }
  const double n = static_cast<double>(result.n);
  const double m = static_cast<double>(result.m);
  result.u = rank_sum_x - n * (n + 1.0) / 2.0;

  if (!result.ties && total <= kExactLimit) {
    result.exact = true;
    const std::vector<std::uint64_t> counts = mann_whitney_u_counts(result.n, result.m);
    const double all =
        std::accumulate(counts.begin(), counts.end(), 0.0,
                        [](double sum, std::uint64_t c) { return sum + static_cast<double>(c); });
    // Without ties U is an integer.
    const auto u = static_cast<std::size_t>(std::llround(result.u));
    double at_least = 0.0;  // P(U >= u)
    double at_most = 0.0;   // P(U <= u)
    for (std::size_t k = 0; k < counts.size(); ++k) {
      if (k >= u) at_least += static_cast<double>(counts[k]);
      if (k <= u) at_most += static_cast<double>(counts[k]);
    }
    at_least /= all;
    at_most /= all;
    switch (alternative) {
      case Alternative::greater:
        result.p_value = at_least;
        break;
      case Alternative::less:
        result.p_value = at_most;
        break;
      case Alternative::two_sided:
        result.p_value = std::min(1.0, 2.0 * std::min(at_least, at_most));
        break;
    }
    return result;
  }

  const double mean = n * m / 2.0;
  const double big_n = n + m;
  const double variance = n * m / 12.0 * ((big_n + 1.0) - tie_term / (big_n * (big_n - 1.0)));
  if (variance <= 0.0) {  // Every value equal: no evidence either way.
    result.p_value = 1.0;
    return result;
  }
  const double sigma = std::sqrt(variance);
  switch (alternative) {
    case Alternative::greater:
      result.p_value = normal_sf((result.u - mean - 0.5) / sigma);
      break;
    case Alternative::less:
      result.p_value = normal_sf((mean - result.u - 0.5) / sigma);
      break;
    case Alternative::two_sided:
      result.p_value = std::min(1.0, 2.0 * normal_sf((std::abs(result.u - mean) - 0.5) / sigma));
      break;
  }
  return result;
}

}  // namespace ttt

// Independent reference for the metrics tests: every metric written as the plainest loop over
// doubles (two passes for Pearson, full sorts for quantiles), sharing no code with the library.
// Also a fixed-seed data generator so the tests never depend on other libraries' random numbers.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace ttt::testing {

// SplitMix64 from a fixed seed; uniform doubles and Box-Muller normals.
class TestRandom {
 public:
  explicit TestRandom(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  // In [low, high).
  double uniform(double low = 0.0, double high = 1.0) {
    return low + (high - low) * static_cast<double>(next() >> 11) * 0x1p-53;
  }

  double normal(double mean = 0.0, double std = 1.0) {
    const double u1 = 1.0 - uniform();  // In (0, 1].
    const double u2 = uniform();
    return mean + std * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  std::vector<float> normals(std::size_t count, double mean = 0.0, double std = 1.0) {
    std::vector<float> values(count);
    for (float& value : values) value = static_cast<float>(normal(mean, std));
    return values;
  }

 private:
  std::uint64_t state_;
};

struct NaiveMetrics {
  std::int64_t finite_pairs = 0;
  double max_abs_error = 0.0;
  std::int64_t max_abs_error_index = -1;
  double mean_abs_error = 0.0;
  double rmse = 0.0;
  double nmse = 0.0;
  double max_rel_error = 0.0;
  double cosine_similarity = 0.0;
  double max_ulp_error = 0.0;
  std::int64_t mismatched = 0;  // Finite pairs outside tolerance plus non-finite mismatches.
  std::int64_t nan_actual = 0;
  std::int64_t nan_expected = 0;
  std::int64_t inf_actual = 0;
  std::int64_t inf_expected = 0;
  std::int64_t nonfinite_mismatched = 0;
  std::int64_t first_nonfinite_mismatch = -1;
};

// ULP of e for an IEEE-like format with `mantissa_bits` stored bits and smallest normal exponent
// `min_exponent`, via frexp: e = f * 2^k with 0.5 <= |f| < 1, so floor(log2|e|) = k - 1.
inline double naive_ieee_ulp(double e, int mantissa_bits, int min_exponent) {
  int k = 0;
  std::frexp(e, &k);
  const int exponent = e == 0.0 ? min_exponent : std::max(k - 1, min_exponent);
  return std::ldexp(1.0, exponent - mantissa_bits);
}

// `ulp(i)` gives the ULP of expected[i].
template <typename Ulp>
NaiveMetrics naive_metrics(const std::vector<double>& a, const std::vector<double>& e, double rtol,
                           double atol, Ulp&& ulp) {
  NaiveMetrics m;
  double sum_abs = 0, sum_sq = 0, sum_ee = 0, sum_aa = 0, sum_ae = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) ++m.nan_actual;
    if (std::isinf(a[i])) ++m.inf_actual;
    if (std::isnan(e[i])) ++m.nan_expected;
    if (std::isinf(e[i])) ++m.inf_expected;
    if (!std::isfinite(a[i]) || !std::isfinite(e[i])) {
      const bool both_nan = std::isnan(a[i]) && std::isnan(e[i]);
      const bool same_inf = std::isinf(a[i]) && a[i] == e[i];
      if (!both_nan && !same_inf) {
        ++m.nonfinite_mismatched;
        ++m.mismatched;
        if (m.first_nonfinite_mismatch < 0)
          m.first_nonfinite_mismatch = static_cast<std::int64_t>(i);
      }
      continue;
    }
    ++m.finite_pairs;
    const double d = std::fabs(a[i] - e[i]);
    if (d > m.max_abs_error || m.max_abs_error_index < 0) {
      m.max_abs_error = d;
      m.max_abs_error_index = static_cast<std::int64_t>(i);
    }
    sum_abs += d;
    sum_sq += d * d;
    sum_ee += e[i] * e[i];
    sum_aa += a[i] * a[i];
    sum_ae += a[i] * e[i];
    const double denominator =
        e[i] == 0.0 ? std::numeric_limits<double>::epsilon() : std::fabs(e[i]);
    m.max_rel_error = std::max(m.max_rel_error, d / denominator);
    m.max_ulp_error = std::max(m.max_ulp_error, d / ulp(i));
    if (d > atol + rtol * std::fabs(e[i])) ++m.mismatched;
  }
  if (m.finite_pairs > 0) {
    m.mean_abs_error = sum_abs / static_cast<double>(m.finite_pairs);
    m.rmse = std::sqrt(sum_sq / static_cast<double>(m.finite_pairs));
  }
  m.nmse = sum_ee > 0 ? sum_sq / sum_ee : (sum_sq > 0 ? INFINITY : 0.0);
  m.cosine_similarity = sum_aa > 0 && sum_ee > 0     ? sum_ae / std::sqrt(sum_aa * sum_ee)
                        : sum_aa == 0 && sum_ee == 0 ? 1.0
                                                     : 0.0;
  return m;
}

// Two-pass Pearson over values with NaN/Inf replaced by zero (no edge cases: both sides vary).
inline double naive_masked_pearson(const std::vector<double>& a, const std::vector<double>& e) {
  const auto masked = [](double v) { return std::isfinite(v) ? v : 0.0; };
  long double mean_a = 0, mean_e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    mean_a += masked(a[i]);
    mean_e += masked(e[i]);
  }
  mean_a /= static_cast<long double>(a.size());
  mean_e /= static_cast<long double>(a.size());
  long double co = 0, var_a = 0, var_e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const long double x = masked(a[i]) - mean_a;
    const long double y = masked(e[i]) - mean_e;
    co += x * y;
    var_a += x * x;
    var_e += y * y;
  }
  return static_cast<double>(co / std::sqrt(var_a * var_e));
}

// numpy's default ("linear") quantile by a full sort.
inline double naive_quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double position = static_cast<double>(values.size() - 1) * q;
  const auto low = static_cast<std::size_t>(std::floor(position));
  const std::size_t high = std::min(low + 1, values.size() - 1);
  return values[low] + (values[high] - values[low]) * (position - static_cast<double>(low));
}

}  // namespace ttt::testing

// The Mann-Whitney U test (gate/mann_whitney.h) against values computed independently:
// by enumerating every arrangement in the test itself, from textbook critical-value tables, and
// from the normal approximation evaluated separately (Python's math module, formula of scipy's
// mannwhitneyu(method="asymptotic")).
#include "gate/mann_whitney.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <stdexcept>

namespace ttt {
namespace {

// U distribution counts by brute force: every way of choosing which n of the n + m ranks are x's.
std::vector<std::uint64_t> enumerate_counts(std::size_t n, std::size_t m) {
  std::vector<std::uint64_t> counts(n * m + 1, 0);
  const std::size_t total = n + m;
  for (std::uint64_t mask = 0; mask < (std::uint64_t{1} << total); ++mask) {
    if (static_cast<std::size_t>(__builtin_popcountll(mask)) != n) continue;
    std::size_t u = 0;
    std::size_t ys_below = 0;
    for (std::size_t rank = 0; rank < total; ++rank) {
      if ((mask >> rank) & 1U) {
        u += ys_below;
      } else {
        ++ys_below;
      }
    }
    ++counts[u];
  }
  return counts;
}

std::vector<double> range(double first, std::size_t count) {
  std::vector<double> values(count);
  std::iota(values.begin(), values.end(), first);
  return values;
}

TEST(MannWhitney, ExactCountsMatchEnumeration) {
  for (const auto& [n, m] :
       {std::pair<std::size_t, std::size_t>{1, 1}, {2, 3}, {4, 5}, {6, 6}, {3, 9}}) {
    EXPECT_EQ(mann_whitney_u_counts(n, m), enumerate_counts(n, m)) << n << " and " << m;
  }
  // Spot values of the 4-and-5 distribution, counted by hand from the enumeration: U = 0 and 20
  // once each, U = 10 (the centre) 12 times, 126 arrangements in all.
  const std::vector<std::uint64_t> counts = mann_whitney_u_counts(4, 5);
  EXPECT_EQ(counts.front(), 1u);
  EXPECT_EQ(counts[10], 12u);
  EXPECT_EQ(counts.back(), 1u);
  EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}), 126u);
}

TEST(MannWhitney, CompletelySeparatedSamples) {
  // Every x above every y: U = n m; one arrangement of C(10, 5) = 252 is that extreme.
  const MannWhitneyResult greater = mann_whitney_u(range(6, 5), range(1, 5), Alternative::greater);
  EXPECT_TRUE(greater.exact);
  EXPECT_FALSE(greater.ties);
  EXPECT_DOUBLE_EQ(greater.u, 25.0);
  EXPECT_NEAR(greater.p_value, 1.0 / 252.0, 1e-15);
  EXPECT_NEAR(mann_whitney_u(range(6, 5), range(1, 5), Alternative::two_sided).p_value, 2.0 / 252.0,
              1e-15);
  EXPECT_NEAR(mann_whitney_u(range(6, 5), range(1, 5), Alternative::less).p_value, 1.0, 1e-15);
  // Three against three: the smallest possible one-sided p is 1 / C(6, 3) = 0.05.
  const MannWhitneyResult small = mann_whitney_u({4, 5, 6}, {1, 2, 3}, Alternative::greater);
  EXPECT_NEAR(small.p_value, 0.05, 1e-15);
  EXPECT_NEAR(smallest_p_value(3, 3, Alternative::greater), 0.05, 1e-12);
  EXPECT_NEAR(smallest_p_value(9, 9, Alternative::greater), 1.0 / 48620.0, 1e-15);
  EXPECT_NEAR(smallest_p_value(3, 3, Alternative::two_sided), 0.1, 1e-12);
}

TEST(MannWhitney, TextbookCriticalValuesForNineAndNine) {
  // Mann-Whitney tables, n1 = n2 = 9: one-tailed alpha 0.01 -> U_crit 14, alpha 0.05 -> 21.
  // P(U <= 14) <= 0.01 < P(U <= 15), P(U <= 21) <= 0.05 < P(U <= 22).
  const std::vector<std::uint64_t> counts = mann_whitney_u_counts(9, 9);
  const double all = 48620.0;
  double cumulative = 0.0;
  std::vector<double> cdf;
  for (std::uint64_t count : counts) {
    cumulative += static_cast<double>(count);
    cdf.push_back(cumulative / all);
  }
  EXPECT_LE(cdf[14], 0.01);
  EXPECT_GT(cdf[15], 0.01);
  EXPECT_LE(cdf[21], 0.05);
  EXPECT_GT(cdf[22], 0.05);
  EXPECT_NEAR(cdf[14], 0.009378856437679967, 1e-15);  // Enumerated separately (48620 subsets).
}

TEST(MannWhitney, ExactPValueOfAnOverlappingRegression) {
  // Head: four fast outliers, five slow; base in between. U = 5 * 9 = 45 of 81; the exact
  // P(U >= 45) for 9 and 9 from the enumerated distribution.
  const std::vector<double> base = range(100, 9);
  const std::vector<double> head = {95, 96, 97, 98, 120, 121, 122, 123, 124};
  const MannWhitneyResult result = mann_whitney_u(head, base, Alternative::greater);
  EXPECT_DOUBLE_EQ(result.u, 45.0);
  const std::vector<std::uint64_t> counts = enumerate_counts(9, 9);
  const double at_least =
      std::accumulate(counts.begin() + 45, counts.end(), 0.0,
                      [](double s, std::uint64_t c) { return s + static_cast<double>(c); }) /
      48620.0;
  EXPECT_NEAR(result.p_value, at_least, 1e-15);
  EXPECT_GT(result.p_value, 0.3);
}

TEST(MannWhitney, NormalApproximationWithTieCorrection) {
  // Ties force the normal approximation. Expected values evaluated separately with the formula
  // (mean n m / 2, tie-corrected variance, continuity 0.5): U = 101, p = 0.04901658633729296
  // one-sided, 0.09803317267458592 two-sided. The exact permutation p-value (all 2704156
  // arrangements of the mid-ranks) is 0.049383615442304366: the approximation is close.
  const std::vector<double> x = {3, 4, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11};
  const std::vector<double> y = {1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 8};
  const MannWhitneyResult greater = mann_whitney_u(x, y, Alternative::greater);
  EXPECT_TRUE(greater.ties);
  EXPECT_FALSE(greater.exact);
  EXPECT_DOUBLE_EQ(greater.u, 101.0);
  EXPECT_NEAR(greater.p_value, 0.04901658633729296, 1e-12);
  EXPECT_NEAR(greater.p_value, 0.049383615442304366, 1e-3);
  EXPECT_NEAR(mann_whitney_u(x, y, Alternative::two_sided).p_value, 0.09803317267458592, 1e-12);
}

TEST(MannWhitney, NormalApproximationForLargeSamplesWithoutTies) {
  // 35 and 35 values (n + m = 70 > kExactLimit): x = 0, 2, ..., 68; y = 11, 13, ..., 79.
  std::vector<double> x;
  std::vector<double> y;
  for (int i = 0; i < 35; ++i) {
    x.push_back(2.0 * i);
    y.push_back(2.0 * i + 11.0);
  }
  const MannWhitneyResult less = mann_whitney_u(x, y, Alternative::less);
  EXPECT_FALSE(less.exact);
  EXPECT_DOUBLE_EQ(less.u, 435.0);
  EXPECT_NEAR(less.p_value, 0.01880599549301137, 1e-12);
  EXPECT_NEAR(mann_whitney_u(x, y, Alternative::greater).p_value, 0.9817271995024858, 1e-12);
}

TEST(MannWhitney, AllValuesEqualGiveNoEvidence) {
  const MannWhitneyResult result = mann_whitney_u({5, 5, 5}, {5, 5, 5, 5}, Alternative::greater);
  EXPECT_DOUBLE_EQ(result.p_value, 1.0);
  EXPECT_DOUBLE_EQ(result.u, 6.0);
}

TEST(MannWhitney, BadSamplesThrow) {
  EXPECT_THAT([] { mann_whitney_u({}, {1.0}, Alternative::greater); },
              ::testing::ThrowsMessage<std::invalid_argument>(::testing::HasSubstr("x is empty")));
  EXPECT_THAT(
      [] { mann_whitney_u({1.0}, {std::nan("")}, Alternative::greater); },
      ::testing::ThrowsMessage<std::invalid_argument>(::testing::HasSubstr("y holds a NaN")));
  EXPECT_THROW(mann_whitney_u_counts(40, 40), std::invalid_argument);
}

}  // namespace
}  // namespace ttt

// The Mann-Whitney U test (Wilcoxon rank-sum): do two samples of repetition times come from the
// same distribution, or is one stochastically larger? Google Benchmark's compare.py and asv use it
// to tell a latency change from noise; `ttt gate` does too (docs/gate.md).
//
//   MannWhitneyResult r = mann_whitney_u(head_ns, base_ns, Alternative::greater);
//   if (r.p_value < 0.01) ...  // head is slower than base beyond chance
//
// U of the first sample x is the number of pairs (x_i, y_j) with x_i > y_j, a tie counting 1/2
// (equivalently R_x - n(n+1)/2 with R_x the sum of x's mid-ranks in the pooled sample).
// p-values:
//   - exact, from the distribution of U over all C(n+m, n) equally likely arrangements, when
//     there are no ties and n + m <= kExactLimit;
//   - otherwise the normal approximation with the tie correction of the variance,
//       mean n m / 2, variance n m / 12 ((N + 1) - sum(t^3 - t) / (N (N - 1))), N = n + m,
//     (t: the size of each group of tied values) and a continuity correction of 1/2, as scipy's
//     mannwhitneyu(method="asymptotic", use_continuity=True).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ttt {

// Largest n + m whose p-values are computed from the exact distribution (its counts, up to
// C(60, 30) ~ 1.2e17, fit in 64 bits).
inline constexpr std::size_t kExactLimit = 60;

// Which difference the test looks for.
enum class Alternative {
  greater,    // x tends to be larger than y (head slower than base).
  less,       // x tends to be smaller than y.
  two_sided,  // Either.
};

struct MannWhitneyResult {
  double u = 0.0;        // U of x.
  double p_value = 1.0;  // In [0, 1].
  bool exact = false;    // From the exact distribution (no ties, small samples).
  bool ties = false;     // The pooled sample has tied values.
  std::size_t n = 0;     // Size of x.
  std::size_t m = 0;     // Size of y.
};

// Runs the test. Throws std::invalid_argument when a sample is empty or holds a NaN.
MannWhitneyResult mann_whitney_u(const std::vector<double>& x, const std::vector<double>& y,
                                 Alternative alternative);

// The number of arrangements of n x's and m y's (without ties) whose U equals u, for u = 0 ..
// n m: the exact null distribution times C(n+m, n). REQUIRES: n + m <= kExactLimit.
std::vector<std::uint64_t> mann_whitney_u_counts(std::size_t n, std::size_t m);

// The smallest p-value the test can reach with samples of sizes n and m (no ties): 1 / C(n+m, n)
// one-sided, twice that two-sided. With 3 and 3 repetitions it is 0.05: no difference can be
// significant at p < 0.01, so a gate must say "too few repetitions" instead of guessing.
double smallest_p_value(std::size_t n, std::size_t m, Alternative alternative);

}  // namespace ttt

// Internal to the metrics library (not installed): the passes over the data behind
// compute_metrics(). Tests include this header to check each kernel against naive loops.
#pragma once

#include <cstdint>
#include <optional>

#include "validation/metrics/metrics.h"

namespace ttt::metrics_internal {

// The in-memory element type of one side (float64 holds doubles, every other floating dtype
// float32 values).
enum class ElementType : std::uint8_t { float32, int32, int64, float64 };

// How a ULP of the expected value is measured (docs/metrics.md, "max_ulp_error").
struct UlpRule {
  enum class Kind : std::uint8_t {
    ieee,     // 2^(max(exponent(e), min_exponent) - mantissa_bits): float32, float16, bfloat16,
              // float64.
    block,    // The mantissa unit of e's block: 2^(E - 126 - mantissa_bits), E its shared exponent.
    integer,  // 1.
  };
  Kind kind = Kind::ieee;
  int mantissa_bits = 23;       // Stored mantissa bits (ieee) or bits per value (block).
  int min_exponent = -126;      // ieee: exponent of the smallest normal number.
  std::int64_t row_length = 1;  // block: values per row; blocks of 16 run along each row.
};

// The ULP rule of a dtype.
UlpRule ulp_rule(DType dtype, const Shape& shape);

// Both sides of a comparison as raw arrays of `numel` elements.
struct PassInput {
  const void* actual = nullptr;
  ElementType actual_type = ElementType::float32;
  const void* expected = nullptr;
  ElementType expected_type = ElementType::float32;
  std::int64_t numel = 0;
  double rtol = 0.0;
  double atol = 0.0;
  UlpRule ulp;
};

// Which implementation runs a pass. `automatic` picks, for float32 pairs, AVX-512 when the CPU has
// it, else AVX2, else the portable kernel; other element types always run the portable kernel.
// `avx2` and `avx512` throw std::logic_error when the CPU lacks them or a side is not float32.
// Every kernel gives the same bits: the AVX2 kernel computes the AVX-512 kernel's eight lanes in
// two halves and reduces them in the same order, and the second pass only counts and selects.
enum class Kernel : std::uint8_t { automatic, portable, avx2, avx512 };

// True when this CPU runs the AVX-512 kernels (AVX-512 F and DQ).
bool avx512_supported();
// True when this CPU runs the AVX2 kernels (AVX2 and FMA).
bool avx2_supported();

// What a pass counts over a range of elements (one chunk, or all of them).
struct ElementCounts {
  std::int64_t finite_pairs = 0;
  std::int64_t nan_actual = 0;
  std::int64_t nan_expected = 0;
  std::int64_t inf_actual = 0;
  std::int64_t inf_expected = 0;
  std::int64_t nonfinite_mismatched = 0;
  std::int64_t first_nonfinite_mismatch = -1;  // Index of the first; -1 when none.

  // Adds the counts of the range that follows this one.
  void add(const ElementCounts& next) {
    finite_pairs += next.finite_pairs;
    nan_actual += next.nan_actual;
    nan_expected += next.nan_expected;
    inf_actual += next.inf_actual;
    inf_expected += next.inf_expected;
    nonfinite_mismatched += next.nonfinite_mismatched;
    if (first_nonfinite_mismatch < 0) first_nonfinite_mismatch = next.first_nonfinite_mismatch;
  }
};

// Everything the fused pass collects; compute_metrics() derives the metrics from it.
struct PassTotals : ElementCounts {
  std::int64_t numel = 0;

  // Pearson inputs over every position with non-finite values replaced by 0 (tt-metal's masking):
  // means, sums of squared deviations and the co-moment sum (a - mean_a)(e - mean_e).
  double mean_actual = 0.0;
  double mean_expected = 0.0;
  double m2_actual = 0.0;
  double m2_expected = 0.0;
  double co_moment = 0.0;
  // Whether each masked side holds one value only (true for empty tensors), and that value.
  bool actual_constant = true;
  bool expected_constant = true;
  double actual_value = 0.0;
  double expected_value = 0.0;
  // Whether a side holds any raw value other than zero (NaN and Inf count as nonzero).
  bool actual_nonzero = false;
  bool expected_nonzero = false;
  // Whether the masked sides are equal element by element.
  bool masked_equal = true;

  // Over finite pairs.
  double sum_abs_error = 0.0;
  double sum_squared_error = 0.0;
  double sum_actual_squared = 0.0;
  double sum_expected_squared = 0.0;
  double sum_product = 0.0;
  double max_abs_error = 0.0;
  std::int64_t max_abs_error_index = -1;
  double max_rel_error = 0.0;
  double max_ulp_error = 0.0;
  std::int64_t mismatched = 0;             // Finite pairs with |a-e| > atol + rtol|e|.
  std::int64_t worst_mismatch_index = -1;  // The largest excess over the tolerance among those.
};

// The fused pass. REQUIRES: input arrays hold numel elements of their types.
PassTotals fused_pass(const PassInput& input, Kernel kernel = Kernel::automatic);

// The second pass: quantiles and/or the histogram of |a - e| over the finite pairs.
// `max_abs_error` is the max the fused pass found; histogram_bins 0 means no histogram.
// One pass counts the errors below every histogram edge and gathers the errors inside a bracket
// around each quantile's order statistics, the brackets read off a strided sample; a bracket that
// turns out not to hold its order statistics (a sample unlike the data) falls back to
// radix_error_distribution. Both are exact.
struct ErrorDistribution {
  std::optional<ErrorQuantiles> quantiles;
  std::optional<ErrorHistogram> histogram;
};
ErrorDistribution error_distribution(const PassInput& input, std::int64_t finite_pairs,
                                     double max_abs_error, bool quantiles, int histogram_bins,
                                     Kernel kernel = Kernel::automatic);

// The same by radix select on the errors' bit patterns, 16 bits per pass (two or three passes
// over the data, scalar): error_distribution's fallback, and what it replaced.
ErrorDistribution radix_error_distribution(const PassInput& input, std::int64_t finite_pairs,
                                           double max_abs_error, bool quantiles,
                                           int histogram_bins);

// Whether every masked pair (non-finite values replaced by 0) satisfies
// |e - a| <= atol + rtol * |a|, torch.allclose(expected, actual) as tt-metal calls it.
bool masked_allclose(const PassInput& input, double rtol, double atol);

}  // namespace ttt::metrics_internal

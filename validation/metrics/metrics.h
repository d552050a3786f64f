// Metrics that compare a device output (actual) with a reference output (expected).
//
// compute_metrics() makes one fused pass over both tensors with float64 accumulation; quantiles
// and the error histogram need a second pass and can be turned off. docs/metrics.md defines each
// metric and its edge cases (PCC follows tt-metal's comp_pcc exactly).
//
// Error metrics (max/mean absolute error, rmse, nmse, relative error, cosine similarity, ULPs,
// quantiles, histogram) are taken over the finite pairs: positions where both sides are finite.
// Non-finite values are counted per side; a non-finite value not matched by the same value on the
// other side is a "non-finite mismatch", which fails a verdict unless explicitly allowed.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "validation/input/json_reader.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// Default allclose tolerances for a dtype: torch.testing.assert_close's table for
// float16/bfloat16/float32/float64, derived values for bfloat8_b/bfloat4_b (docs/metrics.md), and
// (0, 0) for integers.
struct AllcloseTolerance {
  double rtol = 0.0;
  double atol = 0.0;
};
AllcloseTolerance default_allclose_tolerance(DType dtype);

// The defaults for comparing two dtypes: the looser of the two, field by field (torch's rule), so a
// bfloat16 device output against a float32 reference gets bfloat16's tolerances.
AllcloseTolerance default_allclose_tolerance(DType actual_dtype, DType expected_dtype);

struct MetricsOptions {
  // allclose thresholds; unset means default_allclose_tolerance(actual.dtype(), expected.dtype()).
  // REQUIRES: finite and >= 0 when set.
  std::optional<double> rtol;
  std::optional<double> atol;
  // Second pass: p50/p90/p99 of |a - e| and a fixed-bin histogram of |a - e|.
  bool quantiles = true;
  bool histogram = true;
  // Log-spaced decades below the max error (docs/metrics.md). REQUIRES: 1 <= histogram_bins <= 64.
  int histogram_bins = 10;
};

// Quantiles of |a - e| over the finite pairs, with numpy's default ("linear") interpolation.
// All zero when there is no finite pair.
struct ErrorQuantiles {
  double p50 = 0.0;
  double p90 = 0.0;
  double p99 = 0.0;
};

// Counts of |a - e| over the finite pairs in decades below the max error M: edges are
// 0, M*10^(1-bins), ..., M*10^-1, M. Bin i holds edges[i] <= |a - e| < edges[i + 1]; the last bin
// also holds |a - e| == M (so every pair falls in the last bin when M is 0).
struct ErrorHistogram {
  std::vector<double> edges;         // bins + 1 ascending edges of |a - e|.
  std::vector<std::int64_t> counts;  // bins counts; finite pairs only.
};

struct Metrics {
  Shape shape;
  DType actual_dtype = DType::float32;
  DType expected_dtype = DType::float32;
  std::int64_t numel = 0;
  std::int64_t finite_pairs = 0;  // Positions where both sides are finite.

  double pcc = 0.0;  // tt-metal comp_pcc semantics (1 for empty tensors).
  double max_abs_error = 0.0;
  std::int64_t max_abs_error_index = -1;  // First flat index of the max; -1 when no finite pair.
  double mean_abs_error = 0.0;
  double rmse = 0.0;
  double nmse = 0.0;           // sum (a-e)^2 / sum e^2 (ggml); Inf when sum e^2 == 0 and a != e.
  double max_rel_error = 0.0;  // max |a-e| / |e|, |e| == 0 replaced by float64 epsilon.
  double cosine_similarity = 0.0;  // 1 when both sides are all zero, 0 when only one is.
  double max_ulp_error =
      0.0;  // In units of last place of the expected dtype at the expected value.
  // Lin's concordance correlation 2 cov(a, e) / (var(a) + var(e) + (mean(a) - mean(e))^2), over
  // the values pcc uses (non-finite replaced by 0). Unlike pcc it falls below 1 for a scale or an
  // offset error: PCC(2e, e) = 1, CCC(2e, e) < 1. 1 when both sides are the same constant.
  double ccc = 0.0;
  // Signal-to-quantization-noise ratio in dB, 10 log10(sum e^2 / sum (a-e)^2) over the finite
  // pairs, i.e. -10 log10(nmse): +Inf when the error is zero, -Inf when only sum e^2 is 0.
  double sqnr_db = 0.0;

  bool allclose = false;
  double rtol = 0.0;  // The thresholds allclose used.
  double atol = 0.0;
  std::int64_t mismatched = 0;  // Finite pairs outside tolerance plus non-finite mismatches.
  double mismatched_fraction = 0.0;
  // The first non-finite mismatch if any, else the largest |a-e| - (atol + rtol|e|); -1 if none.
  std::int64_t worst_mismatch_index = -1;

  std::int64_t nan_actual = 0;
  std::int64_t nan_expected = 0;
  std::int64_t inf_actual = 0;
  std::int64_t inf_expected = 0;
  // Positions where a non-finite value is not matched by the same value on the other side (an
  // Inf must match in sign, a NaN must face a NaN) (ggml's rule).
  std::int64_t nonfinite_mismatched = 0;
  std::int64_t first_nonfinite_mismatch_index = -1;  // -1 when there is none.

  std::optional<ErrorQuantiles> quantiles;
  std::optional<ErrorHistogram> histogram;
};

// Computes every metric. Shapes must match exactly (no broadcasting); dtypes may differ. Every
// metric is computed in float64 from the stored values (float64 tensors are not rounded), and an
// int64 side is subtracted exactly (2^62 + 1 against 2^62 is an error of 1). Throws std::invalid_argument naming both shapes on mismatch,
// an undefined tensor, or invalid options.
Metrics compute_metrics(const Tensor& actual, const Tensor& expected,
                        const MetricsOptions& options = {});

// SQNR in dB of an nmse: -10 log10(nmse); +Inf for 0, -Inf for +Inf.
double sqnr_db_from_nmse(double nmse);

// Optional thresholds per metric; unset thresholds are not checked.
struct Tolerances {
  std::optional<double> pcc;                  // pass when pcc >= value.
  std::optional<double> max_abs_error;        // pass when max_abs_error <= value.
  std::optional<double> mean_abs_error;       // <=
  std::optional<double> rmse;                 // <=
  std::optional<double> nmse;                 // <=
  std::optional<double> max_rel_error;        // <=
  std::optional<double> cosine_similarity;    // >=
  std::optional<double> max_ulp_error;        // <=
  std::optional<double> ccc;                  // >=
  std::optional<double> sqnr_db;              // >=
  std::optional<double> mismatched_fraction;  // allclose mismatches: pass when fraction <= value.
  bool require_allclose = false;              // fail unless allclose.
  bool allow_nonfinite_mismatch = false;      // ggml rule: by default a non-finite mismatch fails.

  // tt-metal's thresholds, TTTv2's default before default_tolerances(): pcc >= 0.99 and
  // max_abs_error <= 1e-2 (whatever the dtype and the scale of the data).
  static Tolerances tt_metal_default();
  // Overlay: thresholds set in `override_with` replace this one's; a flag is true when it is true
  // in either.
  Tolerances merged(const Tolerances& override_with) const;
};

// The default verdict for a device output of `output_dtype`, used wherever a caller gives no
// tolerances (the wrapper, block replay, MetricsWithin, `ttt compare`): nmse at most what rounding
// to that format allows, and non-finite values must match; integers must be equal
// (max_abs_error <= 0). nmse is scale free and ignores a common offset, so the default holds for
// data of any magnitude, where a PCC floor does not: RMSNorm outputs on inputs of mean 100 rounded
// once to bfloat16 reach only PCC 0.99984. docs/metrics.md derives each value:
//   float64 2^-90, float32 2^-32, float16 2^-18, bfloat16 2^-12, bfloat8_b 2^-10, bfloat4_b 2^-2.
// Tolerances::tt_metal_default() keeps the earlier default (pcc and max abs error).
Tolerances default_tolerances(DType output_dtype);

// The default for comparing two dtypes: the looser of the two, so a float32 output checked against
// a bfloat16 reference is judged at bfloat16's precision (as default_allclose_tolerance does).
Tolerances default_tolerances(DType actual_dtype, DType expected_dtype);

// A comparison's outcome: passed, and one readable line per failure, for example
// "pcc 0.9812 < 0.99" or "max_abs_error 0.31 > 0.05 at [2, 17, 4031]".
struct Verdict {
  bool passed = true;
  std::vector<std::string> failures;
  // Failures joined with "; ", or "pass".
  std::string text() const;
};

// Checks every set threshold; a metric that is NaN fails its threshold.
Verdict evaluate(const Metrics& metrics, const Tolerances& tolerances);

// JSON with the keys of `ttt compare --json` (docs/metrics.md); non-finite numbers become null.
nlohmann::json to_json(const Metrics& metrics);
// Set thresholds and both flags; unset thresholds are omitted.
nlohmann::json to_json(const Tolerances& tolerances);
// {"passed": bool, "failures": [string, ...]}.
nlohmann::json to_json(const Verdict& verdict);
// Inverses for reports and traces read back, through the strict reader (JsonNode): errors are
// "<source>: <JSON Pointer>: <what>", the source being the file when the caller passes a node,
// else the function's name ("metrics_from_json: /mismatched: expected an integer, got \"x\""). In
// metrics, null reads back as NaN, except nmse where it reads back as +Inf (its only non-finite
// value) and sqnr_db, derived from nmse when null or absent (+Inf, -Inf); a ccc absent from an
// older report reads back as NaN. tolerances_from_json rejects unknown fields (a misspelt
// threshold is an error).
Metrics metrics_from_json(const JsonNode& json);
Tolerances tolerances_from_json(const JsonNode& json);
Verdict verdict_from_json(const JsonNode& json);
Metrics metrics_from_json(const nlohmann::json& json);
Tolerances tolerances_from_json(const nlohmann::json& json);
Verdict verdict_from_json(const nlohmann::json& json);

// Multi-line human-readable table of the metrics (used by `ttt compare`), one "name  value" line
// per metric with the values aligned, ending with a newline.
std::string format_metrics(const Metrics& metrics);

}  // namespace ttt

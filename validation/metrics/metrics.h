// Metrics that compare a device output (actual) with a reference output (expected).
//
// compute_metrics() makes one fused pass over both tensors with float64 accumulation; quantiles
// and the error histogram need a second pass and can be turned off. docs/metrics.md defines each
// metric and its edge cases (PCC follows tt-metal's comp_pcc exactly).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "validation/tensor/tensor.h"

namespace ttt {

// Default allclose tolerances for an expected dtype: torch.testing.assert_close's table for
// float16/bfloat16/float32, derived values for bfloat8_b/bfloat4_b (docs/metrics.md), and
// (0, 0) for integers.
struct AllcloseTolerance {
  double rtol = 0.0;
  double atol = 0.0;
};
AllcloseTolerance default_allclose_tolerance(DType expected_dtype);

struct MetricsOptions {
  // allclose thresholds; unset means default_allclose_tolerance(expected.dtype()).
  std::optional<double> rtol;
  std::optional<double> atol;
  // Second pass: p50/p90/p99 of |a - e| and a fixed-bin histogram of |a - e|.
  bool quantiles = true;
  bool histogram = true;
  int histogram_bins = 10;  // Log-spaced decades below the max error (docs/metrics.md).
};

struct ErrorQuantiles {
  double p50 = 0.0;
  double p90 = 0.0;
  double p99 = 0.0;
};

struct ErrorHistogram {
  std::vector<double> edges;          // bins + 1 ascending edges of |a - e|.
  std::vector<std::int64_t> counts;   // bins counts; finite errors only.
};

struct Metrics {
  Shape shape;
  DType actual_dtype = DType::float32;
  DType expected_dtype = DType::float32;
  std::int64_t numel = 0;

  double pcc = 0.0;  // tt-metal comp_pcc semantics.
  double max_abs_error = 0.0;
  std::int64_t max_abs_error_index = -1;  // Flat index; -1 when there is no finite pair.
  double mean_abs_error = 0.0;
  double rmse = 0.0;
  double nmse = 0.0;           // sum (a-e)^2 / sum e^2 (ggml); Inf when sum e^2 == 0 and a != e.
  double max_rel_error = 0.0;  // max |a-e| / |e|, |e| == 0 replaced by float64 epsilon.
  double cosine_similarity = 0.0;
  double max_ulp_error = 0.0;  // In units of last place of the expected dtype at the expected value.

  bool allclose = false;
  double rtol = 0.0;  // The thresholds allclose used.
  double atol = 0.0;
  std::int64_t mismatched = 0;
  double mismatched_fraction = 0.0;
  std::int64_t worst_mismatch_index = -1;  // Largest |a-e| - (atol + rtol|e|); -1 if none.

  std::int64_t nan_actual = 0;
  std::int64_t nan_expected = 0;
  std::int64_t inf_actual = 0;
  std::int64_t inf_expected = 0;
  // Positions where a non-finite value is not matched by the same value on the other side (an
  // Inf must match in sign, a NaN must face a NaN) (ggml's rule).
  std::int64_t nonfinite_mismatched = 0;

  std::optional<ErrorQuantiles> quantiles;
  std::optional<ErrorHistogram> histogram;
};

// Computes every metric. Shapes must match exactly (no broadcasting); dtypes may differ (integer
// tensors are compared as float64). Throws std::invalid_argument naming both shapes on mismatch,
// or an undefined tensor.
Metrics compute_metrics(const Tensor& actual, const Tensor& expected,
                        const MetricsOptions& options = {});

// Optional thresholds per metric; unset thresholds are not checked.
struct Tolerances {
  std::optional<double> pcc;                // pass when pcc >= value.
  std::optional<double> max_abs_error;      // pass when max_abs_error <= value.
  std::optional<double> mean_abs_error;     // <=
  std::optional<double> rmse;               // <=
  std::optional<double> nmse;               // <=
  std::optional<double> max_rel_error;      // <=
  std::optional<double> cosine_similarity;  // >=
  std::optional<double> max_ulp_error;      // <=
  std::optional<double> mismatched_fraction;  // allclose mismatches: pass when fraction <= value.
  bool require_allclose = false;            // fail unless allclose.
  bool allow_nonfinite_mismatch = false;    // ggml rule: by default a non-finite mismatch fails.

  // tt-metal's defaults: pcc >= 0.99 and max_abs_error <= 1e-2.
  static Tolerances tt_metal_default();
  // Overlay: fields set in `override_with` replace this one's.
  Tolerances merged(const Tolerances& override_with) const;
};

// A comparison's outcome: passed, and one readable line per failure, for example
// "pcc 0.9812 < 0.99" or "max_abs_error 0.31 > 0.05 at [2, 17, 4031]".
struct Verdict {
  bool passed = true;
  std::vector<std::string> failures;
  // Failures joined with "; ", or "pass".
  std::string text() const;
};

Verdict evaluate(const Metrics& metrics, const Tolerances& tolerances);

// JSON with the keys of `ttt compare --json` (docs/metrics.md); non-finite numbers become null.
nlohmann::json to_json(const Metrics& metrics);
nlohmann::json to_json(const Tolerances& tolerances);
nlohmann::json to_json(const Verdict& verdict);
// Inverses for reports and traces read back; throw std::invalid_argument naming the field.
Metrics metrics_from_json(const nlohmann::json& json);
Tolerances tolerances_from_json(const nlohmann::json& json);

// Multi-line human-readable table of the metrics (used by `ttt compare`).
std::string format_metrics(const Metrics& metrics);

}  // namespace ttt

// Bug or precision? The three legs of one output of one call:
//   device     what the device produced (a real accelerator's output read from a trace, or the
//              output of the run being judged),
//   emulation  the same call through the block's device path at the call's ImplConfig: the
//              device's numerics, emulated (bfloat8_b weights, LoFi, bfloat16 accumulation...),
//   reference  the float64 reference.
// A device close to its emulation (by the kind's metric policy, metric_policy.h) is explained by
// the ImplConfig's precision, however far both are from float64: "precision-limited, as expected
// for this ImplConfig" when it misses its accuracy check, "accurate" when it meets it. A device
// far from its emulation is "not explained by precision": a bug in the device code, its data or
// its configuration, reported with the numbers of all three legs. docs/debugging.md "Bug or
// precision?" walks through it; `ttt explain TRACE` (docs/cli.md) applies it to every call of a
// trace.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "validation/metrics/metric_policy.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"

namespace ttt {

enum class PrecisionFinding : std::uint8_t {
  accurate,           // Device matches its emulation and passes its accuracy check.
  precision_limited,  // Device matches its emulation and misses its accuracy check.
  not_explained,      // Device differs from its emulation more than the policy allows.
};

// "accurate", "precision-limited", "not explained by precision".
std::string_view precision_finding_name(PrecisionFinding finding);

// The worse of two findings (not_explained > precision_limited > accurate).
PrecisionFinding worse(PrecisionFinding a, PrecisionFinding b);

struct PrecisionExplanation {
  PrecisionFinding finding = PrecisionFinding::accurate;
  Metrics device_vs_reference;     // Device (actual) against float64 (expected).
  Metrics emulation_vs_reference;  // Emulation (actual) against float64 (expected).
  Metrics device_vs_emulation;     // Device (actual) against its emulation (expected).
  // The device's accuracy check: device vs reference judged with the caller's tolerances.
  Verdict device_accuracy;
  // What the policy allows between device and emulation, in the rule's metric: 0 (exact:
  // max_abs_error), the ULP limit (ulp: max_ulp_error) or the nmse band (nmse).
  double band = 0.0;
  bool within_band = true;
  // One line with the finding and the numbers of the three legs.
  std::string text;
};

// Judges one output. `accuracy` is the device's accuracy check against the reference (`ttt
// explain`: the output format's default verdict); `options` the metrics' allclose tolerances
// (quantiles and the histogram are not computed). Throws std::invalid_argument when the three
// shapes differ.
PrecisionExplanation explain_precision(const Tensor& device, const Tensor& emulation,
                                       const Tensor& reference, const MetricPolicy& policy,
                                       const Tolerances& accuracy,
                                       const MetricsOptions& options = {});

// {"finding", "text", "band", "within_band", "device_accuracy": verdict, "device_vs_reference",
// "emulation_vs_reference", "device_vs_emulation": metrics (docs/metrics.md)}.
nlohmann::json to_json(const PrecisionExplanation& explanation);

}  // namespace ttt

#include "validation/metrics/bug_or_precision.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "validation/markup/number.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

std::string number(double value) { return format_significant(value, 4); }

// "pcc 0.9987, ccc 0.9985, nmse 0.00213 (26.7 dB)": how far one leg is from another.
std::string distance(const Metrics& m) {
  return "pcc " + format_significant(m.pcc, 6) + ", ccc " + format_significant(m.ccc, 6) +
         ", nmse " + number(m.nmse) + " (" + number(m.sqnr_db) + " dB)";
}

// The policy's metric of device vs emulation, its limit, and whether it is within the limit.
struct BandCheck {
  double value = 0.0;
  double band = 0.0;
  bool within = true;
  std::string text;  // "device vs emulation nmse 0.31 > band 4.9e-05 (...)".
};

BandCheck check_band(const PrecisionExplanation& e, const MetricPolicy& policy) {
  const Metrics& m = e.device_vs_emulation;
  BandCheck check;
  const bool finite_match = m.nonfinite_mismatched == 0;
  switch (policy.rule) {
    case MetricRule::exact:
      check.value = m.max_abs_error;
      check.band = 0.0;
      check.within = finite_match && m.max_abs_error == 0.0;
      check.text = "device vs emulation max_abs_error " + number(m.max_abs_error) +
                   (check.within ? " (exact, as data movement must be)"
                                 : " where data movement must match exactly");
      break;
    case MetricRule::ulp:
      check.value = m.max_ulp_error;
      check.band = policy.max_ulp;
      check.within = finite_match && m.max_ulp_error <= policy.max_ulp;
      check.text = "device vs emulation max_ulp_error " + number(m.max_ulp_error) +
                   (check.within ? " <= " : " > ") + number(policy.max_ulp) + " ULPs of " +
                   std::string(dtype_name(m.expected_dtype));
      break;
    case MetricRule::nmse: {
      // At least what rounding to the output format allows, so that an emulation exact against
      // float64 still leaves the device its own rounding.
      const double floor = default_tolerances(m.actual_dtype, m.expected_dtype).nmse.value_or(0.0);
      check.value = m.nmse;
      check.band = std::max(policy.nmse_factor * e.emulation_vs_reference.nmse, floor);
      check.within = finite_match && m.nmse <= check.band;
      check.text = "device vs emulation nmse " + number(m.nmse) + (check.within ? " <= " : " > ") +
                   "band " + number(check.band) + " (" + format_number(policy.nmse_factor) +
                   " x emulation's nmse " + number(e.emulation_vs_reference.nmse) +
                   ", at least the output format's " + number(floor) + ")";
      break;
    }
  }
  if (!finite_match) {
    check.text += "; " + std::to_string(m.nonfinite_mismatched) + " non-finite mismatches";
  }
  return check;
}

}  // namespace

std::string_view precision_finding_name(PrecisionFinding finding) {
  switch (finding) {
    case PrecisionFinding::accurate:
      return "accurate";
    case PrecisionFinding::precision_limited:
      return "precision-limited";
    case PrecisionFinding::not_explained:
      return "not explained by precision";
  }
  return "accurate";
}

PrecisionFinding worse(PrecisionFinding a, PrecisionFinding b) {
  return static_cast<std::uint8_t>(a) >= static_cast<std::uint8_t>(b) ? a : b;
}

PrecisionExplanation explain_precision(const Tensor& device, const Tensor& emulation,
                                       const Tensor& reference, const MetricPolicy& policy,
                                       const Tolerances& accuracy,
                                       const MetricsOptions& metrics_options) {
  MetricsOptions options = metrics_options;
  options.quantiles = false;
  options.histogram = false;
  PrecisionExplanation e;
  e.device_vs_reference = compute_metrics(device, reference, options);
  e.emulation_vs_reference = compute_metrics(emulation, reference, options);
  e.device_vs_emulation = compute_metrics(device, emulation, options);
  e.device_accuracy = evaluate(e.device_vs_reference, accuracy);
  const BandCheck band = check_band(e, policy);
  e.band = band.band;
  e.within_band = band.within;
  const std::string legs = "device vs float64: " + distance(e.device_vs_reference) +
                           "; emulation vs float64: " + distance(e.emulation_vs_reference);
  if (!band.within) {
    e.finding = PrecisionFinding::not_explained;
    e.text = "not explained by precision: " + band.text + "; " + legs;
  } else if (!e.device_accuracy.passed) {
    e.finding = PrecisionFinding::precision_limited;
    e.text = "precision-limited, as expected for this ImplConfig: device vs float64 " +
             e.device_accuracy.text() + ", and " + band.text + "; " + legs;
  } else {
    e.finding = PrecisionFinding::accurate;
    e.text = "accurate: " + band.text + "; " + legs;
  }
  return e;
}

nlohmann::json to_json(const PrecisionExplanation& e) {
  nlohmann::json json;
  json["finding"] = std::string(precision_finding_name(e.finding));
  json["text"] = e.text;
  json["band"] = e.band;
  json["within_band"] = e.within_band;
  json["device_accuracy"] = to_json(e.device_accuracy);
  json["device_vs_reference"] = to_json(e.device_vs_reference);
  json["emulation_vs_reference"] = to_json(e.emulation_vs_reference);
  json["device_vs_emulation"] = to_json(e.device_vs_emulation);
  return json;
}

}  // namespace ttt

// compute_metrics(), tt-metal's PCC decision list, tolerances, verdicts and the text table.
// The passes over the data live in passes.cc; JSON in metrics_json.cc.
#include "validation/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "validation/markup/number.h"
#include "validation/metrics/internal/passes.h"

namespace ttt {

namespace {

using metrics_internal::ElementType;
using metrics_internal::PassInput;
using metrics_internal::PassTotals;

ElementType element_type_of(DType dtype) {
  switch (dtype) {
    case DType::int32:
      return ElementType::int32;
    case DType::int64:
      return ElementType::int64;
    case DType::float64:
      return ElementType::float64;
    default:
      return ElementType::float32;
  }
}

// tt-metal's comp_pcc (models/common/utility_functions.py), one case after the other, in its
// order. "golden" is expected and "calculated" is actual; docs/metrics.md lists the cases.
double comp_pcc(const PassTotals& t, const PassInput& input) {
  const bool actual_all_nan = t.nan_actual == t.numel;
  const bool expected_all_nan = t.nan_expected == t.numel;
  if (actual_all_nan && expected_all_nan) return 1.0;  // Also empty tensors, as torch.all([]).
  if (actual_all_nan || expected_all_nan) return 0.0;
  if (t.actual_nonzero != t.expected_nonzero) return 0.0;  // One side all zero.
  if (t.masked_equal) return 1.0;  // Equal once NaN and Inf are replaced by zero.
  if (t.numel == 1) return 0.0;    // A single element: equality, which failed above.
  if (t.actual_constant && t.expected_constant) {
    // torch.isclose(golden, calculated): rtol 1e-5 scales |calculated|, atol 1e-8.
    const bool close =
        std::fabs(t.expected_value - t.actual_value) <= 1e-8 + 1e-5 * std::fabs(t.actual_value);
    return close ? 1.0 : 0.0;
  }
  if (t.actual_constant || t.expected_constant) {
    // Pearson is undefined with one constant side. tt-metal first returned 1 here (its issues
    // #24928 and #25137) and now falls back to torch.allclose(expected, actual, 1e-5, 1e-4).
    return metrics_internal::masked_allclose(input, 1e-5, 1e-4) ? 1.0 : 0.0;
  }
  // Both sides vary, so both sums of squared deviations are positive; numpy clips to [-1, 1].
  const double pearson = t.co_moment / (std::sqrt(t.m2_actual) * std::sqrt(t.m2_expected));
  return std::clamp(pearson, -1.0, 1.0);
}

// Lin's concordance correlation from the Pearson moments (population form): 2 s_ae / (s_a^2 +
// s_e^2 + (mean_a - mean_e)^2), each term times n. A zero denominator means both sides are the
// same constant (or empty): perfect concordance.
double concordance(const PassTotals& t) {
  const double mean_gap = t.mean_actual - t.mean_expected;
  const double denominator =
      t.m2_actual + t.m2_expected + static_cast<double>(t.numel) * mean_gap * mean_gap;
  if (denominator == 0.0) return 1.0;
  return std::clamp(2.0 * t.co_moment / denominator, -1.0, 1.0);
}

void check_tolerance(const char* name, double value) {
  if (!std::isfinite(value) || value < 0.0) {
    throw std::invalid_argument(std::string("[compute_metrics] ") + name + " " +
                                format_number(value) + " must be finite and >= 0");
  }
}

// A measurement in the metrics table: six significant digits are enough to read it.
std::string format_general(double value) { return format_significant(value, 6); }

std::string format_index(const Metrics& metrics, std::int64_t flat) {
  return shape_to_string(unflatten_index(metrics.shape, flat));
}

// "0.29%", "33.3%", "100%": two significant digits below 10%, three above, and never "100%"
// unless every element is counted.
std::string format_percent(std::int64_t part, std::int64_t whole) {
  const double percent =
      whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
  std::string text = format_significant(percent, percent < 10.0 ? 2 : 3);
  if (text == "100" && part < whole) text = "99.9";
  return text + "%";
}

// "12 of 4096 (0.29%) mismatched, worst at [0, 3]".
std::string describe_mismatches(const Metrics& metrics) {
  std::string text = std::to_string(metrics.mismatched) + " of " + std::to_string(metrics.numel) +
                     " (" + format_percent(metrics.mismatched, metrics.numel) + ") mismatched";
  if (metrics.worst_mismatch_index >= 0) {
    text += ", worst at " + format_index(metrics, metrics.worst_mismatch_index);
  }
  return text;
}

// Adds a failure line when `passes(value, threshold)` is false (also for a NaN value).
template <typename Passes>
void check(Verdict& verdict, const char* name, double value, const std::optional<double>& threshold,
           const char* failing_relation, Passes&& passes, const std::string& suffix = "") {
  if (!threshold || passes(value, *threshold)) return;
  verdict.failures.push_back(std::string(name) + " " + format_beside(value, *threshold) + " " +
                             failing_relation + " " + format_number(*threshold) + suffix);
}

}  // namespace

AllcloseTolerance default_allclose_tolerance(DType dtype) {
  switch (dtype) {
    case DType::float64:
      return {1e-7, 1e-7};
    case DType::float32:
      return {1.3e-6, 1e-5};
    case DType::float16:
      return {1e-3, 1e-5};
    case DType::bfloat16:
      return {1.6e-2, 1e-5};
    // Twice the spacing at 1 when 1 is the block's largest value, 2 * 2^-(mantissa bits - 1);
    // docs/metrics.md derives these.
    case DType::bfloat8_b:
      return {0x1p-5, 0x1p-5};
    case DType::bfloat4_b:
      return {0x1p-1, 0x1p-1};
    case DType::int32:
    case DType::int64:
      return {0.0, 0.0};
  }
  throw std::invalid_argument("[default_allclose_tolerance] invalid dtype");
}

AllcloseTolerance default_allclose_tolerance(DType actual_dtype, DType expected_dtype) {
  const AllcloseTolerance a = default_allclose_tolerance(actual_dtype);
  const AllcloseTolerance e = default_allclose_tolerance(expected_dtype);
  return {std::max(a.rtol, e.rtol), std::max(a.atol, e.atol)};
}

Metrics compute_metrics(const Tensor& actual, const Tensor& expected,
                        const MetricsOptions& options) {
  if (!actual.defined()) throw std::invalid_argument("[compute_metrics] actual is undefined");
  if (!expected.defined()) throw std::invalid_argument("[compute_metrics] expected is undefined");
  if (actual.shape() != expected.shape()) {
    throw std::invalid_argument("[compute_metrics] shapes differ: actual " +
                                shape_to_string(actual.shape()) + ", expected " +
                                shape_to_string(expected.shape()));
  }
  const AllcloseTolerance defaults = default_allclose_tolerance(actual.dtype(), expected.dtype());
  const double rtol = options.rtol.value_or(defaults.rtol);
  const double atol = options.atol.value_or(defaults.atol);
  check_tolerance("rtol", rtol);
  check_tolerance("atol", atol);
  if (options.histogram && (options.histogram_bins < 1 || options.histogram_bins > 64)) {
    throw std::invalid_argument("[compute_metrics] histogram_bins " +
                                std::to_string(options.histogram_bins) +
                                " must be between 1 and 64");
  }

  PassInput input;
  input.actual = actual.bytes();
  input.actual_type = element_type_of(actual.dtype());
  input.expected = expected.bytes();
  input.expected_type = element_type_of(expected.dtype());
  input.numel = actual.numel();
  input.rtol = rtol;
  input.atol = atol;
  input.ulp = metrics_internal::ulp_rule(expected.dtype(), expected.shape());
  const PassTotals t = metrics_internal::fused_pass(input);

  Metrics m;
  m.shape = actual.shape();
  m.actual_dtype = actual.dtype();
  m.expected_dtype = expected.dtype();
  m.numel = t.numel;
  m.finite_pairs = t.finite_pairs;
  m.pcc = comp_pcc(t, input);
  const auto pairs = static_cast<double>(t.finite_pairs);
  if (t.finite_pairs > 0) {
    m.max_abs_error = t.max_abs_error;
    m.max_abs_error_index = t.max_abs_error_index;
    m.mean_abs_error = t.sum_abs_error / pairs;
    m.rmse = std::sqrt(t.sum_squared_error / pairs);
  }
  if (t.sum_expected_squared > 0.0) {
    m.nmse = t.sum_squared_error / t.sum_expected_squared;
  } else if (t.sum_squared_error > 0.0) {
    m.nmse = std::numeric_limits<double>::infinity();
  }
  m.max_rel_error = t.max_rel_error;
  const bool actual_zero = t.sum_actual_squared == 0.0;
  const bool expected_zero = t.sum_expected_squared == 0.0;
  if (actual_zero || expected_zero) {
    m.cosine_similarity = actual_zero && expected_zero ? 1.0 : 0.0;
  } else {
    const double norms = std::sqrt(t.sum_actual_squared) * std::sqrt(t.sum_expected_squared);
    m.cosine_similarity = std::clamp(t.sum_product / norms, -1.0, 1.0);
  }
  m.max_ulp_error = t.max_ulp_error;
  m.ccc = concordance(t);
  m.sqnr_db = sqnr_db_from_nmse(m.nmse);
  m.rtol = rtol;
  m.atol = atol;
  m.mismatched = t.mismatched + t.nonfinite_mismatched;
  m.mismatched_fraction =
      t.numel > 0 ? static_cast<double>(m.mismatched) / static_cast<double>(t.numel) : 0.0;
  m.allclose = m.mismatched == 0;
  m.worst_mismatch_index =
      t.first_nonfinite_mismatch >= 0 ? t.first_nonfinite_mismatch : t.worst_mismatch_index;
  m.nan_actual = t.nan_actual;
  m.nan_expected = t.nan_expected;
  m.inf_actual = t.inf_actual;
  m.inf_expected = t.inf_expected;
  m.nonfinite_mismatched = t.nonfinite_mismatched;
  m.first_nonfinite_mismatch_index = t.first_nonfinite_mismatch;

  if (options.quantiles || options.histogram) {
    metrics_internal::ErrorDistribution distribution = metrics_internal::error_distribution(
        input, t.finite_pairs, m.max_abs_error, options.quantiles,
        options.histogram ? options.histogram_bins : 0);
    m.quantiles = distribution.quantiles;
    m.histogram = std::move(distribution.histogram);
  }
  return m;
}

// The noise is the error, the signal the expected values.
double sqnr_db_from_nmse(double nmse) {
  if (nmse == 0.0) return std::numeric_limits<double>::infinity();
  const double db = -10.0 * std::log10(nmse);
  return db == 0.0 ? 0.0 : db;  // 0 dB, not -0 dB, for nmse 1.
}

Tolerances Tolerances::tt_metal_default() {
  Tolerances tolerances;
  tolerances.pcc = 0.99;
  tolerances.max_abs_error = 1e-2;
  return tolerances;
}

Tolerances default_tolerances(DType output_dtype) {
  Tolerances tolerances;
  switch (output_dtype) {
    // Float formats with p significant bits: one rounding gives |d| <= 2^-p |e| everywhere, so
    // nmse <= 2^-2p. Device formats (their kernels accumulate in float32, so the output's rounding
    // dominates) may have four times that error, nmse <= (4 * 2^-p)^2; float32 and float64, in
    // which hosts compute, 2^8 times, the error of summing 2^16 terms in that precision.
    case DType::float64:
      tolerances.nmse = 0x1p-90;
      break;
    case DType::float32:
      tolerances.nmse = 0x1p-32;
      break;
    case DType::float16:
      tolerances.nmse = 0x1p-18;
      break;
    case DType::bfloat16:
      tolerances.nmse = 0x1p-12;
      break;
    // Block formats with M-bit mantissas: one rounding gives at most nmse 2^(4 - 2M) (16 errors
    // of at most half a unit against a block maximum of at least 2^(M-1) units); that bound is
    // already about 20 times what unit-scale data reaches.
    case DType::bfloat8_b:
      tolerances.nmse = 0x1p-10;
      break;
    case DType::bfloat4_b:
      tolerances.nmse = 0x1p-2;
      break;
    case DType::int32:
    case DType::int64:
      tolerances.max_abs_error = 0.0;
      return tolerances;
  }
  if (!tolerances.nmse.has_value()) {
    throw std::invalid_argument("[default_tolerances] invalid dtype " +
                                std::to_string(static_cast<int>(output_dtype)));
  }
  return tolerances;
}

Tolerances default_tolerances(DType actual_dtype, DType expected_dtype) {
  const Tolerances actual = default_tolerances(actual_dtype);
  const Tolerances expected = default_tolerances(expected_dtype);
  // Integers are exact; against a floating side the floating default applies.
  if (!is_floating(actual_dtype)) return expected;
  if (!is_floating(expected_dtype)) return actual;
  return *actual.nmse >= *expected.nmse ? actual : expected;
}

Tolerances Tolerances::merged(const Tolerances& override_with) const {
  Tolerances result = *this;
  const auto overlay = [](std::optional<double>& into, const std::optional<double>& from) {
    if (from) into = from;
  };
  overlay(result.pcc, override_with.pcc);
  overlay(result.max_abs_error, override_with.max_abs_error);
  overlay(result.mean_abs_error, override_with.mean_abs_error);
  overlay(result.rmse, override_with.rmse);
  overlay(result.nmse, override_with.nmse);
  overlay(result.max_rel_error, override_with.max_rel_error);
  overlay(result.cosine_similarity, override_with.cosine_similarity);
  overlay(result.max_ulp_error, override_with.max_ulp_error);
  overlay(result.ccc, override_with.ccc);
  overlay(result.sqnr_db, override_with.sqnr_db);
  overlay(result.mismatched_fraction, override_with.mismatched_fraction);
  result.require_allclose = require_allclose || override_with.require_allclose;
  result.allow_nonfinite_mismatch =
      allow_nonfinite_mismatch || override_with.allow_nonfinite_mismatch;
  return result;
}

std::string Verdict::text() const {
  if (failures.empty()) return "pass";
  std::string text;
  for (const std::string& failure : failures) {
    if (!text.empty()) text += "; ";
    text += failure;
  }
  return text;
}

Verdict evaluate(const Metrics& metrics, const Tolerances& tolerances) {
  Verdict verdict;
  const auto at_least = [](double value, double threshold) { return value >= threshold; };
  const auto at_most = [](double value, double threshold) { return value <= threshold; };
  check(verdict, "pcc", metrics.pcc, tolerances.pcc, "<", at_least);
  check(verdict, "max_abs_error", metrics.max_abs_error, tolerances.max_abs_error, ">", at_most,
        metrics.max_abs_error_index >= 0
            ? " at " + format_index(metrics, metrics.max_abs_error_index)
            : std::string());
  check(verdict, "mean_abs_error", metrics.mean_abs_error, tolerances.mean_abs_error, ">", at_most);
  check(verdict, "rmse", metrics.rmse, tolerances.rmse, ">", at_most);
  check(verdict, "nmse", metrics.nmse, tolerances.nmse, ">", at_most);
  check(verdict, "max_rel_error", metrics.max_rel_error, tolerances.max_rel_error, ">", at_most);
  check(verdict, "cosine_similarity", metrics.cosine_similarity, tolerances.cosine_similarity, "<",
        at_least);
  check(verdict, "max_ulp_error", metrics.max_ulp_error, tolerances.max_ulp_error, ">", at_most);
  check(verdict, "ccc", metrics.ccc, tolerances.ccc, "<", at_least);
  check(verdict, "sqnr_db", metrics.sqnr_db, tolerances.sqnr_db, "<", at_least);
  check(verdict, "mismatched_fraction", metrics.mismatched_fraction, tolerances.mismatched_fraction,
        ">", at_most, " (" + describe_mismatches(metrics) + ")");
  if (tolerances.require_allclose && !metrics.allclose) {
    verdict.failures.push_back("allclose: " + describe_mismatches(metrics));
  }
  if (!tolerances.allow_nonfinite_mismatch && metrics.nonfinite_mismatched > 0) {
    verdict.failures.push_back(
        "non-finite mismatch: " + std::to_string(metrics.nonfinite_mismatched) + " of " +
        std::to_string(metrics.numel) + ", first at " +
        format_index(metrics, metrics.first_nonfinite_mismatch_index) + " (NaN: actual " +
        std::to_string(metrics.nan_actual) + ", expected " + std::to_string(metrics.nan_expected) +
        "; Inf: actual " + std::to_string(metrics.inf_actual) + ", expected " +
        std::to_string(metrics.inf_expected) + ")");
  }
  verdict.passed = verdict.failures.empty();
  return verdict;
}

std::string format_metrics(const Metrics& m) {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("shape", shape_to_string(m.shape) + " (" + std::to_string(m.numel) +
                                 " elements, " + std::to_string(m.finite_pairs) + " finite pairs)");
  rows.emplace_back("dtypes", "actual " + std::string(dtype_name(m.actual_dtype)) + ", expected " +
                                  std::string(dtype_name(m.expected_dtype)));
  rows.emplace_back("pcc", format_significant(m.pcc, 8));
  rows.emplace_back("max_abs_error", format_general(m.max_abs_error) +
                                         (m.max_abs_error_index >= 0
                                              ? " at " + format_index(m, m.max_abs_error_index)
                                              : std::string()));
  rows.emplace_back("mean_abs_error", format_general(m.mean_abs_error));
  rows.emplace_back("rmse", format_general(m.rmse));
  rows.emplace_back("nmse", format_general(m.nmse));
  rows.emplace_back("max_rel_error", format_general(m.max_rel_error));
  rows.emplace_back("cosine_similarity", format_significant(m.cosine_similarity, 8));
  rows.emplace_back("max_ulp_error", format_general(m.max_ulp_error) + " (" +
                                         std::string(dtype_name(m.expected_dtype)) + ")");
  rows.emplace_back("ccc", format_significant(m.ccc, 8));
  rows.emplace_back("sqnr_db", format_general(m.sqnr_db) + " dB");
  rows.emplace_back("allclose", std::string(m.allclose ? "true" : "false") + " (rtol " +
                                    format_number(m.rtol) + ", atol " + format_number(m.atol) +
                                    "): " + describe_mismatches(m));
  rows.emplace_back("nan", "actual " + std::to_string(m.nan_actual) + ", expected " +
                               std::to_string(m.nan_expected));
  rows.emplace_back("inf", "actual " + std::to_string(m.inf_actual) + ", expected " +
                               std::to_string(m.inf_expected));
  std::string nonfinite = std::to_string(m.nonfinite_mismatched);
  if (m.first_nonfinite_mismatch_index >= 0) {
    nonfinite += ", first at " + format_index(m, m.first_nonfinite_mismatch_index);
  }
  rows.emplace_back("nonfinite_mismatched", nonfinite);
  if (m.quantiles) {
    rows.emplace_back("quantiles |a-e|", "p50 " + format_general(m.quantiles->p50) + ", p90 " +
                                             format_general(m.quantiles->p90) + ", p99 " +
                                             format_general(m.quantiles->p99));
  }
  std::size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::string text;
  for (const auto& [name, value] : rows) {
    text += name + std::string(width - name.size() + 2, ' ') + value + "\n";
  }
  if (m.histogram && !m.histogram->counts.empty()) {
    text += "histogram |a-e|\n";
    const ErrorHistogram& h = *m.histogram;
    std::vector<std::string> ranges;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
      const bool last = i + 1 == h.counts.size();
      ranges.push_back("[" + format_general(h.edges[i]) + ", " + format_general(h.edges[i + 1]) +
                       (last ? "]" : ")"));
    }
    std::size_t range_width = 0;
    for (const auto& range : ranges) range_width = std::max(range_width, range.size());
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
      text += "  " + ranges[i] + std::string(range_width - ranges[i].size() + 2, ' ') +
              std::to_string(h.counts[i]) + "\n";
    }
  }
  return text;
}

}  // namespace ttt

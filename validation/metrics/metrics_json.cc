// JSON for metrics, tolerances and verdicts (the keys of `ttt compare --json`, docs/metrics.md).
// JSON has no NaN or Inf: non-finite numbers are written as null.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "validation/metrics/metrics.h"
#include "validation/input/json_reader.h"

namespace ttt {

namespace {

using Json = nlohmann::json;

Json number_or_null(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

// A number, or `null_value` for null.
double number_or(const JsonNode& node, double null_value) {
  return node.json().is_null() ? null_value : node.number();
}

DType dtype_of(const JsonNode& node) {
  try {
    return parse_dtype(node.string());
  } catch (const std::invalid_argument& error) {
    if (node.json().is_string()) node.fail(error.what());
    throw;
  }
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The thresholds of Tolerances by JSON name, in declaration order.
template <typename T>
auto threshold_fields(T& tolerances) {
  return std::array<std::pair<const char*, decltype(&tolerances.pcc)>, 11>{{
      {"pcc", &tolerances.pcc},
      {"max_abs_error", &tolerances.max_abs_error},
      {"mean_abs_error", &tolerances.mean_abs_error},
      {"rmse", &tolerances.rmse},
      {"nmse", &tolerances.nmse},
      {"max_rel_error", &tolerances.max_rel_error},
      {"cosine_similarity", &tolerances.cosine_similarity},
      {"max_ulp_error", &tolerances.max_ulp_error},
      {"mismatched_fraction", &tolerances.mismatched_fraction},
      {"ccc", &tolerances.ccc},
      {"sqnr_db", &tolerances.sqnr_db},
  }};
}

}  // namespace

Json to_json(const Metrics& m) {
  Json json;
  json["shape"] = m.shape;
  json["numel"] = m.numel;
  json["finite_pairs"] = m.finite_pairs;
  json["dtypes"] = {{"actual", dtype_name(m.actual_dtype)},
                    {"expected", dtype_name(m.expected_dtype)}};
  json["pcc"] = number_or_null(m.pcc);
  json["max_abs_error"] = number_or_null(m.max_abs_error);
  json["max_abs_error_index"] = m.max_abs_error_index;
  json["mean_abs_error"] = number_or_null(m.mean_abs_error);
  json["rmse"] = number_or_null(m.rmse);
  json["nmse"] = number_or_null(m.nmse);
  json["max_rel_error"] = number_or_null(m.max_rel_error);
  json["cosine_similarity"] = number_or_null(m.cosine_similarity);
  json["max_ulp_error"] = number_or_null(m.max_ulp_error);
  json["ccc"] = number_or_null(m.ccc);
  json["sqnr_db"] = number_or_null(m.sqnr_db);
  json["allclose"] = m.allclose;
  json["rtol"] = number_or_null(m.rtol);
  json["atol"] = number_or_null(m.atol);
  json["mismatched"] = m.mismatched;
  json["mismatched_fraction"] = number_or_null(m.mismatched_fraction);
  json["worst_mismatch_index"] = m.worst_mismatch_index;
  json["nan_actual"] = m.nan_actual;
  json["nan_expected"] = m.nan_expected;
  json["inf_actual"] = m.inf_actual;
  json["inf_expected"] = m.inf_expected;
  json["nonfinite_mismatched"] = m.nonfinite_mismatched;
  json["first_nonfinite_mismatch_index"] = m.first_nonfinite_mismatch_index;
  json["quantiles"] = nullptr;
  if (m.quantiles) {
    json["quantiles"] = {{"p50", number_or_null(m.quantiles->p50)},
                         {"p90", number_or_null(m.quantiles->p90)},
                         {"p99", number_or_null(m.quantiles->p99)}};
  }
  json["histogram"] = nullptr;
  if (m.histogram) {
    Json edges = Json::array();
    for (double edge : m.histogram->edges) edges.push_back(number_or_null(edge));
    json["histogram"] = {{"edges", std::move(edges)}, {"counts", m.histogram->counts}};
  }
  return json;
}

Json to_json(const Tolerances& tolerances) {
  Json json = Json::object();
  for (const auto& [name, field] : threshold_fields(tolerances)) {
    if (*field) json[name] = **field;
  }
  json["require_allclose"] = tolerances.require_allclose;
  json["allow_nonfinite_mismatch"] = tolerances.allow_nonfinite_mismatch;
  return json;
}

Json to_json(const Verdict& verdict) {
  return {{"passed", verdict.passed}, {"failures", verdict.failures}};
}

Metrics metrics_from_json(const JsonNode& json) {
  Metrics m;
  const JsonNode shape = json.at("shape");
  for (std::size_t i = 0; i < shape.size(); ++i) m.shape.push_back(shape.at(i).integer());
  const JsonNode dtypes = json.at("dtypes");
  m.actual_dtype = dtype_of(dtypes.at("actual"));
  m.expected_dtype = dtype_of(dtypes.at("expected"));
  const auto integer = [&](std::string_view name) { return json.at(name).integer(); };
  const auto number = [&](std::string_view name, double null_value = kNaN) {
    return number_or(json.at(name), null_value);
  };
  m.numel = integer("numel");
  m.finite_pairs = integer("finite_pairs");
  m.pcc = number("pcc");
  m.max_abs_error = number("max_abs_error");
  m.max_abs_error_index = integer("max_abs_error_index");
  m.mean_abs_error = number("mean_abs_error");
  m.rmse = number("rmse");
  m.nmse = number("nmse", std::numeric_limits<double>::infinity());
  m.max_rel_error = number("max_rel_error");
  m.cosine_similarity = number("cosine_similarity");
  m.max_ulp_error = number("max_ulp_error");
  // Reports written before ccc and sqnr_db existed lack them: ccc is unknown, sqnr_db follows
  // from nmse (its non-finite values too, which JSON writes as null).
  const auto ccc = json.find("ccc");
  m.ccc = ccc ? number_or(*ccc, kNaN) : kNaN;
  const auto sqnr = json.find("sqnr_db");
  m.sqnr_db = sqnr && !sqnr->json().is_null() ? sqnr->number() : sqnr_db_from_nmse(m.nmse);
  m.allclose = json.at("allclose").boolean();
  m.rtol = number("rtol");
  m.atol = number("atol");
  m.mismatched = integer("mismatched");
  m.mismatched_fraction = number("mismatched_fraction");
  m.worst_mismatch_index = integer("worst_mismatch_index");
  m.nan_actual = integer("nan_actual");
  m.nan_expected = integer("nan_expected");
  m.inf_actual = integer("inf_actual");
  m.inf_expected = integer("inf_expected");
  m.nonfinite_mismatched = integer("nonfinite_mismatched");
  m.first_nonfinite_mismatch_index = integer("first_nonfinite_mismatch_index");
  if (const auto quantiles = json.find("quantiles"); quantiles && !quantiles->json().is_null()) {
    m.quantiles = ErrorQuantiles{number_or(quantiles->at("p50"), kNaN),
                                 number_or(quantiles->at("p90"), kNaN),
                                 number_or(quantiles->at("p99"), kNaN)};
  }
  if (const auto found = json.find("histogram"); found && !found->json().is_null()) {
    ErrorHistogram histogram;
    const JsonNode edges = found->at("edges");
    const JsonNode counts = found->at("counts");
    for (std::size_t i = 0; i < edges.size(); ++i) {
      histogram.edges.push_back(number_or(edges.at(i), kNaN));
    }
    for (std::size_t i = 0; i < counts.size(); ++i) {
      histogram.counts.push_back(counts.at(i).integer());
    }
    if (histogram.edges.size() != histogram.counts.size() + 1) {
      found->fail("has " + std::to_string(histogram.edges.size()) + " edges for " +
                  std::to_string(histogram.counts.size()) +
                  " counts, expected one more edge than counts");
    }
    m.histogram = std::move(histogram);
  }
  return m;
}

Tolerances tolerances_from_json(const JsonNode& json) {
  Tolerances tolerances;
  auto fields = threshold_fields(tolerances);
  std::vector<std::string_view> known;
  for (const auto& field : fields) known.push_back(field.first);
  known.insert(known.end(), {"require_allclose", "allow_nonfinite_mismatch"});
  json.allow_only(known);
  if (const auto flag = json.find("require_allclose")) tolerances.require_allclose = flag->boolean();
  if (const auto flag = json.find("allow_nonfinite_mismatch")) {
    tolerances.allow_nonfinite_mismatch = flag->boolean();
  }
  for (const auto& [name, threshold] : fields) {
    const auto value = json.find(name);
    if (value && !value->json().is_null()) *threshold = value->number();
  }
  return tolerances;
}

Verdict verdict_from_json(const JsonNode& json) {
  Verdict verdict;
  verdict.passed = json.at("passed").boolean();
  const JsonNode failures = json.at("failures");
  for (std::size_t i = 0; i < failures.size(); ++i) {
    verdict.failures.push_back(failures.at(i).string());
  }
  if (verdict.passed != verdict.failures.empty()) {
    json.fail("'passed' is " + std::string(verdict.passed ? "true" : "false") + " but 'failures' has " +
              std::to_string(verdict.failures.size()) + " entries");
  }
  return verdict;
}

Metrics metrics_from_json(const Json& json) {
  return metrics_from_json(JsonNode(json, "metrics_from_json"));
}

Tolerances tolerances_from_json(const Json& json) {
  return tolerances_from_json(JsonNode(json, "tolerances_from_json"));
}

Verdict verdict_from_json(const Json& json) {
  return verdict_from_json(JsonNode(json, "verdict_from_json"));
}

}  // namespace ttt

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

#include "validation/metrics/metrics.h"

namespace ttt {

namespace {

using Json = nlohmann::json;

Json number_or_null(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

// Reads fields of one JSON object, with errors naming the operation and the field.
class FieldReader {
 public:
  FieldReader(const Json& json, const char* operation) : json_(json), operation_(operation) {
    if (!json_.is_object()) fail("expects a JSON object, got " + std::string(json_.type_name()));
  }

  [[noreturn]] void fail(const std::string& message) const {
    throw std::invalid_argument("[" + std::string(operation_) + "] " + message);
  }

  bool has(const char* name) const { return json_.contains(name) && !json_.at(name).is_null(); }

  const Json& field(const char* name) const {
    if (!json_.contains(name)) fail("missing field '" + std::string(name) + "'");
    return json_.at(name);
  }

  // A number; null reads as `null_value`.
  double number(const char* name, double null_value) const {
    const Json& value = field(name);
    if (value.is_null()) return null_value;
    if (!value.is_number()) wrong_type(name, "a number or null", value);
    return value.get<double>();
  }

  std::int64_t integer(const char* name) const {
    const Json& value = field(name);
    if (!value.is_number_integer()) wrong_type(name, "an integer", value);
    return value.get<std::int64_t>();
  }

  bool boolean(const char* name) const {
    const Json& value = field(name);
    if (!value.is_boolean()) wrong_type(name, "a boolean", value);
    return value.get<bool>();
  }

  DType dtype(const Json& object, const char* name) const {
    if (!object.contains(name) || !object.at(name).is_string()) {
      fail("field 'dtypes." + std::string(name) + "' must be a dtype name");
    }
    try {
      return parse_dtype(object.at(name).get<std::string>());
    } catch (const std::invalid_argument& error) {
      fail("field 'dtypes." + std::string(name) + "': " + error.what());
    }
  }

  [[noreturn]] void wrong_type(const std::string& name, const char* expected,
                               const Json& value) const {
    fail("field '" + name + "' must be " + expected + ", got " + value.type_name());
  }

 private:
  const Json& json_;
  const char* operation_;
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The thresholds of Tolerances by JSON name, in declaration order.
template <typename T>
auto threshold_fields(T& tolerances) {
  return std::array<std::pair<const char*, decltype(&tolerances.pcc)>, 9>{{
      {"pcc", &tolerances.pcc},
      {"max_abs_error", &tolerances.max_abs_error},
      {"mean_abs_error", &tolerances.mean_abs_error},
      {"rmse", &tolerances.rmse},
      {"nmse", &tolerances.nmse},
      {"max_rel_error", &tolerances.max_rel_error},
      {"cosine_similarity", &tolerances.cosine_similarity},
      {"max_ulp_error", &tolerances.max_ulp_error},
      {"mismatched_fraction", &tolerances.mismatched_fraction},
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

Metrics metrics_from_json(const Json& json) {
  const FieldReader read(json, "metrics_from_json");
  Metrics m;
  const Json& shape = read.field("shape");
  if (!shape.is_array()) read.wrong_type("shape", "an array of integers", shape);
  for (const Json& dim : shape) {
    if (!dim.is_number_integer()) read.wrong_type("shape", "an array of integers", dim);
    m.shape.push_back(dim.get<std::int64_t>());
  }
  const Json& dtypes = read.field("dtypes");
  if (!dtypes.is_object()) read.wrong_type("dtypes", "an object", dtypes);
  m.actual_dtype = read.dtype(dtypes, "actual");
  m.expected_dtype = read.dtype(dtypes, "expected");
  m.numel = read.integer("numel");
  m.finite_pairs = read.integer("finite_pairs");
  m.pcc = read.number("pcc", kNaN);
  m.max_abs_error = read.number("max_abs_error", kNaN);
  m.max_abs_error_index = read.integer("max_abs_error_index");
  m.mean_abs_error = read.number("mean_abs_error", kNaN);
  m.rmse = read.number("rmse", kNaN);
  m.nmse = read.number("nmse", std::numeric_limits<double>::infinity());
  m.max_rel_error = read.number("max_rel_error", kNaN);
  m.cosine_similarity = read.number("cosine_similarity", kNaN);
  m.max_ulp_error = read.number("max_ulp_error", kNaN);
  m.allclose = read.boolean("allclose");
  m.rtol = read.number("rtol", kNaN);
  m.atol = read.number("atol", kNaN);
  m.mismatched = read.integer("mismatched");
  m.mismatched_fraction = read.number("mismatched_fraction", kNaN);
  m.worst_mismatch_index = read.integer("worst_mismatch_index");
  m.nan_actual = read.integer("nan_actual");
  m.nan_expected = read.integer("nan_expected");
  m.inf_actual = read.integer("inf_actual");
  m.inf_expected = read.integer("inf_expected");
  m.nonfinite_mismatched = read.integer("nonfinite_mismatched");
  m.first_nonfinite_mismatch_index = read.integer("first_nonfinite_mismatch_index");
  if (read.has("quantiles")) {
    const FieldReader quantiles(read.field("quantiles"), "metrics_from_json: quantiles");
    m.quantiles = ErrorQuantiles{quantiles.number("p50", kNaN), quantiles.number("p90", kNaN),
                                 quantiles.number("p99", kNaN)};
  }
  if (read.has("histogram")) {
    const FieldReader histogram_reader(read.field("histogram"), "metrics_from_json: histogram");
    ErrorHistogram histogram;
    const Json& edges = histogram_reader.field("edges");
    const Json& counts = histogram_reader.field("counts");
    if (!edges.is_array()) histogram_reader.wrong_type("edges", "an array", edges);
    if (!counts.is_array()) histogram_reader.wrong_type("counts", "an array", counts);
    for (const Json& edge : edges) {
      if (!edge.is_number() && !edge.is_null()) {
        histogram_reader.wrong_type("edges", "an array of numbers", edge);
      }
      histogram.edges.push_back(edge.is_null() ? kNaN : edge.get<double>());
    }
    for (const Json& count : counts) {
      if (!count.is_number_integer()) {
        histogram_reader.wrong_type("counts", "an array of integers", count);
      }
      histogram.counts.push_back(count.get<std::int64_t>());
    }
    if (histogram.edges.size() != histogram.counts.size() + 1) {
      histogram_reader.fail("has " + std::to_string(histogram.edges.size()) + " edges for " +
                            std::to_string(histogram.counts.size()) +
                            " counts, expected one more edge than counts");
    }
    m.histogram = std::move(histogram);
  }
  return m;
}

Tolerances tolerances_from_json(const Json& json) {
  const FieldReader read(json, "tolerances_from_json");
  Tolerances tolerances;
  auto fields = threshold_fields(tolerances);
  for (const auto& item : json.items()) {
    const std::string& key = item.key();
    const Json& value = item.value();
    if (key == "require_allclose") {
      tolerances.require_allclose = read.boolean("require_allclose");
      continue;
    }
    if (key == "allow_nonfinite_mismatch") {
      tolerances.allow_nonfinite_mismatch = read.boolean("allow_nonfinite_mismatch");
      continue;
    }
    const auto known = std::find_if(fields.begin(), fields.end(),
                                    [&](const auto& field) { return key == field.first; });
    if (known == fields.end()) {
      std::string names;
      for (const auto& field : fields)
        names += std::string(names.empty() ? "" : ", ") + field.first;
      read.fail("unknown field '" + key + "' (expected " + names +
                ", require_allclose, allow_nonfinite_mismatch)");
    }
    if (value.is_null()) continue;
    if (!value.is_number()) read.wrong_type(key, "a number or null", value);
    *known->second = value.get<double>();
  }
  return tolerances;
}

Verdict verdict_from_json(const Json& json) {
  const FieldReader read(json, "verdict_from_json");
  Verdict verdict;
  verdict.passed = read.boolean("passed");
  const Json& failures = read.field("failures");
  if (!failures.is_array()) read.wrong_type("failures", "an array of strings", failures);
  for (const Json& failure : failures) {
    if (!failure.is_string()) read.wrong_type("failures", "an array of strings", failure);
    verdict.failures.push_back(failure.get<std::string>());
  }
  if (verdict.passed != verdict.failures.empty()) {
    read.fail("'passed' is " + std::string(verdict.passed ? "true" : "false") +
              " but 'failures' has " + std::to_string(verdict.failures.size()) + " entries");
  }
  return verdict;
}

}  // namespace ttt

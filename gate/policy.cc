#include "gate/policy.h"

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"

namespace ttt {
namespace {

// "0.5", or "inf" for the open upper end of an unbounded range.
std::string bound(double value) {
  if (value >= 1e300) return "inf";
  std::ostringstream text;
  text << value;
  return text.str();
}

// section[key] into `value` when present: a number in the open or closed range.
void read_number(const JsonNode& section, std::string_view key, double& value, double low,
                 double high, bool low_open, bool high_open) {
  const std::optional<JsonNode> item = section.find(key);
  if (!item) return;
  const std::string range =
      std::string(low_open ? "(" : "[") + bound(low) + ", " + bound(high) + (high_open ? ")" : "]");
  if (!item->json().is_number()) item->fail("expected a number in " + range);
  const double parsed = item->number();
  if ((low_open ? parsed <= low : parsed < low) || (high_open ? parsed >= high : parsed > high)) {
    item->fail("expected a number in " + range + ", got " + item->json().dump());
  }
  value = parsed;
}

const char* mismatch_name(MachineMismatch mismatch) {
  switch (mismatch) {
    case MachineMismatch::skip:
      return "skip";
    case MachineMismatch::compare:
      return "compare";
    case MachineMismatch::block:
      return "block";
  }
  return "skip";
}

}  // namespace

std::string_view correction_name(Correction correction) {
  switch (correction) {
    case Correction::holm:
      return "holm";
    case Correction::benjamini_hochberg:
      return "benjamini_hochberg";
    case Correction::none:
      return "none";
  }
  return "holm";
}

Correction parse_correction(std::string_view name) {
  for (const Correction c : {Correction::holm, Correction::benjamini_hochberg, Correction::none}) {
    if (name == correction_name(c)) return c;
  }
  throw std::invalid_argument("expected \"holm\", \"benjamini_hochberg\" or \"none\", got \"" +
                              std::string(name) + "\"");
}

GatePolicy gate_policy_from_json(const nlohmann::json& json, const std::string& where) {
  GatePolicy policy;
  const JsonNode root(json, where);
  root.allow_only({"format", "accuracy", "latency", "coverage", "device_cost"});
  if (const auto format = root.find("format");
      format && (!format->json().is_string() || format->string() != "ttt-gate-policy")) {
    format->fail("expected \"ttt-gate-policy\"");
  }
  constexpr double kInf = 1e300;
  if (const auto accuracy = root.find("accuracy")) {
    accuracy->allow_only({"pcc_drop", "max_abs_error_increase"});
    read_number(*accuracy, "pcc_drop", policy.accuracy.pcc_drop, 0.0, 2.0, false, false);
    if (const auto increase = accuracy->find("max_abs_error_increase");
        increase && !increase->json().is_null()) {
      double value = 0.0;
      read_number(*accuracy, "max_abs_error_increase", value, 0.0, kInf, false, true);
      policy.accuracy.max_abs_error_increase = value;
    }
  }
  if (const auto latency = root.find("latency")) {
    latency->allow_only({"threshold", "alpha", "min_repetitions", "clock", "on_machine_mismatch",
                         "max_load_per_core", "max_cpu_steal", "correction",
                         "require_noise_floor"});
    read_number(*latency, "threshold", policy.latency.threshold, 0.0, kInf, false, true);
    read_number(*latency, "max_load_per_core", policy.latency.max_load_per_core, 0.0, kInf, true,
                true);
    read_number(*latency, "max_cpu_steal", policy.latency.max_cpu_steal, 0.0, 1.0, false, false);
    read_number(*latency, "alpha", policy.latency.alpha, 0.0, 1.0, true, true);
    if (const auto item = latency->find("min_repetitions")) {
      const nlohmann::json& value = item->json();
      if (!value.is_number_integer() || value.get<std::int64_t>() < 2 ||
          value.get<std::int64_t>() > 1000000) {
        item->fail("expected an integer >= 2, got " + value.dump());
      }
      policy.latency.min_repetitions = value.get<int>();
    }
    if (const auto item = latency->find("clock")) {
      if (!item->json().is_string()) item->fail("expected \"wall\" or \"cpu\"");
      try {
        policy.latency.clock = parse_timing_clock(item->string());
      } catch (const std::invalid_argument& error) {
        item->fail(error.what());
      }
    }
    if (const auto item = latency->find("correction")) {
      if (!item->json().is_string()) item->fail("expected a string");
      try {
        policy.latency.correction = parse_correction(item->string());
      } catch (const std::invalid_argument& error) {
        item->fail(error.what());
      }
    }
    if (const auto item = latency->find("require_noise_floor")) {
      if (!item->json().is_boolean()) item->fail("expected true or false");
      policy.latency.require_noise_floor = item->boolean();
    }
    if (const auto item = latency->find("on_machine_mismatch")) {
      const std::string text = item->json().is_string() ? item->string() : "";
      if (text == "skip") {
        policy.latency.on_machine_mismatch = MachineMismatch::skip;
      } else if (text == "compare") {
        policy.latency.on_machine_mismatch = MachineMismatch::compare;
      } else if (text == "block") {
        policy.latency.on_machine_mismatch = MachineMismatch::block;
      } else {
        item->fail("expected \"skip\", \"compare\" or \"block\", got " + item->json().dump());
      }
    }
  }
  if (const auto device_cost = root.find("device_cost")) {
    device_cost->allow_only({"max_increase", "require"});
    read_number(*device_cost, "max_increase", policy.device_cost.max_increase, 0.0, kInf, false,
                true);
    if (const auto item = device_cost->find("require")) {
      if (!item->json().is_boolean()) item->fail("expected true or false");
      policy.device_cost.require = item->boolean();
    }
  }
  if (const auto coverage = root.find("coverage")) {
    coverage->allow_only(
        {"floor_pct", "models", "no_decrease", "tolerance_pct", "strength", "catalog"});
    read_number(*coverage, "floor_pct", policy.coverage.floor_pct, 0.0, 100.0, false, false);
    read_number(*coverage, "tolerance_pct", policy.coverage.tolerance_pct, 0.0, 100.0, false,
                false);
    if (const auto item = coverage->find("models")) {
      if (!item->json().is_array()) item->fail("expected an array of model names");
      for (const nlohmann::json& name : item->json()) {
        if (!name.is_string()) item->fail("expected model names, got " + name.dump());
        policy.coverage.models.push_back(name.get<std::string>());
      }
    }
    if (const auto item = coverage->find("no_decrease")) {
      if (!item->json().is_boolean()) item->fail("expected true or false");
      policy.coverage.no_decrease = item->boolean();
    }
    if (const auto item = coverage->find("strength")) {
      const nlohmann::json& value = item->json();
      if (!value.is_number_integer() || value.get<std::int64_t>() < 1 ||
          value.get<std::int64_t>() > 6) {
        item->fail("expected an integer in [1, 6], got " + value.dump());
      }
      policy.coverage.strength = value.get<int>();
    }
    if (const auto item = coverage->find("catalog")) {
      if (!item->json().is_string()) {
        item->fail("expected a directory path (\"\" for the built-in catalog)");
      }
      policy.coverage.catalog = item->string();
    }
  }
  return policy;
}

GatePolicy load_gate_policy(const std::string& path) {
  return gate_policy_from_json(read_json_file(path, "the policy file"), path);
}

nlohmann::json to_json(const GatePolicy& policy) {
  nlohmann::json max_abs = nullptr;
  if (policy.accuracy.max_abs_error_increase.has_value()) {
    max_abs = *policy.accuracy.max_abs_error_increase;
  }
  return {
      {"format", "ttt-gate-policy"},
      {"accuracy", {{"pcc_drop", policy.accuracy.pcc_drop}, {"max_abs_error_increase", max_abs}}},
      {"latency",
       {{"threshold", policy.latency.threshold},
        {"alpha", policy.latency.alpha},
        {"min_repetitions", policy.latency.min_repetitions},
        {"clock", std::string(timing_clock_name(policy.latency.clock))},
        {"on_machine_mismatch", mismatch_name(policy.latency.on_machine_mismatch)},
        {"max_load_per_core", policy.latency.max_load_per_core},
        {"max_cpu_steal", policy.latency.max_cpu_steal},
        {"correction", std::string(correction_name(policy.latency.correction))},
        {"require_noise_floor", policy.latency.require_noise_floor}}},
      {"coverage",
       {{"floor_pct", policy.coverage.floor_pct},
        {"models", policy.coverage.models},
        {"no_decrease", policy.coverage.no_decrease},
        {"tolerance_pct", policy.coverage.tolerance_pct},
        {"strength", policy.coverage.strength},
        {"catalog", policy.coverage.catalog}}},
      {"device_cost",
       {{"max_increase", policy.device_cost.max_increase},
        {"require", policy.device_cost.require}}}};
}

}  // namespace ttt

#include "gate/policy.h"

#include <cstdint>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "validation/input/input_file.h"

namespace ttt {
namespace {

// Reads one object of the policy, rejecting unknown keys.
class Section {
 public:
  Section(const nlohmann::json& json, std::string where, std::string path,
          std::set<std::string> keys)
      : json_(json), where_(std::move(where)), path_(std::move(path)) {
    if (!json_.is_object()) fail("", "expected an object");
    for (const auto& [key, value] : json_.items()) {
      if (keys.count(key) == 0) fail("/" + key, "unknown field");
    }
  }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    const std::string pointer = path_ + field;
    throw std::invalid_argument(where_ + ": " + (pointer.empty() ? "/" : pointer) + ": " + message);
  }
  bool has(const std::string& key) const { return json_.contains(key); }
  const nlohmann::json& at(const std::string& key) const { return json_.at(key); }
  std::string path(const std::string& key) const { return path_ + "/" + key; }
  const std::string& where() const { return where_; }

  // A number in the open or closed range, when present.
  void number(const std::string& key, double& value, double low, double high, bool low_open,
              bool high_open) const {
    if (!has(key)) return;
    const nlohmann::json& item = at(key);
    const std::string range = std::string(low_open ? "(" : "[") + format(low) + ", " +
                              format(high) + (high_open ? ")" : "]");
    if (!item.is_number()) fail("/" + key, "expected a number in " + range);
    const double parsed = item.get<double>();
    if ((low_open ? parsed <= low : parsed < low) || (high_open ? parsed >= high : parsed > high)) {
      fail("/" + key, "expected a number in " + range + ", got " + item.dump());
    }
    value = parsed;
  }

 private:
  static std::string format(double value) {
    if (value >= 1e300) return "inf";  // The open upper end of an unbounded range.
    std::ostringstream text;
    text << value;
    return text.str();
  }

  const nlohmann::json& json_;
  std::string where_;
  std::string path_;
};

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

GatePolicy gate_policy_from_json(const nlohmann::json& json, const std::string& where) {
  GatePolicy policy;
  const Section root(json, where, "", {"format", "accuracy", "latency", "coverage"});
  if (root.has("format") && (!root.at("format").is_string() ||
                             root.at("format").get<std::string>() != "ttt-gate-policy")) {
    root.fail("/format", "expected \"ttt-gate-policy\"");
  }
  constexpr double kInf = 1e300;
  if (root.has("accuracy")) {
    const Section accuracy(root.at("accuracy"), where, "/accuracy",
                           {"pcc_drop", "max_abs_error_increase"});
    accuracy.number("pcc_drop", policy.accuracy.pcc_drop, 0.0, 2.0, false, false);
    if (accuracy.has("max_abs_error_increase") &&
        !accuracy.at("max_abs_error_increase").is_null()) {
      double increase = 0.0;
      accuracy.number("max_abs_error_increase", increase, 0.0, kInf, false, true);
      policy.accuracy.max_abs_error_increase = increase;
    }
  }
  if (root.has("latency")) {
    const Section latency(
        root.at("latency"), where, "/latency",
        {"threshold", "alpha", "min_repetitions", "clock", "on_machine_mismatch",
         "max_load_per_core", "max_cpu_steal"});
    latency.number("threshold", policy.latency.threshold, 0.0, kInf, false, true);
    latency.number("max_load_per_core", policy.latency.max_load_per_core, 0.0, kInf, true, true);
    latency.number("max_cpu_steal", policy.latency.max_cpu_steal, 0.0, 1.0, false, false);
    latency.number("alpha", policy.latency.alpha, 0.0, 1.0, true, true);
    if (latency.has("min_repetitions")) {
      const nlohmann::json& item = latency.at("min_repetitions");
      if (!item.is_number_integer() || item.get<std::int64_t>() < 2 ||
          item.get<std::int64_t>() > 1000000) {
        latency.fail("/min_repetitions", "expected an integer >= 2, got " + item.dump());
      }
      policy.latency.min_repetitions = item.get<int>();
    }
    if (latency.has("clock")) {
      const nlohmann::json& item = latency.at("clock");
      if (!item.is_string()) latency.fail("/clock", "expected \"wall\" or \"cpu\"");
      try {
        policy.latency.clock = parse_timing_clock(item.get<std::string>());
      } catch (const std::invalid_argument& error) {
        latency.fail("/clock", error.what());
      }
    }
    if (latency.has("on_machine_mismatch")) {
      const nlohmann::json& item = latency.at("on_machine_mismatch");
      const std::string text = item.is_string() ? item.get<std::string>() : "";
      if (text == "skip") {
        policy.latency.on_machine_mismatch = MachineMismatch::skip;
      } else if (text == "compare") {
        policy.latency.on_machine_mismatch = MachineMismatch::compare;
      } else if (text == "block") {
        policy.latency.on_machine_mismatch = MachineMismatch::block;
      } else {
        latency.fail("/on_machine_mismatch",
                     "expected \"skip\", \"compare\" or \"block\", got " + item.dump());
      }
    }
  }
  if (root.has("coverage")) {
    const Section coverage(
        root.at("coverage"), where, "/coverage",
        {"floor_pct", "models", "no_decrease", "tolerance_pct", "strength", "catalog"});
    coverage.number("floor_pct", policy.coverage.floor_pct, 0.0, 100.0, false, false);
    coverage.number("tolerance_pct", policy.coverage.tolerance_pct, 0.0, 100.0, false, false);
    if (coverage.has("models")) {
      const nlohmann::json& item = coverage.at("models");
      if (!item.is_array()) coverage.fail("/models", "expected an array of model names");
      for (const nlohmann::json& name : item) {
        if (!name.is_string()) coverage.fail("/models", "expected model names, got " + name.dump());
        policy.coverage.models.push_back(name.get<std::string>());
      }
    }
    if (coverage.has("no_decrease")) {
      if (!coverage.at("no_decrease").is_boolean()) {
        coverage.fail("/no_decrease", "expected true or false");
      }
      policy.coverage.no_decrease = coverage.at("no_decrease").get<bool>();
    }
    if (coverage.has("strength")) {
      const nlohmann::json& item = coverage.at("strength");
      if (!item.is_number_integer() || item.get<std::int64_t>() < 1 ||
          item.get<std::int64_t>() > 6) {
        coverage.fail("/strength", "expected an integer in [1, 6], got " + item.dump());
      }
      policy.coverage.strength = item.get<int>();
    }
    if (coverage.has("catalog")) {
      if (!coverage.at("catalog").is_string()) {
        coverage.fail("/catalog", "expected a directory path (\"\" for the built-in catalog)");
      }
      policy.coverage.catalog = coverage.at("catalog").get<std::string>();
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
        {"max_cpu_steal", policy.latency.max_cpu_steal}}},
      {"coverage",
       {{"floor_pct", policy.coverage.floor_pct},
        {"models", policy.coverage.models},
        {"no_decrease", policy.coverage.no_decrease},
        {"tolerance_pct", policy.coverage.tolerance_pct},
        {"strength", policy.coverage.strength},
        {"catalog", policy.coverage.catalog}}}};
}

}  // namespace ttt

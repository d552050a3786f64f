#include "gate/error_rates.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "gate/gate.h"
#include "suites/suite/timing.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/markup/number.h"

namespace ttt {
namespace {

std::string percent_text(double fraction) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", 100.0 * fraction);
  return text;
}

// A number of `node` in [minimum, maximum]; fails naming the node's JSON path otherwise.
double number_in(const JsonNode& node, double minimum, double maximum) {
  const double value = node.number();
  if (!(value >= minimum && value <= maximum)) {
    node.fail("expected a number in [" + format_number(minimum) + ", " + format_number(maximum) +
              "], got " + node.json().dump());
  }
  return value;
}

}  // namespace

bool same_machine(const MachineInfo& a, const MachineInfo& b) {
  return a.cpu_model == b.cpu_model && a.cores == b.cores && a.build_type == b.build_type;
}

std::string machine_text(const MachineInfo& machine) {
  return machine.cpu_model + ", " + std::to_string(machine.cores) + " cores, " + machine.build_type;
}

std::vector<double> adjust_p_values(const std::vector<double>& p_values, Correction correction) {
  for (const double p : p_values) {
    if (!(p >= 0.0 && p <= 1.0)) {
      throw std::invalid_argument("[adjust_p_values] a p-value must be in [0, 1], got " +
                                  format_number(p));
    }
  }
  const std::size_t m = p_values.size();
  if (correction == Correction::none || m == 0) return p_values;
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return p_values[a] < p_values[b]; });
  std::vector<double> adjusted(m);
  if (correction == Correction::holm) {
    // Step-down: the i-th smallest (from 0) is multiplied by m - i; running maximum upwards.
    double running = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
      const double value = std::min(1.0, static_cast<double>(m - i) * p_values[order[i]]);
      running = std::max(running, value);
      adjusted[order[i]] = running;
    }
  } else {
    // Step-up: the i-th smallest (from 1) is multiplied by m / i; running minimum downwards.
    double running = 1.0;
    for (std::size_t i = m; i-- > 0;) {
      const double value =
          std::min(1.0, static_cast<double>(m) / static_cast<double>(i + 1) * p_values[order[i]]);
      running = std::min(running, value);
      adjusted[order[i]] = running;
    }
  }
  return adjusted;
}

NoiseFloor measure_noise_floor(const RunResults& a, const RunResults& b,
                               const LatencyPolicy& policy) {
  if (a.machine.commit == "unknown" || b.machine.commit == "unknown") {
    throw std::invalid_argument(
        "[noise-floor] a run's commit is unknown: an A/A pair must be two runs of one known commit "
        "(set TTT_COMMIT or build from a git checkout)");
  }
  if (a.machine.commit != b.machine.commit) {
    throw std::invalid_argument("[noise-floor] not an A/A pair: run A is commit " +
                                a.machine.commit + ", run B commit " + b.machine.commit +
                                " (measure the floor from two runs of the same commit)");
  }
  if (!same_machine(a.machine, b.machine)) {
    throw std::invalid_argument("[noise-floor] not an A/A pair: run A ran on " +
                                machine_text(a.machine) + ", run B on " + machine_text(b.machine));
  }
  GateInputs inputs;
  inputs.results = b;
  inputs.results_path = "run B";
  inputs.baseline = GateBaseline{"run A", a, std::nullopt};
  inputs.policy.latency = policy;
  inputs.policy.latency.require_noise_floor = false;
  const GateDecision decision = decide_gate(inputs);
  NoiseFloor floor;
  floor.machine = b.machine;
  floor.commit = b.machine.commit;
  floor.clock = policy.clock;
  floor.policy = policy;
  floor.created_utc = utc_now_iso8601();
  std::vector<double> magnitudes;
  for (const GateFinding& finding : decision.findings) {
    if (finding.rule != "latency") continue;
    if (finding.verdict == "noisy_machine") {
      throw std::invalid_argument("[noise-floor] " + finding.message +
                                  ": measure the floor on a machine as quiet as the gate requires");
    }
    if (!finding.change || !finding.p_value || finding.verdict == "too_few_repetitions") continue;
    floor.cases.push_back({finding.suite, finding.case_id, *finding.change, *finding.p_value});
    magnitudes.push_back(std::abs(*finding.change));
    if (finding.blocks) ++floor.false_alarms;
  }
  if (floor.cases.empty()) {
    throw std::invalid_argument(
        "[noise-floor] no case of the two runs could be compared (each needs at least " +
        std::to_string(policy.min_repetitions) + " repetitions with timing on both sides)");
  }
  floor.floor = percentile(magnitudes, 0.95);
  floor.max_abs_change = *std::max_element(magnitudes.begin(), magnitudes.end());
  return floor;
}

nlohmann::json to_json(const NoiseFloor& floor) {
  nlohmann::json cases = nlohmann::json::array();
  for (const NoiseFloorCase& c : floor.cases) {
    cases.push_back(
        {{"suite", c.suite}, {"case", c.case_id}, {"change", c.change}, {"p_value", c.p_value}});
  }
  return {{"format", kNoiseFloorFormat},
          {"version", 1},
          {"created_utc", floor.created_utc},
          {"machine", to_json(floor.machine)},
          {"commit", floor.commit},
          {"clock", std::string(timing_clock_name(floor.clock))},
          {"floor", floor.floor},
          {"max_abs_change", floor.max_abs_change},
          {"false_alarms", floor.false_alarms},
          {"policy",
           {{"threshold", floor.policy.threshold},
            {"alpha", floor.policy.alpha},
            {"correction", std::string(correction_name(floor.policy.correction))},
            {"min_repetitions", floor.policy.min_repetitions}}},
          {"cases", cases}};
}

NoiseFloor load_noise_floor(const std::string& path) {
  const nlohmann::json json = read_json_file(path, "the noise floor");
  const JsonNode root(json, path);
  root.allow_only({"format", "version", "created_utc", "machine", "commit", "clock", "floor",
                   "max_abs_change", "false_alarms", "policy", "cases"});
  if (root.at("format").string() != kNoiseFloorFormat) {
    root.at("format").fail("expected \"" + std::string(kNoiseFloorFormat) + "\"");
  }
  if (root.at("version").integer() != 1) root.at("version").fail("expected 1");
  NoiseFloor floor;
  floor.path = path;
  floor.created_utc = root.at("created_utc").string();
  floor.machine = machine_info_from_json(root.at("machine"));
  floor.commit = root.at("commit").string();
  try {
    floor.clock = parse_timing_clock(root.at("clock").string());
  } catch (const std::invalid_argument& error) {
    root.at("clock").fail(error.what());
  }
  floor.floor = number_in(root.at("floor"), 0.0, 1e300);
  floor.max_abs_change = number_in(root.at("max_abs_change"), 0.0, 1e300);
  floor.false_alarms = root.at("false_alarms").integer_at_least(0);
  const JsonNode policy = root.at("policy");
  policy.allow_only({"threshold", "alpha", "correction", "min_repetitions"});
  floor.policy.threshold = number_in(policy.at("threshold"), 0.0, 1e300);
  floor.policy.alpha = number_in(policy.at("alpha"), 0.0, 1.0);
  try {
    floor.policy.correction = parse_correction(policy.at("correction").string());
  } catch (const std::invalid_argument& error) {
    policy.at("correction").fail(error.what());
  }
  floor.policy.min_repetitions =
      static_cast<int>(policy.at("min_repetitions").integer_in(2, 1000000));
  floor.policy.clock = floor.clock;
  const JsonNode cases = root.at("cases");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const JsonNode item = cases.at(i);
    item.allow_only({"suite", "case", "change", "p_value"});
    floor.cases.push_back({item.at("suite").string(), item.at("case").string(),
                           number_in(item.at("change"), -1e300, 1e300),
                           number_in(item.at("p_value"), 0.0, 1.0)});
  }
  if (floor.cases.empty()) cases.fail("expected at least one case");
  return floor;
}

void write_noise_floor(const std::string& path, const NoiseFloor& floor) {
  std::ofstream out(path);
  out << to_json(floor).dump(2) << "\n";
  out.close();
  if (!out) throw std::runtime_error(path + ": cannot write the noise floor");
}

std::string latency_distrust(const std::optional<NoiseFloor>& floor, const MachineInfo& head,
                             const LatencyPolicy& policy) {
  if (!floor.has_value()) {
    return "no A/A noise floor was given for this machine (measure one: ttt noise-floor A.json "
           "B.json -o floor.json, then ttt gate --noise-floor floor.json)";
  }
  const std::string name = floor->path.empty() ? "the noise floor" : floor->path;
  if (!same_machine(floor->machine, head)) {
    return name + " was measured on " + machine_text(floor->machine) + ", the results ran on " +
           machine_text(head);
  }
  if (floor->clock != policy.clock) {
    return name + " was measured on " + std::string(timing_clock_name(floor->clock)) +
           " time, the policy compares " + std::string(timing_clock_name(policy.clock));
  }
  if (floor->false_alarms > 0) {
    return "the A/A pair of " + name + " raised " + std::to_string(floor->false_alarms) +
           " false alarm" + (floor->false_alarms == 1 ? "" : "s") +
           " (threshold " + percent_text(floor->policy.threshold) + "): this machine cannot tell";
  }
  if (floor->floor >= policy.threshold) {
    return "this machine's A/A noise floor is " + percent_text(floor->floor) +
           " (95th percentile of |change| over " + std::to_string(floor->cases.size()) +
           " cases, " + name + "), not below the " + percent_text(policy.threshold) +
           " threshold: it cannot tell a change of that size";
  }
  return "";
}

std::string format_noise_floor(const NoiseFloor& floor) {
  std::ostringstream out;
  out << "noise floor of " << machine_text(floor.machine) << " (commit " << floor.commit << ", "
      << timing_clock_name(floor.clock) << " time): " << percent_text(floor.floor)
      << " (95th percentile of |median change| over " << floor.cases.size()
      << " cases), largest " << percent_text(floor.max_abs_change) << ", " << floor.false_alarms
      << " false alarm" << (floor.false_alarms == 1 ? "" : "s") << " at threshold "
      << percent_text(floor.policy.threshold) << ", alpha " << format_number(floor.policy.alpha)
      << " (" << correction_name(floor.policy.correction) << ")\n";
  const std::string distrust = latency_distrust(floor, floor.machine, floor.policy);
  out << (distrust.empty() ? "a latency threshold of " + percent_text(floor.policy.threshold) +
                                 " can be trusted on this machine"
                           : "latency cannot be judged at this threshold: " + distrust)
      << "\n";
  return out.str();
}

}  // namespace ttt

#include "gate/gate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <tuple>

#include "gate/mann_whitney.h"
#include "suites/suite/timing.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/markup/junit.h"
#include "validation/markup/markup.h"
#include "validation/markup/number.h"

namespace ttt {
namespace {

// A measurement in a fixed printf format ("%+.1f%%", "%.6f"): the tables' documented formats
// (docs/report-format.md "Numbers"). Thresholds print with format_number or format_scaled, and a
// value in a verdict line with format_beside its threshold.
std::string format_measurement(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

std::string percent(double fraction) { return format_measurement("%+.1f%%", 100.0 * fraction); }

// One entry of a baseline's coverage, as counts_to_json writes it.
CoverageCounts counts_from_json(const JsonNode& node) {
  node.allow_only({"configurations", "exercised", "passing", "passing_pct"});
  CoverageCounts counts;
  counts.configurations = node.at("configurations").integer_at_least(0);
  counts.exercised = node.at("exercised").integer_at_least(0);
  counts.passing = node.at("passing").integer_at_least(0);
  return counts;
}

nlohmann::json counts_to_json(const CoverageCounts& counts) {
  return {{"configurations", counts.configurations},
          {"exercised", counts.exercised},
          {"passing", counts.passing},
          {"passing_pct", counts.passing_pct()}};
}

// Rank of a verdict in the output: what blocks first, then improvements, then the rest.
int verdict_rank(const GateFinding& finding) {
  if (finding.blocks) return 0;
  static const std::vector<std::string> order = {"noisy_machine", "unverified",          "increase",
                                                 "improvement",   "too_few_repetitions", "noise",
                                                 "new",           "not_compared",        "ok"};
  const auto it = std::find(order.begin(), order.end(), finding.verdict);
  return 1 + static_cast<int>(it - order.begin());
}

int rule_rank(const std::string& rule) {
  static const std::vector<std::string> order = {"expectation", "selection", "accuracy",
                                                 "device_cost", "latency",   "coverage"};
  return static_cast<int>(std::find(order.begin(), order.end(), rule) - order.begin());
}

// "load 0.52/0.58/0.59 on 2 cores, CPU steal 0.3%", or that it was not recorded.
std::string load_text(const MachineInfo& machine) {
  if (!machine.load) return "load not recorded";
  const MachineLoad& load = *machine.load;
  char text[160];
  std::snprintf(text, sizeof(text), "load %.2f/%.2f/%.2f on %lld cores, CPU steal %.1f%%",
                load.load_1min, load.load_5min, load.load_15min,
                static_cast<long long>(machine.cores), 100.0 * load.cpu_steal);
  return text;
}

// Why a run's timings are too noisy to judge under `policy`, or "" when they are not (or when
// its load was not recorded).
std::string noise_reason(const std::string& side, const MachineInfo& machine,
                         const LatencyPolicy& policy) {
  if (!machine.load) return "";
  std::string reasons;
  const double per_core =
      machine.load->load_1min / static_cast<double>(std::max<std::int64_t>(machine.cores, 1));
  if (per_core > policy.max_load_per_core) {
    reasons = side + " ran at a 1-minute load of " +
              format_measurement("%.2f", machine.load->load_1min) + " on " +
              std::to_string(machine.cores) + " cores (" +
              format_beside(per_core, policy.max_load_per_core) + " per core > " +
              format_number(policy.max_load_per_core) + ")";
  }
  if (machine.load->cpu_steal > policy.max_cpu_steal) {
    const double steal_pct = 100.0 * machine.load->cpu_steal;
    const double max_steal_pct = 100.0 * policy.max_cpu_steal;
    reasons += (reasons.empty() ? "" : "; ") + side + " lost " +
               format_beside(steal_pct, max_steal_pct) + "% of its CPU time to steal (> " +
               format_scaled(max_steal_pct) + "%)";
  }
  return reasons;
}

GateFinding missing_finding(const std::string& suite, const std::string& case_id,
                            const std::string& rule, const std::string& metric,
                            const std::string& message) {
  GateFinding finding;
  finding.rule = rule;
  finding.suite = suite;
  finding.case_id = case_id;
  finding.metric = metric;
  finding.verdict = "missing";
  finding.blocks = true;
  finding.message = message;
  return finding;
}

bool has_timing(const CaseResult& result) {
  return result.timing.has_value() && !result.timing->wall_ns.empty();
}

// A case that ran (passed or failed its expectations) but carries no outputs or no timing has not
// been checked: missing data blocks rather than letting the check pass silently.
void missing_data_findings(const RunResults& results, std::vector<GateFinding>& findings) {
  for (const SuiteResult& suite : results.suites) {
    for (const CaseResult& result : suite.cases) {
      if (result.status != CaseStatus::pass && result.status != CaseStatus::fail) continue;
      if (result.outputs.empty()) {
        findings.push_back(missing_finding(suite.name, result.id, "accuracy", "outputs",
                                           "the case has no outputs: its accuracy was not "
                                           "checked (missing data blocks)"));
      }
      if (!has_timing(result)) {
        findings.push_back(missing_finding(suite.name, result.id, "latency", "timing",
                                           "the case has no timing (timing: null or no "
                                           "repetitions): its latency was not checked (missing "
                                           "data blocks)"));
      }
    }
  }
}

std::vector<double> as_doubles(const std::vector<std::int64_t>& samples) {
  return std::vector<double>(samples.begin(), samples.end());
}

std::string format_time(double ns) { return format_ns(ns); }

void check_results(const GateInputs& inputs) {
  const std::string& where = inputs.results_path.empty() ? "results" : inputs.results_path;
  std::int64_t cases = 0;
  for (const SuiteResult& suite : inputs.results.suites) {
    if (!suite.complete()) {
      std::string held;
      for (std::int64_t shard : suite.shards)
        held += (held.empty() ? "" : ", ") + std::to_string(shard);
      throw GateInputError(where + ": suite '" + suite.name + "' holds shard(s) " + held + " of " +
                           std::to_string(suite.shard_total) +
                           ": merge every shard (ttt suite merge) before gating");
    }
    cases += static_cast<std::int64_t>(suite.cases.size());
  }
  if (cases == 0) throw GateInputError(where + ": the results hold no case");
}

void expectation_findings(const RunResults& results, std::vector<GateFinding>& findings) {
  for (const SuiteResult& suite : results.suites) {
    for (const CaseResult& result : suite.cases) {
      if (result.status == CaseStatus::pass) continue;
      GateFinding finding;
      finding.rule = "expectation";
      finding.suite = suite.name;
      finding.case_id = result.id;
      finding.metric = "expectations";
      finding.verdict = "failed";
      finding.blocks = true;
      std::string lines;
      for (const std::string& line : result.failure_lines()) {
        lines += (lines.empty() ? "" : "; ") + line;
      }
      finding.message =
          std::string(case_status_name(result.status)) + (lines.empty() ? "" : ": " + lines);
      findings.push_back(std::move(finding));
    }
  }
}

void accuracy_finding(const std::string& suite, const CaseResult& base, const CaseResult& head,
                      const AccuracyPolicy& policy, std::vector<GateFinding>& findings) {
  std::optional<GateFinding> worst;
  double worst_drop = -1e300;
  for (const OutputResult& head_output : head.outputs) {
    const auto base_output =
        std::find_if(base.outputs.begin(), base.outputs.end(),
                     [&](const OutputResult& o) { return o.name == head_output.name; });
    if (base_output == base.outputs.end()) {
      findings.push_back(missing_finding(
          suite, head.id, "accuracy", "baseline output " + head_output.name,
          "the baseline has no output '" + head_output.name +
              "' for this case: accuracy cannot be compared (missing data blocks; re-record the "
              "baseline)"));
      return;
    }
    const double base_pcc = base_output->metrics.pcc;
    const double head_pcc = head_output.metrics.pcc;
    GateFinding finding;
    finding.rule = "accuracy";
    finding.suite = suite;
    finding.case_id = head.id;
    finding.metric = "pcc " + head_output.name;
    finding.base = base_pcc;
    finding.head = head_pcc;
    finding.change = head_pcc - base_pcc;
    const double drop = std::isnan(head_pcc) && !std::isnan(base_pcc) ? 1e300 : base_pcc - head_pcc;
    if (std::isnan(head_pcc) && !std::isnan(base_pcc)) {
      finding.verdict = "regression";
      finding.blocks = true;
      finding.message = "pcc is NaN, baseline " + format_number(base_pcc);
    } else if (drop > policy.pcc_drop) {
      finding.verdict = "regression";
      finding.blocks = true;
      // The baseline is what head is compared against, so it prints in full, like the limit.
      finding.message = "pcc " + format_beside(head_pcc, base_pcc) + " dropped " +
                        format_beside(drop, policy.pcc_drop) + " below the baseline " +
                        format_number(base_pcc) + " (allowed " + format_number(policy.pcc_drop) +
                        ")";
    } else {
      finding.verdict = "ok";
      finding.message =
          "pcc " + format_beside(head_pcc, base_pcc) + ", baseline " + format_number(base_pcc);
    }
    if (!finding.blocks && policy.max_abs_error_increase.has_value()) {
      const double base_error = base_output->metrics.max_abs_error;
      const double head_error = head_output.metrics.max_abs_error;
      const double limit = base_error * (1.0 + *policy.max_abs_error_increase);
      if (head_error > limit) {
        finding.metric = "max_abs_error " + head_output.name;
        finding.base = base_error;
        finding.head = head_error;
        finding.change = head_error - base_error;
        finding.verdict = "regression";
        finding.blocks = true;
        finding.message = "max_abs_error " + format_beside(head_error, limit) + " > baseline " +
                          format_number(base_error) + " + " +
                          format_scaled(100.0 * *policy.max_abs_error_increase) + "%";
      }
    }
    const double rank = finding.blocks ? 1e301 : drop;
    if (!worst.has_value() || rank > worst_drop) {
      worst_drop = rank;
      worst = std::move(finding);
    }
  }
  if (worst.has_value()) findings.push_back(std::move(*worst));
}

// Two predicted device times within this relative difference are the same figure: the prediction
// is integer counts through a few double operations, whose last bits may differ between compilers
// (a fused multiply-add); a real change of the work or of a constant is far larger.
constexpr double kDeviceTimeRounding = 1e-9;

// The predicted device time (ns) a result records in device_cost.time.total_ns, or nullopt with
// `why` saying what is missing. A zero, negative or non-numeric time is missing, never a cost.
std::optional<double> recorded_device_ns(const CaseResult& result, std::string& why) {
  if (!result.device_cost) {
    why = "no device_cost (only seeded cases of a block kind carry one)";
    return std::nullopt;
  }
  const nlohmann::json& cost = *result.device_cost;
  if (const auto error = cost.find("error"); error != cost.end()) {
    why = "the cost model refused the call: " +
          (error->is_string() ? error->get<std::string>() : error->dump());
    return std::nullopt;
  }
  const auto time = cost.find("time");
  if (time == cost.end() || !time->is_object() || !time->contains("total_ns") ||
      !time->at("total_ns").is_number() || !(time->at("total_ns").get<double>() > 0.0) ||
      !std::isfinite(time->at("total_ns").get<double>())) {
    why = "device_cost has no time.total_ns > 0";
    return std::nullopt;
  }
  return time->at("total_ns").get<double>();
}

// "dram_bytes/weights 1000 -> 1200, ops 4 -> 5": the counts of the work that differ (at most
// three), or that none does (a constant of the device model changed).
std::string cost_changes(const CaseResult& base, const CaseResult& head) {
  const nlohmann::json before = base.device_cost->value("cost", nlohmann::json::object()).flatten();
  const nlohmann::json after = head.device_cost->value("cost", nlohmann::json::object()).flatten();
  std::string text;
  int listed = 0;
  int differing = 0;
  for (const auto& item : after.items()) {
    const auto old_value = before.find(item.key());
    if (old_value != before.end() && *old_value == item.value()) continue;
    ++differing;
    if (listed++ < 3) {
      text += std::string(text.empty() ? "" : ", ") + item.key().substr(1) + " " +
              (old_value == before.end() ? std::string("none") : old_value->dump()) + " -> " +
              item.value().dump();
    }
  }
  if (differing == 0) return "the call's work is unchanged: a constant of the device model changed";
  if (differing > 3) text += " and " + std::to_string(differing - 3) + " more";
  return "changed: " + text;
}

// The device-cost rule for one case of the same definition on both sides (docs/gate.md "Device
// cost"): any change is real, so there are no statistics; the policy decides what blocks.
void device_cost_finding(const std::string& suite, const CaseResult& base, const CaseResult& head,
                         const GateInputs& inputs, std::vector<GateFinding>& findings) {
  const DeviceCostPolicy& policy = inputs.policy.device_cost;
  std::string head_why;
  std::string base_why;
  const std::optional<double> head_ns = recorded_device_ns(head, head_why);
  const std::optional<double> base_ns = recorded_device_ns(base, base_why);
  const std::string name = "case '" + suite + "/" + head.id + "'";
  if (!head_ns && (policy.require || base_ns)) {
    if (policy.require) {
      throw GateInputError(
          (inputs.results_path.empty() ? std::string("results") : inputs.results_path) + ": " +
          name + " has no device cost to gate on (" + head_why +
          "); the policy requires one (device_cost.require)");
    }
    findings.push_back(missing_finding(
        suite, head.id, "device_cost", "device time",
        "the case has no device cost (" + head_why +
            ") but the baseline has one: its device time was not checked (missing data blocks)"));
    return;
  }
  if (!head_ns) return;  // Neither side is costed, and the policy does not ask.
  const std::string device = head.device_cost->value("device", head.device);
  if (!base_ns) {
    if (policy.require) {
      throw GateInputError(inputs.baseline->path + ": " + name +
                           " has no device cost in the baseline (" + base_why +
                           "); the policy requires one (device_cost.require): re-record the "
                           "baseline");
    }
    GateFinding finding;
    finding.rule = "device_cost";
    finding.suite = suite;
    finding.case_id = head.id;
    finding.metric = "device time " + device;
    finding.verdict = "new";
    finding.head = head_ns;
    finding.message = "the baseline has no device cost for this case (" + base_why +
                      "): re-record the baseline to judge it";
    findings.push_back(std::move(finding));
    return;
  }
  GateFinding finding;
  finding.rule = "device_cost";
  finding.suite = suite;
  finding.case_id = head.id;
  finding.metric = "device time " + device;
  finding.base = base_ns;
  finding.head = head_ns;
  finding.change = (*head_ns - *base_ns) / *base_ns;
  const std::string bound = head.device_cost->at("time").value("bound", std::string("?"));
  const std::string numbers =
      "predicted " + format_time(*head_ns) + " vs " + format_time(*base_ns) + " on " + device +
      " (" + format_measurement("%+.3g%%", 100.0 * *finding.change) + ", " + bound + " bound)";
  if (std::abs(*finding.change) <= kDeviceTimeRounding) {
    finding.change = 0.0;
    finding.verdict = "ok";
    finding.message = "predicted " + format_time(*head_ns) + " on " + device + ", unchanged";
  } else if (*finding.change > policy.max_increase) {
    finding.verdict = "regression";
    finding.blocks = true;
    finding.message = numbers + ": slower beyond the " +
                      format_scaled(100.0 * policy.max_increase) +
                      "% allowed (device_cost.max_increase); " + cost_changes(base, head);
  } else if (*finding.change > 0.0) {
    finding.verdict = "increase";
    finding.message = numbers + ": slower, within the " +
                      format_scaled(100.0 * policy.max_increase) + "% allowed; " +
                      cost_changes(base, head);
  } else {
    finding.verdict = "improvement";
    finding.message = numbers + ": faster; " + cost_changes(base, head);
  }
  findings.push_back(std::move(finding));
}

// A case whose latency the rule judges: its finding before the verdict, and both one-sided
// p-values, which judge_latency corrects over the run's cases.
struct PendingLatency {
  GateFinding finding;
  std::string numbers;  // "median 1.30 ms vs 1.00 ms (+30.0%, 9 baseline and 9 head repetitions"
  double p_slower = 1.0;
  double p_faster = 1.0;
};

// Compares one case's timings: pushes what cannot be judged (missing baseline timing, too few
// repetitions) to `findings` and returns the rest.
std::optional<PendingLatency> compare_latency_of(const std::string& suite, const CaseResult& base,
                                              const CaseResult& head, const LatencyPolicy& policy,
                                              std::vector<GateFinding>& findings) {
  // A head without timing is reported by missing_data_findings.
  if (!has_timing(head)) return std::nullopt;
  if (!has_timing(base)) {
    findings.push_back(missing_finding(suite, head.id, "latency", "baseline timing",
                                       "the baseline has no timing for this case: latency cannot "
                                       "be compared (missing data blocks; re-record the "
                                       "baseline)"));
    return std::nullopt;
  }
  const std::vector<std::int64_t>& base_samples = base.timing->of(policy.clock);
  const std::vector<std::int64_t>& head_samples = head.timing->of(policy.clock);
  GateFinding finding;
  finding.rule = "latency";
  finding.suite = suite;
  finding.case_id = head.id;
  finding.metric = "p50 " + std::string(timing_clock_name(policy.clock));
  const std::vector<double> base_values = as_doubles(base_samples);
  const std::vector<double> head_values = as_doubles(head_samples);
  const double base_median = percentile(base_values, 0.5);
  const double head_median = percentile(head_values, 0.5);
  finding.base = base_median;
  finding.head = head_median;
  finding.change = base_median > 0.0 ? (head_median - base_median) / base_median : 0.0;
  const std::size_t n = head_values.size();
  const std::size_t m = base_values.size();
  const std::string counts =
      std::to_string(m) + " baseline and " + std::to_string(n) + " head repetitions";
  const double reachable = smallest_p_value(n, m, Alternative::greater);
  if (static_cast<int>(n) < policy.min_repetitions ||
      static_cast<int>(m) < policy.min_repetitions || reachable >= policy.alpha) {
    finding.verdict = "too_few_repetitions";
    finding.message =
        "too few repetitions to judge (" + counts + "; the policy needs " +
        std::to_string(policy.min_repetitions) +
        (reachable >= policy.alpha
             ? ", and no p-value below " + format_number(policy.alpha) +
                   " is reachable: the smallest is " + format_beside(reachable, policy.alpha)
             : std::string()) +
        "): median " + percent(*finding.change) + " not judged";
    findings.push_back(std::move(finding));
    return std::nullopt;
  }
  PendingLatency pending;
  pending.p_slower = mann_whitney_u(head_values, base_values, Alternative::greater).p_value;
  pending.p_faster = mann_whitney_u(head_values, base_values, Alternative::less).p_value;
  pending.numbers = "median " + format_time(head_median) + " vs " + format_time(base_median) +
                    " (" + percent(*finding.change) + ", " + counts;
  pending.finding = std::move(finding);
  return pending;
}

// "p = 2.1e-05" or, when the correction changed it, "p = 2.5e-04 (holm over 12 cases; raw
// 2.1e-05)".
std::string p_text(double adjusted, double raw, double alpha, const LatencyPolicy& policy,
                   std::size_t family) {
  std::string text = "p = " + format_beside(adjusted, alpha);
  if (adjusted != raw) {
    text += " (" + std::string(correction_name(policy.correction)) + " over " +
            std::to_string(family) + " cases; raw " + format_beside(raw, alpha) + ")";
  }
  return text;
}

// Gives every pending case its verdict with the p-values corrected over the family (all judged
// cases of the run). `distrust` non-empty: the machine cannot tell (latency_distrust), so a
// regression is reported as "unverified" and does not block.
void judge_latency(std::vector<PendingLatency>& pending, const LatencyPolicy& policy,
                   const std::string& distrust, std::vector<GateFinding>& findings) {
  std::vector<double> slower;
  std::vector<double> faster;
  for (const PendingLatency& p : pending) {
    slower.push_back(p.p_slower);
    faster.push_back(p.p_faster);
  }
  const std::vector<double> slower_adjusted = adjust_p_values(slower, policy.correction);
  const std::vector<double> faster_adjusted = adjust_p_values(faster, policy.correction);
  const std::size_t family = pending.size();
  for (std::size_t i = 0; i < pending.size(); ++i) {
    GateFinding& finding = pending[i].finding;
    const std::string& numbers = pending[i].numbers;
    const double change = *finding.change;
    const std::string slower_text =
        p_text(slower_adjusted[i], slower[i], policy.alpha, policy, family);
    const std::string faster_text =
        p_text(faster_adjusted[i], faster[i], policy.alpha, policy, family);
    if (change > policy.threshold && slower_adjusted[i] < policy.alpha) {
      finding.p_value = slower_adjusted[i];
      const std::string why = numbers + "): slower beyond " +
                              format_scaled(100.0 * policy.threshold) +
                              "% and significant (Mann-Whitney U " + slower_text + " < " +
                              format_number(policy.alpha) + ")";
      if (distrust.empty()) {
        finding.verdict = "regression";
        finding.blocks = true;
        finding.message = why;
      } else {
        finding.verdict = "unverified";
        finding.message = why + "; not judged: " + distrust;
      }
    } else if (change < -policy.threshold && faster_adjusted[i] < policy.alpha) {
      finding.verdict = "improvement";
      finding.p_value = faster_adjusted[i];
      finding.message = numbers + "): faster (Mann-Whitney U " + faster_text + ")";
    } else if (std::abs(change) > policy.threshold) {
      finding.verdict = "noise";
      finding.p_value = change > 0 ? slower_adjusted[i] : faster_adjusted[i];
      finding.message = numbers + "): beyond " + format_scaled(100.0 * policy.threshold) +
                        "% but not significant (" + (change > 0 ? slower_text : faster_text) +
                        " >= " + format_number(policy.alpha) + ")";
    } else {
      finding.verdict = "ok";
      finding.p_value = slower_adjusted[i];
      finding.message = numbers + "): within " + format_scaled(100.0 * policy.threshold) + "%";
    }
    findings.push_back(std::move(finding));
  }
}

void baseline_findings(const GateInputs& inputs, GateDecision& decision) {
  const GateBaseline& baseline = *inputs.baseline;
  const RunResults& head = inputs.results;
  bool common = false;
  for (const SuiteResult& suite : head.suites) {
    for (const SuiteResult& base : baseline.results.suites)
      common = common || base.name == suite.name;
  }
  if (!common) {
    const auto names = [](const RunResults& results) {
      std::string text;
      for (const SuiteResult& suite : results.suites) {
        text += (text.empty() ? "" : ", ") + suite.name;
      }
      return text.empty() ? std::string("none") : text;
    };
    throw GateInputError("mismatched suites: the baseline " + baseline.path + " holds " +
                         names(baseline.results) + ", the results " +
                         (inputs.results_path.empty() ? "" : inputs.results_path + " ") + "hold " +
                         names(head) + ": no suite to compare");
  }
  bool compare_latency = true;
  if (!same_machine(baseline.results.machine, head.machine)) {
    const std::string message = "baseline ran on " + machine_text(baseline.results.machine) +
                                ", head on " + machine_text(head.machine);
    switch (inputs.policy.latency.on_machine_mismatch) {
      case MachineMismatch::skip:
        decision.notes.push_back(message + ": latency not compared (policy on_machine_mismatch)");
        compare_latency = false;
        break;
      case MachineMismatch::compare:
        decision.notes.push_back(message + ": latency compared anyway (policy)");
        break;
      case MachineMismatch::block: {
        GateFinding finding;
        finding.rule = "latency";
        finding.metric = "machine";
        finding.verdict = "not_compared";
        finding.blocks = true;
        finding.message = message + ": record the baseline on this machine";
        decision.findings.push_back(std::move(finding));
        compare_latency = false;
        break;
      }
    }
  }
  decision.notes.push_back("machine state: base " + load_text(baseline.results.machine) +
                           "; head " + load_text(head.machine));
  if (compare_latency) {
    std::string reasons = noise_reason("base", baseline.results.machine, inputs.policy.latency);
    const std::string head_reason = noise_reason("head", head.machine, inputs.policy.latency);
    if (!head_reason.empty()) reasons += (reasons.empty() ? "" : "; ") + head_reason;
    if (!reasons.empty()) {
      GateFinding finding;
      finding.rule = "latency";
      finding.metric = "machine";
      finding.verdict = "noisy_machine";
      finding.message = "noisy machine: latency not judged (" + reasons + ")";
      decision.findings.push_back(std::move(finding));
      compare_latency = false;
    }
  }
  const std::string& base_commit = baseline.results.machine.commit;
  if (base_commit == head.machine.commit && base_commit != "unknown") {
    decision.notes.push_back("base and head are the same commit (" + base_commit + ")");
  } else if (base_commit != head.machine.commit) {
    decision.notes.push_back("baseline commit " + base_commit + ", head commit " +
                             head.machine.commit);
  }
  const std::string distrust =
      compare_latency && inputs.policy.latency.require_noise_floor
          ? latency_distrust(inputs.noise_floor, head.machine, inputs.policy.latency)
          : std::string();
  if (!distrust.empty()) {
    decision.notes.push_back("latency reported, not judged: " + distrust);
  } else if (compare_latency && inputs.noise_floor.has_value()) {
    decision.notes.push_back("latency judged: this machine's A/A noise floor is " +
                             percent(inputs.noise_floor->floor).substr(1) + " (" +
                             (inputs.noise_floor->path.empty() ? std::string("measured")
                                                               : inputs.noise_floor->path) +
                             ")");
  }
  std::vector<PendingLatency> pending;
  for (const SuiteResult& suite : head.suites) {
    const auto base_suite =
        std::find_if(baseline.results.suites.begin(), baseline.results.suites.end(),
                     [&](const SuiteResult& s) { return s.name == suite.name; });
    if (base_suite == baseline.results.suites.end()) {
      decision.notes.push_back("suite '" + suite.name + "' has no baseline: its " +
                               std::to_string(suite.cases.size()) + " cases are new");
    } else if (base_suite->fingerprint != suite.fingerprint) {
      decision.notes.push_back("suite '" + suite.name + "' changed definition (fingerprint " +
                               base_suite->fingerprint + " -> " + suite.fingerprint +
                               "): cases are compared by id where they still run the same thing");
    }
    for (const CaseResult& result : suite.cases) {
      const CaseResult* base = nullptr;
      if (base_suite != baseline.results.suites.end()) {
        for (const CaseResult& candidate : base_suite->cases) {
          if (candidate.id == result.id) base = &candidate;
        }
      }
      GateFinding finding;
      finding.suite = suite.name;
      finding.case_id = result.id;
      if (base == nullptr) {
        finding.rule = "accuracy";
        finding.metric = "baseline";
        finding.verdict = "new";
        finding.message = "no baseline for this case";
        decision.findings.push_back(std::move(finding));
        continue;
      }
      if (!same_definition(*base, result)) {
        finding.rule = "accuracy";
        finding.metric = "definition";
        finding.verdict = "not_compared";
        finding.message = "the case runs another configuration than the baseline's";
        decision.findings.push_back(std::move(finding));
        continue;
      }
      accuracy_finding(suite.name, *base, result, inputs.policy.accuracy, decision.findings);
      device_cost_finding(suite.name, *base, result, inputs, decision.findings);
      if (compare_latency) {
        if (auto judged = compare_latency_of(suite.name, *base, result, inputs.policy.latency,
                                             decision.findings)) {
          pending.push_back(std::move(*judged));
        }
      }
    }
    if (base_suite != baseline.results.suites.end() && base_suite->filter == suite.filter &&
        base_suite->tags == suite.tags) {
      for (const CaseResult& base : base_suite->cases) {
        const bool kept = std::any_of(suite.cases.begin(), suite.cases.end(),
                                      [&](const CaseResult& c) { return c.id == base.id; });
        if (!kept) {
          decision.notes.push_back("baseline case '" + suite.name + "/" + base.id +
                                   "' is not in the results");
        }
      }
    }
  }
  judge_latency(pending, inputs.policy.latency, distrust, decision.findings);
}

void coverage_findings(const GateInputs& inputs, GateDecision& decision) {
  const CoveragePolicy& policy = inputs.policy.coverage;
  const std::optional<CoverageFigures> base =
      inputs.baseline.has_value() ? inputs.baseline->coverage : std::nullopt;
  if (!inputs.coverage.has_value()) {
    if (policy.floor_pct > 0.0) {
      throw GateInputError("the policy sets coverage.floor_pct " + format_number(policy.floor_pct) +
                           " but no coverage data was given (--coverage)");
    }
    if (base.has_value()) {
      GateFinding finding;
      finding.rule = "coverage";
      finding.metric = "passing";
      finding.verdict = "not_measured";
      finding.blocks = true;
      finding.base = base->summary.passing_pct();
      finding.message = "the baseline recorded " + format_measurement("%.1f%%", *finding.base) +
                        " passing coverage but no coverage data was given (--coverage)";
      decision.findings.push_back(std::move(finding));
    }
    return;
  }
  const CoverageReport& report = *inputs.coverage;
  std::vector<std::pair<std::string, CoverageCounts>> scopes;
  std::vector<std::optional<CoverageCounts>> base_scopes;
  if (policy.models.empty()) {
    scopes.emplace_back("catalog", report.summary);
    base_scopes.push_back(base.has_value() ? std::optional(base->summary) : std::nullopt);
  } else {
    for (const std::string& name : policy.models) {
      const ModelCoverage* model = report.find_model(name);
      if (model == nullptr) {
        throw GateInputError("policy coverage.models names '" + name +
                             "', which is not a catalog model");
      }
      scopes.emplace_back(model->name, model->counts);
      std::optional<CoverageCounts> base_counts;
      if (base.has_value()) {
        const auto it = base->models.find(model->name);
        if (it != base->models.end()) base_counts = it->second;
      }
      base_scopes.push_back(base_counts);
    }
  }
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    const auto& [scope, counts] = scopes[i];
    GateFinding finding;
    finding.rule = "coverage";
    finding.metric = "passing " + scope;
    finding.head = counts.passing_pct();
    const auto head_text = [&](const std::string& share) {
      return share + "% (" + std::to_string(counts.passing) + "/" +
             std::to_string(counts.configurations) + ")";
    };
    if (base_scopes[i].has_value()) {
      finding.base = base_scopes[i]->passing_pct();
      finding.change = *finding.head - *finding.base;
    }
    if (counts.passing_pct() < policy.floor_pct) {
      finding.verdict = "below_floor";
      finding.blocks = true;
      finding.message =
          scope + ": " + head_text(format_beside(counts.passing_pct(), policy.floor_pct)) +
          " of configurations pass, below the floor " + format_number(policy.floor_pct) + "%";
    } else if (policy.no_decrease && finding.base.has_value() &&
               *finding.change < -policy.tolerance_pct) {
      finding.verdict = "decreased";
      finding.blocks = true;
      finding.message = scope + ": " +
                        head_text(format_beside(counts.passing_pct(), *finding.base)) +
                        " of configurations pass, down from " +
                        format_beside(*finding.base, counts.passing_pct()) + "% in the baseline";
    } else {
      finding.verdict = "ok";
      finding.message = scope + ": " + head_text(format_measurement("%.1f", counts.passing_pct())) +
                        " of configurations pass";
    }
    decision.findings.push_back(std::move(finding));
  }
}

std::string finding_name(const GateFinding& finding) {
  if (finding.suite.empty()) return finding.metric;
  return finding.suite + "/" + finding.case_id + " (" + finding.metric + ")";
}

std::string value_text(const GateFinding& finding, const std::optional<double>& value) {
  if (!value.has_value()) return "";
  if (finding.rule == "latency" || finding.rule == "device_cost") return format_time(*value);
  if (finding.rule == "coverage") return format_measurement("%.1f%%", *value);
  if (std::isnan(*value)) return "NaN";
  return format_measurement("%.6f", *value);
}

std::string change_text(const GateFinding& finding) {
  if (!finding.change.has_value()) return "";
  if (finding.rule == "latency" || finding.rule == "device_cost") return percent(*finding.change);
  if (finding.rule == "coverage") return format_measurement("%+.1f pt", *finding.change);
  if (std::isnan(*finding.change)) return "NaN";
  return format_measurement("%+.6f", *finding.change);
}

std::string verdict_text(const GateFinding& finding) {
  std::string text = finding.verdict;
  std::replace(text.begin(), text.end(), '_', ' ');
  if (finding.p_value.has_value())
    text += " (p=" + format_measurement("%.2g", *finding.p_value) + ")";
  return finding.blocks ? "**" + text + "**" : text;
}

nlohmann::json optional_number(const std::optional<double>& value) {
  if (!value.has_value() || !std::isfinite(*value)) return nullptr;
  return *value;
}

}  // namespace

bool same_definition(const CaseResult& a, const CaseResult& b) {
  return a.kind == b.kind && a.mode == b.mode && a.identity == b.identity && a.spec == b.spec &&
         a.impl_config == b.impl_config && a.shapes == b.shapes && a.device == b.device &&
         a.preset == b.preset;
}

CoverageFigures coverage_figures(const CoverageReport& report) {
  CoverageFigures figures;
  figures.summary = report.summary;
  for (const ModelCoverage& model : report.models) figures.models[model.name] = model.counts;
  return figures;
}

GateBaseline load_gate_baseline(const std::string& path) {
  nlohmann::json json;
  try {
    json = read_json_file(path, "the baseline (missing baseline?)");
  } catch (const std::invalid_argument& error) {
    throw GateInputError(error.what());
  }
  GateBaseline baseline;
  baseline.path = path;
  try {
    if (json.is_object() && json.value("format", "") == std::string(kGateBaselineFormat)) {
      const JsonNode root(json, path);
      try {
        root.allow_only({"format", "version", "created_utc", "results", "coverage"});
        const JsonNode version = root.at("version");
        if (!version.json().is_number_integer() || version.integer() != 1) {
          version.fail("expected 1");
        }
        root.at("results");
        if (const auto coverage = root.find("coverage"); coverage && !coverage->json().is_null()) {
          coverage->allow_only({"summary", "models"});
          CoverageFigures figures;
          figures.summary = counts_from_json(coverage->at("summary"));
          if (const auto models = coverage->find("models")) {
            for (const auto& model : models->object().items()) {
              figures.models[model.key()] = counts_from_json(models->at(model.key()));
            }
          }
          baseline.coverage = figures;
        }
      } catch (const std::invalid_argument& error) {
        throw GateInputError(error.what());
      }
      baseline.results = run_results_from_json(json.at("results"));
    } else {
      baseline.results = run_results_from_json(json);
    }
  } catch (const GateInputError&) {
    throw;
  } catch (const std::invalid_argument& error) {
    throw GateInputError(path + ": not a gate baseline or suite results: " + error.what());
  }
  return baseline;
}

nlohmann::json to_json(const GateBaseline& baseline) {
  nlohmann::json coverage = nullptr;
  if (baseline.coverage.has_value()) {
    nlohmann::json models = nlohmann::json::object();
    for (const auto& [name, counts] : baseline.coverage->models) {
      models[name] = counts_to_json(counts);
    }
    coverage = {{"summary", counts_to_json(baseline.coverage->summary)},
                {"models", std::move(models)}};
  }
  return {{"format", std::string(kGateBaselineFormat)},
          {"version", 1},
          {"created_utc", utc_now_iso8601()},
          {"results", to_json(baseline.results)},
          {"coverage", std::move(coverage)}};
}

void write_gate_baseline(const std::string& path, const GateBaseline& baseline) {
  std::ofstream out(path, std::ios::trunc);
  out << to_json(baseline).dump(2) << "\n";
  out.close();
  if (!out) throw std::runtime_error(path + ": cannot write the baseline");
}

namespace {

// Every case the plan selected must have run; the others keep their registry evidence.
void selection_findings(const SelectionPlan& plan, const RunResults& results,
                        GateDecision& decision) {
  for (const PlannedCase& planned : plan.cases) {
    if (!planned.selected()) continue;
    const bool ran =
        std::any_of(results.suites.begin(), results.suites.end(), [&](const SuiteResult& s) {
          return s.name == planned.suite &&
                 std::any_of(s.cases.begin(), s.cases.end(),
                             [&](const CaseResult& c) { return c.id == planned.id; });
        });
    if (ran) continue;
    const CaseReason& why = planned.reasons.front();
    GateFinding finding;
    finding.rule = "selection";
    finding.suite = planned.suite;
    finding.case_id = planned.id;
    finding.metric = "selected";
    finding.verdict = "missing";
    finding.blocks = true;
    finding.message = "ttt select chose this case (" + std::string(select_reason_name(why.reason)) +
                      (why.detail.empty() ? "" : " " + why.detail) +
                      ") but the results do not hold it";
    decision.findings.push_back(std::move(finding));
  }
  decision.notes.push_back("selection: " + plan.summary() +
                           "; not selected, keeping the registry's evidence: " +
                           std::to_string(plan.cases.size() - plan.selected_count()));
}

}  // namespace

GateDecision decide_gate(const GateInputs& inputs) {
  check_results(inputs);
  GateDecision decision;
  decision.policy = inputs.policy;
  for (const SuiteResult& suite : inputs.results.suites) {
    decision.cases += static_cast<std::int64_t>(suite.cases.size());
  }
  expectation_findings(inputs.results, decision.findings);
  missing_data_findings(inputs.results, decision.findings);
  if (inputs.baseline.has_value()) {
    baseline_findings(inputs, decision);
  } else {
    decision.notes.push_back("no baseline: accuracy and latency are not compared");
    decision.notes.push_back("machine state: head " + load_text(inputs.results.machine));
  }
  coverage_findings(inputs, decision);
  if (inputs.selection) selection_findings(*inputs.selection, inputs.results, decision);
  std::stable_sort(decision.findings.begin(), decision.findings.end(),
                   [](const GateFinding& a, const GateFinding& b) {
                     return std::make_tuple(verdict_rank(a), rule_rank(a.rule), a.suite,
                                            a.case_id) <
                            std::make_tuple(verdict_rank(b), rule_rank(b.rule), b.suite, b.case_id);
                   });
  for (const GateFinding& finding : decision.findings) {
    if (finding.blocks) ++decision.blocking;
  }
  decision.may_merge = decision.blocking == 0;
  return decision;
}

std::string format_gate_console(const GateDecision& decision) {
  std::ostringstream out;
  std::map<std::string, int> verdicts;
  for (const GateFinding& finding : decision.findings) ++verdicts[finding.verdict];
  for (const GateFinding& finding : decision.findings) {
    if (finding.blocks) {
      out << "BLOCK " << finding.rule << " " << finding_name(finding) << ": " << finding.message
          << "\n";
    }
  }
  for (const GateFinding& finding : decision.findings) {
    if (!finding.blocks && finding.verdict == "noisy_machine") {
      out << "warning: " << finding.message << "\n";
    }
  }
  for (const GateFinding& finding : decision.findings) {
    if (!finding.blocks &&
        (finding.verdict == "unverified" || finding.verdict == "increase" ||
         finding.verdict == "improvement" || finding.verdict == "too_few_repetitions" ||
         finding.verdict == "noise")) {
      out << finding.verdict << " " << finding_name(finding) << ": " << finding.message << "\n";
    }
  }
  for (const std::string& note : decision.notes) out << "note: " << note << "\n";
  out << (decision.may_merge ? "may merge" : "BLOCKED") << ": " << decision.cases << " cases, "
      << decision.blocking << " blocking finding" << (decision.blocking == 1 ? "" : "s");
  std::string counts;
  for (const auto& [verdict, count] : verdicts) {
    counts += (counts.empty() ? "" : ", ") + std::to_string(count) + " " + verdict;
  }
  if (!counts.empty()) out << " (" << counts << ")";
  out << "\n";
  return out.str();
}

std::string format_gate_markdown(const GateDecision& decision, std::size_t max_rows) {
  std::ostringstream out;
  std::int64_t regressions = 0;
  std::int64_t improvements = 0;
  for (const GateFinding& finding : decision.findings) {
    if (finding.blocks) ++regressions;
    if (finding.verdict == "improvement") ++improvements;
  }
  out << "## ttt gate: " << (decision.may_merge ? "may merge" : "**blocked**") << "\n\n";
  out << decision.cases << " cases; " << regressions << " blocking finding"
      << (regressions == 1 ? "" : "s") << ", " << improvements << " improvement"
      << (improvements == 1 ? "" : "s") << ".\n\n";
  for (const GateFinding& finding : decision.findings) {
    if (finding.verdict == "noisy_machine")
      out << "**Warning:** " << markdown_cell(finding.message) << "\n\n";
  }
  out << "| case | base | head | change | verdict |\n|---|---:|---:|---:|---|\n";
  std::size_t rows = 0;
  for (const GateFinding& finding : decision.findings) {
    if (rows == max_rows) break;
    out << "| " << markdown_cell(finding_name(finding)) << " | "
        << value_text(finding, finding.base) << " | " << value_text(finding, finding.head) << " | "
        << change_text(finding) << " | " << verdict_text(finding)
        << (finding.blocks && (finding.rule == "expectation" || finding.verdict == "missing")
                ? ": " + markdown_cell(finding.message)
                : std::string())
        << " |\n";
    ++rows;
  }
  if (decision.findings.size() > max_rows) {
    out << "\n"
        << decision.findings.size() - max_rows
        << " more rows in the JSON output (`ttt gate --json`).\n";
  }
  if (!decision.notes.empty()) {
    out << "\n";
    for (const std::string& note : decision.notes) out << "- " << markdown_cell(note) << "\n";
  }
  return out.str();
}

std::string format_gate_junit(const GateDecision& decision) {
  JUnitSuite suite;
  suite.name = "ttt gate";
  for (const GateFinding& finding : decision.findings) {
    JUnitCase& c = suite.cases.emplace_back();
    c.classname = "gate_" + finding.rule;
    c.name = finding_name(finding);
    if (finding.blocks) {
      c.result = JUnitResult::failed;
      c.type = finding.verdict;
      c.message = finding.verdict + ": " + finding.message;
      c.text = finding.message;
    } else {
      c.system_out = finding.verdict + ": " + finding.message;
    }
  }
  return render_junit("ttt gate", {suite});
}

nlohmann::json to_json(const GateDecision& decision) {
  nlohmann::json findings = nlohmann::json::array();
  for (const GateFinding& finding : decision.findings) {
    findings.push_back({{"rule", finding.rule},
                        {"suite", finding.suite},
                        {"case", finding.case_id},
                        {"metric", finding.metric},
                        {"verdict", finding.verdict},
                        {"blocks", finding.blocks},
                        {"base", optional_number(finding.base)},
                        {"head", optional_number(finding.head)},
                        {"change", optional_number(finding.change)},
                        {"p_value", optional_number(finding.p_value)},
                        {"message", finding.message}});
  }
  return {{"format", "ttt-gate-decision"},     {"version", 1},
          {"may_merge", decision.may_merge},   {"exit_code", gate_exit_code(decision)},
          {"cases", decision.cases},           {"blocking", decision.blocking},
          {"findings", std::move(findings)},   {"notes", decision.notes},
          {"policy", to_json(decision.policy)}};
}

}  // namespace ttt

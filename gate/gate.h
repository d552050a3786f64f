// `ttt gate`: may this change merge? (docs/gate.md)
//
//   ttt::GateInputs inputs;
//   inputs.results = ttt::load_run_results("R.json");
//   inputs.baseline = ttt::load_gate_baseline("B.json");
//   inputs.coverage = ttt::build_coverage_report(records, catalog);
//   ttt::GateDecision decision = ttt::decide_gate(inputs);   // decision.may_merge
//
// The rules, each a finding that blocks or not:
//   expectation  every case of the results must pass its expectations (accuracy and budget):
//                a failed, erred or not-run case blocks;
//   accuracy     against the baseline, an output whose PCC dropped by more than
//                policy.accuracy.pcc_drop (or whose max_abs_error grew by more than
//                max_abs_error_increase, when set) blocks;
//   latency      against the baseline, a case whose median time grew by more than
//                policy.latency.threshold AND whose repetitions are slower by the one-sided
//                Mann-Whitney U test at p < alpha, the p-values of all the run's cases corrected
//                as one family (policy.latency.correction, gate/error_rates.h), blocks, on a
//                machine whose A/A noise floor says it can tell (else "unverified"); fewer than
//                min_repetitions on either side (or so few that no p-value can reach alpha) is
//                reported as "too few repetitions", never guessed; a change within the threshold
//                or not significant is noise;
//   device_cost  against the baseline, a case whose predicted device time (its results'
//                device_cost, docs/cost-model.md) grew by more than policy.device_cost.max_increase
//                (default 0: any increase) blocks; deterministic, so no statistics and no noise
//                floor: two runs of one commit have the same figure. A smaller increase is
//                reported ("increase"), a decrease too ("improvement"). A case costed in the
//                baseline but not in the results blocks ("missing"); with device_cost.require,
//                a compared case without a cost on either side is a GateInputError naming it;
//   missing      a case that ran (passed or failed) without outputs or without timing, or whose
//                baseline lacks them, blocks: missing data is never a silent pass;
//   noise        when either run's machine was busier than the policy allows (1-minute load per
//                core, CPU steal), latency is not judged: one "noisy_machine" warning instead;
//   coverage     with coverage data, a passing share below policy.coverage.floor_pct, or below
//                the baseline's (beyond tolerance_pct), blocks; so does a baseline with coverage
//                when no coverage data is given.
// Inputs that cannot be compared are errors (GateInputError: exit 2): results missing shards, a
// baseline with no suite in common with the results, corrupt files, a case without the device
// cost the policy requires.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "coverage/report.h"
#include "gate/error_rates.h"
#include "gate/policy.h"
#include "gate/select.h"
#include "suites/suite/results.h"

namespace ttt {

// Bad gate input (exit 2): what cannot be compared, naming the file and what differs.
class GateInputError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The coverage figures a baseline keeps.
struct CoverageFigures {
  CoverageCounts summary;                        // Catalog-wide.
  std::map<std::string, CoverageCounts> models;  // Per catalog model.
};
CoverageFigures coverage_figures(const CoverageReport& report);

// The baseline: the results of the last accepted run (and its coverage, when it was measured).
struct GateBaseline {
  std::string path;
  RunResults results;
  std::optional<CoverageFigures> coverage;
};

// The JSON "format" of a baseline file.
inline constexpr std::string_view kGateBaselineFormat = "ttt-gate-baseline";

// Reads a baseline: a file written by write_gate_baseline(), or plain suite results
// (ttt-suite-results: a baseline without coverage). Throws GateInputError naming the file when it
// is missing, not JSON, or neither format (with the JSON path of a bad field).
GateBaseline load_gate_baseline(const std::string& path);
// {"format": "ttt-gate-baseline", "version": 1, "created_utc", "results": {...},
//  "coverage": {...} | null}.
nlohmann::json to_json(const GateBaseline& baseline);
// Writes `baseline` to `path`. Throws std::runtime_error naming the file.
void write_gate_baseline(const std::string& path, const GateBaseline& baseline);

// Whether two results of one case id ran the same thing: kind, mode, identity, Spec,
// ImplConfig, shapes, device and preset. Only such results are compared.
bool same_definition(const CaseResult& a, const CaseResult& b);

// One judgement of one rule.
struct GateFinding {
  // "expectation", "selection", "accuracy", "device_cost", "latency" or "coverage".
  std::string rule;
  std::string suite;    // "" for coverage.
  std::string case_id;  // "" for coverage.
  std::string metric;   // "p50 wall", "pcc y", "expectations", "passing Llama-3.1-8B".
  // "regression", "failed", "improvement", "noise", "ok", "too_few_repetitions", "new",
  // "not_compared", "below_floor", "decreased", "not_measured", "missing", "noisy_machine",
  // "unverified" (a latency regression on a machine without a trusted noise floor), "increase"
  // (a device time grown within device_cost.max_increase).
  std::string verdict;
  bool blocks = false;
  std::optional<double> base;
  std::optional<double> head;
  // Relative change for latency and device cost ((head - base) / base), difference for accuracy
  // and coverage. Latency and device cost values are in nanoseconds.
  std::optional<double> change;
  // Latency: the one-sided Mann-Whitney U p-value in the change's direction, after the
  // family-wise correction (the raw value is in the message when they differ).
  std::optional<double> p_value;
  std::string message;            // Why, with the numbers.
};

struct GateInputs {
  RunResults results;
  std::string results_path;  // For messages.
  std::optional<GateBaseline> baseline;
  std::optional<CoverageReport> coverage;
  GatePolicy policy;
  // This machine's A/A noise floor (ttt noise-floor): latency blocks only when it is trusted
  // (latency_distrust), unless the policy does not require one.
  std::optional<NoiseFloor> noise_floor;
  // The `ttt select` plan the results ran (docs/gate.md "Selected cases"): a selected case the
  // results lack blocks (rule "selection", verdict "missing"); the cases it did not select keep
  // the registry's evidence, which a note counts.
  std::optional<SelectionPlan> selection;
};

struct GateDecision {
  bool may_merge = true;
  std::vector<GateFinding> findings;  // Blocking first, then by rule, suite and case.
  // Context: definitions that changed, machines that differ, both runs' machine state, the
  // same commit on both sides.
  std::vector<std::string> notes;
  std::int64_t cases = 0;             // Cases in the results.
  std::int64_t blocking = 0;          // Findings that block.
  GatePolicy policy;
};

// Applies every rule (see the top of this file). Throws GateInputError when the results are
// incomplete (missing shards) or empty, or the baseline has no suite in common with them.
GateDecision decide_gate(const GateInputs& inputs);

// Exit code of `ttt gate`: 0 may merge, 1 blocked.
inline int gate_exit_code(const GateDecision& decision) { return decision.may_merge ? 0 : 1; }

// Renderings. The console summary lists blocking findings, then counts; the Markdown is a pull
// request comment: a verdict line and a table "case | base | head | change | verdict",
// regressions first (at most `max_rows` rows); JUnit XML has one testcase per finding with a
// <failure> for each blocking one; JSON has everything (docs/gate.md "Output").
std::string format_gate_console(const GateDecision& decision);
std::string format_gate_markdown(const GateDecision& decision, std::size_t max_rows = 100);
std::string format_gate_junit(const GateDecision& decision);
nlohmann::json to_json(const GateDecision& decision);

}  // namespace ttt

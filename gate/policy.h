// The policy `ttt gate` decides with: thresholds for accuracy, latency, device cost and coverage
// (docs/gate.md "Policy"). Every field has a default, so an empty policy file ({}) or no file at
// all gives the defaults below.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "suites/suite/timing.h"

namespace ttt {

// What a latency comparison does when the baseline ran on another machine.
enum class MachineMismatch {
  skip,     // Latency is not compared (noted in the output). Default.
  compare,  // Compare anyway (same hardware under another hostname, say).
  block,    // The gate blocks: the baseline must be re-recorded on this machine.
};

// How the p-values of a run's latency comparisons are corrected as one family
// (docs/gate.md "Error rates"; gate/error_rates.h).
enum class Correction {
  holm,                // Family-wise error rate <= alpha: the chance of any false block. Default.
  benjamini_hochberg,  // False discovery rate <= alpha: the expected share of false blocks.
  none,                // Each case at alpha on its own.
};
std::string_view correction_name(Correction correction);
// "holm", "benjamini_hochberg" or "none". Throws std::invalid_argument otherwise.
Correction parse_correction(std::string_view name);

struct AccuracyPolicy {
  // An output's PCC dropping by more than this below the baseline's blocks. Default: 0.001.
  double pcc_drop = 0.001;
  // An output's max_abs_error growing by more than this fraction over the baseline's blocks
  // (0.5: 50% larger). Default: unset (not checked).
  std::optional<double> max_abs_error_increase{};
};

struct LatencyPolicy {
  // A slowdown blocks only when the median grew by more than this fraction AND the Mann-Whitney
  // U test finds head slower with p < alpha. Default: 0.10 (10%, CodSpeed's and asv's 1.1).
  double threshold = 0.10;
  // Significance level of the one-sided test. Default: 0.01.
  double alpha = 0.01;
  // The p-values of all cases compared in one run are corrected as a family. Default: holm (a
  // merge is blocked by any one false alarm, so the gate bounds the chance of any).
  Correction correction = Correction::holm;
  // Wall or CPU time blocks only on a machine whose A/A noise floor was measured (`ttt
  // noise-floor`, given to the gate with --noise-floor) and lies below the threshold with no
  // false alarm; otherwise slowdowns are reported as "unverified" and do not block. Default: true.
  bool require_noise_floor = true;
  // Fewer repetitions on either side than this: the case is reported as "too few repetitions"
  // and not judged. Default: 9 (Google Benchmark's compare.py warns below 9).
  int min_repetitions = 9;
  // Which clock's samples to compare. Default: wall.
  TimingClock clock = TimingClock::wall;
  MachineMismatch on_machine_mismatch = MachineMismatch::skip;
  // A run (base or head) whose 1-minute load average at its end exceeded this many runnable
  // tasks per core shared its cores: latency is not judged ("noisy machine"), a warning instead
  // of a verdict. Default: 1.0 (more runnable tasks than cores).
  double max_load_per_core = 1.0;
  // Likewise for a run whose CPU steal (time the hypervisor gave other guests) exceeded this
  // fraction of its CPU time. Default: 0.05.
  double max_cpu_steal = 0.05;
};

struct CoveragePolicy {
  // The passing share (percent) of catalog configurations below which the gate blocks.
  // Default: 0 (no floor).
  double floor_pct = 0.0;
  // Models whose passing share is checked (each against the floor and the baseline); empty: the
  // catalog-wide share. Names as in the catalog ("Llama-3.1-8B").
  std::vector<std::string> models{};
  // Block when a checked share falls below the baseline's by more than tolerance_pct points.
  bool no_decrease = true;
  double tolerance_pct = 0.0;
  // t of the t-way coverage in the reports. Default: 2.
  int strength = 2;
  // A catalog directory (models.json, domains.json); "" for the built-in catalog.
  std::string catalog = "";
};

// The predicted device time of a case (its results' device_cost, docs/cost-model.md): computed from
// the call's Spec, ImplConfig and shapes, so it is the same on every run of a commit and any change
// is a change of the code or of the cost model, never noise. No statistics, no noise floor.
struct DeviceCostPolicy {
  // A case whose predicted device time grew by more than this fraction over the baseline's blocks
  // (0.05: 5%); a smaller increase is reported ("increase") without blocking. Default: 0 (any
  // increase blocks: it is real, and re-recording the baseline is how it is accepted).
  double max_increase = 0.0;
  // Every case compared with the baseline must carry a device cost on both sides: one that lacks
  // it (a wrapped or captured case, a kind the cost model refuses) is an input error naming the
  // case (exit 2), never a cost of zero. Default: false (a case without one on either side is
  // not judged on it).
  bool require = false;
};

struct GatePolicy {
  AccuracyPolicy accuracy;
  LatencyPolicy latency;
  CoveragePolicy coverage;
  DeviceCostPolicy device_cost;
};

// Parses a policy (docs/gate.md "Policy"). Missing fields keep their defaults; unknown fields and
// bad values throw std::invalid_argument "<where>: /latency/alpha: expected a number in (0, 1)".
GatePolicy gate_policy_from_json(const nlohmann::json& json, const std::string& where);
// Reads a policy file. Throws std::invalid_argument naming the file when it cannot be read or is
// not JSON, and as gate_policy_from_json for bad fields.
GatePolicy load_gate_policy(const std::string& path);
// Every field, as the file would write it.
nlohmann::json to_json(const GatePolicy& policy);

}  // namespace ttt

// The latency rule's error rates (docs/gate.md "Error rates"): a run compares many cases at once,
// and at alpha = 0.01 per case a run of 200 unchanged cases would block about twice in three runs
// by chance alone. The gate therefore (1) corrects the cases' p-values as one family, and (2)
// trusts a wall or CPU time threshold only on a machine whose A/A noise floor (two runs of the
// same commit compared with each other) says it can tell a change of that size.
//
//   NoiseFloor floor = measure_noise_floor(run_a, run_b, policy.latency);  // same commit twice
//   write_noise_floor("floor.json", floor);
//   inputs.noise_floor = load_noise_floor("floor.json");                  // then decide_gate
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gate/policy.h"
#include "suites/suite/machine.h"
#include "suites/suite/results.h"

namespace ttt {

// Whether two runs ran on the same hardware and build (CPU model, cores, build type): timings
// compare only then. And the text messages name a machine by: "<cpu>, 2 cores, RelWithDebInfo".
bool same_machine(const MachineInfo& a, const MachineInfo& b);
std::string machine_text(const MachineInfo& machine);

// Adjusted p-values in the input's order (each in [0, 1]):
//   holm                Holm's step-down: the chance of ANY false alarm among the family's cases
//                       is at most alpha (family-wise error rate), for any dependence between them;
//   benjamini_hochberg  the step-up of Benjamini and Hochberg: the expected share of false alarms
//                       among the alarms is at most alpha (false discovery rate; assumes
//                       independent or positively dependent tests);
//   none                the values unchanged.
// Throws std::invalid_argument when a value is not in [0, 1].
std::vector<double> adjust_p_values(const std::vector<double>& p_values, Correction correction);

// The noise floor of one machine, measured from an A/A pair: two runs of the same commit.
struct NoiseFloorCase {
  std::string suite;
  std::string case_id;
  double change = 0.0;   // Relative change of the median, (b - a) / a.
  double p_value = 1.0;  // The gate's p-value of the case (one-sided, in the change's direction,
                         // after the family-wise correction).
};

struct NoiseFloor {
  std::string path;  // For messages; "" when measured in this process.
  MachineInfo machine;
  std::string commit;
  TimingClock clock = TimingClock::wall;
  // The 95th percentile of |change| over the cases (linear interpolation), and the largest.
  double floor = 0.0;
  double max_abs_change = 0.0;
  // Cases whose latency the gate would block when comparing the pair under the policy the floor
  // was measured with (with its family-wise correction): false alarms by construction.
  std::int64_t false_alarms = 0;
  LatencyPolicy policy;  // threshold, alpha, correction, min_repetitions, clock used.
  std::vector<NoiseFloorCase> cases;  // Cases judged (enough repetitions on both sides).
  std::string created_utc;
};

// The JSON "format" of a noise-floor file.
inline constexpr std::string_view kNoiseFloorFormat = "ttt-noise-floor";

// Measures the floor from two runs of the same commit on one machine (a: the first, b: the
// second), comparing every case they share with the gate's latency rule. Throws
// std::invalid_argument naming what is wrong: different commits or machines (not an A/A pair),
// a commit of "unknown", no case with enough repetitions on both sides.
NoiseFloor measure_noise_floor(const RunResults& a, const RunResults& b,
                               const LatencyPolicy& policy);

// {"format": "ttt-noise-floor", "version": 1, "machine", "commit", "clock", "floor",
//  "max_abs_change", "false_alarms", "policy": {threshold, alpha, correction, min_repetitions},
//  "cases": [{suite, case, change, p_value}], "created_utc"} (docs/gate.md "Noise floor").
nlohmann::json to_json(const NoiseFloor& floor);
// Reads a floor file. Throws std::invalid_argument "<file>: ..." naming a bad field by its JSON
// path, or the file when it is missing or not JSON.
NoiseFloor load_noise_floor(const std::string& path);
void write_noise_floor(const std::string& path, const NoiseFloor& floor);

// Why the gate may not trust a latency threshold for results that ran on `head`: "" when it may,
// else the reason (no floor measured, measured on another machine or with another clock, the
// floor at or above the threshold, false alarms in the A/A pair).
std::string latency_distrust(const std::optional<NoiseFloor>& floor, const MachineInfo& head,
                             const LatencyPolicy& policy);

// The console lines of `ttt noise-floor`: the figures and whether a threshold can be trusted.
std::string format_noise_floor(const NoiseFloor& floor);

}  // namespace ttt

// Tolerances with a stated false-alarm and miss rate (docs/suites.md "Calibration"). A suite
// case's accuracy expectation is a threshold on a metric of the device output; set by hand it
// says nothing about how often a correct block fails it, or how often a broken one passes.
// Calibration measures both, per case, in emulation:
//
//   1. run every case of a suite file with `seeds` different seeds (accuracy only, no timing);
//   2. fit the spread of each output's errors over the seeds: 1 - PCC, 1 - CCC and NMSE are
//      taken as log-normal (their logarithms normal), and each threshold is the
//      (1 - false_alarm) quantile of its fit, never below the worst seed seen;
//   3. apply each fault of output_faults() to the device output of every seed and count how
//      often the faulted output still passes all three thresholds: the miss rate of that
//      fault.
//
//   ttt::Calibration c = ttt::calibrate_suite_file("suites/llama-3.2-1b.json", {.seeds = 30});
//   std::cout << ttt::format_calibration(c);
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "suites/suite/suite_file.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// A fault of documented size injected into a device output (docs/suites.md "Calibration"
// lists them and why each is realistic).
struct OutputFault {
  std::string name;  // "scale_1pct"
  std::string what;  // "every value times 1.01 (a wrong scale)"
  std::function<Tensor(const Tensor& device)> apply;
};
// scale_1pct, scale_5pct, offset_5pct_rms, sign_first_row, swap_halves, zero_last_row.
const std::vector<OutputFault>& output_faults();

struct CalibrationOptions {
  int seeds = 30;                // Seeds per case. REQUIRES: >= 10.
  double false_alarm = 1e-3;     // Wanted false-alarm rate per case output, in (0, 0.5).
  std::uint64_t first_seed = 1;  // Seeds first_seed, first_seed + 1, ...
  // Which cases (filter, tags, shard); repetitions, warm-up and timing are not used.
  SuiteRunOptions run{};
};

struct FaultMiss {
  std::string fault;
  double miss_rate = 0.0;  // Share of seeds whose faulted output passed every threshold.
};

// The fit of one error measure over the seeds: 1 - PCC, 1 - CCC or NMSE (kMetricNames).
struct MetricFit {
  double worst = 0.0;     // The largest error of the clean seeds.
  double log_mean = 0.0;  // Mean and standard deviation of ln(error) over the seeds.
  double log_sd = 0.0;
  double limit = 0.0;     // max(worst, exp(log_mean + z log_sd)); 0 when every seed was exact.
};
inline const std::array<std::string, 3> kMetricNames = {"pcc", "ccc", "nmse"};

struct OutputCalibration {
  std::string name;
  // Every seed gave an exact output: the thresholds are exact (PCC and CCC 1, NMSE 0).
  bool exact = false;
  // Thresholds: PCC >= pcc_min, CCC >= ccc_min and NMSE <= nmse_max.
  double pcc_min = 1.0;
  double ccc_min = 1.0;
  double nmse_max = 0.0;
  std::array<MetricFit, 3> fits{};  // In kMetricNames order.
  std::vector<FaultMiss> misses;    // In output_faults() order.
};

struct CaseCalibration {
  std::string case_id;
  std::string json_path;  // Of the case in the suite file ("/cases/3").
  std::vector<OutputCalibration> outputs;
  std::string error;  // Set when a seed's run erred: no thresholds.
};

struct Calibration {
  std::string file;
  std::string suite;
  int seeds = 0;
  double false_alarm = 0.0;
  double z = 0.0;  // The standard normal quantile of 1 - false_alarm.
  std::vector<CaseCalibration> cases;
};

// Calibrates the selected cases of the suite file at `path`. Throws std::invalid_argument
// naming the option or the file for bad options or a bad file; a case that errs on a seed is
// reported in its `error`.
Calibration calibrate_suite_file(const std::string& path, const CalibrationOptions& options);

// The standard normal quantile: p = Phi(z). REQUIRES: 0 < p < 1.
double normal_quantile(double p);

// {"format": "ttt-calibration", "version": 1, "file", "suite", "seeds", "false_alarm", "z",
//  "faults": [{name, what}], "cases": [{"case", "json_path", "error", "outputs": [{"name",
//  "exact", "pcc_min", "ccc_min", "nmse_max", "fits": {"pcc": {worst_error, log_mean, log_sd,
//  error_limit}, "ccc": ..., "nmse": ...}, "miss_rates": {fault: rate}}]}]}.
nlohmann::json to_json(const Calibration& calibration);
// A table: case, output, thresholds, worst seed, and the miss rate of each fault.
std::string format_calibration(const Calibration& calibration);
// The suite file's JSON with the calibrated thresholds written in: each calibrated case node
// gets "pcc", "ccc" and "nmse" in its "expect" (other expectations kept) and a "calibration" member
// {"seeds", "false_alarm", "miss_rates"} (several cases of one node: the loosest thresholds and
// the highest miss rates). Throws std::invalid_argument when a case's path is not in `file_json`.
nlohmann::json calibrated_suite_json(const nlohmann::json& file_json,
                                     const Calibration& calibration);

}  // namespace ttt

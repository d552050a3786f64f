// Results of running suites: per case its metrics, timing statistics with the raw repetition
// times, and one verdict per expectation; as JSON (format "ttt-suite-results", read back by
// `ttt suite merge`, `ttt compose` and `ttt gate`) and as JUnit XML (docs/suites.md "Results").
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "suites/suite/machine.h"
#include "suites/suite/timing.h"
#include "validation/fingerprint/fingerprint.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The JSON results' "format" and "format_version".
inline constexpr std::string_view kSuiteResultsFormat = "ttt-suite-results";
inline constexpr int kSuiteResultsFormatVersion = 1;

// A latency budget: the p-quantile of a case's repetition times must not exceed latency_ms by
// more than `tolerance` (a fraction: 0.1 allows 10% over).
struct LatencyBudget {
  double p = 0.9;           // Quantile of the repetitions, in [0, 1]. 0.5 is the median.
  double latency_ms = 0.0;  // REQUIRES: > 0.
  double tolerance = 0.1;   // REQUIRES: >= 0.
  TimingClock clock = TimingClock::wall;

  // latency_ms * (1 + tolerance), in nanoseconds: the largest passing quantile.
  double limit_ns() const { return latency_ms * 1e6 * (1.0 + tolerance); }
  // Throws std::invalid_argument naming the field that is out of range.
  void validate() const;
};

// A budget in device time (docs/cost-model.md "Budgets in device time"): microseconds per
// topology ("N150" -> 40.0). The case's call, costed from its Spec, ImplConfig and shapes, must
// take at most that long on each named topology. The prediction is deterministic, so there is no
// quantile and no tolerance. REQUIRES: known topology names (find_device_model), values > 0.
using DeviceTimeBudget = std::map<std::string, double>;

// What a case must meet. Unset thresholds are not checked.
struct Expectations {
  // Accuracy thresholds, judged on every output with ttt::evaluate (pcc, max_abs_error, nmse,
  // ...); only the set ones count.
  Tolerances accuracy;
  std::optional<LatencyBudget> latency;
  // Empty: no device-time budget.
  DeviceTimeBudget device_us;

  // True when no accuracy threshold, no latency budget and no device-time budget is set.
  bool empty() const;
};

// {"pcc": 0.99, "max_abs_error": 0.05, ..., "latency": {"p": 0.9, "ms": 5.0, "tolerance": 0.1,
// "clock": "wall"}, "device_us": {"N150": 40.0}}: the set thresholds only.
nlohmann::json to_json(const Expectations& expectations);
// Inverse. Throws std::invalid_argument "<path>: <message>" naming the JSON path of a bad field
// below `path` ("/cases/3/expect/latency/p: expected a number in [0, 1]").
Expectations expectations_from_json(const nlohmann::json& json, const std::string& path = "");

// pass: every expectation met; fail: one was not; error: the case could not run (bad inputs, a
// block that threw); not_run: fail_fast stopped the suite before it.
enum class CaseStatus : std::uint8_t { pass, fail, error, not_run };
std::string_view case_status_name(CaseStatus status);
CaseStatus parse_case_status(std::string_view name);

// One expectation's outcome. `expectation` is "accuracy:<output>" or "latency".
struct ExpectationVerdict {
  std::string expectation;
  bool passed = true;
  // "pass", or the failures: "pcc 0.9812 < 0.99", "latency p90 5.83 ms > 5.00 ms + 10% = 5.50 ms
  // (wall; min 5.10, p50 5.40, mean 5.52 ms over 9 repetitions)".
  std::string message;
};

// The metrics of one output: device against reference on the case's inputs.
struct OutputResult {
  std::string name;
  Metrics metrics;
  // Root mean square of the reference output: the energy the composition's error model weighs
  // this block's error with (docs/suites.md "Error model").
  double reference_rms = 0.0;
};

// One input as the case ran it.
struct CaseInput {
  std::string name;
  Shape shape;
  DType dtype = DType::float32;
};

struct CaseResult {
  std::string id;          // Unique in its suite: "ffn.decode.b1".
  std::int64_t index = 0;  // Position in the suite's full case list (before filter and shard).
  // What ran. Empty / null when not known (a wrapped callable has no Spec).
  std::string
      identity;        // The block's identity string: "GATED_MLP(hidden=4096,ffn=14336,act=silu)".
  std::string kind;    // Block kind: "gated_mlp", "attention.decode"; or "wrapped", "module".
  std::string mode;    // "prefill", "decode" or "".
  std::string module;  // Model module the case stands for: "layers.*.ffn"; "" when none.
  std::string call;    // Call name inputs were captured from, when they were.
  nlohmann::json spec = nlohmann::json::object();
  nlohmann::json impl_config = nlohmann::json::object();
  std::string preset;  // "" when none.
  std::string device;
  nlohmann::json shapes = nlohmann::json::object();  // {"batch": 1, "seq_len": 128}.
  std::string input_source;  // "given", "seeded", "captured", "trace:<file>".
  std::vector<CaseInput> inputs;
  std::int64_t occurrences = 0;  // Times it occurs in one model forward (composition).
  // It ran one of this many equal shards of the vocabulary (SuiteCase::vocab_shard_of).
  std::int64_t vocab_shards = 1;
  // The configuration's fingerprint (docs/fingerprints.md): set for a seeded case of a block
  // kind, whose shapes the case names; unset otherwise.
  std::optional<Fingerprint> fingerprint;
  // The call's predicted device cost (docs/cost-model.md), beside the CPU timing: {"device":
  // "N150", "cost": {...}, "time": {...}} on the case's device, or {"device", "error"} when the
  // cost model cannot cost it. Set for a seeded case of a block kind (as fingerprint); unset
  // otherwise.
  std::optional<nlohmann::json> device_cost;
  std::vector<std::string> tags;

  Expectations expectations;
  CaseStatus status = CaseStatus::not_run;
  std::vector<ExpectationVerdict> verdicts;
  std::string error;  // Why status is error.
  std::vector<OutputResult> outputs;
  std::optional<TimingSamples> timing;  // Raw repetition times; unset when the case did not time.
  double seconds = 0.0;                 // Whole case: inputs, reference, warm-up and repetitions.

  // The failure lines: failed verdicts' messages, or the error.
  std::vector<std::string> failure_lines() const;
};

// Which part of a suite a run covers: case k of the selected cases runs in shard k % total.
struct Shard {
  std::int64_t index = 0;  // REQUIRES: 0 <= index < total.
  std::int64_t total = 1;  // REQUIRES: >= 1.
  bool operator==(const Shard&) const = default;
};

struct SuiteResult {
  std::string name;
  std::string file;   // The suite file; "" for a suite built in C++.
  std::string model;  // The model the suite names; "" when none.
  // The mesh its cases ran on ("N150" for 1x1, "T3K", "2x4"); "" for a suite built in C++.
  std::string mesh;
  // FNV-1a of the suite's definition (every case, before filter and shard): runs of the same
  // definition have the same fingerprint, so a merge or a gate can tell suites apart.
  std::string fingerprint;
  std::int64_t total_cases = 0;  // Cases in the suite, before filter and shard.
  std::string filter = "*";
  // The tag selection: "+quick" requires the tag, "-slow" excludes it; "" selects every case.
  std::string tags;
  std::uint64_t seed = 0;
  // Shard indices this result holds (one for a run; every index after a complete merge).
  std::vector<std::int64_t> shards{0};
  std::int64_t shard_total = 1;
  std::vector<CaseResult> cases;

  // True when every shard of shard_total is present.
  bool complete() const;
};

struct RunSummary {
  std::int64_t cases = 0;
  std::int64_t passed = 0;
  std::int64_t failed = 0;
  std::int64_t errors = 0;
  std::int64_t not_run = 0;
  // Every case ran and passed, and at least one ran.
  bool ok() const { return cases > 0 && failed == 0 && errors == 0 && not_run == 0; }
};

// Everything one `ttt suite run` (or Suite::run) produced.
struct RunResults {
  MachineInfo machine;
  std::string created_utc;  // ISO 8601.
  std::vector<SuiteResult> suites;

  RunSummary summary() const;
};

// The current time as "2026-11-21T13:56:46Z".
std::string utc_now_iso8601();

// JSON (docs/suites.md "Results JSON"). Non-finite metric values become null.
nlohmann::json to_json(const RunResults& results);
nlohmann::json to_json(const CaseResult& result);
// Inverses. Throw std::invalid_argument naming the JSON path of a bad field
// ("/suites/0/cases/3/timing/wall_ns/2: expected an integer").
RunResults run_results_from_json(const nlohmann::json& json);
// Reads a results file. Throws std::invalid_argument "<file>: ..." when it cannot be read, is not
// JSON, is not ttt-suite-results, has a newer format_version or a bad field.
RunResults load_run_results(const std::string& path);
// Writes JSON to `path` ("-": stdout). Throws std::runtime_error naming the file.
void write_run_results(const std::string& path, const RunResults& results);

// JUnit XML: one <testsuite> per suite, one <testcase> per case (classname = suite name), a
// <failure> with every failed verdict, <error> for errors, <skipped> for cases not run; the
// case's timing and worst metrics as <properties>.
std::string to_junit_xml(const RunResults& results);

// Combines shard results into one. Suites are matched by name; the parts of one suite must have
// the same fingerprint, filter and shard total, distinct shard indices and no case in two parts;
// the machines must agree on CPU model, cores, build type and commit. Throws
// std::invalid_argument naming the files (`sources`, one per part) and what differs. Cases are
// ordered by their index in the suite.
RunResults merge_run_results(const std::vector<RunResults>& parts,
                             const std::vector<std::string>& sources);

// A console summary: one line per case (status, id, worst PCC, p50 and p90 wall time), failures
// with their messages, and totals.
std::string format_run_summary(const RunResults& results);

// "812 ns", "12.3 us", "4.56 ms", "1.23 s".
std::string format_ns(double nanoseconds);

}  // namespace ttt

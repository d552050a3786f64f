// Replaying a trace: re-running each captured call on its captured inputs, without the model.
//
// For every call whose `block` is registered (validation/registry/block_registry.h) replay
// rebuilds the block from the call's Spec/ImplConfig JSON, binds the captured inputs, runs the
// device implementation now and compares:
//   reference_now       device-now vs the reference run now (accuracy);
//   captured_device     device-now vs the captured device output (did the implementation change?);
//   captured_reference  device-now vs the captured reference output, when the trace holds one
//                       (how goldens written by PyTorch are checked).
// Calls run in capture order, so the first failing call is the first place a model diverges.
// docs/replay.md describes the command `ttt replay` built on this.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "validation/metrics/bug_or_precision.h"
#include "validation/metrics/metrics.h"
#include "validation/registry/block_registry.h"
#include "validation/trace/trace_reader.h"

namespace ttt {

// Which comparisons to make.
enum class ReplayAgainst {
  reference,  // reference_now only.
  captured,   // captured_device and captured_reference (those the trace holds).
  both,       // All three.
};

// Parses "reference", "captured" or "both". Throws std::invalid_argument naming the text.
ReplayAgainst parse_replay_against(const std::string& text);

enum class ReplayStatus { pass, fail, skipped };

// "pass", "fail", "skipped".
const char* replay_status_name(ReplayStatus status);

struct ReplayedCall;

struct ReplayOptions {
  // Which calls: a glob on the call name.
  std::string filter = "*";
  ReplayAgainst against = ReplayAgainst::both;
  // Thresholds: fields set here replace the block's default tolerances (BlockReplayer).
  Tolerances tolerance_overrides;
  // Metric options (allclose rtol/atol, quantiles). Default: no error histogram in reports.
  MetricsOptions metrics = [] {
    MetricsOptions defaults;
    defaults.histogram = false;
    return defaults;
  }();
  // Stop at the first failing call.
  bool fail_fast = false;
  // Calls that cannot be replayed (unknown block, no block, or nothing to compare with) fail
  // instead of being skipped.
  bool strict = false;
  // Memory for reuse across calls: shared tensors (what a trace stores once under /tensors, such
  // as weights) stay in memory up to this many bytes, and a block built for one call serves the
  // later calls with the same Spec, ImplConfig and weights (BindCache), so that weights are read
  // and prepared once per replay rather than once per call. 0: every call reads and builds
  // anew. Default: 8 GiB.
  std::int64_t shared_tensor_cache_bytes = std::int64_t{8} << 30;
  // Where block kinds are looked up; nullptr: BlockRegistry::global().
  const BlockRegistry* registry = nullptr;
  // Called after each call with (calls done, calls selected, the call): progress display, and
  // a JSON report written as calls finish (ReplayJsonWriter).
  std::function<void(std::size_t, std::size_t, const ReplayedCall&)> on_call_done;
  // false: the calls in the returned report keep their status and message but not their
  // comparisons (on_call_done still sees them), so that a replay of 100k calls whose JSON report
  // is streamed by ReplayJsonWriter holds megabytes, not a gigabyte of metrics.
  bool keep_comparisons = true;
  // Bug or precision (validation/metrics/bug_or_precision.h): for every output with a captured
  // device output, judge the three legs (captured device, device-now as the emulation of the
  // device's numerics, reference-now as float64) with the kind's metric policy; the accuracy
  // check is the default verdict of the emulation's output format (default_tolerances) with
  // tolerance_overrides merged over it. REQUIRES: against == both. `ttt explain` sets it.
  bool explain = false;
};

// One comparison of one output.
struct ReplayComparison {
  std::string against;  // "reference_now", "captured_device" or "captured_reference".
  std::string output;   // The output's name.
  Metrics metrics;
  Verdict verdict;
};

// The bug-or-precision finding of one output (ReplayOptions::explain).
struct ReplayExplanation {
  std::string output;
  PrecisionExplanation explanation;
};

struct ReplayedCall {
  std::int64_t seq = 0;
  std::string path;  // "/calls/000012".
  std::string name;
  std::string block;
  ReplayStatus status = ReplayStatus::skipped;
  // Why it was skipped or failed: "unknown block kind 'x'", the first failing comparison
  // ("captured_device y: pcc 0.9812 < 0.99"), or what the implementation threw.
  std::string message;
  std::vector<ReplayComparison> comparisons;
  // With ReplayOptions::explain: one per output with a captured device output, and the worst
  // finding of them (unset when there is none: a skipped or failed replay, nothing captured).
  std::vector<ReplayExplanation> explanations;
  std::optional<PrecisionFinding> finding;
  // Wall time to replay the call: read its inputs, build, run both sides and compare.
  double seconds = 0.0;
};

struct ReplaySummary {
  std::int64_t total = 0;  // Calls the filter selected.
  std::int64_t passed = 0;
  std::int64_t failed = 0;
  std::int64_t skipped = 0;
  std::int64_t not_run = 0;  // Left after --fail-fast stopped.
  // The first failing call in capture order.
  std::optional<std::int64_t> first_failure_seq;
  std::string first_failure_name;
  std::string first_failure_path;
  std::string first_failure_message;
};

struct ReplayReport {
  std::string trace;
  std::vector<ReplayedCall> calls;
  ReplaySummary summary;
};

// Replays the calls of `trace` selected by options.filter, in capture order.
// Throws TraceError (naming the file and the call's path) for bad input: a required input that is
// missing, a Spec/ImplConfig/scalars/input that the block rejects (shapes that contradict the
// spec), captured outputs whose shape differs from the replayed one. A block that throws while
// running, or returns other outputs than it declares, makes its call fail instead.
ReplayReport replay_trace(const TraceReader& trace, const ReplayOptions& options = {});

// {"trace", "calls": [{seq, name, block, status, message, comparisons: [{against, output,
// passed, failures, metrics}]}], "summary": {total, passed, failed, skipped, not_run,
// first_failure: {seq, name, path, message} | null}}.
nlohmann::json to_json(const ReplayReport& report);

// One call of the "calls" array of to_json(ReplayReport).
nlohmann::json to_json(const ReplayedCall& call);

// Writes the JSON report of a replay while it runs, one call at a time, so that memory does not
// grow with the number of calls. The text is exactly to_json(report).dump(2) + "\n".
//   ReplayJsonWriter writer(out, trace.path());
//   options.on_call_done = [&](auto, auto, const ReplayedCall& call) { writer.add(call); };
//   writer.finish(replay_trace(trace, options).summary);
class ReplayJsonWriter {
 public:
  ReplayJsonWriter(std::ostream& out, std::string trace);
  // Writes one call; calls must come in the order replay_trace finishes them.
  void add(const ReplayedCall& call);
  // Closes the "calls" array and writes the summary and the trace path.
  void finish(const ReplaySummary& summary);

 private:
  std::ostream& out_;
  std::string trace_;
  bool first_ = true;
};

// JUnit XML (validation/markup/junit.h): one testsuite, one testcase per call ("<seq> <name>",
// classname the block kind), failures and skips marked.
std::string to_junit_xml(const ReplayReport& report);

// A few human-readable lines: counts and the first failing call.
std::string format_replay_summary(const ReplayReport& report);

}  // namespace ttt

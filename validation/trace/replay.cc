#include "validation/trace/replay.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "validation/input/input_file.h"
#include "validation/mesh/mesh.h"
#include "validation/markup/junit.h"
#include "validation/trace/internal/common.h"

namespace ttt {
namespace {

const TraceTensor* find_tensor(const std::vector<TraceTensor>& tensors, const std::string& name) {
  const auto it = std::find_if(tensors.begin(), tensors.end(),
                               [&](const TraceTensor& tensor) { return tensor.name == name; });
  return it == tensors.end() ? nullptr : &*it;
}

// The thresholds of one comparison: the kind's tolerances, else the default for the two dtypes,
// with the command line's overrides merged over them.
Tolerances replay_tolerances(const BlockReplayer& replayer, const Tolerances& overrides,
                             const Tensor& now, const Tensor& expected) {
  return replayer.tolerances.value_or(default_tolerances(now.dtype(), expected.dtype()))
      .merged(overrides);
}

// Each device's shard of a captured mesh tensor against the matching slice of the replayed
// output (distributed with the captured mesh and placements), as the wrapper's per-device checks:
// one failure line per device that fails, "device 2 (row 0, col 2): max_abs_error ...".
std::vector<std::string> device_failures(const Tensor& now, const MeshTensor& captured,
                                         const Tolerances& tolerances,
                                         const MetricsOptions& options) {
  std::vector<std::string> failures;
  const MeshTensor slices = distribute(now, captured.mesh, captured.placements);
  for (int device = 0; device < captured.mesh.size(); ++device) {
    const Verdict verdict = evaluate(
        compute_metrics(slices.shards[device], captured.shards[device], options), tolerances);
    if (verdict.passed) continue;
    failures.push_back("device " + std::to_string(device) + " (row " +
                       std::to_string(device / captured.mesh.cols) + ", col " +
                       std::to_string(device % captured.mesh.cols) + "): " + verdict.text());
  }
  return failures;
}

// Compares one replayed output with a captured one; shapes must agree (else the trace
// contradicts its own spec: bad input). A captured mesh tensor is compared composed and device
// by device; when its replicas differ it has no composed value, and the call fails naming the
// devices (`result.message`; returns nullopt), as the wrapper fails such an output. The captured
// value (composed) is left in `captured_value` when given.
std::optional<ReplayComparison> compare(const char* against, const NamedTensor& now,
                                        const TraceTensor& captured, const TraceReader& trace,
                                        const BlockReplayer& replayer,
                                        const ReplayOptions& replay_options, ReplayedCall& result,
                                        Tensor* captured_value = nullptr) {
  const MetricsOptions& options = replay_options.metrics;
  if (captured.shape != now.tensor.shape()) {
    throw TraceError(trace.path(), captured.path,
                     "has shape " + shape_to_string(captured.shape) +
                         ", but the replayed output '" + now.name + "' has shape " +
                         shape_to_string(now.tensor.shape()));
  }
  std::optional<MeshTensor> shards;
  Tensor expected;
  if (captured.shards.empty()) {
    expected = trace.read(captured);
  } else {
    shards = trace.read_mesh(captured);
    try {
      expected = compose(*shards);
    } catch (const std::invalid_argument& error) {
      result.status = ReplayStatus::fail;
      result.message = std::string(against) + " " + now.name + ": compose: " + error.what();
      return std::nullopt;
    }
  }
  if (captured_value != nullptr) *captured_value = expected;
  ReplayComparison comparison;
  comparison.against = against;
  comparison.output = now.name;
  comparison.metrics = compute_metrics(now.tensor, expected, options);
  const Tolerances tolerances =
      replay_tolerances(replayer, replay_options.tolerance_overrides, now.tensor, expected);
  comparison.verdict = evaluate(comparison.metrics, tolerances);
  if (shards) {
    for (std::string& failure : device_failures(now.tensor, *shards, tolerances, options)) {
      comparison.verdict.passed = false;
      comparison.verdict.failures.push_back(std::move(failure));
    }
  }
  return comparison;
}

nlohmann::json parse_attribute(const std::string& text, const TraceReader& trace,
                               const std::string& call_path, const char* attribute) {
  try {
    return parse_json(text, std::string("attribute '") + attribute + "'");
  } catch (const std::invalid_argument& error) {
    throw TraceError(trace.path(), call_path, error.what());
  }
}

// Runs one of the bound functions; a throw or a wrong set of outputs fails the call.
std::optional<std::vector<NamedTensor>> run_side(
    const std::function<std::vector<NamedTensor>()>& run, const char* side,
    const BlockReplayer& replayer, ReplayedCall& result) {
  std::vector<NamedTensor> outputs;
  try {
    outputs = run();
  } catch (const std::exception& error) {
    result.status = ReplayStatus::fail;
    result.message = std::string("the ") + side + " implementation threw: " + error.what();
    return std::nullopt;
  }
  // A mesh-tensor output is compared composed; replicas that differ fail the call by name.
  for (NamedTensor& output : outputs) {
    if (output.mesh == nullptr || output.tensor.defined()) continue;
    try {
      output.tensor = compose(*output.mesh);
    } catch (const std::exception& error) {
      result.status = ReplayStatus::fail;
      result.message = std::string("the ") + side + " implementation's output '" + output.name +
                       "' does not compose: " + error.what();
      return std::nullopt;
    }
  }
  std::vector<std::string> names;
  for (const NamedTensor& output : outputs) names.push_back(output.name);
  if (names != replayer.outputs) {
    std::string declared;
    for (const std::string& name : replayer.outputs)
      declared += (declared.empty() ? "" : ", ") + name;
    std::string returned;
    for (const std::string& name : names) returned += (returned.empty() ? "" : ", ") + name;
    result.status = ReplayStatus::fail;
    result.message = std::string("the ") + side + " implementation returned outputs [" + returned +
                     "], the block declares [" + declared + "]";
    return std::nullopt;
  }
  return outputs;
}

// What one replay keeps between calls (ReplayOptions::shared_tensor_cache_bytes).
class ReplayMemory {
 public:
  explicit ReplayMemory(std::int64_t budget) : budget_(budget) {}

  // The call's input tensors, shared ones from memory when an earlier call read them.
  std::vector<NamedTensor> read_inputs(const TraceReader& trace, const TraceCall& call) {
    std::vector<NamedTensor> inputs;
    inputs.reserve(call.inputs.size());
    for (const TraceTensor& tensor : call.inputs) {
      if (tensor.shared_key.empty() || budget_ <= 0) {
        inputs.push_back(trace.read_named(tensor));
        continue;
      }
      auto found = shared_.find(tensor.shared_key);
      if (found == shared_.end()) {
        Tensor values = trace.read(tensor);
        const auto bytes = static_cast<std::int64_t>(values.nbytes());
        if (used_ + bytes > budget_) {
          inputs.push_back({tensor.name, std::move(values)});
          continue;
        }
        used_ += bytes;
        found = shared_.emplace(tensor.shared_key, std::move(values)).first;
      }
      inputs.push_back({tensor.name, found->second});
    }
    return inputs;
  }

  // Where binders keep built blocks; nullptr when reuse is off.
  BindCache* bind_cache() { return budget_ > 0 ? &bind_cache_ : nullptr; }

 private:
  std::int64_t budget_;
  std::int64_t used_ = 0;
  std::map<std::string, Tensor> shared_;
  BindCache bind_cache_;
};

// Bug or precision for each output with a captured device output: the captured device, the
// device-now (the emulation of the device's numerics at the call's ImplConfig) and the
// reference-now (float64), judged by the kind's metric policy.
void explain_outputs(const std::vector<NamedTensor>& emulation,
                     const std::vector<NamedTensor>& reference,
                     const std::vector<Tensor>& captured_devices, const BlockReplayer& replayer,
                     const ReplayOptions& options, ReplayedCall& result) {
  for (std::size_t i = 0; i < emulation.size(); ++i) {
    const Tensor& device = captured_devices[i];
    if (!device.defined()) continue;
    // Accurate: within what rounding to the ImplConfig's output format allows (the emulation's
    // dtype); beyond it, the ImplConfig's other lossy choices (weight formats, fidelity) count.
    const Tolerances accuracy =
        default_tolerances(emulation[i].tensor.dtype(), reference[i].tensor.dtype())
            .merged(options.tolerance_overrides);
    ReplayExplanation& explained = result.explanations.emplace_back();
    explained.output = emulation[i].name;
    explained.explanation = explain_precision(device, emulation[i].tensor, reference[i].tensor,
                                              replayer.metric_policy, accuracy, options.metrics);
    result.finding = result.finding ? worse(*result.finding, explained.explanation.finding)
                                    : explained.explanation.finding;
  }
}

ReplayedCall replay_call(const TraceReader& trace, const TraceCall& call,
                         const ReplayOptions& options, const BlockRegistry& registry,
                         ReplayMemory& memory) {
  ReplayedCall result;
  result.seq = call.seq;
  result.path = call.path;
  result.name = call.name;
  result.block = call.block;
  const BlockReplayer* replayer = call.block.empty() ? nullptr : registry.find(call.block);
  if (replayer == nullptr) {
    result.status = options.strict ? ReplayStatus::fail : ReplayStatus::skipped;
    result.message = call.block.empty() ? "the call names no block kind"
                                        : "unknown block kind '" + call.block + "'";
    return result;
  }
  for (const std::string& input : replayer->inputs) {
    if (find_tensor(call.inputs, input) == nullptr) {
      throw TraceError(trace.path(), call.path + "/inputs/" + input,
                       "missing dataset (block " + call.block + " needs input '" + input + "')");
    }
  }
  BlockCall block_call;
  block_call.kind = call.block;
  block_call.spec = parse_attribute(call.spec_json, trace, call.path, "spec");
  block_call.impl_config = parse_attribute(call.impl_config_json, trace, call.path, "impl_config");
  block_call.device = call.device;
  block_call.scalars = parse_attribute(call.scalars_json, trace, call.path, "scalars");
  block_call.inputs = memory.read_inputs(trace, call);
  block_call.cache = memory.bind_cache();
  BoundCall bound;
  try {
    bound = replayer->bind(block_call);
  } catch (const std::exception& error) {
    throw TraceError(trace.path(), call.path, error.what());
  }

  const std::optional<std::vector<NamedTensor>> device =
      run_side(bound.run_device, "device", *replayer, result);
  if (!device) return result;
  std::optional<std::vector<NamedTensor>> reference;
  if (options.against != ReplayAgainst::captured) {
    reference = run_side(bound.run_reference, "reference", *replayer, result);
    if (!reference) return result;
    for (std::size_t i = 0; i < device->size(); ++i) {
      if ((*reference)[i].tensor.shape() != (*device)[i].tensor.shape()) {
        result.status = ReplayStatus::fail;
        result.message = "output '" + (*device)[i].name + "': the device gives shape " +
                         shape_to_string((*device)[i].tensor.shape()) + ", the reference " +
                         shape_to_string((*reference)[i].tensor.shape());
        return result;
      }
      ReplayComparison comparison;
      comparison.against = "reference_now";
      comparison.output = (*device)[i].name;
      comparison.metrics =
          compute_metrics((*device)[i].tensor, (*reference)[i].tensor, options.metrics);
      comparison.verdict =
          evaluate(comparison.metrics,
                   replay_tolerances(*replayer, options.tolerance_overrides, (*device)[i].tensor,
                                     (*reference)[i].tensor));
      result.comparisons.push_back(std::move(comparison));
    }
  }
  std::vector<Tensor> captured_devices(device->size());
  if (options.against != ReplayAgainst::reference) {
    for (std::size_t i = 0; i < device->size(); ++i) {
      const NamedTensor& now = (*device)[i];
      for (const auto& [against, captured_list] :
           {std::pair{"captured_device", &call.outputs},
            std::pair{"captured_reference", &call.reference_outputs}}) {
        const TraceTensor* captured = find_tensor(*captured_list, now.name);
        if (captured == nullptr) continue;
        Tensor* keep = captured_list == &call.outputs ? &captured_devices[i] : nullptr;
        std::optional<ReplayComparison> comparison =
            compare(against, now, *captured, trace, *replayer, options, result, keep);
        if (!comparison) return result;
        result.comparisons.push_back(std::move(*comparison));
      }
    }
  }
  if (options.explain && reference) {
    explain_outputs(*device, *reference, captured_devices, *replayer, options, result);
  }
  if (result.comparisons.empty()) {
    result.status = options.strict ? ReplayStatus::fail : ReplayStatus::skipped;
    result.message = "nothing to compare with: the trace holds no captured output of this call";
    return result;
  }
  result.status = ReplayStatus::pass;
  for (const ReplayComparison& comparison : result.comparisons) {
    if (!comparison.verdict.passed) {
      result.status = ReplayStatus::fail;
      result.message =
          comparison.against + " " + comparison.output + ": " + comparison.verdict.text();
      break;
    }
  }
  return result;
}

}  // namespace

ReplayAgainst parse_replay_against(const std::string& text) {
  if (text == "reference") return ReplayAgainst::reference;
  if (text == "captured") return ReplayAgainst::captured;
  if (text == "both") return ReplayAgainst::both;
  throw std::invalid_argument("[replay] --against '" + text +
                              "' is not one of reference, captured, both");
}

const char* replay_status_name(ReplayStatus status) {
  switch (status) {
    case ReplayStatus::pass:
      return "pass";
    case ReplayStatus::fail:
      return "fail";
    case ReplayStatus::skipped:
      return "skipped";
  }
  return "skipped";
}

ReplayReport replay_trace(const TraceReader& trace, const ReplayOptions& options) {
  const BlockRegistry& registry =
      options.registry != nullptr ? *options.registry : BlockRegistry::global();
  ReplayReport report;
  report.trace = trace.path();
  std::vector<TraceCall> selected;
  for (const std::int64_t seq : trace.sequence_numbers()) {
    TraceCall call = trace.call(seq);
    if (trace_internal::glob_match(options.filter, call.name)) selected.push_back(std::move(call));
  }
  ReplaySummary& summary = report.summary;
  summary.total = static_cast<std::int64_t>(selected.size());
  ReplayMemory memory(options.shared_tensor_cache_bytes);
  for (const TraceCall& call : selected) {
    const auto start = std::chrono::steady_clock::now();
    ReplayedCall result = replay_call(trace, call, options, registry, memory);
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    switch (result.status) {
      case ReplayStatus::pass:
        ++summary.passed;
        break;
      case ReplayStatus::skipped:
        ++summary.skipped;
        break;
      case ReplayStatus::fail:
        ++summary.failed;
        if (!summary.first_failure_seq) {
          summary.first_failure_seq = result.seq;
          summary.first_failure_name = result.name;
          summary.first_failure_path = result.path;
          summary.first_failure_message = result.message;
        }
        break;
    }
    report.calls.push_back(std::move(result));
    if (options.on_call_done) {
      options.on_call_done(report.calls.size(), selected.size(), report.calls.back());
    }
    if (!options.keep_comparisons) {
      report.calls.back().comparisons.clear();
      report.calls.back().comparisons.shrink_to_fit();
    }
    if (options.fail_fast && report.calls.back().status == ReplayStatus::fail) break;
  }
  summary.not_run = summary.total - static_cast<std::int64_t>(report.calls.size());
  return report;
}

namespace {

nlohmann::json summary_json(const ReplaySummary& summary) {
  nlohmann::json first_failure = nullptr;
  if (summary.first_failure_seq) {
    first_failure = {{"seq", *summary.first_failure_seq},
                     {"name", summary.first_failure_name},
                     {"path", summary.first_failure_path},
                     {"message", summary.first_failure_message}};
  }
  return {{"total", summary.total},     {"passed", summary.passed},
          {"failed", summary.failed},   {"skipped", summary.skipped},
          {"not_run", summary.not_run}, {"first_failure", std::move(first_failure)}};
}

// `text`, a value's dump(2), indented by `spaces` to sit nested inside a larger dump(2). JSON
// strings hold no raw line break, so every '\n' of the text is structure.
std::string nested(const std::string& text, std::size_t spaces, bool indent_first_line) {
  const std::string margin(spaces, ' ');
  std::string out = indent_first_line ? margin : "";
  for (const char c : text) {
    out += c;
    if (c == '\n') out += margin;
  }
  return out;
}

}  // namespace

nlohmann::json to_json(const ReplayedCall& call) {
  nlohmann::json comparisons = nlohmann::json::array();
  for (const ReplayComparison& comparison : call.comparisons) {
    comparisons.push_back({{"against", comparison.against},
                           {"output", comparison.output},
                           {"passed", comparison.verdict.passed},
                           {"failures", comparison.verdict.failures},
                           {"metrics", to_json(comparison.metrics)}});
  }
  nlohmann::json json = {{"seq", call.seq},
                         {"path", call.path},
                         {"name", call.name},
                         {"block", call.block},
                         {"status", replay_status_name(call.status)},
                         {"message", call.message},
                         {"comparisons", std::move(comparisons)}};
  // Only a replay that explains (`ttt explain`) has these keys.
  if (call.finding) {
    nlohmann::json explanations = nlohmann::json::array();
    for (const ReplayExplanation& explained : call.explanations) {
      nlohmann::json entry = to_json(explained.explanation);
      entry["output"] = explained.output;
      explanations.push_back(std::move(entry));
    }
    json["finding"] = std::string(precision_finding_name(*call.finding));
    json["explanations"] = std::move(explanations);
  }
  return json;
}

nlohmann::json to_json(const ReplayReport& report) {
  nlohmann::json calls = nlohmann::json::array();
  for (const ReplayedCall& call : report.calls) calls.push_back(to_json(call));
  return {{"trace", report.trace},
          {"calls", std::move(calls)},
          {"summary", summary_json(report.summary)}};
}

// The keys of to_json(ReplayReport) in the order dump() writes them (sorted): calls, summary,
// trace.
ReplayJsonWriter::ReplayJsonWriter(std::ostream& out, std::string trace)
    : out_(out), trace_(std::move(trace)) {
  out_ << "{\n  \"calls\": [";
}

void ReplayJsonWriter::add(const ReplayedCall& call) {
  out_ << (first_ ? "\n" : ",\n") << nested(to_json(call).dump(2), 4, true);
  first_ = false;
}

void ReplayJsonWriter::finish(const ReplaySummary& summary) {
  out_ << (first_ ? "]" : "\n  ]")
       << ",\n  \"summary\": " << nested(summary_json(summary).dump(2), 2, false)
       << ",\n  \"trace\": " << nlohmann::json(trace_).dump() << "\n}\n";
  out_.flush();
}

std::string to_junit_xml(const ReplayReport& report) {
  JUnitSuite suite;
  suite.name = "ttt replay " + report.trace;
  for (const ReplayedCall& call : report.calls) {
    JUnitCase& c = suite.cases.emplace_back();
    c.classname = call.block.empty() ? "(none)" : call.block;
    c.name = std::to_string(call.seq) + " " + call.name;
    c.seconds = call.seconds;
    if (call.status == ReplayStatus::fail) {
      c.result = JUnitResult::failed;
      c.type = "ReplayFailure";
      c.message = call.message;
      c.text = report.trace + ":" + call.path + ": " + call.message;
    } else if (call.status == ReplayStatus::skipped) {
      c.result = JUnitResult::skipped;
      c.message = call.message;
    }
  }
  return render_junit("ttt replay", {suite});
}

std::string format_replay_summary(const ReplayReport& report) {
  const ReplaySummary& summary = report.summary;
  std::ostringstream text;
  text << report.trace << ": " << summary.total << " calls: " << summary.passed << " passed, "
       << summary.failed << " failed, " << summary.skipped << " skipped";
  if (summary.not_run > 0) text << ", " << summary.not_run << " not run (--fail-fast)";
  text << "\n";
  if (summary.first_failure_seq) {
    text << "first failing call: " << *summary.first_failure_seq << " "
         << summary.first_failure_name << " (" << summary.first_failure_path
         << "): " << summary.first_failure_message << "\n";
  }
  return text.str();
}

}  // namespace ttt

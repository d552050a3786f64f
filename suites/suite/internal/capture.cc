#include "suites/suite/internal/capture.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "validation/input/input_file.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/call_sink.h"
#include "validation/wrapper/report.h"
#include "validation/wrapper/switches.h"

namespace ttt::suite_detail {
namespace {

CaseInputs inputs_of_call(const TraceReader& reader, std::int64_t seq) {
  const TraceCall call = reader.call(seq);
  CaseInputs inputs;
  inputs.tensors = reader.read_all(call.inputs);
  inputs.scalars = parse_json(call.scalars_json, reader.path() + ": " + call.path + ": scalars");
  if (!inputs.scalars.is_object()) inputs.scalars = nlohmann::json::object();
  return inputs;
}

// Sequence numbers of the calls of `reader` by name, in call order.
std::map<std::string, std::vector<std::int64_t>> calls_by_name(const TraceReader& reader) {
  std::map<std::string, std::vector<std::int64_t>> calls;
  for (std::int64_t seq : reader.sequence_numbers()) calls[reader.call(seq).name].push_back(seq);
  return calls;
}

// Restores validation's on/off switch when the capture ends, however it ends.
class ValidationOff {
 public:
  ValidationOff() : was_enabled_(validation_enabled()) { set_validation_enabled(false); }
  ~ValidationOff() { set_validation_enabled(was_enabled_); }
  ValidationOff(const ValidationOff&) = delete;
  ValidationOff& operator=(const ValidationOff&) = delete;

 private:
  bool was_enabled_;
};

// The path components of a tensor name ("kv/0" -> {"kv", "0"}).
std::vector<std::string> components(const std::string& name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t slash = name.find('/'); slash != std::string::npos;
       slash = name.find('/', start)) {
    parts.push_back(name.substr(start, slash - start));
    start = slash + 1;
  }
  parts.push_back(name.substr(start));
  return parts;
}

// Keeps the inputs of the requested calls in memory: a call sink that wants every call of a
// requested name, validated or not, and copies the inputs of the requested call indices.
class InputCaptureSink final : public CallSink {
 public:
  explicit InputCaptureSink(const std::vector<CaptureRequest>& requests) {
    for (const CaptureRequest& request : requests) {
      wanted_[request.call].insert(request.call_index);
    }
  }

  bool wants(std::string_view name, bool) override {
    return wanted_.find(std::string(name)) != wanted_.end();
  }
  bool sees_unvalidated_calls() const override { return true; }

  void on_call(const CheckedCall& call) override {
    if (!call.device_returned) return;  // A throwing call fails the capture anyway.
    const std::string& name = call.record.name;
    std::lock_guard lock(mutex_);
    const std::int64_t index = made_[name]++;
    if (wanted_.at(name).count(index) == 0) return;
    CaseInputs inputs;
    for (const NamedTensor& input : call.inputs) {
      // Clones: the model may update an input (a KV cache) after the call.
      // A mesh input keeps its shards (they are not updated in place).
      inputs.tensors.push_back(
          {input.name, input.tensor.defined() ? input.tensor.clone() : input.tensor, input.mesh});
    }
    // Name order, as a trace file lists a call's inputs (suites bind by name either way).
    std::stable_sort(inputs.tensors.begin(), inputs.tensors.end(),
                     [](const NamedTensor& a, const NamedTensor& b) {
                       return components(a.name) < components(b.name);
                     });
    inputs.scalars = record_to_json(call.record).at("scalars");
    captured_[{name, index}] = std::move(inputs);
  }

  // The calls of `name` seen so far.
  std::int64_t made(const std::string& name) const {
    std::lock_guard lock(mutex_);
    const auto found = made_.find(name);
    return found == made_.end() ? 0 : found->second;
  }
  // The inputs of call `index` of `name`, when captured.
  std::optional<CaseInputs> take(const std::string& name, std::int64_t index) const {
    std::lock_guard lock(mutex_);
    const auto found = captured_.find({name, index});
    if (found == captured_.end()) return std::nullopt;
    return found->second;
  }

 private:
  std::map<std::string, std::set<std::int64_t>, std::less<>> wanted_;
  mutable std::mutex mutex_;
  std::map<std::string, std::int64_t> made_;
  std::map<std::pair<std::string, std::int64_t>, CaseInputs> captured_;
};

}  // namespace

std::vector<CaptureOutcome> capture_call_inputs(const std::function<void()>& run,
                                                const std::vector<CaptureRequest>& requests) {
  if (requests.empty()) return {};
  const auto sink = std::make_shared<InputCaptureSink>(requests);
  {
    ValidationOff validation_off;
    const ScopedCallSink scope(sink);
    try {
      run();
    } catch (const std::exception& error) {
      throw std::runtime_error(
          std::string("[suite] the callable given to with_inputs_from threw: ") + error.what());
    }
  }
  std::vector<CaptureOutcome> outcomes(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const CaptureRequest& request = requests[i];
    outcomes[i].inputs = sink->take(request.call, request.call_index);
    if (!outcomes[i].inputs.has_value()) {
      outcomes[i].error = "[suite] the callable given to with_inputs_from made " +
                          std::to_string(sink->made(request.call)) + " call(s) named '" +
                          request.call + "'; call " + std::to_string(request.call_index) +
                          " was requested";
    }
  }
  return outcomes;
}

CaseInputs read_trace_inputs(const TraceInputs& trace) {
  const TraceReader reader = TraceReader::open(trace.file);
  const auto calls = calls_by_name(reader);
  const auto found = calls.find(trace.call);
  const std::size_t made = found == calls.end() ? 0 : found->second.size();
  if (trace.call_index < 0 || static_cast<std::size_t>(trace.call_index) >= made) {
    throw std::runtime_error(trace.file + ": the trace holds " + std::to_string(made) +
                             " call(s) named '" + trace.call + "'; call " +
                             std::to_string(trace.call_index) + " was requested");
  }
  return inputs_of_call(reader, found->second[trace.call_index]);
}

}  // namespace ttt::suite_detail

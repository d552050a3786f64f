#include "suites/suite/internal/capture.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "validation/input/input_file.h"
#include "validation/trace/capture.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/switches.h"

namespace ttt::suite_detail {
namespace {

// Escapes glob characters so that a name matches only itself.
std::string glob_literal(const std::string& text) {
  std::string glob;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
      glob += '[';
      glob += c;
      glob += ']';
    } else {
      glob += c;
    }
  }
  return glob;
}

// The narrowest single glob the trace session accepts that matches every name: the name itself,
// or the names' common prefix followed by '*'.
std::string glob_for(const std::vector<CaptureRequest>& requests) {
  std::string prefix = requests.front().call;
  bool same = true;
  for (const CaptureRequest& request : requests) {
    if (request.call != requests.front().call) same = false;
    std::size_t length = 0;
    while (length < prefix.size() && length < request.call.size() &&
           prefix[length] == request.call[length]) {
      ++length;
    }
    prefix.resize(length);
  }
  return same ? glob_literal(prefix) : glob_literal(prefix) + "*";
}

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

// Removes the temporary trace (and a journal left by a failed close) however the capture ends.
class TemporaryTrace {
 public:
  TemporaryTrace() {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("ttt-suite-capture-" + std::to_string(::getpid()) + "-" +
              std::to_string(counter.fetch_add(1)) + ".h5"))
                .string();
  }
  ~TemporaryTrace() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
    std::filesystem::remove(path_ + ".journal", ignored);
  }
  TemporaryTrace(const TemporaryTrace&) = delete;
  TemporaryTrace& operator=(const TemporaryTrace&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

std::vector<CaptureOutcome> capture_call_inputs(const std::function<void()>& run,
                                                const std::vector<CaptureRequest>& requests) {
  if (requests.empty()) return {};
  if (active_trace_session() != nullptr) {
    throw std::runtime_error(
        "[suite] with_inputs_from captures through the process-wide trace session, but one is "
        "already active (TTT_TRACE or start_trace): stop it first");
  }
  std::int64_t most_calls = 0;
  for (const CaptureRequest& request : requests) {
    most_calls = std::max(most_calls, request.call_index + 1);
  }
  TemporaryTrace file;
  {
    TraceOptions options;
    options.name_filter = glob_for(requests);
    options.max_calls_per_name = most_calls;
    options.capture_reference = false;
    ValidationOff validation_off;
    ScopedTrace trace(file.path(), options);
    try {
      run();
    } catch (const std::exception& error) {
      throw std::runtime_error(
          std::string("[suite] the callable given to with_inputs_from threw: ") + error.what());
    }
    if (const auto error = trace.session().error()) {
      throw std::runtime_error("[suite] capturing inputs failed: " + *error);
    }
  }
  const TraceReader reader = TraceReader::open(file.path());
  const auto calls = calls_by_name(reader);
  std::vector<CaptureOutcome> outcomes(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const CaptureRequest& request = requests[i];
    const auto found = calls.find(request.call);
    const std::size_t made = found == calls.end() ? 0 : found->second.size();
    if (static_cast<std::size_t>(request.call_index) >= made) {
      outcomes[i].error = "[suite] the callable given to with_inputs_from made " +
                          std::to_string(made) + " call(s) named '" + request.call + "'; call " +
                          std::to_string(request.call_index) + " was requested";
      continue;
    }
    outcomes[i].inputs = inputs_of_call(reader, found->second[request.call_index]);
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

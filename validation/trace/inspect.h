// Summaries of a trace for people and machines: what `ttt inspect` prints.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "validation/trace/trace_reader.h"

namespace ttt {

// Calls of one wrapped name.
struct TraceNameSummary {
  std::string name;
  std::string block;  // The block kind of its first call.
  std::int64_t calls = 0;
  std::map<std::string, std::int64_t> verdicts;  // "pass"/"fail"/"unchecked" -> calls.
  std::int64_t tensor_bytes = 0;                 // Stored bytes of its own (unshared) tensors.
};

// The whole trace at a glance. Reads every call's attributes and listing, never tensor values.
struct TraceSummary {
  std::string path;
  TraceHeader header;
  std::int64_t file_bytes = 0;
  std::int64_t calls = 0;
  std::vector<TraceNameSummary> names;           // In order of first capture.
  std::map<std::string, std::int64_t> blocks;    // Block kind -> calls ("" for none).
  std::map<std::string, std::int64_t> verdicts;  // Verdict -> calls.
  std::vector<SharedTensor> shared_tensors;
  std::int64_t shared_bytes = 0;  // Stored bytes of the shared tensors (each counted once).
  std::int64_t call_bytes = 0;    // Stored bytes of the calls' own tensors.
};

TraceSummary summarize_trace(const TraceReader& trace);
nlohmann::json to_json(const TraceSummary& summary);
std::string format_trace_summary(const TraceSummary& summary);

// One tensor of a call with statistics of its values (finite values only; NaN/Inf counted).
struct TensorStatistics {
  TraceTensor tensor;
  double min = 0.0;
  double max = 0.0;
  double mean = 0.0;
  std::int64_t nan = 0;
  std::int64_t inf = 0;
};

// One call in full: attributes, and every tensor with its statistics (reads the values).
struct CallDetails {
  TraceCall call;
  std::vector<TensorStatistics> inputs;
  std::vector<TensorStatistics> outputs;
  std::vector<TensorStatistics> reference_outputs;
};

// Throws TraceError when there is no call `seq` or it is malformed.
CallDetails describe_call(const TraceReader& trace, std::int64_t seq);
nlohmann::json to_json(const CallDetails& details);
std::string format_call_details(const CallDetails& details);

}  // namespace ttt

// Inputs of wrapped calls, captured while a callable runs or read from a trace file (internal to
// suites/suite).
//
// Capture is a call sink (validation/wrapper/call_sink.h) added for the duration of the callable,
// with validation switched off so that only the device functions run: it copies the requested
// calls' inputs in memory. No file is written, and a trace being written at the same time
// (TTT_TRACE, start_trace) goes on receiving every call.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "suites/suite/suite.h"

namespace ttt::suite_detail {

// One call whose inputs a case needs.
struct CaptureRequest {
  std::string call;
  std::int64_t call_index = 0;
};

// The inputs of one request, or why there are none ("the callable ... made 1 call(s) named
// 'layers.3.ffn.decode'; call 2 was requested").
struct CaptureOutcome {
  std::optional<CaseInputs> inputs;
  std::string error;
};

// Runs `run` once and returns the outcome of every request, in request order. Throws
// std::runtime_error when `run` throws (its message is kept).
std::vector<CaptureOutcome> capture_call_inputs(const std::function<void()>& run,
                                                const std::vector<CaptureRequest>& requests);

// The inputs of a call of a trace file. Throws (TraceError or std::runtime_error) naming the file
// and the call when it cannot be read or has no such call.
CaseInputs read_trace_inputs(const TraceInputs& trace);

}  // namespace ttt::suite_detail

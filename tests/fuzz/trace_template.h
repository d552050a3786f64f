// Shared by the trace fuzz targets: a small valid trace to mutate or recover against, and a
// reader that asks a trace for everything a user could.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <exception>
#include <fstream>
#include <string>

#include "tests/fuzz/fuzz_files.h"
#include "validation/trace/capture.h"
#include "validation/trace/inspect.h"
#include "validation/trace/replay.h"
#include "validation/trace/trace_reader.h"

namespace ttt::fuzz {

inline const std::string& kTemplate() {
  static const std::string path = scratch_directory() + "/template.h5";
  return path;
}
inline const std::string& kTrace() {
  static const std::string path = scratch_directory() + "/trace.h5";
  return path;
}

// Writes kTemplate(): two ttt.scale calls, a container, an int input and a shared tensor. Also
// silences HDF5's own error printing (every bad input would print a stack).
inline void write_template() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  TraceSession session(kTemplate());
  const Tensor weight = Tensor::from_floats({2, 2}, {1, 2, 3, 4});
  session.register_shared_tensor("w", weight);
  for (int i = 0; i < 2; ++i) {
    CapturedCall call;
    call.name = "layers." + std::to_string(i);
    call.block = "ttt.scale";
    call.spec_json = R"({"shape": [2, 2]})";
    call.scalars_json = R"({"scale": 2})";
    const Tensor x = Tensor::from_floats({2, 2}, {0.5f, -1.0f, 2.0f, 0.0f});
    call.inputs = {{"x", x}, {"w", weight}, {"kv/0", x}, {"pos", Tensor::from_int32({}, {3})}};
    call.outputs = {{"y", Tensor::from_floats({2, 2}, {1.0f, -2.0f, 4.0f, 0.0f})}};
    call.reference_outputs = call.outputs;
    session.capture(call);
  }
}

inline void copy_file(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
}

// Reads everything a user could ask for; exceptions are the expected outcome of bad input.
inline void read_everything(const std::string& path) {
  try {
    const TraceReader trace = TraceReader::open(path);
    summarize_trace(trace);
    for (const std::int64_t seq : trace.sequence_numbers()) describe_call(trace, seq);
    replay_trace(trace);
  } catch (const std::exception&) {
  }
}

}  // namespace ttt::fuzz

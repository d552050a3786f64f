// HDF5's own h5dump reads a trace we wrote: the format is plain HDF5, no TTTv2 code needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "tests/validation/trace/trace_test_util.h"
#include "validation/trace/capture.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;

const char* kH5dump = "/usr/bin/h5dump";

std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[4096];
  std::size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  EXPECT_EQ(pclose(pipe), 0) << command;
  return output;
}

TEST(H5dump, ReadsTheTraceWeWrote) {
  if (!std::filesystem::exists(kH5dump)) {
    GTEST_SKIP() << "h5dump is not installed (tools/setup.sh installs hdf5-tools)";
  }
  test_support::ScratchDir dir;
  const std::string path = dir.file("t.h5");
  {
    TraceSession session(path);
    CapturedCall call;
    call.name = "layers.0.scale";
    call.block = "ttt.scale";
    call.scalars_json = R"({"scale": 2})";
    call.inputs = {{"x", Tensor::from_floats({2, 2}, {1.0f, -2.0f, 0.5f, 3.0f})},
                   {"tokens", Tensor::from_int64({3}, {7, 8, 9})}};
    call.outputs = {{"y", Tensor::from_floats({2, 2}, {2.0f, -4.0f, 1.0f, 6.0f}, DType::bfloat16)}};
    session.capture(call);
  }
  const std::string root = run(std::string(kH5dump) + " -A -g / " + path);
  EXPECT_THAT(root, HasSubstr("ATTRIBUTE \"ttt_format\""));
  EXPECT_THAT(root, HasSubstr("(0): \"ttt-trace\""));
  EXPECT_THAT(root, HasSubstr("ATTRIBUTE \"ttt_format_version\" {\n      DATATYPE  H5T_STD_I64LE"));
  EXPECT_THAT(root, HasSubstr("GROUP \"000000\""));
  EXPECT_THAT(root, HasSubstr("(0): \"layers.0.scale\""));

  const std::string y = run(std::string(kH5dump) + " -d /calls/000000/outputs/y " + path);
  EXPECT_THAT(y, HasSubstr("DATATYPE  H5T_IEEE_F32LE"));
  EXPECT_THAT(y, HasSubstr("DATASPACE  SIMPLE { ( 2, 2 ) / ( 2, 2 ) }"));
  EXPECT_THAT(y, HasSubstr("(0,0): 2, -4,"));
  EXPECT_THAT(y, HasSubstr("(1,0): 1, 6"));
  EXPECT_THAT(y, HasSubstr("(0): \"bfloat16\""));
  const std::string tokens = run(std::string(kH5dump) + " -d /calls/000000/inputs/tokens " + path);
  EXPECT_THAT(tokens, HasSubstr("DATATYPE  H5T_STD_I64LE"));
  EXPECT_THAT(tokens, HasSubstr("(0): 7, 8, 9"));
}

}  // namespace
}  // namespace ttt

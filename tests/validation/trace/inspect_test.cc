// Trace summaries and call details (what `ttt inspect` prints).
#include "validation/trace/inspect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "tests/validation/trace/trace_test_util.h"
#include "validation/trace/capture.h"

namespace ttt {
namespace {

using test_support::ScratchDir;
using ::testing::HasSubstr;
using testing::scale_call;

class Inspect : public ::testing::Test {
 protected:
  void SetUp() override {
    TraceSession session(path_);
    session.register_shared_tensor("w", weight_);
    for (int step = 0; step < 2; ++step) {
      CapturedCall call = scale_call("layers.0.scale", step, {2, 4}, 2.0f);
      call.inputs.push_back({"w", weight_});
      session.capture(call);
    }
    CapturedCall failing = scale_call("layers.1.scale", 5, {2, 4}, 1.0f);
    failing.verdict = "fail";
    session.capture(failing);
    CapturedCall plain;
    plain.name = "embedding";
    plain.inputs = {
        {"v", Tensor::from_floats({4}, {1.0f, -3.0f, std::numeric_limits<float>::quiet_NaN(),
                                        std::numeric_limits<float>::infinity()})}};
    session.capture(plain);
  }
  ScratchDir dir_;
  std::string path_ = dir_.file("t.h5");
  Tensor weight_ = Tensor::from_floats({2, 2}, {1, 2, 3, 4});
};

TEST_F(Inspect, SummaryCountsNamesBlocksVerdictsSharedTensorsAndBytes) {
  const TraceSummary summary = summarize_trace(TraceReader::open(path_));
  EXPECT_EQ(summary.calls, 4);
  ASSERT_EQ(summary.names.size(), 3u);
  EXPECT_EQ(summary.names[0].name, "layers.0.scale");
  EXPECT_EQ(summary.names[0].calls, 2);
  EXPECT_EQ(summary.names[0].block, "ttt.scale");
  EXPECT_EQ(summary.names[0].verdicts.at("pass"), 2);
  // x, y and the reference y of 2x4 float32 per call; the shared weight is not counted here.
  EXPECT_EQ(summary.names[0].tensor_bytes, 2 * 3 * 8 * 4);
  EXPECT_EQ(summary.names[2].name, "embedding");
  EXPECT_EQ(summary.blocks.at("ttt.scale"), 3);
  EXPECT_EQ(summary.blocks.at(""), 1);
  EXPECT_EQ(summary.verdicts.at("fail"), 1);
  EXPECT_EQ(summary.verdicts.at("unchecked"), 1);
  ASSERT_EQ(summary.shared_tensors.size(), 1u);
  EXPECT_EQ(summary.shared_tensors[0].links, 2);
  EXPECT_EQ(summary.shared_bytes, 16);
  EXPECT_EQ(summary.call_bytes, 3 * 3 * 8 * 4 + 16);
  EXPECT_GT(summary.file_bytes, summary.call_bytes);
  const std::string text = format_trace_summary(summary);
  EXPECT_THAT(text, HasSubstr("4 calls, 3 names, 1 shared tensors"));
  EXPECT_THAT(text, HasSubstr("/tensors/w [2, 2] float32, 16 B, used by 2 calls"));
  const nlohmann::json json = to_json(summary);
  EXPECT_EQ(json.at("calls"), 4);
  EXPECT_EQ(json.at("names").at(1).at("verdicts").at("fail"), 1);
  EXPECT_EQ(json.at("shared_tensors").at(0).at("links"), 2);
  EXPECT_EQ(json.at("format_version"), 1);
}

TEST_F(Inspect, CallDetailsHaveStatisticsOfEveryTensor) {
  const TraceReader trace = TraceReader::open(path_);
  const CallDetails details = describe_call(trace, 3);
  ASSERT_EQ(details.inputs.size(), 1u);
  const TensorStatistics& v = details.inputs[0];
  EXPECT_EQ(v.min, -3.0);
  EXPECT_EQ(v.max, 1.0);
  EXPECT_EQ(v.mean, -1.0);
  EXPECT_EQ(v.nan, 1);
  EXPECT_EQ(v.inf, 1);
  const nlohmann::json json = to_json(describe_call(trace, 0));
  EXPECT_EQ(json.at("name"), "layers.0.scale");
  EXPECT_EQ(json.at("inputs").at(0).at("name"), "w");
  EXPECT_EQ(json.at("inputs").at(0).at("shared_key"), "w");
  EXPECT_EQ(json.at("inputs").at(0).at("max"), 4.0);
  EXPECT_EQ(json.at("inputs").at(0).at("mean"), 2.5);
  EXPECT_EQ(json.at("outputs").at(0).at("dtype"), "bfloat16");
  EXPECT_EQ(json.at("reference").at(0).at("shape"), (Shape{2, 4}));
  const std::string text = format_call_details(describe_call(trace, 3));
  EXPECT_THAT(text, HasSubstr("call 3 (/calls/000003): embedding"));
  EXPECT_THAT(text, HasSubstr("nan 1  inf 1"));
  EXPECT_THAT(text, HasSubstr("reference_ns -1 (the reference did not run)"));
}

}  // namespace
}  // namespace ttt

// The trace tools/make_interop_trace.py wrote with h5py alone (tests/data/interop_trace.h5): our
// reader reads it and replay re-runs it. Every expected value here is either written literally
// in the script or was computed by numpy into the file; none comes from the code under test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "validation/trace/replay.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

const std::string kInterop = std::string(TTT_TEST_DATA_DIR) + "/interop_trace.h5";

TEST(InteropTrace, HeaderAndCallsReadAsWritten) {
  const TraceReader trace = TraceReader::open(kInterop);
  EXPECT_EQ(trace.header().format, "ttt-trace");
  EXPECT_EQ(trace.header().format_version, 1);
  EXPECT_THAT(trace.header().producer, StartsWith("tools/make_interop_trace.py (h5py "));
  EXPECT_EQ(trace.header().created_utc, "2024-06-01T12:00:00Z");
  EXPECT_EQ(trace.header().meta_json, R"({"model": "interop", "writer": "h5py"})");
  EXPECT_THAT(trace.sequence_numbers(), ElementsAre(0, 1, 2, 3, 4));

  const TraceCall first = trace.call(0);
  EXPECT_EQ(first.name, "model.scale.000000");
  EXPECT_EQ(first.block, "ttt.scale");
  EXPECT_EQ(first.spec_json, R"({"shape": [2, 3]})");
  EXPECT_EQ(first.device, "N150");
  EXPECT_EQ(first.device_ns, 1234);
  EXPECT_EQ(first.reference_ns, 5678);
  EXPECT_EQ(first.verdict, "pass");
  const Tensor x = trace.read(first.inputs.at(0));
  EXPECT_EQ(x.shape(), (Shape{2, 3}));
  const std::vector<float> literal = {1.0f, -2.5f, 3.25f, 0.0f, 4.0f, -0.125f};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(x.floats()[i], literal[i]);

  EXPECT_EQ(trace.call(1).inputs.at(0).dtype, DType::bfloat16);
  EXPECT_EQ(trace.call(1).outputs.at(0).dtype, DType::bfloat16);
}

TEST(InteropTrace, GeneratorNodeMatchesTheNumpyTwin) {
  const TraceReader trace = TraceReader::open(kInterop);
  const TraceCall call = trace.call(2);
  const TraceTensor& x = call.inputs.at(0);
  EXPECT_EQ(x.source, TensorSource::generator);
  EXPECT_EQ(x.stored_type, "splitmix64-normal");
  EXPECT_EQ(x.shape, (Shape{4, 16}));
  EXPECT_EQ(x.stored_bytes, 0);
  // numpy computed reference y = float32(float64(x_twin) * 1.5) from tools/ttt_random.py's draw.
  const Tensor generated = trace.read(x);
  const Tensor reference = trace.read(call.reference_outputs.at(0));
  for (std::int64_t i = 0; i < generated.numel(); ++i) {
    EXPECT_EQ(static_cast<float>(static_cast<double>(generated.floats()[i]) * 1.5),
              reference.floats()[i])
        << i;
  }
}

TEST(InteropTrace, ContainersIntegersFloat64AndDefaults) {
  const TraceReader trace = TraceReader::open(kInterop);
  const TraceCall call = trace.call(3);
  EXPECT_EQ(call.block, "");
  EXPECT_EQ(call.spec_json, "{}");
  EXPECT_EQ(call.reference_ns, -1);
  EXPECT_EQ(call.verdict, "unchecked");
  std::vector<std::string> names;
  for (const TraceTensor& tensor : call.inputs) names.push_back(tensor.name);
  EXPECT_THAT(names, ElementsAre("kv/0", "kv/1", "position", "tokens", "wide"));
  const Tensor tokens = trace.read(call.inputs[3]);
  EXPECT_EQ(tokens.dtype(), DType::int64);
  EXPECT_EQ(tokens.data<std::int64_t>()[2], std::int64_t{1} << 40);
  const Tensor position = trace.read(call.inputs[2]);
  EXPECT_EQ(position.dtype(), DType::int32);
  EXPECT_EQ(position.rank(), 0);
  EXPECT_EQ(position.data<std::int32_t>()[0], 7);
  // A float64 dataset without ttt_dtype (h5py's default) loads as float64, exactly.
  const Tensor wide = trace.read(call.inputs[4]);
  EXPECT_EQ(call.inputs[4].stored_type, "float64");
  EXPECT_EQ(wide.dtype(), DType::float64);
  EXPECT_EQ(wide.doubles()[0], 0.1);
  EXPECT_EQ(wide.doubles()[1], 1e300);
  EXPECT_EQ(wide.doubles()[2], -2.0);
  EXPECT_EQ(trace.read(call.inputs[1]).floats()[3], 0.5f);

  const TraceCall minimal = trace.call(4);
  EXPECT_EQ(minimal.device, "");
  EXPECT_EQ(minimal.device_ns, 0);
  EXPECT_EQ(minimal.metrics_json, "{}");
  EXPECT_EQ(minimal.inputs.at(0).shared_key, "x_shared");
  const std::vector<SharedTensor> shared = trace.shared_tensors();
  ASSERT_EQ(shared.size(), 1u);
  EXPECT_EQ(shared[0].links, 1);
}

TEST(InteropTrace, ReplaysEveryScaleCallExactly) {
  const TraceReader trace = TraceReader::open(kInterop);
  const ReplayReport report = replay_trace(trace);
  EXPECT_EQ(report.summary.total, 5);
  EXPECT_EQ(report.summary.passed, 4);
  EXPECT_EQ(report.summary.skipped, 1);
  EXPECT_EQ(report.summary.failed, 0);
  EXPECT_EQ(report.calls[3].status, ReplayStatus::skipped);
  for (const ReplayedCall& call : report.calls) {
    if (call.status != ReplayStatus::pass) continue;
    ASSERT_EQ(call.comparisons.size(), 3u) << call.seq;
    EXPECT_EQ(call.comparisons[0].against, "reference_now");
    EXPECT_EQ(call.comparisons[1].against, "captured_device");
    EXPECT_EQ(call.comparisons[2].against, "captured_reference");
    // numpy's float32 multiply and bfloat16 rounding are the device numerics exactly.
    EXPECT_EQ(call.comparisons[1].metrics.max_abs_error, 0.0) << call.seq;
    // The reference is float64 math in numpy and in C++: against the captured reference the
    // device-now output errs exactly as much as against the reference run now.
    EXPECT_EQ(call.comparisons[2].metrics.max_abs_error, call.comparisons[0].metrics.max_abs_error)
        << call.seq;
    EXPECT_EQ(call.comparisons[2].metrics.rmse, call.comparisons[0].metrics.rmse) << call.seq;
  }
  ReplayOptions strict;
  strict.strict = true;
  const ReplayReport strict_report = replay_trace(trace, strict);
  EXPECT_EQ(strict_report.summary.failed, 1);
  EXPECT_EQ(strict_report.summary.first_failure_seq, 3);
}

}  // namespace
}  // namespace ttt

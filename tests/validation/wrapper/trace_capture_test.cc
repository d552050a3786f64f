// Wrapped calls captured into an HDF5 trace (the wrapper <-> trace contract), read back with
// TraceReader: validated calls, calls passed through with validation off, sampled-out calls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/validation/wrapper/wrapper_state.h"
#include "validation/trace/capture.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/compare_to_reference.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> names_of(const std::vector<TraceTensor>& tensors) {
  std::vector<std::string> names;
  for (const TraceTensor& t : tensors) names.push_back(t.name);
  return names;
}

// Appends x to the cache in place (element 0 accumulates), as a decode step updates a KV cache.
Tensor decode_step(Tensor& cache, const std::vector<Tensor>& extra, std::int32_t position) {
  cache.mutable_floats()[0] += extra[0].floats()[0] + static_cast<float>(position);
  return cache.clone();
}

class TraceCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override { reset_wrapper_state(); }
  void TearDown() override {
    set_validation_enabled(true);
    set_validation_sampling({});
  }

  test_support::ScratchDir scratch_;
  const std::string path_ = scratch_.file("capture.h5");
};

TEST_F(TraceCaptureTest, ValidatedCallsAreCapturedWithInputsBeforeTheCall) {
  {
    ScopedTrace trace(path_);
    auto step = compare_to_reference(
        "layers.0.decode", decode_step,
        [](Tensor& cache, const std::vector<Tensor>& extra, std::int32_t position) {
          Tensor updated = cache.clone();
          updated.mutable_floats()[0] += extra[0].floats()[0] + static_cast<float>(position);
          return updated;
        },
        {.input_names = {"cache", "extra", "position"},
         .output_names = {"out"},
         .block = "toy.decode",
         .spec_json = R"({"dim":2})",
         .device = "N150"});
    Tensor cache = Tensor::from_floats({2}, {10, 20});
    step(cache, {Tensor::from_floats({1}, {1})}, 3);
    step(cache, {Tensor::from_floats({1}, {1})}, 4);
    EXPECT_EQ(cache.floats()[0], 19.0f);
    EXPECT_EQ(trace.session().calls_written(), 2);
  }
  const TraceReader reader = TraceReader::open(path_);
  ASSERT_THAT(reader.sequence_numbers(), ElementsAre(0, 1));
  const TraceCall first = reader.call(0);
  EXPECT_EQ(first.name, "layers.0.decode");
  EXPECT_EQ(first.block, "toy.decode");
  EXPECT_EQ(nlohmann::json::parse(first.spec_json), nlohmann::json::parse(R"({"dim":2})"));
  EXPECT_EQ(first.device, "N150");
  EXPECT_EQ(first.verdict, "pass");
  EXPECT_EQ(nlohmann::json::parse(first.scalars_json), nlohmann::json({{"position", 3}}));
  EXPECT_GE(first.reference_ns, 0);
  EXPECT_THAT(names_of(first.inputs), ElementsAre("cache", "extra/0"));
  EXPECT_THAT(names_of(first.outputs), ElementsAre("out"));
  EXPECT_THAT(names_of(first.reference_outputs), ElementsAre("out"));
  // The cache as it was before the device updated it in place.
  EXPECT_EQ(reader.read(first.inputs[0]).at_flat(0), 10.0);
  EXPECT_EQ(reader.read(first.outputs[0]).at_flat(0), 14.0);
  EXPECT_EQ(reader.read(first.reference_outputs[0]).at_flat(0), 14.0);
  const nlohmann::json metrics = nlohmann::json::parse(first.metrics_json);
  EXPECT_EQ(metrics["outputs"][0]["name"], "out");
  EXPECT_EQ(metrics["outputs"][0]["passed"], true);
  EXPECT_EQ(metrics["outputs"][0]["metrics"]["max_abs_error"], 0.0);
  EXPECT_TRUE(metrics["errors"].empty());
  EXPECT_EQ(reader.read(reader.call(1).inputs[0]).at_flat(0), 14.0);
}

TEST_F(TraceCaptureTest, FailedCallsAreCapturedAsFail) {
  {
    ScopedTrace trace(path_);
    auto f = compare_to_reference(
        "bad", [](const Tensor& x) { return x; },
        [](const Tensor& x) {
          return x.reshape({1, x.numel()});
        });
    f(Tensor::from_floats({2}, {1, 2}));
  }
  const TraceCall call = TraceReader::open(path_).call(0);
  EXPECT_EQ(call.verdict, "fail");
  const nlohmann::json metrics = nlohmann::json::parse(call.metrics_json);
  EXPECT_TRUE(metrics["outputs"][0]["metrics"].is_null());
  EXPECT_EQ(metrics["outputs"][0]["passed"], false);
}

TEST_F(TraceCaptureTest, WithValidationOffCallsAreStillCapturedUnchecked) {
  std::atomic<int> reference_calls = 0;
  {
    ScopedTrace trace(path_);
    auto f = compare_to_reference(
        "passthrough",
        [](const Tensor& x, double) {
          return x.reshape({x.numel(), 1});
        },
        [&](const Tensor& x, double) {
          ++reference_calls;
          return x;
        });
    set_validation_enabled(false);
    const Tensor out = f(Tensor::from_floats({3}, {1, 2, 3}), 0.5);
    EXPECT_EQ(out.shape(), (Shape{3, 1}));
  }
  EXPECT_EQ(reference_calls, 0);
  EXPECT_EQ(validation_registry().size(), 0u);
  const TraceCall call = TraceReader::open(path_).call(0);
  EXPECT_EQ(call.verdict, "unchecked");
  EXPECT_EQ(call.reference_ns, -1);
  EXPECT_EQ(call.metrics_json, "{}");
  EXPECT_EQ(nlohmann::json::parse(call.scalars_json), nlohmann::json({{"arg1", 0.5}}));
  EXPECT_THAT(names_of(call.inputs), ElementsAre("arg0"));
  EXPECT_THAT(names_of(call.outputs), ElementsAre("out0"));
  EXPECT_THAT(call.reference_outputs, IsEmpty());
}

TEST_F(TraceCaptureTest, SampledOutCallsAreCapturedUnchecked) {
  {
    ScopedTrace trace(path_);
    auto f = compare_to_reference(
        "sampled", [](const Tensor& x) { return x; }, [](const Tensor& x) { return x; },
        {.sample_every = 2});
    for (int i = 0; i < 3; ++i) f(Tensor::from_floats({1}, {1}));
  }
  const TraceReader reader = TraceReader::open(path_);
  ASSERT_THAT(reader.sequence_numbers(), ElementsAre(0, 1, 2));
  EXPECT_EQ(reader.call(0).verdict, "pass");
  EXPECT_EQ(reader.call(1).verdict, "unchecked");
  EXPECT_EQ(reader.call(2).verdict, "pass");
  EXPECT_EQ(validation_registry().size(), 2u);
}

TEST_F(TraceCaptureTest, SessionOptionsDecideWhatIsCaptured) {
  TraceOptions options;
  options.name_filter = "kept.*";
  options.capture_reference = false;
  {
    ScopedTrace trace(path_, options);
    auto kept = compare_to_reference(
        "kept.a", [](const Tensor& x) { return x; }, [](const Tensor& x) { return x; });
    auto dropped = compare_to_reference(
        "dropped.b", [](const Tensor& x) { return x; }, [](const Tensor& x) { return x; });
    kept(Tensor::from_floats({1}, {1}));
    dropped(Tensor::from_floats({1}, {1}));
  }
  const TraceReader reader = TraceReader::open(path_);
  ASSERT_THAT(reader.sequence_numbers(), ElementsAre(0));
  const TraceCall call = reader.call(0);
  EXPECT_EQ(call.name, "kept.a");
  EXPECT_EQ(call.verdict, "pass");
  EXPECT_THAT(call.reference_outputs, IsEmpty());
  EXPECT_EQ(validation_registry().size(), 2u);  // Validation does not depend on capture.
}

}  // namespace
}  // namespace ttt

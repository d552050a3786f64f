// Call sinks (call_sink.h) and the untyped core (checked_call.h): what a sink receives, when, and
// the in-place input snapshot of an untyped call.
#include "validation/wrapper/call_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "validation/wrapper/checked_call.h"
#include "validation/wrapper/compare_to_reference.h"
#include "tests/validation/wrapper/wrapper_state.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What a sink saw of one call (copies: CheckedCall refers to the wrapper's data).
struct Seen {
  ValidationRecord record;
  bool validated = false;
  nlohmann::json spec;
  std::vector<NamedTensor> inputs;
  std::vector<NamedTensor> outputs;
};

class RecordingSink : public CallSink {
 public:
  explicit RecordingSink(bool unvalidated = false) : unvalidated_(unvalidated) {}
  bool wants(std::string_view, bool validated) override { return validated || unvalidated_; }
  bool sees_unvalidated_calls() const override { return unvalidated_; }
  void on_call(const CheckedCall& call) override {
    std::lock_guard lock(mutex_);
    seen.push_back({call.record, call.validated, call.spec, call.inputs, call.outputs});
  }
  std::vector<Seen> seen;

 private:
  bool unvalidated_;
  std::mutex mutex_;
};

class ThrowingSink final : public CallSink {
 public:
  bool wants(std::string_view, bool validated) override { return validated; }
  void on_call(const CheckedCall&) override { throw std::runtime_error("broken sink"); }
};

Tensor twice(const Tensor& x) {
  std::vector<float> values;
  for (float value : x.floats()) values.push_back(2.0f * value);
  return Tensor::from_floats(x.shape(), std::move(values));
}

class CallSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_wrapper_state();
  }
  void TearDown() override { set_validation_enabled(true); }
};

TEST_F(CallSinkTest, ReceivesValidatedCallsWithRecordTensorsAndSpecObject) {
  auto sink = std::make_shared<RecordingSink>();
  const ScopedCallSink scope(sink);
  auto wrapped = compare_to_reference("sink.twice", twice, twice,
                                      {.input_names = {"x"}, .spec_json = R"({"dim": 3})"});
  const Tensor y = wrapped(Tensor::from_floats({3}, {1.0f, 2.0f, 3.0f}));
  EXPECT_THAT(y.floats(), ElementsAre(2.0f, 4.0f, 6.0f));
  ASSERT_EQ(sink->seen.size(), 1u);
  const Seen& seen = sink->seen[0];
  EXPECT_TRUE(seen.validated);
  EXPECT_EQ(seen.record.name, "sink.twice");
  EXPECT_TRUE(seen.record.passed);
  EXPECT_EQ(seen.spec, nlohmann::json({{"dim", 3}}));  // An object, not text.
  // The sink sees the number the registry stored.
  EXPECT_EQ(seen.record.sequence, validation_registry().records().at(0).sequence);
  ASSERT_EQ(seen.inputs.size(), 1u);
  EXPECT_EQ(seen.inputs[0].name, "x");
  EXPECT_THAT(seen.inputs[0].tensor.floats(), ElementsAre(1.0f, 2.0f, 3.0f));
  ASSERT_EQ(seen.outputs.size(), 1u);
  EXPECT_EQ(seen.outputs[0].name, "out0");
  EXPECT_THAT(seen.outputs[0].tensor.floats(), ElementsAre(2.0f, 4.0f, 6.0f));
}

TEST_F(CallSinkTest, OnlySinksThatAskSeeUnvalidatedCalls) {
  auto validated_only = std::make_shared<RecordingSink>(false);
  auto every_call = std::make_shared<RecordingSink>(true);
  const ScopedCallSink first(validated_only);
  const ScopedCallSink second(every_call);
  auto wrapped = compare_to_reference("sink.off", twice, twice);
  set_validation_enabled(false);
  wrapped(Tensor::from_floats({1}, {5.0f}));
  EXPECT_TRUE(validated_only->seen.empty());
  ASSERT_EQ(every_call->seen.size(), 1u);
  EXPECT_FALSE(every_call->seen[0].validated);
  EXPECT_TRUE(every_call->seen[0].record.outputs.empty());  // Not compared.
  EXPECT_THAT(every_call->seen[0].outputs[0].tensor.floats(), ElementsAre(10.0f));
  EXPECT_EQ(validation_registry().size(), 0u);
}

TEST_F(CallSinkTest, RemovedSinksAndBrokenSinksDoNotStopCalls) {
  auto sink = std::make_shared<RecordingSink>();
  const ScopedCallSink broken(std::make_shared<ThrowingSink>());
  const std::int64_t id = add_call_sink(sink);
  auto wrapped = compare_to_reference("sink.removed", twice, twice);
  wrapped(Tensor::from_floats({1}, {1.0f}));
  remove_call_sink(id);
  wrapped(Tensor::from_floats({1}, {1.0f}));
  EXPECT_EQ(sink->seen.size(), 1u);
  EXPECT_EQ(validation_registry().size(), 2u);  // The registry, a sink too, saw both.
  EXPECT_THROW(add_call_sink(nullptr), std::invalid_argument);
}

// The device writes y into the cache it is given; the reference adds the cache as it was before
// the call (zeros) to 2x. Without the snapshot it would see y and return 4x.
TEST_F(CallSinkTest, UntypedCallSnapshotsInPlaceInputsByName) {
  auto sink = std::make_shared<RecordingSink>();
  const ScopedCallSink scope(sink);
  const auto description = describe_call("untyped.step", {.output_names = {"y"}});
  Tensor cache = Tensor::from_floats({3}, {0.0f, 0.0f, 0.0f});
  UntypedCall call{.inputs = {.tensors = {{"x", Tensor::from_floats({3}, {1.0f, 2.0f, 3.0f})},
                                          {"cache", cache}},
                              .scalars = {{"slot", ScalarValue(std::int64_t{4})}},
                              .updated_in_place = {"cache"}}};
  Tensor y;
  Tensor expected;
  call.device = {[&](const CallInputs& in) {
                   y = twice(in.tensor("x"));
                   Tensor target = in.tensor("cache");
                   for (std::size_t i = 0; i < 3; ++i) target.mutable_floats()[i] = y.floats()[i];
                 },
                 [&] { return std::vector<NamedTensor>{{"y", y}}; }};
  call.reference = {[&](const CallInputs& in) {
                      std::vector<float> values;
                      const Tensor doubled = twice(in.tensor("x"));
                      for (std::size_t i = 0; i < 3; ++i) {
                        values.push_back(doubled.floats()[i] + in.tensor("cache").floats()[i]);
                      }
                      EXPECT_EQ(in.integer("slot"), 4);
                      expected = Tensor::from_floats({3}, std::move(values));
                    },
                    [&] { return std::vector<NamedTensor>{{"y", expected}}; }};
  const ValidationRecord record = run_checked_call(*description, call);
  EXPECT_TRUE(record.passed) << record.verdict_text();
  EXPECT_THAT(cache.floats(), ElementsAre(2.0f, 4.0f, 6.0f));  // The device's update stays.
  ASSERT_EQ(sink->seen.size(), 1u);
  ASSERT_EQ(sink->seen[0].inputs.size(), 2u);
  EXPECT_EQ(sink->seen[0].inputs[1].name, "cache");
  EXPECT_THAT(sink->seen[0].inputs[1].tensor.floats(), ElementsAre(0.0f, 0.0f, 0.0f));
  EXPECT_EQ(record.scalars.at(0).name, "slot");
}

TEST_F(CallSinkTest, CallInputsNameWhatIsMissing) {
  const CallInputs inputs{.tensors = {{"w/0", Tensor::scalar(1.0f)}, {"w/1", Tensor::scalar(2.0f)}},
                          .scalars = {{"scale", ScalarValue(0.5)}}};
  EXPECT_EQ(inputs.list("w").size(), 2u);
  EXPECT_TRUE(inputs.list("v").empty());
  try {
    inputs.tensor("x");
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("no tensor input \"x\""));
  }
  try {
    inputs.integer("scale");
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("scalar input \"scale\" is not an integer"));
  }
  EXPECT_THROW(inputs.integer("slot"), std::invalid_argument);
}

}  // namespace
}  // namespace ttt

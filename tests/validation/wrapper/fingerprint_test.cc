// Fingerprints through the wrapper: CompareOptions::fingerprint reaches the call's record, its
// JSON report (and back) and the trace; UntypedCall::fingerprint overrides it per call; a call
// without one carries none (and its report JSON has no "fingerprint" key).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/validation/wrapper/wrapper_state.h"
#include "validation/trace/capture.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/compare_to_reference.h"
#include "validation/wrapper/report.h"

namespace ttt {
namespace {

Tensor twice(const Tensor& x) {
  Tensor y = x.clone();
  for (float& value : y.mutable_floats()) value *= 2.0f;
  return y;
}

const Fingerprint kOptions{"0123456789abcdef", "toy decode | TOY() | batch<=1 tokens<=1 | 1x1"};
const Fingerprint kPerCall{"fedcba9876543210", "toy decode | TOY() | batch<=2 tokens<=1 | 1x1"};

class WrapperFingerprint : public ::testing::Test {
 protected:
  void SetUp() override { reset_wrapper_state(); }
  test_support::ScratchDir scratch_;
};

TEST_F(WrapperFingerprint, OptionsReachRecordReportAndTrace) {
  const std::string path = scratch_.file("fp.h5");
  {
    ScopedTrace trace(path);
    auto with = compare_to_reference("with.decode", twice, twice,
                                     {.block = "toy.decode", .fingerprint = kOptions});
    auto without = compare_to_reference("without.decode", twice, twice);
    with(Tensor::from_floats({2}, {1.0f, 2.0f}));
    without(Tensor::from_floats({2}, {1.0f, 2.0f}));
  }
  const auto records = validation_registry().records();
  ASSERT_EQ(records.size(), 2u);
  ASSERT_TRUE(records[0].fingerprint.has_value());
  EXPECT_EQ(*records[0].fingerprint, kOptions);
  EXPECT_FALSE(records[1].fingerprint.has_value());

  const nlohmann::json report = report_to_json(records);
  EXPECT_EQ(report.at("records").at(0).at("fingerprint"),
            nlohmann::json({{"id", kOptions.id}, {"summary", kOptions.summary}}));
  EXPECT_FALSE(report.at("records").at(1).contains("fingerprint"));
  const std::vector<ValidationRecord> back = records_from_report_json(report);
  EXPECT_EQ(back.at(0).fingerprint, kOptions);
  EXPECT_FALSE(back.at(1).fingerprint.has_value());

  const TraceReader reader = TraceReader::open(path);
  const std::vector<std::int64_t>& seqs = reader.sequence_numbers();
  ASSERT_EQ(seqs.size(), 2u);
  EXPECT_EQ(reader.call(seqs[0]).fingerprint, kOptions);
  EXPECT_FALSE(reader.call(seqs[1]).fingerprint.has_value());
}

TEST_F(WrapperFingerprint, AnUntypedCallSetsItsOwn) {
  CompareOptions options;
  options.input_names = {"x"};
  options.output_names = {"y"};
  options.fingerprint = kOptions;
  const auto description = describe_call("untyped.decode", options);
  const auto run = [&](std::optional<Fingerprint> fingerprint) {
    Tensor y;
    UntypedCall call{.inputs = {.tensors = {{"x", Tensor::from_floats({1}, {3.0f})}}}};
    call.device = {[&](const CallInputs& in) { y = twice(in.tensor("x")); },
                   [&] {
                     return std::vector<NamedTensor>{{"y", y}};
                   }};
    call.reference = call.device;
    call.fingerprint = std::move(fingerprint);
    return run_checked_call(*description, call);
  };
  EXPECT_EQ(run(kPerCall).fingerprint, kPerCall);
  EXPECT_EQ(run(std::nullopt).fingerprint, kOptions);
}

}  // namespace
}  // namespace ttt

// compare_to_reference: results, names, tolerances, teacher forcing, every failure path, sampling,
// switches, source locations and timing.
#include "validation/wrapper/compare_to_reference.h"
#include "tests/validation/wrapper/wrapper_state.h"
#include "tests/validation/wrapper/kv_cache_type.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace model {

// A read-only customization: comparable, but teacher forcing cannot write into it.
struct Frozen {
  ttt::Tensor value;
};

void ttt_visit_tensors(const Frozen& frozen, ttt::TensorVisitor& visit) { visit("", frozen.value); }

// A device layout the wrapper only knows through mappers.
struct DeviceBuffer {
  std::vector<float> values;
  bool unreadable = false;
};

enum class Mode { prefill, decode };

}  // namespace model

namespace ttt {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

Tensor vec(std::vector<float> values, DType dtype = DType::float32) {
  const auto n = static_cast<std::int64_t>(values.size());
  return Tensor::from_floats({n}, std::move(values), dtype);
}

Tensor add(const Tensor& x, float offset) {
  Tensor y = x.clone();
  for (float& v : y.mutable_floats()) v += offset;
  return y;
}

Tensor twice(const Tensor& x) {
  Tensor y = x.clone();
  for (float& v : y.mutable_floats()) v *= 2.0f;
  return y;
}

// Tolerances with only max_abs_error set.
Tolerances max_abs_within(double max_abs_error) {
  Tolerances tolerances;
  tolerances.max_abs_error = max_abs_error;
  return tolerances;
}

std::vector<float> values_of(const Tensor& t) { return {t.floats().begin(), t.floats().end()}; }

std::vector<std::string> output_names(const ValidationRecord& record) {
  std::vector<std::string> names;
  for (const OutputCheck& check : record.outputs) names.push_back(check.name);
  return names;
}

std::vector<std::string> stages(const ValidationRecord& record) {
  std::vector<std::string> names;
  for (const StageFailure& error : record.errors) names.push_back(error.stage);
  return names;
}

ValidationRecord only_record(const std::string& name) {
  const auto records = validation_registry().records({.name_filter = name});
  if (records.size() != 1) {
    throw std::runtime_error(name + ": expected one record, got " + std::to_string(records.size()));
  }
  return records.front();
}

class CompareToReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_wrapper_state();
  }
  void TearDown() override { SetUp(); }
};

TEST_F(CompareToReferenceTest, PassingCallReturnsTheDeviceOutputAndRecordsIt) {
  Tensor device_result;
  auto scale = compare_to_reference(
      "scale",
      [&](const Tensor& x) {
        device_result = twice(x);
        return device_result;
      },
      [](const Tensor& x) { return twice(x); }, {.input_names = {"x"}, .output_names = {"y"}});
  const Tensor out = scale(vec({1, 2, 3}));
  EXPECT_EQ(out.storage_id(), device_result.storage_id());
  EXPECT_EQ(values_of(out), (std::vector<float>{2, 4, 6}));

  const ValidationRecord record = only_record("scale");
  EXPECT_TRUE(record.passed);
  EXPECT_EQ(record.verdict_text(), "pass");
  EXPECT_EQ(record.call_index, 0);
  EXPECT_TRUE(record.first_call);
  ASSERT_THAT(record.inputs, SizeIs(1));
  EXPECT_EQ(record.inputs[0].name, "x");
  EXPECT_EQ(record.inputs[0].shape, (Shape{3}));
  EXPECT_EQ(record.inputs[0].dtype, DType::float32);
  ASSERT_THAT(record.outputs, SizeIs(1));
  EXPECT_EQ(record.outputs[0].name, "y");
  ASSERT_TRUE(record.outputs[0].metrics.has_value());
  EXPECT_EQ(record.outputs[0].metrics->pcc, 1.0);
  EXPECT_EQ(record.outputs[0].metrics->max_abs_error, 0.0);
  EXPECT_FALSE(record.outputs[0].metrics->quantiles.has_value());
  EXPECT_FALSE(record.outputs[0].metrics->histogram.has_value());
  // No tolerances given: default_tolerances(float32, float32), nmse <= 2^-32 only.
  EXPECT_EQ(record.outputs[0].tolerances.nmse, 0x1p-32);
  EXPECT_FALSE(record.outputs[0].tolerances.pcc.has_value());
  EXPECT_FALSE(record.outputs[0].tolerances.max_abs_error.has_value());
  EXPECT_GE(record.device_ns, 0);
  EXPECT_GE(record.reference_ns, 0);
  EXPECT_FALSE(record.teacher_forced);
}

// Unset tolerances follow each output's dtypes: a bfloat16 device output rounded once from the
// float32 reference passes bfloat16's default (nmse <= 2^-12) where float32's would fail, and an
// int64 output must be equal.
TEST_F(CompareToReferenceTest, TheDefaultFollowsEachOutputsDtype) {
  auto f = compare_to_reference(
      "rounded",
      [](const Tensor& x) { return std::make_tuple(x.to(DType::bfloat16), Tensor::from_int64({1}, {8})); },
      [](const Tensor& x) { return std::make_tuple(x, Tensor::from_int64({1}, {7})); });
  f(vec({1.001f, 2.002f, -3.003f}));
  const ValidationRecord record = only_record("rounded");
  ASSERT_THAT(record.outputs, SizeIs(2));
  EXPECT_EQ(record.outputs[0].tolerances.nmse, 0x1p-12);
  EXPECT_TRUE(record.outputs[0].verdict.passed) << record.verdict_text();
  EXPECT_EQ(record.outputs[1].tolerances.max_abs_error, 0.0);
  EXPECT_THAT(record.failure_lines(), ElementsAre("out1: max_abs_error 1 > 0 at [0]"));
}

TEST_F(CompareToReferenceTest, DefaultNamesAreArgAndOut) {
  auto f = compare_to_reference(
      "defaults", [](const Tensor& a, const Tensor& b) { return std::make_tuple(a, b); },
      [](const Tensor& a, const Tensor& b) { return std::make_tuple(a, b); });
  f(vec({1}), vec({2}));
  const ValidationRecord record = only_record("defaults");
  ASSERT_THAT(record.inputs, SizeIs(2));
  EXPECT_EQ(record.inputs[0].name, "arg0");
  EXPECT_EQ(record.inputs[1].name, "arg1");
  EXPECT_THAT(output_names(record), ElementsAre("out0", "out1"));
}

TEST_F(CompareToReferenceTest, FailingCallRecordsTheMetricAndThreshold) {
  auto f = compare_to_reference(
      "offset", [](const Tensor& x) { return add(x, 0.5f); }, [](const Tensor& x) { return x; });
  const Tensor out = f(vec({1, 2, 3, 4}));
  EXPECT_EQ(values_of(out), (std::vector<float>{1.5, 2.5, 3.5, 4.5}));
  const ValidationRecord record = only_record("offset");
  EXPECT_FALSE(record.passed);
  ASSERT_THAT(record.outputs, SizeIs(1));
  EXPECT_FALSE(record.outputs[0].verdict.passed);
  EXPECT_DOUBLE_EQ(record.outputs[0].metrics->max_abs_error, 0.5);
  ASSERT_THAT(record.failure_lines(), SizeIs(1));
  // The float32 default: nmse = 4 * 0.5^2 / (1 + 4 + 9 + 16) = 1/30 against 2^-32.
  EXPECT_EQ(record.failure_lines()[0], "out0: nmse 0.03333 > 2.3283064365386963e-10");
  EXPECT_EQ(record.verdict_text(), record.failure_lines()[0]);
}

TEST_F(CompareToReferenceTest, MultipleOutputsHaveTheirOwnTolerances) {
  // out is exact; k_cache is off by 0.05: beyond the callable's max abs 1e-2, within its override.
  auto step = compare_to_reference(
      "step", [](const Tensor& x) { return std::make_pair(twice(x), add(x, 0.05f)); },
      [](const Tensor& x) { return std::make_pair(twice(x), x); },
      {.output_names = {"out", "k_cache"},
       .tolerances = Tolerances::tt_metal_default(),
       .output_tolerances = {{"k_cache", max_abs_within(0.1)}}});
  step(vec({1, 2, 3, 4}));
  const ValidationRecord record = only_record("step");
  EXPECT_TRUE(record.passed) << record.verdict_text();
  ASSERT_THAT(output_names(record), ElementsAre("out", "k_cache"));
  EXPECT_EQ(record.outputs[0].tolerances.max_abs_error, 1e-2);
  EXPECT_EQ(record.outputs[1].tolerances.max_abs_error, 0.1);
  EXPECT_EQ(record.outputs[1].tolerances.pcc, 0.99);  // Merged over the callable's.

  auto strict = compare_to_reference(
      "strict_step", [](const Tensor& x) { return std::make_pair(twice(x), add(x, 0.05f)); },
      [](const Tensor& x) { return std::make_pair(twice(x), x); },
      {.output_names = {"out", "k_cache"}, .tolerances = Tolerances::tt_metal_default()});
  strict(vec({1, 2, 3, 4}));
  const ValidationRecord failed = only_record("strict_step");
  EXPECT_FALSE(failed.passed);
  EXPECT_TRUE(failed.outputs[0].verdict.passed);
  EXPECT_FALSE(failed.outputs[1].verdict.passed);
  ASSERT_THAT(failed.failure_lines(), SizeIs(1));
  EXPECT_THAT(failed.failure_lines()[0], StartsWith("k_cache: max_abs_error"));
}

TEST_F(CompareToReferenceTest, TheLongestToleranceKeyWins) {
  // Every element of k_cache is off by 0.05; "k_cache" allows 0.1, "k_cache/1" only 0.01.
  auto f = compare_to_reference(
      "layered_tolerances",
      [](const Tensor& x) {
        return std::vector<Tensor>{add(x, 0.05f), add(x, 0.05f)};
      },
      [](const Tensor& x) {
        return std::vector<Tensor>{x, x};
      },
      {.output_names = {"k_cache"},
       .tolerances = Tolerances::tt_metal_default(),
       .output_tolerances = {{"k_cache", max_abs_within(0.1)},
                             {"k_cache/1", max_abs_within(0.01)}}});
  f(vec({1, 2}));
  const ValidationRecord record = only_record("layered_tolerances");
  ASSERT_THAT(output_names(record), ElementsAre("k_cache/0", "k_cache/1"));
  EXPECT_TRUE(record.outputs[0].verdict.passed);
  EXPECT_FALSE(record.outputs[1].verdict.passed);
  EXPECT_EQ(record.outputs[1].tolerances.max_abs_error, 0.01);
}

TEST_F(CompareToReferenceTest, MetricsOptionsAreHonoured) {
  MetricsOptions metrics;
  metrics.quantiles = true;
  metrics.histogram = false;
  metrics.atol = 0.75;
  metrics.rtol = 0.0;
  Tolerances allclose;
  allclose.require_allclose = true;
  auto f = compare_to_reference(
      "metrics_options", [](const Tensor& x) { return add(x, 0.5f); },
      [](const Tensor& x) { return x; }, {.tolerances = allclose, .metrics = metrics});
  f(vec({1, 2, 3}));
  const ValidationRecord record = only_record("metrics_options");
  EXPECT_TRUE(record.passed) << record.verdict_text();
  ASSERT_TRUE(record.outputs[0].metrics->quantiles.has_value());
  EXPECT_EQ(record.outputs[0].metrics->quantiles->p50, 0.5);
  EXPECT_EQ(record.outputs[0].metrics->atol, 0.75);
}

TEST_F(CompareToReferenceTest, CallerTolerancesReplaceTheDefault) {
  auto f = compare_to_reference(
      "loose", [](const Tensor& x) { return add(x, 0.5f); }, [](const Tensor& x) { return x; },
      {.tolerances = Tolerances::tt_metal_default().merged(max_abs_within(1.0))});
  f(vec({1, 2, 3}));
  EXPECT_TRUE(only_record("loose").passed);
}

TEST_F(CompareToReferenceTest, InconsistentOptionsThrowNamingTheCallable) {
  const auto identity = [](const Tensor& x) { return x; };
  const auto message = [&](CompareOptions options) -> std::string {
    try {
      compare_to_reference("bad", identity, identity, std::move(options));
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "no error";
  };
  EXPECT_EQ(message({.input_names = {"x", "y"}}),
            "[compare_to_reference] bad: input_names has 2 names, device_fn's arguments: 1");
  EXPECT_EQ(message({.output_names = {"a", "b"}}),
            "[compare_to_reference] bad: output_names has 2 names, device_fn's outputs: 1");
  EXPECT_EQ(message({.input_names = {"a/b"}}),
            "[compare_to_reference] bad: input_names[0] \"a/b\" must be non-empty and contain "
            "no '/'");
  EXPECT_EQ(message({.output_names = {""}}),
            "[compare_to_reference] bad: output_names[0] \"\" must be non-empty and contain no "
            "'/'");
  EXPECT_EQ(message({.output_names = {"y"}, .output_tolerances = {{"z", max_abs_within(1.0)}}}),
            "[compare_to_reference] bad: output_tolerances key \"z\" names no output (outputs: "
            "y)");
  EXPECT_EQ(message({.sample_every = 0}),
            "[compare_to_reference] bad: sample_every must be >= 1, got 0");
  EXPECT_EQ(message({.sample_first = -1}),
            "[compare_to_reference] bad: sample_first must be >= 0, got -1");
  EXPECT_EQ(message({.spec_json = "[1]"}),
            "[compare_to_reference] bad: spec_json is not a JSON object: \"[1]\"");
  EXPECT_EQ(message({.impl_config_json = "{"}),
            "[compare_to_reference] bad: impl_config_json is not a JSON object: \"{\"");
  EXPECT_THROW(compare_to_reference("", identity, identity), std::invalid_argument);
  const auto pair_fn = [](const Tensor& a, const Tensor& b) { return std::make_pair(a, b); };
  EXPECT_THROW(compare_to_reference("dup", pair_fn, pair_fn, {.input_names = {"x", "x"}}),
               std::invalid_argument);
}

TEST_F(CompareToReferenceTest, TeacherForcingFeedsTheReferenceOutputDownstream) {
  std::vector<Tensor> seen_by_second;
  auto first = compare_to_reference(
      "tf.first", [](const Tensor& x) { return add(x, 1.0f); }, [](const Tensor& x) { return x; },
      {.return_reference_output = true});
  auto second = compare_to_reference(
      "tf.second",
      [&](const Tensor& x) {
        seen_by_second.push_back(x);
        return twice(x);
      },
      [](const Tensor& x) { return twice(x); }, {.return_reference_output = true});
  const Tensor out = second(first(vec({1, 2, 3})));
  EXPECT_EQ(values_of(out), (std::vector<float>{2, 4, 6}));
  ASSERT_THAT(seen_by_second, SizeIs(1));
  EXPECT_EQ(values_of(seen_by_second[0]), (std::vector<float>{1, 2, 3}));
  const ValidationRecord first_record = only_record("tf.first");
  EXPECT_FALSE(first_record.passed);
  EXPECT_TRUE(first_record.teacher_forced);
  EXPECT_TRUE(only_record("tf.second").passed);

  // Without teacher forcing the second call sees (and inherits) the first call's error.
  auto plain = compare_to_reference(
      "plain.first", [](const Tensor& x) { return add(x, 1.0f); },
      [](const Tensor& x) { return x; });
  EXPECT_EQ(values_of(plain(vec({1, 2, 3}))), (std::vector<float>{2, 3, 4}));
  EXPECT_FALSE(only_record("plain.first").teacher_forced);
}

TEST_F(CompareToReferenceTest, TeacherForcingConvertsToTheDeviceDtype) {
  // The reference computes in float32; the device output is bfloat16, and so is the forced one.
  auto f = compare_to_reference(
      "tf.dtype", [](const Tensor& x) { return x.to(DType::bfloat16); },
      [](const Tensor& x) { return add(x, 0.001f); }, {.return_reference_output = true});
  const Tensor out = f(vec({1.0f}));
  EXPECT_EQ(out.dtype(), DType::bfloat16);
  EXPECT_EQ(out.at_flat(0), Tensor::from_floats({1}, {1.001f}, DType::bfloat16).at_flat(0));
}

TEST_F(CompareToReferenceTest, TeacherForcingRebuildsContainersAndCustomTypes) {
  auto update = compare_to_reference(
      "tf.cache",
      [](const model::KvCache& cache) {
        return model::KvCache{add(cache.k, 1.0f), add(cache.v, 1.0f), cache.length + 1};
      },
      [](const model::KvCache& cache) {
        return model::KvCache{twice(cache.k), twice(cache.v), cache.length + 1};
      },
      {.input_names = {"cache"}, .output_names = {"cache"}, .return_reference_output = true});
  const model::KvCache out = update(model::KvCache{vec({1, 2}), vec({3, 4}), 7});
  EXPECT_EQ(values_of(out.k), (std::vector<float>{2, 4}));
  EXPECT_EQ(values_of(out.v), (std::vector<float>{6, 8}));
  EXPECT_EQ(out.length, 8);
  const ValidationRecord record = only_record("tf.cache");
  EXPECT_THAT(output_names(record), ElementsAre("cache/k", "cache/v", "cache/length"));
  ASSERT_THAT(record.scalars, SizeIs(1));
  EXPECT_EQ(record.scalars[0].name, "cache/length");
  EXPECT_EQ(std::get<std::int64_t>(record.scalars[0].value), 7);

  auto split = compare_to_reference(
      "tf.vector",
      [](const Tensor& x) {
        return std::vector<Tensor>{add(x, 1.0f), x};
      },
      [](const Tensor& x) {
        return std::vector<Tensor>{x, twice(x)};
      },
      {.return_reference_output = true});
  const std::vector<Tensor> parts = split(vec({5}));
  ASSERT_THAT(parts, SizeIs(2));
  EXPECT_EQ(parts[0].at_flat(0), 5.0);
  EXPECT_EQ(parts[1].at_flat(0), 10.0);
}

TEST_F(CompareToReferenceTest, TeacherForcingThroughAMapper) {
  const auto to_host = [](const model::DeviceBuffer& buffer) {
    return Tensor::from_floats({static_cast<std::int64_t>(buffer.values.size())}, buffer.values);
  };
  auto f = compare_to_reference(
      "tf.mapper", [](const Tensor& x) { return model::DeviceBuffer{values_of(add(x, 1.0f))}; },
      [](const Tensor& x) { return x; }, {.return_reference_output = true},
      mappers().with_output(to_host).with_to_device_output(
          [](const Tensor& t) { return model::DeviceBuffer{values_of(t)}; }));
  const model::DeviceBuffer out = f(vec({1, 2}));
  EXPECT_EQ(out.values, (std::vector<float>{1, 2}));
  EXPECT_TRUE(only_record("tf.mapper").teacher_forced);
}

TEST_F(CompareToReferenceTest, TeacherForcingWithoutAConversionIsRejectedWhenWrapping) {
  static const Tensor kept = vec({1});
  const auto by_reference = [](const Tensor&) -> const Tensor& { return kept; };
  EXPECT_THROW(
      compare_to_reference("tf.impossible", by_reference, [](const Tensor& x) { return x; },
                           {.return_reference_output = true}),
      std::invalid_argument);
  // Without teacher forcing a reference return type is fine.
  auto f = compare_to_reference("by_reference", by_reference, [](const Tensor&) { return kept; });
  EXPECT_EQ(&f(vec({2})), &kept);
  EXPECT_TRUE(only_record("by_reference").passed);
}

TEST_F(CompareToReferenceTest, TeacherForcingFailureIsRecordedAndTheDeviceOutputReturned) {
  auto f = compare_to_reference(
      "tf.readonly", [](const Tensor& x) { return model::Frozen{add(x, 1.0f)}; },
      [](const Tensor& x) { return model::Frozen{x}; }, {.return_reference_output = true});
  const model::Frozen out = f(vec({1}));
  EXPECT_EQ(out.value.at_flat(0), 2.0);
  const ValidationRecord record = only_record("tf.readonly");
  EXPECT_FALSE(record.teacher_forced);
  EXPECT_THAT(stages(record), ElementsAre("teacher_forcing"));
  EXPECT_THAT(record.errors[0].message, HasSubstr("out0 is read-only"));

  auto shapes = compare_to_reference(
      "tf.shape", [](const Tensor& x) { return x; },
      [](const Tensor&) {
        return vec({1, 2, 3});
      },
      {.return_reference_output = true});
  EXPECT_EQ(shapes(vec({4})).at_flat(0), 4.0);
  const ValidationRecord shape_record = only_record("tf.shape");
  EXPECT_THAT(stages(shape_record), ElementsAre("teacher_forcing"));
  EXPECT_EQ(shape_record.errors[0].message,
            "[teacher forcing] out0: reference shape [3] differs from device shape [1]");
}

TEST_F(CompareToReferenceTest, ReferenceThatThrowsIsAFailedPseudoMetric) {
  auto f = compare_to_reference(
      "throwing_reference", [](const Tensor& x) { return twice(x); },
      [](const Tensor&) -> Tensor { throw std::out_of_range("index 9 out of range"); });
  EXPECT_EQ(values_of(f(vec({1}))), (std::vector<float>{2}));
  const ValidationRecord record = only_record("throwing_reference");
  EXPECT_FALSE(record.passed);
  EXPECT_THAT(record.outputs, IsEmpty());
  EXPECT_THAT(record.failure_lines(), ElementsAre("reference: threw: index 9 out of range"));
  EXPECT_GE(record.reference_ns, 0);
}

TEST_F(CompareToReferenceTest, InputMappingFailureSkipsTheReference) {
  std::atomic<int> reference_calls = 0;
  auto f = compare_to_reference(
      "bad_input_mapping", [](const model::DeviceBuffer& b) { return vec(b.values); },
      [&](const Tensor& x) {
        ++reference_calls;
        return x;
      },
      {}, mappers().with_input([](const model::DeviceBuffer& b) -> Tensor {
        if (b.unreadable) throw std::runtime_error("buffer is not readable");
        return vec(b.values);
      }));
  EXPECT_EQ(values_of(f(model::DeviceBuffer{{3}, true})), (std::vector<float>{3}));
  const ValidationRecord record = only_record("bad_input_mapping");
  EXPECT_THAT(record.failure_lines(), ElementsAre("input_mapping: buffer is not readable"));
  EXPECT_EQ(record.reference_ns, -1);
  EXPECT_EQ(reference_calls, 0);

  // A mapped argument reaches the reference converted.
  f(model::DeviceBuffer{{4, 5}, false});
  EXPECT_EQ(reference_calls, 1);
  const auto records = validation_registry().records({.name_filter = "bad_input_mapping"});
  ASSERT_THAT(records, SizeIs(2));
  EXPECT_TRUE(records[1].passed);
  EXPECT_EQ(records[1].inputs[0].shape, (Shape{2}));
}

TEST_F(CompareToReferenceTest, OutputMappingFailuresAreRecordedPerSide) {
  const auto to_host = [](const model::DeviceBuffer& b) {
    if (b.unreadable) throw std::runtime_error("cannot read buffer back");
    return vec(b.values);
  };
  auto device_side = compare_to_reference(
      "bad_output_mapping",
      [](const Tensor& x) {
        return model::DeviceBuffer{values_of(x), true};
      },
      [](const Tensor& x) {
        return model::DeviceBuffer{values_of(x), false};
      },
      {}, mappers().with_output(to_host));
  EXPECT_TRUE(device_side(vec({1})).unreadable);  // The device output comes back untouched.
  const ValidationRecord device_record = only_record("bad_output_mapping");
  EXPECT_THAT(device_record.failure_lines(),
              ElementsAre("output_mapping: cannot read buffer back"));
  EXPECT_THAT(device_record.outputs, IsEmpty());

  auto reference_side = compare_to_reference(
      "bad_reference_output_mapping",
      [](const Tensor& x) {
        return model::DeviceBuffer{values_of(x), false};
      },
      [](const Tensor& x) {
        return model::DeviceBuffer{values_of(x), true};
      },
      {}, mappers().with_output(to_host));
  reference_side(vec({1}));
  EXPECT_THAT(only_record("bad_reference_output_mapping").failure_lines(),
              ElementsAre("reference_output_mapping: cannot read buffer back"));
}

TEST_F(CompareToReferenceTest, ShapeMismatchIsAFailedMetricNotACrash) {
  auto f = compare_to_reference(
      "shape_mismatch", [](const Tensor& x) { return x; },
      [](const Tensor& x) {
        return x.reshape({1, x.numel()});
      });
  EXPECT_EQ(values_of(f(vec({1, 2}))), (std::vector<float>{1, 2}));
  const ValidationRecord record = only_record("shape_mismatch");
  EXPECT_FALSE(record.passed);
  ASSERT_THAT(record.outputs, SizeIs(1));
  EXPECT_FALSE(record.outputs[0].metrics.has_value());
  ASSERT_THAT(record.failure_lines(), SizeIs(1));
  EXPECT_THAT(record.failure_lines()[0], StartsWith("out0: metrics: [compute_metrics] shapes"));
}

TEST_F(CompareToReferenceTest, OutputsPresentOnOneSideOnlyFail) {
  auto f = compare_to_reference(
      "structure",
      [](const Tensor& x) {
        return std::vector<Tensor>{x, x};
      },
      [](const Tensor& x) {
        return std::vector<Tensor>{x, x, x};
      },
      {.output_names = {"parts"}});
  f(vec({1}));
  const ValidationRecord record = only_record("structure");
  EXPECT_THAT(output_names(record), ElementsAre("parts/0", "parts/1", "parts/2"));
  EXPECT_THAT(record.failure_lines(), ElementsAre("parts/2: missing in the device output"));

  auto g = compare_to_reference(
      "structure_optional", [](const Tensor& x) { return std::optional<Tensor>(x); },
      [](const Tensor&) { return std::optional<Tensor>(); });
  g(vec({1}));
  EXPECT_THAT(only_record("structure_optional").failure_lines(),
              ElementsAre("out0: missing in the reference output"));
}

TEST_F(CompareToReferenceTest, DeviceExceptionIsRecordedAndRethrown) {
  auto f = compare_to_reference(
      "throwing_device", [](const Tensor&) -> Tensor { throw std::runtime_error("kernel fault"); },
      [](const Tensor& x) { return x; });
  EXPECT_THROW(f(vec({1})), std::runtime_error);
  EXPECT_THAT(only_record("throwing_device").failure_lines(),
              ElementsAre("device: threw: kernel fault"));
}

TEST_F(CompareToReferenceTest, RaiseOnFailureRecordsThenThrows) {
  const int line = __LINE__ + 1;
  auto f = compare_to_reference(
      "raising", [](const Tensor& x) { return add(x, 0.5f); }, [](const Tensor& x) { return x; },
      {.raise_on_failure = true});
  try {
    f(vec({1, 2}));
    FAIL() << "expected ValidationError";
  } catch (const ValidationError& error) {
    const std::string what = error.what();
    EXPECT_THAT(what, StartsWith("[compare_to_reference] raising call 0 failed ("));
    EXPECT_THAT(what, HasSubstr("compare_to_reference_test.cc:" + std::to_string(line) +
                                "): out0: nmse 0.1 > 2.3283064365386963e-10"));
    EXPECT_FALSE(error.record().passed);
  }
  EXPECT_FALSE(only_record("raising").passed);

  auto ok = compare_to_reference(
      "raising_ok", [](const Tensor& x) { return x; }, [](const Tensor& x) { return x; },
      {.raise_on_failure = true});
  EXPECT_NO_THROW(ok(vec({1})));
}

TEST_F(CompareToReferenceTest, RecordsTheWrappingSite) {
  const int line = __LINE__ + 1;
  auto f = compare_to_reference("located", twice, twice);
  f(vec({1}));
  const ValidationRecord record = only_record("located");
  EXPECT_THAT(record.location.file,
              EndsWith("tests/validation/wrapper/compare_to_reference_test.cc"));
  EXPECT_EQ(record.location.line, static_cast<std::uint32_t>(line));
  EXPECT_THAT(record.location.function, HasSubstr("RecordsTheWrappingSite"));
  EXPECT_THAT(record.location.text(),
              EndsWith("compare_to_reference_test.cc:" + std::to_string(line)));
}

TEST_F(CompareToReferenceTest, TimesEveryCallAndFlagsTheFirst) {
  // The device spins for at least 2 ms: device_ns has a lower bound, whatever the machine.
  const auto spin = [](const Tensor& x) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
    while (std::chrono::steady_clock::now() < until) {
    }
    return x;
  };
  auto f = compare_to_reference("timed", spin, [](const Tensor& x) { return x; });
  for (int i = 0; i < 3; ++i) f(vec({1}));
  const auto records = validation_registry().records({.name_filter = "timed"});
  ASSERT_THAT(records, SizeIs(3));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(records[i].call_index, i);
    EXPECT_EQ(records[i].first_call, i == 0);
    EXPECT_GE(records[i].device_ns, 2'000'000);
    EXPECT_GE(records[i].reference_ns, 0);
  }
}

TEST_F(CompareToReferenceTest, SamplesEveryNthCall) {
  auto f = compare_to_reference("every3", twice, twice, {.sample_every = 3});
  for (int i = 0; i < 7; ++i) f(vec({1}));
  std::vector<std::int64_t> indices;
  for (const auto& r : validation_registry().records({.name_filter = "every3"})) {
    indices.push_back(r.call_index);
  }
  EXPECT_THAT(indices, ElementsAre(0, 3, 6));
}

TEST_F(CompareToReferenceTest, SamplesTheFirstNCalls) {
  auto f = compare_to_reference("first2", twice, twice, {.sample_first = 2});
  for (int i = 0; i < 5; ++i) f(vec({1}));
  EXPECT_EQ(validation_registry().records({.name_filter = "first2"}).size(), 2u);
}

TEST_F(CompareToReferenceTest, GlobalSamplingAppliesUnlessTheCallableOverrides) {
  set_validation_sampling({.every = 2, .first = 5});
  auto global = compare_to_reference("global_sampling", twice, twice);
  auto own = compare_to_reference("own_sampling", twice, twice, {.sample_every = 1});
  for (int i = 0; i < 8; ++i) {
    global(vec({1}));
    own(vec({1}));
  }
  std::vector<std::int64_t> indices;
  for (const auto& r : validation_registry().records({.name_filter = "global_sampling"})) {
    indices.push_back(r.call_index);
  }
  EXPECT_THAT(indices, ElementsAre(0, 2, 4));
  // every=1 from the callable, first=5 from the process.
  EXPECT_EQ(validation_registry().records({.name_filter = "own_sampling"}).size(), 5u);
}

TEST_F(CompareToReferenceTest, NameFilterSelectsCallsAndIsReevaluatedWhenChanged) {
  std::atomic<int> reference_calls = 0;
  const auto counted = [&](const Tensor& x) {
    ++reference_calls;
    return x;
  };
  auto attention = compare_to_reference("layers.0.attention", counted, counted);
  auto mlp = compare_to_reference("layers.0.mlp", counted, counted);
  auto embed = compare_to_reference("embed", counted, counted);
  set_validation_filter("layers.*,-layers.*.mlp");
  attention(vec({1}));
  mlp(vec({1}));
  embed(vec({1}));
  EXPECT_EQ(reference_calls, 4);  // 3 device calls and 1 reference call.
  const auto records = validation_registry().records();
  ASSERT_THAT(records, SizeIs(1));
  EXPECT_EQ(records[0].name, "layers.0.attention");

  set_validation_filter("embed");
  attention(vec({1}));
  embed(vec({1}));
  const auto later = validation_registry().records();
  ASSERT_THAT(later, SizeIs(2));
  EXPECT_EQ(later[1].name, "embed");
  EXPECT_EQ(later[1].call_index, 0);  // Calls filtered out are not counted.
}

TEST_F(CompareToReferenceTest, ValidationOffRunsOnlyTheDeviceFunction) {
  std::atomic<int> reference_calls = 0;
  auto f = compare_to_reference("off", twice, [&](const Tensor& x) {
    ++reference_calls;
    return x;
  });
  set_validation_enabled(false);
  EXPECT_FALSE(validation_enabled());
  EXPECT_EQ(values_of(f(vec({3}))), (std::vector<float>{6}));
  EXPECT_EQ(reference_calls, 0);
  EXPECT_EQ(validation_registry().size(), 0u);

  set_validation_enabled(true);
  auto disabled = compare_to_reference("disabled", twice,
                                       [&](const Tensor& x) {
                                         ++reference_calls;
                                         return x;
                                       },
                                       {.enabled = false});
  EXPECT_EQ(values_of(disabled(vec({3}))), (std::vector<float>{6}));
  EXPECT_EQ(reference_calls, 0);
  EXPECT_EQ(validation_registry().size(), 0u);
}

TEST_F(CompareToReferenceTest, InputsAreSnapshotBeforeAnInPlaceDeviceUpdate) {
  // The device appends to its cache in place; the reference must see the cache as it was.
  const auto device = [](Tensor& cache, const Tensor& x) {
    cache.mutable_floats()[0] += x.floats()[0];
    return cache;
  };
  std::vector<float> seen;
  const auto reference = [&](Tensor& cache, const Tensor& x) {
    seen.push_back(cache.floats()[0]);
    Tensor updated = cache.clone();
    updated.mutable_floats()[0] += x.floats()[0];
    return updated;
  };
  Tensor cache = vec({10});
  auto update = compare_to_reference("in_place", device, reference);
  update(cache, vec({1}));
  EXPECT_EQ(cache.floats()[0], 11.0f);
  EXPECT_THAT(seen, ElementsAre(10.0f));
  EXPECT_TRUE(only_record("in_place").passed);

  // Without snapshots the reference sees the updated cache (and the check fails).
  auto unsafe =
      compare_to_reference("in_place_unsafe", device, reference, {.snapshot_inputs = false});
  unsafe(cache, vec({1}));
  EXPECT_THAT(seen, ElementsAre(10.0f, 12.0f));
  EXPECT_FALSE(only_record("in_place_unsafe").passed);
}

TEST_F(CompareToReferenceTest, ScalarArgumentsAreRecordedAndScalarOutputsCompared) {
  auto f = compare_to_reference(
      "scalars",
      [](const Tensor& x, std::int32_t position, bool causal, double scale, model::Mode mode) {
        return std::make_tuple(x, position + 1, causal, scale * 2, mode);
      },
      [](const Tensor& x, std::int32_t position, bool causal, double scale, model::Mode mode) {
        return std::make_tuple(x, position + 2, causal, scale * 2, mode);
      },
      {.input_names = {"x", "position", "causal", "scale", "mode"},
       .output_names = {"y", "next_position", "causal", "scale", "mode"}});
  f(vec({1}), 5, true, 0.25, model::Mode::decode);
  const ValidationRecord record = only_record("scalars");
  ASSERT_THAT(record.scalars, SizeIs(4));
  EXPECT_EQ(record.scalars[0].name, "position");
  EXPECT_EQ(std::get<std::int64_t>(record.scalars[0].value), 5);
  EXPECT_EQ(std::get<bool>(record.scalars[1].value), true);
  EXPECT_EQ(std::get<double>(record.scalars[2].value), 0.25);
  EXPECT_EQ(std::get<std::int64_t>(record.scalars[3].value), 1);
  ASSERT_THAT(record.inputs, SizeIs(1));
  EXPECT_THAT(output_names(record), ElementsAre("y", "next_position", "causal", "scale", "mode"));
  EXPECT_EQ(record.outputs[1].metrics->shape, Shape{});
  EXPECT_EQ(record.outputs[1].metrics->max_abs_error, 1.0);
  EXPECT_THAT(record.failure_lines(), Not(IsEmpty()));
  EXPECT_THAT(record.failure_lines(), Each(StartsWith("next_position: ")));
}

TEST_F(CompareToReferenceTest, ContainerArgumentsNameTheirElements) {
  auto f = compare_to_reference(
      "containers",
      [](const std::vector<Tensor>& kv, const std::optional<Tensor>&,
         const std::pair<Tensor, Tensor>&) { return kv[0]; },
      [](const std::vector<Tensor>& kv, const std::optional<Tensor>&,
         const std::pair<Tensor, Tensor>&) { return kv[0]; },
      {.input_names = {"kv", "mask", "rope"}});
  f({vec({1}), vec({2, 3})}, std::nullopt, {vec({4}), vec({5})});
  const ValidationRecord record = only_record("containers");
  std::vector<std::string> names;
  for (const InputInfo& input : record.inputs) names.push_back(input.name);
  EXPECT_THAT(names, ElementsAre("kv/0", "kv/1", "rope/0", "rope/1"));
  EXPECT_EQ(record.inputs[1].shape, (Shape{2}));
}

TEST_F(CompareToReferenceTest, GenericDeviceFunctionsNameTheirSignature) {
  const auto generic = [](const auto& x) { return twice(x); };
  auto f = compare_to_reference<Tensor(const Tensor&)>("generic", generic, generic);
  EXPECT_EQ(values_of(f(vec({2}))), (std::vector<float>{4}));
  EXPECT_TRUE(only_record("generic").passed);
}

TEST_F(CompareToReferenceTest, KeepsTheSignatureAndSharesStateBetweenCopies) {
  int device_calls = 0;
  auto f = compare_to_reference(
      "copies",
      [&device_calls](const Tensor& x) mutable {
        ++device_calls;
        return x;
      },
      [](const Tensor& x) { return x; });
  static_assert(std::is_same_v<decltype(f(std::declval<const Tensor&>())), Tensor>);
  std::function<Tensor(const Tensor&)> as_function = f;
  auto copy = f;
  f(vec({1}));
  copy(vec({1}));
  as_function(vec({1}));
  EXPECT_EQ(device_calls, 3);
  std::vector<std::int64_t> indices;
  for (const auto& r : validation_registry().records({.name_filter = "copies"})) {
    indices.push_back(r.call_index);
  }
  EXPECT_THAT(indices, ElementsAre(0, 1, 2));
  EXPECT_EQ(f.name(), "copies");
}

TEST_F(CompareToReferenceTest, CallablesWithTheSameNameShareCallCounters) {
  auto a = compare_to_reference("shared_name", twice, twice);
  auto b = compare_to_reference("shared_name", twice, twice);
  a(vec({1}));
  b(vec({1}));
  const auto records = validation_registry().records({.name_filter = "shared_name"});
  ASSERT_THAT(records, SizeIs(2));
  EXPECT_TRUE(records[0].first_call);
  EXPECT_FALSE(records[1].first_call);
  EXPECT_EQ(records[1].call_index, 1);
}

TEST_F(CompareToReferenceTest, RecordsBlockProvenance) {
  auto f = compare_to_reference("layers.0.norm", twice, twice,
                                {.block = "rms_norm",
                                 .spec_json = R"({"dim":4096})",
                                 .impl_config_json = R"({"fidelity":"HiFi4"})",
                                 .device = "N150"});
  f(vec({1}));
  const ValidationRecord record = only_record("layers.0.norm");
  EXPECT_EQ(record.block, "rms_norm");
  EXPECT_EQ(record.spec_json, R"({"dim":4096})");
  EXPECT_EQ(record.impl_config_json, R"({"fidelity":"HiFi4"})");
  EXPECT_EQ(record.device, "N150");
}

TEST_F(CompareToReferenceTest, FunctionPointersWork) {
  Tensor (*device)(const Tensor&) = twice;
  auto f = compare_to_reference("pointer", device, device);
  EXPECT_EQ(values_of(f(vec({1}))), (std::vector<float>{2}));
  EXPECT_TRUE(only_record("pointer").passed);
}

}  // namespace
}  // namespace ttt

// The fluent C++ suites: wrapped callables, block and module cases, seeded, given and captured
// inputs, expectations and budgets, the completeness check, fail_fast, filters and shards.
#include "suites/suite/suite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "models/model.h"
#include "suites/suite/targets.h"
#include "tests/common/scratch_dir.h"
#include "tests/suites/suite/tiny_llama.h"
#include "validation/tensor/random.h"
#include "validation/trace/capture.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/compare_to_reference.h"

namespace ttt {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A "device" that scales in bfloat16 and a float64 reference.
Tensor scale_device(const Tensor& x) {
  Tensor y = x.to(DType::float32);
  for (float& value : y.mutable_floats()) value *= 1.7f;
  return y.to(DType::bfloat16);
}
Tensor scale_reference(const Tensor& x) {
  std::vector<float> values;
  const Tensor input = x.to(DType::float32);
  for (float value : input.floats()) {
    values.push_back(static_cast<float>(double(value) * 1.7));
  }
  return Tensor::from_floats(x.shape(), std::move(values));
}

auto wrapped_scale(const std::string& name = "toy.scale") {
  return compare_to_reference(name, scale_device, scale_reference, {.input_names = {"x"}});
}

Tensor input(std::uint64_t seed, Shape shape = {4, 64}) {
  return random_normal(std::move(shape), seed, 0.0, 1.0);
}

// The input called `name` of a case result.
const CaseInput& input_named(const CaseResult& result, const std::string& name) {
  for (const CaseInput& input : result.inputs) {
    if (input.name == name) return input;
  }
  throw std::runtime_error("no input " + name);
}

const CaseResult& only_case(const SuiteResult& result) {
  EXPECT_EQ(result.cases.size(), 1u);
  return result.cases.front();
}

TEST(Suite, WrappedCallableIsJudgedWithTheCaseExpectations) {
  Suite suite("toy", {.seed = 1234});
  suite.add_case(wrapped_scale()).with_inputs({{"x", input(1)}}).expect_pcc(0.99);
  suite.add_case(wrapped_scale())
      .named("too_strict")
      .with_inputs({{"x", input(1)}})
      .expect_max_abs_error(1e-12);
  const SuiteResult result = suite.run_cases();
  ASSERT_EQ(result.cases.size(), 2u);
  const CaseResult& passing = result.cases[0];
  EXPECT_EQ(passing.id, "toy.scale");
  EXPECT_EQ(passing.kind, "wrapped");
  EXPECT_EQ(passing.status, CaseStatus::pass) << passing.error;
  ASSERT_EQ(passing.outputs.size(), 1u);
  EXPECT_GT(passing.outputs[0].metrics.pcc, 0.9999);
  // bfloat16 rounding: relative error up to 2^-9, so the NMSE is small but not zero.
  EXPECT_GT(passing.outputs[0].metrics.nmse, 0.0);
  EXPECT_LT(passing.outputs[0].metrics.nmse, 1e-5);
  // The reference RMS comes back from rmse / sqrt(nmse): |1.7 x| for x ~ N(0, 1).
  EXPECT_NEAR(passing.outputs[0].reference_rms, 1.7, 0.25);
  ASSERT_TRUE(passing.timing.has_value());
  EXPECT_EQ(passing.timing->wall_ns.size(), static_cast<std::size_t>(kMinRepetitions));
  EXPECT_EQ(passing.timing->warmup, 2);
  EXPECT_THAT(passing.inputs, ElementsAre(::testing::Field(&CaseInput::name, "x")));

  const CaseResult& failing = result.cases[1];
  EXPECT_EQ(failing.status, CaseStatus::fail);
  ASSERT_EQ(failing.verdicts.size(), 1u);
  EXPECT_EQ(failing.verdicts[0].expectation, "accuracy:out0");
  EXPECT_THAT(failing.verdicts[0].message, HasSubstr("max_abs_error"));
  EXPECT_THAT(failing.verdicts[0].message, HasSubstr("> 1e-12"));
}

TEST(Suite, LatencyBudgetFailsWithTheNumbers) {
  Suite suite("toy");
  suite.add_case(wrapped_scale())
      .named("generous")
      .with_inputs({{"x", input(2)}})
      .expect_perf({.p = 0.5, .latency_ms = 1e6});
  suite.add_case(wrapped_scale())
      .named("impossible")
      .with_inputs({{"x", input(2)}})
      .expect_perf({.p = 0.9, .latency_ms = 1e-9, .tolerance = 0.1, .clock = TimingClock::cpu});
  const SuiteResult result = suite.run_cases();
  ASSERT_EQ(result.cases.size(), 2u);
  EXPECT_EQ(result.cases[0].status, CaseStatus::pass);
  EXPECT_THAT(result.cases[0].verdicts[0].message, HasSubstr("p50"));
  EXPECT_THAT(result.cases[0].verdicts[0].message, HasSubstr(" <= "));
  const CaseResult& over = result.cases[1];
  EXPECT_EQ(over.status, CaseStatus::fail);
  ASSERT_EQ(over.verdicts.size(), 1u);
  EXPECT_EQ(over.verdicts[0].expectation, "latency");
  EXPECT_THAT(over.verdicts[0].message,
              AllOf(HasSubstr("p90 "), HasSubstr(" > 1e-09 ms + 10% = 1.1e-09 ms (cpu; min "),
                    HasSubstr("p50"), HasSubstr("mean"), HasSubstr("9 repetitions")));
}

TEST(Suite, ReportsEveryIncompleteCaseAtOnce) {
  Suite suite("incomplete");
  suite.add_case(wrapped_scale()).expect_pcc(0.99);                       // No inputs.
  suite.add_case(wrapped_scale("other")).with_inputs({{"x", input(3)}});  // No expectation.
  suite.add_case(wrapped_scale()).with_inputs({{"x", input(3)}}).expect_pcc(0.99);  // Same id.
  suite.add_case(block_case({.kind = "no_such_kind"}))
      .with_inputs({{"x", input(3)}})
      .expect_pcc(0.99);
  suite.add_case(wrapped_scale("seeded"))
      .with_seeded_inputs({.batch = 1})
      .expect_perf({.latency_ms = 1.0});
  const std::vector<std::string> problems = suite.problems();
  EXPECT_THAT(problems,
              ElementsAre(HasSubstr("case 0 'toy.scale': no inputs"),
                          HasSubstr("case 1 'other': no expectation"),
                          HasSubstr("case 2 'toy.scale': the id is also case 0's"),
                          HasSubstr("case 3 'no_such_kind.prefill': no reference: block kind "
                                    "'no_such_kind' is not registered"),
                          HasSubstr("case 4 'seeded': its target (wrapped) cannot draw seeded")));
  try {
    suite.run_cases();
    FAIL() << "expected SuiteDefinitionError";
  } catch (const SuiteDefinitionError& error) {
    EXPECT_EQ(error.problems().size(), 5u);
    EXPECT_THAT(error.what(), HasSubstr("[suite incomplete] 5 problems:"));
  }
}

TEST(Suite, RejectsTooFewRepetitions) {
  Suite suite("few", {.repetitions = 3});
  suite.add_case(wrapped_scale()).with_inputs({{"x", input(4)}}).expect_pcc(0.9);
  EXPECT_THAT(suite.problems(), ElementsAre(HasSubstr("options.repetitions is 3, must be >= 9")));
  Suite per_case("few");
  per_case.add_case(wrapped_scale()).with_inputs({{"x", input(4)}}).expect_pcc(0.9).timing(0, 5);
  EXPECT_THAT(per_case.problems(), ElementsAre(HasSubstr("repetitions 5 < 9")));
}

TEST(Suite, FailFastLeavesLaterCasesNotRun) {
  Suite suite("ff", {.fail_fast = true});
  suite.add_case(wrapped_scale("a")).with_inputs({{"x", input(5)}}).expect_max_abs_error(0.0);
  suite.add_case(wrapped_scale("b")).with_inputs({{"x", input(5)}}).expect_pcc(0.9);
  const SuiteResult result = suite.run_cases();
  ASSERT_EQ(result.cases.size(), 2u);
  EXPECT_EQ(result.cases[0].status, CaseStatus::fail);
  EXPECT_EQ(result.cases[1].status, CaseStatus::not_run);
  EXPECT_FALSE(result.cases[1].timing.has_value());
}

TEST(Suite, FilterTagsAndShardSelectCases) {
  Suite suite("select");
  for (const char* name : {"attn.a", "ffn.b", "attn.c", "ffn.d"}) {
    suite.add_case(wrapped_scale(name))
        .with_inputs({{"x", input(6)}})
        .expect_pcc(0.9)
        .tagged({name[0] == 'a' ? "quick" : "slow"});
  }
  EXPECT_EQ(suite.selected_cases(), (std::vector<std::size_t>{0, 1, 2, 3}));
  suite.options().shard = {1, 2};
  EXPECT_EQ(suite.selected_cases(), (std::vector<std::size_t>{1, 3}));
  suite.options().shard = {0, 1};
  suite.options().filter = "ffn.*";
  EXPECT_EQ(suite.selected_cases(), (std::vector<std::size_t>{1, 3}));
  suite.options().filter = "select/attn.*,-*.c";
  EXPECT_EQ(suite.selected_cases(), (std::vector<std::size_t>{0}));
  // An exclusion alone drops what it matches, whether it names the id or "<suite>/<id>".
  suite.options().filter = "-ffn.*";
  EXPECT_EQ(suite.selected_cases(), (std::vector<std::size_t>{0, 2}));
  suite.options().filter = "-select/attn.a";
  EXPECT_EQ(suite.selected_cases(), (std::vector<std::size_t>{1, 2, 3}));
  suite.options().filter = "*";
  suite.options().require_tags = {"quick"};
  EXPECT_EQ(suite.selected_cases(), (std::vector<std::size_t>{0, 2}));
  suite.options().require_tags = {};
  suite.options().exclude_tags = {"quick"};
  suite.options().shard = {0, 2};
  EXPECT_EQ(suite.selected_cases(), (std::vector<std::size_t>{1}));
  const SuiteResult result = suite.run_cases();
  EXPECT_EQ(result.total_cases, 4);
  EXPECT_EQ(result.tags, "-quick");
  EXPECT_EQ(result.shards, (std::vector<std::int64_t>{0}));
  EXPECT_EQ(result.shard_total, 2);
  ASSERT_EQ(result.cases.size(), 1u);
  EXPECT_EQ(result.cases[0].index, 1);
}

TEST(Suite, FingerprintFollowsTheDefinition) {
  const auto make = [](double pcc) {
    Suite suite("fp");
    suite.add_case(wrapped_scale()).with_inputs({{"x", input(7)}}).expect_pcc(pcc);
    return suite.fingerprint();
  };
  EXPECT_EQ(make(0.99), make(0.99));
  EXPECT_NE(make(0.99), make(0.98));
  EXPECT_EQ(make(0.99).size(), 16u);
}

TEST(Suite, WrongInputNamesAndCountsAreCaseErrors) {
  Suite suite("names");
  suite.add_case(wrapped_scale("a")).with_inputs({{"y", input(8)}}).expect_pcc(0.9);
  suite.add_case(wrapped_scale("b"))
      .with_inputs({{"x", input(8)}, {"z", input(9)}})
      .expect_pcc(0.9);
  const SuiteResult result = suite.run_cases();
  EXPECT_EQ(result.cases[0].status, CaseStatus::error);
  EXPECT_THAT(result.cases[0].error, HasSubstr("given as 'y', the callable names it 'x'"));
  EXPECT_EQ(result.cases[1].status, CaseStatus::error);
  EXPECT_THAT(result.cases[1].error, HasSubstr("takes 1 tensor argument(s), 2 input(s) given"));
}

TEST(Suite, CapturesTheInputsOfTheRequestedCall) {
  auto scale = wrapped_scale("captured.scale");
  const Tensor first = input(10, {2, 32});
  const Tensor second = input(11, {3, 16});
  int runs = 0;
  auto generation = std::make_shared<const InputCapture>([&] {
    ++runs;
    scale(first);
    scale(second);
  });
  Suite suite("capture");
  suite.add_case(scale).named("first").with_inputs_from(generation).expect_pcc(0.99);
  suite.add_case(scale)
      .named("second")
      .with_inputs_from(generation, {.call_index = 1})
      .expect_pcc(0.99);
  suite.add_case(scale)
      .named("missing")
      .with_inputs_from(generation, {.call_index = 5})
      .expect_pcc(0.99);
  const SuiteResult result = suite.run_cases();
  EXPECT_EQ(runs, 1);  // One run for every case that names the same capture.
  ASSERT_EQ(result.cases.size(), 3u);
  EXPECT_EQ(result.cases[0].status, CaseStatus::pass) << result.cases[0].error;
  EXPECT_EQ(result.cases[0].input_source, "captured");
  EXPECT_EQ(result.cases[0].call, "captured.scale");
  EXPECT_EQ(result.cases[0].inputs[0].shape, (Shape{2, 32}));
  EXPECT_EQ(result.cases[1].inputs[0].shape, (Shape{3, 16}));
  // Only the case asking for a call that did not happen fails.
  EXPECT_EQ(result.cases[2].status, CaseStatus::error);
  EXPECT_THAT(result.cases[2].error, HasSubstr("made 2 call(s) named 'captured.scale'"));
}

// Capture is a call sink: it works while a trace is being written (it was refused before, the
// capture needing the process-wide trace session), and the trace still receives every call.
TEST(Suite, CapturesWhileATraceIsBeingWritten) {
  const test_support::ScratchDir scratch;
  const std::string path = scratch.file("capture-under-trace.h5");
  auto scale = wrapped_scale("traced.scale");
  const Tensor first = input(12, {2, 32});
  const Tensor second = input(13, {3, 16});
  SuiteResult result;
  {
    const ScopedTrace trace(path);
    Suite suite("capture-under-trace");
    suite.add_case(scale)
        .named("second")
        .with_inputs_from(
            [&] {
              scale(first);
              scale(second);
            },
            {.call_index = 1})
        .expect_pcc(0.99);
    result = suite.run_cases();
  }
  ASSERT_EQ(result.cases.size(), 1u);
  EXPECT_EQ(result.cases[0].status, CaseStatus::pass) << result.cases[0].error;
  EXPECT_EQ(result.cases[0].input_source, "captured");
  EXPECT_EQ(result.cases[0].inputs[0].shape, (Shape{3, 16}));
  // The trace holds the two calls of the capture run first, with their inputs.
  const TraceReader reader = TraceReader::open(path);
  ASSERT_GE(reader.sequence_numbers().size(), 2u);
  const TraceCall traced_first = reader.call(reader.sequence_numbers()[0]);
  const TraceCall traced_second = reader.call(reader.sequence_numbers()[1]);
  EXPECT_EQ(traced_first.name, "traced.scale");
  EXPECT_EQ(reader.read_all(traced_first.inputs).at(0).tensor.shape(), (Shape{2, 32}));
  EXPECT_EQ(reader.read_all(traced_second.inputs).at(0).tensor.shape(), (Shape{3, 16}));
}

// Capture keeps the inputs in memory: with the temporary directory pointing nowhere (the earlier
// implementation wrote a temporary trace there and failed), the case still gets its inputs.
TEST(Suite, CaptureWritesNoFile) {
  const char* saved = std::getenv("TMPDIR");
  const std::string saved_value = saved == nullptr ? "" : saved;
  ::setenv("TMPDIR", "/nonexistent/ttt-capture-must-not-write-here", 1);
  auto scale = wrapped_scale("in_memory.scale");
  const Tensor x = input(14, {2, 8});
  Suite suite("capture-in-memory");
  suite.add_case(scale).with_inputs_from([&] { scale(x); }).expect_pcc(0.99);
  const SuiteResult result = suite.run_cases();
  if (saved == nullptr) {
    ::unsetenv("TMPDIR");
  } else {
    ::setenv("TMPDIR", saved_value.c_str(), 1);
  }
  ASSERT_EQ(result.cases.size(), 1u);
  EXPECT_EQ(result.cases[0].status, CaseStatus::pass) << result.cases[0].error;
  EXPECT_EQ(result.cases[0].inputs[0].shape, (Shape{2, 8}));
}

TEST(BlockCase, SeededRmsNormAndGatedMlpMeetTtTv1Thresholds) {
  Suite suite("blocks", {.seed = 42});
  suite
      .add_case(block_case(
          {.kind = "rms_norm", .spec = {{"dim", 256}, {"eps", 1e-5}}, .mode = Mode::decode}))
      .with_seeded_inputs({.batch = 2})
      .expect_pcc(0.9999);
  suite
      .add_case(block_case({.kind = "gated_mlp",
                            .spec = {{"hidden_dim", 128}, {"ffn_dim", 256}},
                            .mode = Mode::prefill,
                            .module = "layers.*.ffn"}))
      .with_seeded_inputs({.batch = 1, .seq_len = 8})
      .expect_pcc(0.99)
      .occurs(32);
  const SuiteResult result = suite.run_cases();
  ASSERT_EQ(result.cases.size(), 2u);
  const CaseResult& norm = result.cases[0];
  EXPECT_EQ(norm.id, "rms_norm.decode");
  EXPECT_EQ(norm.status, CaseStatus::pass) << norm.error;
  EXPECT_EQ(norm.identity, "RMS_NORM(dim=256,eps=1e-05,offset=0)");
  EXPECT_EQ(norm.mode, "decode");
  EXPECT_EQ(norm.device, "N150");
  EXPECT_EQ(norm.shapes, (nlohmann::json{{"batch", 2}}));
  EXPECT_EQ(norm.inputs[0].shape, (Shape{2, 256}));
  EXPECT_EQ(norm.inputs[0].dtype, DType::bfloat16);
  EXPECT_EQ(norm.impl_config.at("activation_dtype"), "bfloat16");
  const CaseResult& ffn = result.cases[1];
  EXPECT_EQ(ffn.id, "ffn.prefill");
  EXPECT_EQ(ffn.status, CaseStatus::pass) << ffn.error;
  EXPECT_EQ(ffn.module, "layers.*.ffn");
  EXPECT_EQ(ffn.occurrences, 32);
  EXPECT_EQ(ffn.inputs[0].shape, (Shape{1, 8, 128}));
  // bfloat8_b weights cost accuracy: the NMSE is far above bfloat16 rounding but under 1%.
  EXPECT_GT(ffn.outputs[0].metrics.nmse, 1e-5);
  EXPECT_LT(ffn.outputs[0].metrics.nmse, 1e-2);
  EXPECT_GT(ffn.outputs[0].reference_rms, 0.0);
}

TEST(BlockCase, SeededInputsAreReproducibleAndDependOnTheSeed) {
  const auto target = block_case(
      {.kind = "gated_mlp", .spec = {{"hidden_dim", 64}, {"ffn_dim", 64}}, .mode = Mode::decode});
  const CaseInputs a = *target->seeded_inputs({.batch = 1}, {}, 7);
  const CaseInputs b = *target->seeded_inputs({.batch = 1}, {}, 7);
  const CaseInputs c = *target->seeded_inputs({.batch = 1}, {}, 8);
  ASSERT_EQ(a.tensors.size(), 4u);
  EXPECT_EQ(a.tensors[1].name, "w_gate");
  EXPECT_EQ(a.tensor("w_gate").at({3, 5}), b.tensor("w_gate").at({3, 5}));
  EXPECT_NE(a.tensor("w_gate").at({3, 5}), c.tensor("w_gate").at({3, 5}));
  EXPECT_THROW(a.tensor("w_nope"), std::invalid_argument);
}

TEST(BlockCase, PresetChangesTheImplConfig) {
  const auto target = block_case({.kind = "gated_mlp",
                                  .spec = {{"hidden_dim", 64}, {"ffn_dim", 64}},
                                  .mode = Mode::decode,
                                  .preset = Preset::performance});
  const CaseDescription description = target->describe();
  EXPECT_EQ(description.preset, "performance");
  EXPECT_EQ(description.impl_config.at("ff1_ff3").at("weight_dtype"), "bfloat4_b");
  EXPECT_EQ(description.impl_config.at("ff1_ff3").at("fidelity"), "LoFi");
}

TEST(BlockCase, BadSpecsThrowTheBlocksMessage) {
  EXPECT_THROW(block_case({.kind = "gated_mlp", .spec = {{"hidden_dim", 64}}}),
               std::invalid_argument);
  EXPECT_THROW(block_case({.kind = "attention.decode",
                           .spec = {{"hidden_dim", 64}, {"num_heads", 4}},
                           .mode = Mode::prefill}),
               std::invalid_argument);
  EXPECT_THROW(block_case({.kind = ""}), std::invalid_argument);
}

// A two-layer Llama-shaped model small enough for unit tests.
CausalLmSpec tiny_llama() {
  nlohmann::json config = suites_test::tiny_llama_config(96);
  return model_from_config(config, "tiny").spec;
}

TEST(ModuleCase, CapturesAModuleCallOfAGenerationAndSeedsAttention) {
  const CausalLmSpec spec = tiny_llama();
  const CausalLm model(make_causal_lm_modules(spec, default_impl_configs(spec, Device::N150),
                                              seeded_model_weights(spec, 0.02, 3)));
  const auto generate = [&model] {
    CausalLmCache cache = model.make_cache(1, 32);
    const Tensor prompt = random_integers({1, 5}, 9, 0, 96);
    const Tensor logits = model.prefill(prompt, cache);
    model.decode(Tensor::from_int64({1}, {7}), Tensor::from_int64({1}, {5}), cache);
  };
  Suite suite("modules");
  suite.add_case(module_case(model.layer(1), "ffn", Mode::decode))
      .with_inputs_from(generate)
      .expect_pcc(0.99);
  suite.add_case(module_case(model, "layers.0.attention", Mode::decode))
      .with_seeded_inputs({.batch = 1, .context_len = 9})
      .expect_pcc(0.99);
  suite.add_case(module_case(model, "lm_head", Mode::prefill))
      .with_inputs_from(generate)
      .expect_pcc(0.99);
  const SuiteResult result = suite.run_cases();
  ASSERT_EQ(result.cases.size(), 3u);
  const CaseResult& ffn = result.cases[0];
  EXPECT_EQ(ffn.id, "layers.1.ffn.decode");
  EXPECT_EQ(ffn.kind, "gated_mlp");
  EXPECT_EQ(ffn.status, CaseStatus::pass) << ffn.error;
  EXPECT_EQ(ffn.call, "layers.1.ffn.decode");
  EXPECT_EQ(ffn.identity, "GATED_MLP(hidden=64,ffn=128,act=silu)");
  EXPECT_EQ(input_named(ffn, "x").shape, (Shape{1, 64}));
  EXPECT_EQ(input_named(ffn, "w_down").shape, (Shape{128, 64}));
  const CaseResult& attention = result.cases[1];
  EXPECT_EQ(attention.status, CaseStatus::pass) << attention.error;
  EXPECT_EQ(attention.kind, "attention.decode");
  const CaseResult& head = result.cases[2];
  EXPECT_EQ(head.status, CaseStatus::pass) << head.error;
  EXPECT_EQ(input_named(head, "x").shape, (Shape{1, 5, 64}));
  EXPECT_THROW(module_case(model, "layers.2.ffn", Mode::decode), std::invalid_argument);
  EXPECT_THROW(module_case(model.layer(0), "post_ffn_norm", Mode::decode), std::invalid_argument);
  EXPECT_THROW(module_case(model.layer(0), "mlp", Mode::decode), std::invalid_argument);
}

TEST(Suite, RunCarriesTheMachine) {
  Suite suite("machine");
  suite.add_case(wrapped_scale()).with_inputs({{"x", input(12)}}).expect_pcc(0.99);
  const RunResults results = suite.run();
  EXPECT_FALSE(results.machine.cpu_model.empty());
  EXPECT_GE(results.machine.cores, 1);
  EXPECT_FALSE(results.machine.commit.empty());
  EXPECT_EQ(results.created_utc.size(), 20u);
  EXPECT_TRUE(results.summary().ok());
  EXPECT_EQ(only_case(results.suites.front()).status, CaseStatus::pass);
}

}  // namespace
}  // namespace ttt

// The causal LM: Spec/ImplConfig trees that share names, the calls of a prefill and of decode
// steps (names, order, provenance), decode against the caches, teacher forcing, and a captured
// trace that replays.
#include "patterns/causal_lm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tiny_model.h"
#include "validation/metrics/metrics.h"
#include "validation/trace/capture.h"
#include "validation/trace/replay.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/report.h"
#include "validation/wrapper/switches.h"

namespace ttt {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using namespace testing_patterns;

class CausalLmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_validation_enabled(true);
    validation_registry().reset();
  }
};

CausalLm make_model(const CausalLmSpec& spec, std::uint64_t seed, PatternOptions options = {},
                    const PerMode<CausalLmImplConfig>* configs = nullptr) {
  SeededWeights weights(seed);
  const PerMode<CausalLmImplConfig> defaults = default_impl_configs(spec, Device::N150);
  return CausalLm(make_causal_lm_modules(spec, configs ? *configs : defaults, weights.model(spec)),
                  options);
}

std::vector<std::string> record_names(const std::vector<ValidationRecord>& records) {
  std::vector<std::string> names;
  for (const ValidationRecord& record : records) names.push_back(record.name);
  return names;
}

TEST_F(CausalLmTest, SpecAndImplConfigTreesShareNames) {
  CausalLmSpec spec = tiny_spec(4);
  spec.layers[3].attention.sliding_window = 4;  // Layer 3 differs from the others.
  const nlohmann::json json = spec;
  EXPECT_EQ(json.at("layers").size(), 4u);
  EXPECT_EQ(json.at("layers")[3].at("attention").at("sliding_window"), 4);
  EXPECT_EQ(json.get<CausalLmSpec>(), spec);

  const PerMode<CausalLmImplConfig> configs =
      default_impl_configs(spec, Device::T3K, Preset::accuracy);
  for (const Mode mode : {Mode::prefill, Mode::decode}) {
    const CausalLmImplConfig& config = configs[mode];
    ASSERT_EQ(config.layers.size(), 4u);
    EXPECT_EQ(config.layers[3].attention,
              default_impl_config(spec.layers[3].attention, Device::T3K, mode, Preset::accuracy));
    EXPECT_EQ(config.lm_head, default_impl_config(spec.lm_head, Device::T3K, mode));
    EXPECT_EQ(nlohmann::json(config).get<CausalLmImplConfig>(), config);
  }
  EXPECT_THAT(spec.identity(), HasSubstr("CAUSAL_LM(layers=4,embedding=EMBEDDING("));
  EXPECT_THAT(spec.identity(), HasSubstr("window=4"));
  EXPECT_THAT(tiny_spec(2).identity(), HasSubstr(",layer=DECODER_LAYER(attention_norm=RMS_NORM("));
}

TEST_F(CausalLmTest, ValidationNamesTheModule) {
  CausalLmSpec spec = tiny_spec(2);
  spec.lm_head.vocab_size = 95;
  EXPECT_THAT([&] { spec.validate(); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[causal_lm] lm_head.vocab_size (95) differs from embedding.vocab_size (96)")));
  spec = tiny_spec(2);
  spec.layers[1].attention.num_kv_heads = 3;
  EXPECT_THAT([&] { spec.validate(); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[causal_lm] layers.1: [decoder_layer] attention: [attention]")));

  spec = tiny_spec(2);
  SeededWeights weights(1);
  CausalLmWeights tied = weights.model(spec);
  tied.lm_head = weights.matrix(kHidden, kVocab);
  EXPECT_THAT([&] { make_causal_lm_modules(spec, default_impl_configs(spec, Device::N150), tied); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("tied_embeddings is set")));

  PerMode<CausalLmImplConfig> configs = default_impl_configs(spec, Device::N150);
  configs.decode.layers.pop_back();
  EXPECT_THAT([&] { make_causal_lm_modules(spec, configs, weights.model(spec)); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("config.layers has 1 layers, spec.layers 2")));

  const CausalLm model = make_model(spec, 1);
  CausalLmCache short_cache = model.make_cache(1, 8);
  short_cache.layers.pop_back();
  EXPECT_THAT(
      [&] {
        model.prefill(Tensor::from_int64({1, 2}, {1, 2}), short_cache);
      },
      ::testing::ThrowsMessage<std::invalid_argument>(
          HasSubstr("the cache has 1 layers, the model 2")));
  EXPECT_THROW(model.layer(2), std::out_of_range);
}

TEST_F(CausalLmTest, EveryCallIsValidatedUnderItsModulePath) {
  const CausalLmSpec spec = tiny_spec(2);
  PerMode<CausalLmImplConfig> configs = default_impl_configs(spec, Device::N150);
  configs.prefill.layers[1].attention.qkv.weight_dtype = DType::bfloat16;
  PatternOptions options;
  options.device = "N150";
  const CausalLm model = make_model(spec, 2, options, &configs);
  CausalLmCache cache = model.make_cache(1, 8);
  const Tensor logits = model.prefill(Tensor::from_int64({1, 5}, {3, 14, 15, 92, 65}), cache);
  EXPECT_EQ(logits.shape(), (Shape{1, 5, kVocab}));
  const Tensor step =
      model.decode(Tensor::from_int64({1}, {35}), Tensor::from_int64({1}, {5}), cache);
  EXPECT_EQ(step.shape(), (Shape{1, kVocab}));

  const std::vector<ValidationRecord> records = validation_registry().records();
  std::vector<std::string> expected = call_names(2, "prefill");
  const std::vector<std::string> decode = call_names(2, "decode");
  expected.insert(expected.end(), decode.begin(), decode.end());
  EXPECT_THAT(record_names(records), ElementsAreArray(expected));
  for (const ValidationRecord& record : records) {
    EXPECT_TRUE(record.passed) << record.name << ": " << record.verdict_text();
    EXPECT_EQ(record.device, "N150");
    EXPECT_FALSE(record.teacher_forced);
  }
  // impl_config.layers[1].attention configures the call named layers.1.attention.
  const auto impl_of = [&](const std::string& name) {
    for (const ValidationRecord& record : records) {
      if (record.name == name) return nlohmann::json::parse(record.impl_config_json);
    }
    return nlohmann::json();
  };
  EXPECT_EQ(impl_of("layers.1.attention.prefill").at("qkv").at("weight_dtype"), "bfloat16");
  EXPECT_EQ(impl_of("layers.0.attention.prefill").at("qkv").at("weight_dtype"), "bfloat8_b");
  EXPECT_EQ(impl_of("layers.1.attention.decode").at("qkv").at("weight_dtype"), "bfloat8_b");
  EXPECT_EQ(records.front().block, "embedding");
  EXPECT_EQ(records.front().inputs[0].name, "ids");
  EXPECT_EQ(records.back().block, "lm_head");
  EXPECT_EQ(records.back().inputs[1].name, "weight");
  EXPECT_EQ(records.back().inputs[1].shape, (Shape{kVocab, kHidden}));  // Tied: the token table.
}

// Records name the model code that called the pattern (this file), not the pattern library, and
// the report's `function` is a readable name, not a template signature.
TEST_F(CausalLmTest, RecordsTheCallersSiteNotTheLibrarys) {
  const CausalLm model = make_model(tiny_spec(1), 4);
  CausalLmCache cache = model.make_cache(1, 8);
  const int prefill_line = __LINE__ + 1;
  model.prefill(Tensor::from_int64({1, 3}, {3, 14, 15}), cache);
  const int decode_line = __LINE__ + 1;
  model.decode(Tensor::from_int64({1}, {92}), Tensor::from_int64({1}, {3}), cache);

  const std::vector<ValidationRecord> records = validation_registry().records();
  ASSERT_FALSE(records.empty());
  for (const ValidationRecord& record : records) {
    const bool prefill = record.name.ends_with(".prefill");
    EXPECT_THAT(record.location.file, ::testing::EndsWith("tests/patterns/causal_lm_test.cc"))
        << record.name;
    EXPECT_EQ(record.location.line,
              static_cast<std::uint32_t>(prefill ? prefill_line : decode_line))
        << record.name;
    EXPECT_EQ(record.location.function,
              "ttt::{anonymous}::CausalLmTest_RecordsTheCallersSiteNotTheLibrarys_Test::TestBody");
  }
  const nlohmann::json report = report_to_json(records);
  for (const nlohmann::json& record : report.at("records")) {
    EXPECT_LT(record.at("location").at("function").get<std::string>().size(), 100u);
  }
  EXPECT_THAT(render_console_report(records),
              HasSubstr("causal_lm_test.cc:" + std::to_string(prefill_line)));
}

TEST_F(CausalLmTest, DecodeStepsMatchAPrefillOfTheWholeSequence) {
  const CausalLmSpec spec = tiny_spec(2, /*tied=*/false);
  const CausalLm model = make_model(spec, 6);
  const std::vector<std::int64_t> tokens = {5, 17, 33, 2, 90, 41, 7, 64};
  CausalLmCache full_cache = model.make_cache(1, 8);
  const Tensor full = model.prefill(Tensor::from_int64({1, 8}, tokens), full_cache);

  CausalLmCache cache = model.make_cache(1, 8);
  model.prefill(Tensor::from_int64({1, 5}, {tokens.begin(), tokens.begin() + 5}), cache);
  for (std::int64_t position = 5; position < 8; ++position) {
    const Tensor logits = model.decode(Tensor::from_int64({1}, {tokens[position]}),
                                       Tensor::from_int64({1}, {position}), cache);
    std::vector<float> row(full.floats().begin() + position * kVocab,
                           full.floats().begin() + (position + 1) * kVocab);
    const Metrics metrics = compute_metrics(logits, Tensor::from_floats({1, kVocab}, row));
    EXPECT_GE(metrics.pcc, 0.999) << "position " << position;
  }
}

TEST_F(CausalLmTest, ArgmaxTokensPicksTheFirstLargest) {
  const Tensor logits = Tensor::from_floats({2, 1, 4}, {0.5f, 2.0f, 2.0f, -1.0f,  //
                                                        -3.0f, -2.0f, -4.0f, -2.5f});
  const Tensor tokens = argmax_tokens(logits);
  EXPECT_EQ(tokens.shape(), (Shape{2, 1}));
  EXPECT_EQ(tokens.at({0, 0}), 1);
  EXPECT_EQ(tokens.at({1, 0}), 1);
  EXPECT_THROW(argmax_tokens(Tensor::from_int64({2}, {1, 2})), std::invalid_argument);
}

TEST_F(CausalLmTest, TeacherForcingReturnsTheReferenceOutputs) {
  const CausalLmSpec spec = tiny_spec(1);
  PatternOptions forced;
  forced.teacher_forcing = true;
  const CausalLm model = make_model(spec, 9, forced);
  CausalLmCache cache = model.make_cache(1, 4);
  const Tensor logits = model.prefill(Tensor::from_int64({1, 3}, {1, 2, 3}), cache);
  const std::vector<ValidationRecord> records = validation_registry().records();
  ASSERT_FALSE(records.empty());
  for (const ValidationRecord& record : records) {
    EXPECT_TRUE(record.teacher_forced) << record.name;
    EXPECT_TRUE(record.passed) << record.name;
  }
  // The returned logits are the LM head's reference on the (forced) final norm output, rounded
  // to the device's bfloat16: every value is a bfloat16 value.
  EXPECT_EQ(logits.dtype(), DType::bfloat16);

  // With validation off nothing is forced or recorded.
  validation_registry().reset();
  set_validation_enabled(false);
  CausalLmCache again = model.make_cache(1, 4);
  model.prefill(Tensor::from_int64({1, 3}, {1, 2, 3}), again);
  set_validation_enabled(true);
  EXPECT_EQ(validation_registry().size(), 0u);
}

TEST_F(CausalLmTest, CapturedTraceHoldsSharedWeightsAndReplays) {
  const test_support::ScratchDir scratch;
  const std::string path = scratch.file("causal_lm_capture.h5");
  const CausalLmSpec spec = tiny_spec(2, /*tied=*/false);
  PatternOptions options;
  options.device = "N150";
  const CausalLm model = make_model(spec, 12, options);
  {
    ScopedTrace trace(path);
    register_weights(model, trace.session());
    CausalLmCache cache = model.make_cache(1, 8);
    model.prefill(Tensor::from_int64({1, 4}, {1, 2, 3, 4}), cache);
    model.decode(Tensor::from_int64({1}, {9}), Tensor::from_int64({1}, {4}), cache);
  }
  const std::vector<ValidationRecord> records = validation_registry().records();
  const TraceReader trace = TraceReader::open(path);
  ASSERT_EQ(trace.sequence_numbers().size(), records.size());

  std::set<std::string> shared;
  for (const SharedTensor& tensor : trace.shared_tensors()) shared.insert(tensor.tensor.name);
  EXPECT_TRUE(shared.count("embedding.token_weight"));
  EXPECT_TRUE(shared.count("layers.1.attention.wq"));
  EXPECT_TRUE(shared.count("layers.0.ffn.w_down"));
  EXPECT_TRUE(shared.count("lm_head.weight"));

  for (std::size_t i = 0; i < records.size(); ++i) {
    const TraceCall call = trace.call(trace.sequence_numbers()[i]);
    EXPECT_EQ(call.name, records[i].name);
    EXPECT_EQ(call.block, records[i].block);
    EXPECT_EQ(call.spec_json, records[i].spec_json);
    EXPECT_EQ(call.device, "N150");
    EXPECT_EQ(call.verdict, "pass");
    // The reader lists a call's inputs by name.
    const auto input = [&](const std::string& name) {
      for (const TraceTensor& tensor : call.inputs) {
        if (tensor.name == name) return tensor;
      }
      ADD_FAILURE() << call.name << " has no input " << name;
      return TraceTensor{};
    };
    if (call.name == "layers.0.ffn.decode") {
      ASSERT_EQ(call.inputs.size(), 4u);
      EXPECT_EQ(input("x").shared_key, "");
      EXPECT_EQ(input("w_gate").shared_key, "layers.0.ffn.w_gate");
      EXPECT_EQ(input("w_down").shared_key, "layers.0.ffn.w_down");
    }
    if (call.name == "layers.1.attention.decode") {
      // The cache as the call received it: the prefill's 4 positions, not the decoded one.
      const Tensor k_cache = trace.read(input("k_cache"));
      EXPECT_NE(k_cache.at({0, 0, 3, 0}), 0.0);
      for (std::int64_t d = 0; d < kHeadDim; ++d) EXPECT_EQ(k_cache.at({0, 1, 4, d}), 0.0);
    }
  }

  const ReplayReport replay = replay_trace(trace);
  EXPECT_EQ(replay.summary.failed, 0) << format_replay_summary(replay);
  // Norms, FFNs and the LM head replay through the builtin block registry.
  std::int64_t registered_calls = 0;
  for (const ValidationRecord& record : records) {
    if (BlockRegistry::global().find(record.block) != nullptr) ++registered_calls;
  }
  EXPECT_GE(registered_calls, 2 * (2 * 3 + 2));
  EXPECT_EQ(replay.summary.passed, registered_calls);
  EXPECT_EQ(replay.summary.passed + replay.summary.skipped, replay.summary.total);
}

TEST_F(CausalLmTest, WeightsListsEveryTensorOnce) {
  const CausalLm tied = make_model(tiny_spec(2), 1);
  std::vector<std::string> names;
  for (const NamedTensor& weight : tied.weights()) names.push_back(weight.name);
  EXPECT_EQ(names.front(), "embedding.token_weight");
  EXPECT_EQ(names[1], "layers.0.attention_norm.weight");
  EXPECT_EQ(names.back(), "norm.weight");  // The tied LM head reads the token table.
  EXPECT_EQ(names.size(), 1u + 2u * 9u + 1u);

  const CausalLm untied = make_model(tiny_spec(2, false), 1);
  EXPECT_EQ(untied.weights().back().name, "lm_head.weight");
}

}  // namespace
}  // namespace ttt

// The decoder layer: Spec/ImplConfig JSON and validation, the order of its computation (checked
// against a composition of the blocks' float64 references), Gemma-2's post norms, the KV cache
// between prefill and decode, the records of its calls, and constructor injection.
#include "patterns/decoder_layer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tiny_model.h"
#include "validation/metrics/metrics.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"

namespace ttt {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using namespace testing_patterns;

PerMode<DecoderLayerImplConfig> default_configs(const DecoderLayerSpec& spec) {
  return {default_impl_config(spec, Device::N150, Mode::prefill),
          default_impl_config(spec, Device::N150, Mode::decode)};
}

DecoderLayer make_layer(const DecoderLayerSpec& spec, std::uint64_t seed,
                        PatternOptions options = {}) {
  SeededWeights weights(seed);
  return DecoderLayer("layers.0",
                      make_decoder_layer_modules(spec, default_configs(spec), weights.layer(spec)),
                      options);
}

// The layer's mathematics composed from the blocks' float64 references, with float32 sums.
Tensor reference_layer(const DecoderLayerSpec& spec, const DecoderLayerWeights& w,
                       const Tensor& x) {
  const auto rms = [](const NormSpec& norm, const NormWeights& weights, const Tensor& input) {
    return rms_norm_reference(std::get<RmsNormSpec>(norm), {weights.weight}, input);
  };
  const auto add = [](const Tensor& a, const Tensor& b) {
    std::vector<float> sum(a.floats().begin(), a.floats().end());
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += b.floats()[i];
    return Tensor::from_floats(a.shape(), sum);
  };
  Tensor update = attention_prefill_reference(spec.attention, w.attention,
                                              rms(spec.attention_norm, w.attention_norm, x));
  if (spec.post_attention_norm)
    update = rms(*spec.post_attention_norm, w.post_attention_norm, update);
  const Tensor h = add(x, update);
  const GatedMlpWeights& ffn = std::get<GatedMlpWeights>(w.ffn);
  update =
      gated_mlp_reference(std::get<GatedMlpSpec>(spec.ffn), ffn, rms(spec.ffn_norm, w.ffn_norm, h));
  if (spec.post_ffn_norm) update = rms(*spec.post_ffn_norm, w.post_ffn_norm, update);
  return add(h, update);
}

class DecoderLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_validation_enabled(true);
    validation_registry().reset();
  }
};

TEST_F(DecoderLayerTest, SpecAndImplConfigRoundTripThroughJson) {
  const DecoderLayerSpec spec = tiny_layer(/*post_norms=*/true);
  const nlohmann::json json = spec;
  EXPECT_EQ(json.at("attention_norm").at("rms_norm").at("dim"), kHidden);
  EXPECT_EQ(json.at("ffn").at("gated_mlp").at("ffn_dim"), kFfn);
  EXPECT_TRUE(json.contains("post_ffn_norm"));
  EXPECT_EQ(json.get<DecoderLayerSpec>(), spec);
  EXPECT_FALSE(nlohmann::json(tiny_layer()).contains("post_ffn_norm"));

  nlohmann::json with_null = nlohmann::json(tiny_layer());
  with_null["post_attention_norm"] = nullptr;
  EXPECT_EQ(with_null.get<DecoderLayerSpec>(), tiny_layer());

  const DecoderLayerImplConfig config = default_impl_config(spec, Device::T3K, Mode::decode);
  const nlohmann::json config_json = config;
  EXPECT_EQ(config_json.at("residual_dtype"), "bfloat16");
  EXPECT_EQ(config_json.get<DecoderLayerImplConfig>(), config);
}

TEST_F(DecoderLayerTest, JsonErrorsNameTheField) {
  nlohmann::json json = tiny_layer();
  json["ffn_nrom"] = json["ffn_norm"];
  EXPECT_THAT([&] { json.get<DecoderLayerSpec>(); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("decoder_layer spec: /ffn_nrom: unknown field 'ffn_nrom' (expected one "
                            "of: attention_norm, attention, post_attention_norm, ffn_norm, ffn, "
                            "post_ffn_norm)")));
  json = tiny_layer();
  json["ffn"] = {{"swiglu", {{"hidden_dim", 64}}}};
  EXPECT_THAT([&] { json.get<DecoderLayerSpec>(); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("decoder_layer spec: /ffn/swiglu: unknown block 'swiglu' (expected "
                            "one of gated_mlp, mlp, moe)")));
  json = tiny_layer();
  json["attention_norm"] = {{"rms_norm", {{"dim", 64}}}, {"layer_norm", {{"dim", 64}}}};
  EXPECT_THAT([&] { json.get<DecoderLayerSpec>(); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("decoder_layer spec: /attention_norm: expected an object with one key "
                            "naming the block (one of rms_norm, layer_norm)")));
  // A field of a block nested in the layer is named by its full path.
  json = tiny_layer();
  json["ffn"].begin().value()["ffn_dim"] = "128";
  EXPECT_THAT([&] { json.get<DecoderLayerSpec>(); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("decoder_layer spec: /ffn/" + json["ffn"].begin().key() +
                            "/ffn_dim: expected an integer, got \"128\"")));
  const NormSpec layer_norm = nlohmann::json{{"layer_norm", {{"dim", 8}}}}.get<NormSpec>();
  EXPECT_EQ(block_kind(layer_norm), "layer_norm");
  EXPECT_EQ(norm_dim(layer_norm), 8);
}

TEST_F(DecoderLayerTest, DefaultImplConfigIsEachBlocksDefault) {
  const DecoderLayerSpec spec = tiny_layer(true);
  for (const Device device : {Device::N150, Device::T3K}) {
    for (const Mode mode : {Mode::prefill, Mode::decode}) {
      const DecoderLayerImplConfig config =
          default_impl_config(spec, device, mode, Preset::performance);
      EXPECT_EQ(config.attention,
                default_impl_config(spec.attention, device, mode, Preset::performance));
      EXPECT_EQ(
          std::get<GatedMlpImplConfig>(config.ffn),
          default_impl_config(std::get<GatedMlpSpec>(spec.ffn), device, mode, Preset::performance));
      EXPECT_EQ(std::get<RmsNormImplConfig>(*config.post_ffn_norm),
                default_impl_config(std::get<RmsNormSpec>(*spec.post_ffn_norm), device, mode));
      EXPECT_EQ(config.residual_dtype, DType::bfloat16);
    }
  }
}

TEST_F(DecoderLayerTest, ValidationNamesTheModule) {
  DecoderLayerSpec spec = tiny_layer();
  std::get<GatedMlpSpec>(spec.ffn).hidden_dim = 63;
  EXPECT_THAT([&] { spec.validate(); }, ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr(
                                            "[decoder_layer] ffn.hidden_dim (63) differs from "
                                            "attention.hidden_dim (64)")));

  spec = tiny_layer(true);
  PerMode<DecoderLayerImplConfig> configs = default_configs(spec);
  configs.decode.post_ffn_norm.reset();
  SeededWeights weights(1);
  EXPECT_THAT([&] { make_decoder_layer_modules(spec, configs, weights.layer(spec)); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("post_ffn_norm is not configured but the spec has post_ffn_norm")));

  configs = default_configs(spec);
  configs.prefill.ffn_norm = LayerNormImplConfig{};
  EXPECT_THAT([&] { make_decoder_layer_modules(spec, configs, weights.layer(spec)); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("impl config is layer_norm, spec is rms_norm")));

  const DecoderLayerSpec plain = tiny_layer();
  DecoderLayerWeights extra = weights.layer(spec);  // Has post-norm weights.
  EXPECT_THAT([&] { make_decoder_layer_modules(plain, default_configs(plain), extra); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("weights were given for post_attention_norm, but the spec has no")));

  DecoderLayerWeights wrong = weights.layer(plain);
  wrong.attention.wk = weights.matrix(kHidden, 48);
  EXPECT_THAT([&] { make_decoder_layer_modules(plain, default_configs(plain), wrong); },
              ::testing::ThrowsMessage<std::invalid_argument>(::testing::AllOf(
                  HasSubstr("[decoder_layer] attention: [attention] wk"), HasSubstr("[64, 48]"))));

  DecoderLayerModules missing =
      make_decoder_layer_modules(plain, default_configs(plain), weights.layer(plain));
  missing.ffn = nullptr;
  EXPECT_THAT([&] { DecoderLayer("layers.7", missing); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[decoder_layer] layers.7: module ffn is missing")));
}

TEST_F(DecoderLayerTest, PrefillComputesNormAttentionAddNormFfnAdd) {
  for (const bool post_norms : {false, true}) {
    const DecoderLayerSpec spec = tiny_layer(post_norms);
    SeededWeights seeded(5);
    const DecoderLayerWeights weights = seeded.layer(spec);
    const DecoderLayer layer("layers.0",
                             make_decoder_layer_modules(spec, default_configs(spec), weights));
    const Tensor x = random_normal({2, 7, kHidden}, 99, 0.0, 1.0, DType::bfloat16);
    KVCache cache = layer.make_cache(2, 8);
    const Tensor y = layer.prefill(x, cache);
    ASSERT_EQ(y.shape(), x.shape());
    EXPECT_EQ(y.dtype(), DType::bfloat16);
    const Metrics metrics = compute_metrics(y, reference_layer(spec, weights, x));
    EXPECT_GE(metrics.pcc, 0.999) << "post_norms " << post_norms;

    // The post norms are really applied: the reference without them is far off.
    if (post_norms) {
      const Metrics without = compute_metrics(y, reference_layer(tiny_layer(false), weights, x));
      EXPECT_LT(without.pcc, 0.99);
    }
  }
}

TEST_F(DecoderLayerTest, DecodeContinuesThePrefillThroughTheCache) {
  const DecoderLayerSpec spec = tiny_layer();
  const DecoderLayer layer = make_layer(spec, 3);
  const Tensor x = random_normal({1, 9, kHidden}, 17, 0.0, 1.0, DType::bfloat16);
  // Prefill of all 9 tokens, and prefill of 8 followed by a decode of the 9th.
  KVCache full_cache = layer.make_cache(1, 16);
  const Tensor full = layer.prefill(x, full_cache);
  KVCache cache = layer.make_cache(1, 16);
  std::vector<float> first(x.floats().begin(), x.floats().begin() + 8 * kHidden);
  std::vector<float> last(x.floats().begin() + 8 * kHidden, x.floats().end());
  layer.prefill(Tensor::from_floats({1, 8, kHidden}, first, DType::bfloat16), cache);
  const Tensor step = layer.decode(Tensor::from_floats({1, kHidden}, last, DType::bfloat16),
                                   Tensor::from_int64({1}, {8}), cache);
  std::vector<float> expected(full.floats().begin() + 8 * kHidden, full.floats().end());
  const Metrics metrics = compute_metrics(step, Tensor::from_floats({1, kHidden}, expected));
  EXPECT_GE(metrics.pcc, 0.999);
}

TEST_F(DecoderLayerTest, EveryModuleCallIsRecordedUnderItsPathWithItsBlock) {
  const DecoderLayerSpec spec = tiny_layer(true);
  PatternOptions options;
  options.device = "N300";
  const PerMode<DecoderLayerImplConfig> configs = default_configs(spec);
  SeededWeights weights(4);
  const DecoderLayer layer("layers.3",
                           make_decoder_layer_modules(spec, configs, weights.layer(spec)), options);
  KVCache cache = layer.make_cache(1, 8);
  layer.prefill(random_normal({1, 5, kHidden}, 1, 0.0, 1.0, DType::bfloat16), cache);
  layer.decode(random_normal({1, kHidden}, 2, 0.0, 1.0, DType::bfloat16),
               Tensor::from_int64({1}, {5}), cache);

  const std::vector<ValidationRecord> records = validation_registry().records();
  std::vector<std::string> names;
  for (const ValidationRecord& record : records) names.push_back(record.name);
  std::vector<std::string> expected;
  for (const char* mode : {"prefill", "decode"}) {
    for (const char* module : {"attention_norm", "attention", "post_attention_norm", "ffn_norm",
                               "ffn", "post_ffn_norm"}) {
      expected.push_back(std::string("layers.3.") + module + "." + mode);
    }
  }
  EXPECT_THAT(names, ElementsAreArray(expected));

  for (const ValidationRecord& record : records) {
    EXPECT_TRUE(record.passed) << record.name << ": " << record.verdict_text();
    EXPECT_EQ(record.device, "N300");
    ASSERT_EQ(record.outputs.size(), 1u);
    EXPECT_EQ(record.outputs[0].name, "y");
  }
  const auto find = [&](const std::string& name) {
    for (const ValidationRecord& record : records) {
      if (record.name == name) return record;
    }
    ADD_FAILURE() << "no record " << name;
    return ValidationRecord{};
  };
  const ValidationRecord ffn = find("layers.3.ffn.prefill");
  EXPECT_EQ(ffn.block, "gated_mlp");
  EXPECT_EQ(nlohmann::json::parse(ffn.spec_json), nlohmann::json(std::get<GatedMlpSpec>(spec.ffn)));
  EXPECT_EQ(nlohmann::json::parse(ffn.impl_config_json),
            nlohmann::json(std::get<GatedMlpImplConfig>(configs.prefill.ffn)));
  std::vector<std::string> inputs;
  for (const InputInfo& input : ffn.inputs) inputs.push_back(input.name);
  EXPECT_THAT(inputs, ElementsAreArray({"x", "w_gate", "w_up", "w_down"}));
  EXPECT_EQ(ffn.inputs[0].shape, (Shape{1, 5, kHidden}));
  EXPECT_EQ(ffn.inputs[1].shape, (Shape{kHidden, kFfn}));

  const ValidationRecord norm = find("layers.3.post_ffn_norm.decode");
  EXPECT_EQ(norm.block, "rms_norm");
  // rms_norm's replayer sets no tolerances (blocks/registration.cc): no PCC floor, the wrapper's
  // dtype-aware default applies.
  EXPECT_FALSE(norm.outputs[0].tolerances.pcc.has_value());
  // bfloat16 output against a float32 reference: the looser default, bfloat16's nmse 2^-12, and
  // no other threshold.
  ASSERT_TRUE(norm.outputs[0].tolerances.nmse.has_value());
  EXPECT_EQ(*norm.outputs[0].tolerances.nmse, 0x1p-12);
  EXPECT_FALSE(norm.outputs[0].tolerances.cosine_similarity.has_value());

  const ValidationRecord attention = find("layers.3.attention.decode");
  EXPECT_EQ(attention.block, "attention.decode");
  EXPECT_EQ(nlohmann::json::parse(attention.spec_json), nlohmann::json(spec.attention));
  EXPECT_EQ(nlohmann::json::parse(attention.impl_config_json),
            nlohmann::json(configs.decode.attention));
  inputs.clear();
  for (const InputInfo& input : attention.inputs) inputs.push_back(input.name);
  EXPECT_THAT(inputs,
              ElementsAreArray({"x", "positions", "k_cache", "v_cache", "wq", "wk", "wv", "wo"}));
  EXPECT_EQ(attention.inputs[2].shape, (Shape{1, kKvHeads, 8, kHeadDim}));
  const ValidationRecord prefill = find("layers.3.attention.prefill");
  EXPECT_EQ(prefill.block, "attention.prefill");
  ASSERT_EQ(prefill.scalars.size(), 1u);
  EXPECT_EQ(prefill.scalars[0].name, "first_slot");
}

// A user's FFN: the gated MLP with its own name for the block kind left empty (not replayable).
class UserFfn final : public PositionwiseModule {
 public:
  UserFfn(GatedMlpSpec spec, GatedMlpWeights weights)
      : spec_(spec),
        weights_(weights),
        block_(spec, default_impl_config(spec, Device::N150, Mode::prefill), weights) {}
  Tensor forward(const Tensor& x, Mode mode) const override {
    ++calls[static_cast<int>(mode)];
    return mode == Mode::prefill ? block_.prefill_forward(x) : block_.decode_forward(x);
  }
  Tensor reference(const Tensor& x) const override {
    return gated_mlp_reference(spec_, weights_, x);
  }
  // Its bfloat8_b weights lose more than bfloat16 rounding, so it declares TTTv1's PCC floor (the
  // dtype-aware default, nmse 2^-12, would fail it at nmse 3.1e-4).
  ModuleInfo info(Mode) const override {
    Tolerances floor;
    floor.pcc = 0.99;
    return {"", R"({"user": "ffn"})", "{}", floor};
  }

  mutable int calls[2] = {0, 0};

 private:
  GatedMlpSpec spec_;
  GatedMlpWeights weights_;
  GatedMlp block_;
};

TEST_F(DecoderLayerTest, InjectedModulesAreCalledAndValidated) {
  const DecoderLayerSpec spec = tiny_layer();
  SeededWeights weights(8);
  DecoderLayerWeights layer_weights = weights.layer(spec);
  const GatedMlpWeights ffn_weights = std::get<GatedMlpWeights>(layer_weights.ffn);
  DecoderLayerModules modules =
      make_decoder_layer_modules(spec, default_configs(spec), std::move(layer_weights));
  auto user = std::make_shared<const UserFfn>(std::get<GatedMlpSpec>(spec.ffn), ffn_weights);
  modules.ffn = user;
  const DecoderLayer layer("layers.1", modules);
  KVCache cache = layer.make_cache(1, 8);
  layer.prefill(random_normal({1, 4, kHidden}, 1, 0.0, 1.0, DType::bfloat16), cache);
  layer.decode(random_normal({1, kHidden}, 2, 0.0, 1.0, DType::bfloat16),
               Tensor::from_int64({1}, {4}), cache);
  EXPECT_EQ(user->calls[0], 1);
  EXPECT_EQ(user->calls[1], 1);
  const std::vector<ValidationRecord> records =
      validation_registry().records({.name_filter = "layers.1.ffn.*"});
  ASSERT_EQ(records.size(), 2u);
  for (const ValidationRecord& record : records) {
    EXPECT_TRUE(record.passed) << record.verdict_text();
    EXPECT_EQ(record.block, "");
    EXPECT_EQ(record.spec_json, R"({"user": "ffn"})");
    ASSERT_TRUE(record.outputs[0].tolerances.pcc.has_value());
    EXPECT_DOUBLE_EQ(*record.outputs[0].tolerances.pcc, 0.99);
    ASSERT_EQ(record.inputs.size(), 1u);  // A module without weights: just x.
  }
}

TEST_F(DecoderLayerTest, ResidualSumsAreRoundedToTheResidualDtype) {
  const DecoderLayerSpec spec = tiny_layer();
  PerMode<DecoderLayerImplConfig> configs = default_configs(spec);
  configs.prefill.residual_dtype = DType::float32;
  SeededWeights weights(2);
  const DecoderLayer layer("layers.0",
                           make_decoder_layer_modules(spec, configs, weights.layer(spec)));
  KVCache cache = layer.make_cache(1, 4);
  const Tensor y = layer.prefill(random_normal({1, 3, kHidden}, 1, 0.0, 1.0), cache);
  EXPECT_EQ(y.dtype(), DType::float32);
  const Tensor z =
      layer.decode(random_normal({1, kHidden}, 1, 0.0, 1.0), Tensor::from_int64({1}, {3}), cache);
  EXPECT_EQ(z.dtype(), DType::bfloat16);
}

}  // namespace
}  // namespace ttt

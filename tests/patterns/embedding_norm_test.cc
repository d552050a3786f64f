// The causal LM's optional embedding norm (BLOOM's word_embeddings_layernorm): where it runs, what
// it computes (a hand-derived tiny model), its call and weight names, and its JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "patterns/causal_lm.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

constexpr std::int64_t kWidth = 32;  // One tile: the smallest width the blocks accept.

// A model of width 32 and vocabulary 3 whose layer adds nothing (wo and w_down are zero), so its
// logits are lm_head(norm(embedding_norm(embedding(ids)))), which the tests derive by hand.
CausalLmSpec tiny_spec(bool embedding_norm) {
  CausalLmSpec spec;
  spec.embedding.vocab_size = 3;
  spec.embedding.hidden_dim = kWidth;
  if (embedding_norm) spec.embedding_norm = LayerNormSpec{kWidth, 1e-5, true};
  DecoderLayerSpec layer;
  layer.attention_norm = RmsNormSpec{kWidth, 1e-5, false};
  layer.attention.hidden_dim = kWidth;
  layer.attention.num_heads = 1;
  layer.attention.head_dim = kWidth;
  layer.attention.rope.head_dim = kWidth;
  layer.ffn_norm = RmsNormSpec{kWidth, 1e-5, false};
  layer.ffn = GatedMlpSpec{kWidth, kWidth, Activation::silu};
  spec.layers = {layer};
  spec.norm = RmsNormSpec{kWidth, 1e-5, false};
  spec.lm_head = LmHeadSpec{kWidth, 3, /*tied_embeddings=*/true, 0.0};
  return spec;
}

Tensor filled(Shape shape, float value) {
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)), value);
  return Tensor::from_floats(std::move(shape), std::move(values));
}

// Token table rows e0 = [1,0,...,0], e1 = [0,1,0,...,0], e2 = [1,...,1]. The embedding norm has
// scale 0 and bias [2,-2,2,-2,...], so it outputs its bias whatever the token; the final RMSNorm
// (scale 1) of [2,-2,...] is [1,-1,...] (rms 2), and the tied head's logits are its dot products
// with the rows: [1, -1, 0] (16 ones and 16 minus ones) for every token.
CausalLmWeights tiny_weights(const CausalLmSpec& spec) {
  CausalLmWeights weights;
  std::vector<float> table(3 * kWidth, 0.0F);
  table[0] = 1.0F;                                           // e0
  table[kWidth + 1] = 1.0F;                                  // e1
  std::fill(table.begin() + 2 * kWidth, table.end(), 1.0F);  // e2
  weights.token_embedding = Tensor::from_floats({3, kWidth}, table);
  if (spec.embedding_norm) {
    std::vector<float> bias(kWidth);
    for (std::size_t i = 0; i < bias.size(); ++i) bias[i] = i % 2 == 0 ? 2.0F : -2.0F;
    weights.embedding_norm.weight = filled({kWidth}, 0.0F);
    weights.embedding_norm.bias = Tensor::from_floats({kWidth}, bias);
  }
  DecoderLayerWeights layer;
  layer.attention_norm.weight = filled({kWidth}, 1.0F);
  layer.attention.wq = filled({kWidth, kWidth}, 0.5F);
  layer.attention.wk = filled({kWidth, kWidth}, 0.5F);
  layer.attention.wv = filled({kWidth, kWidth}, 0.5F);
  layer.attention.wo = filled({kWidth, kWidth}, 0.0F);  // The attention adds nothing.
  layer.ffn_norm.weight = filled({kWidth}, 1.0F);
  layer.ffn = GatedMlpWeights{filled({kWidth, kWidth}, 0.5F), filled({kWidth, kWidth}, 0.5F),
                              filled({kWidth, kWidth}, 0.0F)};  // Nor does the FFN.
  weights.layers = {layer};
  weights.norm.weight = filled({kWidth}, 1.0F);
  return weights;
}

CausalLm tiny_model(const CausalLmSpec& spec) {
  return CausalLm(
      make_causal_lm_modules(spec, default_impl_configs(spec, Device::N150), tiny_weights(spec)));
}

class EmbeddingNormTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_validation_enabled(true);
    validation_registry().reset();
  }
};

void expect_logits(const Tensor& logits, const std::vector<float>& expected) {
  const Tensor floats = logits.to(DType::float32);
  const std::span<const float> values = floats.floats();
  ASSERT_EQ(values.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    // The device path rounds activations to bfloat16 and weights to bfloat8_b (7 mantissa bits).
    EXPECT_NEAR(values[i], expected[i], 2e-2 + 1e-2 * std::abs(expected[i])) << "logit " << i;
  }
}

TEST_F(EmbeddingNormTest, NormalizesTheTokenEmbeddingsBeforeTheFirstLayer) {
  const CausalLm model = tiny_model(tiny_spec(true));
  CausalLmCache cache = model.make_cache(1, 4);
  const Tensor prefill = model.prefill(Tensor::from_int64({1, 3}, {0, 1, 2}), cache);
  expect_logits(prefill, {1, -1, 0, /**/ 1, -1, 0, /**/ 1, -1, 0});
  const Tensor decode =
      model.decode(Tensor::from_int64({1}, {2}), Tensor::from_int64({1}, {3}), cache);
  expect_logits(decode, {1, -1, 0});

  std::vector<std::string> names;
  for (const ValidationRecord& record : validation_registry().records()) {
    names.push_back(record.name);
    EXPECT_TRUE(record.passed) << record.name << ": " << record.verdict_text();
    if (record.name.starts_with("embedding_norm.")) {
      EXPECT_EQ(record.block, "layer_norm");
    }
  }
  EXPECT_THAT(names, ElementsAre("embedding.prefill", "embedding_norm.prefill",
                                 "layers.0.attention_norm.prefill", "layers.0.attention.prefill",
                                 "layers.0.ffn_norm.prefill", "layers.0.ffn.prefill",
                                 "norm.prefill", "lm_head.prefill", "embedding.decode",
                                 "embedding_norm.decode", "layers.0.attention_norm.decode",
                                 "layers.0.attention.decode", "layers.0.ffn_norm.decode",
                                 "layers.0.ffn.decode", "norm.decode", "lm_head.decode"));
  std::vector<std::string> weight_names;
  for (const NamedTensor& weight : model.weights()) weight_names.push_back(weight.name);
  EXPECT_THAT(weight_names, ::testing::Contains("embedding_norm.weight"));
  EXPECT_THAT(weight_names, ::testing::Contains("embedding_norm.bias"));
}

// Without the norm the same weights give other logits: token 0's row [1,0,...,0] has rms
// 1/sqrt(32), so it normalizes to [sqrt(32),0,...,0], whose dot products with the rows are
// [sqrt(32), 0, sqrt(32)] = [5.65685, 0, 5.65685].
TEST_F(EmbeddingNormTest, WithoutItTheEmbeddingsReachTheLayersAsTheyAre) {
  const CausalLm model = tiny_model(tiny_spec(false));
  CausalLmCache cache = model.make_cache(1, 4);
  expect_logits(model.prefill(Tensor::from_int64({1, 1}, {0}), cache), {5.65685F, 0, 5.65685F});
  for (const ValidationRecord& record : validation_registry().records()) {
    EXPECT_FALSE(record.name.starts_with("embedding_norm")) << record.name;
  }
}

TEST(EmbeddingNorm, JsonWritesItOnlyWhenSetAndReadsItStrictly) {
  const CausalLmSpec without = tiny_spec(false);
  EXPECT_FALSE(nlohmann::json(without).contains("embedding_norm"));
  EXPECT_FALSE(nlohmann::json(default_impl_config(without, Device::N150, Mode::prefill))
                   .contains("embedding_norm"));
  EXPECT_THAT(without.identity(), ::testing::Not(HasSubstr("embedding_norm")));

  const CausalLmSpec with = tiny_spec(true);
  const nlohmann::json json = with;
  EXPECT_EQ(json.at("embedding_norm"),
            nlohmann::json::parse(R"({"layer_norm": {"dim": 32, "eps": 1e-05, "bias": true}})"));
  EXPECT_EQ(json.get<CausalLmSpec>(), with);
  EXPECT_THAT(with.identity(),
              HasSubstr(",embedding_norm=LAYER_NORM(dim=32,eps=1e-05,bias=1),layer="));
  const CausalLmImplConfig config = default_impl_config(with, Device::N150, Mode::decode);
  ASSERT_TRUE(config.embedding_norm.has_value());
  EXPECT_TRUE(nlohmann::json(config).contains("embedding_norm"));
  EXPECT_EQ(nlohmann::json(config).get<CausalLmImplConfig>(), config);

  nlohmann::json misspelt = json;
  misspelt["embedding_norms"] = misspelt.at("embedding_norm");
  EXPECT_THAT([&] { misspelt.get<CausalLmSpec>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("embedding_norms")));
  nlohmann::json wrong_kind = json;
  wrong_kind["embedding_norm"] = {{"group_norm", {{"dim", 32}}}};
  EXPECT_THAT([&] { wrong_kind.get<CausalLmSpec>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("/embedding_norm")));
}

TEST(EmbeddingNorm, SpecConfigAndWeightsMustAgree) {
  CausalLmSpec spec = tiny_spec(true);
  spec.embedding_norm = LayerNormSpec{64, 1e-5, true};
  EXPECT_THAT([&] { spec.validate(); },
              ThrowsMessage<std::invalid_argument>(
                  "[causal_lm] embedding_norm.dim (64) differs from embedding.hidden_dim (32)"));

  const CausalLmSpec with = tiny_spec(true);
  const CausalLmSpec without = tiny_spec(false);
  PerMode<CausalLmImplConfig> configs = default_impl_configs(without, Device::N150);
  EXPECT_THAT([&] { make_causal_lm_modules(with, configs, tiny_weights(with)); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[causal_lm] embedding_norm is not configured but the spec has embedding_norm")));
  configs = default_impl_configs(with, Device::N150);
  EXPECT_THAT([&] { make_causal_lm_modules(without, configs, tiny_weights(without)); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[causal_lm] embedding_norm is configured but the spec has no embedding_norm")));
  configs.prefill.embedding_norm = RmsNormImplConfig{};
  EXPECT_THAT([&] { make_causal_lm_modules(with, configs, tiny_weights(with)); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[causal_lm] prefill config: "
                                                             "[causal_lm] embedding_norm: ")));
  EXPECT_THAT(
      [&] {
        make_causal_lm_modules(without, default_impl_configs(without, Device::N150),
                               tiny_weights(with));
      },
      ThrowsMessage<std::invalid_argument>(
          "[causal_lm] weights were given for embedding_norm, but the spec has no embedding_norm"));
}

}  // namespace
}  // namespace ttt

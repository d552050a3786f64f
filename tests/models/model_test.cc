// The model catalog: each published config.json maps to the Spec the model card describes
// (docs/suites.md "Models"); bad configs name the file and the field; slices and seeded weights.
#include "models/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <variant>

namespace ttt {
namespace {

using ::testing::HasSubstr;

const GatedMlpSpec& gated(const DecoderLayerSpec& layer) {
  return std::get<GatedMlpSpec>(layer.ffn);
}

TEST(ModelCatalog, ListsTheModelsOfTheSuites) {
  const std::vector<std::string> names = catalog_model_names();
  for (const char* name : {"llama-3.1-8b", "llama-3.2-1b", "mistral-7b", "qwen2.5-7b", "gemma-2-9b",
                           "mixtral-8x7b", "gpt2"}) {
    EXPECT_TRUE(is_catalog_model(name)) << name;
    EXPECT_NO_THROW(load_model(name)) << name;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_FALSE(is_catalog_model("llama-4"));
  try {
    catalog_config("llama-4");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("unknown model 'llama-4' (catalog: gemma-2-9b, gpt2"));
  }
}

TEST(ModelCatalog, Llama31EightBillion) {
  const ModelDefinition model = load_model("llama-3.1-8b");
  EXPECT_EQ(model.architecture, "llama");
  EXPECT_EQ(model.spec.layers.size(), 32u);
  const DecoderLayerSpec& layer = model.spec.layers[7];
  EXPECT_EQ(layer.attention.hidden_dim, 4096);
  EXPECT_EQ(layer.attention.num_heads, 32);
  EXPECT_EQ(layer.attention.num_kv_heads, 8);
  EXPECT_EQ(layer.attention.dim_per_head(), 128);
  EXPECT_EQ(layer.attention.rope.scaling, RopeScaling::llama3);
  EXPECT_DOUBLE_EQ(layer.attention.rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(layer.attention.rope.theta, 500000.0);
  EXPECT_EQ(gated(layer).ffn_dim, 14336);
  EXPECT_EQ(model.spec.lm_head.vocab_size, 128256);
  EXPECT_FALSE(model.spec.lm_head.tied_embeddings);
  EXPECT_DOUBLE_EQ(std::get<RmsNormSpec>(layer.attention_norm).eps, 1e-5);
}

TEST(ModelCatalog, Llama32OneBillionIsTiedWithHeadDim64) {
  const ModelDefinition model = load_model("llama-3.2-1b");
  EXPECT_EQ(model.spec.layers.size(), 16u);
  EXPECT_EQ(model.spec.layers[0].attention.dim_per_head(), 64);
  EXPECT_EQ(gated(model.spec.layers[0]).ffn_dim, 8192);
  EXPECT_TRUE(model.spec.lm_head.tied_embeddings);
  EXPECT_DOUBLE_EQ(model.spec.layers[0].attention.rope.factor, 32.0);
}

TEST(ModelCatalog, MistralHasASlidingWindow) {
  const ModelDefinition model = load_model("mistral-7b");
  EXPECT_EQ(model.architecture, "mistral");
  EXPECT_EQ(model.spec.layers[0].attention.sliding_window, 4096);
  EXPECT_EQ(model.spec.lm_head.vocab_size, 32000);
}

TEST(ModelCatalog, Qwen25SevenBillionHasQkvBiases) {
  const ModelDefinition model = load_model("qwen2.5-7b");
  EXPECT_EQ(model.architecture, "qwen2");
  const DecoderLayerSpec& layer = model.spec.layers[0];
  EXPECT_EQ(model.spec.layers.size(), 28u);
  EXPECT_EQ(layer.attention.hidden_dim, 3584);
  EXPECT_EQ(layer.attention.num_heads, 28);
  EXPECT_EQ(layer.attention.num_kv_heads, 4);
  EXPECT_EQ(layer.attention.dim_per_head(), 128);
  EXPECT_TRUE(layer.attention.qkv_bias);
  EXPECT_FALSE(layer.attention.output_bias);
  EXPECT_DOUBLE_EQ(layer.attention.rope.theta, 1e6);
  EXPECT_EQ(gated(layer).ffn_dim, 18944);
  EXPECT_DOUBLE_EQ(std::get<RmsNormSpec>(layer.ffn_norm).eps, 1e-6);
  EXPECT_EQ(model.spec.lm_head.vocab_size, 152064);
}

TEST(ModelCatalog, Gemma2NineBillion) {
  const ModelDefinition model = load_model("gemma-2-9b");
  EXPECT_EQ(model.spec.layers.size(), 42u);
  const DecoderLayerSpec& even = model.spec.layers[0];
  const DecoderLayerSpec& odd = model.spec.layers[1];
  EXPECT_EQ(even.attention.sliding_window, 4096);
  EXPECT_EQ(odd.attention.sliding_window, 0);
  EXPECT_EQ(even.attention.dim_per_head(), 256);
  EXPECT_EQ(even.attention.num_heads, 16);
  EXPECT_DOUBLE_EQ(even.attention.query_pre_attn_scalar, 256.0);
  EXPECT_DOUBLE_EQ(even.attention.logit_softcap, 50.0);
  EXPECT_TRUE(even.post_attention_norm.has_value());
  EXPECT_TRUE(even.post_ffn_norm.has_value());
  EXPECT_TRUE(std::get<RmsNormSpec>(even.attention_norm).add_unit_offset);
  EXPECT_EQ(gated(even).activation, Activation::gelu_tanh);
  EXPECT_NEAR(model.spec.embedding.scale, std::sqrt(3584.0), 1e-12);
  EXPECT_DOUBLE_EQ(model.spec.lm_head.logit_softcap, 30.0);
  EXPECT_TRUE(model.spec.lm_head.tied_embeddings);
  EXPECT_EQ(model.spec.lm_head.vocab_size, 256000);
}

TEST(ModelCatalog, MixtralIsAMixtureOfEightExpertsTopTwo) {
  const ModelDefinition model = load_model("mixtral-8x7b");
  const auto& moe = std::get<MoeSpec>(model.spec.layers[0].ffn);
  EXPECT_EQ(moe.num_experts, 8);
  EXPECT_EQ(moe.top_k, 2);
  EXPECT_EQ(moe.ffn_dim, 14336);
  EXPECT_DOUBLE_EQ(model.spec.layers[0].attention.rope.theta, 1e6);
  EXPECT_EQ(model.spec.layers[0].attention.sliding_window, 0);
}

TEST(ModelCatalog, Gpt2HasLayerNormsLearnedPositionsAndBiases) {
  const ModelDefinition model = load_model("gpt2");
  EXPECT_EQ(model.architecture, "gpt2");
  EXPECT_EQ(model.spec.layers.size(), 12u);
  const DecoderLayerSpec& layer = model.spec.layers[0];
  EXPECT_TRUE(std::holds_alternative<LayerNormSpec>(layer.attention_norm));
  EXPECT_EQ(layer.attention.positions, AttentionPositions::none);
  EXPECT_EQ(layer.attention.num_kv_heads, 12);
  EXPECT_TRUE(layer.attention.qkv_bias);
  EXPECT_TRUE(layer.attention.output_bias);
  const auto& mlp = std::get<MlpSpec>(layer.ffn);
  EXPECT_EQ(mlp.ffn_dim, 3072);
  EXPECT_EQ(mlp.activation, Activation::gelu_tanh);
  EXPECT_TRUE(mlp.bias);
  EXPECT_EQ(model.spec.embedding.positions, PositionEmbedding::learned);
  EXPECT_EQ(model.spec.embedding.max_positions, 1024);
  EXPECT_EQ(model.spec.lm_head.vocab_size, 50257);
  EXPECT_TRUE(model.spec.lm_head.tied_embeddings);
}

TEST(ModelConfig, ErrorsNameTheFileAndTheField) {
  const auto error_of = [](nlohmann::json config) -> std::string {
    try {
      model_from_config(config, "my/config.json");
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "no error";
  };
  nlohmann::json qwen = catalog_config("qwen2.5-7b");
  qwen["num_key_value_heads"] = 5;
  EXPECT_EQ(error_of(qwen),
            "[model_config] my/config.json: field 'num_key_value_heads': 5 does not divide "
            "num_attention_heads 28");
  qwen = catalog_config("qwen2.5-7b");
  qwen["hidden_sise"] = 1;
  EXPECT_THAT(error_of(qwen), HasSubstr("field 'hidden_sise': is not a field"));
  nlohmann::json gemma = catalog_config("gemma-2-9b");
  gemma["head_dim"] = "256";
  EXPECT_THAT(error_of(gemma), HasSubstr("field 'head_dim': expected an integer, got \"256\""));
  nlohmann::json gpt2 = catalog_config("gpt2");
  gpt2["model_type"] = "bloom";
  EXPECT_THAT(error_of(gpt2), HasSubstr("field 'model_type': unmapped architecture 'bloom'"));
  nlohmann::json llama = catalog_config("llama-3.1-8b");
  llama["rope_scaling"]["rope_type"] = "dynamic";
  EXPECT_THAT(error_of(llama), HasSubstr("rope_scaling"));
  EXPECT_THAT(error_of(nlohmann::json::array()), HasSubstr("expected a JSON object"));
  EXPECT_THROW(load_model("/no/such/config.json"), std::invalid_argument);
}

TEST(SliceSpec, KeepsTheFirstLayersAndCutsTheVocabulary) {
  const CausalLmSpec spec = load_model("llama-3.1-8b").spec;
  const CausalLmSpec slice = slice_spec(spec, 2, 8192);
  EXPECT_EQ(slice.layers.size(), 2u);
  EXPECT_EQ(slice.embedding.vocab_size, 8192);
  EXPECT_EQ(slice.lm_head.vocab_size, 8192);
  EXPECT_EQ(slice.layers[1], spec.layers[1]);
  EXPECT_NO_THROW(slice.validate());
  EXPECT_EQ(slice_spec(spec, 32).lm_head.vocab_size, 128256);
  EXPECT_THROW(slice_spec(spec, 0), std::invalid_argument);
  EXPECT_THROW(slice_spec(spec, 33), std::invalid_argument);
}

TEST(SeededModelWeights, ShapesFollowTheSpecAndValuesTheSeed) {
  CausalLmSpec spec = slice_spec(load_model("gpt2").spec, 1, 64);
  spec.embedding.max_positions = 16;
  const CausalLmWeights weights = seeded_model_weights(spec, 0.02, 5);
  EXPECT_EQ(weights.token_embedding.shape(), (Shape{64, 768}));
  EXPECT_EQ(weights.position_embedding.shape(), (Shape{16, 768}));
  const auto& mlp = std::get<MlpWeights>(weights.layers[0].ffn);
  EXPECT_EQ(mlp.w_up.shape(), (Shape{768, 3072}));
  EXPECT_EQ(mlp.b_down.shape(), (Shape{768}));
  EXPECT_TRUE(weights.layers[0].attention.bq.defined());
  EXPECT_FALSE(weights.lm_head.defined());  // Tied to the token table.
  const Tensor scale = weights.layers[0].attention_norm.weight.load();
  double mean = 0.0;
  for (float value : scale.floats()) mean += value;
  EXPECT_NEAR(mean / 768.0, 1.0, 0.01);  // LayerNorm scales around 1.
  EXPECT_EQ(weights.layers[0].attention.wq.load().at({3, 4}),
            seeded_model_weights(spec, 0.02, 5).layers[0].attention.wq.load().at({3, 4}));
  EXPECT_NE(weights.layers[0].attention.wq.load().at({3, 4}),
            seeded_model_weights(spec, 0.02, 6).layers[0].attention.wq.load().at({3, 4}));
  // The whole model builds and validates with them.
  EXPECT_NO_THROW(make_causal_lm_modules(spec, default_impl_configs(spec, Device::N150),
                                         seeded_model_weights(spec, 0.02, 5)));
}

TEST(SeededModelWeights, GemmaNormsScaleByOnePlusAWeightAroundZero) {
  const CausalLmSpec spec = slice_spec(load_model("gemma-2-9b").spec, 1, 64);
  const CausalLmWeights weights = seeded_model_weights(spec, 0.02, 1);
  double mean = 0.0;
  const Tensor scale = weights.norm.weight.load();
  for (float value : scale.floats()) mean += value;
  EXPECT_NEAR(mean / 3584.0, 0.0, 0.01);
  EXPECT_TRUE(weights.layers[0].post_ffn_norm.weight.defined());
}

}  // namespace
}  // namespace ttt

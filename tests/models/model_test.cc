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
    EXPECT_THAT(error.what(),
                HasSubstr("unknown model 'llama-4' (catalog: bert-base-uncased, bloom-560m, "
                          "deepseek-r1-distill-qwen-1.5b, gemma-2-9b, gpt2"));
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

// The models mapped by data files alone (issue 13): every value below is the published
// config.json's (shared/reference/model_configs.md), mapped by hand as docs/models.md says.
TEST(ModelCatalog, Qwen3EightBillionHasQkNormsAndNoBiases) {
  const ModelDefinition model = load_model("qwen3-8b");
  EXPECT_EQ(model.architecture, "qwen3");
  ASSERT_EQ(model.spec.layers.size(), 36u);
  const DecoderLayerSpec& layer = model.spec.layers[35];
  EXPECT_EQ(layer, model.spec.layers[0]);
  EXPECT_EQ(layer.attention.hidden_dim, 4096);
  EXPECT_EQ(layer.attention.num_heads, 32);
  EXPECT_EQ(layer.attention.num_kv_heads, 8);
  EXPECT_EQ(layer.attention.head_dim, 128);
  EXPECT_TRUE(layer.attention.qk_norm);
  EXPECT_DOUBLE_EQ(layer.attention.qk_norm_eps, 1e-6);
  EXPECT_FALSE(layer.attention.qkv_bias);
  EXPECT_FALSE(layer.attention.output_bias);
  EXPECT_EQ(layer.attention.sliding_window, 0);
  EXPECT_EQ(layer.attention.positions, AttentionPositions::rope);
  EXPECT_EQ(layer.attention.rope.head_dim, 128);
  EXPECT_EQ(layer.attention.rope.rotary_dim, 0);
  EXPECT_DOUBLE_EQ(layer.attention.rope.theta, 1e6);
  EXPECT_EQ(layer.attention.rope.max_position_embeddings, 40960);
  EXPECT_EQ(layer.attention.rope.scaling, RopeScaling::none);
  EXPECT_EQ(std::get<RmsNormSpec>(layer.attention_norm), (RmsNormSpec{4096, 1e-6, false}));
  EXPECT_EQ(gated(layer), (GatedMlpSpec{4096, 12288, Activation::silu}));
  EXPECT_EQ(model.spec.embedding.vocab_size, 151936);
  EXPECT_EQ(model.spec.lm_head, (LmHeadSpec{4096, 151936, false, 0.0}));
}

TEST(ModelCatalog, Phi3MiniIsLlamaShapedMultiHeadWithASlidingWindow) {
  const ModelDefinition model = load_model("phi-3-mini-4k");
  EXPECT_EQ(model.architecture, "phi3");
  ASSERT_EQ(model.spec.layers.size(), 32u);
  const DecoderLayerSpec& layer = model.spec.layers[31];
  EXPECT_EQ(layer, model.spec.layers[0]);
  EXPECT_EQ(layer.attention.hidden_dim, 3072);
  EXPECT_EQ(layer.attention.num_heads, 32);
  EXPECT_EQ(layer.attention.num_kv_heads, 32);
  EXPECT_EQ(layer.attention.head_dim, 96);  // 3072 / 32
  EXPECT_EQ(layer.attention.sliding_window, 2047);
  EXPECT_FALSE(layer.attention.qkv_bias);
  EXPECT_FALSE(layer.attention.qk_norm);
  EXPECT_DOUBLE_EQ(layer.attention.rope.theta, 10000.0);
  EXPECT_EQ(layer.attention.rope.max_position_embeddings, 4096);
  // original_max_position_embeddings only feeds a rope_scaling, and this file has none.
  EXPECT_EQ(layer.attention.rope.original_max_position_embeddings, 0);
  EXPECT_EQ(std::get<RmsNormSpec>(layer.ffn_norm), (RmsNormSpec{3072, 1e-5, false}));
  EXPECT_EQ(gated(layer), (GatedMlpSpec{3072, 8192, Activation::silu}));
  EXPECT_EQ(model.spec.lm_head, (LmHeadSpec{3072, 32064, false, 0.0}));
}

TEST(ModelCatalog, StableLm2HasLayerNormsPartialRotaryAndQkvBiases) {
  const ModelDefinition model = load_model("stablelm-2-1.6b");
  EXPECT_EQ(model.architecture, "stablelm");
  ASSERT_EQ(model.spec.layers.size(), 24u);
  const DecoderLayerSpec& layer = model.spec.layers[0];
  EXPECT_EQ(layer.attention.num_heads, 32);
  EXPECT_EQ(layer.attention.num_kv_heads, 32);
  EXPECT_EQ(layer.attention.head_dim, 64);
  EXPECT_EQ(layer.attention.rope.rotary_dim, 16);  // 64 * partial_rotary_factor 0.25
  EXPECT_TRUE(layer.attention.qkv_bias);
  EXPECT_FALSE(layer.attention.output_bias);
  EXPECT_FALSE(layer.attention.qk_norm);
  EXPECT_EQ(std::get<LayerNormSpec>(layer.attention_norm), (LayerNormSpec{2048, 1e-5, true}));
  EXPECT_EQ(std::get<LayerNormSpec>(model.spec.norm), (LayerNormSpec{2048, 1e-5, true}));
  EXPECT_EQ(gated(layer), (GatedMlpSpec{2048, 5632, Activation::silu}));
  EXPECT_EQ(model.spec.lm_head, (LmHeadSpec{2048, 100352, false, 0.0}));
}

// BLOOM-560m (shared/reference/model_configs.md): hidden 1024, 24 layers, 16 heads of 64, ALiBi,
// LayerNorms with bias (eps 1e-5) and a LayerNorm on the token embeddings
// (word_embeddings_layernorm), biased attention and GELU (tanh) MLP of 4 * 1024, tied head, vocab
// 250880.
TEST(ModelCatalog, BloomHasAnEmbeddingLayerNormAndAlibi) {
  const ModelDefinition model = load_model("bloom-560m");
  EXPECT_EQ(model.architecture, "bloom");
  ASSERT_EQ(model.spec.layers.size(), 24u);
  ASSERT_TRUE(model.spec.embedding_norm.has_value());
  EXPECT_EQ(std::get<LayerNormSpec>(*model.spec.embedding_norm), (LayerNormSpec{1024, 1e-5, true}));
  EXPECT_EQ(model.spec.embedding.positions, PositionEmbedding::none);
  const DecoderLayerSpec& layer = model.spec.layers[23];
  EXPECT_EQ(layer.attention.positions, AttentionPositions::alibi);
  EXPECT_EQ(layer.attention.num_heads, 16);
  EXPECT_EQ(layer.attention.num_kv_heads, 16);
  EXPECT_EQ(layer.attention.dim_per_head(), 64);
  EXPECT_TRUE(layer.attention.qkv_bias);
  EXPECT_TRUE(layer.attention.output_bias);
  EXPECT_EQ(std::get<LayerNormSpec>(layer.attention_norm), (LayerNormSpec{1024, 1e-5, true}));
  EXPECT_EQ(std::get<LayerNormSpec>(layer.ffn_norm), (LayerNormSpec{1024, 1e-5, true}));
  EXPECT_EQ(std::get<MlpSpec>(layer.ffn), (MlpSpec{1024, 4096, Activation::gelu_tanh, true}));
  EXPECT_EQ(std::get<LayerNormSpec>(model.spec.norm), (LayerNormSpec{1024, 1e-5, true}));
  EXPECT_EQ(model.spec.lm_head, (LmHeadSpec{1024, 250880, true, 0.0}));
  // A one-layer slice keeps the embedding norm; its seeded weights draw it, and the model builds.
  const CausalLmSpec slice = slice_spec(model.spec, 1, 64);
  EXPECT_EQ(slice.embedding_norm, model.spec.embedding_norm);
  const CausalLmWeights weights = seeded_model_weights(slice, 0.02, 5);
  EXPECT_EQ(weights.embedding_norm.weight.shape(), (Shape{1024}));
  EXPECT_EQ(weights.embedding_norm.bias.shape(), (Shape{1024}));
  EXPECT_NO_THROW(make_causal_lm_modules(slice, default_impl_configs(slice, Device::N150),
                                         seeded_model_weights(slice, 0.02, 5)));
}

// A value needing a feature no block expresses is refused naming the field, the feature and the
// mapping file.
TEST(ModelConfig, RefusesFeaturesNoBlockExpresses) {
  nlohmann::json stablelm = catalog_config("stablelm-2-1.6b");
  stablelm["use_parallel_residual"] = true;
  EXPECT_THAT([&] { model_from_config(stablelm, "stablelm.json"); },
              testing::ThrowsMessage<std::invalid_argument>(
                  "stablelm.json: /use_parallel_residual: true needs a "
                  "parallel residual, which no TTTv2 pattern expresses "
                  "(models/architectures/stablelm.json)"));
  stablelm = catalog_config("stablelm-2-1.6b");
  stablelm["qk_layernorm"] = true;
  EXPECT_THAT([&] { model_from_config(stablelm, "s.json"); },
              testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("s.json: /qk_layernorm: true needs a per-head LayerNorm on q and k")));
  nlohmann::json qwen3 = catalog_config("qwen3-8b");
  qwen3["use_sliding_window"] = true;
  EXPECT_THAT([&] { model_from_config(qwen3, "q.json"); },
              testing::ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "q.json: /use_sliding_window: true needs a sliding window on the layers from "
                  "max_window_layers on")));
  nlohmann::json qwen2 = catalog_config("qwen2.5-7b");
  qwen2["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_THAT([&] { model_from_config(qwen2, "q.json"); },
              testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("q.json: /rope_scaling: {\"factor\":4.0,\"rope_type\":\"yarn\"} "
                            "needs RoPE scaling")));
  nlohmann::json bloom = catalog_config("bloom-560m");
  bloom["n_heads"] = 16;
  EXPECT_THAT([&] { model_from_config(bloom, "b.json"); },
              testing::ThrowsMessage<std::invalid_argument>(
                  "b.json: /n_heads: unknown field 'n_heads' (the bloom mapping, "
                  "models/architectures/bloom.json, neither reads, ignores nor refuses it)"));
  bloom = catalog_config("bloom-560m");
  bloom["apply_residual_connection_post_layernorm"] = true;
  EXPECT_THAT([&] { model_from_config(bloom, "b.json"); },
              testing::ThrowsMessage<std::invalid_argument>(
                  "b.json: /apply_residual_connection_post_layernorm: true needs a residual "
                  "taken after the norm, which no TTTv2 pattern expresses "
                  "(models/architectures/bloom.json)"));
}

// Hugging Face's defaults apply to absent fields, through the mapping's defaults and expressions.
TEST(ModelConfig, AbsentFieldsTakeTheMappingsDefaults) {
  const nlohmann::json minimal = {{"architectures", {"Qwen3ForCausalLM"}},
                                  {"hidden_size", 256},
                                  {"intermediate_size", 512},
                                  {"num_hidden_layers", 2},
                                  {"num_attention_heads", 4},
                                  {"vocab_size", 1000}};
  const ModelDefinition model = model_from_config(minimal, "q.json");
  EXPECT_EQ(model.architecture, "qwen3");  // From the architecture: no model_type.
  const AttentionSpec& attention = model.spec.layers[1].attention;
  EXPECT_EQ(attention.num_kv_heads, 4);                      // num_attention_heads
  EXPECT_EQ(attention.head_dim, 64);                         // hidden_size / num_attention_heads
  EXPECT_EQ(attention.rope.max_position_embeddings, 32768);  // Qwen3Config's
  EXPECT_DOUBLE_EQ(attention.rope.theta, 10000.0);
  EXPECT_DOUBLE_EQ(std::get<RmsNormSpec>(model.spec.norm).eps, 1e-6);
  EXPECT_DOUBLE_EQ(model.initializer_range, 0.02);

  nlohmann::json gpt2 = catalog_config("gpt2");
  gpt2["n_inner"] = nullptr;  // 4 * n_embd
  gpt2["n_head"] = 5;
  EXPECT_THAT([&] { model_from_config(gpt2, "g.json"); },
              testing::ThrowsMessage<std::invalid_argument>(
                  "g.json: /n_head: 5 does not divide n_embd 768 and "
                  "head_dim is not given"));
  gpt2["n_head"] = 12;
  EXPECT_EQ(std::get<MlpSpec>(model_from_config(gpt2, "g.json").spec.layers[0].ffn).ffn_dim, 3072);

  nlohmann::json phi3 = catalog_config("phi-3-mini-4k");
  phi3["rope_scaling"] = {{"type", "longrope"},
                          {"short_factor", std::vector<double>(48, 1.0)},
                          {"long_factor", std::vector<double>(48, 2.0)}};
  const RopeSpec rope = model_from_config(phi3, "p.json").spec.layers[0].attention.rope;
  EXPECT_EQ(rope.scaling, RopeScaling::longrope);
  EXPECT_EQ(rope.original_max_position_embeddings, 4096);  // Beside rope_scaling in Phi-3.
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
            "my/config.json: /num_key_value_heads: 5 does not divide "
            "num_attention_heads 28");
  qwen = catalog_config("qwen2.5-7b");
  qwen["hidden_sise"] = 1;
  EXPECT_EQ(error_of(qwen),
            "my/config.json: /hidden_sise: unknown field 'hidden_sise' (the qwen2 mapping, "
            "models/architectures/qwen2.json, neither reads, ignores nor refuses it)");
  nlohmann::json gemma = catalog_config("gemma-2-9b");
  gemma["head_dim"] = "256";
  EXPECT_EQ(error_of(gemma), "my/config.json: /head_dim: expected an integer, got \"256\"");
  gemma = catalog_config("gemma-2-9b");
  gemma.erase("vocab_size");
  EXPECT_EQ(error_of(gemma), "my/config.json: /: missing field 'vocab_size'");
  nlohmann::json gpt2 = catalog_config("gpt2");
  gpt2["model_type"] = "rwkv";
  EXPECT_THAT(error_of(gpt2),
              HasSubstr("my/config.json: /model_type: unmapped architecture 'rwkv' (mapped: "
                        "bloom, gemma2, gpt2, llama, mistral, mixtral, phi3, "
                        "qwen2, qwen3, stablelm)"));
  gpt2["model_type"] = "llama";
  EXPECT_THAT(error_of(gpt2),
              HasSubstr("my/config.json: /model_type: 'llama' contradicts architecture "
                        "GPT2LMHeadModel (model_type 'gpt2')"));
  nlohmann::json llama = catalog_config("llama-3.1-8b");
  llama["rope_scaling"]["rope_type"] = "dynamic";
  EXPECT_THAT(error_of(llama),
              HasSubstr("my/config.json: /rope_scaling/rope_type: unknown RoPE type 'dynamic'"));
  EXPECT_EQ(error_of(nlohmann::json::array()), "my/config.json: /: expected an object, got []");
  EXPECT_THROW(load_model("/no/such/config.json"), std::invalid_argument);
}

// A config.json inside a larger document (coverage's models.json) is named by its full path.
TEST(ModelConfig, ANestedConfigIsNamedByItsPathInTheDocument) {
  nlohmann::json document = {{"models", {{{"config", catalog_config("gemma-2-9b")}}}}};
  const auto error_of = [&]() -> std::string {
    try {
      model_from_config(JsonNode(document, "models.json").at("models").at(0).at("config"));
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "no error";
  };
  EXPECT_EQ(error_of(), "no error");
  EXPECT_EQ(model_from_config(JsonNode(document, "models.json").at("models").at(0).at("config"))
                .architecture,
            "gemma2");
  nlohmann::json& config = document["models"][0]["config"];
  config["head_dim"] = "256";
  EXPECT_EQ(error_of(), "models.json: /models/0/config/head_dim: expected an integer, got \"256\"");
  config = catalog_config("gemma-2-9b");
  config.erase("vocab_size");
  EXPECT_EQ(error_of(), "models.json: /models/0/config: missing field 'vocab_size'");
  config = catalog_config("gemma-2-9b");
  config["head_dimm"] = 1;
  EXPECT_THAT(error_of(), HasSubstr("models.json: /models/0/config/head_dimm: unknown field"));
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

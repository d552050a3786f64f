// config.json -> CausalLmSpec: the published configs of Llama-3.2-1B, Llama-3.1-8B and
// Mistral-7B (model_configs.md), Hugging Face's defaults, and every refused file with the field it
// names.
#include "models/llama/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/common/scratch_dir.h"

namespace ttt::llama {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// Llama-3.2-1B's config.json as published.
json llama_3_2_1b() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
    "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256})");
}

// Llama-3.1-8B's config.json as published (no head_dim: hidden / heads; eos a list).
json llama_3_1_8b() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256})");
}

// Mistral-7B-v0.1's config.json as published.
json mistral_7b() {
  return json::parse(R"({
    "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
    "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0",
    "use_cache": true, "vocab_size": 32000})");
}

// Expects the config to be refused with a message naming the source and every fragment.
void expect_refused(const json& config, const std::vector<std::string>& fragments) {
  try {
    llama_config_from_json(config, "test/config.json");
    FAIL() << "accepted " << config.dump();
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("test/config.json: /"));
    for (const std::string& fragment : fragments) EXPECT_THAT(error.what(), HasSubstr(fragment));
  }
}

TEST(LlamaConfig, MapsLlama32_1B) {
  const LlamaConfig config = llama_config_from_json(llama_3_2_1b(), "config.json");
  const CausalLmSpec& spec = config.spec;
  EXPECT_EQ(config.architecture, "LlamaForCausalLM");
  EXPECT_EQ(config.model_type, "llama");
  EXPECT_EQ(config.max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(config.initializer_range, 0.02);
  ASSERT_EQ(spec.layers.size(), 16u);
  EXPECT_EQ(spec.embedding.vocab_size, 128256);
  EXPECT_EQ(spec.embedding.hidden_dim, 2048);
  EXPECT_EQ(spec.embedding.positions, PositionEmbedding::none);

  const DecoderLayerSpec& layer = spec.layers[15];
  EXPECT_EQ(layer, spec.layers[0]);
  const AttentionSpec& attention = layer.attention;
  EXPECT_EQ(attention.hidden_dim, 2048);
  EXPECT_EQ(attention.num_heads, 32);
  EXPECT_EQ(attention.num_kv_heads, 8);
  EXPECT_EQ(attention.head_dim, 64);
  EXPECT_FALSE(attention.qkv_bias);
  EXPECT_FALSE(attention.output_bias);
  EXPECT_EQ(attention.sliding_window, 0);
  EXPECT_EQ(attention.positions, AttentionPositions::rope);
  EXPECT_EQ(attention.rope.head_dim, 64);
  EXPECT_EQ(attention.rope.rotary_dim, 0);
  EXPECT_DOUBLE_EQ(attention.rope.theta, 500000.0);
  EXPECT_EQ(attention.rope.max_position_embeddings, 131072);
  EXPECT_EQ(attention.rope.scaling, RopeScaling::llama3);
  EXPECT_DOUBLE_EQ(attention.rope.factor, 32.0);
  EXPECT_DOUBLE_EQ(attention.rope.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(attention.rope.high_freq_factor, 4.0);
  EXPECT_EQ(attention.rope.original_max_position_embeddings, 8192);

  const RmsNormSpec expected_norm{2048, 1e-5, false};
  EXPECT_EQ(std::get<RmsNormSpec>(layer.attention_norm), expected_norm);
  EXPECT_EQ(std::get<RmsNormSpec>(layer.ffn_norm), expected_norm);
  EXPECT_FALSE(layer.post_attention_norm.has_value());
  EXPECT_FALSE(layer.post_ffn_norm.has_value());
  EXPECT_EQ(std::get<GatedMlpSpec>(layer.ffn), (GatedMlpSpec{2048, 8192, Activation::silu}));
  EXPECT_EQ(std::get<RmsNormSpec>(spec.norm), expected_norm);
  EXPECT_EQ(spec.lm_head, (LmHeadSpec{2048, 128256, true, 0.0}));
}

TEST(LlamaConfig, MapsLlama31_8BWithDerivedHeadDim) {
  const LlamaConfig config = llama_config_from_json(llama_3_1_8b(), "config.json");
  const AttentionSpec& attention = config.spec.layers[0].attention;
  EXPECT_EQ(config.spec.layers.size(), 32u);
  EXPECT_EQ(attention.head_dim, 128);
  EXPECT_EQ(attention.rope.head_dim, 128);
  EXPECT_DOUBLE_EQ(attention.rope.factor, 8.0);
  EXPECT_EQ(std::get<GatedMlpSpec>(config.spec.layers[0].ffn).ffn_dim, 14336);
  EXPECT_FALSE(config.spec.lm_head.tied_embeddings);
}

TEST(LlamaConfig, MapsMistralSlidingWindow) {
  const LlamaConfig config = llama_config_from_json(mistral_7b(), "config.json");
  const AttentionSpec& attention = config.spec.layers[0].attention;
  EXPECT_EQ(config.model_type, "mistral");
  EXPECT_EQ(attention.sliding_window, 4096);
  EXPECT_EQ(attention.rope.scaling, RopeScaling::none);
  EXPECT_DOUBLE_EQ(attention.rope.theta, 10000.0);
  EXPECT_EQ(config.spec.embedding.vocab_size, 32000);

  json later = mistral_7b();
  later["sliding_window"] = nullptr;  // Mistral-7B-v0.2 and later.
  EXPECT_EQ(llama_config_from_json(later, "config.json").spec.layers[0].attention.sliding_window,
            0);
}

TEST(LlamaConfig, AppliesHuggingFaceDefaults) {
  const json minimal = {{"architectures", {"LlamaForCausalLM"}},
                        {"hidden_size", 256},
                        {"intermediate_size", 512},
                        {"num_hidden_layers", 2},
                        {"num_attention_heads", 4},
                        {"vocab_size", 1000}};
  const LlamaConfig config = llama_config_from_json(minimal, "config.json");
  const AttentionSpec& attention = config.spec.layers[0].attention;
  EXPECT_EQ(config.model_type, "llama");
  EXPECT_EQ(attention.num_kv_heads, 4);
  EXPECT_EQ(attention.head_dim, 64);
  EXPECT_DOUBLE_EQ(attention.rope.theta, 10000.0);
  EXPECT_EQ(attention.rope.max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(std::get<RmsNormSpec>(config.spec.norm).eps, 1e-6);
  EXPECT_FALSE(config.spec.lm_head.tied_embeddings);
  EXPECT_EQ(std::get<GatedMlpSpec>(config.spec.layers[0].ffn).activation, Activation::silu);
}

TEST(LlamaConfig, MapsOtherRopeScalingsAndOptions) {
  json config = llama_3_1_8b();
  config["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  config["attention_bias"] = true;
  config["partial_rotary_factor"] = 0.5;
  config["hidden_act"] = "gelu_pytorch_tanh";
  const LlamaConfig linear = llama_config_from_json(config, "config.json");
  const AttentionSpec& attention = linear.spec.layers[0].attention;
  EXPECT_EQ(attention.rope.scaling, RopeScaling::linear);
  EXPECT_DOUBLE_EQ(attention.rope.factor, 4.0);
  EXPECT_EQ(attention.rope.rotary_dim, 64);
  EXPECT_TRUE(attention.qkv_bias);
  EXPECT_TRUE(attention.output_bias);
  EXPECT_EQ(std::get<GatedMlpSpec>(linear.spec.layers[0].ffn).activation, Activation::gelu_tanh);

  config["rope_scaling"] = {{"rope_type", "yarn"},
                            {"factor", 4.0},
                            {"original_max_position_embeddings", 32768},
                            {"beta_fast", 16.0}};
  const RopeSpec yarn = llama_config_from_json(config, "config.json").spec.layers[0].attention.rope;
  EXPECT_EQ(yarn.scaling, RopeScaling::yarn);
  EXPECT_EQ(yarn.original_max_position_embeddings, 32768);
  EXPECT_DOUBLE_EQ(yarn.beta_fast, 16.0);
  EXPECT_DOUBLE_EQ(yarn.beta_slow, 1.0);

  config["rope_scaling"] = {{"rope_type", "default"}};
  EXPECT_EQ(llama_config_from_json(config, "config.json").spec.layers[0].attention.rope.scaling,
            RopeScaling::none);
}

TEST(LlamaConfig, RefusesUnmappedArchitecturesAndUnknownFields) {
  json config = llama_3_2_1b();
  config["architectures"] = {"RwkvForCausalLM"};
  expect_refused(config,
                 {"test/config.json: /architectures: ", "unmapped architecture 'RwkvForCausalLM'",
                  "the llama mapping accepts LlamaForCausalLM"});
  config["architectures"] = {"Qwen2ForCausalLM"};  // Mapped, but not by model_type llama.
  expect_refused(config, {"test/config.json: /model_type: ",
                          "'llama' contradicts architecture Qwen2ForCausalLM"});
  // Mapped, but not the Llama family.
  expect_refused({{"architectures", {"Qwen3ForCausalLM"}},
                  {"hidden_size", 256},
                  {"intermediate_size", 512},
                  {"num_hidden_layers", 2},
                  {"num_attention_heads", 4},
                  {"vocab_size", 1000}},
                 {"test/config.json: /model_type: ", "'qwen3' is not of the Llama family"});
  config = llama_3_2_1b();
  config["architectures"] = json::array();
  expect_refused(config, {"test/config.json: /architectures: expected one architecture"});
  config = llama_3_2_1b();
  config.erase("architectures");
  expect_refused(config, {"test/config.json: /architectures: expected one architecture, e.g. "
                          "[\"LlamaForCausalLM\"], got []"});

  config = llama_3_2_1b();
  config["hidden_sise"] = 2048;
  expect_refused(config,
                 {"test/config.json: /hidden_sise: unknown field 'hidden_sise' (the llama "
                  "mapping, models/architectures/llama.json, neither reads, ignores nor refuses "
                  "it)"});
  config = llama_3_2_1b();
  config["sliding_window"] = 4096;  // Only Mistral has one.
  expect_refused(config, {"test/config.json: /sliding_window: unknown field 'sliding_window'"});
  config = llama_3_2_1b();
  config["rope_scaling"]["rope_typo"] = "llama3";
  expect_refused(config, {"test/config.json: /rope_scaling/rope_typo: unknown field 'rope_typo' "
                          "(expected one of: rope_type, type, factor, low_freq_factor, "
                          "high_freq_factor, original_max_position_embeddings)"});
  config = llama_3_2_1b();
  config["quantization_config"] = {{"bits", 4}};
  expect_refused(config, {"test/config.json: /quantization_config: quantized checkpoints are not "
                          "supported"});
}

TEST(LlamaConfig, RefusesContradictoryAndUnsupportedValues) {
  json config = llama_3_2_1b();
  config["model_type"] = "mistral";
  expect_refused(config,
                 {"test/config.json: /model_type: ", "contradicts architecture LlamaForCausalLM"});

  config = llama_3_2_1b();
  config["rope_scaling"]["type"] = "linear";
  expect_refused(config,
                 {"test/config.json: /rope_scaling/type: 'linear' contradicts rope_type 'llama3'"});

  config = llama_3_2_1b();
  config["num_key_value_heads"] = 5;
  expect_refused(config, {"test/config.json: /num_key_value_heads: 5 does not divide "
                          "num_attention_heads 32"});

  config = llama_3_1_8b();
  config["num_attention_heads"] = 40;
  expect_refused(config,
                 {"test/config.json: /num_attention_heads: ", "does not divide hidden_size 4096"});

  config = llama_3_2_1b();
  config["head_dim"] = 63;
  expect_refused(config, {"test/config.json: /head_dim: must be even"});

  config = llama_3_2_1b();
  config["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  expect_refused(config,
                 {"test/config.json: /rope_scaling/rope_type: unknown RoPE type 'dynamic'"});

  config = llama_3_2_1b();
  config["rope_scaling"].erase("original_max_position_embeddings");
  expect_refused(config, {"test/config.json: /rope_scaling: missing field "
                          "'original_max_position_embeddings'"});
  config = llama_3_2_1b();
  config["rope_scaling"]["factor"] = "8";
  expect_refused(config, {"test/config.json: /rope_scaling/factor: expected a number, got \"8\""});

  config = llama_3_2_1b();
  config["mlp_bias"] = true;
  expect_refused(config, {"test/config.json: /mlp_bias: true needs biases on the gated MLP"});

  config = llama_3_2_1b();
  config["hidden_act"] = "mish";
  expect_refused(config, {"test/config.json: /hidden_act: unsupported activation 'mish'"});

  config = llama_3_2_1b();
  config["hidden_size"] = "2048";
  expect_refused(config, {"test/config.json: /hidden_size: expected an integer, got \"2048\""});

  config = llama_3_2_1b();
  config.erase("vocab_size");
  expect_refused(config, {"test/config.json: /: missing field 'vocab_size'"});

  config = llama_3_2_1b();
  config["num_hidden_layers"] = 0;
  expect_refused(config, {"test/config.json: /num_hidden_layers: expected an integer >= 1, got 0"});

  config = llama_3_2_1b();
  config["rope_theta"] = -1.0;
  expect_refused(config, {"test/config.json: /: [", "[rope]"});
}

TEST(LlamaConfig, LoadsFilesAndNamesThemInErrors) {
  const test_support::ScratchDir scratch;
  const std::filesystem::path& dir = scratch.path();
  const std::string good = (dir / "config.json").string();
  std::ofstream(good) << llama_3_2_1b().dump(2);
  const LlamaConfig config = load_llama_config(good);
  EXPECT_EQ(config.source, good);
  EXPECT_EQ(config.spec.layers.size(), 16u);

  const std::string broken = (dir / "broken.json").string();
  std::ofstream(broken) << "{\"hidden_size\": 2048,";
  EXPECT_THAT([&] { load_llama_config(broken); },
              testing::ThrowsMessage<std::invalid_argument>(HasSubstr(broken + ": not JSON")));
  const std::string missing = (dir / "missing.json").string();
  EXPECT_THAT([&] { load_llama_config(missing); },
              testing::ThrowsMessage<std::invalid_argument>(HasSubstr(missing)));
  const std::string array = (dir / "array.json").string();
  std::ofstream(array) << "[1]";
  EXPECT_THAT([&] { load_llama_config(array); }, testing::ThrowsMessage<std::invalid_argument>(
                                                     array + ": /: expected an object, got [1]"));
}

}  // namespace
}  // namespace ttt::llama

// Llama weights: Hugging Face names and shapes, the seeded generator, checkpoints written by the
// tests (F32 and BF16, sharded), the transposes, and the refused checkpoints (missing tensor,
// wrong shape, wrong dtype).
#include "models/llama/weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "models/llama/model.h"
#include "tests/common/scratch_dir.h"
#include "tests/models/llama/test_files.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/random.h"
#include "validation/wrapper/switches.h"

namespace ttt::llama {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// A tiny Llama: 2 layers, hidden 64, 4 query / 2 key-value heads of 16, ffn 128, vocab 96.
LlamaConfig tiny_config(bool tied) {
  nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                           {"hidden_size", 64},
                           {"intermediate_size", 128},
                           {"num_hidden_layers", 2},
                           {"num_attention_heads", 4},
                           {"num_key_value_heads", 2},
                           {"vocab_size", 96},
                           {"rms_norm_eps", 1e-5},
                           {"rope_theta", 500000.0},
                           {"max_position_embeddings", 256},
                           {"tie_word_embeddings", tied}};
  return llama_config_from_json(config, "tiny/config.json");
}

using testing_files::write_file;

// The seeded tensors of `config`, replacing or dropping some, written as one F32 checkpoint.
std::string checkpoint_with(const fs::path& path, const LlamaConfig& config,
                            const std::map<std::string, Tensor>& replace,
                            const std::string& drop = "") {
  std::vector<NamedTensor> tensors;
  for (const LlamaTensor& tensor : llama_tensors(config)) {
    if (tensor.name == drop) continue;
    const auto it = replace.find(tensor.name);
    tensors.push_back(
        {tensor.name, it != replace.end() ? it->second : seeded_tensor(tensor, 0, 0.02)});
  }
  return write_file(path, make_safetensors(tensors, "F32"));
}

TEST(LlamaWeights, ListsHuggingFaceNamesAndShapes) {
  const std::vector<LlamaTensor> untied = llama_tensors(tiny_config(false));
  ASSERT_EQ(untied.size(), 1u + 2u * 9u + 2u);
  EXPECT_EQ(untied[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(untied[0].shape, (Shape{96, 64}));
  EXPECT_EQ(untied[1].name, "model.layers.0.input_layernorm.weight");
  EXPECT_TRUE(untied[1].norm_scale);
  EXPECT_EQ(untied[2].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(untied[2].shape, (Shape{64, 64}));
  EXPECT_TRUE(untied[2].transposed);
  EXPECT_EQ(untied[3].name, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(untied[3].shape, (Shape{32, 64}));
  EXPECT_EQ(untied[5].name, "model.layers.0.self_attn.o_proj.weight");
  EXPECT_EQ(untied[6].name, "model.layers.0.post_attention_layernorm.weight");
  EXPECT_EQ(untied[7].name, "model.layers.0.mlp.gate_proj.weight");
  EXPECT_EQ(untied[7].shape, (Shape{128, 64}));
  EXPECT_EQ(untied[9].name, "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(untied[9].shape, (Shape{64, 128}));
  EXPECT_EQ(untied[19].name, "model.norm.weight");
  EXPECT_EQ(untied[20].name, "lm_head.weight");
  EXPECT_EQ(untied[20].shape, (Shape{96, 64}));
  EXPECT_EQ(llama_tensors(tiny_config(true)).size(), untied.size() - 1);
}

TEST(LlamaWeights, SeedsAreFnv1aOfTheNameXorTheSeed) {
  // FNV-1a 64-bit test vectors (Fowler, Noll, Vo): "" and "a".
  EXPECT_EQ(tensor_seed("", 0), 0xcbf29ce484222325ULL);
  EXPECT_EQ(tensor_seed("a", 0), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(tensor_seed("a", 5), 0xaf63dc4c8601ec8cULL ^ 5u);
}

TEST(LlamaWeights, SeededWeightsAreTheGeneratorsValuesTransposed) {
  const LlamaConfig config = tiny_config(false);
  const CausalLmWeights weights = seeded_llama_weights(config, 7);
  const Tensor wq = weights.layers[1].attention.wq.load();
  const Tensor q_proj =
      random_normal({64, 64}, tensor_seed("model.layers.1.self_attn.q_proj.weight", 7), 0.0, 0.02);
  ASSERT_EQ(wq.shape(), (Shape{64, 64}));
  for (const auto& [row, col] : {std::pair{0, 1}, std::pair{5, 63}, std::pair{40, 7}}) {
    EXPECT_EQ(wq.at({row, col}), q_proj.at({col, row}));
  }
  const Tensor w_down = std::get<GatedMlpWeights>(weights.layers[0].ffn).w_down.load();
  EXPECT_EQ(w_down.shape(), (Shape{128, 64}));
  const Tensor norm = weights.norm.weight.load();
  const Tensor expected_norm = random_normal({64}, tensor_seed("model.norm.weight", 7), 1.0, 0.02);
  EXPECT_EQ(norm.at({3}), expected_norm.at({3}));
  const Tensor lm_head = weights.lm_head.load();
  EXPECT_EQ(lm_head.shape(), (Shape{64, 96}));
  EXPECT_FALSE(seeded_llama_weights(tiny_config(true)).lm_head.defined());
  EXPECT_NE(seeded_llama_weights(config, 8).layers[1].attention.wq.load().at({0, 1}),
            wq.at({0, 1}));
}

TEST(LlamaWeights, CheckpointWeightsMatchTheSeededOnes) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const LlamaConfig config = tiny_config(false);
  // Two shards: the embedding alone, then everything else.
  std::vector<NamedTensor> first;
  std::vector<NamedTensor> rest;
  for (const LlamaTensor& tensor : llama_tensors(config)) {
    (tensor.name == "model.embed_tokens.weight" ? first : rest)
        .push_back({tensor.name, seeded_tensor(tensor, 3, 0.02)});
  }
  write_file(dir / "model-00001-of-00002.safetensors", make_safetensors(first, "F32"));
  write_file(dir / "model-00002-of-00002.safetensors", make_safetensors(rest, "F32"));

  const CausalLmWeights loaded =
      llama_weights_from_checkpoint(config, SafetensorsCheckpoint::open(dir.string()));
  const CausalLmWeights seeded = seeded_llama_weights(config, 3);
  const auto same = [](const WeightSource& a, const WeightSource& b) {
    const Tensor x = a.load();
    const Tensor y = b.load();
    ASSERT_EQ(x.shape(), y.shape());
    EXPECT_EQ(0, std::memcmp(x.floats().data(), y.floats().data(), x.nbytes()));
  };
  same(loaded.token_embedding, seeded.token_embedding);
  same(loaded.layers[1].attention.wk, seeded.layers[1].attention.wk);
  same(loaded.layers[1].attention.wo, seeded.layers[1].attention.wo);
  same(std::get<GatedMlpWeights>(loaded.layers[0].ffn).w_up,
       std::get<GatedMlpWeights>(seeded.layers[0].ffn).w_up);
  same(loaded.layers[0].ffn_norm.weight, seeded.layers[0].ffn_norm.weight);
  same(loaded.lm_head, seeded.lm_head);
}

TEST(LlamaWeights, Bf16CheckpointsLoadAsBf16Values) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const LlamaConfig config = tiny_config(true);
  const std::string path =
      write_file(dir / "model.safetensors", seeded_llama_checkpoint(config, 0, "BF16"));
  const CausalLmWeights loaded =
      llama_weights_from_checkpoint(config, SafetensorsCheckpoint::open(path));
  const Tensor expected =
      seeded_llama_weights(config).layers[0].attention.wv.load().to(DType::bfloat16);
  const Tensor wv = loaded.layers[0].attention.wv.load();
  for (std::int64_t i = 0; i < wv.numel(); ++i) {
    ASSERT_EQ(wv.floats()[i], expected.floats()[i]) << i;
  }
}

TEST(LlamaWeights, RefusesMissingTensorsWrongShapesAndDtypes) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const LlamaConfig config = tiny_config(false);
  const std::string missing =
      checkpoint_with(dir / "missing.safetensors", config, {}, "model.layers.1.mlp.up_proj.weight");
  EXPECT_THAT([&] { llama_weights_from_checkpoint(config, SafetensorsCheckpoint::open(missing)); },
              testing::ThrowsMessage<std::invalid_argument>(
                  testing::AllOf(HasSubstr("[llama_weights] " + missing),
                                 HasSubstr("tensor 'model.layers.1.mlp.up_proj.weight' is missing"),
                                 HasSubstr("tiny/config.json implies [128, 64]"))));

  const std::string shape = checkpoint_with(
      dir / "shape.safetensors", config,
      {{"model.layers.0.self_attn.k_proj.weight", random_normal({64, 64}, 1, 0.0, 0.02)}});
  EXPECT_THAT(
      [&] { llama_weights_from_checkpoint(config, SafetensorsCheckpoint::open(shape)); },
      testing::ThrowsMessage<std::invalid_argument>(testing::AllOf(
          HasSubstr(shape), HasSubstr("tensor 'model.layers.0.self_attn.k_proj.weight'"),
          HasSubstr("has shape [64, 64], expected [32, 64]"),
          HasSubstr("[num_key_value_heads * head_dim, hidden_size] from tiny/config.json"))));

  // An untied config needs lm_head.weight.
  const std::string untied =
      checkpoint_with(dir / "untied.safetensors", config, {}, "lm_head.weight");
  EXPECT_THAT([&] { llama_weights_from_checkpoint(config, SafetensorsCheckpoint::open(untied)); },
              testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("tensor 'lm_head.weight' is missing")));

  // A tensor stored as I32 where a float is expected.
  const std::string header =
      R"({"model.norm.weight":{"dtype":"I32","shape":[64],"data_offsets":[0,256]}})";
  std::string ints(8, '\0');
  const std::uint64_t length = header.size();
  std::memcpy(ints.data(), &length, 8);
  ints += header + std::string(256, '\0');
  write_file(dir / "ints.safetensors", ints);
  std::vector<NamedTensor> others;
  for (const LlamaTensor& tensor : llama_tensors(config)) {
    if (tensor.name != "model.norm.weight") {
      others.push_back({tensor.name, seeded_tensor(tensor, 0, 0.02)});
    }
  }
  write_file(dir / "others.safetensors", make_safetensors(others, "F32"));
  fs::create_directories(dir / "mixed");
  fs::rename(dir / "ints.safetensors", dir / "mixed" / "a.safetensors");
  fs::rename(dir / "others.safetensors", dir / "mixed" / "b.safetensors");
  EXPECT_THAT(
      [&] {
        llama_weights_from_checkpoint(config,
                                      SafetensorsCheckpoint::open((dir / "mixed").string()));
      },
      testing::ThrowsMessage<std::invalid_argument>(
          HasSubstr("tensor 'model.norm.weight' has dtype I32; only F32, F16 and BF16 load")));
}

TEST(LlamaModel, CheckpointAndSeededModelsComputeTheSameLogits) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const LlamaConfig config = tiny_config(false);
  const std::string path =
      write_file(dir / "model.safetensors", seeded_llama_checkpoint(config, 0, "F32"));
  set_validation_enabled(false);
  LlamaModelOptions seeded_options;
  LlamaModelOptions checkpoint_options;
  checkpoint_options.checkpoint = path;
  const LlamaModel seeded = build_llama_model(config, seeded_options);
  const LlamaModel loaded = build_llama_model(config, checkpoint_options);
  const Tensor ids = random_integers({1, 6}, 11, 0, 96);
  CausalLmCache seeded_cache = seeded.model.make_cache(1, 8);
  CausalLmCache loaded_cache = loaded.model.make_cache(1, 8);
  const Tensor a = seeded.model.prefill(ids, seeded_cache);
  const Tensor b = loaded.model.prefill(ids, loaded_cache);
  set_validation_enabled(true);
  ASSERT_EQ(a.shape(), (Shape{1, 6, 96}));
  EXPECT_EQ(0, std::memcmp(a.floats().data(), b.floats().data(), a.nbytes()));
}

}  // namespace
}  // namespace ttt::llama

// Model weights: the one seeded scheme, Hugging Face checkpoints of every mapped architecture
// written and read back through the mappings' "weights" sections, fused tensors (Phi-3's qkv_proj
// and gate_up_proj, GPT-2's c_attn, BLOOM's per-head query_key_value) against hand-cut slices,
// sharded and BF16 checkpoints, and the refused mappings and checkpoints.
#include "models/weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "models/internal/architecture.h"
#include "models/model.h"
#include "tests/common/scratch_dir.h"
#include "tests/models/test_files.h"
#include "validation/tensor/fnv.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_files::write_file;
namespace fs = std::filesystem;

// A tiny config.json of each mapped architecture: 2 layers, hidden 64, 4 heads (2 key-value heads
// where the architecture has GQA), vocab 96, every optional weight the architecture has switched
// on (biases, untied LM head).
nlohmann::json tiny_config(const std::string& type) {
  const std::map<std::string, std::string> classes = {
      {"llama", "LlamaForCausalLM"},       {"mistral", "MistralForCausalLM"},
      {"qwen2", "Qwen2ForCausalLM"},       {"qwen3", "Qwen3ForCausalLM"},
      {"mixtral", "MixtralForCausalLM"},   {"gemma2", "Gemma2ForCausalLM"},
      {"stablelm", "StableLmForCausalLM"}, {"phi3", "Phi3ForCausalLM"},
      {"gpt2", "GPT2LMHeadModel"},         {"bloom", "BloomForCausalLM"}};
  nlohmann::json config = {
      {"architectures", {classes.at(type)}}, {"model_type", type}, {"vocab_size", 96}};
  if (type == "gpt2") {
    config.update({{"n_embd", 64}, {"n_layer", 2}, {"n_head", 4}, {"n_positions", 32}});
    return config;
  }
  if (type == "bloom") {
    config.update({{"hidden_size", 64}, {"n_layer", 2}, {"n_head", 4}});
    return config;
  }
  config.update({{"hidden_size", 64},
                 {"intermediate_size", 128},
                 {"num_hidden_layers", 2},
                 {"num_attention_heads", 4},
                 {"num_key_value_heads", 2},
                 {"max_position_embeddings", 64}});
  if (type != "gemma2") config["tie_word_embeddings"] = false;
  if (type == "llama" || type == "mistral") config["attention_bias"] = true;
  if (type == "qwen3" || type == "gemma2") config["head_dim"] = 16;
  if (type == "stablelm") config["use_qkv_bias"] = true;
  if (type == "mixtral") {
    config.update({{"num_local_experts", 3}, {"num_experts_per_tok", 2}, {"sliding_window", 32}});
  }
  return config;
}

const std::vector<std::string> kTypes = {"llama",  "mistral",  "qwen2", "qwen3", "mixtral",
                                         "gemma2", "stablelm", "phi3",  "gpt2",  "bloom"};

CausalLmSpec tiny_spec(const std::string& type) {
  return model_from_config(tiny_config(type), type + "/config.json").spec;
}

void expect_same(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(0, std::memcmp(a.floats().data(), b.floats().data(), a.nbytes())) << what;
}

TEST(ModelWeights, EveryArchitectureRoundTripsThroughItsHuggingFaceNames) {
  // One Hugging Face tensor per architecture, with the shape its layout implies (read from the
  // architectures' modeling code): q/k/v and gate/up fused or split, [out, in] or Conv1D [in, out].
  const std::map<std::string, std::pair<std::string, Shape>> expected = {
      {"llama", {"model.layers.1.self_attn.k_proj.bias", {32}}},
      {"mistral", {"model.layers.0.self_attn.o_proj.weight", {64, 64}}},
      {"qwen2", {"model.layers.0.self_attn.v_proj.bias", {32}}},
      {"qwen3", {"model.layers.1.self_attn.q_norm.weight", {16}}},
      {"mixtral", {"model.layers.1.block_sparse_moe.experts.2.w2.weight", {64, 128}}},
      {"gemma2", {"model.layers.0.pre_feedforward_layernorm.weight", {64}}},
      {"stablelm", {"model.layers.0.input_layernorm.bias", {64}}},
      {"phi3", {"model.layers.1.mlp.gate_up_proj.weight", {256, 64}}},
      {"gpt2", {"transformer.h.1.attn.c_attn.weight", {64, 192}}},
      {"bloom", {"transformer.h.0.self_attention.query_key_value.weight", {192, 64}}}};
  const test_support::ScratchDir scratch;
  for (const std::string& type : kTypes) {
    SCOPED_TRACE(type);
    const CausalLmSpec spec = tiny_spec(type);
    const CausalLmWeights seeded = seeded_model_weights(spec, 0.02, 9);
    const std::string path = write_file(scratch.path() / (type + ".safetensors"),
                                        seeded_checkpoint(spec, type, 0.02, 9, "F32"));
    const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(path);
    const SafetensorsEntry* entry = checkpoint.files().front().find(expected.at(type).first);
    ASSERT_NE(entry, nullptr) << expected.at(type).first;
    EXPECT_EQ(entry->shape, expected.at(type).second);

    const std::vector<NamedTensor> original = named_model_weights(spec, seeded);
    const std::vector<NamedTensor> loaded =
        named_model_weights(spec, checkpoint_weights(spec, type, checkpoint));
    ASSERT_EQ(loaded.size(), original.size());
    for (std::size_t i = 0; i < loaded.size(); ++i) {
      EXPECT_EQ(loaded[i].name, original[i].name);
      expect_same(loaded[i].tensor, original[i].tensor, loaded[i].name);
    }
  }
}

TEST(ModelWeights, ListsWhatTheSpecReadsNamedAsTheModelNamesThem) {
  const std::vector<ModelWeight> weights = model_weights(tiny_spec("mixtral"));
  // Embedding, then per layer: norm, wq wk wv wo, norm, router, 3 x 3 experts; final norm, head.
  ASSERT_EQ(weights.size(), 1u + 2u * (1u + 4u + 1u + 1u + 9u) + 2u);
  EXPECT_EQ(weights[0].path, "embedding.token_weight");
  EXPECT_EQ(weights[7].path, "layers.0.ffn.router");
  EXPECT_EQ(weights[7].shape, (Shape{64, 3}));
  EXPECT_EQ(weights[8].path, "layers.0.ffn.w_gate.0");
  EXPECT_EQ(weights[8].pattern, "layers.{i}.ffn.w_gate.{e}");
  EXPECT_EQ(weights[8].expert, 0);
  EXPECT_EQ(weights[8].seed_name, "layers.0.ffn.expert0.w_gate");
  EXPECT_EQ(weights.back().path, "lm_head.weight");
  EXPECT_EQ(weights.back().shape, (Shape{64, 96}));
}

TEST(ModelWeights, SeededWeightsHashTheirNameXorTheSeed) {
  const CausalLmSpec spec = tiny_spec("gemma2");
  const CausalLmWeights weights = seeded_model_weights(spec, 0.02, 7);
  // FNV-1a 64-bit test vector (Fowler, Noll, Vo): "a".
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  expect_same(weights.layers[1].attention.wq.load(),
              random_normal({64, 64}, fnv1a64("layers.1.attention.wq") ^ 7, 0.0, 0.02), "wq");
  // Gemma's norms scale by (1 + weight): drawn around 0.
  expect_same(weights.norm.weight.load(),
              random_normal({64}, fnv1a64("norm.weight") ^ 7, 0.0, 0.02), "norm");
  const CausalLmWeights llama = seeded_model_weights(tiny_spec("llama"), 0.02, 7);
  expect_same(llama.norm.weight.load(), random_normal({64}, fnv1a64("norm.weight") ^ 7, 1.0, 0.02),
              "llama norm");
  const CausalLmWeights mixtral = seeded_model_weights(tiny_spec("mixtral"), 0.02, 7);
  expect_same(std::get<MoeWeights>(mixtral.layers[0].ffn).experts[2].w_up.load(),
              random_normal({64, 128}, fnv1a64("layers.0.ffn.expert2.w_up") ^ 7, 0.0, 0.02),
              "expert");
}

// The seeded checkpoint of `type` with `replace` swapped in (Hugging Face names).
std::string checkpoint_with(const fs::path& path, const std::string& type,
                            const std::map<std::string, Tensor>& replace,
                            const std::string& drop = "") {
  const CausalLmSpec spec = tiny_spec(type);
  std::vector<NamedTensor> tensors;
  for (NamedTensor& tensor : checkpoint_tensors(spec, type, seeded_model_weights(spec, 0.02, 0))) {
    if (tensor.name == drop) continue;
    const auto it = replace.find(tensor.name);
    if (it != replace.end()) tensor.tensor = it->second;
    tensors.push_back(std::move(tensor));
  }
  return write_file(path, make_safetensors(tensors, "F32"));
}

TEST(ModelWeights, Phi3FusedTensorsSplitIntoHandCutSlices) {
  const test_support::ScratchDir scratch;
  // qkv_proj [q 64 + k 32 + v 32, hidden 64], gate_up_proj [gate 128 + up 128, hidden 64].
  const Tensor qkv = random_normal({128, 64}, 1, 0.0, 1.0);
  const Tensor gate_up = random_normal({256, 64}, 2, 0.0, 1.0);
  const std::string path = checkpoint_with(scratch.path() / "phi3.safetensors", "phi3",
                                           {{"model.layers.1.self_attn.qkv_proj.weight", qkv},
                                            {"model.layers.1.mlp.gate_up_proj.weight", gate_up}});
  const CausalLmWeights weights =
      checkpoint_weights(tiny_spec("phi3"), "phi3", SafetensorsCheckpoint::open(path));
  const AttentionWeights& attention = weights.layers[1].attention;
  const auto& mlp = std::get<GatedMlpWeights>(weights.layers[1].ffn);
  // Each block weight [in, out] is rows [first, first + out) of the fused [out, in], transposed.
  const auto expect_slice = [](const WeightSource& source, const Tensor& fused, std::int64_t first,
                               std::int64_t rows, const char* what) {
    const Tensor weight = source.load();
    ASSERT_EQ(weight.shape(), (Shape{64, rows})) << what;
    for (std::int64_t in = 0; in < 64; ++in) {
      for (std::int64_t out = 0; out < rows; ++out) {
        ASSERT_EQ(weight.at({in, out}), fused.at({first + out, in}))
            << what << " " << in << "," << out;
      }
    }
  };
  expect_slice(attention.wq, qkv, 0, 64, "wq");
  expect_slice(attention.wk, qkv, 64, 32, "wk");
  expect_slice(attention.wv, qkv, 96, 32, "wv");
  expect_slice(mlp.w_gate, gate_up, 0, 128, "w_gate");
  expect_slice(mlp.w_up, gate_up, 128, 128, "w_up");
}

TEST(ModelWeights, BloomQueryKeyValueInterleavesPerHead) {
  const test_support::ScratchDir scratch;
  // 4 heads of 16: rows [48 h, 48 h + 16) are head h's query, then its key, then its value.
  const Tensor bias = random_normal({192}, 3, 0.0, 1.0);
  const Tensor fused = random_normal({192, 64}, 4, 0.0, 1.0);
  const std::string path =
      checkpoint_with(scratch.path() / "bloom.safetensors", "bloom",
                      {{"transformer.h.0.self_attention.query_key_value.bias", bias},
                       {"transformer.h.0.self_attention.query_key_value.weight", fused}});
  const AttentionWeights attention =
      checkpoint_weights(tiny_spec("bloom"), "bloom", SafetensorsCheckpoint::open(path))
          .layers[0]
          .attention;
  const WeightSource* parts[3][2] = {{&attention.wq, &attention.bq},
                                     {&attention.wk, &attention.bk},
                                     {&attention.wv, &attention.bv}};
  for (std::int64_t k = 0; k < 3; ++k) {
    const Tensor weight = parts[k][0]->load();
    const Tensor b = parts[k][1]->load();
    for (std::int64_t head = 0; head < 4; ++head) {
      for (std::int64_t d = 0; d < 16; ++d) {
        const std::int64_t row = 48 * head + 16 * k + d;
        ASSERT_EQ(b.at({16 * head + d}), bias.at({row})) << k << " " << head << " " << d;
        ASSERT_EQ(weight.at({5, 16 * head + d}), fused.at({row, 5})) << k << " " << head;
      }
    }
  }
}

TEST(ModelWeights, ShardedBf16AndPrefixlessCheckpointsLoad) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  // GPT-2's published checkpoint names its tensors without "transformer." (saved from GPT2Model);
  // shard it: the token table alone, then everything else, in BF16.
  const CausalLmSpec spec = tiny_spec("gpt2");
  const CausalLmWeights seeded = seeded_model_weights(spec, 0.02, 3);
  std::vector<NamedTensor> first;
  std::vector<NamedTensor> rest;
  for (NamedTensor& tensor : checkpoint_tensors(spec, "gpt2", seeded)) {
    tensor.name = tensor.name.substr(std::string("transformer.").size());
    (tensor.name == "wte.weight" ? first : rest).push_back(std::move(tensor));
  }
  write_file(dir / "model-00001-of-00002.safetensors", make_safetensors(first, "BF16"));
  write_file(dir / "model-00002-of-00002.safetensors", make_safetensors(rest, "BF16"));
  const CausalLmWeights loaded =
      checkpoint_weights(spec, "gpt2", SafetensorsCheckpoint::open(dir.string()));
  const std::vector<NamedTensor> expected = named_model_weights(spec, seeded);
  const std::vector<NamedTensor> got = named_model_weights(spec, loaded);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    expect_same(got[i].tensor, expected[i].tensor.to(DType::bfloat16), got[i].name);
  }
}

TEST(ModelWeights, RefusesMissingTensorsWrongShapesAndDtypesNamingTensorAndWeight) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const CausalLmSpec spec = tiny_spec("llama");
  const std::string missing = checkpoint_with(dir / "missing.safetensors", "llama", {},
                                              "model.layers.1.mlp.up_proj.weight");
  EXPECT_THAT([&] { checkpoint_weights(spec, "llama", SafetensorsCheckpoint::open(missing)); },
              ThrowsMessage<std::invalid_argument>(AllOf(
                  HasSubstr("[model_weights] " + missing),
                  HasSubstr("tensor 'model.layers.1.mlp.up_proj.weight' (layers.1.ffn.w_up) is "
                            "missing (expected [128, 64], models/architectures/llama.json)"))));

  const std::string shape = checkpoint_with(
      dir / "shape.safetensors", "llama",
      {{"model.layers.0.self_attn.k_proj.weight", random_normal({64, 64}, 1, 0.0, 1.0)}});
  EXPECT_THAT([&] { checkpoint_weights(spec, "llama", SafetensorsCheckpoint::open(shape)); },
              ThrowsMessage<std::invalid_argument>(
                  "[model_weights] " + shape +
                  ": tensor 'model.layers.0.self_attn.k_proj.weight' (layers.0.attention.wk) has "
                  "shape [64, 64], expected [32, 64]"));

  // A fused tensor names all its weights.
  const std::string fused = checkpoint_with(
      dir / "fused.safetensors", "phi3",
      {{"model.layers.0.self_attn.qkv_proj.weight", random_normal({192, 64}, 1, 0.0, 1.0)}});
  EXPECT_THAT(
      [&] { checkpoint_weights(tiny_spec("phi3"), "phi3", SafetensorsCheckpoint::open(fused)); },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("tensor 'model.layers.0.self_attn.qkv_proj.weight' (layers.0.attention.wq, "
                    "layers.0.attention.wk, layers.0.attention.wv) has shape [192, 64], expected "
                    "[128, 64]")));

  // A tensor stored as I32 where a float is expected.
  const std::string header =
      R"({"model.norm.weight":{"dtype":"I32","shape":[64],"data_offsets":[0,256]}})";
  std::string ints(8, '\0');
  const std::uint64_t length = header.size();
  std::memcpy(ints.data(), &length, 8);
  ints += header + std::string(256, '\0');
  fs::create_directories(dir / "mixed");
  write_file(dir / "mixed" / "a.safetensors", ints);
  checkpoint_with(dir / "mixed" / "b.safetensors", "llama", {}, "model.norm.weight");
  EXPECT_THAT(
      [&] {
        checkpoint_weights(spec, "llama", SafetensorsCheckpoint::open((dir / "mixed").string()));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "tensor 'model.norm.weight' (norm.weight) has dtype I32; only F32, F16 and BF16 load")));
}

std::string weights_error(const nlohmann::json& weights) {
  nlohmann::json mapping = nlohmann::json::parse(R"({
    "model_type": "tiny", "architectures": ["TinyForCausalLM"],
    "fields": {"hidden_size": "hidden", "intermediate_size": "ffn_dim", "n_layer": "layers",
               "n_head": "heads", "vocab_size": "vocab", "eps": "norm_eps"},
    "constants": {"norm": "rms_norm", "ffn": "gated_mlp", "activation": "silu"}})");
  mapping["weights"] = weights;
  try {
    models_detail::parse_architecture(mapping, "tiny.json");
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no error";
}

TEST(ModelWeights, RefusesMalformedWeightSectionsNamingTheEntry) {
  const nlohmann::json q = {{"name", "h.{i}.qkv.weight"}, {"transpose", true}, {"part", 0}};
  const nlohmann::json k = {{"name", "h.{i}.qkv.weight"}, {"transpose", true}, {"part", 1}};
  EXPECT_EQ(weights_error({{"layers.{i}.attention.wq", q}, {"layers.{i}.attention.wk", k}}),
            "no error");
  EXPECT_EQ(weights_error({{"layers.{i}.attention.wz", "h.{i}.q.weight"}}),
            "tiny.json: /weights/layers.{i}.attention.wz: unknown weight path "
            "'layers.{i}.attention.wz' (docs/models.md \"Adding a model\" lists them)");
  EXPECT_EQ(weights_error({{"norm.weight", {{"name", "ln_f.weight"}, {"transpos", true}}}}),
            "tiny.json: /weights/norm.weight/transpos: unknown field 'transpos' (expected one of: "
            "name, transpose, part, per_head)");
  EXPECT_EQ(weights_error({{"norm.weight", {{"name", "ln_f.weight"}, {"transpose", true}}}}),
            "tiny.json: /weights/norm.weight: transpose applies to matrices; 'norm.weight' is a "
            "vector");
  EXPECT_EQ(weights_error({{"layers.{i}.attention.wq", "h.0.q.weight"}}),
            "tiny.json: /weights/layers.{i}.attention.wq: the name 'h.0.q.weight' must hold the "
            "placeholders of the path ({i})");
  EXPECT_EQ(weights_error({{"layers.{i}.attention.wq", q}, {"layers.{i}.attention.wk", q}}),
            "tiny.json: /weights/layers.{i}.attention.wq: part 0 of 'h.{i}.qkv.weight': the 2 "
            "parts must be numbered 0..1, each once");
  EXPECT_EQ(weights_error(
                {{"layers.{i}.attention.wq", q}, {"layers.{i}.attention.wk", "h.{i}.qkv.weight"}}),
            "tiny.json: /weights/layers.{i}.attention.wk: 'h.{i}.qkv.weight' is named by 2 "
            "weights: give each its \"part\"");
  EXPECT_EQ(
      weights_error({{"norm.weight", {{"name", "f.weight"}, {"part", 0}, {"per_head", true}}}}),
      "tiny.json: /weights/norm.weight: per_head applies to attention weights; "
      "'norm.weight' is not one");
  EXPECT_EQ(weights_error({{"norm.weight", 3}}),
            "tiny.json: /weights/norm.weight: expected a string, got 3");
}

TEST(ModelWeights, AMappingWithoutAnEntryForAWeightIsNamed) {
  // Every weight path the walk produces is one a mapping may name, and every shipped mapping
  // covers the tiny model of its type (the round trip above); gemma2's has no biases, so a Spec
  // with biases under its mapping names the first one missing.
  CausalLmSpec spec = tiny_spec("gemma2");
  spec.layers[0].attention.qkv_bias = true;
  EXPECT_THAT([&] { checkpoint_tensors(spec, "gemma2", seeded_model_weights(spec, 0.02, 0)); },
              ThrowsMessage<std::invalid_argument>(
                  "[model_weights] models/architectures/gemma2.json: /weights: no entry for "
                  "'layers.{i}.attention.bq', which the model reads (layers.0.attention.bq)"));
  for (const std::string& type : kTypes) {
    for (const ModelWeight& weight : model_weights(tiny_spec(type))) {
      bool known = false;
      for (const models_detail::WeightPath& path : models_detail::weight_paths()) {
        known = known || path.pattern == weight.pattern;
      }
      EXPECT_TRUE(known) << weight.pattern;
    }
  }
}

}  // namespace
}  // namespace ttt

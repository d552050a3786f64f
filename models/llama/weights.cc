#include "models/llama/weights.h"

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <utility>

#include "validation/tensor/random.h"

namespace ttt::llama {
namespace {

// [rows, cols] -> [cols, rows], in cache-friendly tiles.
Tensor transpose(const Tensor& matrix) {
  const std::int64_t rows = matrix.dim(0);
  const std::int64_t cols = matrix.dim(1);
  Tensor out({cols, rows}, matrix.dtype());
  const float* in = matrix.data<float>();
  float* target = out.data<float>();
  constexpr std::int64_t kTile = 64;
  for (std::int64_t r0 = 0; r0 < rows; r0 += kTile) {
    for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const std::int64_t r1 = std::min(rows, r0 + kTile);
      const std::int64_t c1 = std::min(cols, c0 + kTile);
      for (std::int64_t r = r0; r < r1; ++r) {
        for (std::int64_t c = c0; c < c1; ++c) target[c * rows + r] = in[r * cols + c];
      }
    }
  }
  return out;
}

// Loads a tensor in Hugging Face's layout.
using Loader = std::function<Tensor(const LlamaTensor&)>;

// The block-layout source of `tensor`, loading through `loader` when first used.
WeightSource source_of(const LlamaTensor& tensor, const Loader& loader) {
  const Shape shape = tensor.transposed ? Shape{tensor.shape[1], tensor.shape[0]} : tensor.shape;
  return WeightSource(shape, [tensor, loader] {
    const Tensor loaded = loader(tensor);
    return tensor.transposed ? transpose(loaded) : loaded;
  });
}

std::string layer_name(std::size_t layer, const std::string& rest) {
  return "model.layers." + std::to_string(layer) + "." + rest;
}

// The weights of `config` with every source loading through `loader`.
CausalLmWeights build_weights(const LlamaConfig& config, const Loader& loader) {
  std::map<std::string, WeightSource> sources;
  for (const LlamaTensor& tensor : llama_tensors(config)) {
    sources.emplace(tensor.name, source_of(tensor, loader));
  }
  const auto take = [&](const std::string& name) {
    const auto it = sources.find(name);
    return it == sources.end() ? WeightSource() : it->second;
  };
  CausalLmWeights weights;
  weights.token_embedding = take("model.embed_tokens.weight");
  for (std::size_t i = 0; i < config.spec.layers.size(); ++i) {
    DecoderLayerWeights layer;
    layer.attention_norm.weight = take(layer_name(i, "input_layernorm.weight"));
    AttentionWeights& attention = layer.attention;
    attention.wq = take(layer_name(i, "self_attn.q_proj.weight"));
    attention.wk = take(layer_name(i, "self_attn.k_proj.weight"));
    attention.wv = take(layer_name(i, "self_attn.v_proj.weight"));
    attention.wo = take(layer_name(i, "self_attn.o_proj.weight"));
    attention.bq = take(layer_name(i, "self_attn.q_proj.bias"));
    attention.bk = take(layer_name(i, "self_attn.k_proj.bias"));
    attention.bv = take(layer_name(i, "self_attn.v_proj.bias"));
    attention.bo = take(layer_name(i, "self_attn.o_proj.bias"));
    layer.ffn_norm.weight = take(layer_name(i, "post_attention_layernorm.weight"));
    layer.ffn = GatedMlpWeights{take(layer_name(i, "mlp.gate_proj.weight")),
                                take(layer_name(i, "mlp.up_proj.weight")),
                                take(layer_name(i, "mlp.down_proj.weight"))};
    weights.layers.push_back(std::move(layer));
  }
  weights.norm.weight = take("model.norm.weight");
  weights.lm_head = take("lm_head.weight");
  return weights;
}

}  // namespace

std::vector<LlamaTensor> llama_tensors(const LlamaConfig& config) {
  const CausalLmSpec& spec = config.spec;
  const std::int64_t hidden = spec.embedding.hidden_dim;
  const std::int64_t vocab = spec.embedding.vocab_size;
  std::vector<LlamaTensor> tensors;
  tensors.push_back(
      {"model.embed_tokens.weight", {vocab, hidden}, "[vocab_size, hidden_size]", false, false});
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const AttentionSpec& attention = spec.layers[i].attention;
    const std::int64_t q = attention.num_heads * attention.dim_per_head();
    const std::int64_t kv = attention.kv_heads() * attention.dim_per_head();
    const std::int64_t ffn = std::get<GatedMlpSpec>(spec.layers[i].ffn).ffn_dim;
    const auto add = [&](const std::string& rest, Shape shape, const char* fields, bool transposed,
                         bool norm_scale = false) {
      tensors.push_back({layer_name(i, rest), std::move(shape), fields, transposed, norm_scale});
    };
    add("input_layernorm.weight", {hidden}, "[hidden_size]", false, true);
    add("self_attn.q_proj.weight", {q, hidden}, "[num_attention_heads * head_dim, hidden_size]",
        true);
    add("self_attn.k_proj.weight", {kv, hidden}, "[num_key_value_heads * head_dim, hidden_size]",
        true);
    add("self_attn.v_proj.weight", {kv, hidden}, "[num_key_value_heads * head_dim, hidden_size]",
        true);
    add("self_attn.o_proj.weight", {hidden, q}, "[hidden_size, num_attention_heads * head_dim]",
        true);
    if (attention.qkv_bias) {
      add("self_attn.q_proj.bias", {q}, "[num_attention_heads * head_dim]", false);
      add("self_attn.k_proj.bias", {kv}, "[num_key_value_heads * head_dim]", false);
      add("self_attn.v_proj.bias", {kv}, "[num_key_value_heads * head_dim]", false);
    }
    if (attention.output_bias) add("self_attn.o_proj.bias", {hidden}, "[hidden_size]", false);
    add("post_attention_layernorm.weight", {hidden}, "[hidden_size]", false, true);
    add("mlp.gate_proj.weight", {ffn, hidden}, "[intermediate_size, hidden_size]", true);
    add("mlp.up_proj.weight", {ffn, hidden}, "[intermediate_size, hidden_size]", true);
    add("mlp.down_proj.weight", {hidden, ffn}, "[hidden_size, intermediate_size]", true);
  }
  tensors.push_back({"model.norm.weight", {hidden}, "[hidden_size]", false, true});
  if (!spec.lm_head.tied_embeddings) {
    tensors.push_back({"lm_head.weight", {vocab, hidden}, "[vocab_size, hidden_size]", true});
  }
  return tensors;
}

std::uint64_t tensor_seed(const std::string& name, std::uint64_t seed) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const unsigned char c : name) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash ^ seed;
}

Tensor seeded_tensor(const LlamaTensor& tensor, std::uint64_t seed, double stddev) {
  return random_normal(tensor.shape, tensor_seed(tensor.name, seed), tensor.norm_scale ? 1.0 : 0.0,
                       stddev);
}

CausalLmWeights seeded_llama_weights(const LlamaConfig& config, std::uint64_t seed) {
  const double stddev = config.initializer_range;
  return build_weights(config, [seed, stddev](const LlamaTensor& tensor) {
    return seeded_tensor(tensor, seed, stddev);
  });
}

CausalLmWeights llama_weights_from_checkpoint(const LlamaConfig& config,
                                              const SafetensorsCheckpoint& checkpoint) {
  for (const LlamaTensor& tensor : llama_tensors(config)) {
    const SafetensorsFile* file = checkpoint.file_of(tensor.name);
    if (file == nullptr) {
      throw std::invalid_argument("[llama_weights] " + checkpoint.description() + ": tensor '" +
                                  tensor.name + "' is missing (" + config.source + " implies " +
                                  shape_to_string(tensor.shape) + ")");
    }
    const SafetensorsEntry& entry = *file->find(tensor.name);
    if (entry.shape != tensor.shape) {
      throw std::invalid_argument("[llama_weights] " + file->path() + ": tensor '" + tensor.name +
                                  "' has shape " + shape_to_string(entry.shape) + ", expected " +
                                  shape_to_string(tensor.shape) + " " + tensor.shape_fields +
                                  " from " + config.source);
    }
    if (entry.dtype != "F32" && entry.dtype != "F16" && entry.dtype != "BF16") {
      throw std::invalid_argument("[llama_weights] " + file->path() + ": tensor '" + tensor.name +
                                  "' has dtype " + entry.dtype + "; only F32, F16 and BF16 load");
    }
  }
  return build_weights(config, [checkpoint](const LlamaTensor& tensor) {
    return checkpoint.file_of(tensor.name)->load(tensor.name);
  });
}

std::string seeded_llama_checkpoint(const LlamaConfig& config, std::uint64_t seed,
                                    std::string_view dtype) {
  std::vector<NamedTensor> tensors;
  for (const LlamaTensor& tensor : llama_tensors(config)) {
    tensors.push_back({tensor.name, seeded_tensor(tensor, seed, config.initializer_range)});
  }
  return make_safetensors(tensors, dtype);
}

}  // namespace ttt::llama

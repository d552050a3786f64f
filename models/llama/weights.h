// The weights of a Llama-family model: from a safetensors checkpoint with Hugging Face's names,
// or from the seeded generator when there is no checkpoint.
//
// Hugging Face names and layouts (nn.Linear stores [out, in]; the blocks take [in, out], so every
// projection is transposed when it loads):
//   model.embed_tokens.weight                     [vocab, hidden]    token_embedding
//   model.layers.N.input_layernorm.weight         [hidden]           layers[N].attention_norm
//   model.layers.N.self_attn.q_proj.weight        [H*hd, hidden]     layers[N].attention.wq^T
//   model.layers.N.self_attn.k_proj.weight        [KV*hd, hidden]    layers[N].attention.wk^T
//   model.layers.N.self_attn.v_proj.weight        [KV*hd, hidden]    layers[N].attention.wv^T
//   model.layers.N.self_attn.o_proj.weight        [hidden, H*hd]     layers[N].attention.wo^T
//   model.layers.N.self_attn.{q,k,v,o}_proj.bias  (attention_bias)   bq, bk, bv, bo
//   model.layers.N.post_attention_layernorm.weight [hidden]          layers[N].ffn_norm
//   model.layers.N.mlp.gate_proj.weight           [ffn, hidden]      layers[N].ffn.w_gate^T
//   model.layers.N.mlp.up_proj.weight             [ffn, hidden]      layers[N].ffn.w_up^T
//   model.layers.N.mlp.down_proj.weight           [hidden, ffn]      layers[N].ffn.w_down^T
//   model.norm.weight                             [hidden]           norm
//   lm_head.weight                                [vocab, hidden]    lm_head^T (absent when tied)
// Hugging Face checkpoints already hold q/k rows in the "rotate half" order the rope block uses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/llama/config.h"
#include "models/llama/safetensors.h"
#include "patterns/causal_lm.h"

namespace ttt::llama {

// One tensor the model reads, as a checkpoint names and shapes it.
struct LlamaTensor {
  std::string name;  // Hugging Face name, e.g. "model.layers.0.mlp.up_proj.weight".
  Shape shape;       // Hugging Face shape ([out, in] for projections).
  // The config fields the shape comes from, for messages: "[num_key_value_heads * head_dim,
  // hidden_size]".
  std::string shape_fields;
  // Stored [out, in]: transposed to the blocks' [in, out] when loaded.
  bool transposed = false;
  // Drawn around 1 (a norm's scale) rather than 0 by the seeded generator.
  bool norm_scale = false;
};

// Every tensor `config`'s model reads, in model order (lm_head.weight only when untied).
std::vector<LlamaTensor> llama_tensors(const LlamaConfig& config);

// The seed of a tensor's generator: the 64-bit FNV-1a hash of its Hugging Face name, XOR `seed`.
std::uint64_t tensor_seed(const std::string& name, std::uint64_t seed);

// The tensor a seeded model holds, in Hugging Face's shape: ttt::random_normal with
// tensor_seed(name, seed), mean 0 (1 for a norm's scale) and standard deviation `stddev`.
Tensor seeded_tensor(const LlamaTensor& tensor, std::uint64_t seed, double stddev);

// Seeded weights for every tensor of `config` (drawn lazily, when first loaded), with the
// config's initializer_range as the standard deviation. `seed` selects another seeded model.
CausalLmWeights seeded_llama_weights(const LlamaConfig& config, std::uint64_t seed = 0);

// Weights loaded lazily from `checkpoint`. Checks now, without reading any tensor's data, that
// every tensor exists with the shape the config implies; throws std::invalid_argument naming the
// file and the tensor: "[llama_weights] model.safetensors: tensor
// 'model.layers.0.self_attn.k_proj.weight' has shape [1024, 4096], expected [512, 4096]
// (num_key_value_heads * head_dim, hidden_size)", or "... is missing".
CausalLmWeights llama_weights_from_checkpoint(const LlamaConfig& config,
                                              const SafetensorsCheckpoint& checkpoint);

// The bytes of a .safetensors file holding the seeded model (as seeded_llama_weights draws it),
// in `dtype` ("F32", "F16" or "BF16"): a checkpoint for tests and tools. Loads every tensor.
std::string seeded_llama_checkpoint(const LlamaConfig& config, std::uint64_t seed,
                                    std::string_view dtype);

}  // namespace ttt::llama

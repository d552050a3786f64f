// One decoder layer (or the tiny causal LM) on a mesh, from seeded weights, for the tests of
// "what parallelism may change" (docs/multi-device.md "Patterns on a mesh"): the same spec,
// weights and inputs run on 1x1 and on any mesh, so a test compares their outputs.
#pragma once

#include <cstdint>
#include <optional>

#include "patterns/causal_lm.h"
#include "patterns/decoder_layer.h"
#include "tiny_model.h"
#include "validation/mesh/mesh.h"

namespace ttt::testing_patterns {

inline constexpr MatmulConfig kFloat32Matmul{DType::float32, DType::float32, DType::float32,
                                             MathFidelity::HiFi4, Accumulation::fp32};

// The tiny layer with 8 query heads (2 KV heads) and an FFN of 256, so that every mesh up to 1x8
// divides it (each device's FFN slice a whole tile of 32 columns).
inline DecoderLayerSpec tiny_mesh_layer() {
  DecoderLayerSpec spec = tiny_layer();
  spec.attention.num_heads = 8;
  std::get<GatedMlpSpec>(spec.ffn).ffn_dim = 256;
  return spec;
}

// The same layer Mixtral-shaped: its FFN an MoE of 8 experts (each a SwiGLU of kFfn), top-2, so
// that 1x2 holds 4 experts per device and 1x8 one, as TTTv1's Mixtral on T3K.
inline DecoderLayerSpec tiny_moe_mesh_layer() {
  DecoderLayerSpec spec = tiny_mesh_layer();
  spec.ffn = MoeSpec{kHidden, kFfn, 8, 2, Activation::silu};
  return spec;
}

// Every dtype of `config` float32: the blocks' per-device outputs (an MoE's router, experts and
// the sum of its weighted expert outputs too), the KV cache, the residual stream and (on a mesh)
// the collectives' partial sums, in line order; so the mesh can change only the float32 rounding
// of the row-parallel sums.
inline void make_float32(DecoderLayerImplConfig& config) {
  auto& norm = std::get<RmsNormImplConfig>(config.attention_norm);
  norm.activation_dtype = norm.weight_dtype = norm.output_dtype = DType::float32;
  config.ffn_norm = config.attention_norm;
  AttentionImplConfig& attention = config.attention;
  attention.qkv = attention.output = kFloat32Matmul;
  attention.kv_cache_dtype = attention.query_dtype = attention.probs_dtype = DType::float32;
  attention.bias_dtype = DType::float32;
  attention.sdpa_fidelity = MathFidelity::HiFi4;
  if (auto* moe = std::get_if<MoeImplConfig>(&config.ffn)) {
    moe->router = moe->expert.ff1_ff3 = moe->expert.ff2 = kFloat32Matmul;
    moe->combine_dtype = DType::float32;
  } else {
    auto& ffn = std::get<GatedMlpImplConfig>(config.ffn);
    ffn.ff1_ff3 = ffn.ff2 = kFloat32Matmul;
  }
  config.residual_dtype = DType::float32;
  if (config.tensor_parallel.has_value()) {
    for (TpPartialSumConfig* sum :
         {&config.tensor_parallel->attention, &config.tensor_parallel->ffn}) {
      sum->reduction = TpReduction::all_reduce;
      sum->ccl.topology = Topology::line;
      sum->ccl.reduce_dtype = sum->ccl.output_dtype = DType::float32;
    }
  }
}

// The same for a causal LM: every layer, the final norm, the LM head and (on a mesh) the
// all-gather of its logits in float32. The token embedding keeps its dtype (both sides alike).
inline void make_float32(CausalLmImplConfig& config) {
  for (DecoderLayerImplConfig& layer : config.layers) make_float32(layer);
  auto& norm = std::get<RmsNormImplConfig>(config.norm);
  norm.activation_dtype = norm.weight_dtype = norm.output_dtype = DType::float32;
  config.lm_head.matmul = kFloat32Matmul;
  if (config.tensor_parallel.has_value())
    config.tensor_parallel->lm_head.output_dtype = DType::float32;
}

// The layer's prefill output and the output of one decode step after it.
struct LayerOutputs {
  Tensor prefill;
  Tensor decode;
};

// Runs `spec` (weights SeededWeights(seed)) on `mesh` with `device`'s defaults on that mesh
// (default_impl_config(spec, device, mode, preset, mesh)), float32 throughout when `float32`:
// prefill of `prompt` [1, seq, hidden], then one decode step of `token` [1, hidden] at position
// seq.
inline LayerOutputs run_layer_on_mesh(const DecoderLayerSpec& spec, const Mesh& mesh,
                                      std::uint64_t seed, const Tensor& prompt, const Tensor& token,
                                      bool float32, Device device = Device::N150) {
  PerMode<DecoderLayerImplConfig> configs{
      default_impl_config(spec, device, Mode::prefill, std::nullopt, mesh),
      default_impl_config(spec, device, Mode::decode, std::nullopt, mesh)};
  if (float32) {
    make_float32(configs.prefill);
    make_float32(configs.decode);
  }
  SeededWeights weights(seed);
  const DecoderLayer layer("layers.0",
                           make_decoder_layer_modules(spec, configs, weights.layer(spec)));
  KVCache cache = layer.make_cache(1, prompt.dim(1) + 1);
  LayerOutputs outputs;
  outputs.prefill = layer.prefill(prompt, cache);
  outputs.decode = layer.decode(token, Tensor::from_int64({1}, {prompt.dim(1)}), cache);
  return outputs;
}

}  // namespace ttt::testing_patterns

// Small Llama-shaped models with seeded weights for the pattern tests: hidden 64, 4 query and 2
// key/value heads of 16, SwiGLU of 128, vocabulary 96, RoPE theta 500000 with llama3 scaling
// (SeededWeights also seeds an MoE FFN: the router, then every expert's three matrices).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "patterns/causal_lm.h"
#include "patterns/decoder_layer.h"
#include "validation/tensor/random.h"

namespace ttt::testing_patterns {

inline constexpr std::int64_t kHidden = 64;
inline constexpr std::int64_t kHeads = 4;
inline constexpr std::int64_t kKvHeads = 2;
inline constexpr std::int64_t kHeadDim = 16;
inline constexpr std::int64_t kFfn = 128;
inline constexpr std::int64_t kVocab = 96;

inline AttentionSpec tiny_attention() {
  AttentionSpec spec;
  spec.hidden_dim = kHidden;
  spec.num_heads = kHeads;
  spec.num_kv_heads = kKvHeads;
  spec.head_dim = kHeadDim;
  spec.rope.head_dim = kHeadDim;
  spec.rope.theta = 500000.0;
  spec.rope.max_position_embeddings = 1024;
  spec.rope.scaling = RopeScaling::llama3;
  spec.rope.factor = 8.0;
  spec.rope.original_max_position_embeddings = 64;
  return spec;
}

// A Llama layer; with post_norms, Gemma-2's extra norms after attention and the FFN.
inline DecoderLayerSpec tiny_layer(bool post_norms = false) {
  DecoderLayerSpec layer;
  const RmsNormSpec norm{kHidden, 1e-5, false};
  layer.attention_norm = norm;
  layer.attention = tiny_attention();
  layer.ffn_norm = norm;
  layer.ffn = GatedMlpSpec{kHidden, kFfn, Activation::silu};
  if (post_norms) {
    layer.post_attention_norm = norm;
    layer.post_ffn_norm = norm;
  }
  return layer;
}

inline CausalLmSpec tiny_spec(std::size_t layers, bool tied = true) {
  CausalLmSpec spec;
  spec.embedding.vocab_size = kVocab;
  spec.embedding.hidden_dim = kHidden;
  spec.layers.assign(layers, tiny_layer());
  spec.norm = RmsNormSpec{kHidden, 1e-5, false};
  spec.lm_head = LmHeadSpec{kHidden, kVocab, tied, 0.0};
  return spec;
}

// Seeded weights: matrices normal(0, 1 / sqrt(fan_in)), norm scales normal(1, 0.1); every
// tensor's seed from `seed` and its position.
class SeededWeights {
 public:
  explicit SeededWeights(std::uint64_t seed) : seed_(seed) {}

  Tensor matrix(std::int64_t rows, std::int64_t cols) {
    return random_normal({rows, cols}, seed_ + next_++, 0.0, 1.0 / std::sqrt(double(rows)));
  }
  Tensor scale(std::int64_t size) { return random_normal({size}, seed_ + next_++, 1.0, 0.1); }

  DecoderLayerWeights layer(const DecoderLayerSpec& spec) {
    DecoderLayerWeights weights;
    weights.attention_norm.weight = scale(kHidden);
    const std::int64_t q = spec.attention.num_heads * kHeadDim;
    const std::int64_t kv = spec.attention.kv_heads() * kHeadDim;
    weights.attention.wq = matrix(kHidden, q);
    weights.attention.wk = matrix(kHidden, kv);
    weights.attention.wv = matrix(kHidden, kv);
    weights.attention.wo = matrix(q, kHidden);
    if (spec.post_attention_norm) weights.post_attention_norm.weight = scale(kHidden);
    weights.ffn_norm.weight = scale(kHidden);
    if (const auto* moe = std::get_if<MoeSpec>(&spec.ffn)) {
      MoeWeights experts{matrix(kHidden, moe->num_experts), {}};
      for (std::int64_t e = 0; e < moe->num_experts; ++e) {
        experts.experts.push_back({matrix(kHidden, moe->ffn_dim), matrix(kHidden, moe->ffn_dim),
                                   matrix(moe->ffn_dim, kHidden)});
      }
      weights.ffn = std::move(experts);
    } else {
      const std::int64_t ffn = std::get<GatedMlpSpec>(spec.ffn).ffn_dim;
      weights.ffn =
          GatedMlpWeights{matrix(kHidden, ffn), matrix(kHidden, ffn), matrix(ffn, kHidden)};
    }
    if (spec.post_ffn_norm) weights.post_ffn_norm.weight = scale(kHidden);
    return weights;
  }

  CausalLmWeights model(const CausalLmSpec& spec) {
    CausalLmWeights weights;
    weights.token_embedding = random_normal({kVocab, kHidden}, seed_ + next_++, 0.0, 1.0);
    for (const DecoderLayerSpec& layer_spec : spec.layers) {
      weights.layers.push_back(layer(layer_spec));
    }
    weights.norm.weight = scale(kHidden);
    if (!spec.lm_head.tied_embeddings) weights.lm_head = matrix(kHidden, kVocab);
    return weights;
  }

 private:
  std::uint64_t seed_;
  std::uint64_t next_ = 0;
};

// The names of the calls a prefill (mode "prefill") or decode step makes, in order.
inline std::vector<std::string> call_names(std::size_t layers, const std::string& mode,
                                           bool post_norms = false) {
  std::vector<std::string> names{"embedding." + mode};
  for (std::size_t i = 0; i < layers; ++i) {
    const std::string path = "layers." + std::to_string(i) + ".";
    names.push_back(path + "attention_norm." + mode);
    names.push_back(path + "attention." + mode);
    if (post_norms) names.push_back(path + "post_attention_norm." + mode);
    names.push_back(path + "ffn_norm." + mode);
    names.push_back(path + "ffn." + mode);
    if (post_norms) names.push_back(path + "post_ffn_norm." + mode);
  }
  names.push_back("norm." + mode);
  names.push_back("lm_head." + mode);
  return names;
}

}  // namespace ttt::testing_patterns

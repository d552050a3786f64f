// Seeded weights for any causal LM Spec (models/model.h), as the suites and coverage draw them.
#include <string>
#include <variant>

#include "models/model.h"
#include "validation/tensor/fnv.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

// Draws one seeded tensor when loaded.
WeightSource seeded(const std::string& path, Shape shape, double mean, double stddev,
                    std::uint64_t seed) {
  const std::uint64_t tensor_seed = fnv1a64(path) ^ seed;
  return WeightSource(shape, [shape, tensor_seed, mean, stddev] {
    return random_normal(shape, tensor_seed, mean, stddev);
  });
}

NormWeights seeded_norm(const NormSpec& spec, const std::string& path, double stddev,
                        std::uint64_t seed) {
  NormWeights weights;
  if (const auto* rms = std::get_if<RmsNormSpec>(&spec)) {
    weights.weight =
        seeded(path + ".weight", {rms->dim}, rms->add_unit_offset ? 0.0 : 1.0, stddev, seed);
  } else {
    const auto& layer_norm = std::get<LayerNormSpec>(spec);
    weights.weight = seeded(path + ".weight", {layer_norm.dim}, 1.0, stddev, seed);
    if (layer_norm.bias) {
      weights.bias = seeded(path + ".bias", {layer_norm.dim}, 0.0, stddev, seed);
    }
  }
  return weights;
}

GatedMlpWeights seeded_gated(const std::string& path, std::int64_t hidden, std::int64_t ffn,
                             double stddev, std::uint64_t seed) {
  return {seeded(path + ".w_gate", {hidden, ffn}, 0.0, stddev, seed),
          seeded(path + ".w_up", {hidden, ffn}, 0.0, stddev, seed),
          seeded(path + ".w_down", {ffn, hidden}, 0.0, stddev, seed)};
}

FfnWeights seeded_ffn(const FfnSpec& spec, const std::string& path, double stddev,
                      std::uint64_t seed) {
  if (const auto* gated = std::get_if<GatedMlpSpec>(&spec)) {
    return seeded_gated(path, gated->hidden_dim, gated->ffn_dim, stddev, seed);
  }
  if (const auto* mlp = std::get_if<MlpSpec>(&spec)) {
    MlpWeights weights{seeded(path + ".w_up", {mlp->hidden_dim, mlp->ffn_dim}, 0.0, stddev, seed),
                       seeded(path + ".w_down", {mlp->ffn_dim, mlp->hidden_dim}, 0.0, stddev, seed),
                       WeightSource(), WeightSource()};
    if (mlp->bias) {
      weights.b_up = seeded(path + ".b_up", {mlp->ffn_dim}, 0.0, stddev, seed);
      weights.b_down = seeded(path + ".b_down", {mlp->hidden_dim}, 0.0, stddev, seed);
    }
    return weights;
  }
  const auto& moe = std::get<MoeSpec>(spec);
  MoeWeights weights;
  weights.router = seeded(path + ".router", {moe.hidden_dim, moe.num_experts}, 0.0, stddev, seed);
  for (std::int64_t e = 0; e < moe.num_experts; ++e) {
    weights.experts.push_back(seeded_gated(path + ".expert" + std::to_string(e), moe.hidden_dim,
                                           moe.ffn_dim, stddev, seed));
  }
  return weights;
}

AttentionWeights seeded_attention(const AttentionSpec& spec, const std::string& path, double stddev,
                                  std::uint64_t seed) {
  const std::int64_t q = spec.num_heads * spec.dim_per_head();
  const std::int64_t kv = spec.kv_heads() * spec.dim_per_head();
  AttentionWeights weights;
  weights.wq = seeded(path + ".wq", {spec.hidden_dim, q}, 0.0, stddev, seed);
  weights.wk = seeded(path + ".wk", {spec.hidden_dim, kv}, 0.0, stddev, seed);
  weights.wv = seeded(path + ".wv", {spec.hidden_dim, kv}, 0.0, stddev, seed);
  weights.wo = seeded(path + ".wo", {q, spec.hidden_dim}, 0.0, stddev, seed);
  if (spec.qkv_bias) {
    weights.bq = seeded(path + ".bq", {q}, 0.0, stddev, seed);
    weights.bk = seeded(path + ".bk", {kv}, 0.0, stddev, seed);
    weights.bv = seeded(path + ".bv", {kv}, 0.0, stddev, seed);
  }
  if (spec.output_bias) weights.bo = seeded(path + ".bo", {spec.hidden_dim}, 0.0, stddev, seed);
  if (spec.qk_norm) {
    weights.q_norm = seeded(path + ".q_norm", {spec.dim_per_head()}, 1.0, stddev, seed);
    weights.k_norm = seeded(path + ".k_norm", {spec.dim_per_head()}, 1.0, stddev, seed);
  }
  return weights;
}

}  // namespace

CausalLmWeights seeded_model_weights(const CausalLmSpec& spec, double stddev, std::uint64_t seed) {
  CausalLmWeights weights;
  weights.token_embedding =
      seeded("embedding.token_weight", {spec.embedding.vocab_size, spec.embedding.hidden_dim}, 0.0,
             stddev, seed);
  if (spec.embedding.positions == PositionEmbedding::learned) {
    weights.position_embedding =
        seeded("embedding.position_weight",
               {spec.embedding.max_positions, spec.embedding.hidden_dim}, 0.0, stddev, seed);
  }
  if (spec.embedding_norm) {
    weights.embedding_norm = seeded_norm(*spec.embedding_norm, "embedding_norm", stddev, seed);
  }
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const DecoderLayerSpec& layer = spec.layers[i];
    const std::string path = "layers." + std::to_string(i);
    DecoderLayerWeights layer_weights;
    layer_weights.attention_norm =
        seeded_norm(layer.attention_norm, path + ".attention_norm", stddev, seed);
    layer_weights.attention = seeded_attention(layer.attention, path + ".attention", stddev, seed);
    if (layer.post_attention_norm) {
      layer_weights.post_attention_norm =
          seeded_norm(*layer.post_attention_norm, path + ".post_attention_norm", stddev, seed);
    }
    layer_weights.ffn_norm = seeded_norm(layer.ffn_norm, path + ".ffn_norm", stddev, seed);
    layer_weights.ffn = seeded_ffn(layer.ffn, path + ".ffn", stddev, seed);
    if (layer.post_ffn_norm) {
      layer_weights.post_ffn_norm =
          seeded_norm(*layer.post_ffn_norm, path + ".post_ffn_norm", stddev, seed);
    }
    weights.layers.push_back(std::move(layer_weights));
  }
  weights.norm = seeded_norm(spec.norm, "norm", stddev, seed);
  if (!spec.lm_head.tied_embeddings) {
    weights.lm_head = seeded("lm_head.weight", {spec.lm_head.hidden_dim, spec.lm_head.vocab_size},
                             0.0, stddev, seed);
  }
  return weights;
}

}  // namespace ttt

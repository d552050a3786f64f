// The float64 references of attention's prefill and decode: every product, sum and softmax in
// double, from the weights' float32 values, so that they carry no device numerics.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "blocks/attention/attention.h"
#include "blocks/attention/internal/sdpa.h"
#include "blocks/common/positions.h"
#include "blocks/common/reference_math.h"
#include "blocks/embeddings/alibi.h"
#include "blocks/rope/rope.h"

namespace ttt {

using attention_detail::fail;

namespace {

struct ReferenceWeights {
  Tensor wq, wk, wv, wo, bq, bk, bv, bo, q_norm, k_norm;
};

ReferenceWeights load_reference_weights(const AttentionSpec& spec,
                                        const AttentionWeights& weights) {
  spec.validate();
  validate(spec, weights);
  auto load = [](const WeightSource& source) {
    return source.defined() ? source.load().to(DType::float32) : Tensor();
  };
  return {load(weights.wq),     load(weights.wk),    load(weights.wv), load(weights.wo),
          load(weights.bq),     load(weights.bk),    load(weights.bv), load(weights.bo),
          load(weights.q_norm), load(weights.k_norm)};
}

void reference_rms_norm(std::vector<double>& values, std::int64_t dim, const Tensor& weight,
                        double eps) {
  const std::span<const float> scale = weight.floats();
  for (std::size_t begin = 0; begin < values.size(); begin += static_cast<std::size_t>(dim)) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) sum += values[begin + i] * values[begin + i];
    const double inverse_rms = 1.0 / std::sqrt(sum / static_cast<double>(dim) + eps);
    for (std::int64_t i = 0; i < dim; ++i) {
      values[begin + i] *= inverse_rms * static_cast<double>(scale[i]);
    }
  }
}

// q, k, v of `tokens` rows of x at `positions`, after norms and RoPE.
struct ReferenceHeads {
  std::vector<double> q, k, v;
};

ReferenceHeads reference_heads(const AttentionSpec& spec, const ReferenceWeights& w,
                               const std::vector<double>& x, std::int64_t tokens,
                               const std::int64_t* positions) {
  ReferenceHeads h{reference_matmul(x, tokens, w.wq, w.bq), reference_matmul(x, tokens, w.wk, w.bk),
                   reference_matmul(x, tokens, w.wv, w.bv)};
  if (spec.qk_norm) {
    reference_rms_norm(h.q, spec.dim_per_head(), w.q_norm, spec.qk_norm_eps);
    reference_rms_norm(h.k, spec.dim_per_head(), w.k_norm, spec.qk_norm_eps);
  }
  if (spec.positions == AttentionPositions::rope) {
    rope_reference_rotate(spec.rope, h.q.data(), tokens, spec.num_heads, positions);
    rope_reference_rotate(spec.rope, h.k.data(), tokens, spec.kv_heads(), positions);
  }
  return h;
}

// softmax over keys of scaled, capped, biased scores, times values, for one query head.
// keys[j] and values[j] point at head_dim values of key position key_positions[j].
void reference_attend(const AttentionSpec& spec, const double* query, double slope,
                      std::int64_t query_position, const std::vector<const double*>& keys,
                      const std::vector<const double*>& values,
                      const std::vector<std::int64_t>& key_positions, double* out) {
  const std::int64_t dim = spec.dim_per_head();
  const double scale = spec.score_scale();
  std::vector<double> scores;
  std::vector<std::size_t> visible;
  for (std::size_t j = 0; j < keys.size(); ++j) {
    const std::int64_t key = key_positions[j];
    if (key > query_position) continue;
    if (spec.sliding_window > 0 && key <= query_position - spec.sliding_window) continue;
    double dot = 0.0;
    for (std::int64_t d = 0; d < dim; ++d) dot += query[d] * keys[j][d];
    double score = dot * scale;
    if (spec.logit_softcap > 0.0) {
      score = spec.logit_softcap * std::tanh(score / spec.logit_softcap);
    }
    score += slope * static_cast<double>(key - query_position);
    scores.push_back(score);
    visible.push_back(j);
  }
  const double maximum = *std::max_element(scores.begin(), scores.end());
  double sum = 0.0;
  for (double& score : scores) {
    score = std::exp(score - maximum);
    sum += score;
  }
  std::fill(out, out + dim, 0.0);
  for (std::size_t i = 0; i < visible.size(); ++i) {
    const double p = scores[i] / sum;
    for (std::int64_t d = 0; d < dim; ++d) out[d] += p * values[visible[i]][d];
  }
}

std::vector<double> reference_slopes(const AttentionSpec& spec) {
  return spec.positions == AttentionPositions::alibi
             ? alibi_slopes(spec.num_heads)
             : std::vector<double>(static_cast<std::size_t>(spec.num_heads), 0.0);
}

}  // namespace

Tensor attention_prefill_reference(const AttentionSpec& spec, const AttentionWeights& weights,
                                   const Tensor& x) {
  const ReferenceWeights w = load_reference_weights(spec, weights);
  if (!x.defined() || (x.rank() != 2 && x.rank() != 3) || x.dim(-1) != spec.hidden_dim ||
      !is_floating(x.dtype())) {
    fail("prefill reference input has shape " +
         (x.defined() ? shape_to_string(x.shape()) : std::string("(undefined)")) +
         ", expected [batch, seq, " + std::to_string(spec.hidden_dim) + "] or [seq, " +
         std::to_string(spec.hidden_dim) + "]");
  }
  const std::int64_t batch = x.rank() == 3 ? x.dim(0) : 1;
  const std::int64_t seq = x.dim(-2);
  const std::int64_t dim = spec.dim_per_head();
  const std::int64_t heads = spec.num_heads;
  const std::int64_t group = heads / spec.kv_heads();
  const std::vector<double> slopes = reference_slopes(spec);
  const std::vector<double> all = reference_values(x);
  std::vector<std::int64_t> positions(static_cast<std::size_t>(seq));
  for (std::int64_t t = 0; t < seq; ++t) positions[static_cast<std::size_t>(t)] = t;

  std::vector<double> attended(static_cast<std::size_t>(batch * seq * heads * dim));
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::vector<double> rows(all.begin() + b * seq * spec.hidden_dim,
                                   all.begin() + (b + 1) * seq * spec.hidden_dim);
    const ReferenceHeads h = reference_heads(spec, w, rows, seq, positions.data());
    for (std::int64_t head = 0; head < heads; ++head) {
      const std::int64_t g = head / group;
      std::vector<const double*> keys;
      std::vector<const double*> values;
      for (std::int64_t j = 0; j < seq; ++j) {
        keys.push_back(h.k.data() + (j * spec.kv_heads() + g) * dim);
        values.push_back(h.v.data() + (j * spec.kv_heads() + g) * dim);
      }
      for (std::int64_t t = 0; t < seq; ++t) {
        reference_attend(spec, h.q.data() + (t * heads + head) * dim,
                         slopes[static_cast<std::size_t>(head)], t, keys, values, positions,
                         attended.data() + ((b * seq + t) * heads + head) * dim);
      }
    }
  }
  return reference_tensor(x.shape(), reference_matmul(attended, batch * seq, w.wo, w.bo));
}

Tensor attention_decode_reference(const AttentionSpec& spec, const AttentionWeights& weights,
                                  const Tensor& x, const Tensor& positions, const Tensor& k_cache,
                                  const Tensor& v_cache) {
  const ReferenceWeights w = load_reference_weights(spec, weights);
  if (!x.defined() || x.rank() != 2 || x.dim(1) != spec.hidden_dim || !is_floating(x.dtype())) {
    fail("decode reference input has shape " +
         (x.defined() ? shape_to_string(x.shape()) : std::string("(undefined)")) +
         ", expected [batch, " + std::to_string(spec.hidden_dim) + "]");
  }
  const std::int64_t batch = x.dim(0);
  const std::int64_t dim = spec.dim_per_head();
  const std::int64_t kv_heads = spec.kv_heads();
  const bool cache_ok = k_cache.defined() && v_cache.defined() && k_cache.rank() == 4 &&
                        k_cache.shape() == v_cache.shape() && k_cache.dim(0) >= batch &&
                        k_cache.dim(1) == kv_heads && k_cache.dim(3) == dim &&
                        is_floating(k_cache.dtype()) && is_floating(v_cache.dtype());
  if (!cache_ok) {
    fail("decode reference caches have shapes " +
         (k_cache.defined() ? shape_to_string(k_cache.shape()) : std::string("(undefined)")) +
         " and " +
         (v_cache.defined() ? shape_to_string(v_cache.shape()) : std::string("(undefined)")) +
         ", expected [>= " + std::to_string(batch) + ", " + std::to_string(kv_heads) +
         ", max_seq_len, " + std::to_string(dim) + "]");
  }
  const std::int64_t max_seq = k_cache.dim(2);
  const std::vector<std::int64_t> position_values = checked_indices(
      positions, {batch}, "attention.reference", "positions", max_seq, "beyond the caches");
  const std::int64_t heads = spec.num_heads;
  const std::int64_t group = heads / kv_heads;
  const std::vector<double> slopes = reference_slopes(spec);
  const std::vector<double> all = reference_values(x);
  const std::vector<double> k_all = reference_values(k_cache);
  const std::vector<double> v_all = reference_values(v_cache);

  std::vector<double> attended(static_cast<std::size_t>(batch * heads * dim));
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::int64_t position = position_values[static_cast<std::size_t>(b)];
    const std::vector<double> row(all.begin() + b * spec.hidden_dim,
                                  all.begin() + (b + 1) * spec.hidden_dim);
    const ReferenceHeads h = reference_heads(spec, w, row, 1, &position);
    std::vector<std::int64_t> key_positions(static_cast<std::size_t>(position + 1));
    for (std::int64_t j = 0; j <= position; ++j) key_positions[static_cast<std::size_t>(j)] = j;
    for (std::int64_t head = 0; head < heads; ++head) {
      const std::int64_t g = head / group;
      const std::int64_t base = (b * kv_heads + g) * max_seq * dim;
      std::vector<const double*> keys;
      std::vector<const double*> values;
      for (std::int64_t j = 0; j < position; ++j) {
        keys.push_back(k_all.data() + base + j * dim);
        values.push_back(v_all.data() + base + j * dim);
      }
      keys.push_back(h.k.data() + g * dim);
      values.push_back(h.v.data() + g * dim);
      reference_attend(spec, h.q.data() + head * dim, slopes[static_cast<std::size_t>(head)],
                       position, keys, values, key_positions,
                       attended.data() + (b * heads + head) * dim);
    }
  }
  return reference_tensor({batch, spec.hidden_dim}, reference_matmul(attended, batch, w.wo, w.bo));
}

}  // namespace ttt

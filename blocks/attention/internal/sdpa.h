// What attention.cc, flash.cc and reference.cc share (internal to blocks/attention): the kernels
// chosen once at construction and the SDPA of one KV head's group of query heads in prefill,
// which runs either in one piece (attention.cc) or chunked with an online softmax (flash.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "blocks/attention/attention.h"
#include "blocks/common/matmul.h"
#include "blocks/ffn/projection.h"

namespace ttt {
namespace attention_detail {

constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();
// A sliding window this wide never masks anything: "no window" without a branch.
constexpr std::int64_t kNoWindow = std::numeric_limits<std::int64_t>::max() / 4;

// Throws std::invalid_argument "[attention] <message>".
[[noreturn]] void fail(const std::string& message);

// How a row of raw scores becomes logits: scale, optional cap, ALiBi bias (slope 0 when off) and
// the causal / sliding-window mask, in float32.
struct ScoreParams {
  float scale = 1.0f;
  float cap = 0.0f;
  std::int64_t window = kNoWindow;
};

// Scores of one query row at `query_position` against keys [key_begin, key_begin + count).
using ScoreRowKernel = void (*)(float* row, std::int64_t count, std::int64_t key_begin,
                                std::int64_t query_position, float slope,
                                const ScoreParams& params);

// K^T [head_dim, keys] in `dtype` from `keys` key vectors `stride` floats apart, whose values are
// representable in `dtype`; transposed in 32 x 32 tiles into `buffer` (reused across calls: a
// fresh tensor per head would page-fault its way through every decode step), which the returned
// view shares.
Tensor keys_transposed(const float* rows, std::int64_t keys, std::int64_t stride,
                       std::int64_t head_dim, DType dtype, std::vector<float>& buffer);

}  // namespace attention_detail

// Everything the forwards use, chosen once at construction.
struct Attention::Kernels {
  ffn_detail::ShardedProjection qkv;         // Fused [hidden, (H + 2 KV) * head_dim] projection.
  ffn_detail::ShardedProjection output;      // Wo, its reduction split over output_shards chips.
  DeviceMatmul scores{MatmulConfig{}};       // Q · K^T, float32 scores.
  DeviceMatmul probs{MatmulConfig{}};        // P · V, rounded to Wo's activation dtype.
  DeviceMatmul probs_flash{MatmulConfig{}};  // P · V of one key chunk, float32 partials.
  DType operand_dtype = DType::bfloat16;     // K and V as the SDPA matmuls read them.
  attention_detail::ScoreParams score_params;
  attention_detail::ScoreRowKernel score_row = nullptr;
  std::vector<float> slopes;  // Per query head; zeros unless ALiBi.
  // Rows of head_dim values, normalized in place (identity without qk_norm).
  std::function<void(float*, std::int64_t)> normalize_q;
  std::function<void(float*, std::int64_t)> normalize_k;
  // tokens x heads vectors rotated in place at positions (identity without RoPE).
  std::function<void(float*, std::int64_t, std::int64_t, const std::int64_t*)> rotate;
};

namespace attention_detail {

// One KV head's share of a prefill: the `group` query heads that read it, over `seq` tokens at
// positions 0..seq-1. Queries, keys and values are already normalized, rotated and rounded.
struct PrefillGroup {
  const float* queries = nullptr;  // [group * seq, head_dim]; row r * seq + t: head r, token t.
  const float* keys = nullptr;     // Token t's key at keys + t * stride (head_dim values).
  const float* values = nullptr;   // Token t's value at values + t * stride.
  std::int64_t stride = 0;         // KV * head_dim: floats between two tokens' keys.
  std::int64_t seq = 0;
  std::int64_t group = 0;
  std::int64_t head_dim = 0;
  const float* slopes = nullptr;  // The group's query heads' ALiBi slopes (zeros unless ALiBi).
};

// K^T and V of keys [k0, k1) of `group`, prepared as the SDPA operands of `kernels.scores` and
// `values_matmul` (kernels.probs or kernels.probs_flash).
std::pair<DeviceMatrix, DeviceMatrix> prefill_operands(const Attention::Kernels& kernels,
                                                       const PrefillGroup& group, std::int64_t k0,
                                                       std::int64_t k1,
                                                       const DeviceMatmul& values_matmul,
                                                       std::vector<float>& kt_buffer);

// The attention output of `group`, [group * seq, head_dim] in its queries' row order, rounded to
// config.output.activation_dtype. `kt_buffer` is scratch reused across calls.
using PrefillAttend = std::vector<float> (*)(const Attention::Kernels& kernels,
                                             const AttentionImplConfig& config,
                                             const PrefillGroup& group,
                                             std::vector<float>& kt_buffer);

// All keys at once: scores, one float32 softmax, P · V (attention.cc).
std::vector<float> attend_direct(const Attention::Kernels& kernels,
                                 const AttentionImplConfig& config, const PrefillGroup& group,
                                 std::vector<float>& kt_buffer);

// Chunked ("flash"): query chunks of config.q_chunk_size against key chunks of
// config.k_chunk_size with an online softmax (flash.cc).
std::vector<float> attend_flash(const Attention::Kernels& kernels,
                                const AttentionImplConfig& config, const PrefillGroup& group,
                                std::vector<float>& kt_buffer);

}  // namespace attention_detail
}  // namespace ttt

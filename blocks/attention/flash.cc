// Chunked ("flash") prefill attention of one KV head's group: key chunks are prepared once, then
// each query chunk runs over them with an online softmax (running max and sum in float32,
// unnormalised probabilities rounded to config.probs_dtype, float32 partial P · V accumulated and
// divided by the running sum at the end), as TTTv1's chunked SDPA.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "blocks/attention/internal/sdpa.h"
#include "validation/tensor/formats.h"

namespace ttt::attention_detail {

std::vector<float> attend_flash(const Attention::Kernels& kernels,
                                const AttentionImplConfig& config, const PrefillGroup& group,
                                std::vector<float>& kt_buffer) {
  const std::int64_t seq = group.seq;
  const std::int64_t head_dim = group.head_dim;
  std::vector<std::pair<DeviceMatrix, DeviceMatrix>> chunks;
  for (std::int64_t k0 = 0; k0 < seq; k0 += config.k_chunk_size) {
    chunks.push_back(prefill_operands(kernels, group, k0, std::min(seq, k0 + config.k_chunk_size),
                                      kernels.probs_flash, kt_buffer));
  }
  std::vector<float> attended(static_cast<std::size_t>(group.group * seq * head_dim));
  for (std::int64_t q0 = 0; q0 < seq; q0 += config.q_chunk_size) {
    const std::int64_t q1 = std::min(seq, q0 + config.q_chunk_size);
    const std::int64_t tokens = q1 - q0;
    const std::int64_t chunk_rows = group.group * tokens;
    std::vector<float> chunk_queries(static_cast<std::size_t>(chunk_rows * head_dim));
    for (std::int64_t r = 0; r < group.group; ++r) {
      std::copy_n(group.queries + (r * seq + q0) * head_dim, tokens * head_dim,
                  chunk_queries.data() + r * tokens * head_dim);
    }
    std::vector<float> running_max(static_cast<std::size_t>(chunk_rows), kNegativeInfinity);
    std::vector<float> running_sum(static_cast<std::size_t>(chunk_rows), 0.0f);
    std::vector<float> accumulator(static_cast<std::size_t>(chunk_rows * head_dim), 0.0f);
    std::vector<float> partial(accumulator.size());
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      const std::int64_t k0 = static_cast<std::int64_t>(c) * config.k_chunk_size;
      const std::int64_t k1 = std::min(seq, k0 + config.k_chunk_size);
      const std::int64_t keys = k1 - k0;
      // Skip chunks every query of this chunk masks (after the last query, or before the
      // window of the first).
      if (k0 > q1 - 1 || k1 - 1 < q0 - kernels.score_params.window + 1) continue;
      std::vector<float> scores(static_cast<std::size_t>(chunk_rows * keys));
      kernels.scores.run(chunk_queries.data(), chunk_rows, chunks[c].first, scores.data());
      for (std::int64_t row = 0; row < chunk_rows; ++row) {
        const std::int64_t r = row / tokens;
        const std::int64_t t = q0 + row % tokens;
        float* s = scores.data() + row * keys;
        kernels.score_row(s, keys, k0, t, group.slopes[r], kernels.score_params);
        const float chunk_max = *std::max_element(s, s + keys);
        const float previous = running_max[static_cast<std::size_t>(row)];
        const float next = std::max(previous, chunk_max);
        float* acc = accumulator.data() + row * head_dim;
        if (next == kNegativeInfinity) {
          std::fill(s, s + keys, 0.0f);
          continue;
        }
        const float correction = std::exp(previous - next);
        for (std::int64_t j = 0; j < keys; ++j) s[j] = std::exp(s[j] - next);
        quantize_in_place(std::span<float>(s, static_cast<std::size_t>(keys)), keys,
                          config.probs_dtype);
        float sum = 0.0f;
        for (std::int64_t j = 0; j < keys; ++j) sum += s[j];
        running_sum[static_cast<std::size_t>(row)] =
            running_sum[static_cast<std::size_t>(row)] * correction + sum;
        running_max[static_cast<std::size_t>(row)] = next;
        for (std::int64_t d = 0; d < head_dim; ++d) acc[d] *= correction;
      }
      kernels.probs_flash.run(scores.data(), chunk_rows, chunks[c].second, partial.data());
      for (std::size_t i = 0; i < accumulator.size(); ++i) accumulator[i] += partial[i];
    }
    for (std::int64_t row = 0; row < chunk_rows; ++row) {
      const float sum = running_sum[static_cast<std::size_t>(row)];
      float* acc = accumulator.data() + row * head_dim;
      for (std::int64_t d = 0; d < head_dim; ++d) acc[d] /= sum;
    }
    quantize_in_place(accumulator, head_dim, config.output.activation_dtype);
    for (std::int64_t r = 0; r < group.group; ++r) {
      std::copy_n(accumulator.data() + r * tokens * head_dim, tokens * head_dim,
                  attended.data() + (r * seq + q0) * head_dim);
    }
  }
  return attended;
}

}  // namespace ttt::attention_detail

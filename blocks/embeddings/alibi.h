// ALiBi (attention with linear biases, Press et al.): each head h adds slope_h * (j - i) to the
// score of query position i against key position j, with BLOOM's slopes (including head counts
// that are not a power of two).
//
// BLOOM's Hugging Face code adds slope_h * j; the two differ by slope_h * i, constant along a
// softmax row, so the probabilities are the same. The relative form keeps the bias small at long
// positions, which matters in float32. The attention block applies it (AttentionSpec::positions =
// alibi); this header gives the slopes and the bias itself, for tests and for models that build
// their own masks.
#pragma once

#include <cstdint>
#include <vector>

#include "validation/tensor/tensor.h"

namespace ttt {

// BLOOM's build_alibi_tensor slopes: with n' the largest power of two <= num_heads, slope_k =
// 2^(-8k / n') for k = 1..n'; the remaining num_heads - n' heads take the odd powers
// 2^(-4k / n') for k = 1, 3, 5, ... Throws std::invalid_argument when num_heads <= 0.
std::vector<double> alibi_slopes(std::int64_t num_heads);

// bias[h, q, j] = slope_h * (j - query_positions[q]) for keys j in [0, key_length), in float64
// rounded to float32, shape [num_heads, num_queries, key_length]. Causality is not applied (the
// attention masks j > i itself). Throws std::invalid_argument for a non-integer or negative
// position or key_length <= 0.
Tensor alibi_bias(std::int64_t num_heads, const Tensor& query_positions, std::int64_t key_length);

}  // namespace ttt

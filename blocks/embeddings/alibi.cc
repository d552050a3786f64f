#include "blocks/embeddings/alibi.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "blocks/common/positions.h"

namespace ttt {

std::vector<double> alibi_slopes(std::int64_t num_heads) {
  if (num_heads <= 0) {
    throw std::invalid_argument("[alibi] num_heads (" + std::to_string(num_heads) +
                                ") must be > 0");
  }
  std::int64_t power_of_two = 1;
  while (power_of_two * 2 <= num_heads) power_of_two *= 2;
  // BLOOM's base^k with base = 2^(-(2^-(log2(n') - 3))) = 2^(-8 / n'), written as one exp2 so
  // that every slope is the correctly rounded 2^(-8k / n').
  const auto n = static_cast<double>(power_of_two);
  std::vector<double> slopes;
  slopes.reserve(static_cast<std::size_t>(num_heads));
  for (std::int64_t k = 1; k <= power_of_two; ++k) {
    slopes.push_back(std::exp2(-8.0 * static_cast<double>(k) / n));
  }
  // The extra heads interleave with the slopes of 2n' heads: 2^(-8k / 2n') for odd k.
  for (std::int64_t k = 1; static_cast<std::int64_t>(slopes.size()) < num_heads; k += 2) {
    slopes.push_back(std::exp2(-4.0 * static_cast<double>(k) / n));
  }
  return slopes;
}

Tensor alibi_bias(std::int64_t num_heads, const Tensor& query_positions, std::int64_t key_length) {
  const std::vector<double> slopes = alibi_slopes(num_heads);
  if (key_length <= 0) {
    throw std::invalid_argument("[alibi] key_length (" + std::to_string(key_length) +
                                ") must be > 0");
  }
  if (!query_positions.defined() || query_positions.rank() != 1) {
    throw std::invalid_argument("[alibi] query_positions must have shape [num_queries]");
  }
  const std::vector<std::int64_t> positions =
      checked_indices(query_positions, query_positions.shape(), "alibi", "query_positions");
  const auto queries = static_cast<std::int64_t>(positions.size());
  Tensor bias({num_heads, queries, key_length}, DType::float32);
  float* out = bias.data<float>();
  for (std::int64_t h = 0; h < num_heads; ++h) {
    for (std::int64_t q = 0; q < queries; ++q) {
      for (std::int64_t j = 0; j < key_length; ++j) {
        out[(h * queries + q) * key_length + j] = static_cast<float>(
            slopes[static_cast<std::size_t>(h)] * static_cast<double>(j - positions[q]));
      }
    }
  }
  return bias;
}

}  // namespace ttt

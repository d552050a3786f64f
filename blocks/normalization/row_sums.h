// Row reductions shared by the normalization blocks' device paths (not part of the public API).
//
// fp32: one running float32 sum. bf16: the running sum is rounded to bfloat16 after every tile
// row of 32 values, an approximation of a bfloat16 destination register (docs/numerics.md).
#pragma once

#include <cstdint>

namespace ttt::norm_detail {

inline constexpr std::int64_t kTileWidth = 32;

float sum_fp32(const float* values, std::int64_t count);
float sum_bf16(const float* values, std::int64_t count);
float sum_of_squares_fp32(const float* values, std::int64_t count);
float sum_of_squares_bf16(const float* values, std::int64_t count);

}  // namespace ttt::norm_detail

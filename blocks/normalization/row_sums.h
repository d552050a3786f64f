// Row reductions shared by the normalization blocks' device paths (not part of the public API).
//
// fp32: one running float32 sum. bf16: each square is rounded to bfloat16 (it is packed to a
// bfloat16 buffer before the reduction) and the running sum is rounded to bfloat16 after every
// tile row of 32 values, an approximation of a bfloat16 destination register (docs/numerics.md).
#pragma once

#include <cstdint>

#include "blocks/common/device.h"

namespace ttt::norm_detail {

// Rounds one value to the format of the norm kernels' intermediate circular buffers.
using IntermediateRounding = float (*)(float);

// tt-metal's layernorm/rmsnorm program factories give every intermediate buffer (x^2, the
// statistics, 1/sqrt(var + eps), the normalized x before the weight) the format cb_data_format =
// fp32_dest_acc_en ? Float32 : Float16_b. So accumulation fp32 keeps them in float32 (no
// rounding) and bf16 rounds each to bfloat16 (docs/numerics.md, "Normalization").
IntermediateRounding intermediate_rounding(Accumulation accumulation);

inline constexpr std::int64_t kTileWidth = 32;

float sum_fp32(const float* values, std::int64_t count);
float sum_bf16(const float* values, std::int64_t count);
float sum_of_squares_fp32(const float* values, std::int64_t count);
float sum_of_squares_bf16(const float* values, std::int64_t count);

}  // namespace ttt::norm_detail

// Row reductions shared by the normalization blocks' device paths (not part of the public API),
// and the RMS norm's device arithmetic that RmsNorm and DistributedRmsNorm (blocks/ccl) share:
// the two must give the same bits for the same statistics.
//
// fp32: one running float32 sum. bf16: each square is rounded to bfloat16 (it is packed to a
// bfloat16 buffer before the reduction) and the running sum is rounded to bfloat16 after every
// tile row of 32 values, an approximation of a bfloat16 destination register (docs/numerics.md).
#pragma once

#include <cstdint>

#include "blocks/common/device.h"
#include "blocks/common/weights.h"
#include "validation/tensor/tensor.h"

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

// A row reduction of `count` values (one of the four above).
using RowSum = float (*)(const float* values, std::int64_t count);

// sum_of_squares_fp32 or sum_of_squares_bf16, as the accumulation says.
RowSum sum_of_squares(Accumulation accumulation);

// The RMS norm's device weight: float32 values (plus 1 when add_unit_offset, Gemma's
// (1 + weight)) in `dtype`, prepared the first time a forward needs it.
Prepared<Tensor> prepared_rms_scale(WeightSource weight, bool add_unit_offset, DType dtype);

// 1 / rms of a row whose float32 sum of squares over the whole feature dimension is `sum`
// (inverse_dim = 1 / that dimension): the kernel's buffers mean square and 1 / rms, each rounded
// by `round`.
float rms_inverse(float sum, float inverse_dim, float eps, IntermediateRounding round);

// Normalises one row of `count` values whose float32 sum of squares over the whole feature
// dimension is `sum` (inverse_dim = 1 / that dimension): the kernel's buffers mean square,
// 1 / rms and x / rms are each rounded by `round`, then multiplied by scale[i] into target[i].
void rms_normalize_row(const float* row, std::int64_t count, float sum, float inverse_dim,
                       float eps, const float* scale, IntermediateRounding round, float* target);

}  // namespace ttt::norm_detail

// The normalization blocks' device arithmetic over many rows at once (not part of the public API):
// the row reductions of row_sums.h and the element-wise steps of RMSNorm and LayerNorm, each with
// a portable, an AVX2 and an AVX-512 implementation chosen at run time.
//
// Every implementation gives the portable one's bits. The reductions put one row per vector lane,
// so each row is still summed in the device's order (row_sums.h; a float sum depends on its
// order, and that order is part of the emulated numerics, docs/numerics.md); the element-wise
// steps round each value exactly as the scalar loops do (IEEE float32 operations, no fused
// multiply-add, the same bfloat16 rounding).
#pragma once

#include <cstdint>

#include "blocks/common/device.h"
#include "validation/tensor/tensor.h"

namespace ttt::norm_detail {

// Which implementation runs. `automatic` picks AVX-512 (F) when the CPU has it, else AVX2,
// else the portable loops.
enum class RowKernel : std::uint8_t { automatic, portable, avx2, avx512 };

// True when this CPU runs `kernel` (always for portable and automatic).
bool row_kernel_supported(RowKernel kernel);

// The kernel `requested` runs as: never automatic. Throws std::logic_error naming the kernel when
// this CPU lacks it.
RowKernel resolve_row_kernel(RowKernel requested);

// A row reduction in the device's order: the values or their squares, under `accumulation`
// (sum_fp32, sum_bf16, sum_of_squares_fp32, sum_of_squares_bf16 of row_sums.h for one row).
struct RowReduction {
  bool squares = false;
  Accumulation accumulation = Accumulation::fp32;
};

// sums[r] = the reduction of the `count` values at values + r * stride, for r < rows.
void reduce_rows(RowReduction reduction, const float* values, std::int64_t rows,
                 std::int64_t stride, std::int64_t count, float* sums, RowKernel kernel);

// The element-wise steps. `round` is the intermediate buffers' rounding (intermediate_rounding of
// row_sums.h): to bfloat16 under bf16 accumulation, none under fp32.

// RMSNorm: target[i] = round(row[i] * inverse_rms) * scale[i].
void rms_scale_row(const float* row, std::int64_t count, float inverse_rms, const float* scale,
                   Accumulation round, float* target, RowKernel kernel);

// LayerNorm's centring: centered[i] = round(row[i] - mean).
void center_row(const float* row, std::int64_t count, float mean, Accumulation round,
                float* centered, RowKernel kernel);

// LayerNorm's output: out[i] = round_weighted(round(centered[i] * inverse_std) * weight[i]) +
// bias[i], where round_weighted is `round` when `round_weighted` is true and none otherwise.
// `out` may be `centered`.
void layer_scale_row(const float* centered, std::int64_t count, float inverse_std,
                     const float* weight, const float* bias, Accumulation round,
                     bool round_weighted, float* out, RowKernel kernel);

// A norm's output, written as float32 values through data<float>() and then passed to
// finish_output: the tensor itself when `dtype` is held as float32 (no copy of the values),
// else float32.
Tensor output_for(const Shape& shape, DType dtype);
// Rounds the values once to `dtype` (as Tensor::from_floats does).
Tensor finish_output(Tensor output, DType dtype);

}  // namespace ttt::norm_detail

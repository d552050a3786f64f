#include "blocks/normalization/row_sums.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "validation/tensor/formats.h"

namespace ttt::norm_detail {

namespace {
float keep_float32(float value) { return value; }
}  // namespace

IntermediateRounding intermediate_rounding(Accumulation accumulation) {
  return accumulation == Accumulation::fp32 ? keep_float32 : round_to_bfloat16;
}

float sum_fp32(const float* values, std::int64_t count) {
  float sum = 0.0f;
  for (std::int64_t i = 0; i < count; ++i) sum += values[i];
  return sum;
}

float sum_bf16(const float* values, std::int64_t count) {
  float sum = 0.0f;
  for (std::int64_t begin = 0; begin < count; begin += kTileWidth) {
    const std::int64_t end = std::min(count, begin + kTileWidth);
    float tile = 0.0f;
    for (std::int64_t i = begin; i < end; ++i) tile += values[i];
    sum = round_to_bfloat16(sum + tile);
  }
  return sum;
}

float sum_of_squares_fp32(const float* values, std::int64_t count) {
  float sum = 0.0f;
  for (std::int64_t i = 0; i < count; ++i) sum += values[i] * values[i];
  return sum;
}

float sum_of_squares_bf16(const float* values, std::int64_t count) {
  float sum = 0.0f;
  for (std::int64_t begin = 0; begin < count; begin += kTileWidth) {
    const std::int64_t end = std::min(count, begin + kTileWidth);
    float tile = 0.0f;
    for (std::int64_t i = begin; i < end; ++i) tile += round_to_bfloat16(values[i] * values[i]);
    sum = round_to_bfloat16(sum + tile);
  }
  return sum;
}

RowSum sum_of_squares(Accumulation accumulation) {
  return accumulation == Accumulation::fp32 ? sum_of_squares_fp32 : sum_of_squares_bf16;
}

Prepared<Tensor> prepared_rms_scale(WeightSource weight, bool add_unit_offset, DType dtype) {
  return Prepared<Tensor>([source = std::move(weight), add_unit_offset, dtype] {
    Tensor scale = source.load().to(DType::float32);
    if (add_unit_offset) {
      for (float& value : scale.mutable_floats()) value += 1.0f;
    }
    return scale.to(dtype);
  });
}

float rms_inverse(float sum, float inverse_dim, float eps, IntermediateRounding round) {
  const float mean_square = round(sum * inverse_dim);
  return round(1.0f / std::sqrt(mean_square + eps));
}

void rms_normalize_row(const float* row, std::int64_t count, float sum, float inverse_dim,
                       float eps, const float* scale, IntermediateRounding round, float* target) {
  const float inverse_rms = rms_inverse(sum, inverse_dim, eps, round);
  for (std::int64_t i = 0; i < count; ++i) target[i] = round(row[i] * inverse_rms) * scale[i];
}

}  // namespace ttt::norm_detail

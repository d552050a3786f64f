#include "blocks/normalization/row_sums.h"

#include <algorithm>

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

}  // namespace ttt::norm_detail

// Validation and row handling shared by the feed-forward blocks (internal to blocks/ffn).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "blocks/common/device.h"
#include "blocks/common/matmul.h"
#include "blocks/ffn/activation.h"
#include "validation/tensor/tensor.h"

namespace ttt::ffn_detail {

// Throws std::invalid_argument "[block] <message>".
[[noreturn]] void fail(const char* block, const std::string& message);

// Checks that a dtype knob is floating: "[block] config.bias_dtype is int32, expected ...".
void check_floating(const char* block, const std::string& field, DType dtype);

// Checks that every dtype of a matmul config is floating: "[block] config.ff2.weight_dtype ...".
void check_matmul_config(const char* block, const char* field, const MatmulConfig& config);

// Checks 32 * shards divides `dim`: the ffn dimension splits over chips into whole tiles.
void check_shards(const char* block, std::int64_t shards, std::int64_t dim);

// The chips sharing an ffn dimension on `device` (N150 1, N300 2, T3K 8, TG 8), or 1 when `dim`
// does not split into whole tiles over them.
std::int64_t default_reduction_shards(Device device, std::int64_t dim);

// Copies `rows` rows of `width` values and rounds them to `dtype` (block formats along rows).
std::vector<float> rows_in_dtype(const float* x, std::int64_t rows, std::int64_t width,
                                 DType dtype);

// The gated MLP's reference arithmetic in float64 on `rows` rows of x: (act(x · w_gate) *
// (x · w_up)) · w_down. Used by the gated MLP's and the MoE's references only.
std::vector<double> gated_mlp_reference_rows(Activation activation, const std::vector<double>& x,
                                             std::int64_t rows, const Tensor& w_gate,
                                             const Tensor& w_up, const Tensor& w_down);

}  // namespace ttt::ffn_detail

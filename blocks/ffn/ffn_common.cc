#include "blocks/ffn/ffn_common.h"

#include <stdexcept>

#include "blocks/common/reference_math.h"
#include "validation/tensor/formats.h"

namespace ttt::ffn_detail {

namespace {
constexpr std::int64_t kTile = 32;
}  // namespace

void fail(const char* block, const std::string& message) {
  throw std::invalid_argument(std::string("[") + block + "] " + message);
}

void check_floating(const char* block, const std::string& field, DType dtype) {
  if (!is_floating(dtype)) {
    fail(block, "config." + field + " is " + std::string(dtype_name(dtype)) +
                    ", expected a floating dtype");
  }
}

void check_matmul_config(const char* block, const char* field, const MatmulConfig& config) {
  for (const auto& [dtype, name] : {std::pair{config.activation_dtype, "activation_dtype"},
                                    std::pair{config.weight_dtype, "weight_dtype"},
                                    std::pair{config.output_dtype, "output_dtype"}}) {
    check_floating(block, std::string(field) + "." + name, dtype);
  }
}

void check_shards(const char* block, std::int64_t shards, std::int64_t dim) {
  if (shards < 1) {
    fail(block, "config.reduction_shards must be >= 1, got " + std::to_string(shards));
  }
  if (dim % (kTile * shards) != 0) {
    fail(block, "config.reduction_shards " + std::to_string(shards) +
                    " does not split spec.ffn_dim " + std::to_string(dim) +
                    " into whole tiles of 32");
  }
}

std::int64_t default_reduction_shards(Device device, std::int64_t dim) {
  const std::int64_t chips =
      device == Device::TG ? mesh_shape(device).rows : mesh_shape(device).num_devices();
  return dim > 0 && dim % (kTile * chips) == 0 ? chips : 1;
}

std::vector<float> rows_in_dtype(const float* x, std::int64_t rows, std::int64_t width,
                                 DType dtype) {
  std::vector<float> values(x, x + rows * width);
  quantize_in_place(values, width, dtype);
  return values;
}

std::vector<double> gated_mlp_reference_rows(Activation activation, const std::vector<double>& x,
                                             std::int64_t rows, const Tensor& w_gate,
                                             const Tensor& w_up, const Tensor& w_down) {
  std::vector<double> gate = reference_matmul(x, rows, w_gate);
  const std::vector<double> up = reference_matmul(x, rows, w_up);
  for (std::size_t i = 0; i < gate.size(); ++i) {
    gate[i] = activation_reference(activation, gate[i]) * up[i];
  }
  return reference_matmul(gate, rows, w_down);
}

}  // namespace ttt::ffn_detail

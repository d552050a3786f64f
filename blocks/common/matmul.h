// The device matmul y = x · W (+ bias) in the device's numerics, computed with OpenBLAS.
//
// What is emulated (docs/numerics.md has the full model and what is exact):
// - x is rounded to the activation dtype, W is stored in the weight dtype, both exactly as the
//   device stores them (validation/tensor/formats.h);
// - the math fidelity: the matrix unit reads at most 1+4 bits of each weight (SrcA) and 1+6 bits
//   of each activation (SrcB) per pass; LoFi/HiFi2/HiFi3/HiFi4 sum 1/2/3/4 such partial
//   products (Tenstorrent ISA documentation, WormholeB0 MVMUL/ELWMUL);
// - accumulation in float32, or in bfloat16 (the partial sum is rounded to bfloat16 after every
//   16 products along K, one MVMUL);
// - the bias is added to the accumulator and the result rounded to the output dtype.
// Every product of the emulated operands is exact in float32; BLAS sums them in its own order,
// which is the one approximation of fp32 accumulation.
//
// Speed: cblas_sgemm over dequantized float32 panels prepared once per weight; OpenBLAS runs
// OPENBLAS_NUM_THREADS threads (or set_blas_threads()).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "blocks/common/device.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The numerics of one matmul.
struct MatmulConfig {
  // Format x is rounded to before the product (SrcB). Default: bfloat16.
  DType activation_dtype = DType::bfloat16;
  // Format the weight is stored in (SrcA). Default: bfloat8_b (TTTv1's default for weights).
  DType weight_dtype = DType::bfloat8_b;
  // Format the result is rounded to. Default: bfloat16.
  DType output_dtype = DType::bfloat16;
  // Multiplier passes. Default: HiFi2 (TTTv1's default for linear layers).
  MathFidelity fidelity = MathFidelity::HiFi2;
  // Destination register precision. Default: fp32.
  Accumulation accumulation = Accumulation::fp32;

  bool operator==(const MatmulConfig&) const = default;
};

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// {"activation_dtype": "bfloat16", "weight_dtype": "bfloat8_b", "output_dtype": "bfloat16",
//  "fidelity": "HiFi2", "accumulation": "fp32"}; from_json accepts any subset (missing fields keep
// their defaults) and throws std::invalid_argument naming an unknown or invalid field.
void to_json(nlohmann::json& json, const MatmulConfig& config);
void from_json(const nlohmann::json& json, MatmulConfig& config);
void read_json(const JsonNode& node, MatmulConfig& config);

// "bfloat8_b/HiFi2/fp32": weight dtype, fidelity and accumulation, for identity strings.
std::string matmul_config_tag(const MatmulConfig& config);

// A right operand W [K, N] in device form: its values in the weight dtype and the bit panels the
// configured fidelity reads, plus an optional bias [N] in its bias dtype. Made by
// DeviceMatmul::prepare(); immutable and cheap to copy (tensors share storage).
class DeviceMatrix {
 public:
  std::int64_t rows() const { return rows_; }  // K.
  std::int64_t cols() const { return cols_; }  // N.
  bool has_bias() const { return bias_.defined(); }
  // W rounded to the weight dtype, as the device stores it, [K, N].
  const Tensor& stored() const { return stored_; }

 private:
  friend class DeviceMatmul;
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  Tensor stored_;
  Tensor full_panel_;  // The weight bits all fidelity phases read (SrcA as TF32 minus one bit).
  Tensor high_panel_;  // The weight bits of phase 0 (implicit one and 4 mantissa bits).
  Tensor bias_;        // [N] in the bias dtype given to prepare(), or undefined.
};

// A matmul with its numerics chosen once: the constructor selects the fidelity and accumulation
// kernels, so a call does no dispatch on the configuration.
class DeviceMatmul {
 public:
  // Throws std::invalid_argument naming the field when a dtype is not floating.
  explicit DeviceMatmul(MatmulConfig config);

  const MatmulConfig& config() const { return config_; }

  // W [K, N] (float32 reference values) -> device form; `bias` [N] is optional and stored in
  // `bias_dtype` (the device keeps a bias as a tensor of its own, bfloat16 unless configured;
  // TTTv1 stores every bias in bfloat16). Throws std::invalid_argument naming `name` when W is not
  // rank 2, the bias has another length or `bias_dtype` is not floating.
  DeviceMatrix prepare(const Tensor& weight, const Tensor& bias = Tensor(),
                       const char* name = "matmul", DType bias_dtype = DType::bfloat16) const;

  // y = x · W (+ bias). x [..., K] of any floating dtype (rounded to the activation dtype first);
  // returns [..., N] in the output dtype. Throws std::invalid_argument naming both shapes when
  // the last dimension of x is not K.
  Tensor operator()(const Tensor& x, const DeviceMatrix& w) const;

  // The same on raw rows: x holds `rows` rows of K values already in the activation dtype; writes
  // rows x N values, rounded to the output dtype, to `out`. For blocks that slice their inputs.
  void run(const float* x, std::int64_t rows, const DeviceMatrix& w, float* out) const;

  // The kernels for this configuration, one entry of a static table in matmul.cc.
  struct Kernels;

 private:
  MatmulConfig config_;
  const Kernels* kernels_ = nullptr;
};

// Sets the number of OpenBLAS threads for every matmul (OPENBLAS_NUM_THREADS sets the initial
// value). REQUIRES: threads >= 1.
void set_blas_threads(int threads);
// The current number of OpenBLAS threads.
int blas_threads();

}  // namespace ttt

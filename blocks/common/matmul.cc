#include "blocks/common/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "blocks/common/json_fields.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

// Bits the matrix unit reads of an operand held as float32 (sign, exponent, mantissa), from the
// Tenstorrent ISA documentation (WormholeB0 ELWMUL: SrcAFidelityBits / SrcBFidelityBits).
// Activations (in0) are unpacked to SrcB, weights (in1) to SrcA (tt-llk llk_unpack_AB_matmul).
constexpr std::uint32_t kSrcBHighBits = 0xfffe0000u;  // Implicit one and 6 mantissa bits.
constexpr std::uint32_t kSrcBAllBits = 0xffffe000u;   // TF32: the 4 further bits of phases 2-3.
constexpr std::uint32_t kSrcAHighBits = 0xfff80000u;  // Implicit one and 4 mantissa bits.
constexpr std::uint32_t kSrcAAllBits = 0xffffc000u;   // The 5 further bits of phases 1 and 3.

// One MVMUL adds 16 products along K to the destination register.
constexpr std::int64_t kProductsPerDstUpdate = 16;

float keep_bits(float value, std::uint32_t mask) {
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(value) & mask);
}

// The activation bit groups a fidelity reads, computed once per call.
struct ActivationPanels {
  std::vector<float> high;  // SrcB phase 0/1 bits.
  std::vector<float> low;   // SrcB phase 2/3 bits (all - high).
  std::vector<float> all;   // SrcB all bits.
};

// The weight bit groups, from a DeviceMatrix.
struct WeightPanels {
  const float* all = nullptr;
  const float* high = nullptr;
  std::int64_t k = 0;
  std::int64_t n = 0;
};

void split_high(const float* x, std::size_t count, ActivationPanels& panels) {
  panels.high.resize(count);
  for (std::size_t i = 0; i < count; ++i) panels.high[i] = keep_bits(x[i], kSrcBHighBits);
}

void split_high_low(const float* x, std::size_t count, ActivationPanels& panels) {
  panels.high.resize(count);
  panels.low.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const float high = keep_bits(x[i], kSrcBHighBits);
    panels.high[i] = high;
    panels.low[i] = keep_bits(x[i], kSrcBAllBits) - high;  // Exact: a suffix of the bits.
  }
}

void split_all(const float* x, std::size_t count, ActivationPanels& panels) {
  panels.all.resize(count);
  for (std::size_t i = 0; i < count; ++i) panels.all[i] = keep_bits(x[i], kSrcBAllBits);
}

// The block of the output a product kernel computes: columns [n_begin, n_begin + n_count) of
// rows x N, written with leading dimension `ldc`, over K values [k_begin, k_begin + k_count).
struct OutputBlock {
  std::int64_t k_begin = 0;
  std::int64_t k_count = 0;
  std::int64_t n_begin = 0;
  std::int64_t n_count = 0;
  std::int64_t ldc = 0;
  float beta = 0.0f;  // 0 overwrites `out`, 1 adds to it.
};

// out = beta * out + a[:, k range] · b[k range, n range].
void gemm(const float* a, std::int64_t rows, const WeightPanels& w, const float* b,
          const OutputBlock& block, float beta, float* out) {
  const float* a_block = a + block.k_begin;
  const float* b_block = b + block.k_begin * w.n + block.n_begin;
  if (rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasTrans, static_cast<blasint>(block.k_count),
                static_cast<blasint>(block.n_count), 1.0f, b_block, static_cast<blasint>(w.n),
                a_block, 1, beta, out, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows),
              static_cast<blasint>(block.n_count), static_cast<blasint>(block.k_count), 1.0f,
              a_block, static_cast<blasint>(w.k), b_block, static_cast<blasint>(w.n), beta, out,
              static_cast<blasint>(block.ldc));
}

// The sum of the fidelity phases' products over one block, added to `out` with block.beta.
void product_lofi(const ActivationPanels& x, std::int64_t rows, const WeightPanels& w,
                  const OutputBlock& block, float* out) {
  gemm(x.high.data(), rows, w, w.high, block, block.beta, out);
}

void product_hifi2(const ActivationPanels& x, std::int64_t rows, const WeightPanels& w,
                   const OutputBlock& block, float* out) {
  gemm(x.high.data(), rows, w, w.all, block, block.beta, out);
}

void product_hifi3(const ActivationPanels& x, std::int64_t rows, const WeightPanels& w,
                   const OutputBlock& block, float* out) {
  gemm(x.high.data(), rows, w, w.all, block, block.beta, out);
  gemm(x.low.data(), rows, w, w.high, block, 1.0f, out);
}

void product_hifi4(const ActivationPanels& x, std::int64_t rows, const WeightPanels& w,
                   const OutputBlock& block, float* out) {
  gemm(x.all.data(), rows, w, w.all, block, block.beta, out);
}

using SplitKernel = void (*)(const float*, std::size_t, ActivationPanels&);
using ProductKernel = void (*)(const ActivationPanels&, std::int64_t, const WeightPanels&,
                               const OutputBlock&, float*);

void accumulate_fp32(ProductKernel product, const ActivationPanels& x, std::int64_t rows,
                     const WeightPanels& w, float* out) {
  product(x, rows, w, OutputBlock{0, w.k, 0, w.n, w.n, 0.0f}, out);
}

// Output columns per panel of the bf16 accumulation: the running sums of a panel (rows x width
// floats) stay in cache while all of K streams past them.
std::int64_t bf16_panel_width(std::int64_t rows, std::int64_t n) {
  constexpr std::int64_t kPanelFloats = 64 * 1024;
  const std::int64_t width =
      std::max<std::int64_t>(64, kPanelFloats / std::max<std::int64_t>(rows, 1));
  return std::min(n, width / 64 * 64);
}

// bfloat16 destination: after every MVMUL (16 products along K) the running sum is rounded.
// BLAS adds each chunk's products to the running sum in float32 (beta = 1); the sum is then
// rounded to bfloat16, panel by panel of output columns.
void accumulate_bf16(ProductKernel product, const ActivationPanels& x, std::int64_t rows,
                     const WeightPanels& w, float* out) {
  const std::int64_t width = bf16_panel_width(rows, w.n);
  std::vector<float> running(static_cast<std::size_t>(rows * width));
  for (std::int64_t n_begin = 0; n_begin < w.n; n_begin += width) {
    const std::int64_t n_count = std::min(width, w.n - n_begin);
    const std::span<float> sums(running.data(), static_cast<std::size_t>(rows * n_count));
    std::fill(sums.begin(), sums.end(), 0.0f);
    for (std::int64_t k_begin = 0; k_begin < w.k; k_begin += kProductsPerDstUpdate) {
      const std::int64_t k_count = std::min(kProductsPerDstUpdate, w.k - k_begin);
      product(x, rows, w, OutputBlock{k_begin, k_count, n_begin, n_count, n_count, 1.0f},
              sums.data());
      quantize_in_place(sums, n_count, DType::bfloat16);
    }
    for (std::int64_t r = 0; r < rows; ++r) {
      std::copy_n(sums.data() + r * n_count, n_count, out + r * w.n + n_begin);
    }
  }
}

void round_dst_fp32(float*, std::size_t) {}

void round_dst_bf16(float* values, std::size_t count) {
  quantize_in_place(std::span<float>(values, count), static_cast<std::int64_t>(count),
                    DType::bfloat16);
}

using AccumulateKernel = void (*)(ProductKernel, const ActivationPanels&, std::int64_t,
                                  const WeightPanels&, float*);
using RoundDstKernel = void (*)(float*, std::size_t);

void require_floating(DType dtype, const char* field) {
  if (!is_floating(dtype)) {
    throw std::invalid_argument(std::string("[matmul] config.") + field + " is " +
                                std::string(dtype_name(dtype)) + ", expected a floating dtype");
  }
}

}  // namespace

struct DeviceMatmul::Kernels {
  SplitKernel split;
  ProductKernel product;
  bool needs_all_weight_bits;
  bool needs_high_weight_bits;
  AccumulateKernel accumulate;
  RoundDstKernel round_dst;
};

namespace {

// [fidelity][accumulation], in enum order.
constexpr DeviceMatmul::Kernels kKernelTable[4][2] = {
    {{split_high, product_lofi, false, true, accumulate_fp32, round_dst_fp32},
     {split_high, product_lofi, false, true, accumulate_bf16, round_dst_bf16}},
    {{split_high, product_hifi2, true, false, accumulate_fp32, round_dst_fp32},
     {split_high, product_hifi2, true, false, accumulate_bf16, round_dst_bf16}},
    {{split_high_low, product_hifi3, true, true, accumulate_fp32, round_dst_fp32},
     {split_high_low, product_hifi3, true, true, accumulate_bf16, round_dst_bf16}},
    {{split_all, product_hifi4, true, false, accumulate_fp32, round_dst_fp32},
     {split_all, product_hifi4, true, false, accumulate_bf16, round_dst_bf16}},
};

}  // namespace

namespace {

constexpr auto kConfigFields =
    std::tuple{json_optional("activation_dtype", &MatmulConfig::activation_dtype),
               json_optional("weight_dtype", &MatmulConfig::weight_dtype),
               json_optional("output_dtype", &MatmulConfig::output_dtype),
               json_optional("fidelity", &MatmulConfig::fidelity),
               json_optional("accumulation", &MatmulConfig::accumulation)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(MatmulConfig, "matmul config", kConfigFields)

std::string matmul_config_tag(const MatmulConfig& config) {
  return std::string(dtype_name(config.weight_dtype)) + "/" +
         std::string(math_fidelity_name(config.fidelity)) + "/" +
         std::string(accumulation_name(config.accumulation));
}

DeviceMatmul::DeviceMatmul(MatmulConfig config) : config_(config) {
  require_floating(config_.activation_dtype, "activation_dtype");
  require_floating(config_.weight_dtype, "weight_dtype");
  require_floating(config_.output_dtype, "output_dtype");
  const auto fidelity = static_cast<std::size_t>(config_.fidelity);
  const auto accumulation = static_cast<std::size_t>(config_.accumulation);
  if (fidelity >= 4 || accumulation >= 2) {
    throw std::invalid_argument("[matmul] invalid fidelity or accumulation value");
  }
  kernels_ = &kKernelTable[fidelity][accumulation];
}

DeviceMatrix DeviceMatmul::prepare(const Tensor& weight, const Tensor& bias, const char* name,
                                   DType bias_dtype) const {
  if (!weight.defined() || weight.rank() != 2) {
    throw std::invalid_argument(
        std::string("[") + name + "] weight has shape " +
        (weight.defined() ? shape_to_string(weight.shape()) : std::string("(undefined)")) +
        ", expected [in_features, out_features]");
  }
  DeviceMatrix matrix;
  matrix.rows_ = weight.dim(0);
  matrix.cols_ = weight.dim(1);
  matrix.stored_ =
      weight.dtype() == config_.weight_dtype ? weight : weight.to(config_.weight_dtype);
  // Formats with at most 9 explicit mantissa bits (bfloat16, bfloat8_b, bfloat4_b) are read
  // whole by the phases; only float32/float16 weights lose bits in SrcA.
  const bool wider_than_srca =
      config_.weight_dtype == DType::float32 || config_.weight_dtype == DType::float16;
  auto masked = [&](std::uint32_t mask) {
    Tensor panel(matrix.stored_.shape(), DType::float32);
    const std::span<const float> source = matrix.stored_.floats();
    float* target = panel.data<float>();
    for (std::size_t i = 0; i < source.size(); ++i) target[i] = keep_bits(source[i], mask);
    return panel;
  };
  if (kernels_->needs_all_weight_bits) {
    matrix.full_panel_ = wider_than_srca ? masked(kSrcAAllBits) : matrix.stored_;
  }
  if (kernels_->needs_high_weight_bits) matrix.high_panel_ = masked(kSrcAHighBits);
  if (bias.defined()) {
    if (bias.numel() != matrix.cols_ || bias.rank() != 1) {
      throw std::invalid_argument(std::string("[") + name + "] bias has shape " +
                                  shape_to_string(bias.shape()) + ", expected [" +
                                  std::to_string(matrix.cols_) + "]");
    }
    require_floating(bias_dtype, "bias_dtype");
    matrix.bias_ = bias.to(bias_dtype);
  }
  return matrix;
}

void DeviceMatmul::run(const float* x, std::int64_t rows, const DeviceMatrix& w, float* out) const {
  const WeightPanels panels{w.full_panel_.defined() ? w.full_panel_.data<float>() : nullptr,
                            w.high_panel_.defined() ? w.high_panel_.data<float>() : nullptr,
                            w.rows_, w.cols_};
  ActivationPanels activations;
  kernels_->split(x, static_cast<std::size_t>(rows * w.rows_), activations);
  kernels_->accumulate(kernels_->product, activations, rows, panels, out);
  if (w.bias_.defined()) {
    const float* bias = w.bias_.data<float>();
    for (std::int64_t r = 0; r < rows; ++r) {
      float* row = out + r * w.cols_;
      for (std::int64_t j = 0; j < w.cols_; ++j) row[j] += bias[j];
    }
    kernels_->round_dst(out, static_cast<std::size_t>(rows * w.cols_));
  }
  quantize_in_place(std::span<float>(out, static_cast<std::size_t>(rows * w.cols_)), w.cols_,
                    config_.output_dtype);
}

Tensor DeviceMatmul::operator()(const Tensor& x, const DeviceMatrix& w) const {
  if (!x.defined() || x.rank() < 1 || x.dim(-1) != w.rows_) {
    throw std::invalid_argument(
        "[matmul] input has shape " +
        (x.defined() ? shape_to_string(x.shape()) : std::string("(undefined)")) +
        ", expected [..., " + std::to_string(w.rows_) + "] for a weight of shape [" +
        std::to_string(w.rows_) + ", " + std::to_string(w.cols_) + "]");
  }
  if (!is_floating(x.dtype())) {
    throw std::invalid_argument("[matmul] input has dtype " + std::string(dtype_name(x.dtype())) +
                                ", expected a floating dtype");
  }
  const Tensor input = x.dtype() == config_.activation_dtype ? x : x.to(config_.activation_dtype);
  Shape out_shape = x.shape();
  const std::int64_t rows = shape_numel(Shape(out_shape.begin(), out_shape.end() - 1), "matmul");
  out_shape.back() = w.cols_;
  std::vector<float> out(static_cast<std::size_t>(rows * w.cols_));
  if (rows > 0 && w.rows_ > 0) {
    run(input.data<float>(), rows, w, out.data());
  } else if (w.bias_.defined()) {
    for (std::int64_t r = 0; r < rows; ++r) {
      std::copy_n(w.bias_.data<float>(), w.cols_, out.data() + r * w.cols_);
    }
  }
  return Tensor::from_floats(std::move(out_shape), std::move(out), config_.output_dtype);
}

void set_blas_threads(int threads) {
  if (threads < 1) {
    throw std::invalid_argument("[set_blas_threads] threads is " + std::to_string(threads) +
                                ", expected >= 1");
  }
  openblas_set_num_threads(threads);
}

int blas_threads() { return openblas_get_num_threads(); }

}  // namespace ttt

// The bound of "what parallelism may change" (docs/multi-device.md): how far a tensor-parallel
// module's output may be from the single-device module's on the same input, and the tools a test
// needs to evaluate it (device partials from weights with one device's rows kept, the inputs the
// modules of a layer received, a deliberately wrong sharding).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "patterns/module.h"
#include "tests/common/tensor_values.h"
#include "validation/tensor/tensor.h"

namespace ttt::testing_patterns {

inline constexpr double kBfloat16U = 0x1p-8;  // Unit roundoff of bfloat16 (8 significant bits).
inline constexpr std::int64_t kAccumulationChunk =
    16;  // bf16 accumulation rounds every 16 K values.

// gamma_k of docs/numerics.md "Collectives": k roundings to a format of unit roundoff u, each
// after a float32 addition (u' = u + u_32 + u u_32).
inline double gamma(std::int64_t k, double u) {
  const double v = u + 0x1p-24 + u * 0x1p-24;
  return static_cast<double>(k) * v / (1.0 - static_cast<double>(k) * v);
}

// One unit in the last place of a bfloat16 value.
inline double bfloat16_ulp(double value) {
  if (value == 0.0) return 0x1p-133;
  int exponent = 0;
  std::frexp(value, &exponent);
  return std::ldexp(1.0, exponent - 8);
}

// How far `mesh` may be from `one` elementwise, both the outputs of one row-parallel module on the
// same input (docs/multi-device.md "What parallelism may change"):
//   gamma_{n-1} sum_d |p_d|            the collective: n bfloat16 partials p_d, n - 1 roundings
// + accumulation                       fp32 (attention's Wo): each p_d rounded once, 1/2 ulp(p_d);
//                                      bf16 (FF2): (gamma_m + gamma_{m/n}) sum_j |c_j|, c_j the m
//                                      16-row chunk sums both sides accumulate in bfloat16
// + ulp(one) + ulp(mesh)               each side's output rounding, with room for the float32
//                                      accumulation order.
inline std::vector<double> parallelism_bound(const Tensor& one, const Tensor& mesh,
                                             const std::vector<Tensor>& partials,
                                             const std::vector<Tensor>& chunks) {
  const auto n = static_cast<std::int64_t>(partials.size());
  const auto m = static_cast<std::int64_t>(chunks.size());
  const std::vector<double> y1 = test_support::values_of(one), ym = test_support::values_of(mesh);
  std::vector<double> bound(y1.size());
  for (std::size_t i = 0; i < y1.size(); ++i) {
    double partial_sum = 0.0, rounding = 0.0, chunk_sum = 0.0;
    for (const Tensor& p : partials) {
      const double value = p.at_flat(static_cast<std::int64_t>(i));
      partial_sum += std::abs(value);
      rounding += 0.5 * bfloat16_ulp(value);
    }
    for (const Tensor& c : chunks) chunk_sum += std::abs(c.at_flat(static_cast<std::int64_t>(i)));
    const double accumulation = chunks.empty() ? rounding
                                               : (gamma(m, kBfloat16U) + gamma(m / n, kBfloat16U)) *
                                                     chunk_sum / (1.0 - kBfloat16U);
    bound[i] = gamma(n - 1, kBfloat16U) * partial_sum + accumulation + bfloat16_ulp(y1[i]) +
               bfloat16_ulp(ym[i]);
  }
  return bound;
}

// The worst |a - b| / bound over the elements (> 1: outside), with the difference there.
struct Excess {
  double ratio = 0.0;
  double difference = 0.0;
  double bound = 0.0;
  double max_difference = 0.0;
};
inline Excess excess(const Tensor& a, const Tensor& b, const std::vector<double>& bound) {
  const std::vector<double> x = test_support::values_of(a), y = test_support::values_of(b);
  Excess worst;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double difference = std::abs(x[i] - y[i]);
    worst.max_difference = std::max(worst.max_difference, difference);
    if (difference / bound[i] > worst.ratio) {
      worst.ratio = difference / bound[i];
      worst.difference = difference;
      worst.bound = bound[i];
    }
  }
  return worst;
}

// Rows [begin, begin + count) of w kept, the others zero: the weight of one device's share of a
// row-parallel matmul. A mesh module on it returns that device's partial output exactly (the other
// devices contribute zeros, and adding a zero to a bfloat16 value rounds to itself).
inline Tensor keep_rows(const Tensor& w, std::int64_t begin, std::int64_t count) {
  std::vector<float> values(static_cast<std::size_t>(w.numel()), 0.0f);
  const std::int64_t cols = w.dim(1);
  for (std::int64_t r = begin; r < begin + count; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      values[static_cast<std::size_t>(r * cols + c)] = static_cast<float>(w.at({r, c}));
    }
  }
  return Tensor::from_floats(w.shape(), std::move(values));
}

// w with its rows moved down by `shift` (cyclically): device i's slice then holds the rows meant
// for the previous device, the bug of a sharding that cuts its slices off by `shift` rows.
inline Tensor roll_rows(const Tensor& w, std::int64_t shift) {
  std::vector<float> values;
  const std::int64_t rows = w.dim(0), cols = w.dim(1);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      values.push_back(static_cast<float>(w.at({(r - shift + rows) % rows, c})));
    }
  }
  return Tensor::from_floats(w.shape(), std::move(values));
}

// A norm module that remembers what it returned in each mode: the input of the attention (the
// attention norm's output) or of the FFN (the FFN norm's). Used from one thread only.
class RecordingNorm final : public PositionwiseModule {
 public:
  explicit RecordingNorm(std::shared_ptr<const PositionwiseModule> inner)
      : inner_(std::move(inner)) {}
  Tensor forward(const Tensor& x, Mode mode) const override {
    inputs_[mode] = x;
    return outputs_[mode] = inner_->forward(x, mode);
  }
  Tensor reference(const Tensor& x) const override { return inner_->reference(x); }
  ModuleInfo info(Mode mode) const override { return inner_->info(mode); }
  std::vector<NamedTensor> weights() const override { return inner_->weights(); }
  const Tensor& input(Mode mode) const { return inputs_[mode]; }
  const Tensor& output(Mode mode) const { return outputs_[mode]; }

 private:
  std::shared_ptr<const PositionwiseModule> inner_;
  mutable PerMode<Tensor> inputs_;
  mutable PerMode<Tensor> outputs_;
};

}  // namespace ttt::testing_patterns

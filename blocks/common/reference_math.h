// Plain float64 arithmetic for the blocks' references. Nothing here is used by a device path, so a
// reference never shares numerics code with the implementation it checks.
#pragma once

#include <cstdint>
#include <vector>

#include "validation/tensor/tensor.h"

namespace ttt {

// A tensor's values as float64, row-major. REQUIRES: a floating dtype.
std::vector<double> reference_values(const Tensor& tensor);

// out[rows, N] = x[rows, K] · w[K, N] (+ bias[N]), accumulated in float64. `w` and `bias` are
// float tensors of shapes [K, N] and [N] (bias may be undefined).
std::vector<double> reference_matmul(const std::vector<double>& x, std::int64_t rows,
                                     const Tensor& w, const Tensor& bias = Tensor());

// Float64 values as a float32 tensor of `shape`.
Tensor reference_tensor(const Shape& shape, const std::vector<double>& values);

}  // namespace ttt

// A tensor's values as a flat vector, so that a test compares them with hand-written numbers:
//   EXPECT_THAT(test_support::values_of(y), ElementsAre(1, 2, 3));
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "validation/tensor/tensor.h"

namespace ttt::test_support {

// Every element in row-major order, read as a double (any dtype: at_flat decodes it).
inline std::vector<double> values_of(const Tensor& tensor) {
  std::vector<double> values;
  values.reserve(static_cast<std::size_t>(tensor.numel()));
  for (std::int64_t i = 0; i < tensor.numel(); ++i) values.push_back(tensor.at_flat(i));
  return values;
}

// The float32 values a tensor stores (its dtype's values, held as float32), for bit-exact
// comparisons. REQUIRES: a float dtype (Tensor::floats()).
inline std::vector<float> floats_of(const Tensor& tensor) {
  const auto floats = tensor.floats();
  return {floats.begin(), floats.end()};
}

// Elements [begin, begin + count) along `dim` of a rank-1 tensor (dim 0) or of a rank-2 one
// (dim 0: rows, dim 1: columns), by index arithmetic: the hand-cut weight slice a test compares
// a tensor-parallel block's own slicing with.
inline Tensor cut(const Tensor& w, int dim, std::int64_t begin, std::int64_t count) {
  if (w.rank() == 1) {
    std::vector<float> out;
    for (std::int64_t i = 0; i < count; ++i) out.push_back(static_cast<float>(w.at({begin + i})));
    return Tensor::from_floats({count}, std::move(out));
  }
  const std::int64_t rows = dim == 0 ? count : w.dim(0);
  const std::int64_t cols = dim == 1 ? count : w.dim(1);
  std::vector<float> out;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      out.push_back(static_cast<float>(w.at({dim == 0 ? begin + r : r, dim == 1 ? begin + c : c})));
    }
  }
  return Tensor::from_floats({rows, cols}, std::move(out));
}

}  // namespace ttt::test_support

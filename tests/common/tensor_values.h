// A tensor's values as a flat vector, so that a test compares them with hand-written numbers:
//   EXPECT_THAT(test_support::values_of(y), ElementsAre(1, 2, 3));
#pragma once

#include <cstdint>
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

}  // namespace ttt::test_support

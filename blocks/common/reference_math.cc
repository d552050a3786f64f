#include "blocks/common/reference_math.h"

#include <stdexcept>
#include <string>

namespace ttt {

std::vector<double> reference_values(const Tensor& tensor) {
  if (!tensor.defined() || !is_floating(tensor.dtype())) {
    throw std::invalid_argument("[reference] expected a defined floating tensor");
  }
  const std::span<const float> values = tensor.floats();
  return std::vector<double>(values.begin(), values.end());
}

std::vector<double> reference_matmul(const std::vector<double>& x, std::int64_t rows,
                                     const Tensor& w, const Tensor& bias) {
  const std::int64_t k = w.dim(0);
  const std::int64_t n = w.dim(1);
  if (static_cast<std::int64_t>(x.size()) != rows * k) {
    throw std::invalid_argument("[reference_matmul] x has " + std::to_string(x.size()) +
                                " values, expected " + std::to_string(rows) + " x " +
                                std::to_string(k));
  }
  const std::span<const float> weight = w.floats();
  std::vector<double> out(static_cast<std::size_t>(rows * n), 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    double* target = out.data() + r * n;
    for (std::int64_t p = 0; p < k; ++p) {
      const double scale = x[static_cast<std::size_t>(r * k + p)];
      const float* weight_row = weight.data() + p * n;
      for (std::int64_t j = 0; j < n; ++j) target[j] += scale * static_cast<double>(weight_row[j]);
    }
    if (bias.defined()) {
      const std::span<const float> shift = bias.floats();
      for (std::int64_t j = 0; j < n; ++j) target[j] += static_cast<double>(shift[j]);
    }
  }
  return out;
}

Tensor reference_tensor(const Shape& shape, const std::vector<double>& values) {
  return Tensor::from_floats(shape, std::vector<float>(values.begin(), values.end()));
}

}  // namespace ttt

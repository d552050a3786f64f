#include "blocks/common/positions.h"

#include <stdexcept>
#include <string>

namespace ttt {

std::vector<std::int64_t> checked_indices(const Tensor& tensor, const Shape& expected_shape,
                                          const char* block, const char* argument,
                                          std::int64_t limit, const char* limit_name) {
  const std::string prefix = std::string("[") + block + "] " + argument;
  if (!tensor.defined()) throw std::invalid_argument(prefix + " is undefined");
  if (tensor.dtype() != DType::int32 && tensor.dtype() != DType::int64) {
    throw std::invalid_argument(prefix + " has dtype " + std::string(dtype_name(tensor.dtype())) +
                                ", expected int32 or int64");
  }
  if (tensor.shape() != expected_shape) {
    throw std::invalid_argument(prefix + " has shape " + shape_to_string(tensor.shape()) +
                                ", expected " + shape_to_string(expected_shape));
  }
  std::vector<std::int64_t> values(static_cast<std::size_t>(tensor.numel()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = tensor.dtype() == DType::int32 ? tensor.data<std::int32_t>()[i]
                                               : tensor.data<std::int64_t>()[i];
    if (values[i] < 0 || (limit >= 0 && values[i] >= limit)) {
      std::string expected = limit >= 0 ? "in [0, " + std::to_string(limit) + ")" : ">= 0";
      if (limit >= 0 && limit_name[0] != '\0') expected += std::string(" (") + limit_name + ")";
      throw std::invalid_argument(prefix + "[" + std::to_string(i) + "] is " +
                                  std::to_string(values[i]) + ", expected " + expected);
    }
  }
  return values;
}

}  // namespace ttt

#include "blocks/common/checks.h"

#include <stdexcept>
#include <string>

namespace ttt {

void check_features_input(const char* block, const Tensor& x, std::int64_t features,
                          const char* forward, InputRows rows) {
  const bool batch = rows == InputRows::batch;
  const bool shape_ok =
      x.defined() && x.rank() >= 1 && x.dim(-1) == features && (!batch || x.rank() == 2);
  const std::string where = std::string("[") + block + "] " + forward + " input has ";
  if (!shape_ok) {
    throw std::invalid_argument(
        where + "shape " + (x.defined() ? shape_to_string(x.shape()) : "(undefined)") +
        ", expected " + (batch ? "[batch, " : "[..., ") + std::to_string(features) + "]");
  }
  if (!is_floating(x.dtype())) {
    throw std::invalid_argument(where + "dtype " + std::string(dtype_name(x.dtype())) +
                                ", expected a floating dtype");
  }
}

}  // namespace ttt

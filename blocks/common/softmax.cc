#include "blocks/common/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace ttt {

void softmax_rows_fp32(std::span<float> values, std::int64_t row_length) {
  if (row_length <= 0 || values.size() % static_cast<std::size_t>(row_length) != 0) {
    throw std::invalid_argument("[softmax] " + std::to_string(values.size()) +
                                " values do not split into rows of " + std::to_string(row_length));
  }
  const auto length = static_cast<std::size_t>(row_length);
  for (std::size_t begin = 0; begin < values.size(); begin += length) {
    const std::span<float> row = values.subspan(begin, length);
    const float maximum = *std::max_element(row.begin(), row.end());
    if (maximum == -std::numeric_limits<float>::infinity()) {
      std::fill(row.begin(), row.end(), 0.0f);
      continue;
    }
    float sum = 0.0f;
    for (float& value : row) {
      value = std::exp(value - maximum);
      sum += value;
    }
    for (float& value : row) value /= sum;
  }
}

}  // namespace ttt

// Softmax on the device path: float32 throughout, as TTTv1's kernels compute it (the reference of
// each block computes its own softmax in float64 and shares nothing with this).
#pragma once

#include <cstdint>
#include <span>

namespace ttt {

// Softmax over each row of `row_length` values, in place, in float32: subtract the row maximum,
// exponentiate, divide by the float32 sum. A row of all -Inf becomes all zeros (a fully masked
// row). REQUIRES: row_length > 0 and values.size() a multiple of row_length.
void softmax_rows_fp32(std::span<float> values, std::int64_t row_length);

}  // namespace ttt

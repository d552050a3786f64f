// Checks every block's forwards share (internal to blocks/).
#pragma once

#include <cstdint>

#include "validation/tensor/tensor.h"

namespace ttt {

// How a forward's input is laid out: any leading dimensions (prefill: [..., features]) or one row
// per user (decode: [batch, features]).
enum class InputRows { any, batch };

// Checks that `x` is a defined floating tensor whose last dimension is `features` (and of rank 2
// for InputRows::batch). Throws std::invalid_argument naming the block and the forward:
// "[rms_norm] decode_forward input has shape [2, 3, 64], expected [batch, 64]".
void check_features_input(const char* block, const Tensor& x, std::int64_t features,
                          const char* forward, InputRows rows);

}  // namespace ttt

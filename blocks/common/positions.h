// Integer arguments of the blocks (positions, token ids) read into checked int64 vectors.
//
// Owned by the embeddings/rope/attention blocks; every block that takes positions or ids uses it so
// their errors read the same: "[attention] positions[3] is -1, expected >= 0".
#pragma once

#include <cstdint>
#include <vector>

#include "validation/tensor/tensor.h"

namespace ttt {

// The values of `tensor` as int64. Throws std::invalid_argument prefixed "[block] argument" when
// it is undefined, not int32/int64, not of `expected_shape`, or holds a value outside
// [0, limit) ("[embedding] ids[5] is 128300, expected in [0, 128256) (spec.vocab_size)"; the
// `limit_name` names what bounds it). limit < 0 means no upper bound.
std::vector<std::int64_t> checked_indices(const Tensor& tensor, const Shape& expected_shape,
                                          const char* block, const char* argument,
                                          std::int64_t limit = -1, const char* limit_name = "");

}  // namespace ttt

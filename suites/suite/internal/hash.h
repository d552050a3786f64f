// FNV-1a hashing for fingerprints and seeds (internal to suites/suite; the hash itself is
// validation/tensor/fnv.h, shared with the seeded model weights of models/).
#pragma once

#include <cstdint>
#include <string_view>

#include "validation/tensor/fnv.h"

namespace ttt::suite_detail {

using ttt::fnv1a64;
using ttt::hex64;
using ttt::kFnvOffsetBasis;

// The seed of input `name` of a case drawn with `case_seed`.
inline std::uint64_t input_seed(std::uint64_t case_seed, std::string_view name) {
  return fnv1a64(name, kFnvOffsetBasis ^ case_seed);
}

}  // namespace ttt::suite_detail

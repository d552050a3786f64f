// FNV-1a hashing for fingerprints and seeds (internal to suites/suite; the hash itself is
// validation/tensor/fnv.h, shared with the seeded model weights of models/).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "validation/tensor/fnv.h"

namespace ttt::suite_detail {

using ttt::fnv1a64;
using ttt::kFnvOffsetBasis;

// 16 lower-case hex digits.
inline std::string hex64(std::uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

// The seed of input `name` of a case drawn with `case_seed`.
inline std::uint64_t input_seed(std::uint64_t case_seed, std::string_view name) {
  return fnv1a64(name, kFnvOffsetBasis ^ case_seed);
}

}  // namespace ttt::suite_detail

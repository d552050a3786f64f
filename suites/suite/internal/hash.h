// FNV-1a hashing for fingerprints and seeds (internal to suites/suite).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace ttt::suite_detail {

inline constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;

// 64-bit FNV-1a of `text`, continuing from `hash`.
inline std::uint64_t fnv1a64(std::string_view text, std::uint64_t hash = kFnvOffsetBasis) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

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

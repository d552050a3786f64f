// 64-bit FNV-1a: the hash every seed of TTTv2 is derived from (a suite case's seed from its id, a
// seeded model weight's seed from its module path), so that seeds depend on names, never on order.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace ttt {

inline constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;

// 64-bit FNV-1a of `text`, continuing from `hash`.
inline std::uint64_t fnv1a64(std::string_view text, std::uint64_t hash = kFnvOffsetBasis) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// `value` as 16 lower-case hex digits: how seeds, suite and configuration fingerprints are written.
inline std::string hex64(std::uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

}  // namespace ttt

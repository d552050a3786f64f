// 64-bit FNV-1a: the hash every seed of TTTv2 is derived from (a suite case's seed from its id, a
// seeded model weight's seed from its module path), so that seeds depend on names, never on order.
#pragma once

#include <cstdint>
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

}  // namespace ttt

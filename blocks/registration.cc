#include "blocks/registration.h"

#include <mutex>

#include "blocks/common/block_kind.h"

namespace ttt {

void register_builtin_blocks(BlockRegistry& registry) {
  for (const BlockKind& kind : block_kinds()) registry.add(kind.replayer());
}

void register_builtin_blocks() {
  static std::once_flag once;
  std::call_once(once, [] { register_builtin_blocks(BlockRegistry::global()); });
}

}  // namespace ttt

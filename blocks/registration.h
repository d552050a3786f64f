// Registration of the building blocks for `ttt replay` (validation/registry).
//
// Every kind's replayer comes from its descriptor (blocks/common/block_kind.h), defined beside
// its block in blocks/<family>/kinds.cc: BlockKind::bind rebuilds the block from a trace call (the
// Spec from the call's spec JSON, the ImplConfig from default_impl_config(spec, device, mode)
// overlaid with the call's impl_config JSON, the weights from the call's inputs; the optional
// scalar "mode", "prefill" by default or "decode" (a trace's 0 or 1), picks the forward). docs/blocks.md lists each
// kind's inputs; every kind returns one output, "y".
#pragma once

#include "validation/registry/block_registry.h"

namespace ttt {

// Adds every building block kind to `registry`. Throws std::invalid_argument (from
// BlockRegistry::add) when a kind is already registered there.
void register_builtin_blocks(BlockRegistry& registry);

// Adds them to BlockRegistry::global() once per process; later calls do nothing.
void register_builtin_blocks();

}  // namespace ttt

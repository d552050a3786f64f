// Builtin block kinds of the global registry.
//
// Real blocks (rms_norm, attention, ...) live in blocks/ and register themselves. The registry
// itself holds one tiny kind, so that traces written by any tool can be replayed end to end by
// the shipped `ttt` binary (the interop trace in tests/data, the h5py example in
// docs/trace-format.md) and so that every part of replay is exercised without a model:
//
//   ttt.scale   y = x * scale
//     inputs:      x (a floating tensor)
//     scalars:     {"scale": <number>}                      (required)
//     spec:        {"shape": [..]}                          (optional; x must have this shape)
//     impl_config: {"output_dtype": "bfloat16"}             (optional; default: x's dtype)
//     device:      x * scale computed in float32, rounded to output_dtype (the device's numerics)
//     reference:   x * scale computed in float64, as float32
//     outputs:     y
//     tolerances:  pcc >= 0.999 (rounding to output_dtype bounds the relative error, not the
//                  absolute one, which grows with |x * scale|)
#pragma once

#include "validation/registry/block_registry.h"

namespace ttt {

// Adds the builtin kinds above to `registry` (BlockRegistry::global() starts with them).
void add_builtin_blocks(BlockRegistry& registry);

}  // namespace ttt

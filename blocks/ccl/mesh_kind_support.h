// Replay support for the kinds whose input x is a mesh tensor (the collectives, distributed
// RMSNorm, the tensor-parallel blocks): reading x from a call, and the bind of a block with
// prefill_forward(x)/decode_forward(x) on MeshTensor whose output y is compared composed.
#pragma once

#include <memory>
#include <utility>

#include "blocks/common/kind_support.h"
#include "validation/mesh/mesh.h"

namespace ttt::kind_support {

// The call's mesh tensor x on `mesh`: a trace's mesh tensor x (docs/trace-format.md "Mesh
// tensors") with its own placements, as the wrapper captures it; else the container form x/0,
// x/1, ... with the scalar placements, as the PyTorch goldens store it. Errors name the kind and
// the mesh.
MeshTensor mesh_input(const BlockCall& call, const Mesh& mesh);

// BlockKind::bind of a kind whose call is the mesh tensor "x" (on spec.mesh) and its weights
// (call_block): device runs the call's mode's forward and composes y, reference runs
// reference(spec, weights, x).
template <typename Spec, typename Block, typename ToWeights, typename Reference>
std::function<BoundCall(const BlockCall&)> bind_mesh_x_to_y(WeightRules weight_rules,
                                                            ToWeights to_weights,
                                                            Reference reference) {
  return [weight_rules = std::move(weight_rules), to_weights, reference](const BlockCall& call) {
    const Mode mode = call_mode(call);
    auto parts = call_block<Spec, Block>(call, mode, weight_rules, to_weights);
    const MeshTensor x = mesh_input(call, parts.spec.mesh);
    BoundCall bound;
    bound.run_device = [block = parts.block, mode, x] {
      return named({{"y", compose(mode == Mode::decode ? block->decode_forward(x)
                                                       : block->prefill_forward(x))}});
    };
    bound.run_reference = [spec = parts.spec, weights = parts.weights, x, reference] {
      return named({{"y", reference(spec, weights, x)}});
    };
    return bound;
  };
}

}  // namespace ttt::kind_support

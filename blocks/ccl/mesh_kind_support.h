// Support for the kinds whose input x is a mesh tensor (the collectives, distributed RMSNorm, the
// tensor-parallel blocks): reading x from a call, the bind of a block with
// prefill_forward(x)/decode_forward(x) on MeshTensor whose output y is compared composed, the
// seeded mesh input x and the coverage facts that name the mesh (and the single-device block a
// tensor-parallel kind runs).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "blocks/common/kind_support.h"
#include "validation/mesh/mesh.h"

namespace ttt::kind_support {

// The call's mesh tensor `name` (x, or tp_embedding's ids) on `mesh`: a trace's or a seeded mesh
// tensor (docs/trace-format.md "Mesh tensors") with its own placements, as the wrapper captures
// it; else the container form x/0, x/1, ... with the scalar placements, as the PyTorch goldens
// store it. Errors name the kind, the input and the mesh.
MeshTensor mesh_input(const BlockCall& call, const Mesh& mesh, std::string_view name = "x");

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

// The seeded input x of a mesh kind: an activation [batch, seq_len, width] (prefill) or [batch,
// width] (decode), drawn whole as a single-device activation and distributed onto `mesh` with
// `placements` (MeshInputRule). A sharded placement names a dimension counted from the last one
// (-1: width), so that one declaration serves both modes.
InputRule mesh_activation(const Mesh& mesh, std::array<Placement, 2> placements, Mode mode,
                          const CallShapes& shapes, std::int64_t width);

// The mesh in a mesh kind's coverage facts (`derived`): "mesh": "T3K", and for a Spec split along
// one axis "axis_devices": 8, so that coverage tells a 1x8 run from a 1x1 one (a 2-D kind names
// its axes' devices in its extras).
template <typename Spec>
void add_mesh_facts(const Spec& spec, KindFacts& facts) {
  facts.derived["mesh"] = mesh_name(spec.mesh);
  if constexpr (requires { spec.axis; }) {
    facts.derived["axis_devices"] = spec.mesh.axis_size(spec.axis);
  }
}

// BlockKind::facts of a mesh kind: facts<Spec, Config>(extras), then the mesh (add_mesh_facts).
template <typename Spec, typename Config, typename Extras>
auto mesh_facts(Extras extras) {
  return facts<Spec, Config>([extras](const Spec& spec, const Config& config, KindFacts& facts) {
    extras(spec, config, facts);
    add_mesh_facts(spec, facts);
  });
}

// BlockKind::facts of a mesh kind that runs one single-device block on every device
// (BlockKind::single_device): the identity, Spec and ImplConfig are that block's, `single(spec)`
// (the whole block the mesh shards, not one device's slice) and `single_config(spec, config)`
// (the kind's ImplConfig member "device", or the block's ImplConfig with the kind's knobs), so a
// tp_gated_mlp on T3K is the GATED_MLP(...) a model needs there; then `extras` and the mesh.
template <typename Spec, typename Config, typename Single, typename SingleConfig, typename Extras>
auto sharded_facts(Single single, SingleConfig single_config, Extras extras) {
  return facts<Spec, Config>(
      [single, single_config, extras](const Spec& spec, const Config& config, KindFacts& facts) {
        const auto block = single(spec);
        facts.identity = block.identity();
        facts.spec = nlohmann::json(block);  // A fresh object: none of the mesh kind's fields.
        facts.impl_config = nlohmann::json(single_config(spec, config));
        extras(spec, config, facts);
        add_mesh_facts(spec, facts);
      });
}

}  // namespace ttt::kind_support

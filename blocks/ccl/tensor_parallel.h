// What the tensor-parallel blocks (blocks/ffn/tp_gated_mlp.h, blocks/ffn/tp2d_gated_mlp.h,
// blocks/lm_head/tp_lm_head.h) share: the mesh axis their weights are split along, each device's
// slice of a reference weight, the check that the activation is replicated along that axis, and
// running one single-device block per device this process holds (internal to blocks/).
//
// A tensor-parallel block is a single-device block per device (with that device's slice of the
// weights) followed by one collective of blocks/ccl: the per-device arithmetic is the existing
// block's, the parallel part is the collective's (docs/multi-device.md "Tensor-parallel blocks").
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/ccl/ccl_common.h"
#include "blocks/common/weights.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/tensor.h"

namespace ttt::tp_detail {

// The Spec's devices and the axis the weights are split along are ccl_detail::MeshAxis (the
// collectives' fields, with their checks and JSON: ccl_common.h); the other axis holds
// independent copies (or a data-parallel split of the tokens).
using ccl_detail::MeshAxis;

// Throws "[tp_gated_mlp] mesh T3K axis 1 (8 devices) does not divide spec.mlp.ffn_dim 100".
void check_divides(std::string_view block, const MeshAxis& spec, std::int64_t size,
                   std::string_view field);

// Device d's position along the axis (its column for axis 1, its row for axis 0).
int axis_position(const MeshAxis& spec, int device);

// Device `position`'s slice of a 2-D reference weight: `size / n` rows (dim 0) or columns (dim 1)
// starting at position * size / n, loaded (and sliced) only when the device's block prepares
// its weights. REQUIRES: weight defined, n divides the size of `dim`.
WeightSource slice_weight(const WeightSource& weight, int dim, int position, int n);

// Device `device`'s slice of the weight on spec's mesh: the slice at its axis_position, out of
// the axis's size.
WeightSource slice_weight(const WeightSource& weight, int dim, const MeshAxis& spec, int device);

// Checks that x is on `mesh` with one shard per device and a defined shard for every device this
// process holds: "[tp_gated_mlp] input x on mesh T3K: the shard of device 3 is missing".
void check_input_shards(std::string_view block, const Mesh& mesh, const MeshTensor& x);

// Checks the activation: on spec.mesh with a shard for every device this process holds, replicated
// along spec.axis (every device of a group needs the whole activation), and not split along its
// last dimension (the features) on the other axis. Errors name the block, the mesh and the axis:
// "[tp_gated_mlp] input x must be replicated along mesh T3K axis 1, got shard(1)".
void check_replicated_input(std::string_view block, const MeshAxis& spec, const MeshTensor& x);

// The last dimension (the features) of the shards this process holds; the caller checked the input
// with check_replicated_input, so there is one.
int feature_dim(const MeshTensor& x);

// Every device this process holds gets run(device, its shard of x); the others stay undefined (as
// under the MPI transport). The placements are x's.
MeshTensor map_held_shards(const MeshTensor& x,
                           const std::function<Tensor(int device, const Tensor& shard)>& run);

// The collective that sums a row-parallel block's per-device partials along spec.axis, split
// along `dim`: AllReduce (every device gets the whole sum) when `all_reduce`, else ReduceScatter
// (each device its slice). Chosen once, when the block is configured.
std::function<MeshTensor(const MeshTensor& partials, int dim)> partial_sum(
    const MeshAxis& spec, bool all_reduce, const CclReduceImplConfig& ccl);

// A forward of a tensor-parallel block: checks x (check_replicated_input), then every device this
// process holds runs its single-device block's `forward` (prefill_forward or decode_forward) on
// its shard. The partial results still want the block's collective.
template <typename DeviceBlock>
MeshTensor run_devices(std::string_view block, const MeshAxis& spec,
                       const std::vector<DeviceBlock>& devices, const MeshTensor& x,
                       Tensor (DeviceBlock::*forward)(const Tensor&) const) {
  check_replicated_input(block, spec, x);
  return map_held_shards(x, [&devices, forward](int device, const Tensor& shard) {
    return (devices[device].*forward)(shard);
  });
}

// What a tensor-parallel reference runs the whole single-device reference on: x checked
// (check_replicated_input) and composed from every device's shard (gathered from the other
// processes under the MPI transport).
Tensor composed_input(std::string_view block, const MeshAxis& spec, const MeshTensor& x);

// x composed from every device's shard, gathered through mesh_transport() (the caller checked x).
Tensor compose_gathered(const MeshTensor& x);

// The JSON of a tensor-parallel Spec: {"<inner>": {single-device spec}, "mesh": ..., "axis": ...}.
// `inner` is the member holding the single-device Spec (TpGatedMlpSpec::mlp, named "mlp").
template <typename TpSpec, typename Inner>
void spec_to_json(nlohmann::json& json, const TpSpec& spec, const char* inner_name,
                  Inner TpSpec::*inner) {
  json = ccl_detail::mesh_axis_json({spec.mesh, spec.axis});
  json[inner_name] = spec.*inner;
}

// Reads that JSON strictly: no other field, the single-device Spec's errors name
// "<inner>.<field>", the mesh and axis as every collective's.
template <typename TpSpec, typename Inner>
void read_spec_json(const JsonNode& node, TpSpec& spec, const char* inner_name,
                    Inner TpSpec::*inner) {
  node.allow_only({inner_name, "mesh", "axis"});
  read_json(node.at(inner_name), spec.*inner);
  ccl_detail::read_mesh_axis(node, spec.mesh, spec.axis);
}

}  // namespace ttt::tp_detail

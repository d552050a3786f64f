// The collective kinds: all_gather, reduce_scatter, all_reduce, broadcast, and the distributed
// RMSNorm built on all_gather (distributed_rms_norm, with its weight). A call's input x is a
// mesh tensor, stored per device as the container x/0 .. x/<devices - 1> (device order, row-major)
// with its placements in the optional scalar "placements" (["replicated", "shard(3)"]; default
// both replicated). The output y is the composed result (compose(): the wrapper's whole
// comparison). Tolerances: the dtype default for the data-moving kinds (an exact copy rounded
// once); a PCC floor (TTTv1's 0.99) and relative RMSE <= 5% for the reducing ones, whose partial
// sums round at every hop.
// distributed_rms_norm has seeded inputs (x drawn whole, sharded along hidden over spec.axis) and
// coverage facts naming the mesh. The four data-moving collectives have neither: their Spec holds
// no tensor width to seed x from (their inputs come from traces and goldens).
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "blocks/ccl/all_gather.h"
#include "blocks/ccl/all_reduce.h"
#include "blocks/ccl/broadcast.h"
#include "blocks/ccl/distributed_rms_norm.h"
#include "blocks/ccl/mesh_kind_support.h"
#include "blocks/ccl/reduce_scatter.h"
#include "blocks/common/kind_support.h"

namespace ttt {
namespace {

using namespace kind_support;

template <typename Spec, typename Block>
BoundCall bind_collective(const BlockCall& call,
                          Tensor (*reference)(const Spec&, const MeshTensor&)) {
  const auto [spec, config] = configure_call<Spec>(call, call_mode(call));
  const MeshTensor x = mesh_input(call, spec.mesh);
  auto block = reuse_block<Block>(call, config, {},
                                  [&] { return std::make_shared<const Block>(spec, config); });
  BoundCall bound;
  bound.run_device = [block, x] { return named({{"y", compose(block->forward(x))}}); };
  bound.run_reference = [spec, x, reference] { return named({{"y", reference(spec, x)}}); };
  return bound;
}

template <typename Spec, typename Block>
BlockKind collective_kind(Tensor (*reference)(const Spec&, const MeshTensor&),
                          std::optional<Tolerances> tolerances) {
  return {
      .name = std::string(Spec::kind),
      .family = std::string(Spec::kind),
      .tolerances = tolerances,
      .bind = [reference](
                  const BlockCall& call) { return bind_collective<Spec, Block>(call, reference); },
      .configure = configure<Spec>,
      .identity = identity<Spec>,
      .weights = [](const nlohmann::json&) { return InputRules{}; }};
}

// distributed_rms_norm: the mesh tensor x as the collectives take it, and the whole weight
// [dim] (each device uses its slice). Its output is normalised values: the dtype default.
InputRules distributed_rms_norm_weights(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<DistributedRmsNormSpec>();
  return {InputRule{
      "weight", {spec.dim}, spec.add_unit_offset ? Seeding::offset_scale : Seeding::norm_scale}};
}

// x [..., dim] drawn whole and sharded along hidden over spec.axis (TTTv1's TG and T3K prefill
// norm input), then the whole weight.
InputPlan distributed_rms_norm_inputs(const ConfiguredBlock& block, Mode mode,
                                      const CallShapes& shapes) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<DistributedRmsNormSpec>();
  std::array<Placement, 2> placements{};
  placements[spec.axis] = Placement::shard(-1);
  return plan({mesh_activation(spec.mesh, placements, mode, shapes, spec.dim)},
              distributed_rms_norm_weights(block.spec));
}

}  // namespace

void add_ccl_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(collective_kind<AllGatherSpec, AllGather>(all_gather_reference, std::nullopt));
  kinds.push_back(collective_kind<BroadcastSpec, Broadcast>(broadcast_reference, std::nullopt));
  kinds.push_back(collective_kind<ReduceScatterSpec, ReduceScatter>(
      reduce_scatter_reference, pcc_and_relative_rmse(0.99, 0.05)));
  kinds.push_back(collective_kind<AllReduceSpec, AllReduce>(all_reduce_reference,
                                                            pcc_and_relative_rmse(0.99, 0.05)));
  kinds.push_back(
      {.name = std::string(DistributedRmsNormSpec::kind),
       .family = std::string(DistributedRmsNormSpec::kind),
       .bind = bind_mesh_x_to_y<DistributedRmsNormSpec, DistributedRmsNorm>(
           distributed_rms_norm_weights,
           [](const CallWeights& w) { return DistributedRmsNormWeights{w.source("weight")}; },
           distributed_rms_norm_reference),
       .configure = configure<DistributedRmsNormSpec>,
       .identity = identity<DistributedRmsNormSpec>,
       .facts = mesh_facts<DistributedRmsNormSpec, DistributedRmsNormImplConfig>(
           [](const DistributedRmsNormSpec&, const DistributedRmsNormImplConfig& config,
              KindFacts& facts) {
             facts.weight_dtype = std::string(dtype_name(config.weight_dtype));
             facts.derived["stats_dtype"] = std::string(dtype_name(config.stats_dtype));
           }),
       .depends_on = {"blocks/normalization/rms_norm", "blocks/normalization/row_sums"},
       .weights = distributed_rms_norm_weights,
       .seeded_inputs = distributed_rms_norm_inputs,
       .edge_regimes = {edge_regimes::near_zero_rows(), edge_regimes::large_magnitude()}});
}

}  // namespace ttt

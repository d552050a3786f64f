// The collective kinds: all_gather, reduce_scatter, all_reduce, broadcast, and the distributed
// RMSNorm built on all_gather (distributed_rms_norm, with its weight). A call's input x is a
// mesh tensor, stored per device as the container x/0 .. x/<devices - 1> (device order, row-major)
// with its placements in the optional scalar "placements" (["replicated", "shard(3)"]; default
// both replicated). The output y is the composed result (compose(): the wrapper's whole
// comparison). Tolerances: the dtype default for the data-moving kinds (an exact copy rounded
// once); a PCC floor (TTTv1's 0.99) and relative RMSE <= 5% for the reducing ones, whose partial
// sums round at every hop.
// Every kind has coverage facts naming the mesh, and seeded inputs: distributed_rms_norm's x drawn
// whole and sharded along hidden over spec.axis; the collectives' x of width spec.width (their
// optional Spec field, required to seed), as docs/multi-device.md "Seeded collective inputs" says.
#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
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

// The metric policies of the collectives (docs/metrics.md): all_gather and broadcast move values
// between devices without arithmetic (exact); reduce_scatter, all_reduce and the distributed
// RMSNorm add partial sums hop by hop, in an order and format a device may round differently.
MetricPolicy data_movement_policy() {
  return exact_policy(
      "data movement: shards are copied between devices without arithmetic, so "
      "any difference is a wrong placement or a lost shard");
}
MetricPolicy reduction_policy() {
  return nmse_policy(
      "partial sums added hop by hop, in an order and format a device may round "
      "differently from its emulation");
}

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

// How a collective's seeded x lies on the mesh (docs/multi-device.md "Seeded collective
// inputs"): drawn whole and sharded along a dimension of x over spec.axis, so that the devices
// hold different pieces (all_gather along spec.dim: y is x again; broadcast along the last
// dimension: y is the root's piece on every device), or drawn per device (the reducing
// collectives' partial sums, which differ per device).
enum class SeededLayout : std::uint8_t { shard_dim, shard_last, per_device };

// x [batch, seq_len, width] (prefill) or [batch, width] (decode). `dim` (the Spec's, or the last
// one) must be a dimension of x that the axis's n devices divide: the errors name the Spec field.
template <typename Spec>
InputPlan collective_inputs(const Spec& spec, SeededLayout layout, Mode mode,
                            const CallShapes& shapes) {
  const std::string kind(Spec::kind);
  require_call_shapes(shapes, mode, false);
  if (spec.width <= 0) {
    throw std::invalid_argument("[" + kind +
                                "] seeded inputs need spec.width (the last dimension of x)");
  }
  const Shape shape = activation_shape(mode, shapes, spec.width);
  const int rank = static_cast<int>(shape.size());
  int dim = rank - 1;
  if constexpr (requires { spec.dim; }) {
    if (layout != SeededLayout::shard_last) dim = spec.dim;
  }
  if (dim >= rank) {
    throw std::invalid_argument("[" + kind + "] spec.dim " + std::to_string(dim) +
                                " is not a dimension of the seeded x " + shape_to_string(shape) +
                                " in " + std::string(mode_name(mode)));
  }
  const int n = spec.mesh.axis_size(spec.axis);
  if (shape[dim] % n != 0) {
    throw std::invalid_argument(
        "[" + kind + "] mesh " + mesh_name(spec.mesh) + " axis " + std::to_string(spec.axis) +
        " (" + std::to_string(n) + " devices) does not divide dimension " + std::to_string(dim) +
        " (size " + std::to_string(shape[dim]) + ") of the seeded x " + shape_to_string(shape) +
        (dim == rank - 1 ? " (spec.width)" : ""));
  }
  const int other = 1 - spec.axis;
  std::array<Placement, 2> placements{};
  InputRule x{.name = "x", .shape = shape, .seeding = Seeding::activation};
  if (layout == SeededLayout::per_device) {
    // The other axis's groups reduce independently: their results sit side by side along the
    // batch when y is composed.
    if (spec.mesh.axis_size(other) > 1) placements[other] = Placement::shard(0);
    x.mesh = MeshInputRule{.mesh = spec.mesh, .placements = placements, .per_device = true};
  } else {
    placements[spec.axis] = Placement::shard(dim);
    x.mesh = MeshInputRule{.mesh = spec.mesh, .placements = placements};
  }
  return plan({x}, {});
}

// The algorithm of each collective kind, for its device cost.
template <typename Spec>
constexpr Collective kCollective = Collective::all_gather;
template <>
constexpr Collective kCollective<BroadcastSpec> = Collective::broadcast;
template <>
constexpr Collective kCollective<ReduceScatterSpec> = Collective::reduce_scatter;
template <>
constexpr Collective kCollective<AllReduceSpec> = Collective::all_reduce;

// Device cost (docs/cost-model.md "Collectives"): the collective's Ethernet traffic over the
// devices of its axis, of the whole [T, width] tensor (width: the Spec's "width" when set, else
// the call's shapes.width) in the dtype it travels in (a reduction's reduce_dtype, else the
// output dtype), on config.num_links links.
template <typename Spec>
DeviceCost collective_cost(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<Spec>();
  const auto config =
      block.impl_config.get<decltype(default_impl_config(spec, Device::N150, mode))>();
  DType dtype = config.output_dtype;
  if constexpr (requires { config.reduce_dtype; }) dtype = config.reduce_dtype;
  const std::int64_t spec_width = block.spec.value("width", std::int64_t{0});
  const std::int64_t width = spec_width > 0 ? spec_width : required_width(Spec::kind, shapes);
  DeviceCost cost;
  add_collective(cost, kCollective<Spec>, spec.mesh.axis_size(spec.axis),
                 call_tokens(mode, shapes), width, dtype, config.num_links);
  cost.devices = spec.mesh.size();
  return cost;
}

template <typename Spec, typename Block, typename Config>
BlockKind collective_kind(Tensor (*reference)(const Spec&, const MeshTensor&),
                          std::optional<Tolerances> tolerances, SeededLayout layout) {
  return {
      .name = std::string(Spec::kind),
      .family = std::string(Spec::kind),
      .tolerances = tolerances,
      // The per-device inputs are the reducing collectives' partial sums.
      .metric_policy =
          layout == SeededLayout::per_device ? reduction_policy() : data_movement_policy(),
      .bind = [reference](
                  const BlockCall& call) { return bind_collective<Spec, Block>(call, reference); },
      .configure = configure<Spec>,
      .identity = identity<Spec>,
      .facts = mesh_facts<Spec, Config>([](const Spec&, const Config&, KindFacts&) {}),
      .weights = [](const nlohmann::json&) { return InputRules{}; },
      .seeded_inputs = [layout](const ConfiguredBlock& block, Mode mode,
                                const CallShapes& shapes) {
        return collective_inputs(block.spec.get<Spec>(), layout, mode, shapes);
      },
      .cost = collective_cost<Spec>};
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

// Device cost (docs/cost-model.md "Collectives"): each device reads its [T, dim / n] shard and
// its weight slice, squares and sums it (2 passes), all-gathers its [T, 32] tile of statistics
// over the axis, scales by the reciprocal root and the weight (2 passes) and writes its shard.
DeviceCost distributed_rms_norm_cost(const DistributedRmsNormSpec& spec,
                                     const DistributedRmsNormImplConfig& config, Mode mode,
                                     const CallShapes& shapes) {
  const int n = spec.mesh.axis_size(spec.axis);
  const std::int64_t tokens = call_tokens(mode, shapes);
  const std::int64_t shard = spec.dim / n;
  DeviceCost cost;
  cost.dram_weight_bytes = tensor_bytes(config.weight_dtype, 1, shard);
  cost.dram_activation_bytes = tensor_bytes(config.activation_dtype, tokens, shard) +
                               tensor_bytes(config.output_dtype, tokens, shard);
  cost.vector_ops = 4 * pad_to_tile(tokens) * pad_to_tile(shard);
  cost.ops = 2;  // The statistics, the normalization.
  add_collective(cost, Collective::all_gather, n, tokens, kTileSide * n, config.stats_dtype,
                 config.all_gather.num_links);
  cost.devices = spec.mesh.size();
  return cost;
}

}  // namespace

void add_ccl_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(collective_kind<AllGatherSpec, AllGather, CclImplConfig>(
      all_gather_reference, std::nullopt, SeededLayout::shard_dim));
  kinds.push_back(collective_kind<BroadcastSpec, Broadcast, CclImplConfig>(
      broadcast_reference, std::nullopt, SeededLayout::shard_last));
  kinds.push_back(collective_kind<ReduceScatterSpec, ReduceScatter, CclReduceImplConfig>(
      reduce_scatter_reference, pcc_and_relative_rmse(0.99, 0.05), SeededLayout::per_device));
  kinds.push_back(collective_kind<AllReduceSpec, AllReduce, CclReduceImplConfig>(
      all_reduce_reference, pcc_and_relative_rmse(0.99, 0.05), SeededLayout::per_device));
  kinds.push_back(
      {.name = std::string(DistributedRmsNormSpec::kind),
       .family = std::string(DistributedRmsNormSpec::kind),
       .metric_policy = reduction_policy(),
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
       .depends_on = {"blocks/normalization/rms_norm", "blocks/normalization/row_kernels",
                      "blocks/normalization/row_sums"},
       .weights = distributed_rms_norm_weights,
       .seeded_inputs = distributed_rms_norm_inputs,
       .edge_regimes = {edge_regimes::near_zero_rows(), edge_regimes::large_magnitude()},
       .cost = typed_cost(distributed_rms_norm_cost)});
}

}  // namespace ttt

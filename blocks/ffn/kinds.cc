// The feed-forward kinds: mlp (x, w_up, w_down, b_up and b_down when spec.bias), gated_mlp (x,
// w_gate, w_up, w_down), tp_gated_mlp (the mesh tensor x, the whole MLP's weights) and moe (x,
// router, w_gate/<e>, w_up/<e>, w_down/<e> for every expert e).
// Tolerance: PCC >= 0.99, relative RMSE <= 10% (bfloat8_b/bfloat4_b weights).
#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "blocks/ccl/mesh_kind_support.h"
#include "blocks/common/kind_support.h"
#include "blocks/ffn/ep_moe.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"
#include "blocks/ffn/tp2d_gated_mlp.h"
#include "blocks/ffn/tp_gated_mlp.h"

namespace ttt {
namespace {

using namespace kind_support;

// The metric policy of every FFN kind (docs/metrics.md): matmuls over the hidden and FFN widths
// (and an MoE's weighted sum of experts) are long sums whose order and rounding differ between a
// device and its emulation: a reduction.
MetricPolicy ffn_policy() {
  return nmse_policy(
      "matmuls over the hidden and FFN widths (an MoE's weighted sum of experts): "
      "long sums whose order and rounding differ between a device and its "
      "emulation");
}

std::string dims(std::int64_t a, std::int64_t b) {
  return std::to_string(a) + "x" + std::to_string(b);
}

std::string weight_of(const MatmulConfig& matmul) {
  return std::string(dtype_name(matmul.weight_dtype));
}

InputRules mlp_weights(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<MlpSpec>();
  InputRules weights{InputRule{"w_up", {spec.hidden_dim, spec.ffn_dim}, Seeding::matrix},
                     InputRule{"w_down", {spec.ffn_dim, spec.hidden_dim}, Seeding::matrix}};
  if (spec.bias) {
    weights.emplace_back(InputRule{"b_up", {spec.ffn_dim}, Seeding::matrix});
    weights.emplace_back(InputRule{"b_down", {spec.hidden_dim}, Seeding::matrix});
  }
  return weights;
}

// Every feed-forward call's activation: x [..., hidden_dim].
template <typename Spec>
InputPlan ffn_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes,
                     InputRules (*weights)(const nlohmann::json&)) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<Spec>();
  return plan(
      {InputRule{"x", activation_shape(mode, shapes, spec.hidden_dim), Seeding::activation}},
      weights(block.spec));
}

InputPlan mlp_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  return ffn_inputs<MlpSpec>(block, mode, shapes, mlp_weights);
}

InputRules gated_mlp_weights(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<GatedMlpSpec>();
  return {InputRule{"w_gate", {spec.hidden_dim, spec.ffn_dim}, Seeding::matrix},
          InputRule{"w_up", {spec.hidden_dim, spec.ffn_dim}, Seeding::matrix},
          InputRule{"w_down", {spec.ffn_dim, spec.hidden_dim}, Seeding::matrix}};
}

// The whole MLP's weights (each device's slices are cut inside the block).
InputRules tp_gated_mlp_weights(const nlohmann::json& spec_json) {
  return gated_mlp_weights(nlohmann::json(spec_json.get<TpGatedMlpSpec>().mlp));
}

// x [..., hidden] seeded whole and replicated on the mesh (TTTv1's MLP input), then the whole
// MLP's weights.
InputPlan tp_gated_mlp_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<TpGatedMlpSpec>();
  return plan({mesh_activation(spec.mesh, {}, mode, shapes, spec.mlp.hidden_dim)},
              tp_gated_mlp_weights(block.spec));
}

InputPlan gated_mlp_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  return ffn_inputs<GatedMlpSpec>(block, mode, shapes, gated_mlp_weights);
}

// The whole MLP's weights (each device's 2-D slices are cut inside the block).
InputRules tp2d_gated_mlp_weights(const nlohmann::json& spec_json) {
  return gated_mlp_weights(nlohmann::json(spec_json.get<Tp2dGatedMlpSpec>().mlp));
}

// x [..., hidden] seeded whole, split along hidden on the hidden axis and replicated on the ffn
// axis (TTTv1's residual stream on TG), then the whole MLP's weights.
InputPlan tp2d_gated_mlp_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<Tp2dGatedMlpSpec>();
  std::array<Placement, 2> placements{Placement::replicate(), Placement::replicate()};
  placements[spec.hidden_axis] = Placement::shard(-1);
  return plan({mesh_activation(spec.mesh, placements, mode, shapes, spec.mlp.hidden_dim)},
              tp2d_gated_mlp_weights(block.spec));
}

InputRules moe_weights(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<MoeSpec>();
  const Shape up{spec.hidden_dim, spec.ffn_dim};
  const Shape down{spec.ffn_dim, spec.hidden_dim};
  return {InputRule{"router", {spec.hidden_dim, spec.num_experts}, Seeding::matrix},
          RepeatedInputs{
              "seeded inputs w_gate, w_up (shape " + shape_to_string(up) + ") and w_down of " +
                  std::to_string(spec.num_experts) + " experts",
              spec.num_experts,
              {InputRule{"w_gate", up, Seeding::matrix}, InputRule{"w_up", up, Seeding::matrix},
               InputRule{"w_down", down, Seeding::matrix}}}};
}

InputPlan moe_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  return ffn_inputs<MoeSpec>(block, mode, shapes, moe_weights);
}

// The whole MoE's weights (each device keeps the router and its experts inside the block).
InputRules ep_moe_weights(const nlohmann::json& spec_json) {
  return moe_weights(nlohmann::json(spec_json.get<EpMoeSpec>().moe));
}

// x [..., hidden] seeded whole and replicated on the mesh (TTTv1's MoE input), then the whole
// MoE's weights, drawn as the moe kind draws them.
InputPlan ep_moe_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<EpMoeSpec>();
  return plan({mesh_activation(spec.mesh, {}, mode, shapes, spec.moe.hidden_dim)},
              ep_moe_weights(block.spec));
}

// One GatedMlpWeights per expert, from the call's w_gate/<e>, w_up/<e>, w_down/<e>.
MoeWeights moe_weights_of(const CallWeights& w) {
  MoeWeights weights{w["router"], {}};
  const std::vector<Tensor> gate = w.group("w_gate");
  const std::vector<Tensor> up = w.group("w_up");
  const std::vector<Tensor> down = w.group("w_down");
  for (std::size_t e = 0; e < gate.size(); ++e) {
    weights.experts.push_back({gate[e], up[e], down[e]});
  }
  return weights;
}

// Device cost (docs/cost-model.md "Feed-forward"): `up_matmuls` products [T, h] x [h, f] with
// `up`, the activation (times the gate when there are two) on [T, f], and [T, f] x [f, h] with
// `down`. Weights are read once per prefill chunk of `chunk_rows` tokens; x, the [T, f] hidden
// (written, then read) and y cross DRAM once each.
DeviceCost ffn_cost(Mode mode, std::int64_t tokens, std::int64_t chunk_rows, std::int64_t hidden,
                    std::int64_t ffn, int up_matmuls, const MatmulConfig& up,
                    const MatmulConfig& down) {
  const std::int64_t chunks = mode == Mode::prefill ? (tokens + chunk_rows - 1) / chunk_rows : 1;
  DeviceCost cost;
  cost.dram_weight_bytes = chunks * (up_matmuls * tensor_bytes(up.weight_dtype, hidden, ffn) +
                                     tensor_bytes(down.weight_dtype, ffn, hidden));
  cost.dram_activation_bytes = tensor_bytes(up.activation_dtype, tokens, hidden) +
                               2 * tensor_bytes(down.activation_dtype, tokens, ffn) +
                               tensor_bytes(down.output_dtype, tokens, hidden);
  add_matmul(cost, tokens, hidden, ffn, up.fidelity, up.activation_dtype, up.weight_dtype,
             up.output_dtype, up_matmuls);
  add_matmul(cost, tokens, ffn, hidden, down.fidelity, down.activation_dtype, down.weight_dtype,
             down.output_dtype);
  // One pass for the activation, one for the gate's multiply.
  cost.vector_ops = up_matmuls * pad_to_tile(tokens) * pad_to_tile(ffn);
  cost.ops = up_matmuls + 2;  // The up matmuls, the activation, the down matmul.
  return cost;
}

DeviceCost gated_mlp_cost(const GatedMlpSpec& spec, const GatedMlpImplConfig& config, Mode mode,
                          const CallShapes& shapes) {
  return ffn_cost(mode, call_tokens(mode, shapes), config.prefill_chunk_rows, spec.hidden_dim,
                  spec.ffn_dim, 2, config.ff1_ff3, config.ff2);
}

// The biases add a pass over [T, f] and [T, h] and their bytes.
DeviceCost mlp_cost(const MlpSpec& spec, const MlpImplConfig& config, Mode mode,
                    const CallShapes& shapes) {
  const std::int64_t tokens = call_tokens(mode, shapes);
  DeviceCost cost = ffn_cost(mode, tokens, config.prefill_chunk_rows, spec.hidden_dim,
                             spec.ffn_dim, 1, config.ff1, config.ff2);
  if (spec.bias) {
    cost.dram_weight_bytes += tensor_bytes(config.bias_dtype, 1, spec.ffn_dim) +
                              tensor_bytes(config.bias_dtype, 1, spec.hidden_dim);
    cost.vector_ops +=
        pad_to_tile(tokens) * (pad_to_tile(spec.ffn_dim) + pad_to_tile(spec.hidden_dim));
  }
  return cost;
}

// The router [T, h] x [h, E] and its top-k softmax (4 passes over [T, E]); then the experts the
// tokens reach: min(E, T * top_k) of them (every token's top_k experts distinct across tokens:
// the most weight traffic the routing can cause), each a gated MLP over its share of the
// T * top_k rows; then the weighted combine (a pass over [T, h] per chosen expert).
DeviceCost moe_cost(const MoeSpec& spec, const MoeImplConfig& config, Mode mode,
                    const CallShapes& shapes) {
  const std::int64_t tokens = call_tokens(mode, shapes);
  DeviceCost cost;
  const MatmulConfig& router = config.router;
  cost.dram_weight_bytes = tensor_bytes(router.weight_dtype, spec.hidden_dim, spec.num_experts);
  cost.dram_activation_bytes = tensor_bytes(router.activation_dtype, tokens, spec.hidden_dim);
  add_matmul(cost, tokens, spec.hidden_dim, spec.num_experts, router.fidelity,
             router.activation_dtype, router.weight_dtype, router.output_dtype);
  cost.vector_ops = 4 * pad_to_tile(tokens) * pad_to_tile(spec.num_experts);
  cost.ops = 2;  // The router and its top-k softmax.
  const std::int64_t routed = tokens * spec.top_k;
  const std::int64_t experts = std::min(spec.num_experts, routed);
  const std::int64_t rows = (routed + experts - 1) / experts;
  const GatedMlpSpec expert{spec.hidden_dim, spec.ffn_dim, spec.activation};
  for (std::int64_t e = 0; e < experts; ++e) {
    cost += gated_mlp_cost(expert, config.expert, Mode::decode, CallShapes{.batch = rows});
  }
  cost.vector_ops += spec.top_k * pad_to_tile(tokens) * pad_to_tile(spec.hidden_dim);
  cost.ops += 1;  // The combine.
  return cost;
}

// A tensor-parallel block's partial sums [T, h] reduced over the n devices of its axis.
void add_tp_reduction(DeviceCost& cost, TpReduction reduction, int n, std::int64_t tokens,
                      std::int64_t hidden, const CclReduceImplConfig& ccl) {
  add_collective(cost,
                 reduction == TpReduction::all_reduce ? Collective::all_reduce
                                                      : Collective::reduce_scatter,
                 n, tokens, hidden, ccl.reduce_dtype, ccl.num_links);
}

// Each device: a gated MLP on ffn / n columns, then the reduction of its [T, h] partials.
DeviceCost tp_gated_mlp_cost(const TpGatedMlpSpec& spec, const TpGatedMlpImplConfig& config,
                             Mode mode, const CallShapes& shapes) {
  const int n = spec.mesh.axis_size(spec.axis);
  GatedMlpSpec device = spec.mlp;
  device.ffn_dim /= n;
  DeviceCost cost = gated_mlp_cost(device, config.device, mode, shapes);
  add_tp_reduction(cost, config.reduction, n, call_tokens(mode, shapes), spec.mlp.hidden_dim,
                   config.ccl);
  cost.devices = spec.mesh.size();
  return cost;
}

// Each device (H on the hidden axis, F on the ffn axis): FF1/FF3 on [T, h/H] x [h/H, f/F], the
// all-reduce of both [T, f/F] partials over the hidden axis, the activation, FF2 on
// [T, f/F] x [f/F, h/H] and the all-reduce of its [T, h/H] partials over the ffn axis.
DeviceCost tp2d_gated_mlp_cost(const Tp2dGatedMlpSpec& spec,
                               const Tp2dGatedMlpImplConfig& config, Mode mode,
                               const CallShapes& shapes) {
  const int h_devices = spec.mesh.axis_size(spec.hidden_axis);
  const int f_devices = spec.mesh.axis_size(spec.ffn_axis());
  const std::int64_t hidden = spec.mlp.hidden_dim / h_devices;
  const std::int64_t ffn = spec.mlp.ffn_dim / f_devices;
  const std::int64_t tokens = call_tokens(mode, shapes);
  // No prefill chunking: the weights are read once.
  DeviceCost cost = ffn_cost(mode, tokens, tokens, hidden, ffn, 2, config.ff1_ff3, config.ff2);
  for (int i = 0; i < 2; ++i) {
    add_collective(cost, Collective::all_reduce, h_devices, tokens, ffn,
                   config.ff1_ccl.reduce_dtype, config.ff1_ccl.num_links);
  }
  add_collective(cost, Collective::all_reduce, f_devices, tokens, hidden,
                 config.ff2_ccl.reduce_dtype, config.ff2_ccl.num_links);
  cost.devices = spec.mesh.size();
  return cost;
}

// Each device: the router and num_experts / n experts (an MoE of fewer experts, same top_k
// bounded by them), then the reduction of its [T, h] partial output.
DeviceCost ep_moe_cost(const EpMoeSpec& spec, const EpMoeImplConfig& config, Mode mode,
                       const CallShapes& shapes) {
  const int n = spec.mesh.axis_size(spec.axis);
  MoeSpec device = spec.moe;
  device.num_experts /= n;
  device.top_k = std::min(device.top_k, device.num_experts);
  DeviceCost cost = moe_cost(device, config.device, mode, shapes);
  add_tp_reduction(cost, config.reduction, n, call_tokens(mode, shapes), spec.moe.hidden_dim,
                   config.ccl);
  cost.devices = spec.mesh.size();
  return cost;
}

}  // namespace

void add_ffn_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(
      {.name = "mlp",
       .family = "mlp",
       .replay_inputs = {"x", "w_up", "w_down"},
       .tolerances = pcc_and_relative_rmse(0.99, 0.10),
       .metric_policy = ffn_policy(),
       .bind = bind_x_to_y<MlpSpec, Mlp>(
           mlp_weights,
           [](const CallWeights& w) {
             return MlpWeights{w["w_up"], w["w_down"], w.source("b_up"), w.source("b_down")};
           },
           mlp_reference),
       .configure = configure<MlpSpec>,
       .identity = identity<MlpSpec>,
       .facts = facts<MlpSpec, MlpImplConfig>(
           [](const MlpSpec& spec, const MlpImplConfig& config, KindFacts& facts) {
             facts.weight_dtype = weight_of(config.ff1);
             facts.derived["dims"] = dims(spec.hidden_dim, spec.ffn_dim);
           }),
       .weights = mlp_weights,
       .seeded_inputs = mlp_inputs,
       .cost = typed_cost(mlp_cost)});
  kinds.push_back(
      {.name = "gated_mlp",
       .family = "gated_mlp",
       .replay_inputs = {"x", "w_gate", "w_up", "w_down"},
       .tolerances = pcc_and_relative_rmse(0.99, 0.10),
       .metric_policy = ffn_policy(),
       .bind = bind_x_to_y<GatedMlpSpec, GatedMlp>(
           gated_mlp_weights,
           [](const CallWeights& w) {
             return GatedMlpWeights{w["w_gate"], w["w_up"], w["w_down"]};
           },
           gated_mlp_reference),
       .configure = configure<GatedMlpSpec>,
       .identity = identity<GatedMlpSpec>,
       .facts = facts<GatedMlpSpec, GatedMlpImplConfig>(
           [](const GatedMlpSpec& spec, const GatedMlpImplConfig& config, KindFacts& facts) {
             facts.weight_dtype = weight_of(config.ff1_ff3);
             facts.derived["dims"] = dims(spec.hidden_dim, spec.ffn_dim);
           }),
       .weights = gated_mlp_weights,
       .seeded_inputs = gated_mlp_inputs,
       .cost = typed_cost(gated_mlp_cost)});
  // x is a mesh tensor (a trace's or seeded mesh tensor, or the container x/0, x/1, ...).
  kinds.push_back(
      {.name = std::string(TpGatedMlpSpec::kind),
       .family = std::string(TpGatedMlpSpec::kind),
       .tolerances = pcc_and_relative_rmse(0.99, 0.10),
       .metric_policy = ffn_policy(),
       .bind = bind_mesh_x_to_y<TpGatedMlpSpec, TpGatedMlp>(
           tp_gated_mlp_weights,
           [](const CallWeights& w) {
             return GatedMlpWeights{w["w_gate"], w["w_up"], w["w_down"]};
           },
           tp_gated_mlp_reference),
       .configure = configure<TpGatedMlpSpec>,
       .identity = identity<TpGatedMlpSpec>,
       .facts = sharded_facts<TpGatedMlpSpec, TpGatedMlpImplConfig>(
           [](const TpGatedMlpSpec& spec) { return spec.mlp; },
           [](const TpGatedMlpSpec&, const TpGatedMlpImplConfig& config) { return config.device; },
           [](const TpGatedMlpSpec& spec, const TpGatedMlpImplConfig& config, KindFacts& facts) {
             facts.weight_dtype = weight_of(config.device.ff1_ff3);
             facts.derived["dims"] = dims(spec.mlp.hidden_dim, spec.mlp.ffn_dim);
             facts.derived["reduction"] = std::string(tp_reduction_name(config.reduction));
           }),
       .single_device = SingleDeviceBlock{"gated_mlp", "mlp"},
       .depends_on = {"blocks/ccl/"},
       .weights = tp_gated_mlp_weights,
       .seeded_inputs = tp_gated_mlp_inputs,
       .cost = typed_cost(tp_gated_mlp_cost)});
  // TG's 2-D MLP: x is a mesh tensor split along hidden on the hidden axis (as tp_gated_mlp's x).
  kinds.push_back(
      {.name = std::string(Tp2dGatedMlpSpec::kind),
       .family = std::string(Tp2dGatedMlpSpec::kind),
       .tolerances = pcc_and_relative_rmse(0.99, 0.10),
       .metric_policy = ffn_policy(),
       .bind = bind_mesh_x_to_y<Tp2dGatedMlpSpec, Tp2dGatedMlp>(
           tp2d_gated_mlp_weights,
           [](const CallWeights& w) {
             return GatedMlpWeights{w["w_gate"], w["w_up"], w["w_down"]};
           },
           tp2d_gated_mlp_reference),
       .configure = configure<Tp2dGatedMlpSpec>,
       .identity = identity<Tp2dGatedMlpSpec>,
       // Every device runs a gated MLP with the 2-D kind's matmuls (the mesh splits ffn: one
       // reduction shard). Both axes split something: the devices of each axis.
       .facts = sharded_facts<Tp2dGatedMlpSpec, Tp2dGatedMlpImplConfig>(
           [](const Tp2dGatedMlpSpec& spec) { return spec.mlp; },
           [](const Tp2dGatedMlpSpec&, const Tp2dGatedMlpImplConfig& config) {
             return GatedMlpImplConfig{.ff1_ff3 = config.ff1_ff3, .ff2 = config.ff2};
           },
           [](const Tp2dGatedMlpSpec& spec, const Tp2dGatedMlpImplConfig& config,
              KindFacts& facts) {
             facts.weight_dtype = weight_of(config.ff1_ff3);
             facts.derived["dims"] = dims(spec.mlp.hidden_dim, spec.mlp.ffn_dim);
             facts.derived["hidden_devices"] = spec.mesh.axis_size(spec.hidden_axis);
             facts.derived["ffn_devices"] = spec.mesh.axis_size(spec.ffn_axis());
           }),
       .single_device = SingleDeviceBlock{"gated_mlp", "mlp"},
       .depends_on = {"blocks/ccl/"},
       .weights = tp2d_gated_mlp_weights,
       .seeded_inputs = tp2d_gated_mlp_inputs,
       .cost = typed_cost(tp2d_gated_mlp_cost)});
  kinds.push_back({.name = "moe",
                   .family = "moe",
                   .replay_inputs = {"x", "router"},
                   .tolerances = pcc_and_relative_rmse(0.99, 0.10),
                   .metric_policy = ffn_policy(),
                   .bind = bind_x_to_y<MoeSpec, Moe>(moe_weights, moe_weights_of, moe_reference),
                   .configure = configure<MoeSpec>,
                   .identity = identity<MoeSpec>,
                   .facts = facts<MoeSpec, MoeImplConfig>(
                       [](const MoeSpec& spec, const MoeImplConfig& config, KindFacts& facts) {
                         facts.weight_dtype = weight_of(config.expert.ff1_ff3);
                         facts.derived["dims"] = dims(spec.hidden_dim, spec.ffn_dim);
                         facts.derived["routing"] =
                             std::to_string(spec.num_experts) + "/top" + std::to_string(spec.top_k);
                       }),
                   .weights = moe_weights,
                   .seeded_inputs = moe_inputs,
                   .cost = typed_cost(moe_cost)});
  // ep_moe: the mesh tensor x (as tp_gated_mlp's) and the whole MoE's weights (as moe's).
  kinds.push_back(
      {.name = std::string(EpMoeSpec::kind),
       .family = std::string(EpMoeSpec::kind),
       .tolerances = pcc_and_relative_rmse(0.99, 0.10),
       .metric_policy = ffn_policy(),
       .bind = bind_mesh_x_to_y<EpMoeSpec, EpMoe>(ep_moe_weights, moe_weights_of, ep_moe_reference),
       .configure = configure<EpMoeSpec>,
       .identity = identity<EpMoeSpec>,
       .facts = sharded_facts<EpMoeSpec, EpMoeImplConfig>(
           [](const EpMoeSpec& spec) { return spec.moe; },
           [](const EpMoeSpec&, const EpMoeImplConfig& config) { return config.device; },
           [](const EpMoeSpec& spec, const EpMoeImplConfig& config, KindFacts& facts) {
             facts.weight_dtype = weight_of(config.device.expert.ff1_ff3);
             facts.derived["dims"] = dims(spec.moe.hidden_dim, spec.moe.ffn_dim);
             facts.derived["routing"] =
                 std::to_string(spec.moe.num_experts) + "/top" + std::to_string(spec.moe.top_k);
             facts.derived["reduction"] = std::string(tp_reduction_name(config.reduction));
           }),
       .single_device = SingleDeviceBlock{"moe", "moe"},
       .depends_on = {"blocks/ccl/"},
       .weights = ep_moe_weights,
       .seeded_inputs = ep_moe_inputs,
       .cost = typed_cost(ep_moe_cost)});
}

}  // namespace ttt

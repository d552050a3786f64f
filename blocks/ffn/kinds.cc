// The feed-forward kinds: mlp (x, w_up, w_down, b_up and b_down when spec.bias), gated_mlp (x,
// w_gate, w_up, w_down), tp_gated_mlp (the mesh tensor x, the whole MLP's weights) and moe (x,
// router, w_gate/<e>, w_up/<e>, w_down/<e> for every expert e).
// Tolerance: PCC >= 0.99 (bfloat8_b/bfloat4_b weights).
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

}  // namespace

void add_ffn_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(
      {.name = "mlp",
       .family = "mlp",
       .replay_inputs = {"x", "w_up", "w_down"},
       .tolerances = pcc_at_least(0.99),
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
       .seeded_inputs = mlp_inputs});
  kinds.push_back(
      {.name = "gated_mlp",
       .family = "gated_mlp",
       .replay_inputs = {"x", "w_gate", "w_up", "w_down"},
       .tolerances = pcc_at_least(0.99),
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
       .seeded_inputs = gated_mlp_inputs});
  // x is a mesh tensor (a trace's or seeded mesh tensor, or the container x/0, x/1, ...).
  kinds.push_back(
      {.name = std::string(TpGatedMlpSpec::kind),
       .family = std::string(TpGatedMlpSpec::kind),
       .tolerances = pcc_at_least(0.99),
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
       .seeded_inputs = tp_gated_mlp_inputs});
  // TG's 2-D MLP: x is a mesh tensor split along hidden on the hidden axis (as tp_gated_mlp's x).
  kinds.push_back(
      {.name = std::string(Tp2dGatedMlpSpec::kind),
       .family = std::string(Tp2dGatedMlpSpec::kind),
       .tolerances = pcc_at_least(0.99),
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
       .seeded_inputs = tp2d_gated_mlp_inputs});
  kinds.push_back({.name = "moe",
                   .family = "moe",
                   .replay_inputs = {"x", "router"},
                   .tolerances = pcc_at_least(0.99),
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
                   .seeded_inputs = moe_inputs});
  // ep_moe: the mesh tensor x (as tp_gated_mlp's) and the whole MoE's weights (as moe's).
  kinds.push_back(
      {.name = std::string(EpMoeSpec::kind),
       .family = std::string(EpMoeSpec::kind),
       .tolerances = pcc_at_least(0.99),
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
       .seeded_inputs = ep_moe_inputs});
}

}  // namespace ttt

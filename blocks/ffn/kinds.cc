// The feed-forward kinds: mlp (x, w_up, w_down, b_up and b_down when spec.bias), gated_mlp (x,
// w_gate, w_up, w_down) and moe (x, router, w_gate/<e>, w_up/<e>, w_down/<e> for every expert e).
// Tolerance: PCC >= 0.99 (bfloat8_b/bfloat4_b weights).
#include <memory>
#include <stdexcept>
#include <string>

#include "blocks/common/kind_support.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"

namespace ttt {
namespace {

using namespace kind_support;

std::string dims(std::int64_t a, std::int64_t b) {
  return std::to_string(a) + "x" + std::to_string(b);
}

std::string weight_of(const MatmulConfig& matmul) {
  return std::string(dtype_name(matmul.weight_dtype));
}

BoundCall bind_mlp(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure_call<MlpSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor w_up = call.input("w_up");
  const Tensor w_down = call.input("w_down");
  const Tensor b_up = optional_input(call, spec.bias, "b_up");
  const Tensor b_down = optional_input(call, spec.bias, "b_down");
  auto block = reuse_block<Mlp>(call, config, {w_up, w_down, b_up, b_down}, [&] {
    return std::make_shared<const Mlp>(
        spec, config, MlpWeights{w_up, w_down, source_of(b_up), source_of(b_down)});
  });
  return bind_block(block, mode, x, [spec, x, w_up, w_down, b_up, b_down] {
    return mlp_reference(spec, {w_up, w_down, source_of(b_up), source_of(b_down)}, x);
  });
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

BoundCall bind_gated_mlp(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure_call<GatedMlpSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor w_gate = call.input("w_gate");
  const Tensor w_up = call.input("w_up");
  const Tensor w_down = call.input("w_down");
  auto block = reuse_block<GatedMlp>(call, config, {w_gate, w_up, w_down}, [&] {
    return std::make_shared<const GatedMlp>(spec, config, GatedMlpWeights{w_gate, w_up, w_down});
  });
  return bind_block(block, mode, x, [spec, x, w_gate, w_up, w_down] {
    return gated_mlp_reference(spec, {w_gate, w_up, w_down}, x);
  });
}

InputRules gated_mlp_weights(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<GatedMlpSpec>();
  return {InputRule{"w_gate", {spec.hidden_dim, spec.ffn_dim}, Seeding::matrix},
          InputRule{"w_up", {spec.hidden_dim, spec.ffn_dim}, Seeding::matrix},
          InputRule{"w_down", {spec.ffn_dim, spec.hidden_dim}, Seeding::matrix}};
}

InputPlan gated_mlp_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  return ffn_inputs<GatedMlpSpec>(block, mode, shapes, gated_mlp_weights);
}

BoundCall bind_moe(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure_call<MoeSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor router = call.input("router");
  const std::vector<Tensor> w_gate = call.container("w_gate");
  const std::vector<Tensor> w_up = call.container("w_up");
  const std::vector<Tensor> w_down = call.container("w_down");
  const auto experts = static_cast<std::size_t>(spec.num_experts);
  if (w_gate.size() != experts || w_up.size() != experts || w_down.size() != experts) {
    throw std::invalid_argument(
        "[moe] expected inputs w_gate/0..w_gate/" + std::to_string(experts - 1) +
        " (and w_up, w_down) for spec.num_experts " + std::to_string(experts));
  }
  std::vector<Tensor> all_weights{router};
  MoeWeights weights{router, {}};
  for (std::size_t e = 0; e < experts; ++e) {
    all_weights.insert(all_weights.end(), {w_gate[e], w_up[e], w_down[e]});
    weights.experts.push_back({w_gate[e], w_up[e], w_down[e]});
  }
  auto block = reuse_block<Moe>(call, config, all_weights,
                                [&] { return std::make_shared<const Moe>(spec, config, weights); });
  return bind_block(block, mode, x, [spec, x, weights] { return moe_reference(spec, weights, x); });
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

}  // namespace

void add_ffn_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back({.name = "mlp",
                   .family = "mlp",
                   .replay_inputs = {"x", "w_up", "w_down"},
                   .tolerances = pcc_at_least(0.99),
                   .bind = bind_mlp,
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
       .bind = bind_gated_mlp,
       .configure = configure<GatedMlpSpec>,
       .identity = identity<GatedMlpSpec>,
       .facts = facts<GatedMlpSpec, GatedMlpImplConfig>(
           [](const GatedMlpSpec& spec, const GatedMlpImplConfig& config, KindFacts& facts) {
             facts.weight_dtype = weight_of(config.ff1_ff3);
             facts.derived["dims"] = dims(spec.hidden_dim, spec.ffn_dim);
           }),
       .weights = gated_mlp_weights,
       .seeded_inputs = gated_mlp_inputs});
  kinds.push_back({.name = "moe",
                   .family = "moe",
                   .replay_inputs = {"x", "router"},
                   .tolerances = pcc_at_least(0.99),
                   .bind = bind_moe,
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
}

}  // namespace ttt

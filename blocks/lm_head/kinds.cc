// The lm_head kind: x, weight ([hidden, vocab], or the [vocab, hidden] embedding table when
// tied). Tolerance: PCC >= 0.99, relative RMSE <= 5%.
#include <memory>

#include "blocks/ccl/mesh_kind_support.h"
#include "blocks/common/kind_support.h"
#include "blocks/lm_head/lm_head.h"
#include "blocks/lm_head/tp_lm_head.h"

namespace ttt {
namespace {

using namespace kind_support;

// The metric policy of both LM head kinds (docs/metrics.md): a matmul over the hidden width is a
// long sum whose order and rounding differ between a device and its emulation: a reduction.
MetricPolicy lm_head_policy() {
  return nmse_policy(
      "a matmul over the hidden width: a long sum whose order and rounding differ "
      "between a device and its emulation");
}

InputRules lm_head_weights(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<LmHeadSpec>();
  return {InputRule{"weight",
                    spec.tied_embeddings ? Shape{spec.vocab_size, spec.hidden_dim}
                                         : Shape{spec.hidden_dim, spec.vocab_size},
                    Seeding::matrix}};
}

InputPlan lm_head_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<LmHeadSpec>();
  return plan(
      {InputRule{"x", activation_shape(mode, shapes, spec.hidden_dim), Seeding::activation}},
      lm_head_weights(block.spec));
}

// The whole LM head's weight (each device's share is cut inside the block).
InputRules tp_lm_head_weights(const nlohmann::json& spec_json) {
  return lm_head_weights(nlohmann::json(spec_json.get<TpLmHeadSpec>().lm_head));
}

// x [..., hidden] seeded whole and replicated on the mesh, then the whole weight.
InputPlan tp_lm_head_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<TpLmHeadSpec>();
  return plan({mesh_activation(spec.mesh, {}, mode, shapes, spec.lm_head.hidden_dim)},
              tp_lm_head_weights(block.spec));
}

// Device cost (docs/cost-model.md "LM head"): x read, the whole [h, V] weight read, [T, h] x
// [h, V] in ceil(V / vocab_chunk) matmuls, three passes over the logits for a softcap (divide,
// tanh, multiply), the logits written.
DeviceCost lm_head_cost(const LmHeadSpec& spec, const LmHeadImplConfig& config, Mode mode,
                        const CallShapes& shapes) {
  const std::int64_t tokens = call_tokens(mode, shapes);
  const MatmulConfig& matmul = config.matmul;
  DeviceCost cost;
  cost.dram_weight_bytes = tensor_bytes(matmul.weight_dtype, spec.hidden_dim, spec.vocab_size);
  cost.dram_activation_bytes = tensor_bytes(matmul.activation_dtype, tokens, spec.hidden_dim) +
                               tensor_bytes(matmul.output_dtype, tokens, spec.vocab_size);
  add_matmul(cost, tokens, spec.hidden_dim, spec.vocab_size, matmul.fidelity,
             matmul.activation_dtype, matmul.weight_dtype, matmul.output_dtype);
  if (spec.logit_softcap > 0.0) {
    cost.vector_ops = 3 * pad_to_tile(tokens) * pad_to_tile(spec.vocab_size);
  }
  cost.ops = (spec.vocab_size + config.vocab_chunk - 1) / config.vocab_chunk;
  return cost;
}

// Each device: the LM head on vocab / n columns, then the all-gather of the [T, V] logits.
DeviceCost tp_lm_head_cost(const TpLmHeadSpec& spec, const TpLmHeadImplConfig& config, Mode mode,
                           const CallShapes& shapes) {
  const int n = spec.mesh.axis_size(spec.axis);
  LmHeadSpec device = spec.lm_head;
  device.vocab_size /= n;
  DeviceCost cost = lm_head_cost(device, config.device, mode, shapes);
  add_collective(cost, Collective::all_gather, n, call_tokens(mode, shapes),
                 spec.lm_head.vocab_size, config.ccl.output_dtype, config.ccl.num_links);
  cost.devices = spec.mesh.size();
  return cost;
}

}  // namespace

void add_lm_head_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(
      {.name = "lm_head",
       .family = "lm_head",
       .replay_inputs = {"x", "weight"},
       .tolerances = pcc_and_relative_rmse(0.99, 0.05),
       .metric_policy = lm_head_policy(),
       .bind = bind_x_to_y<LmHeadSpec, LmHead>(
           lm_head_weights, [](const CallWeights& w) { return LmHeadWeights{w["weight"]}; },
           lm_head_reference),
       .configure = configure<LmHeadSpec>,
       .identity = identity<LmHeadSpec>,
       .facts = facts<LmHeadSpec, LmHeadImplConfig>(
           [](const LmHeadSpec& spec, const LmHeadImplConfig& config, KindFacts& facts) {
             facts.weight_dtype = std::string(dtype_name(config.matmul.weight_dtype));
             facts.derived["softcapped"] = spec.logit_softcap > 0.0;
           }),
       .weights = lm_head_weights,
       .seeded_inputs = lm_head_inputs,
       .edge_regimes = {edge_regimes::saturated_softcap(
           [](const nlohmann::json& spec) { return spec.get<LmHeadSpec>().logit_softcap; }, 32.0)},
       .cost = typed_cost(lm_head_cost)});
  // x is a mesh tensor (a trace's or seeded mesh tensor, or the container x/0, x/1, ...).
  kinds.push_back(
      {.name = std::string(TpLmHeadSpec::kind),
       .family = std::string(TpLmHeadSpec::kind),
       .metric_policy = lm_head_policy(),
       .bind = bind_mesh_x_to_y<TpLmHeadSpec, TpLmHead>(
           tp_lm_head_weights, [](const CallWeights& w) { return LmHeadWeights{w["weight"]}; },
           tp_lm_head_reference),
       .configure = configure<TpLmHeadSpec>,
       .identity = identity<TpLmHeadSpec>,
       .facts = sharded_facts<TpLmHeadSpec, TpLmHeadImplConfig>(
           [](const TpLmHeadSpec& spec) { return spec.lm_head; },
           [](const TpLmHeadSpec&, const TpLmHeadImplConfig& config) { return config.device; },
           [](const TpLmHeadSpec& spec, const TpLmHeadImplConfig& config, KindFacts& facts) {
             facts.weight_dtype = std::string(dtype_name(config.device.matmul.weight_dtype));
             facts.derived["softcapped"] = spec.lm_head.logit_softcap > 0.0;
           }),
       .single_device = SingleDeviceBlock{"lm_head", "lm_head"},
       .depends_on = {"blocks/ccl/"},
       .weights = tp_lm_head_weights,
       .seeded_inputs = tp_lm_head_inputs,
       .edge_regimes = {edge_regimes::saturated_softcap(
           [](const nlohmann::json& spec) {
             return spec.get<TpLmHeadSpec>().lm_head.logit_softcap;
           },
           32.0)},
       .cost = typed_cost(tp_lm_head_cost)});
}

}  // namespace ttt

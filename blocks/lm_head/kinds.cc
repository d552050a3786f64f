// The lm_head kind: x, weight ([hidden, vocab], or the [vocab, hidden] embedding table when
// tied). Tolerance: PCC >= 0.99 (bfloat8_b weights).
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

}  // namespace

void add_lm_head_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(
      {.name = "lm_head",
       .family = "lm_head",
       .replay_inputs = {"x", "weight"},
       .tolerances = pcc_at_least(0.99),
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
       .seeded_inputs = lm_head_inputs});
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
       .seeded_inputs = tp_lm_head_inputs});
}

}  // namespace ttt

// The normalization kinds: rms_norm (x, weight) and layer_norm (x, weight, bias when spec.bias).
// Their tolerances are the dtype default: an output rounded once to its dtype is what they compute.
#include <memory>

#include "blocks/common/kind_support.h"
#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"

namespace ttt {
namespace {

using namespace kind_support;

BoundCall bind_rms_norm(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure_call<RmsNormSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor weight = call.input("weight");
  auto block = reuse_block<RmsNorm>(call, config, {weight}, [&] {
    return std::make_shared<const RmsNorm>(spec, config, RmsNormWeights{weight});
  });
  return bind_block(block, mode, x,
                    [spec, x, weight] { return rms_norm_reference(spec, {weight}, x); });
}

InputRules rms_norm_weights(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<RmsNormSpec>();
  return {InputRule{
      "weight", {spec.dim}, spec.add_unit_offset ? Seeding::offset_scale : Seeding::norm_scale}};
}

InputPlan rms_norm_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<RmsNormSpec>();
  return plan({InputRule{"x", activation_shape(mode, shapes, spec.dim), Seeding::activation}},
              rms_norm_weights(block.spec));
}

BoundCall bind_layer_norm(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure_call<LayerNormSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor weight = call.input("weight");
  const Tensor bias = optional_input(call, spec.bias, "bias");
  auto block = reuse_block<LayerNorm>(call, config, {weight, bias}, [&] {
    return std::make_shared<const LayerNorm>(spec, config,
                                             LayerNormWeights{weight, source_of(bias)});
  });
  return bind_block(block, mode, x, [spec, x, weight, bias] {
    return layer_norm_reference(spec, {weight, source_of(bias)}, x);
  });
}

InputRules layer_norm_weights(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<LayerNormSpec>();
  InputRules weights{InputRule{"weight", {spec.dim}, Seeding::norm_scale}};
  if (spec.bias) weights.emplace_back(InputRule{"bias", {spec.dim}, Seeding::matrix});
  return weights;
}

InputPlan layer_norm_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, false);
  const auto spec = block.spec.get<LayerNormSpec>();
  return plan({InputRule{"x", activation_shape(mode, shapes, spec.dim), Seeding::activation}},
              layer_norm_weights(block.spec));
}

// A norm's main weight is its scale.
template <typename Spec, typename Config>
void norm_extras(const Spec&, const Config& config, KindFacts& facts) {
  facts.weight_dtype = std::string(dtype_name(config.weight_dtype));
}

}  // namespace

void add_normalization_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(
      {.name = "rms_norm",
       .family = "rms_norm",
       .replay_inputs = {"x", "weight"},
       .bind = bind_rms_norm,
       .configure = configure<RmsNormSpec>,
       .identity = identity<RmsNormSpec>,
       .facts = facts<RmsNormSpec, RmsNormImplConfig>(norm_extras<RmsNormSpec, RmsNormImplConfig>),
       .weights = rms_norm_weights,
       .seeded_inputs = rms_norm_inputs});
  kinds.push_back({.name = "layer_norm",
                   .family = "layer_norm",
                   .replay_inputs = {"x", "weight"},
                   .bind = bind_layer_norm,
                   .configure = configure<LayerNormSpec>,
                   .identity = identity<LayerNormSpec>,
                   .facts = facts<LayerNormSpec, LayerNormImplConfig>(
                       norm_extras<LayerNormSpec, LayerNormImplConfig>),
                   .weights = layer_norm_weights,
                   .seeded_inputs = layer_norm_inputs});
}

}  // namespace ttt

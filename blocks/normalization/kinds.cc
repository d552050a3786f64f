// The normalization kinds: rms_norm (x, weight) and layer_norm (x, weight, bias when spec.bias).
// Their tolerances are the dtype default: an output rounded once to its dtype is what they compute.
#include <memory>

#include "blocks/common/kind_support.h"
#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"

namespace ttt {
namespace {

using namespace kind_support;

// The metric policy of both norms (docs/metrics.md): each row is scaled by a statistic of the
// whole row (a sum of squares over the hidden width), so a norm is a reduction.
MetricPolicy norm_policy() {
  return nmse_policy(
      "every element is scaled by a row statistic, a sum over the hidden width "
      "whose order and rounding differ between a device and its emulation");
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

// Both norms' edge regimes (docs/testing.md "Edge regimes"): eps shows on near-zero rows, a
// one-pass variance on an offset, the statistics' range on massive activations.
std::vector<EdgeRegime> norm_regimes() {
  return {edge_regimes::near_zero_rows(), edge_regimes::dc_offset(),
          edge_regimes::large_magnitude()};
}

// A norm's main weight is its scale.
template <typename Spec, typename Config>
void norm_extras(const Spec&, const Config& config, KindFacts& facts) {
  facts.weight_dtype = std::string(dtype_name(config.weight_dtype));
}

// Device cost (docs/cost-model.md "Norms"): x read, the scale (and bias) read, y written, and
// `passes` element-wise passes over [T, dim] (RMSNorm 4: square, sum, scale by the reciprocal
// root, weight; LayerNorm 6: mean, subtract, square, sum, scale, weight and bias).
template <typename Config>
DeviceCost norm_cost(const Config& config, std::int64_t tokens, std::int64_t dim, int passes,
                     int vectors) {
  DeviceCost cost;
  cost.dram_weight_bytes = vectors * tensor_bytes(config.weight_dtype, 1, dim);
  cost.dram_activation_bytes = tensor_bytes(config.activation_dtype, tokens, dim) +
                               tensor_bytes(config.output_dtype, tokens, dim);
  cost.vector_ops = passes * pad_to_tile(tokens) * pad_to_tile(dim);
  cost.ops = 1;
  return cost;
}

DeviceCost rms_norm_cost(const RmsNormSpec& spec, const RmsNormImplConfig& config, Mode mode,
                         const CallShapes& shapes) {
  return norm_cost(config, call_tokens(mode, shapes), spec.dim, 4, 1);
}

DeviceCost layer_norm_cost(const LayerNormSpec& spec, const LayerNormImplConfig& config,
                           Mode mode, const CallShapes& shapes) {
  return norm_cost(config, call_tokens(mode, shapes), spec.dim, 6, spec.bias ? 2 : 1);
}

}  // namespace

void add_normalization_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(
      {.name = "rms_norm",
       .family = "rms_norm",
       .replay_inputs = {"x", "weight"},
       .metric_policy = norm_policy(),
       .bind = bind_x_to_y<RmsNormSpec, RmsNorm>(
           rms_norm_weights, [](const CallWeights& w) { return RmsNormWeights{w["weight"]}; },
           rms_norm_reference),
       .configure = configure<RmsNormSpec>,
       .identity = identity<RmsNormSpec>,
       .facts = facts<RmsNormSpec, RmsNormImplConfig>(norm_extras<RmsNormSpec, RmsNormImplConfig>),
       .weights = rms_norm_weights,
       .seeded_inputs = rms_norm_inputs,
       .edge_regimes = norm_regimes(),
       .cost = typed_cost(rms_norm_cost)});
  kinds.push_back({.name = "layer_norm",
                   .family = "layer_norm",
                   .replay_inputs = {"x", "weight"},
                   .metric_policy = norm_policy(),
                   .bind = bind_x_to_y<LayerNormSpec, LayerNorm>(
                       layer_norm_weights,
                       [](const CallWeights& w) {
                         return LayerNormWeights{w["weight"], w.source("bias")};
                       },
                       layer_norm_reference),
                   .configure = configure<LayerNormSpec>,
                   .identity = identity<LayerNormSpec>,
                   .facts = facts<LayerNormSpec, LayerNormImplConfig>(
                       norm_extras<LayerNormSpec, LayerNormImplConfig>),
                   .weights = layer_norm_weights,
                   .seeded_inputs = layer_norm_inputs,
                   .edge_regimes = norm_regimes(),
                   .cost = typed_cost(layer_norm_cost)});
}

}  // namespace ttt

#include "blocks/ffn/ep_moe.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "blocks/ccl/tensor_parallel.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"

namespace ttt {
namespace {

constexpr std::string_view kBlock = EpMoeSpec::kind;

// TTTv1's per-topology choices on top of the Moe's (possibly preset) defaults.
EpMoeImplConfig ep_defaults(MoeImplConfig device_config, const EpMoeSpec& spec, Device device) {
  EpMoeImplConfig config;
  config.device = device_config;
  // Both TTTv1 Mixtrals leave every device with the whole sum: the T3K demo all-gathers the
  // weighted expert outputs and sums them on every chip; tt-transformers' tt_all_reduce.
  config.reduction = TpReduction::all_reduce;
  config.ccl = ccl_detail::default_reduce_config(spec.mesh, device);
  return config;
}

}  // namespace

void EpMoeSpec::validate() const {
  moe.validate();
  const ccl_detail::MeshAxis mesh_axis{mesh, axis};
  ccl_detail::validate_mesh_axis(kBlock, mesh_axis);
  tp_detail::check_divides(kBlock, mesh_axis, moe.num_experts, "spec.moe.num_experts");
  tp_detail::check_divides(kBlock, mesh_axis, moe.hidden_dim, "spec.moe.hidden_dim");
}

std::string EpMoeSpec::identity() const {
  return Identity("EP_MOE")
      .add("hidden", moe.hidden_dim)
      .add("ffn", moe.ffn_dim)
      .add("experts", moe.num_experts)
      .add("top_k", moe.top_k)
      .add("act", activation_name(moe.activation))
      .add("mesh", mesh_name(mesh))
      .add("axis", axis)
      .str();
}

ExpertRange EpMoeSpec::device_experts(int device) const {
  const std::int64_t per_device = moe.num_experts / mesh.axis_size(axis);
  return {tp_detail::axis_position({mesh, axis}, device) * per_device, per_device};
}

void EpMoeImplConfig::validate(const EpMoeSpec& spec) const {
  device.validate(spec.moe);
  ccl.validate(kBlock);
}

EpMoeImplConfig default_impl_config(const EpMoeSpec& spec, Device device, Mode mode) {
  return ep_defaults(default_impl_config(spec.moe, device, mode), spec, device);
}

EpMoeImplConfig default_impl_config(const EpMoeSpec& spec, Device device, Mode mode,
                                    Preset preset) {
  return ep_defaults(default_impl_config(spec.moe, device, mode, preset), spec, device);
}

void to_json(nlohmann::json& json, const EpMoeSpec& spec) {
  tp_detail::spec_to_json(json, spec, "moe", &EpMoeSpec::moe);
}

void read_json(const JsonNode& node, EpMoeSpec& spec) {
  tp_detail::read_spec_json(node, spec, "moe", &EpMoeSpec::moe);
}

void from_json(const nlohmann::json& json, EpMoeSpec& spec) {
  read_json(JsonNode(json, "ep_moe spec"), spec);
}

namespace {

constexpr auto kConfigFields = std::tuple{
    json_optional("device", &EpMoeImplConfig::device),
    json_named("reduction", &EpMoeImplConfig::reduction, tp_reduction_name, parse_tp_reduction),
    json_optional("ccl", &EpMoeImplConfig::ccl)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(EpMoeImplConfig, "ep_moe impl_config", kConfigFields)

EpMoe::EpMoe(EpMoeSpec spec, EpMoeImplConfig config, MoeWeights weights)
    : spec_(std::move(spec)), config_(std::move(config)) {
  spec_.validate();
  config_.validate(spec_);
  validate(spec_.moe, weights);
  for (int device = 0; device < spec_.mesh.size(); ++device) {
    devices_.emplace_back(spec_.moe, config_.device, weights, spec_.device_experts(device));
  }
  reduce_ = tp_detail::partial_sum({spec_.mesh, spec_.axis},
                                   config_.reduction == TpReduction::all_reduce, config_.ccl);
}

MeshTensor EpMoe::prefill_forward(const MeshTensor& x) const {
  return reduce_(
      tp_detail::run_devices(kBlock, {spec_.mesh, spec_.axis}, devices_, x, &Moe::prefill_forward),
      tp_detail::feature_dim(x));
}

MeshTensor EpMoe::decode_forward(const MeshTensor& x) const {
  return reduce_(
      tp_detail::run_devices(kBlock, {spec_.mesh, spec_.axis}, devices_, x, &Moe::decode_forward),
      tp_detail::feature_dim(x));
}

Tensor ep_moe_reference(const EpMoeSpec& spec, const MoeWeights& weights, const MeshTensor& x) {
  spec.validate();
  return moe_reference(spec.moe, weights,
                       tp_detail::composed_input(kBlock, {spec.mesh, spec.axis}, x));
}

}  // namespace ttt

#include "blocks/ffn/tp_gated_mlp.h"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "blocks/ccl/tensor_parallel.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"

namespace ttt {
namespace {

constexpr std::string_view kBlock = TpGatedMlpSpec::kind;

// TTTv1's per-topology choices on top of the gated MLP's (possibly preset) defaults.
TpGatedMlpImplConfig tp_defaults(GatedMlpImplConfig device_config, const TpGatedMlpSpec& spec,
                                 Device device) {
  TpGatedMlpImplConfig config;
  config.device = device_config;
  config.device.reduction_shards = 1;  // The mesh splits ffn; no emulated all-reduce inside.
  if (device == Device::TG) {
    // tt-transformers mlp.py on Galaxy: FF1/FF3 output bfloat8_b, FF2 output in ccl_dtype
    // (bfloat8_b), all-reduced (tt_all_reduce on a 2-D mesh).
    config.device.ff1_ff3.output_dtype = DType::bfloat8_b;
    config.device.ff2.output_dtype = DType::bfloat8_b;
    config.reduction = TpReduction::all_reduce;
  }
  config.ccl = ccl_detail::default_reduce_config(spec.mesh, device);
  return config;
}

}  // namespace

std::string_view tp_reduction_name(TpReduction reduction) {
  return reduction == TpReduction::all_reduce ? "all_reduce" : "reduce_scatter";
}

TpReduction parse_tp_reduction(std::string_view name) {
  if (name == "reduce_scatter") return TpReduction::reduce_scatter;
  if (name == "all_reduce") return TpReduction::all_reduce;
  throw std::invalid_argument("unknown reduction '" + std::string(name) +
                              "' (expected one of all_reduce, reduce_scatter)");
}

void TpGatedMlpSpec::validate() const {
  mlp.validate();
  const ccl_detail::MeshAxis mesh_axis{mesh, axis};
  ccl_detail::validate_mesh_axis(kBlock, mesh_axis);
  tp_detail::check_divides(kBlock, mesh_axis, mlp.ffn_dim, "spec.mlp.ffn_dim");
  tp_detail::check_divides(kBlock, mesh_axis, mlp.hidden_dim, "spec.mlp.hidden_dim");
}

std::string TpGatedMlpSpec::identity() const {
  return Identity("TP_GATED_MLP")
      .add("hidden", mlp.hidden_dim)
      .add("ffn", mlp.ffn_dim)
      .add("act", activation_name(mlp.activation))
      .add("mesh", mesh_name(mesh))
      .add("axis", axis)
      .str();
}

GatedMlpSpec TpGatedMlpSpec::device_spec() const {
  GatedMlpSpec device = mlp;
  device.ffn_dim = mlp.ffn_dim / mesh.axis_size(axis);
  return device;
}

void TpGatedMlpImplConfig::validate(const TpGatedMlpSpec& spec) const {
  device.validate(spec.device_spec());
  ccl.validate(kBlock);
}

TpGatedMlpImplConfig default_impl_config(const TpGatedMlpSpec& spec, Device device, Mode mode) {
  return tp_defaults(default_impl_config(spec.mlp, device, mode), spec, device);
}

TpGatedMlpImplConfig default_impl_config(const TpGatedMlpSpec& spec, Device device, Mode mode,
                                         Preset preset) {
  return tp_defaults(default_impl_config(spec.mlp, device, mode, preset), spec, device);
}

void to_json(nlohmann::json& json, const TpGatedMlpSpec& spec) {
  tp_detail::spec_to_json(json, spec, "mlp", &TpGatedMlpSpec::mlp);
}

void read_json(const JsonNode& node, TpGatedMlpSpec& spec) {
  tp_detail::read_spec_json(node, spec, "mlp", &TpGatedMlpSpec::mlp);
}

void from_json(const nlohmann::json& json, TpGatedMlpSpec& spec) {
  read_json(JsonNode(json, "tp_gated_mlp spec"), spec);
}

namespace {

constexpr auto kConfigFields = std::tuple{json_optional("device", &TpGatedMlpImplConfig::device),
                                          json_named("reduction", &TpGatedMlpImplConfig::reduction,
                                                     tp_reduction_name, parse_tp_reduction),
                                          json_optional("ccl", &TpGatedMlpImplConfig::ccl)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(TpGatedMlpImplConfig, "tp_gated_mlp impl_config", kConfigFields)

TpGatedMlp::TpGatedMlp(TpGatedMlpSpec spec, TpGatedMlpImplConfig config, GatedMlpWeights weights)
    : spec_(std::move(spec)), config_(std::move(config)) {
  spec_.validate();
  config_.validate(spec_);
  validate(spec_.mlp, weights);
  const ccl_detail::MeshAxis mesh_axis{spec_.mesh, spec_.axis};
  for (int device = 0; device < spec_.mesh.size(); ++device) {
    devices_.emplace_back(
        spec_.device_spec(), config_.device,
        GatedMlpWeights{tp_detail::slice_weight(weights.w_gate, 1, mesh_axis, device),
                        tp_detail::slice_weight(weights.w_up, 1, mesh_axis, device),
                        tp_detail::slice_weight(weights.w_down, 0, mesh_axis, device)});
  }
  reduce_ =
      tp_detail::partial_sum(mesh_axis, config_.reduction == TpReduction::all_reduce, config_.ccl);
}

MeshTensor TpGatedMlp::prefill_forward(const MeshTensor& x) const {
  return reduce_(tp_detail::run_devices(kBlock, {spec_.mesh, spec_.axis}, devices_, x,
                                        &GatedMlp::prefill_forward),
                 tp_detail::feature_dim(x));
}

MeshTensor TpGatedMlp::decode_forward(const MeshTensor& x) const {
  return reduce_(tp_detail::run_devices(kBlock, {spec_.mesh, spec_.axis}, devices_, x,
                                        &GatedMlp::decode_forward),
                 tp_detail::feature_dim(x));
}

Tensor tp_gated_mlp_reference(const TpGatedMlpSpec& spec, const GatedMlpWeights& weights,
                              const MeshTensor& x) {
  spec.validate();
  return gated_mlp_reference(spec.mlp, weights,
                             tp_detail::composed_input(kBlock, {spec.mesh, spec.axis}, x));
}

}  // namespace ttt

#include "blocks/lm_head/tp_lm_head.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "blocks/ccl/all_gather.h"
#include "blocks/ccl/tensor_parallel.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"

namespace ttt {
namespace {

constexpr std::string_view kBlock = TpLmHeadSpec::kind;

}  // namespace

void TpLmHeadSpec::validate() const {
  lm_head.validate();
  const ccl_detail::MeshAxis mesh_axis{mesh, axis};
  ccl_detail::validate_mesh_axis(kBlock, mesh_axis);
  tp_detail::check_divides(kBlock, mesh_axis, lm_head.vocab_size, "spec.lm_head.vocab_size");
}

std::string TpLmHeadSpec::identity() const {
  return Identity("TP_LM_HEAD")
      .add("hidden", lm_head.hidden_dim)
      .add("vocab", lm_head.vocab_size)
      .add("tied", lm_head.tied_embeddings)
      .add("softcap", lm_head.logit_softcap)
      .add("mesh", mesh_name(mesh))
      .add("axis", axis)
      .str();
}

LmHeadSpec TpLmHeadSpec::device_spec() const {
  LmHeadSpec device = lm_head;
  device.vocab_size = lm_head.vocab_size / mesh.axis_size(axis);
  return device;
}

void TpLmHeadImplConfig::validate() const {
  device.validate();
  ccl.validate(kBlock);
}

TpLmHeadImplConfig default_impl_config(const TpLmHeadSpec& spec, Device device, Mode mode) {
  TpLmHeadImplConfig config;
  // One chip's share: the device block sees only its vocab / n columns.
  config.device = default_impl_config(spec.device_spec(), Device::N150, mode);
  config.ccl = ccl_detail::default_move_config(spec.mesh, device);
  return config;
}

TpLmHeadImplConfig default_impl_config(const TpLmHeadSpec& spec, Device device, Mode mode, Preset) {
  return default_impl_config(spec, device, mode);
}

void to_json(nlohmann::json& json, const TpLmHeadSpec& spec) {
  tp_detail::spec_to_json(json, spec, "lm_head", &TpLmHeadSpec::lm_head);
}

void read_json(const JsonNode& node, TpLmHeadSpec& spec) {
  tp_detail::read_spec_json(node, spec, "lm_head", &TpLmHeadSpec::lm_head);
}

void from_json(const nlohmann::json& json, TpLmHeadSpec& spec) {
  read_json(JsonNode(json, "tp_lm_head spec"), spec);
}

namespace {

constexpr auto kConfigFields = std::tuple{json_optional("device", &TpLmHeadImplConfig::device),
                                          json_optional("ccl", &TpLmHeadImplConfig::ccl)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(TpLmHeadImplConfig, "tp_lm_head impl_config", kConfigFields)

TpLmHead::TpLmHead(TpLmHeadSpec spec, TpLmHeadImplConfig config, LmHeadWeights weights)
    : spec_(std::move(spec)), config_(std::move(config)) {
  spec_.validate();
  config_.validate();
  validate(spec_.lm_head, weights);
  const ccl_detail::MeshAxis mesh_axis{spec_.mesh, spec_.axis};
  // The vocabulary is the weight's columns, or the rows of a tied [vocab, hidden] table.
  const int vocab_dim = spec_.lm_head.tied_embeddings ? 0 : 1;
  for (int device = 0; device < spec_.mesh.size(); ++device) {
    devices_.emplace_back(
        spec_.device_spec(), config_.device,
        LmHeadWeights{tp_detail::slice_weight(weights.weight, vocab_dim, mesh_axis, device)});
  }
}

MeshTensor TpLmHead::gather(const MeshTensor& logits) const {
  return AllGather({spec_.mesh, spec_.axis, tp_detail::feature_dim(logits)}, config_.ccl)
      .forward(logits);
}

MeshTensor TpLmHead::prefill_forward(const MeshTensor& x) const {
  return gather(tp_detail::run_devices(kBlock, {spec_.mesh, spec_.axis}, devices_, x,
                                       &LmHead::prefill_forward));
}

MeshTensor TpLmHead::decode_forward(const MeshTensor& x) const {
  return gather(tp_detail::run_devices(kBlock, {spec_.mesh, spec_.axis}, devices_, x,
                                       &LmHead::decode_forward));
}

Tensor tp_lm_head_reference(const TpLmHeadSpec& spec, const LmHeadWeights& weights,
                            const MeshTensor& x) {
  spec.validate();
  return lm_head_reference(spec.lm_head, weights,
                           tp_detail::composed_input(kBlock, {spec.mesh, spec.axis}, x));
}

}  // namespace ttt

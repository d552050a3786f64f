// The decoder layer and the causal LM on a mesh (docs/multi-device.md "Patterns on a mesh").
//
// Where a model runs is deployment, not mathematics: the Specs stay what they are, and the
// ImplConfigs (the device knobs) say on which mesh the layer runs and how its collectives round,
// in an optional "tensor_parallel" member. Unset (the default) is one device, and the JSON of a
// single-device ImplConfig has no such member, so it is byte-identical to before.
//
// On a mesh of more than one device the layer's attention is TpAttention (heads split over the
// axis, one KV cache per device), its FFN TpGatedMlp (ffn split, row-parallel partials reduced)
// or, for an MoE, EpMoe (experts spread along the axis, the devices' partial outputs reduced), the
// LM head TpLmHead (vocabulary split, logits gathered); the norms, the residual additions and
// the token embedding run replicated, as on one device: the residual stream is held whole on every
// device, as TTTv1's N300/T3K decoder holds it before each norm.
//
//   ttt::PerMode<ttt::CausalLmImplConfig> configs =
//       ttt::default_impl_configs(spec, ttt::Device::T3K, std::nullopt, ttt::parse_mesh("T3K"));
//   ttt::CausalLm model(ttt::make_causal_lm_modules(spec, configs, weights), {.device = "T3K"});
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>

#include "blocks/ccl/ccl_common.h"
#include "blocks/common/device.h"
#include "blocks/ffn/tp_gated_mlp.h"  // TpReduction
#include "patterns/block_modules.h"
#include "patterns/module.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// How a tensor-parallel module sums its row-parallel partial outputs.
struct TpPartialSumConfig {
  TpReduction reduction = TpReduction::reduce_scatter;
  CclReduceImplConfig ccl{};
  bool operator==(const TpPartialSumConfig&) const = default;
};

// A decoder layer on a mesh: the devices, the axis its heads and FFN are split along (the other
// axis holds copies), and the collectives of the attention's and the FFN's partial sums.
struct DecoderLayerTpConfig {
  Mesh mesh{};
  int axis = 1;
  TpPartialSumConfig attention{};
  TpPartialSumConfig ffn{};
  bool operator==(const DecoderLayerTpConfig&) const = default;
};

// A causal LM on a mesh: the devices, the axis, and the all-gather of the LM head's logits. Every
// layer's DecoderLayerTpConfig names the same mesh and axis.
struct CausalLmTpConfig {
  Mesh mesh{};
  int axis = 1;
  CclImplConfig lm_head{};
  bool operator==(const CausalLmTpConfig&) const = default;
};

// The axis the patterns split along on `mesh` by default: the columns (axis 1) when there are
// several (N300, T3K, TG: TTTv1's tensor-parallel axis), else the rows.
int default_tp_axis(const Mesh& mesh);

class JsonNode;

// JSON: {"reduction": "reduce_scatter", "ccl": {...}};
// {"mesh": "T3K", "axis": 1, "attention": {...}, "ffn": {...}};
// {"mesh": "T3K", "axis": 1, "lm_head": {all_gather config}}. Reading is strict.
void to_json(nlohmann::json& json, const TpPartialSumConfig& config);
void from_json(const nlohmann::json& json, TpPartialSumConfig& config);
void read_json(const JsonNode& node, TpPartialSumConfig& config);
void to_json(nlohmann::json& json, const DecoderLayerTpConfig& config);
void from_json(const nlohmann::json& json, DecoderLayerTpConfig& config);
void read_json(const JsonNode& node, DecoderLayerTpConfig& config);
void to_json(nlohmann::json& json, const CausalLmTpConfig& config);
void from_json(const nlohmann::json& json, CausalLmTpConfig& config);
void read_json(const JsonNode& node, CausalLmTpConfig& config);

// Checks a layer's mesh against its Spec and its modules' configs: the axis, the mesh dividing
// the attention's heads (TpAttentionSpec) and the FFN (TpGatedMlpSpec, or EpMoeSpec's experts; a
// plain MLP has no tensor-parallel block and is refused), each device's config against its
// slice, the collectives' configs. Errors name the block, the mesh and the field: "[tp_attention]
// mesh 1x3 axis 1 (3 devices) does not divide spec.attention.num_heads 4".
void validate(const DecoderLayerTpConfig& config, const AttentionSpec& attention,
              const AttentionImplConfig& attention_config, const FfnSpec& ffn,
              const FfnImplConfig& ffn_config);

// Tensor-parallel modules (the modules a layer or model gets on a mesh). Both modes must name the
// same mesh and axis (the modes share the KV caches). Their calls record the tensor-parallel kind
// ("tp_attention" in both modes, "tp_gated_mlp", "ep_moe", "tp_lm_head"), the Spec and ImplConfig
// of that kind, x as the mesh tensor the devices receive (an attention call also every device's
// KV cache, which its decode replays from), and the output as the devices hold it.
// make_tp_ffn_module makes a gated MLP's TpGatedMlp module and an MoE's EpMoe module, both reducing
// the partial sums as the configs' `ffn` says.
std::shared_ptr<const AttentionModule> make_tp_attention_module(
    const AttentionSpec& spec, const PerMode<AttentionImplConfig>& configs,
    const PerMode<DecoderLayerTpConfig>& mesh, AttentionWeights weights);
std::shared_ptr<const PositionwiseModule> make_tp_ffn_module(
    const FfnSpec& spec, const PerMode<FfnImplConfig>& configs,
    const PerMode<DecoderLayerTpConfig>& mesh, FfnWeights weights);
std::shared_ptr<const PositionwiseModule> make_tp_lm_head_module(
    const LmHeadSpec& spec, const PerMode<LmHeadImplConfig>& configs,
    const PerMode<CausalLmTpConfig>& mesh, WeightSource weight);

}  // namespace ttt

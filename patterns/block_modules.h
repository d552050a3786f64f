// Modules made from TTTv2's blocks, and the choices of block a pattern's Spec can name.
//
// A decoder layer's norms are RMSNorm or LayerNorm, its feed-forward network a gated MLP, a plain
// MLP or a mixture of experts: the Spec holds a std::variant whose alternative picks the block, and
// the ImplConfig holds the same alternative of the block's ImplConfig. In JSON the variant is an
// object with one key, the block kind: {"rms_norm": {"dim": 4096, "eps": 1e-05}}.
//
// Each make_*_module() builds the block once per mode (one block object when both modes have the
// same ImplConfig), shares one lazily loaded float32 copy of every weight between the device path
// (which prepares its device formats from it) and the reference, and describes its calls with
// ModuleInfo: the registered block kind, the Spec and the mode's ImplConfig as JSON, and the
// weights under the input names of the kind's replayer (docs/patterns.md lists them).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>
#include <variant>

#include "blocks/attention/attention.h"
#include "blocks/common/device.h"
#include "blocks/common/weights.h"
#include "blocks/embeddings/embedding.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"
#include "blocks/lm_head/lm_head.h"
#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"
#include "patterns/module.h"

namespace ttt {

// A norm: RMSNorm (Llama, Mistral, Qwen, Gemma with add_unit_offset) or LayerNorm (GPT-2).
using NormSpec = std::variant<RmsNormSpec, LayerNormSpec>;
// The ImplConfig of the same alternative as the NormSpec.
using NormImplConfig = std::variant<RmsNormImplConfig, LayerNormImplConfig>;
// A norm's weights: the scale, and LayerNorm's bias when its spec has one (else undefined).
struct NormWeights {
  WeightSource weight;  // [dim]
  WeightSource bias;    // [dim]
};

// A feed-forward network: gated MLP (SwiGLU, GeGLU), plain MLP (GPT-2) or mixture of experts.
using FfnSpec = std::variant<GatedMlpSpec, MlpSpec, MoeSpec>;
// The ImplConfig of the same alternative as the FfnSpec.
using FfnImplConfig = std::variant<GatedMlpImplConfig, MlpImplConfig, MoeImplConfig>;
// The weights of the same alternative as the FfnSpec.
using FfnWeights = std::variant<GatedMlpWeights, MlpWeights, MoeWeights>;

// The block kind of the chosen alternative: "rms_norm", "layer_norm", "gated_mlp", "mlp", "moe".
std::string_view block_kind(const NormSpec& spec);
std::string_view block_kind(const FfnSpec& spec);

// The normalized dimension of a norm; the model width (hidden_dim) of a feed-forward network.
std::int64_t norm_dim(const NormSpec& spec);
std::int64_t ffn_hidden_dim(const FfnSpec& spec);

// Checks the chosen block's Spec (throws std::invalid_argument as the block does).
void validate(const NormSpec& spec);
void validate(const FfnSpec& spec);
// Checks that `config` holds the alternative `spec` holds, then the config against the spec:
// "[<what>] impl config is layer_norm, spec is rms_norm". `what` names the module in the message.
void validate(const NormSpec& spec, const NormImplConfig& config, std::string_view what);
void validate(const FfnSpec& spec, const FfnImplConfig& config, std::string_view what);

// The chosen block's default_impl_config for a device and mode, with a preset when given.
NormImplConfig default_impl_config(const NormSpec& spec, Device device, Mode mode,
                                   std::optional<Preset> preset = std::nullopt);
FfnImplConfig default_impl_config(const FfnSpec& spec, Device device, Mode mode,
                                  std::optional<Preset> preset = std::nullopt);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: an object with one key, the block kind, holding the block's own JSON. from_json throws
// std::invalid_argument naming an unknown kind or an object with other than one key.
void to_json(nlohmann::json& json, const NormSpec& spec);
void from_json(const nlohmann::json& json, NormSpec& spec);
void read_json(const JsonNode& node, NormSpec& spec);
void to_json(nlohmann::json& json, const NormImplConfig& config);
void from_json(const nlohmann::json& json, NormImplConfig& config);
void read_json(const JsonNode& node, NormImplConfig& config);
void to_json(nlohmann::json& json, const FfnSpec& spec);
void from_json(const nlohmann::json& json, FfnSpec& spec);
void read_json(const JsonNode& node, FfnSpec& spec);
void to_json(nlohmann::json& json, const FfnImplConfig& config);
void from_json(const nlohmann::json& json, FfnImplConfig& config);
void read_json(const JsonNode& node, FfnImplConfig& config);

// Modules from blocks. Each validates the spec, both configs and the weights' shapes without
// loading any weight, and throws std::invalid_argument naming the block and the field.

// A norm module ("rms_norm" or "layer_norm"; inputs x, weight, and bias for a LayerNorm with one).
std::shared_ptr<const PositionwiseModule> make_norm_module(const NormSpec& spec,
                                                           const PerMode<NormImplConfig>& configs,
                                                           NormWeights weights);
// A feed-forward module: "gated_mlp" (x, w_gate, w_up, w_down), "mlp" (x, w_up, w_down, b_up,
// b_down with bias) or "moe" (x, router, w_gate/<e>, w_up/<e>, w_down/<e>). Throws when the
// weights are not the spec's alternative.
std::shared_ptr<const PositionwiseModule> make_ffn_module(const FfnSpec& spec,
                                                          const PerMode<FfnImplConfig>& configs,
                                                          FfnWeights weights);
// The LM head ("lm_head": x, weight). `weight` is [hidden, vocab], or the token embedding table
// [vocab, hidden] when spec.tied_embeddings (pass the embedding's WeightSource: it is shared).
std::shared_ptr<const PositionwiseModule> make_lm_head_module(
    const LmHeadSpec& spec, const PerMode<LmHeadImplConfig>& configs, WeightSource weight);
// Attention ("attention.prefill", "attention.decode": x, and for decode positions, k_cache,
// v_cache; weights wq, wk, wv, wo, and bq, bk, bv, bo, q_norm, k_norm when the spec has them).
std::shared_ptr<const AttentionModule> make_attention_module(
    const AttentionSpec& spec, const PerMode<AttentionImplConfig>& configs,
    AttentionWeights weights);
// The token embedding ("embedding": ids, and positions in decode; token_weight, and
// position_weight for learned positions).
std::shared_ptr<const EmbeddingModule> make_embedding_module(
    const EmbeddingSpec& spec, const PerMode<EmbeddingImplConfig>& configs,
    WeightSource token_weight, WeightSource position_weight = WeightSource());

// A WeightSource that loads `source` once, on first use, and hands the same tensor to everyone
// who loads it afterwards (the device path and the reference of a module share it this way).
// An undefined source stays undefined.
WeightSource load_once(WeightSource source);

}  // namespace ttt

// A pre-norm decoder layer (Llama, Mistral, Qwen, Mixtral, Gemma-2):
//
//   h = x + post_attention_norm(attention(attention_norm(x)))
//   y = h + post_ffn_norm(ffn(ffn_norm(h)))
//
// post_attention_norm and post_ffn_norm are optional (Gemma-2 has both; Llama neither). The two
// additions are the layer's own arithmetic: float32 sums rounded to the ImplConfig's
// residual_dtype (bfloat16 by default, as TTTv1 keeps the residual stream).
//
// Every module call goes through ttt::compare_to_reference under its module path and mode,
// e.g. "layers.3.attention_norm.prefill", "layers.3.attention.decode", "layers.3.ffn.prefill",
// carrying the block kind, Spec and ImplConfig JSON and the device into records and traces, with
// the inputs named as the block kind's replayer expects (docs/patterns.md). The modules come from
// TTTv2's blocks (make_decoder_layer_modules) or from the model (constructor injection: replace
// any member of DecoderLayerModules with your own implementation of the interface).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "blocks/attention/attention.h"
#include "blocks/common/device.h"
#include "patterns/block_modules.h"
#include "patterns/module.h"
#include "patterns/tensor_parallel.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The mathematics of a layer: one Spec per module, named as the modules are.
struct DecoderLayerSpec {
  NormSpec attention_norm = RmsNormSpec{};  // Hugging Face: input_layernorm.
  AttentionSpec attention;
  // Gemma-2's norm of the attention output before the residual addition; unset: none.
  std::optional<NormSpec> post_attention_norm = std::nullopt;
  NormSpec ffn_norm = RmsNormSpec{};  // Llama: post_attention_layernorm; Gemma-2: pre_feedforward.
  FfnSpec ffn = GatedMlpSpec{};
  // Gemma-2's norm of the FFN output before the residual addition; unset: none.
  std::optional<NormSpec> post_ffn_norm = std::nullopt;

  // The model width: attention.hidden_dim.
  std::int64_t hidden_dim() const { return attention.hidden_dim; }

  // Validates every module's Spec and that their widths agree. Throws std::invalid_argument
  // naming the module: "[decoder_layer] ffn.hidden_dim (4095) differs from attention.hidden_dim
  // (4096)".
  void validate() const;
  // "DECODER_LAYER(attention_norm=RMS_NORM(...),attention=ATTENTION(...),ffn_norm=...,ffn=...)",
  // with post_attention_norm and post_ffn_norm when set.
  std::string identity() const;

  bool operator==(const DecoderLayerSpec&) const = default;
};

// The device knobs of a layer in one mode: one ImplConfig per module, named as in the Spec.
struct DecoderLayerImplConfig {
  NormImplConfig attention_norm = RmsNormImplConfig{};
  AttentionImplConfig attention;
  std::optional<NormImplConfig> post_attention_norm = std::nullopt;
  NormImplConfig ffn_norm = RmsNormImplConfig{};
  FfnImplConfig ffn = GatedMlpImplConfig{};
  std::optional<NormImplConfig> post_ffn_norm = std::nullopt;
  // Format of the residual stream: the two sums are rounded to it. Default: bfloat16.
  DType residual_dtype = DType::bfloat16;
  // The mesh the layer runs on, tensor parallel (patterns/tensor_parallel.h): the attention and
  // the FFN are then TpAttention and TpGatedMlp (an MoE: EpMoe, experts spread along the axis),
  // with `attention` and `ffn` configuring each device's block. Unset: one device (and no
  // "tensor_parallel" in the JSON). Both modes name the same mesh. Default: unset.
  std::optional<DecoderLayerTpConfig> tensor_parallel = std::nullopt;

  // Checks every module's config against its Spec, and that the optional norms are configured
  // exactly when the Spec has them. Throws std::invalid_argument naming the module.
  void validate(const DecoderLayerSpec& spec) const;

  bool operator==(const DecoderLayerImplConfig&) const = default;
};

// Each module's default_impl_config for the device and mode (and preset, when given); the
// residual stream in bfloat16.
DecoderLayerImplConfig default_impl_config(const DecoderLayerSpec& spec, Device device, Mode mode,
                                           std::optional<Preset> preset = std::nullopt);
// The same on `mesh`: one device (the above) for 1x1; else tensor parallel along
// default_tp_axis(mesh), with TTTv1's choices for the device (TpAttention's and TpGatedMlp's or
// EpMoe's default_impl_config: each device's block config and the reduction and its collective).
DecoderLayerImplConfig default_impl_config(const DecoderLayerSpec& spec, Device device, Mode mode,
                                           std::optional<Preset> preset, const Mesh& mesh);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: {"attention_norm": {"rms_norm": {...}}, "attention": {...}, "ffn_norm": {...},
// "ffn": {"gated_mlp": {...}}}, plus "post_attention_norm" and "post_ffn_norm" when set (absent
// or null: unset). ImplConfig likewise, with "residual_dtype". Unknown fields are errors naming
// them: "decoder_layer spec: /ffn_nrom: unknown field 'ffn_nrom' (...)".
void to_json(nlohmann::json& json, const DecoderLayerSpec& spec);
void from_json(const nlohmann::json& json, DecoderLayerSpec& spec);
void read_json(const JsonNode& node, DecoderLayerSpec& spec);
void to_json(nlohmann::json& json, const DecoderLayerImplConfig& config);
void from_json(const nlohmann::json& json, DecoderLayerImplConfig& config);
void read_json(const JsonNode& node, DecoderLayerImplConfig& config);

// The reference weights of a layer (float32 values, loaded lazily).
struct DecoderLayerWeights {
  NormWeights attention_norm;
  AttentionWeights attention;
  NormWeights post_attention_norm;  // Only when the Spec has the norm.
  NormWeights ffn_norm;
  FfnWeights ffn = GatedMlpWeights{};
  NormWeights post_ffn_norm;  // Only when the Spec has the norm.
};

// The modules a layer calls, and how it adds their outputs to the residual stream. Any member may
// be the model's own implementation (constructor injection).
struct DecoderLayerModules {
  std::shared_ptr<const PositionwiseModule> attention_norm;
  std::shared_ptr<const AttentionModule> attention;
  std::shared_ptr<const PositionwiseModule> post_attention_norm;  // nullptr: none.
  std::shared_ptr<const PositionwiseModule> ffn_norm;
  std::shared_ptr<const PositionwiseModule> ffn;
  std::shared_ptr<const PositionwiseModule> post_ffn_norm;  // nullptr: none.
  // Format the residual sums are rounded to, per mode. Default: bfloat16.
  PerMode<DType> residual_dtype{DType::bfloat16, DType::bfloat16};
};

// TTTv2's blocks for every module of `spec`, with the prefill and decode configs. Validates the
// spec, the configs and every weight's shape without loading any weight; throws
// std::invalid_argument naming the module. When the configs name a mesh (tensor_parallel), the
// attention and the FFN are tensor parallel (make_tp_attention_module, make_tp_ffn_module) and
// the norms run replicated, as on one device.
DecoderLayerModules make_decoder_layer_modules(const DecoderLayerSpec& spec,
                                               const PerMode<DecoderLayerImplConfig>& configs,
                                               DecoderLayerWeights weights);

// How a pattern wraps its module calls.
struct PatternOptions {
  // The device named in records and traces (`ttt replay` picks its defaults with it), e.g.
  // "N150". Default: "" (unknown).
  std::string device = "";
  // Teacher forcing: every validated call returns its reference output (converted to the device
  // output's dtype), so each module runs on the reference's inputs (CompareOptions::
  // return_reference_output). Default: off.
  bool teacher_forcing = false;
  // false: the calls are not validated (they are still captured when a trace session is
  // active); validation can also be switched off globally (TTT_VALIDATE=0). Default: on.
  bool validate = true;
};

class DecoderLayer {
 public:
  // `path` is the layer's module path: its calls are named "<path>.<module>.<mode>", e.g.
  // "layers.3.attention.decode". Registers TTTv2's block kinds for replay
  // (blocks/registration.h), so that calls use the tolerances of their kinds. Throws
  // std::invalid_argument naming a required module that is missing (attention_norm, attention,
  // ffn_norm, ffn) or an empty path.
  DecoderLayer(std::string path, DecoderLayerModules modules, PatternOptions options = {});

  const std::string& path() const { return path_; }
  const DecoderLayerModules& modules() const { return modules_; }

  // A zero-filled KV cache for this layer's attention.
  KVCache make_cache(std::int64_t max_batch, std::int64_t max_seq_len) const;

  // x [batch, seq, hidden]: user b's tokens at positions 0..seq-1, keys and values written to
  // cache slot first_slot + b. Returns the layer's output, [batch, seq, hidden]. `site` is the
  // caller's: validation records and reports name it as where the calls were made (leave the
  // default).
  Tensor prefill(const Tensor& x, KVCache& cache, std::int64_t first_slot = 0,
                 std::source_location site = std::source_location::current()) const;
  // x [batch, hidden], user b at positions[b] in cache slot b. Returns [batch, hidden].
  Tensor decode(const Tensor& x, const Tensor& positions, KVCache& cache,
                std::source_location site = std::source_location::current()) const;

 private:
  struct Calls;  // The wrapped calls of every module in both modes (decoder_layer.cc).
  // The attention's calls on one device, and on the mesh of a tensor-parallel attention.
  void emplace_attention_calls(Calls& calls,
                               const std::shared_ptr<const AttentionModule>& attention,
                               const PatternOptions& options) const;
  void emplace_mesh_attention_calls(Calls& calls,
                                    const std::shared_ptr<const AttentionModule>& attention,
                                    const PatternOptions& options) const;

  std::string path_;
  DecoderLayerModules modules_;
  std::shared_ptr<const Calls> calls_;
};

}  // namespace ttt

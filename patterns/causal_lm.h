// A causal language model: token embedding -> (embedding norm) -> N decoder layers -> final norm
// -> LM head, with a prefill of a prompt and decode of one token per user against per-layer KV
// caches.
//
// Spec, ImplConfig and weights are trees whose members share names, so
// `impl_config.layers[3].attention` configures the module `spec.layers[3].attention` describes,
// and every call is validated under that module's path: "embedding.prefill",
// "layers.3.attention.decode", "layers.3.ffn.prefill", "norm.decode", "lm_head.prefill", and
// "embedding_norm.prefill" for a model with an embedding norm
// (docs/patterns.md lists every name and the inputs it carries).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "blocks/common/device.h"
#include "blocks/embeddings/embedding.h"
#include "blocks/lm_head/lm_head.h"
#include "patterns/block_modules.h"
#include "patterns/decoder_layer.h"
#include "patterns/module.h"
#include "validation/tensor/tensor.h"

namespace ttt {

class TraceSession;

// The mathematics of the model.
struct CausalLmSpec {
  EmbeddingSpec embedding;
  // A norm of the token embeddings before the first layer (BLOOM's word_embeddings_layernorm).
  // Default: none.
  std::optional<NormSpec> embedding_norm = std::nullopt;
  std::vector<DecoderLayerSpec> layers;
  NormSpec norm = RmsNormSpec{};  // The final norm before the LM head.
  LmHeadSpec lm_head;             // lm_head.tied_embeddings: the LM head reads the token table.

  // Validates every module and that they fit together (widths, vocabulary). Throws
  // std::invalid_argument naming the module: "[causal_lm] layers.3: [decoder_layer] ...",
  // "[causal_lm] lm_head.vocab_size (32000) differs from embedding.vocab_size (32001)".
  void validate() const;
  // "CAUSAL_LM(layers=16,embedding=EMBEDDING(...),layer=DECODER_LAYER(...),norm=...,
  // lm_head=...)" when every layer is alike; otherwise each layer's identity, joined with ';'.
  std::string identity() const;

  bool operator==(const CausalLmSpec&) const = default;
};

// The device knobs of the model in one mode, one per module, named as in the Spec.
struct CausalLmImplConfig {
  EmbeddingImplConfig embedding;
  std::optional<NormImplConfig> embedding_norm = std::nullopt;  // Set exactly when the Spec's is.
  std::vector<DecoderLayerImplConfig> layers;
  NormImplConfig norm = RmsNormImplConfig{};
  LmHeadImplConfig lm_head;
  // The mesh the model runs on (patterns/tensor_parallel.h): the LM head is then TpLmHead, and
  // every layer's config names the same mesh and axis. Unset: one device (and no
  // "tensor_parallel" in the JSON). Default: unset.
  std::optional<CausalLmTpConfig> tensor_parallel = std::nullopt;

  // Checks every module's config against the Spec (one layer config per layer), and that the
  // model and its layers run on one mesh. Throws std::invalid_argument naming the module.
  void validate(const CausalLmSpec& spec) const;

  bool operator==(const CausalLmImplConfig&) const = default;
};

// Each module's default_impl_config for the device and mode (and preset, when given). On a mesh
// of more than one device: tensor parallel along default_tp_axis(mesh) (the layers' defaults on
// the mesh, TpLmHead's for the LM head); 1x1 (the default) is one device.
CausalLmImplConfig default_impl_config(const CausalLmSpec& spec, Device device, Mode mode,
                                       std::optional<Preset> preset = std::nullopt,
                                       const Mesh& mesh = Mesh{});
// Both modes' defaults.
PerMode<CausalLmImplConfig> default_impl_configs(const CausalLmSpec& spec, Device device,
                                                 std::optional<Preset> preset = std::nullopt,
                                                 const Mesh& mesh = Mesh{});

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: {"embedding": {...}, "layers": [{...}, ...], "norm": {"rms_norm": {...}},
// "lm_head": {...}}, plus "embedding_norm": {"layer_norm": {...}} when set (absent otherwise);
// the ImplConfig has the same keys. Unknown fields are errors naming them.
void to_json(nlohmann::json& json, const CausalLmSpec& spec);
void from_json(const nlohmann::json& json, CausalLmSpec& spec);
void read_json(const JsonNode& node, CausalLmSpec& spec);
void to_json(nlohmann::json& json, const CausalLmImplConfig& config);
void from_json(const nlohmann::json& json, CausalLmImplConfig& config);
void read_json(const JsonNode& node, CausalLmImplConfig& config);

// The reference weights of the model (float32 values, loaded lazily).
struct CausalLmWeights {
  WeightSource token_embedding;     // [vocab, hidden]
  WeightSource position_embedding;  // [max_positions, hidden]: learned positions only.
  NormWeights embedding_norm;       // Only when the Spec has the norm.
  std::vector<DecoderLayerWeights> layers;
  NormWeights norm;
  // [hidden, vocab]; leave undefined when spec.lm_head.tied_embeddings (the token table is used).
  WeightSource lm_head;
};

// The modules the model calls. Any member (or any module of a layer) may be the model's own
// implementation (constructor injection).
struct CausalLmModules {
  std::shared_ptr<const EmbeddingModule> embedding;
  std::shared_ptr<const PositionwiseModule> embedding_norm;  // nullptr: none.
  std::vector<DecoderLayerModules> layers;
  std::shared_ptr<const PositionwiseModule> norm;
  std::shared_ptr<const PositionwiseModule> lm_head;
};

// TTTv2's blocks for every module of `spec`. Validates the spec, both configs and every weight's
// shape without loading any weight; throws std::invalid_argument naming the module.
CausalLmModules make_causal_lm_modules(const CausalLmSpec& spec,
                                       const PerMode<CausalLmImplConfig>& configs,
                                       CausalLmWeights weights);

// The KV caches of every layer, for max_batch users of up to max_seq_len positions.
struct CausalLmCache {
  std::vector<KVCache> layers;
};

class CausalLm {
 public:
  // Registers TTTv2's block kinds for replay (blocks/registration.h), so that calls use the
  // tolerances of their kinds. Throws std::invalid_argument naming a missing module
  // ("layers.2.ffn").
  explicit CausalLm(CausalLmModules modules, PatternOptions options = {});

  std::int64_t num_layers() const { return static_cast<std::int64_t>(layers_.size()); }
  const DecoderLayer& layer(std::int64_t index) const;
  const CausalLmModules& modules() const { return modules_; }

  // Zero-filled caches for every layer.
  CausalLmCache make_cache(std::int64_t max_batch, std::int64_t max_seq_len) const;

  // ids [batch, seq] (int32 or int64): the prompts of `batch` users, token t at position t, their
  // keys and values written to cache slots first_slot + b. Returns logits [batch, seq, vocab].
  // `site` is the caller's: validation records and reports name it as where every module call
  // was made, with the module path as the record's name (leave the default).
  Tensor prefill(const Tensor& ids, CausalLmCache& cache, std::int64_t first_slot = 0,
                 std::source_location site = std::source_location::current()) const;
  // One token per user: ids [batch] at positions [batch] (int32 or int64), user b in cache slot
  // b. Returns logits [batch, vocab].
  Tensor decode(const Tensor& ids, const Tensor& positions, CausalLmCache& cache,
                std::source_location site = std::source_location::current()) const;

  // Every weight the model's calls read, named "<module path>.<input>" ("layers.0.attention.wq",
  // "layers.1.ffn.w_gate.3" for expert 3), each tensor once (a tied LM head shares the token
  // table). Loads the weights.
  std::vector<NamedTensor> weights() const;

 private:
  struct Calls;  // The wrapped embedding, norm and LM head calls (causal_lm.cc).

  CausalLmModules modules_;
  std::vector<DecoderLayer> layers_;
  std::shared_ptr<const Calls> calls_;
};

// Registers every weight of `model` with `session` under its name in CausalLm::weights() ('/'
// becomes '.'), so that traces store each weight once, under /tensors, and link it from every
// call (TraceSession::register_shared_tensor).
void register_weights(const CausalLm& model, TraceSession& session);

// The index of the largest value of each row of logits [..., vocab] (the first one on ties):
// greedy decoding's next tokens, shape [...] in int64.
Tensor argmax_tokens(const Tensor& logits);

}  // namespace ttt

// Tensor-parallel token embedding on a mesh, as TTTv1 (tt-transformers embedding.py) runs it: the
// table is sharded along hidden (ShardTensor2dMesh dims=(None, 3)), so device i of the axis holds
// columns i * hidden / n ... of every row (and of the learned position table); the token ids are
// replicated; each device looks up its hidden / n columns with the single-device Embedding
// arithmetic, and the output is split along hidden over the axis. An all_gather of blocks/ccl
// makes it replicated when the caller needs the whole activation (ImplConfig all_gather).
//
// A lookup has no reduction: each device's shard is exactly the columns of the single-device
// Embedding's output, so the composed output equals it bit for bit on every mesh.
//
//   const ttt::TpEmbeddingSpec spec{{128256, 4096}, ttt::parse_mesh("T3K")};
//   const ttt::TpEmbedding embedding(spec, ttt::default_impl_config(spec, ttt::Device::T3K,
//                                                                   ttt::Mode::prefill), weights);
//   ttt::MeshTensor y = embedding.prefill_forward(ttt::distribute(ids, spec.mesh, {}));
//
// Sinusoidal positions are rejected: the sinusoid's wavelengths depend on the whole hidden width,
// which a device's block (hidden / n) does not know.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/ccl/ccl_common.h"
#include "blocks/common/device.h"
#include "blocks/embeddings/embedding.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// The mathematics of the block: an embedding, and the devices its hidden columns are split over.
struct TpEmbeddingSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "tp_embedding";

  EmbeddingSpec embedding{};  // The whole embedding.
  Mesh mesh{};                // The devices.
  int axis = 1;               // The mesh axis hidden is split along (0: rows, 1: columns).

  // embedding.validate(), the axis, n dividing embedding.hidden_dim, positions not sinusoidal:
  // "[tp_embedding] mesh T3K axis 1 (8 devices) does not divide spec.embedding.hidden_dim 100".
  void validate() const;
  // "TP_EMBEDDING(vocab=128256,hidden=4096,scale=1,positions=none,mesh=T3K,axis=1)".
  std::string identity() const;
  // The embedding each device runs: hidden_dim / n.
  EmbeddingSpec device_spec() const;
  bool operator==(const TpEmbeddingSpec&) const = default;
};

// The device knobs.
struct TpEmbeddingImplConfig {
  // Every device's embedding on its columns. Default: the embedding's defaults.
  EmbeddingImplConfig device{};
  // Gather the output along the axis (replicated) instead of leaving it split along hidden.
  // Default: false, TTTv1's embedding output (the decoder's first norm takes it sharded).
  bool all_gather = false;
  // The all_gather's knobs when all_gather. Default: ccl_common.h's default_move_config.
  CclImplConfig ccl{};

  // Throws "[embedding] ..." for the device config, "[tp_embedding] config.ccl..." for the
  // collective's.
  void validate() const;
  bool operator==(const TpEmbeddingImplConfig&) const = default;
};

// The defaults above; presets do not change embeddings (as Embedding's).
TpEmbeddingImplConfig default_impl_config(const TpEmbeddingSpec& spec, Device device, Mode mode);
TpEmbeddingImplConfig default_impl_config(const TpEmbeddingSpec& spec, Device device, Mode mode,
                                          Preset preset);

// JSON: {"embedding": {embedding spec}, "mesh": "T3K", "axis": 1}; ImplConfig {"device":
// {embedding impl_config}, "all_gather": false, "ccl": {...}}. Reading is strict.
void to_json(nlohmann::json& json, const TpEmbeddingSpec& spec);
void from_json(const nlohmann::json& json, TpEmbeddingSpec& spec);
void read_json(const JsonNode& node, TpEmbeddingSpec& spec);
void to_json(nlohmann::json& json, const TpEmbeddingImplConfig& config);
void from_json(const nlohmann::json& json, TpEmbeddingImplConfig& config);
void read_json(const JsonNode& node, TpEmbeddingImplConfig& config);

class TpEmbedding {
 public:
  // Validates the three. The weights are the whole reference tables (EmbeddingWeights); each
  // device's columns are cut when its block first prepares them.
  TpEmbedding(TpEmbeddingSpec spec, TpEmbeddingImplConfig config, EmbeddingWeights weights);

  const TpEmbeddingSpec& spec() const { return spec_; }
  const TpEmbeddingImplConfig& config() const { return config_; }

  // ids on spec.mesh, replicated along spec.axis, shards [..., seq] -> shards [..., seq,
  // hidden / n] split along hidden over the axis (or [..., seq, hidden] replicated with
  // all_gather), for the devices this process holds.
  MeshTensor prefill_forward(const MeshTensor& ids) const;
  // ids shards [batch] at positions [batch] (the same on every device).
  MeshTensor decode_forward(const MeshTensor& ids, const Tensor& positions) const;

 private:
  // The devices' lookups (placed split along hidden), gathered when config.all_gather.
  MeshTensor place(MeshTensor columns) const;

  TpEmbeddingSpec spec_;
  TpEmbeddingImplConfig config_;
  std::vector<Embedding> devices_;  // One per device of the mesh (device order).
};

// The float64 reference: embedding_reference of the composed ids (the whole embedding).
Tensor tp_embedding_reference(const TpEmbeddingSpec& spec, const EmbeddingWeights& weights,
                              const MeshTensor& ids, const Tensor& positions);

}  // namespace ttt

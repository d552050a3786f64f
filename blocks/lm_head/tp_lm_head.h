// Tensor-parallel LM head on a mesh: the vocabulary split across the devices of one mesh axis
// (device i holds vocab/n columns, i * vocab/n ...; rows of the embedding table when tied), each
// device computing its logits with the single-device LmHead arithmetic, then the logits
// all-gathered along the vocabulary through the all_gather block of blocks/ccl (output replicated
// along the axis).
//
// TTTv1 (tt-transformers lm_head.py) shards the output weight over the devices along the
// vocabulary (ShardTensorToMesh(dim=-1)); on N300/T3K its tt_all_reduce(cluster_axis=1) leaves the
// logits split and the host concatenates them (ConcatMeshToTensor). The all-gather here is that
// concatenation done on the mesh: moving logits is exact, so the composed logits equal the
// single-device LmHead's bit for bit on every mesh. TG's layout (hidden split over the columns,
// logits all-reduced) is not modelled.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/ccl/ccl_common.h"
#include "blocks/common/device.h"
#include "blocks/lm_head/lm_head.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// The mathematics of the block: an LM head, and the devices its vocabulary is split over.
struct TpLmHeadSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "tp_lm_head";

  LmHeadSpec lm_head{};  // The whole LM head.
  Mesh mesh{};           // The devices.
  int axis = 1;          // The mesh axis the vocabulary is split along (0: rows, 1: columns).

  // lm_head.validate(), the axis, and n dividing lm_head.vocab_size: "[tp_lm_head] mesh T3K axis
  // 1 (8 devices) does not divide spec.lm_head.vocab_size 100".
  void validate() const;
  // "TP_LM_HEAD(hidden=4096,vocab=128256,tied=0,softcap=0,mesh=T3K,axis=1)".
  std::string identity() const;
  // The LM head each device runs: vocab_size / n.
  LmHeadSpec device_spec() const;
  bool operator==(const TpLmHeadSpec&) const = default;
};

// The device knobs.
struct TpLmHeadImplConfig {
  // Every device's LM head on its columns. Default: the LM head's defaults for one chip holding
  // vocab / n columns.
  LmHeadImplConfig device{};
  // The all-gather of the logits. Default: ccl_common.h's default_move_config (ring on T3K, line
  // elsewhere; bfloat16 output, the logits' dtype, so gathering changes no bit).
  CclImplConfig ccl{};

  void validate() const;
  bool operator==(const TpLmHeadImplConfig&) const = default;
};

// The defaults above; presets leave the LM head unchanged (as LmHead's).
TpLmHeadImplConfig default_impl_config(const TpLmHeadSpec& spec, Device device, Mode mode);
TpLmHeadImplConfig default_impl_config(const TpLmHeadSpec& spec, Device device, Mode mode,
                                       Preset preset);

// JSON: {"lm_head": {lm_head spec}, "mesh": "T3K", "axis": 1}; ImplConfig {"device": {lm_head
// impl_config}, "ccl": {...}}. Reading is strict.
void to_json(nlohmann::json& json, const TpLmHeadSpec& spec);
void from_json(const nlohmann::json& json, TpLmHeadSpec& spec);
void read_json(const JsonNode& node, TpLmHeadSpec& spec);
void to_json(nlohmann::json& json, const TpLmHeadImplConfig& config);
void from_json(const nlohmann::json& json, TpLmHeadImplConfig& config);
void read_json(const JsonNode& node, TpLmHeadImplConfig& config);

class TpLmHead {
 public:
  // Validates the three. The weight is the whole reference weight (LmHeadWeights); each device's
  // columns are cut when its block first prepares them.
  TpLmHead(TpLmHeadSpec spec, TpLmHeadImplConfig config, LmHeadWeights weights);

  const TpLmHeadSpec& spec() const { return spec_; }
  const TpLmHeadImplConfig& config() const { return config_; }

  // x on spec.mesh, replicated along spec.axis, shards [..., seq, hidden] -> logits [..., seq,
  // vocab] replicated along the axis, for the devices this process holds.
  MeshTensor prefill_forward(const MeshTensor& x) const;
  // x shards [batch, hidden].
  MeshTensor decode_forward(const MeshTensor& x) const;

 private:
  MeshTensor gather(const MeshTensor& logits) const;

  TpLmHeadSpec spec_;
  TpLmHeadImplConfig config_;
  std::vector<LmHead> devices_;  // One per device of the mesh (device order).
};

// The float64 reference: lm_head_reference of the composed x (the whole LM head).
Tensor tp_lm_head_reference(const TpLmHeadSpec& spec, const LmHeadWeights& weights,
                            const MeshTensor& x);

}  // namespace ttt

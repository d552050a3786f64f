// Expert-parallel mixture of experts: the experts of a Moe (blocks/ffn/moe.h) spread over one
// mesh axis, as TTTv1 runs Mixtral-8x7B with one expert per T3K chip (tt-metal
// models/demos/t3000/mixtral8x7b/tt/mixtral_moe.py, tt-transformers tt/mixtral_moe.py).
//
// Device d at position p of the axis (n devices) holds experts p*E/n .. (p+1)*E/n - 1 and the
// whole router (replicated). It routes every token exactly as the single-device Moe does, runs
// only its experts on the tokens routed to them and sums their weighted outputs in expert order
// in combine_dtype: that is a Moe holding only those experts (ExpertRange), so the per-expert
// arithmetic is the single-device block's. The devices' partial outputs are then summed over the
// axis by a collective of blocks/ccl (all_reduce by default, as TTTv1; reduce_scatter on request),
// whose ring or line order and partial-sum dtype are everything the mesh changes.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/ccl/ccl_common.h"
#include "blocks/common/device.h"
#include "blocks/ffn/moe.h"
#include "blocks/ffn/tp_gated_mlp.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The mathematics of the block.
struct EpMoeSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "ep_moe";

  MoeSpec moe;   // The whole MoE.
  Mesh mesh{};   // The devices.
  int axis = 1;  // The mesh axis the experts are spread along (0: rows, 1: columns); n devices.

  // moe.validate(), the axis, and n dividing moe.num_experts (whole experts per device) and
  // moe.hidden_dim (the collective chunks hidden): "[ep_moe] mesh 1x3 axis 1 (3 devices) does not
  // divide spec.moe.num_experts 8".
  void validate() const;
  // "EP_MOE(hidden=4096,ffn=14336,experts=8,top_k=2,act=silu,mesh=T3K,axis=1)".
  std::string identity() const;
  // The experts device `device` holds: num_experts / n from its axis position times that.
  ExpertRange device_experts(int device) const;
  bool operator==(const EpMoeSpec&) const = default;
};

// The device knobs.
struct EpMoeImplConfig {
  // Every device's Moe (router, experts, combine_dtype of its local sum). Default: the Moe's.
  MoeImplConfig device{};
  // How the partial outputs are summed. Default: all_reduce (output replicated along the axis).
  TpReduction reduction = TpReduction::all_reduce;
  // The collective's knobs (topology, links, the dtype partial sums travel in, output dtype).
  // Default: ccl_common.h's default_reduce_config (ring on T3K, line elsewhere; bfloat16 partial
  // sums, bfloat8_b on TG).
  CclReduceImplConfig ccl{};

  // Throws "[moe] ..." for the device config, "[ep_moe] config.ccl..." for the collective's.
  void validate(const EpMoeSpec& spec) const;
  bool operator==(const EpMoeImplConfig&) const = default;
};

// TTTv1's choices (docs/multi-device.md "Expert-parallel MoE"): every device's Moe defaults
// (experts as the gated MLP's, router bfloat16), an all_reduce of the partials: on N300/T3K in
// bfloat16 (TTTv1's weighted expert output is bfloat16 and is not cast before its collective),
// ring on T3K and line on N300; on TG in bfloat8_b (tt-transformers casts to ccl_dtype there),
// line. Presets change the experts as the Moe's.
EpMoeImplConfig default_impl_config(const EpMoeSpec& spec, Device device, Mode mode);
EpMoeImplConfig default_impl_config(const EpMoeSpec& spec, Device device, Mode mode, Preset preset);

// JSON: {"moe": {moe spec}, "mesh": "T3K", "axis": 1}; ImplConfig {"device": {moe impl_config},
// "reduction": "all_reduce", "ccl": {...}}. Reading is strict.
void to_json(nlohmann::json& json, const EpMoeSpec& spec);
void from_json(const nlohmann::json& json, EpMoeSpec& spec);
void read_json(const JsonNode& node, EpMoeSpec& spec);
void to_json(nlohmann::json& json, const EpMoeImplConfig& config);
void from_json(const nlohmann::json& json, EpMoeImplConfig& config);
void read_json(const JsonNode& node, EpMoeImplConfig& config);

class EpMoe {
 public:
  // Validates the three. The weights are the whole MoE's (MoeWeights: router and every expert);
  // each device keeps the router and its own experts, prepared the first time it needs them.
  EpMoe(EpMoeSpec spec, EpMoeImplConfig config, MoeWeights weights);

  const EpMoeSpec& spec() const { return spec_; }
  const EpMoeImplConfig& config() const { return config_; }

  // x on spec.mesh, replicated along spec.axis, shards [..., seq, hidden] -> shards [..., seq,
  // hidden] replicated (all_reduce) or [..., seq, hidden / n] split along hidden
  // (reduce_scatter), for the devices this process holds.
  MeshTensor prefill_forward(const MeshTensor& x) const;
  // x shards [batch, hidden].
  MeshTensor decode_forward(const MeshTensor& x) const;

 private:
  EpMoeSpec spec_;
  EpMoeImplConfig config_;
  std::vector<Moe> devices_;  // One per device of the mesh (device order), each its experts.
  std::function<MeshTensor(const MeshTensor&, int dim)> reduce_;
};

// The float64 reference: moe_reference of the composed x (the whole MoE, exact sums).
Tensor ep_moe_reference(const EpMoeSpec& spec, const MoeWeights& weights, const MeshTensor& x);

}  // namespace ttt

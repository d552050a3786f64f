// Tensor-parallel gated MLP on a mesh, as TTTv1 (tt-transformers MLP) runs it on N300 and T3K:
// x replicated along the mesh axis; W_gate and W_up column-parallel (device i of the axis holds
// ffn/n columns, i * ffn/n ...), W_down row-parallel (the same ffn/n rows); each device computes
// its partial output with the single-device GatedMlp arithmetic on its slices, and one collective
// of blocks/ccl sums the partials: a reduce-scatter along the hidden dimension (output split along
// hidden over the axis, TTTv1's tt_all_reduce on a 1-D mesh) or an all-reduce (output
// replicated, TTTv1 on Galaxy).
//
//   const ttt::TpGatedMlpSpec spec{{8192, 28672, ttt::Activation::silu}, ttt::parse_mesh("T3K")};
//   const ttt::TpGatedMlp mlp(spec, ttt::default_impl_config(spec, ttt::Device::T3K,
//                                                            ttt::Mode::decode), weights);
//   ttt::MeshTensor y = mlp.decode_forward(ttt::distribute(x, spec.mesh, {}));  // x replicated
//
// Only the replicated input is supported (TTTv1's N300/T3K MLP input: the norm before it gathers
// the residual); TG's 2-D layout (hidden split over the other axis, FF1 partials reduced) is not.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/ccl/ccl_common.h"
#include "blocks/common/device.h"
#include "blocks/ffn/gated_mlp.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// The collective that sums the row-parallel FF2's partial outputs.
enum class TpReduction : std::uint8_t {
  reduce_scatter,  // Output split along the hidden dimension over the axis.
  all_reduce,      // Output replicated along the axis.
};
// "reduce_scatter", "all_reduce"; parse_tp_reduction throws std::invalid_argument naming the text.
std::string_view tp_reduction_name(TpReduction reduction);
TpReduction parse_tp_reduction(std::string_view name);

// The mathematics of the block: a gated MLP, and the devices it is split over.
struct TpGatedMlpSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "tp_gated_mlp";

  GatedMlpSpec mlp{};  // The whole MLP.
  Mesh mesh{};         // The devices.
  int axis = 1;        // The mesh axis ffn is split along (0: rows, 1: columns); n devices.

  // mlp.validate(), the axis, and n dividing mlp.ffn_dim and mlp.hidden_dim (the collective
  // chunks hidden): "[tp_gated_mlp] mesh T3K axis 1 (8 devices) does not divide spec.mlp.ffn_dim
  // 100".
  void validate() const;
  // "TP_GATED_MLP(hidden=4096,ffn=14336,act=silu,mesh=T3K,axis=1)".
  std::string identity() const;
  // The MLP each device runs: ffn_dim / n.
  GatedMlpSpec device_spec() const;
  bool operator==(const TpGatedMlpSpec&) const = default;
};

// The device knobs.
struct TpGatedMlpImplConfig {
  // Every device's gated MLP on its slices (validated against device_spec()). Default: the gated
  // MLP's defaults with reduction_shards 1 (the mesh splits ffn now).
  GatedMlpImplConfig device{};
  // Default: reduce_scatter on N150, N300 and T3K, all_reduce on TG.
  TpReduction reduction = TpReduction::reduce_scatter;
  // The collective's knobs (topology, links, the dtype partial sums travel in, output dtype).
  // Default: ccl_common.h's default_reduce_config (ring on T3K, line elsewhere; bfloat16, bfloat8_b
  // on TG).
  CclReduceImplConfig ccl{};

  // Throws "[gated_mlp] ..." for the device config, "[tp_gated_mlp] config.ccl..." for the
  // collective's.
  void validate(const TpGatedMlpSpec& spec) const;
  bool operator==(const TpGatedMlpImplConfig&) const = default;
};

// TTTv1's choices (tt-transformers mlp.py and ccl.py tt_all_reduce): on N300/T3K FF2's output
// (bfloat16) is reduce-scattered along hidden (dim 3); on TG FF1/FF3 output bfloat8_b, FF2 outputs
// ccl_dtype (bfloat8_b) and is all-reduced. Presets as the gated MLP's (performance: FF1/FF3
// weights bfloat4_b, LoFi).
TpGatedMlpImplConfig default_impl_config(const TpGatedMlpSpec& spec, Device device, Mode mode);
TpGatedMlpImplConfig default_impl_config(const TpGatedMlpSpec& spec, Device device, Mode mode,
                                         Preset preset);

// JSON: {"mlp": {gated_mlp spec}, "mesh": "T3K", "axis": 1}; ImplConfig {"device": {gated_mlp
// impl_config}, "reduction": "reduce_scatter", "ccl": {...}}. Reading is strict.
void to_json(nlohmann::json& json, const TpGatedMlpSpec& spec);
void from_json(const nlohmann::json& json, TpGatedMlpSpec& spec);
void read_json(const JsonNode& node, TpGatedMlpSpec& spec);
void to_json(nlohmann::json& json, const TpGatedMlpImplConfig& config);
void from_json(const nlohmann::json& json, TpGatedMlpImplConfig& config);
void read_json(const JsonNode& node, TpGatedMlpImplConfig& config);

class TpGatedMlp {
 public:
  // Validates the three. The weights are the whole reference weights (GatedMlpWeights); each
  // device's slices are cut when its block first prepares them.
  TpGatedMlp(TpGatedMlpSpec spec, TpGatedMlpImplConfig config, GatedMlpWeights weights);

  const TpGatedMlpSpec& spec() const { return spec_; }
  const TpGatedMlpImplConfig& config() const { return config_; }

  // x on spec.mesh, replicated along spec.axis, shards [..., seq, hidden] -> shards [..., seq,
  // hidden / n] split along hidden (reduce_scatter) or [..., seq, hidden] replicated
  // (all_reduce), for the devices this process holds.
  MeshTensor prefill_forward(const MeshTensor& x) const;
  // x shards [batch, hidden].
  MeshTensor decode_forward(const MeshTensor& x) const;

 private:
  TpGatedMlpSpec spec_;
  TpGatedMlpImplConfig config_;
  std::vector<GatedMlp> devices_;  // One per device of the mesh (device order).
  // The collective, chosen once: partials (sharded dim) -> the reduced mesh tensor.
  std::function<MeshTensor(const MeshTensor&, int dim)> reduce_;
};

// The float64 reference: gated_mlp_reference of the composed x (the whole MLP).
Tensor tp_gated_mlp_reference(const TpGatedMlpSpec& spec, const GatedMlpWeights& weights,
                              const MeshTensor& x);

}  // namespace ttt

// The gated MLP on a 2-D mesh, as TTTv1 (tt-transformers mlp.py) runs it on Galaxy/TG (8x4): one
// mesh axis splits the hidden dimension, the other the ffn dimension.
//
// With H devices on the hidden axis and F on the ffn axis (TG: hidden over the 4 columns, ffn
// over the 8 rows; mlp.py shards w1/w3 with ShardTensor2dMesh dims (-1, -2) and w2 with (-2, -1)):
//   x         [..., hidden/H] per device: split along hidden on the hidden axis, replicated on the
//             ffn axis (TTTv1's residual stream on TG);
//   FF1, FF3  device (f, h) multiplies its x slice by W_gate/W_up[h-th hidden rows, f-th ffn
//             columns]: a partial sum over hidden/H of the ffn/F gate and up columns;
//   reduce 1  the gate and up partials are all-reduced along the hidden axis (mlp.py: cluster_axis
//             1), config.ff1_ccl;
//   act       act(gate) * up on the device's ffn/F columns, stored in ff2.activation_dtype;
//   FF2       times W_down[f-th ffn rows, h-th hidden columns]: a partial sum over ffn/F of the
//             device's hidden/H output columns;
//   reduce 2  all-reduced along the ffn axis (mlp.py: tt_all_reduce cluster_axis 0),
//   config.ff2_ccl.
// The output [..., hidden/H] is placed as x (split along hidden, replicated on the ffn axis).
//
//   const ttt::Tp2dGatedMlpSpec spec{{8192, 28672, ttt::Activation::silu}, ttt::parse_mesh("TG")};
//   const ttt::Tp2dGatedMlp mlp(spec, ttt::default_impl_config(spec, ttt::Device::TG,
//                                                              ttt::Mode::decode), weights);
//   ttt::MeshTensor y = mlp.decode_forward(ttt::distribute(
//       x, spec.mesh, {ttt::Placement::replicate(), ttt::Placement::shard(1)}));
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/ccl/ccl_common.h"
#include "blocks/common/checks.h"
#include "blocks/common/device.h"
#include "blocks/common/matmul.h"
#include "blocks/ffn/activation.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/projection.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// The mathematics of the block: a gated MLP, the devices, and which axis splits what.
struct Tp2dGatedMlpSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "tp2d_gated_mlp";

  GatedMlpSpec mlp{};   // The whole MLP.
  Mesh mesh{};          // The devices.
  int hidden_axis = 1;  // The mesh axis hidden is split along (0: rows, 1: columns; TG: 1).

  // The other axis: ffn is split along it (TG: 0, the 8 rows).
  int ffn_axis() const { return 1 - hidden_axis; }
  // mlp.validate(), hidden_axis 0 or 1, F dividing ffn_dim and H hidden_dim (the weight cuts), and
  // the collectives' chunks: H dividing ffn_dim / F and F dividing hidden_dim / H.
  // "[tp2d_gated_mlp] mesh TG axis 0 (8 devices) does not divide spec.mlp.ffn_dim 100".
  void validate() const;
  // "TP2D_GATED_MLP(hidden=8192,ffn=28672,act=silu,mesh=TG,hidden_axis=1)".
  std::string identity() const;
  bool operator==(const Tp2dGatedMlpSpec&) const = default;
};

// The device knobs: every device's matmuls and the two collectives.
struct Tp2dGatedMlpImplConfig {
  // FF1 and FF3 on every device (the gated MLP's knobs; output_dtype is the dtype of the partials
  // before they travel). Default: the gated MLP's, with bfloat8_b output on TG (mlp.py).
  MatmulConfig ff1_ff3{DType::bfloat16, DType::bfloat8_b, DType::bfloat16, MathFidelity::HiFi2,
                       Accumulation::bf16};
  // FF2 on every device; activation_dtype is the format act(gate) * up is stored in. Default: the
  // gated MLP's, with the output in ccl_dtype bfloat8_b on TG (mlp.py).
  MatmulConfig ff2{DType::bfloat8_b, DType::bfloat8_b, DType::bfloat16, MathFidelity::HiFi2,
                   Accumulation::bf16};
  // The all-reduce of the FF1/FF3 partials along the hidden axis. Default on TG: line, partials in
  // bfloat8_b out bfloat8_b (mlp.py's reduce_scatter_minimal_async of the bfloat8_b FF1 output,
  // then all_gather after the multiply) in prefill or when hidden >= 8192; in decode with hidden <
  // 8192 in bfloat16 out bfloat16 (tt_all_reduce's default dtype).
  CclReduceImplConfig ff1_ccl{};
  // The all-reduce of the FF2 partials along the ffn axis. Default on TG: line, partials and result
  // in ccl_dtype bfloat8_b (tt_all_reduce(dtype=ccl_dtype), cluster_axis 0).
  CclReduceImplConfig ff2_ccl{};

  // Throws "[tp2d_gated_mlp] config.ff2.weight_dtype is int32, ..." or the collective's error.
  void validate(const Tp2dGatedMlpSpec& spec) const;
  bool operator==(const Tp2dGatedMlpImplConfig&) const = default;
};

// TTTv1's choices on TG above (tt-transformers mlp.py, ccl.py tt_all_reduce, model_config.py
// ccl_dtype and ccl_topology). On another device (TTTv1 runs no 2-D MLP there) the gated MLP's
// matmul defaults and ccl_common.h's default_reduce_config for both collectives. Presets as the
// gated MLP's (performance: FF1/FF3 weights bfloat4_b, LoFi).
Tp2dGatedMlpImplConfig default_impl_config(const Tp2dGatedMlpSpec& spec, Device device, Mode mode);
Tp2dGatedMlpImplConfig default_impl_config(const Tp2dGatedMlpSpec& spec, Device device, Mode mode,
                                           Preset preset);

// JSON: {"mlp": {gated_mlp spec}, "mesh": "TG", "hidden_axis": 1}; ImplConfig {"ff1_ff3": {...},
// "ff2": {...}, "ff1_ccl": {...}, "ff2_ccl": {...}}. Reading is strict.
void to_json(nlohmann::json& json, const Tp2dGatedMlpSpec& spec);
void from_json(const nlohmann::json& json, Tp2dGatedMlpSpec& spec);
void read_json(const JsonNode& node, Tp2dGatedMlpSpec& spec);
void to_json(nlohmann::json& json, const Tp2dGatedMlpImplConfig& config);
void from_json(const nlohmann::json& json, Tp2dGatedMlpImplConfig& config);
void read_json(const JsonNode& node, Tp2dGatedMlpImplConfig& config);

class Tp2dGatedMlp {
 public:
  // Validates the three. The weights are the whole reference weights (GatedMlpWeights); each
  // device's 2-D slices are cut when it first prepares them.
  Tp2dGatedMlp(Tp2dGatedMlpSpec spec, Tp2dGatedMlpImplConfig config, GatedMlpWeights weights);

  const Tp2dGatedMlpSpec& spec() const { return spec_; }
  const Tp2dGatedMlpImplConfig& config() const { return config_; }

  // x on spec.mesh, shards [..., seq, hidden / H] split along hidden (shard(last dim)) on the
  // hidden axis and replicated on the ffn axis -> shards [..., seq, hidden / H] placed the same,
  // in ff2_ccl.output_dtype, for the devices this process holds.
  MeshTensor prefill_forward(const MeshTensor& x) const;
  // x shards [batch, hidden / H].
  MeshTensor decode_forward(const MeshTensor& x) const;

 private:
  // One device's projections on its 2-D slices of the weights.
  struct Projections {
    ffn_detail::ShardedProjection gate;
    ffn_detail::ShardedProjection up;
    ffn_detail::ShardedProjection down;
  };
  MeshTensor forward(const MeshTensor& x, const char* name, InputRows rows) const;

  Tp2dGatedMlpSpec spec_;
  Tp2dGatedMlpImplConfig config_;
  std::vector<Projections> devices_;  // One per device of the mesh (device order).
  ActivationKernel activation_ = nullptr;
  // The two all-reduces, chosen once: partials (split along `dim`) -> their sums.
  std::function<MeshTensor(const MeshTensor&, int dim)> ff1_reduce_;  // Along the hidden axis.
  std::function<MeshTensor(const MeshTensor&, int dim)> ff2_reduce_;  // Along the ffn axis.
};

// The float64 reference: gated_mlp_reference of the composed x (the whole MLP), x checked as the
// forwards check it.
Tensor tp2d_gated_mlp_reference(const Tp2dGatedMlpSpec& spec, const GatedMlpWeights& weights,
                                const MeshTensor& x);

}  // namespace ttt

// Reduce-scatter along one mesh axis: the n devices of a row (axis 1) or column (axis 0) each
// hold a partial tensor of one shape; device position c ends with chunk c (of n, along tensor
// dimension `dim`) of their sum. TTNN's ttnn.reduce_scatter(x, dim, cluster_axis=axis); TTTv1
// reduces row-parallel matmul outputs (the MLP's FF2, attention's WO) with it.
//
// Device numerics (docs/numerics.md "Collectives"): every input is rounded to
// config.reduce_dtype before it travels. Ring: chunk c starts at position (c + 1) % n and travels
// the ring, acc = round(acc + x[(c + k) % n][c]) for k = 2..n, ending at its owner c. Line: chunk
// c accumulates from position 0 to n - 1. Each hop adds in float32 and rounds to reduce_dtype;
// the result is rounded once more to config.output_dtype. The input's placement along `axis` is
// not read (each device's shard is its partial); the output is sharded along `axis` at `dim` and
// keeps the input's placement on the other axis.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "blocks/ccl/ccl_common.h"
#include "blocks/common/device.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// The mathematics of the block.
struct ReduceScatterSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "reduce_scatter";

  Mesh mesh{};   // The devices. The group size n is mesh.axis_size(axis).
  int axis = 1;  // 0: within each column (over rows), 1: within each row (over columns).
  int dim = 0;   // The tensor dimension the sum is scattered along. REQUIRES: >= 0; at forward
                 // time n must divide it.
  // The last dimension of the whole input a seeded call draws (suites; 0: unset). Not read by
  // forward(): any input fits the collective. docs/multi-device.md "Seeded collective inputs".
  std::int64_t width = 0;

  // Throws "[reduce_scatter] spec.axis must be 0 (rows) or 1 (columns), got 2".
  void validate() const;
  // "REDUCE_SCATTER(mesh=T3K,axis=1,dim=3)".
  std::string identity() const;
  bool operator==(const ReduceScatterSpec&) const = default;
};

// TTTv1's choices (ccl_common.h): ring on T3K, line elsewhere; 1 link; partial sums in bfloat16
// (bfloat8_b on TG); bfloat16 output. Presets do not change collectives.
CclReduceImplConfig default_impl_config(const ReduceScatterSpec& spec, Device device, Mode mode);
CclReduceImplConfig default_impl_config(const ReduceScatterSpec& spec, Device device, Mode mode,
                                        Preset preset);

// JSON: {"mesh": "T3K", "axis": 1, "dim": 3} (+ "width" when set); reading is strict.
void to_json(nlohmann::json& json, const ReduceScatterSpec& spec);
void from_json(const nlohmann::json& json, ReduceScatterSpec& spec);
void read_json(const JsonNode& node, ReduceScatterSpec& spec);

class ReduceScatter {
 public:
  // Validates spec and config; chooses the hop order of the topology once.
  ReduceScatter(ReduceScatterSpec spec, CclReduceImplConfig config);

  const ReduceScatterSpec& spec() const { return spec_; }
  const CclReduceImplConfig& config() const { return config_; }

  // x on spec.mesh, shards [..., L, ...] (L at `dim`) -> shards [..., L / n, ...] in
  // config.output_dtype, for the devices this process holds. Throws std::invalid_argument naming
  // the mesh, the dim or the device for an input that does not fit the spec.
  MeshTensor forward(const MeshTensor& x) const;
  // A collective has no prefill/decode difference: both are forward().
  MeshTensor prefill_forward(const MeshTensor& x) const { return forward(x); }
  MeshTensor decode_forward(const MeshTensor& x) const { return forward(x); }

 private:
  ReduceScatterSpec spec_;
  CclReduceImplConfig config_;
  ccl_detail::HopOrder order_ = nullptr;
};

// The float64 reference: the composed result (each group's sum in double, composed over the mesh
// as the output's placements say: a 1xN mesh composes to the whole sum).
Tensor reduce_scatter_reference(const ReduceScatterSpec& spec, const MeshTensor& x);

}  // namespace ttt

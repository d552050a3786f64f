// Distributed RMSNorm: the RMSNorm of a tensor whose hidden (last) dimension is split across one
// mesh axis, computed as TTTv1 computes it (tt-transformers ccl.py tt_distributed_rmsnorm, used by
// DistributedNorm for TG and for T3K prefill norms):
//   1. every device computes the sum of squares of its shard's rows (ttnn.rms_norm_pre_all_gather)
//      and rounds it to config.stats_dtype (TTTv1: bfloat16);
//   2. the statistics are all-gathered along the axis (the all_gather block, config.all_gather,
//      through mesh_transport(): the in-process and the MPI transport give the same bits);
//   3. every device sums the gathered statistics in axis order, starting from 0, in float32, and
//      normalises its own shard with its shard of the weight (ttnn.rms_norm_post_all_gather).
// The output is sharded exactly as the input. Steps 1 and 3 use RmsNorm's kernels (the
// accumulation, the intermediate buffers), so with bfloat16 or float32 statistics the result is
// bit for bit RmsNorm's with config.stat_shards = the axis's device count (docs/multi-device.md).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "blocks/ccl/all_gather.h"
#include "blocks/ccl/ccl_common.h"
#include "blocks/common/device.h"
#include "blocks/common/weights.h"
#include "blocks/normalization/rms_norm.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// The mathematics: RMSNorm over `dim`, and the mesh axis `dim` is split across.
struct DistributedRmsNormSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "distributed_rms_norm";

  std::int64_t dim = 0;  // The whole hidden dimension. REQUIRES: > 0, divisible by the axis.
  double eps = 1e-5;     // Added to the mean square. REQUIRES: finite, >= 0.
  bool add_unit_offset = false;  // Scale by (1 + weight) instead of weight (Gemma).
  Mesh mesh{};                   // The devices.
  int axis = 1;                  // The mesh axis `dim` is split across: 0 rows, 1 columns.

  // The RMSNorm this block computes.
  RmsNormSpec norm() const { return {dim, eps, add_unit_offset}; }
  // Throws "[distributed_rms_norm] mesh T3K axis 1 (8 devices) does not divide spec.dim 4100".
  void validate() const;
  // "DISTRIBUTED_RMS_NORM(dim=8192,eps=1e-05,offset=0,mesh=T3K,axis=1)".
  std::string identity() const;
  bool operator==(const DistributedRmsNormSpec&) const = default;
};

// The device knobs: RmsNorm's that apply to one device's shard, and the exchange of statistics.
struct DistributedRmsNormImplConfig {
  // Format x is held in. Default: bfloat16.
  DType activation_dtype = DType::bfloat16;
  // Format the (offset) weight is stored in. Default: bfloat16.
  DType weight_dtype = DType::bfloat16;
  // Format of the result. Default: bfloat16.
  DType output_dtype = DType::bfloat16;
  // The destination register of both kernels (RmsNormImplConfig::accumulation). Default: fp32
  // (TTTv1's LN_COMPUTE_KERNEL_CONFIG has fp32_dest_acc_en).
  Accumulation accumulation = Accumulation::fp32;
  // Format a device's sum of squares is rounded to before it is sent. Default: bfloat16
  // (rms_norm_pre_all_gather(dtype=ttnn.bfloat16) in tt_distributed_rmsnorm).
  DType stats_dtype = DType::bfloat16;
  // The all-gather of the statistics; its output_dtype is the format the gathered statistics are
  // held in (bfloat16 keeps bfloat16 statistics exact; set both to float32 for float32 statistics).
  // Default: TTTv1's ccl_topology, 1 link (tt_distributed_rmsnorm gathers with num_links=1),
  // bfloat16.
  CclImplConfig all_gather{};

  // Throws "[distributed_rms_norm] config.stats_dtype is int32, expected a floating dtype".
  void validate(const DistributedRmsNormSpec& spec) const;
  bool operator==(const DistributedRmsNormImplConfig&) const = default;
};

// TTTv1's settings for `device` (see the fields' defaults). Presets do not change norms.
DistributedRmsNormImplConfig default_impl_config(const DistributedRmsNormSpec& spec, Device device,
                                                 Mode mode);
DistributedRmsNormImplConfig default_impl_config(const DistributedRmsNormSpec& spec, Device device,
                                                 Mode mode, Preset preset);

// JSON: {"dim": 8192, "eps": 1e-05, "add_unit_offset": false, "mesh": "T3K", "axis": 1} and
// {"activation_dtype": ..., "stats_dtype": "bfloat16", "all_gather": {"topology": "ring", ...}}.
// Reading is strict (unknown fields and wrong types name the JSON path); ImplConfig fields may be
// omitted.
void to_json(nlohmann::json& json, const DistributedRmsNormSpec& spec);
void from_json(const nlohmann::json& json, DistributedRmsNormSpec& spec);
void read_json(const JsonNode& node, DistributedRmsNormSpec& spec);
void to_json(nlohmann::json& json, const DistributedRmsNormImplConfig& config);
void from_json(const nlohmann::json& json, DistributedRmsNormImplConfig& config);
void read_json(const JsonNode& node, DistributedRmsNormImplConfig& config);

// The reference weight (the BlockKind's "weight"): the whole [dim] scale; device p of the axis
// uses its slice [p * dim / n, (p + 1) * dim / n).
struct DistributedRmsNormWeights {
  WeightSource weight;  // [dim]: the scale g, or g - 1 with add_unit_offset.
};

// Checks the weight against the spec without loading it: "[distributed_rms_norm] weight has
// shape [4095], expected [4096]".
void validate(const DistributedRmsNormSpec& spec, const DistributedRmsNormWeights& weights);

class DistributedRmsNorm {
 public:
  // Validates the spec, the config and the weight's shape without loading it.
  DistributedRmsNorm(DistributedRmsNormSpec spec, DistributedRmsNormImplConfig config,
                     DistributedRmsNormWeights weights);

  const DistributedRmsNormSpec& spec() const { return spec_; }
  const DistributedRmsNormImplConfig& config() const { return config_; }

  // x on spec.mesh, placed shard(last dim) along spec.axis: shards [..., seq, dim / n]
  // (decode: [batch, dim / n]) -> the same shapes and placements in config.output_dtype, for the
  // devices this process holds. Throws std::invalid_argument naming the mesh, the axis and the
  // dim for an input that is not split along its hidden dimension as the spec says.
  MeshTensor prefill_forward(const MeshTensor& x) const;
  MeshTensor decode_forward(const MeshTensor& x) const;

 private:
  MeshTensor forward(const MeshTensor& x, const char* forward_name, bool decode) const;

  DistributedRmsNormSpec spec_;
  DistributedRmsNormImplConfig config_;
  AllGather gather_;
  Prepared<Tensor> weight_;  // The whole scale in weight_dtype (held as float32).
  float (*sum_of_squares_)(const float* values, std::int64_t count) = nullptr;
  float (*round_intermediate_)(float) = nullptr;
  DType exchanged_stats_dtype_ = DType::float32;  // A device's sum is rounded to this.
};

// The float64 reference: rms_norm_reference of the composed input (the shards gathered through
// mesh_transport()), composed as a whole tensor [..., dim]. Checks the input as the forward does.
Tensor distributed_rms_norm_reference(const DistributedRmsNormSpec& spec,
                                      const DistributedRmsNormWeights& weights,
                                      const MeshTensor& x);

}  // namespace ttt

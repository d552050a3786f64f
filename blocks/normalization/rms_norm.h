// RMSNorm: y = x / sqrt(mean(x^2) + eps) * g, over the last dimension, where g is the weight, or
// (1 + weight) in Gemma's variant (add_unit_offset).
//
// Device numerics (TTTv1): x in bfloat16, statistics in float32, the weight stored in bfloat16
// (Gemma's 1 + weight is formed on the host before it is stored, as TTTv1 does), the output
// rounded to bfloat16. As in tt-metal's rmsnorm kernel, x / rms is held in an intermediate buffer
// before it is multiplied by the weight; that buffer is float32 under fp32 accumulation (TTTv1:
// one rounding, at the output) and bfloat16 under bf16 accumulation (a second rounding, as are
// x^2, the mean square and 1 / rms). When the hidden dimension is sharded over chips (Galaxy,
// distributed prefill norms on T3K) each chip's partial sum of squares is rounded to `stats_dtype`
// before the chips combine them.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "blocks/common/device.h"
#include "blocks/common/weights.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The mathematics of the block.
struct RmsNormSpec {
  std::int64_t dim = 0;          // Size of the normalized (last) dimension. REQUIRES: > 0.
  double eps = 1e-5;             // Added to the mean square. REQUIRES: finite, >= 0.
  bool add_unit_offset = false;  // Scale by (1 + weight) instead of weight (Gemma).

  // Throws std::invalid_argument "[rms_norm] spec.dim must be > 0, got 0".
  void validate() const;
  // "RMS_NORM(dim=4096,eps=1e-05,offset=0)".
  std::string identity() const;

  bool operator==(const RmsNormSpec&) const = default;
};

// The device knobs.
struct RmsNormImplConfig {
  // Format x is held in. Default: bfloat16.
  DType activation_dtype = DType::bfloat16;
  // Format the (offset) weight is stored in. Default: bfloat16 (TTTv1 keeps norm weights in it).
  DType weight_dtype = DType::bfloat16;
  // Format of the result. Default: bfloat16.
  DType output_dtype = DType::bfloat16;
  // The destination register (fp32_dest_acc_en): fp32, or bf16, where the running sum of squares
  // is rounded after every 32 values (a tile row). It also sets the format of the kernel's
  // intermediate buffers (x^2, mean square, 1 / rms, x / rms): float32, or bfloat16 under bf16.
  // Default: fp32 (TTTv1's norms run with fp32_dest_acc_en = True).
  Accumulation accumulation = Accumulation::fp32;
  // Chips the normalized dimension is split over; each computes a partial sum of squares.
  // REQUIRES: >= 1 and dividing spec.dim. Default: 1.
  std::int64_t stat_shards = 1;
  // Format a partial sum is exchanged in when stat_shards > 1. Default: bfloat16 (TTTv1's
  // rms_norm_pre_all_gather output).
  DType stats_dtype = DType::bfloat16;

  // Throws "[rms_norm] config.stat_shards 3 does not divide spec.dim 4096".
  void validate(const RmsNormSpec& spec) const;

  bool operator==(const RmsNormImplConfig&) const = default;
};

// TTTv1's settings: the above defaults; on TG the hidden dimension is split over the 4 mesh
// columns, on T3K prefill norms are distributed over the 8 chips. Presets do not change norms
// (TTTv1 runs every norm in bfloat16 with float32 statistics in both).
RmsNormImplConfig default_impl_config(const RmsNormSpec& spec, Device device, Mode mode);
RmsNormImplConfig default_impl_config(const RmsNormSpec& spec, Device device, Mode mode,
                                      Preset preset);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: {"dim": 4096, "eps": 1e-05, "add_unit_offset": false}; errors name the JSON path.
void to_json(nlohmann::json& json, const RmsNormSpec& spec);
void from_json(const nlohmann::json& json, RmsNormSpec& spec);
void read_json(const JsonNode& node, RmsNormSpec& spec);
// {"activation_dtype": "bfloat16", ..., "accumulation": "fp32", "stat_shards": 1, ...}; fields
// may be omitted (they keep their defaults).
void to_json(nlohmann::json& json, const RmsNormImplConfig& config);
void from_json(const nlohmann::json& json, RmsNormImplConfig& config);
void read_json(const JsonNode& node, RmsNormImplConfig& config);

// The reference weight (the BlockKind's "weight").
struct RmsNormWeights {
  WeightSource weight;  // [dim]: the scale g, or g - 1 with add_unit_offset.
};

// Checks the weight against the spec without loading it: "[rms_norm] weight has shape [4095],
// expected [4096]".
void validate(const RmsNormSpec& spec, const RmsNormWeights& weights);

// The block with its device weight, prepared lazily (once) from the reference weight.
class RmsNorm {
 public:
  // Validates the spec, the config and the weight's shape ([dim]) without loading it.
  RmsNorm(RmsNormSpec spec, RmsNormImplConfig config, RmsNormWeights weights);

  const RmsNormSpec& spec() const { return spec_; }
  const RmsNormImplConfig& config() const { return config_; }
  // True once a forward has prepared the device weight.
  bool weights_prepared() const { return weight_.ready(); }

  // x [..., seq, dim] (rank >= 1) -> same shape in the output dtype.
  Tensor prefill_forward(const Tensor& x) const;
  // x [batch, dim]: one token per user. Same numerics as prefill.
  Tensor decode_forward(const Tensor& x) const;

 private:
  Tensor forward(const Tensor& x) const;
  RmsNormSpec spec_;
  RmsNormImplConfig config_;
  Prepared<Tensor> weight_;
  float (*round_intermediate_)(float) = nullptr;  // To the intermediate buffers' format.
  DType exchanged_stats_dtype_ = DType::float32;  // Partial sums are rounded to this.
};

// The reference in float64: x [..., dim] and the weight as given (float32 values, no device
// formats), returns float32. Shares no code with the device path.
Tensor rms_norm_reference(const RmsNormSpec& spec, const RmsNormWeights& weights, const Tensor& x);

}  // namespace ttt

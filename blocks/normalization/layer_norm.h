// LayerNorm: y = (x - mean(x)) / sqrt(var(x) + eps) * weight (+ bias), over the last dimension
// (GPT-2, BERT, BLOOM). var is the biased variance, as torch.nn.LayerNorm computes it.
//
// Device numerics (TTTv1): x in bfloat16, mean and variance in float32 (the variance from the
// centered values), weight and bias stored in bfloat16, output rounded to bfloat16. As in
// tt-metal's layernorm kernel, intermediates (mean, x - mean, its squares, variance, 1 / std, the
// normalized x and, with a bias, its product with the weight) are held in buffers that are
// float32 under fp32 accumulation and bfloat16 under bf16 accumulation.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "blocks/common/device.h"
#include "blocks/common/weights.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The mathematics of the block.
struct LayerNormSpec {
  std::int64_t dim = 0;  // Size of the normalized (last) dimension. REQUIRES: > 0.
  double eps = 1e-5;     // Added to the variance. REQUIRES: finite, >= 0.
  bool bias = true;      // Whether a bias (beta) [dim] is added.

  // Throws std::invalid_argument "[layer_norm] spec.dim must be > 0, got 0".
  void validate() const;
  // "LAYER_NORM(dim=768,eps=1e-05,bias=1)".
  std::string identity() const;

  bool operator==(const LayerNormSpec&) const = default;
};

// The device knobs.
struct LayerNormImplConfig {
  // Format x is held in. Default: bfloat16.
  DType activation_dtype = DType::bfloat16;
  // Format weight and bias are stored in. Default: bfloat16.
  DType weight_dtype = DType::bfloat16;
  // Format of the result. Default: bfloat16.
  DType output_dtype = DType::bfloat16;
  // The destination register (fp32_dest_acc_en): fp32, or bf16, where running sums are rounded
  // after every 32 values. It also sets the format of the kernel's intermediate buffers: float32,
  // or bfloat16 under bf16. Default: fp32.
  Accumulation accumulation = Accumulation::fp32;

  // Throws "[layer_norm] config.weight_dtype is int32, expected a floating dtype".
  void validate() const;

  bool operator==(const LayerNormImplConfig&) const = default;
};

// The defaults above on every device and mode: the LayerNorm models of the catalog (GPT-2,
// BERT, BLOOM) fit one chip, so no device shards the statistics. Presets do not change norms.
LayerNormImplConfig default_impl_config(const LayerNormSpec& spec, Device device, Mode mode);
LayerNormImplConfig default_impl_config(const LayerNormSpec& spec, Device device, Mode mode,
                                        Preset preset);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: {"dim": 768, "eps": 1e-05, "bias": true}; errors name the JSON path.
void to_json(nlohmann::json& json, const LayerNormSpec& spec);
void from_json(const nlohmann::json& json, LayerNormSpec& spec);
void read_json(const JsonNode& node, LayerNormSpec& spec);
void to_json(nlohmann::json& json, const LayerNormImplConfig& config);
void from_json(const nlohmann::json& json, LayerNormImplConfig& config);
void read_json(const JsonNode& node, LayerNormImplConfig& config);

// The reference weights (the BlockKind's "weight", "bias").
struct LayerNormWeights {
  WeightSource weight;  // [dim]
  WeightSource bias{};  // [dim] when spec.bias, else undefined.
};

// Checks the weight [dim] and the bias [dim], present exactly when spec.bias, without loading:
// "[layer_norm] bias is missing: spec.bias is set".
void validate(const LayerNormSpec& spec, const LayerNormWeights& weights);

// The block with its device weights, prepared lazily (once).
class LayerNorm {
 public:
  // Validates the spec, the config and the weights' shapes without loading them.
  LayerNorm(LayerNormSpec spec, LayerNormImplConfig config, LayerNormWeights weights);

  const LayerNormSpec& spec() const { return spec_; }
  const LayerNormImplConfig& config() const { return config_; }
  bool weights_prepared() const { return weights_.ready(); }

  // x [..., seq, dim] -> same shape in the output dtype.
  Tensor prefill_forward(const Tensor& x) const;
  // x [batch, dim]. Same numerics as prefill.
  Tensor decode_forward(const Tensor& x) const;

 private:
  struct DeviceWeights {
    Tensor weight;
    Tensor bias;  // Zeros when the spec has no bias (adding 0 is exact).
  };
  Tensor forward(const Tensor& x) const;

  LayerNormSpec spec_;
  LayerNormImplConfig config_;
  Prepared<DeviceWeights> weights_;
  float (*round_intermediate_)(float) = nullptr;  // To the intermediate buffers' format.
};

// The reference in float64 on the given float32 values: x [..., dim], returns float32.
Tensor layer_norm_reference(const LayerNormSpec& spec, const LayerNormWeights& weights,
                            const Tensor& x);

}  // namespace ttt

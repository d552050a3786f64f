// MLP: y = act(x · W_up + b_up) · W_down + b_down (GPT-2, BERT, BLOOM; biases optional).
// Weights are [in, out]: W_up [hidden, ffn], W_down [ffn, hidden]; biases b_up [ffn], b_down
// [hidden].
//
// Device numerics follow the gated MLP's (TTTv1 defaults): FF1 (up) and FF2 (down) with
// bfloat8_b weights, HiFi2, bfloat16 accumulation; the bias is added to the accumulator; the
// activation in float32, its result stored as bfloat8_b for FF2.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "blocks/common/device.h"
#include "blocks/common/matmul.h"
#include "blocks/common/weights.h"
#include "blocks/ffn/activation.h"
#include "blocks/ffn/projection.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The mathematics of the block.
struct MlpSpec {
  std::int64_t hidden_dim = 0;  // Model width. REQUIRES: > 0.
  std::int64_t ffn_dim = 0;     // Intermediate width. REQUIRES: > 0.
  Activation activation = Activation::gelu_tanh;
  bool bias = true;  // Whether b_up and b_down are added.

  // Throws std::invalid_argument "[mlp] spec.hidden_dim must be > 0, got 0".
  void validate() const;
  // "MLP(hidden=768,ffn=3072,act=gelu_tanh,bias=1)".
  std::string identity() const;

  bool operator==(const MlpSpec&) const = default;
};

// The device knobs.
struct MlpImplConfig {
  // FF1 (up). Default: bfloat16 input, bfloat8_b weights, bfloat16 output, HiFi2, bf16.
  MatmulConfig ff1{DType::bfloat16, DType::bfloat8_b, DType::bfloat16, MathFidelity::HiFi2,
                   Accumulation::bf16};
  // FF2 (down); its activation dtype is the format act(...) is stored in. Default: bfloat8_b
  // input, bfloat8_b weights, bfloat16 output, HiFi2, bf16.
  MatmulConfig ff2{DType::bfloat8_b, DType::bfloat8_b, DType::bfloat16, MathFidelity::HiFi2,
                   Accumulation::bf16};
  // Chips the ffn dimension is split over (FF2 partials all-reduced in the output dtype).
  // REQUIRES: ffn_dim divisible by 32 * reduction_shards. Default: 1.
  std::int64_t reduction_shards = 1;
  // Rows a prefill processes at a time; results do not depend on it. Default: 1024.
  std::int64_t prefill_chunk_rows = 1024;
  // Format b_up and b_down are stored in before they are added to the accumulator. Default:
  // bfloat16 (TTTv1 stores biases in bfloat16 whatever the other dtypes).
  DType bias_dtype = DType::bfloat16;

  void validate(const MlpSpec& spec) const;

  bool operator==(const MlpImplConfig&) const = default;
};

// As for the gated MLP: TTTv1's defaults, reduction_shards per device (N150 1, N300 2, T3K 8,
// TG 8); performance puts FF1 in bfloat4_b with LoFi; accuracy keeps the defaults.
MlpImplConfig default_impl_config(const MlpSpec& spec, Device device, Mode mode);
MlpImplConfig default_impl_config(const MlpSpec& spec, Device device, Mode mode, Preset preset);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: {"hidden_dim": 768, "ffn_dim": 3072, "activation": "gelu_tanh", "bias": true}.
void to_json(nlohmann::json& json, const MlpSpec& spec);
void from_json(const nlohmann::json& json, MlpSpec& spec);
void read_json(const JsonNode& node, MlpSpec& spec);
void to_json(nlohmann::json& json, const MlpImplConfig& config);
void from_json(const nlohmann::json& json, MlpImplConfig& config);
void read_json(const JsonNode& node, MlpImplConfig& config);

// The reference weights of an MLP (the BlockKind's "w_up", "w_down", "b_up", "b_down"); biases
// undefined when the spec has none.
struct MlpWeights {
  WeightSource w_up;      // [hidden, ffn]
  WeightSource w_down;    // [ffn, hidden]
  WeightSource b_up{};    // [ffn] (spec.bias)
  WeightSource b_down{};  // [hidden] (spec.bias)
};

// Checks W_up, W_down and, present exactly when spec.bias, b_up and b_down, without loading:
// "[mlp] b_up is missing: spec.bias is set".
void validate(const MlpSpec& spec, const MlpWeights& weights);

class Mlp {
 public:
  Mlp(MlpSpec spec, MlpImplConfig config, MlpWeights weights);

  const MlpSpec& spec() const { return spec_; }
  const MlpImplConfig& config() const { return config_; }
  bool weights_prepared() const { return up_.prepared() && down_.prepared(); }

  // x [..., seq, hidden] -> same shape in ff2's output dtype.
  Tensor prefill_forward(const Tensor& x) const;
  // x [batch, hidden].
  Tensor decode_forward(const Tensor& x) const;

 private:
  Tensor forward(const Tensor& x, std::int64_t chunk_rows) const;

  MlpSpec spec_;
  MlpImplConfig config_;
  ffn_detail::ShardedProjection up_;
  ffn_detail::ShardedProjection down_;
  ActivationKernel activation_ = nullptr;
};

// The reference in float64 on the given float32 values: x [..., hidden], returns float32.
Tensor mlp_reference(const MlpSpec& spec, const MlpWeights& weights, const Tensor& x);

}  // namespace ttt

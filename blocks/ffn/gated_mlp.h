// Gated MLP: y = (act(x · W_gate) * (x · W_up)) · W_down. SwiGLU (act = silu: Llama, Mistral,
// Qwen, Mixtral's experts) and GeGLU (act = gelu_tanh: Gemma). Weights are [in, out]: W_gate and
// W_up [hidden, ffn], W_down [ffn, hidden] (the transpose of torch's nn.Linear weight).
//
// Device numerics (TTTv1 tt-transformers MLP): FF1 (gate) and FF3 (up) with bfloat8_b weights,
// HiFi2, bfloat16 accumulation, bfloat16 outputs; act(gate) * up in float32, stored as bfloat8_b;
// FF2 (down) with bfloat8_b weights, HiFi2, bfloat16 accumulation. With several chips the ffn
// dimension is split and FF2's partial results are all-reduced in bfloat16.
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
struct GatedMlpSpec {
  std::int64_t hidden_dim = 0;  // Model width. REQUIRES: > 0.
  std::int64_t ffn_dim = 0;     // Intermediate width. REQUIRES: > 0.
  Activation activation = Activation::silu;

  // Throws std::invalid_argument "[gated_mlp] spec.hidden_dim must be > 0, got 0".
  void validate() const;
  // "GATED_MLP(hidden=4096,ffn=14336,act=silu)".
  std::string identity() const;

  bool operator==(const GatedMlpSpec&) const = default;
};

// The device knobs.
struct GatedMlpImplConfig {
  // FF1 and FF3 (gate and up). Default: bfloat16 input, bfloat8_b weights, bfloat16 output,
  // HiFi2, bf16 accumulation (TTTv1's HIFI2_FP16).
  MatmulConfig ff1_ff3{DType::bfloat16, DType::bfloat8_b, DType::bfloat16, MathFidelity::HiFi2,
                       Accumulation::bf16};
  // FF2 (down). Its activation dtype is the format act(gate) * up is stored in. Default:
  // bfloat8_b input (TTTv1's w2_in), bfloat8_b weights, bfloat16 output, HiFi2, bf16.
  MatmulConfig ff2{DType::bfloat8_b, DType::bfloat8_b, DType::bfloat16, MathFidelity::HiFi2,
                   Accumulation::bf16};
  // Chips the ffn dimension is split over; FF2's partial results are all-reduced.
  // REQUIRES: ffn_dim divisible by 32 * reduction_shards. Default: 1.
  std::int64_t reduction_shards = 1;
  // Rows (tokens) a prefill processes at a time (TTTv1 splits long prompts into 1024-row chunks);
  // results do not depend on it. REQUIRES: > 0. Default: 1024.
  std::int64_t prefill_chunk_rows = 1024;

  // Throws "[gated_mlp] config.reduction_shards 3 does not split spec.ffn_dim 14336 into whole
  // tiles".
  void validate(const GatedMlpSpec& spec) const;

  bool operator==(const GatedMlpImplConfig&) const = default;
};

// TTTv1's defaults above, with reduction_shards = the chips sharing the ffn dimension: N150 1,
// N300 2, T3K 8, TG 8 (the mesh rows), or 1 when ffn_dim does not split into whole tiles.
// Presets: performance puts FF1/FF3 weights in bfloat4_b with LoFi; accuracy keeps the defaults
// (TTTv1's accuracy preset changes attention only).
GatedMlpImplConfig default_impl_config(const GatedMlpSpec& spec, Device device, Mode mode);
GatedMlpImplConfig default_impl_config(const GatedMlpSpec& spec, Device device, Mode mode,
                                       Preset preset);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: {"hidden_dim": 4096, "ffn_dim": 14336, "activation": "silu"}.
void to_json(nlohmann::json& json, const GatedMlpSpec& spec);
void from_json(const nlohmann::json& json, GatedMlpSpec& spec);
void read_json(const JsonNode& node, GatedMlpSpec& spec);
// {"ff1_ff3": {...matmul...}, "ff2": {...}, "reduction_shards": 1, "prefill_chunk_rows": 1024}.
void to_json(nlohmann::json& json, const GatedMlpImplConfig& config);
void from_json(const nlohmann::json& json, GatedMlpImplConfig& config);
void read_json(const JsonNode& node, GatedMlpImplConfig& config);

// The reference weights of a gated MLP (the BlockKind's "w_gate", "w_up", "w_down").
struct GatedMlpWeights {
  WeightSource w_gate;  // [hidden, ffn]
  WeightSource w_up;    // [hidden, ffn]
  WeightSource w_down;  // [ffn, hidden]
};

// Checks every weight's presence and shape without loading it: "[gated_mlp] w_down has shape
// [14336, 4095], expected [14336, 4096]".
void validate(const GatedMlpSpec& spec, const GatedMlpWeights& weights);

class GatedMlp {
 public:
  // Validates spec, config and weight shapes (without loading the weights).
  GatedMlp(GatedMlpSpec spec, GatedMlpImplConfig config, GatedMlpWeights weights);

  const GatedMlpSpec& spec() const { return spec_; }
  const GatedMlpImplConfig& config() const { return config_; }
  // True once a forward has prepared every device weight.
  bool weights_prepared() const;

  // x [..., seq, hidden] -> [..., seq, hidden] in ff2's output dtype, in chunks of
  // config.prefill_chunk_rows rows.
  Tensor prefill_forward(const Tensor& x) const;
  // x [batch, hidden]: one token per user, in one pass.
  Tensor decode_forward(const Tensor& x) const;

  // Rows x hidden values (any floating dtype) -> rows x hidden in ff2's output dtype. For blocks
  // built from gated MLPs (MoE experts).
  void run_rows(const float* x, std::int64_t rows, float* out) const;

 private:
  Tensor forward(const Tensor& x, std::int64_t chunk_rows) const;

  GatedMlpSpec spec_;
  GatedMlpImplConfig config_;
  ffn_detail::ShardedProjection gate_;
  ffn_detail::ShardedProjection up_;
  ffn_detail::ShardedProjection down_;
  ActivationKernel activation_ = nullptr;
};

// The reference in float64 on the given float32 values: x [..., hidden], returns float32.
Tensor gated_mlp_reference(const GatedMlpSpec& spec, const GatedMlpWeights& weights,
                           const Tensor& x);

}  // namespace ttt

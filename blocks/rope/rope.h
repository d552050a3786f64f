// Rotary position embeddings (RoPE) with the scalings of Hugging Face transformers'
// modeling_rope_utils: default, linear, llama3, yarn and longrope; full or partial rotary dims.
//
// Layout ("rotate half", as Hugging Face Llama): of a head vector x[0, head_dim) the first
// rotary_dim values rotate, the rest pass through unchanged. With h = rotary_dim / 2, value i
// (i < h) pairs with value i + h and both turn by the angle position * inv_freq[i]:
//   out[i]     = x[i] * cos - x[i + h] * sin
//   out[i + h] = x[i + h] * cos + x[i] * sin
// cos and sin carry the scaling's attention factor (yarn, longrope), as Hugging Face multiplies its
// cos/sin tables by `attention_scaling`. Checkpoints in Meta's interleaved layout (pairs 2i, 2i+1)
// must have their q/k projection rows permuted first, exactly as for Hugging Face.
//
// Device path: cos/sin tables computed once in float32 (as Hugging Face computes them), stored in
// the table dtype; each rotation computed in float32 and rounded to the activation dtype.
// Reference: angles, cos, sin and the rotation in float64, from the same inverse frequencies.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/common/device.h"
#include "blocks/common/weights.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// Hugging Face's `rope_type`. JSON and identity names: "default", "linear", "llama3", "yarn",
// "longrope".
enum class RopeScaling : std::uint8_t {
  none,      // inv_freq[i] = theta^(-2i / rotary_dim).
  linear,    // Positions divided by `factor` (inv_freq / factor).
  llama3,    // Long wavelengths divided by `factor`, short kept, smooth ramp between.
  yarn,      // NTK-by-parts interpolation (beta_fast, beta_slow) and an attention factor.
  longrope,  // Per-dimension short/long rescale factors (Phi-3 "su").
};
std::string_view rope_scaling_name(RopeScaling scaling);
// Throws std::invalid_argument listing the accepted names.
RopeScaling parse_rope_scaling(std::string_view name);

// The mathematics of a RoPE: dimensions, theta and the scaling with its parameters. Fields a
// scaling does not use are ignored by it (they keep their defaults in JSON).
struct RopeSpec {
  std::int64_t head_dim = 128;  // Dimension of one attention head.
  std::int64_t rotary_dim = 0;  // Rotated dimensions (even); 0 means head_dim. Hugging Face:
                                // int(head_dim * partial_rotary_factor).
  double theta = 10000.0;       // rope_theta.
  // Length the model was configured for (max_position_embeddings). yarn uses it when
  // original_max_position_embeddings is 0; longrope derives its factor from it (below).
  std::int64_t max_position_embeddings = 4096;

  RopeScaling scaling = RopeScaling::none;
  double factor = 1.0;            // linear, llama3, yarn, longrope (when no original length).
  double low_freq_factor = 1.0;   // llama3.
  double high_freq_factor = 4.0;  // llama3.
  // llama3 (required), yarn (0: max_position_embeddings), longrope (0: factor is used; otherwise
  // factor = max_position_embeddings / original_max_position_embeddings, the Phi-3 rule).
  std::int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;      // yarn.
  double beta_slow = 1.0;       // yarn.
  double mscale = 0.0;          // yarn (DeepSeek): 0 means unset.
  double mscale_all_dim = 0.0;  // yarn (DeepSeek): 0 means unset.
  bool truncate = true;         // yarn: floor/ceil the correction range.
  // yarn, longrope: multiplies cos and sin; 0 derives it (yarn 0.1 ln(factor) + 1, longrope
  // sqrt(1 + ln(factor) / ln(original))).
  double attention_factor = 0.0;
  std::vector<double> short_factor;  // longrope: rotary_dim / 2 values.
  std::vector<double> long_factor;   // longrope: rotary_dim / 2 values.

  // rotary_dim, or head_dim when rotary_dim is 0.
  std::int64_t effective_rotary_dim() const { return rotary_dim == 0 ? head_dim : rotary_dim; }

  // Throws std::invalid_argument naming the field: "[rope] spec.rotary_dim (63) must be even".
  void validate() const;
  // "ROPE(head_dim=128,rotary_dim=128,theta=500000,max_pos=131072,scaling=llama3,factor=8,...)":
  // the fields the scaling uses; longrope adds an FNV-1a hash of its factor lists.
  std::string identity() const;

  bool operator==(const RopeSpec&) const = default;
};

// The inverse frequencies inv_freq[0, rotary_dim / 2) of Hugging Face's
// _compute_<scaling>_parameters, in float64. `long_factors` selects longrope's long factors.
// REQUIRES: spec.validate() passes.
std::vector<double> rope_inverse_frequencies(const RopeSpec& spec, bool long_factors = false);

// The factor cos and sin are multiplied by: 1 for none/linear/llama3, else the attention factor.
double rope_attention_scaling(const RopeSpec& spec);

// longrope switches to its long factors for a whole sequence when the sequence spans more than
// this many positions (max position + 1 > original length), as Hugging Face's dynamic longrope
// update does; every other scaling never switches (returns INT64_MAX).
std::int64_t rope_long_factor_threshold(const RopeSpec& spec);

// Device knobs.
struct RopeImplConfig {
  // Format the cos/sin tables are stored in. Default: bfloat16 (TTTv1's rotary tables).
  DType table_dtype = DType::bfloat16;
  // Format of the rotated output (inputs are rounded to it first). Default: bfloat16.
  DType activation_dtype = DType::bfloat16;
  // Rows of the cos/sin tables: positions [0, table_positions) can be rotated. Default: 8192;
  // default_impl_config() caps it at spec.max_position_embeddings.
  std::int64_t table_positions = 8192;

  // Throws "[rope] config.table_positions (0) must be > 0".
  void validate() const;

  bool operator==(const RopeImplConfig&) const = default;
};

// Defaults for a device and mode: the same everywhere (rotation is elementwise), with
// table_positions = min(8192, spec.max_position_embeddings). Presets do not change RoPE (TTTv1
// keeps its rotary tables in bfloat16 in every setting).
RopeImplConfig default_impl_config(const RopeSpec& spec, Device device, Mode mode);
RopeImplConfig default_impl_config(const RopeSpec& spec, Device device, Mode mode, Preset preset);

// A RoPE with its cos/sin tables, built once on first use and shared by copies.
class Rope {
 public:
  // Validates spec and config (throws std::invalid_argument naming the field).
  Rope(RopeSpec spec, RopeImplConfig config);

  const RopeSpec& spec() const { return spec_; }
  const RopeImplConfig& config() const { return config_; }

  // Rotates x [..., heads, head_dim] (any floating dtype) at `positions` (int32 or int64, shape
  // x.shape[:-2]); returns the activation dtype. Prefill and decode are the same operation.
  // Throws std::invalid_argument for a wrong shape or a position outside the table.
  Tensor forward(const Tensor& x, const Tensor& positions) const;

  // The same on raw memory for blocks that own their buffers: `tokens` x `heads` vectors of
  // head_dim values (already in the activation dtype), token t at positions[t], rotated in place.
  // Throws std::invalid_argument for a position outside the table.
  void rotate_in_place(float* x, std::int64_t tokens, std::int64_t heads,
                       const std::int64_t* positions) const;

  // The device's tables [table_positions, rotary_dim / 2] (short factors for longrope).
  const Tensor& cos_table() const;
  const Tensor& sin_table() const;

 private:
  struct Tables {
    Tensor cos, sin;            // Short (or only) factors.
    Tensor long_cos, long_sin;  // longrope's long factors; otherwise the same as cos/sin.
  };
  static Tables build_tables(const RopeSpec& spec, const RopeImplConfig& config);

  RopeSpec spec_;
  RopeImplConfig config_;
  std::int64_t half_ = 0;
  std::int64_t long_threshold_ = 0;
  Prepared<Tables> tables_;
};

// x [..., heads, head_dim] rotated in float64 at `positions` (shape x.shape[:-2]); float32 out.
// Throws std::invalid_argument for a wrong shape or a negative position.
Tensor rope_reference(const RopeSpec& spec, const Tensor& x, const Tensor& positions);

// The reference rotation in place on float64 values, for the references of blocks that apply
// RoPE (attention): `tokens` x `heads` vectors of head_dim values, token t at positions[t]
// (longrope picks its factors from the largest position). REQUIRES: spec.validate() passes and
// positions >= 0.
void rope_reference_rotate(const RopeSpec& spec, double* x, std::int64_t tokens, std::int64_t heads,
                           const std::int64_t* positions);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON with every field (scaling by name); reading accepts any subset (missing fields keep their
// defaults) and rejects unknown fields: "rope spec: /thetaa: unknown field 'thetaa' (...)".
void to_json(nlohmann::json& json, const RopeSpec& spec);
void from_json(const nlohmann::json& json, RopeSpec& spec);
void read_json(const JsonNode& node, RopeSpec& spec);
void to_json(nlohmann::json& json, const RopeImplConfig& config);
void from_json(const nlohmann::json& json, RopeImplConfig& config);
void read_json(const JsonNode& node, RopeImplConfig& config);

}  // namespace ttt

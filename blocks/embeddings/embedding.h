// Token embedding with an optional scale (Gemma multiplies by sqrt(hidden)) and an optional
// absolute position embedding: learned (GPT-2, BERT) or sinusoidal (the original Transformer).
//
//   out[t] = scale * token_weight[ids[t]] + position_embedding[positions[t]]
//
// Sinusoidal layout (interleaved, as Vaswani et al. and Hugging Face's
// create_sinusoidal_embeddings): for i < hidden / 2, with w_i = base^(-2i / hidden),
//   pe[p, 2i] = sin(p * w_i),  pe[p, 2i + 1] = cos(p * w_i).
//
// Device numerics (TTTv1): the table is stored in the weight dtype (rows of hidden values, so
// block formats share exponents along hidden); the scale is a bfloat16 scalar (float32 when the
// output is float32), as Hugging Face Gemma casts its normalizer to the activation dtype
// (sqrt(3584) = 59.87 becomes 59.75 in bfloat16); the scaled
// row plus the position row is computed in float32 and rounded once to the output dtype. The
// sinusoid table is computed in float32 and stored in the weight dtype. Reference: float64 with
// the exact scale.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "blocks/common/device.h"
#include "blocks/common/weights.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The absolute position embedding added to the token embedding. JSON names: "none", "learned",
// "sinusoidal".
enum class PositionEmbedding : std::uint8_t {
  none,        // Positions are handled elsewhere (RoPE or ALiBi in attention).
  learned,     // A weight [max_positions, hidden] (GPT-2 wpe, BERT position_embeddings).
  sinusoidal,  // Fixed sin/cos table (layout above).
};
std::string_view position_embedding_name(PositionEmbedding kind);
// Throws std::invalid_argument listing the accepted names.
PositionEmbedding parse_position_embedding(std::string_view name);

// The mathematics of the block.
struct EmbeddingSpec {
  std::int64_t vocab_size = 0;  // Rows of the token table. REQUIRES: > 0.
  std::int64_t hidden_dim = 0;  // Embedding width. REQUIRES: > 0.
  double scale = 1.0;           // Multiplies the token embedding (Gemma: sqrt(hidden_dim)).
  PositionEmbedding positions = PositionEmbedding::none;
  // learned, sinusoidal: positions [0, max_positions) exist. REQUIRES: > 0 for those kinds.
  std::int64_t max_positions = 0;
  double sinusoid_base = 10000.0;  // sinusoidal: the base of the wavelengths.

  // Throws std::invalid_argument "[embedding] spec.vocab_size (0) must be > 0".
  void validate() const;
  // "EMBEDDING(vocab=128256,hidden=4096,scale=1,positions=none)"; with positions, adds
  // max_positions (and base for sinusoidal).
  std::string identity() const;

  bool operator==(const EmbeddingSpec&) const = default;
};

// The device knobs.
struct EmbeddingImplConfig {
  // Format the token (and position) tables are stored in. Default: bfloat16 (TTTv1 keeps the
  // embedding table in bfloat16).
  DType weight_dtype = DType::bfloat16;
  // Format of the output activations. Default: bfloat16.
  DType output_dtype = DType::bfloat16;

  // Throws "[embedding] config.weight_dtype is int32, expected a floating dtype".
  void validate() const;

  bool operator==(const EmbeddingImplConfig&) const = default;
};

// The defaults above on every device and mode (a lookup has no reduction to split). Presets do
// not change embeddings.
EmbeddingImplConfig default_impl_config(const EmbeddingSpec& spec, Device device, Mode mode);
EmbeddingImplConfig default_impl_config(const EmbeddingSpec& spec, Device device, Mode mode,
                                        Preset preset);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: {"vocab_size": 50257, "hidden_dim": 768, "scale": 1.0, "positions": "learned",
// "max_positions": 1024, "sinusoid_base": 10000.0}; vocab_size and hidden_dim are required, the
// others may be omitted (defaults); unknown fields are errors naming them.
void to_json(nlohmann::json& json, const EmbeddingSpec& spec);
void from_json(const nlohmann::json& json, EmbeddingSpec& spec);
void read_json(const JsonNode& node, EmbeddingSpec& spec);
void to_json(nlohmann::json& json, const EmbeddingImplConfig& config);
void from_json(const nlohmann::json& json, EmbeddingImplConfig& config);
void read_json(const JsonNode& node, EmbeddingImplConfig& config);

// The reference weights (the BlockKind's "token_weight", "position_weight").
struct EmbeddingWeights {
  WeightSource token_weight;       // [vocab_size, hidden_dim]
  WeightSource position_weight{};  // [max_positions, hidden_dim] when spec.positions is learned.
};

// Checks the tables' shapes, the position table present exactly for learned positions, without
// loading: "[embedding] token_weight has shape [100, 64], expected [128256, 4096]",
// "[embedding] position_weight is missing: spec.positions is learned".
void validate(const EmbeddingSpec& spec, const EmbeddingWeights& weights);

// The block with its device tables, prepared lazily (once).
class Embedding {
 public:
  // Validates the spec, the config and the shapes without loading the weights.
  Embedding(EmbeddingSpec spec, EmbeddingImplConfig config, EmbeddingWeights weights);

  const EmbeddingSpec& spec() const { return spec_; }
  const EmbeddingImplConfig& config() const { return config_; }
  bool weights_prepared() const { return tables_.ready(); }

  // ids [..., seq] (int32 or int64): token t of each sequence sits at position t. Returns
  // [..., seq, hidden] in the output dtype. Throws std::invalid_argument naming the id outside
  // [0, vocab_size) or a sequence longer than max_positions.
  Tensor prefill_forward(const Tensor& ids) const;
  // ids [batch] (one token per user) at positions [batch] (int32 or int64). Returns
  // [batch, hidden]. Same numerics as prefill.
  Tensor decode_forward(const Tensor& ids, const Tensor& positions) const;

 private:
  struct Tables {
    Tensor token;     // [vocab, hidden] in the weight dtype.
    Tensor position;  // [max_positions, hidden] in the weight dtype, or undefined.
    float scale = 1;  // spec.scale as the device's scalar.
  };
  Tensor forward(const std::vector<std::int64_t>& ids, const std::vector<std::int64_t>& positions,
                 Shape out_shape) const;

  EmbeddingSpec spec_;
  EmbeddingImplConfig config_;
  Prepared<Tables> tables_;
};

// The reference in float64: ids and positions as for the forwards (same shapes), the weights
// as float32 values. Returns float32.
Tensor embedding_reference(const EmbeddingSpec& spec, const EmbeddingWeights& weights,
                           const Tensor& ids, const Tensor& positions);

}  // namespace ttt

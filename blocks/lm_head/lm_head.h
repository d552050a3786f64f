// LM head: logits = x · W, optionally softcapped as cap * tanh(logits / cap) (Gemma-2's final
// logit softcapping). W is [hidden, vocab]; with tied embeddings it is the transpose of the token
// embedding table [vocab, hidden], shared with the embedding block (the same WeightSource).
//
// Device numerics (TTTv1): x in bfloat16, W in bfloat8_b, HiFi2, fp32 accumulation, bfloat16
// logits; the vocabulary is processed in column chunks (TTTv1 splits the LM head over chips and
// chunks because it does not fit one matmul), which does not change any value. The softcap is
// applied in float32 to the bfloat16 logits and rounded to the output dtype again.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "blocks/common/device.h"
#include "blocks/common/matmul.h"
#include "blocks/common/weights.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The mathematics of the block.
struct LmHeadSpec {
  std::int64_t hidden_dim = 0;  // Model width. REQUIRES: > 0.
  std::int64_t vocab_size = 0;  // REQUIRES: > 0.
  // The weight is the embedding table [vocab, hidden] (tie_word_embeddings).
  bool tied_embeddings = false;
  // Final logit softcapping cap (Gemma-2: 30); 0 disables it. REQUIRES: finite, >= 0.
  double logit_softcap = 0.0;

  // Throws std::invalid_argument "[lm_head] spec.vocab_size must be > 0, got 0".
  void validate() const;
  // "LM_HEAD(hidden=3584,vocab=256000,tied=1,softcap=30)".
  std::string identity() const;

  bool operator==(const LmHeadSpec&) const = default;
};

// The device knobs.
struct LmHeadImplConfig {
  // The projection. Default: bfloat16 input, bfloat8_b weights, bfloat16 logits, HiFi2, fp32.
  MatmulConfig matmul{DType::bfloat16, DType::bfloat8_b, DType::bfloat16, MathFidelity::HiFi2,
                      Accumulation::fp32};
  // Vocabulary columns per chunk. REQUIRES: a positive multiple of 32. Default: 32768.
  std::int64_t vocab_chunk = 32768;

  // Throws "[lm_head] config.vocab_chunk 100 must be a positive multiple of 32".
  void validate() const;

  bool operator==(const LmHeadImplConfig&) const = default;
};

// TTTv1's settings: the defaults above with the vocabulary split evenly over the chips
// (vocab_chunk = vocab / chips rounded up to whole tiles, at most 32768 columns). Presets leave
// the LM head unchanged.
LmHeadImplConfig default_impl_config(const LmHeadSpec& spec, Device device, Mode mode);
LmHeadImplConfig default_impl_config(const LmHeadSpec& spec, Device device, Mode mode,
                                     Preset preset);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: {"hidden_dim": 3584, "vocab_size": 256000, "tied_embeddings": true,
// "logit_softcap": 30.0}; ImplConfig {"matmul": {...}, "vocab_chunk": 32768}.
void to_json(nlohmann::json& json, const LmHeadSpec& spec);
void from_json(const nlohmann::json& json, LmHeadSpec& spec);
void read_json(const JsonNode& node, LmHeadSpec& spec);
void to_json(nlohmann::json& json, const LmHeadImplConfig& config);
void from_json(const nlohmann::json& json, LmHeadImplConfig& config);
void read_json(const JsonNode& node, LmHeadImplConfig& config);

// The reference weight (the BlockKind's "weight").
struct LmHeadWeights {
  // [hidden, vocab], or the embedding table [vocab, hidden] when tied (the embedding block's
  // token_weight source).
  WeightSource weight;
};

// Checks the weight's shape without loading it: "[lm_head] weight has shape [8, 100], expected
// [100, 8]".
void validate(const LmHeadSpec& spec, const LmHeadWeights& weights);

class LmHead {
 public:
  // Validates the spec, the config and the weight's shape without loading it.
  LmHead(LmHeadSpec spec, LmHeadImplConfig config, LmHeadWeights weights);

  const LmHeadSpec& spec() const { return spec_; }
  const LmHeadImplConfig& config() const { return config_; }
  bool weights_prepared() const { return chunks_.ready(); }

  // x [..., seq, hidden] -> logits [..., seq, vocab] for every position.
  Tensor prefill_forward(const Tensor& x) const;
  // x [batch, hidden] -> [batch, vocab].
  Tensor decode_forward(const Tensor& x) const;

 private:
  using LogitTransform = void (*)(float* logits, std::size_t count, float cap);
  Tensor forward(const Tensor& x) const;

  LmHeadSpec spec_;
  LmHeadImplConfig config_;
  DeviceMatmul matmul_;
  Prepared<std::vector<DeviceMatrix>> chunks_;
  LogitTransform transform_ = nullptr;
};

// The reference in float64: x · W (W transposed from [vocab, hidden] when tied), softcapped.
Tensor lm_head_reference(const LmHeadSpec& spec, const LmHeadWeights& weights, const Tensor& x);

}  // namespace ttt

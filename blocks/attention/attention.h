// Attention: MHA, GQA and MQA (through num_kv_heads) with causal prefill over a sequence and
// decode of one token per user against a KV cache the caller owns.
//
//   q = x · Wq (+ bq), k = x · Wk (+ bk), v = x · Wv (+ bv)    [Qwen2, GPT-2, BLOOM: biases]
//   q, k = rms_norm(q), rms_norm(k) over head_dim               [Qwen3: qk_norm]
//   q, k = rope(q), rope(k)                                     [positions = rope]
//   s[h, i, j] = (q_h[i] · k_g[j]) / sqrt(query_pre_attn_scalar or head_dim), g = h / (H / KV)
//   s = cap * tanh(s / cap)                                     [Gemma-2: logit_softcap]
//   s += slope_h * (j - i)                                      [BLOOM: positions = alibi]
//   s = -inf where j > i, or j <= i - sliding_window            [Mistral, Gemma-2]
//   out = concat_h(softmax(s) · v_g) · Wo (+ bo)
//
// Weights are [in, out] (the transpose of torch's nn.Linear weight): Wq [hidden, H * head_dim],
// Wk and Wv [hidden, KV * head_dim], Wo [H * head_dim, hidden]. Query head h uses key/value head
// h / (H / KV), as Hugging Face's repeat_kv.
//
// Device numerics (TTTv1 tt-transformers attention; docs/numerics.md):
// - QKV as one fused matmul (config.qkv), Wo as config.output, its reduction split over
//   config.output_shards chips whose partial results are all-reduced in the output dtype;
// - q/k norms as the rms_norm block (config.qk_norm), RoPE as the rope block (config.rope);
// - keys and values rounded to the KV-cache dtype (bfloat8_b by default) before anything reads
//   them, in prefill as in decode (TTTv1 types them to bfloat8_b for prefill SDPA too); queries
//   rounded to config.query_dtype;
// - Q · K^T and P · V as device matmuls with config.sdpa_fidelity / sdpa_accumulation (keys and
//   values are the matmul's SrcA operand, as the device's in1); scores in float32, scaled,
//   capped, biased and masked in float32; softmax in float32; probabilities rounded to
//   config.probs_dtype before P · V;
// - prefill of at least config.flash_min_seq_len tokens runs chunked ("flash") attention: query
//   chunks of q_chunk_size against key chunks of k_chunk_size with an online softmax (running
//   max and sum in float32, unnormalised probabilities rounded to probs_dtype, the output
//   accumulated in float32 and divided by the sum at the end). It matches the plain path up to
//   where the probabilities are rounded.
// The reference is float64 throughout and shares no numerics code with this path.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "blocks/common/device.h"
#include "blocks/common/matmul.h"
#include "blocks/common/weights.h"
#include "blocks/normalization/rms_norm.h"
#include "blocks/rope/rope.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// How positions enter attention. JSON names: "rope", "alibi", "none".
enum class AttentionPositions : std::uint8_t {
  rope,   // Rotary embeddings on q and k (spec.rope).
  alibi,  // Linear biases on the scores (blocks/embeddings/alibi.h), BLOOM's slopes.
  none,   // Positions entered elsewhere (GPT-2's learned position embedding).
};
std::string_view attention_positions_name(AttentionPositions positions);
// Throws std::invalid_argument listing the accepted names.
AttentionPositions parse_attention_positions(std::string_view name);

// The mathematics of the block.
struct AttentionSpec {
  std::int64_t hidden_dim = 0;    // Model width. REQUIRES: > 0.
  std::int64_t num_heads = 0;     // Query heads H. REQUIRES: > 0.
  std::int64_t num_kv_heads = 0;  // Key/value heads KV; 0 means num_heads (MHA); 1 is MQA.
                                  // REQUIRES: divides num_heads.
  std::int64_t head_dim = 0;      // 0 means hidden_dim / num_heads (which must divide). Gemma-2:
                                  // 256 with hidden 3584 and 16 heads.
  bool qkv_bias = false;          // Biases on q, k, v (Qwen2, GPT-2, BLOOM).
  bool output_bias = false;       // Bias on the output projection (GPT-2, BLOOM).
  bool qk_norm = false;           // RMSNorm over head_dim on q and k before RoPE (Qwen3).
  double qk_norm_eps = 1e-6;      // qk_norm's epsilon.
  // Scores are scaled by 1 / sqrt(query_pre_attn_scalar); 0 means head_dim (Gemma-2 sets it).
  double query_pre_attn_scalar = 0.0;
  double logit_softcap = 0.0;       // cap * tanh(s / cap) on the scores; 0 is off (Gemma-2: 50).
  std::int64_t sliding_window = 0;  // Keys with j <= i - window are masked; 0 is off.
  AttentionPositions positions = AttentionPositions::rope;
  RopeSpec rope;  // positions == rope: rope.head_dim must equal the head dimension.

  // num_kv_heads, or num_heads when it is 0.
  std::int64_t kv_heads() const { return num_kv_heads == 0 ? num_heads : num_kv_heads; }
  // head_dim, or hidden_dim / num_heads when it is 0. REQUIRES: num_heads > 0.
  std::int64_t dim_per_head() const { return head_dim == 0 ? hidden_dim / num_heads : head_dim; }
  // 1 / sqrt(query_pre_attn_scalar or head_dim).
  double score_scale() const;

  // Throws std::invalid_argument naming the field:
  // "[attention] spec.num_heads (32) is not divisible by spec.num_kv_heads (5)".
  void validate() const;
  // "ATTENTION(hidden=4096,heads=32,kv_heads=8,head_dim=128,positions=rope,rope=ROPE(...))",
  // followed by the optional features that are on (qkv_bias=1, qk_norm=1, softcap=50, window=4096,
  // query_pre_attn_scalar=256, ...).
  std::string identity() const;

  bool operator==(const AttentionSpec&) const = default;
};

// The device knobs.
struct AttentionImplConfig {
  // The fused QKV projection. Default: bfloat16 input, bfloat8_b weights, bfloat16 output, HiFi2,
  // fp32 accumulation (TTTv1's LI_QKV).
  MatmulConfig qkv{DType::bfloat16, DType::bfloat8_b, DType::bfloat16, MathFidelity::HiFi2,
                   Accumulation::fp32};
  // The output projection Wo; its activation dtype is the format of the attention output it
  // reads. Default: as qkv (TTTv1's LI_O).
  MatmulConfig output{DType::bfloat16, DType::bfloat8_b, DType::bfloat16, MathFidelity::HiFi2,
                      Accumulation::fp32};
  // Chips the heads are split over: Wo's reduction is split in as many parts, all-reduced.
  // REQUIRES: >= 1, dividing num_heads. Default: 1.
  std::int64_t output_shards = 1;
  // Format of the KV cache; keys and values are rounded to it before use. Default: bfloat8_b.
  DType kv_cache_dtype = DType::bfloat8_b;
  // Format queries are rounded to before Q · K^T. Default: bfloat16 (default_impl_config: bfloat8_b
  // in prefill, as TTTv1 types q to bfloat8_b for prefill SDPA).
  DType query_dtype = DType::bfloat16;
  // Format probabilities are rounded to before P · V. Default: bfloat16.
  DType probs_dtype = DType::bfloat16;
  // Fidelity of Q · K^T and P · V. Default: HiFi2 (default_impl_config: HiFi4 in prefill).
  MathFidelity sdpa_fidelity = MathFidelity::HiFi2;
  // Accumulation of Q · K^T and P · V. Default: fp32.
  Accumulation sdpa_accumulation = Accumulation::fp32;
  // Prefill of at least this many tokens runs the chunked flash path. REQUIRES: >= 1.
  // Default: 2048.
  std::int64_t flash_min_seq_len = 2048;
  // Flash chunk sizes (queries, keys). REQUIRES: >= 1. Default: 256 and 512 (TTTv1's long-prompt
  // chunks).
  std::int64_t q_chunk_size = 256;
  std::int64_t k_chunk_size = 512;
  // The rope block's knobs (positions == rope).
  RopeImplConfig rope;
  // The q/k norms' knobs (qk_norm).
  RmsNormImplConfig qk_norm;
  // Format bq, bk, bv and bo are stored in before they are added to the accumulator. Default:
  // bfloat16 (TTTv1 stores biases in bfloat16 whatever the other dtypes).
  DType bias_dtype = DType::bfloat16;

  // Throws "[attention] config.output_shards (3) does not divide spec.num_heads (32)".
  void validate(const AttentionSpec& spec) const;

  bool operator==(const AttentionImplConfig&) const = default;
};

// TTTv1's defaults: the above, with bfloat8_b queries and HiFi4 SDPA in prefill (HiFi2 and
// bfloat16 queries in decode), output_shards = the chips the heads are split over (N150 1, N300 2,
// T3K 8, TG 8; 1 when num_heads does not split), the rope table up to min(8192,
// max_position_embeddings). Presets: accuracy keeps attention weights and the KV cache in
// bfloat16 with HiFi4 everywhere (and bfloat16 queries); performance keeps the defaults (TTTv1's
// performance preset changes the MLP only).
AttentionImplConfig default_impl_config(const AttentionSpec& spec, Device device, Mode mode);
AttentionImplConfig default_impl_config(const AttentionSpec& spec, Device device, Mode mode,
                                        Preset preset);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON with every field (rope nested as the rope block's JSON); hidden_dim and num_heads are
// required, the others default; unknown fields are errors naming them.
void to_json(nlohmann::json& json, const AttentionSpec& spec);
void from_json(const nlohmann::json& json, AttentionSpec& spec);
void read_json(const JsonNode& node, AttentionSpec& spec);
// {"qkv": {..matmul..}, "output": {..}, "output_shards": 1, "kv_cache_dtype": "bfloat8_b", ...,
//  "rope": {..}, "qk_norm": {..}}; fields may be omitted (defaults).
void to_json(nlohmann::json& json, const AttentionImplConfig& config);
void from_json(const nlohmann::json& json, AttentionImplConfig& config);
void read_json(const JsonNode& node, AttentionImplConfig& config);

// The reference weights (the BlockKind's weight names). Biases and norms are defined exactly
// when the spec asks for them.
struct AttentionWeights {
  WeightSource wq;        // [hidden, H * head_dim]
  WeightSource wk;        // [hidden, KV * head_dim]
  WeightSource wv;        // [hidden, KV * head_dim]
  WeightSource wo;        // [H * head_dim, hidden]
  WeightSource bq{};      // [H * head_dim] (qkv_bias)
  WeightSource bk{};      // [KV * head_dim] (qkv_bias)
  WeightSource bv{};      // [KV * head_dim] (qkv_bias)
  WeightSource bo{};      // [hidden] (output_bias)
  WeightSource q_norm{};  // [head_dim] (qk_norm)
  WeightSource k_norm{};  // [head_dim] (qk_norm)
};

// Checks every weight's presence and shape against the spec without loading:
// "[attention] wk has shape [4096, 1024], expected [4096, 512]", "[attention] bq is missing:
// spec.qkv_bias is set".
void validate(const AttentionSpec& spec, const AttentionWeights& weights);

// The KV cache: keys and values of every user's past positions, owned by the caller and passed to
// the forwards (the block itself keeps no state). Values are held exactly in the cache dtype.
struct KVCache {
  Tensor k;  // [max_batch, KV, max_seq_len, head_dim]
  Tensor v;  // [max_batch, KV, max_seq_len, head_dim]

  std::int64_t max_batch() const { return k.dim(0); }
  std::int64_t max_seq_len() const { return k.dim(2); }
};

// A zero-filled cache in config.kv_cache_dtype. Throws std::invalid_argument for sizes <= 0.
KVCache make_kv_cache(const AttentionSpec& spec, const AttentionImplConfig& config,
                      std::int64_t max_batch, std::int64_t max_seq_len);

// The block with its device weights (fused QKV, Wo, norms, rope tables), prepared lazily (once).
class Attention {
 public:
  // Validates the spec, the config and the weights' shapes without loading them.
  Attention(AttentionSpec spec, AttentionImplConfig config, AttentionWeights weights);

  const AttentionSpec& spec() const { return spec_; }
  const AttentionImplConfig& config() const { return config_; }
  // True once a forward has prepared the projections' device weights.
  bool weights_prepared() const;

  // Causal attention over x [batch, seq, hidden] or [seq, hidden]: the tokens of each user sit at
  // positions 0..seq-1. With a cache, user b's keys and values are written to cache slot
  // first_slot + b, positions [0, seq). Returns the shape of x in config.output's output dtype.
  // Throws std::invalid_argument for a wrong shape, a cache of another shape or dtype, or a
  // prompt that does not fit the cache.
  Tensor prefill_forward(const Tensor& x, KVCache* cache = nullptr,
                         std::int64_t first_slot = 0) const;

  // One token per user: x [batch, hidden], user b at positions[b] (int32/int64 [batch]) in cache
  // slot b, whose positions [0, positions[b]) hold its past keys and values. Writes the new key
  // and value at positions[b], attends to positions [0, positions[b]] (within the sliding
  // window) and returns [batch, hidden]. Throws std::invalid_argument naming a position beyond
  // the cache, a batch larger than the cache, or a wrong shape.
  Tensor decode_forward(const Tensor& x, const Tensor& positions, KVCache& cache) const;

  // Implementation state shared by the forwards (defined in internal/sdpa.h).
  struct Kernels;

 private:
  void check_cache(const KVCache& cache, const char* forward) const;

  AttentionSpec spec_;
  AttentionImplConfig config_;
  std::int64_t head_dim_ = 0;
  std::int64_t kv_heads_ = 0;
  std::shared_ptr<const Kernels> kernels_;
};

// The reference in float64 of a causal prefill: x [batch, seq, hidden] or [seq, hidden], tokens
// at positions 0..seq-1, weights as given (float32 values). Returns float32 of x's shape.
Tensor attention_prefill_reference(const AttentionSpec& spec, const AttentionWeights& weights,
                                   const Tensor& x);

// The reference in float64 of a decode step: x [batch, hidden] at positions [batch], past keys
// and values of user b in k_cache[b] and v_cache[b] ([batch', KV, max_seq, head_dim], positions
// [0, positions[b]) read, in whatever format they hold). Returns float32 [batch, hidden].
Tensor attention_decode_reference(const AttentionSpec& spec, const AttentionWeights& weights,
                                  const Tensor& x, const Tensor& positions, const Tensor& k_cache,
                                  const Tensor& v_cache);

}  // namespace ttt

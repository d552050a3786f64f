#include "blocks/attention/attention.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "blocks/attention/internal/sdpa.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/common/positions.h"
#include "blocks/common/softmax.h"
#include "blocks/embeddings/alibi.h"
#include "blocks/ffn/projection.h"
#include "validation/tensor/formats.h"

namespace ttt {

namespace attention_detail {

void fail(const std::string& message) { throw std::invalid_argument("[attention] " + message); }

Tensor keys_transposed(const float* rows, std::int64_t keys, std::int64_t stride,
                       std::int64_t head_dim, DType dtype, std::vector<float>& buffer) {
  constexpr std::int64_t kTile = 32;
  buffer.resize(static_cast<std::size_t>(head_dim * keys));
  float* target = buffer.data();
  for (std::int64_t j0 = 0; j0 < keys; j0 += kTile) {
    const std::int64_t j1 = std::min(keys, j0 + kTile);
    for (std::int64_t d0 = 0; d0 < head_dim; d0 += kTile) {
      const std::int64_t d1 = std::min(head_dim, d0 + kTile);
      // Contiguous writes: rows of a power-of-two length written down a column would all map
      // to one cache set.
      for (std::int64_t d = d0; d < d1; ++d) {
        for (std::int64_t j = j0; j < j1; ++j) target[d * keys + j] = rows[j * stride + d];
      }
    }
  }
  return Tensor::view({head_dim, keys}, dtype, target);
}

}  // namespace attention_detail

namespace {

using attention_detail::fail;
using attention_detail::keys_transposed;
using attention_detail::kNegativeInfinity;
using attention_detail::kNoWindow;
using attention_detail::ScoreParams;

constexpr const char* kBlock = "attention";

constexpr std::array<std::pair<AttentionPositions, std::string_view>, 3> kPositionNames{{
    {AttentionPositions::rope, "rope"},
    {AttentionPositions::alibi, "alibi"},
    {AttentionPositions::none, "none"},
}};

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

// The format K and V are read in by the SDPA matmuls: block formats are exactly bfloat16 values
// (7 mantissa bits under a shared exponent) but group along head_dim, not along the matmul's
// rows, so they are handed over as bfloat16; other formats as themselves.
DType sdpa_operand_dtype(DType kv_cache_dtype) {
  return is_block_float(kv_cache_dtype) ? DType::bfloat16 : kv_cache_dtype;
}

template <bool kSoftcap>
void score_row(float* row, std::int64_t count, std::int64_t key_begin, std::int64_t query_position,
               float slope, const ScoreParams& params) {
  const std::int64_t first_visible = query_position - params.window + 1;
  for (std::int64_t j = 0; j < count; ++j) {
    const std::int64_t key = key_begin + j;
    if (key > query_position || key < first_visible) {
      row[j] = kNegativeInfinity;
      continue;
    }
    float score = row[j] * params.scale;
    if constexpr (kSoftcap) score = params.cap * std::tanh(score / params.cap);
    row[j] = score + slope * static_cast<float>(key - query_position);
  }
}

// V [keys, head_dim] in `dtype` from `keys` value vectors `stride` floats apart.
Tensor values_gathered(const float* rows, std::int64_t keys, std::int64_t stride,
                       std::int64_t head_dim, DType dtype) {
  Tensor out({keys, head_dim}, dtype);
  for (std::int64_t j = 0; j < keys; ++j) {
    std::copy_n(rows + j * stride, head_dim, out.data<float>() + j * head_dim);
  }
  return out;
}

WeightSource concatenate_columns(const std::vector<const WeightSource*>& parts, bool rank1) {
  std::int64_t columns = 0;
  for (const WeightSource* part : parts) columns += part->shape().back();
  const std::int64_t rows = rank1 ? 1 : parts.front()->shape().front();
  Shape shape = rank1 ? Shape{columns} : Shape{rows, columns};
  std::vector<WeightSource> sources;
  for (const WeightSource* part : parts) sources.push_back(*part);
  return WeightSource(shape, [sources, rows, columns, shape] {
    std::vector<float> values(static_cast<std::size_t>(rows * columns));
    std::int64_t offset = 0;
    for (const WeightSource& source : sources) {
      const Tensor part = source.load().to(DType::float32);
      const std::int64_t width = part.dim(-1);
      for (std::int64_t r = 0; r < rows; ++r) {
        std::copy_n(part.data<float>() + r * width, width, values.data() + r * columns + offset);
      }
      offset += width;
    }
    return Tensor::from_floats(shape, std::move(values));
  });
}

}  // namespace

std::string_view attention_positions_name(AttentionPositions positions) {
  for (const auto& [entry, name] : kPositionNames) {
    if (entry == positions) return name;
  }
  fail("invalid positions value " + std::to_string(static_cast<int>(positions)));
}

AttentionPositions parse_attention_positions(std::string_view name) {
  std::string expected;
  for (const auto& [entry, entry_name] : kPositionNames) {
    if (entry_name == name) return entry;
    expected += (expected.empty() ? "" : ", ") + std::string(entry_name);
  }
  throw std::invalid_argument("unknown attention positions '" + std::string(name) +
                              "' (expected one of " + expected + ")");
}

double AttentionSpec::score_scale() const {
  const double scalar =
      query_pre_attn_scalar > 0.0 ? query_pre_attn_scalar : static_cast<double>(dim_per_head());
  return 1.0 / std::sqrt(scalar);
}

void AttentionSpec::validate() const {
  auto field = [](const char* name, const std::string& value, const std::string& message) {
    fail(std::string("spec.") + name + " (" + value + ") " + message);
  };
  if (hidden_dim <= 0) field("hidden_dim", std::to_string(hidden_dim), "must be > 0");
  if (num_heads <= 0) field("num_heads", std::to_string(num_heads), "must be > 0");
  if (num_kv_heads < 0) {
    field("num_kv_heads", std::to_string(num_kv_heads), "must be >= 0 (0 means num_heads)");
  }
  if (num_heads % kv_heads() != 0) {
    fail("spec.num_heads (" + std::to_string(num_heads) +
         ") is not divisible by spec.num_kv_heads (" + std::to_string(kv_heads()) + ")");
  }
  if (head_dim < 0) field("head_dim", std::to_string(head_dim), "must be >= 0 (0 derives it)");
  if (head_dim == 0 && hidden_dim % num_heads != 0) {
    fail("spec.hidden_dim (" + std::to_string(hidden_dim) +
         ") is not divisible by spec.num_heads (" + std::to_string(num_heads) +
         "); set spec.head_dim when heads do not tile the hidden dim");
  }
  if (qk_norm && !(qk_norm_eps >= 0.0)) {
    field("qk_norm_eps", number(qk_norm_eps), "must be >= 0");
  }
  if (!(query_pre_attn_scalar >= 0.0) || !std::isfinite(query_pre_attn_scalar)) {
    field("query_pre_attn_scalar", number(query_pre_attn_scalar), "must be >= 0 (0: head_dim)");
  }
  if (!(logit_softcap >= 0.0) || !std::isfinite(logit_softcap)) {
    field("logit_softcap", number(logit_softcap), "must be >= 0 (0: off)");
  }
  if (sliding_window < 0) {
    field("sliding_window", std::to_string(sliding_window), "must be >= 0 (0: off)");
  }
  if (positions == AttentionPositions::rope) {
    if (rope.head_dim != dim_per_head()) {
      fail("spec.rope.head_dim (" + std::to_string(rope.head_dim) +
           ") differs from the head dimension (" + std::to_string(dim_per_head()) + ")");
    }
    rope.validate();
  }
}

std::string AttentionSpec::identity() const {
  Identity id("ATTENTION");
  id.add("hidden", hidden_dim)
      .add("heads", num_heads)
      .add("kv_heads", kv_heads())
      .add("head_dim", dim_per_head())
      .add("positions", attention_positions_name(positions));
  if (positions == AttentionPositions::rope) id.add("rope", rope.identity());
  if (qkv_bias) id.add("qkv_bias", true);
  if (output_bias) id.add("output_bias", true);
  if (qk_norm) id.add("qk_norm", true).add("qk_norm_eps", qk_norm_eps);
  if (query_pre_attn_scalar > 0.0) id.add("query_pre_attn_scalar", query_pre_attn_scalar);
  if (logit_softcap > 0.0) id.add("softcap", logit_softcap);
  if (sliding_window > 0) id.add("window", sliding_window);
  return id.str();
}

void AttentionImplConfig::validate(const AttentionSpec& spec) const {
  for (const auto& [name, matmul] :
       {std::pair<const char*, const MatmulConfig*>{"qkv", &qkv}, {"output", &output}}) {
    for (const auto& [dtype, field] : {std::pair{matmul->activation_dtype, "activation_dtype"},
                                       std::pair{matmul->weight_dtype, "weight_dtype"},
                                       std::pair{matmul->output_dtype, "output_dtype"}}) {
      if (!is_floating(dtype)) {
        fail(std::string("config.") + name + "." + field + " is " + std::string(dtype_name(dtype)) +
             ", expected a floating dtype");
      }
    }
  }
  for (const auto& [dtype, field] :
       {std::pair{kv_cache_dtype, "kv_cache_dtype"}, std::pair{query_dtype, "query_dtype"},
        std::pair{probs_dtype, "probs_dtype"}, std::pair{bias_dtype, "bias_dtype"}}) {
    if (!is_floating(dtype)) {
      fail(std::string("config.") + field + " is " + std::string(dtype_name(dtype)) +
           ", expected a floating dtype");
    }
  }
  if (output_shards < 1 || spec.num_heads % output_shards != 0) {
    fail("config.output_shards (" + std::to_string(output_shards) +
         ") does not divide spec.num_heads (" + std::to_string(spec.num_heads) + ")");
  }
  for (const auto& [value, field] :
       {std::pair{flash_min_seq_len, "flash_min_seq_len"}, std::pair{q_chunk_size, "q_chunk_size"},
        std::pair{k_chunk_size, "k_chunk_size"}}) {
    if (value < 1)
      fail(std::string("config.") + field + " (" + std::to_string(value) + ") must be >= 1");
  }
  rope.validate();
  if (spec.qk_norm) qk_norm.validate(RmsNormSpec{spec.dim_per_head(), spec.qk_norm_eps, false});
}

AttentionImplConfig default_impl_config(const AttentionSpec& spec, Device device, Mode mode) {
  AttentionImplConfig config;
  if (mode == Mode::prefill) {
    config.query_dtype = DType::bfloat8_b;
    config.sdpa_fidelity = MathFidelity::HiFi4;
  }
  const std::int64_t chips =
      device == Device::TG ? mesh_shape(device).rows : mesh_shape(device).num_devices();
  config.output_shards = spec.num_heads > 0 && spec.num_heads % chips == 0 ? chips : 1;
  config.rope = default_impl_config(spec.rope, device, mode);
  if (spec.qk_norm) {
    config.qk_norm = default_impl_config(RmsNormSpec{spec.dim_per_head(), spec.qk_norm_eps, false},
                                         device, mode);
  }
  return config;
}

AttentionImplConfig default_impl_config(const AttentionSpec& spec, Device device, Mode mode,
                                        Preset preset) {
  AttentionImplConfig config = default_impl_config(spec, device, mode);
  if (preset == Preset::accuracy) {
    config.qkv.weight_dtype = DType::bfloat16;
    config.qkv.fidelity = MathFidelity::HiFi4;
    config.output.weight_dtype = DType::bfloat16;
    config.output.fidelity = MathFidelity::HiFi4;
    config.kv_cache_dtype = DType::bfloat16;
    config.query_dtype = DType::bfloat16;
    config.sdpa_fidelity = MathFidelity::HiFi4;
  }
  return config;
}

namespace {

constexpr auto kSpecFields =
    std::tuple{json_required("hidden_dim", &AttentionSpec::hidden_dim),
               json_required("num_heads", &AttentionSpec::num_heads),
               json_optional("num_kv_heads", &AttentionSpec::num_kv_heads),
               json_optional("head_dim", &AttentionSpec::head_dim),
               json_optional("qkv_bias", &AttentionSpec::qkv_bias),
               json_optional("output_bias", &AttentionSpec::output_bias),
               json_optional("qk_norm", &AttentionSpec::qk_norm),
               json_optional("qk_norm_eps", &AttentionSpec::qk_norm_eps),
               json_optional("query_pre_attn_scalar", &AttentionSpec::query_pre_attn_scalar),
               json_optional("logit_softcap", &AttentionSpec::logit_softcap),
               json_optional("sliding_window", &AttentionSpec::sliding_window),
               json_named("positions", &AttentionSpec::positions, attention_positions_name,
                          parse_attention_positions),
               json_optional("rope", &AttentionSpec::rope)};
constexpr auto kConfigFields =
    std::tuple{json_optional("qkv", &AttentionImplConfig::qkv),
               json_optional("output", &AttentionImplConfig::output),
               json_optional("output_shards", &AttentionImplConfig::output_shards),
               json_optional("kv_cache_dtype", &AttentionImplConfig::kv_cache_dtype),
               json_optional("query_dtype", &AttentionImplConfig::query_dtype),
               json_optional("probs_dtype", &AttentionImplConfig::probs_dtype),
               json_optional("sdpa_fidelity", &AttentionImplConfig::sdpa_fidelity),
               json_optional("sdpa_accumulation", &AttentionImplConfig::sdpa_accumulation),
               json_optional("flash_min_seq_len", &AttentionImplConfig::flash_min_seq_len),
               json_optional("q_chunk_size", &AttentionImplConfig::q_chunk_size),
               json_optional("k_chunk_size", &AttentionImplConfig::k_chunk_size),
               json_optional("rope", &AttentionImplConfig::rope),
               json_optional("qk_norm", &AttentionImplConfig::qk_norm),
               json_optional("bias_dtype", &AttentionImplConfig::bias_dtype)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(AttentionSpec, "attention spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(AttentionImplConfig, "attention impl_config", kConfigFields)

void validate(const AttentionSpec& spec, const AttentionWeights& weights) {
  const std::int64_t hidden = spec.hidden_dim;
  const std::int64_t q_width = spec.num_heads * spec.dim_per_head();
  const std::int64_t kv_width = spec.kv_heads() * spec.dim_per_head();
  check_weight(kBlock, "wq", weights.wq, {hidden, q_width});
  check_weight(kBlock, "wk", weights.wk, {hidden, kv_width});
  check_weight(kBlock, "wv", weights.wv, {hidden, kv_width});
  check_weight(kBlock, "wo", weights.wo, {q_width, hidden});
  const std::string qkv_bias = flag_condition("qkv_bias", spec.qkv_bias);
  check_optional_weight(kBlock, "bq", weights.bq, {q_width}, spec.qkv_bias, qkv_bias);
  check_optional_weight(kBlock, "bk", weights.bk, {kv_width}, spec.qkv_bias, qkv_bias);
  check_optional_weight(kBlock, "bv", weights.bv, {kv_width}, spec.qkv_bias, qkv_bias);
  check_optional_weight(kBlock, "bo", weights.bo, {hidden}, spec.output_bias,
                        flag_condition("output_bias", spec.output_bias));
  const std::string qk_norm = flag_condition("qk_norm", spec.qk_norm);
  check_optional_weight(kBlock, "q_norm", weights.q_norm, {spec.dim_per_head()}, spec.qk_norm,
                        qk_norm);
  check_optional_weight(kBlock, "k_norm", weights.k_norm, {spec.dim_per_head()}, spec.qk_norm,
                        qk_norm);
}

KVCache make_kv_cache(const AttentionSpec& spec, const AttentionImplConfig& config,
                      std::int64_t max_batch, std::int64_t max_seq_len) {
  spec.validate();
  if (max_batch <= 0 || max_seq_len <= 0) {
    fail("a KV cache needs max_batch > 0 and max_seq_len > 0, got " + std::to_string(max_batch) +
         " and " + std::to_string(max_seq_len));
  }
  if (!is_floating(config.kv_cache_dtype)) {
    fail("config.kv_cache_dtype is " + std::string(dtype_name(config.kv_cache_dtype)) +
         ", expected a floating dtype");
  }
  const Shape shape{max_batch, spec.kv_heads(), max_seq_len, spec.dim_per_head()};
  return KVCache{Tensor(shape, config.kv_cache_dtype), Tensor(shape, config.kv_cache_dtype)};
}

namespace {

// Normalizes `rows` rows of head_dim values in place with an RmsNorm block.
std::function<void(float*, std::int64_t)> norm_kernel(const RmsNorm& norm) {
  return [norm](float* values, std::int64_t rows) {
    const std::int64_t dim = norm.spec().dim;
    const Tensor view = Tensor::view({rows, dim}, DType::float32, values);
    const Tensor out = norm.prefill_forward(view);
    std::copy_n(out.data<float>(), rows * dim, values);
  };
}

}  // namespace

Attention::Attention(AttentionSpec spec, AttentionImplConfig config, AttentionWeights weights)
    : spec_(std::move(spec)), config_(std::move(config)) {
  spec_.validate();
  config_.validate(spec_);
  validate(spec_, weights);
  head_dim_ = spec_.dim_per_head();
  kv_heads_ = spec_.kv_heads();

  const WeightSource wqkv = concatenate_columns({&weights.wq, &weights.wk, &weights.wv}, false);
  const WeightSource bqkv = spec_.qkv_bias
                                ? concatenate_columns({&weights.bq, &weights.bk, &weights.bv}, true)
                                : WeightSource();
  auto kernels = std::make_shared<Kernels>();
  kernels->qkv = ffn_detail::ShardedProjection(config_.qkv, wqkv, bqkv, 1, "attention.wqkv",
                                               config_.bias_dtype);
  kernels->output =
      ffn_detail::ShardedProjection(config_.output, weights.wo, weights.bo, config_.output_shards,
                                    "attention.wo", config_.bias_dtype);
  kernels->operand_dtype = sdpa_operand_dtype(config_.kv_cache_dtype);
  kernels->scores =
      DeviceMatmul(MatmulConfig{config_.query_dtype, kernels->operand_dtype, DType::float32,
                                config_.sdpa_fidelity, config_.sdpa_accumulation});
  kernels->probs = DeviceMatmul(MatmulConfig{config_.probs_dtype, kernels->operand_dtype,
                                             config_.output.activation_dtype, config_.sdpa_fidelity,
                                             config_.sdpa_accumulation});
  kernels->probs_flash =
      DeviceMatmul(MatmulConfig{config_.probs_dtype, kernels->operand_dtype, DType::float32,
                                config_.sdpa_fidelity, config_.sdpa_accumulation});
  kernels->score_params.scale = static_cast<float>(spec_.score_scale());
  kernels->score_params.cap = static_cast<float>(spec_.logit_softcap);
  kernels->score_params.window = spec_.sliding_window > 0 ? spec_.sliding_window : kNoWindow;
  kernels->score_row = spec_.logit_softcap > 0.0 ? score_row<true> : score_row<false>;
  kernels->slopes.assign(static_cast<std::size_t>(spec_.num_heads), 0.0f);
  if (spec_.positions == AttentionPositions::alibi) {
    const std::vector<double> slopes = alibi_slopes(spec_.num_heads);
    std::transform(slopes.begin(), slopes.end(), kernels->slopes.begin(),
                   [](double slope) { return static_cast<float>(slope); });
  }
  auto identity_rows = [](float*, std::int64_t) {};
  kernels->normalize_q = identity_rows;
  kernels->normalize_k = identity_rows;
  if (spec_.qk_norm) {
    const RmsNormSpec norm_spec{head_dim_, spec_.qk_norm_eps, false};
    kernels->normalize_q = norm_kernel(RmsNorm(norm_spec, config_.qk_norm, {weights.q_norm}));
    kernels->normalize_k = norm_kernel(RmsNorm(norm_spec, config_.qk_norm, {weights.k_norm}));
  }
  kernels->rotate = [](float*, std::int64_t, std::int64_t, const std::int64_t*) {};
  if (spec_.positions == AttentionPositions::rope) {
    kernels->rotate = [rope = Rope(spec_.rope, config_.rope)](float* x, std::int64_t tokens,
                                                              std::int64_t heads,
                                                              const std::int64_t* positions) {
      rope.rotate_in_place(x, tokens, heads, positions);
    };
  }
  kernels_ = std::move(kernels);
}

bool Attention::weights_prepared() const {
  return kernels_->qkv.prepared() && kernels_->output.prepared();
}

void Attention::check_cache(const KVCache& cache, const char* forward) const {
  const bool ok = cache.k.defined() && cache.v.defined() && cache.k.rank() == 4 &&
                  cache.k.shape() == cache.v.shape() && cache.k.dim(1) == kv_heads_ &&
                  cache.k.dim(3) == head_dim_;
  if (!ok) {
    fail(std::string(forward) + ": KV cache has shapes " +
         (cache.k.defined() ? shape_to_string(cache.k.shape()) : std::string("(undefined)")) +
         " and " +
         (cache.v.defined() ? shape_to_string(cache.v.shape()) : std::string("(undefined)")) +
         ", expected [max_batch, " + std::to_string(kv_heads_) + ", max_seq_len, " +
         std::to_string(head_dim_) + "] for both");
  }
  if (cache.k.dtype() != config_.kv_cache_dtype || cache.v.dtype() != config_.kv_cache_dtype) {
    fail(std::string(forward) + ": KV cache has dtype " + std::string(dtype_name(cache.k.dtype())) +
         ", expected config.kv_cache_dtype " + std::string(dtype_name(config_.kv_cache_dtype)));
  }
}

namespace attention_detail {

std::pair<DeviceMatrix, DeviceMatrix> prefill_operands(const Attention::Kernels& kernels,
                                                       const PrefillGroup& group, std::int64_t k0,
                                                       std::int64_t k1,
                                                       const DeviceMatmul& values_matmul,
                                                       std::vector<float>& kt_buffer) {
  const std::int64_t offset = k0 * group.stride;
  return {kernels.scores.prepare(keys_transposed(group.keys + offset, k1 - k0, group.stride,
                                                 group.head_dim, kernels.operand_dtype, kt_buffer)
                                     .clone()),
          values_matmul.prepare(values_gathered(group.values + offset, k1 - k0, group.stride,
                                                group.head_dim, kernels.operand_dtype))};
}

std::vector<float> attend_direct(const Attention::Kernels& kernels,
                                 const AttentionImplConfig& config, const PrefillGroup& group,
                                 std::vector<float>& kt_buffer) {
  const std::int64_t seq = group.seq;
  const std::int64_t rows = group.group * seq;
  const auto [kt, v] = prefill_operands(kernels, group, 0, seq, kernels.probs, kt_buffer);
  std::vector<float> scores(static_cast<std::size_t>(rows * seq));
  kernels.scores.run(group.queries, rows, kt, scores.data());
  for (std::int64_t r = 0; r < group.group; ++r) {
    for (std::int64_t t = 0; t < seq; ++t) {
      kernels.score_row(scores.data() + (r * seq + t) * seq, seq, 0, t, group.slopes[r],
                        kernels.score_params);
    }
  }
  softmax_rows_fp32(scores, seq);
  quantize_in_place(scores, seq, config.probs_dtype);
  std::vector<float> attended(static_cast<std::size_t>(rows * group.head_dim));
  kernels.probs.run(scores.data(), rows, v, attended.data());
  return attended;
}

}  // namespace attention_detail

namespace {

// How the heads of one token sit side by side: H query heads, KV key/value heads.
struct HeadLayout {
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;

  std::int64_t group() const { return heads / kv_heads; }
  std::int64_t q_width() const { return heads * head_dim; }
  std::int64_t kv_width() const { return kv_heads * head_dim; }
};

// The fused QKV projection of `rows` rows of x: rows x (H + 2 KV) * head_dim values.
std::vector<float> project_qkv(const Attention::Kernels& kernels, DType activation_dtype,
                               const Tensor& x, std::int64_t rows, const HeadLayout& layout) {
  const Tensor input = x.dtype() == activation_dtype ? x : x.to(activation_dtype);
  std::vector<float> qkv(
      static_cast<std::size_t>(rows * (layout.q_width() + 2 * layout.kv_width())));
  kernels.qkv.run(input.data<float>(), rows, qkv.data());
  return qkv;
}

// One user's heads: q [tokens, H, head_dim], k and v [tokens, KV, head_dim].
struct Heads {
  std::vector<float> q, k, v;
};

// The heads of `tokens` rows of the fused QKV output from `row` on, at `positions`: q and k
// normalized and rotated, then k and v rounded to the KV-cache dtype and q to the query dtype,
// before anything reads them.
Heads user_heads(const Attention::Kernels& kernels, const AttentionImplConfig& config,
                 const float* qkv, std::int64_t row, std::int64_t tokens, const HeadLayout& layout,
                 const std::int64_t* positions) {
  const std::int64_t q_width = layout.q_width();
  const std::int64_t kv_width = layout.kv_width();
  const std::int64_t width = q_width + 2 * kv_width;
  Heads h;
  h.q.resize(static_cast<std::size_t>(tokens * q_width));
  h.k.resize(static_cast<std::size_t>(tokens * kv_width));
  h.v.resize(static_cast<std::size_t>(tokens * kv_width));
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* source = qkv + (row + t) * width;
    std::copy_n(source, q_width, h.q.data() + t * q_width);
    std::copy_n(source + q_width, kv_width, h.k.data() + t * kv_width);
    std::copy_n(source + q_width + kv_width, kv_width, h.v.data() + t * kv_width);
  }
  kernels.normalize_q(h.q.data(), tokens * layout.heads);
  kernels.normalize_k(h.k.data(), tokens * layout.kv_heads);
  kernels.rotate(h.q.data(), tokens, layout.heads, positions);
  kernels.rotate(h.k.data(), tokens, layout.kv_heads, positions);
  quantize_in_place(h.k, layout.head_dim, config.kv_cache_dtype);
  quantize_in_place(h.v, layout.head_dim, config.kv_cache_dtype);
  quantize_in_place(h.q, layout.head_dim, config.query_dtype);
  return h;
}

// Writes a user's keys and values of positions [0, tokens) to cache slot `slot`.
void store_prefill(const Heads& h, const HeadLayout& layout, std::int64_t tokens, std::int64_t slot,
                   KVCache& cache) {
  const std::int64_t head_dim = layout.head_dim;
  float* k_cache = cache.k.data<float>();
  float* v_cache = cache.v.data<float>();
  for (std::int64_t g = 0; g < layout.kv_heads; ++g) {
    const std::int64_t base = ((slot * layout.kv_heads + g) * cache.max_seq_len()) * head_dim;
    for (std::int64_t t = 0; t < tokens; ++t) {
      const std::int64_t source = (t * layout.kv_heads + g) * head_dim;
      std::copy_n(h.k.data() + source, head_dim, k_cache + base + t * head_dim);
      std::copy_n(h.v.data() + source, head_dim, v_cache + base + t * head_dim);
    }
  }
}

// The queries of KV head g's group as rows: row r * tokens + t is query head g * group + r at
// token t.
std::vector<float> group_queries(const Heads& h, const HeadLayout& layout, std::int64_t g,
                                 std::int64_t tokens) {
  const std::int64_t group = layout.group();
  const std::int64_t head_dim = layout.head_dim;
  std::vector<float> queries(static_cast<std::size_t>(group * tokens * head_dim));
  for (std::int64_t r = 0; r < group; ++r) {
    for (std::int64_t t = 0; t < tokens; ++t) {
      std::copy_n(h.q.data() + (t * layout.heads + g * group + r) * head_dim, head_dim,
                  queries.data() + (r * tokens + t) * head_dim);
    }
  }
  return queries;
}

// The inverse of group_queries for the group's outputs: writes them into `out` [tokens, H,
// head_dim].
void scatter_group(const std::vector<float>& rows, const HeadLayout& layout, std::int64_t g,
                   std::int64_t tokens, float* out) {
  const std::int64_t group = layout.group();
  const std::int64_t head_dim = layout.head_dim;
  for (std::int64_t r = 0; r < group; ++r) {
    for (std::int64_t t = 0; t < tokens; ++t) {
      std::copy_n(rows.data() + (r * tokens + t) * head_dim, head_dim,
                  out + (t * layout.heads + g * group + r) * head_dim);
    }
  }
}

}  // namespace

Tensor Attention::prefill_forward(const Tensor& x, KVCache* cache, std::int64_t first_slot) const {
  const bool shape_ok = x.defined() && (x.rank() == 2 || x.rank() == 3) &&
                        x.dim(-1) == spec_.hidden_dim && is_floating(x.dtype());
  if (!shape_ok) {
    fail("prefill input has shape " +
         (x.defined() ? shape_to_string(x.shape()) : std::string("(undefined)")) +
         ", expected a floating [batch, seq, " + std::to_string(spec_.hidden_dim) + "] or [seq, " +
         std::to_string(spec_.hidden_dim) + "]");
  }
  const std::int64_t batch = x.rank() == 3 ? x.dim(0) : 1;
  const std::int64_t seq = x.dim(-2);
  if (cache != nullptr) {
    check_cache(*cache, "prefill");
    if (seq > cache->max_seq_len()) {
      fail("prefill of " + std::to_string(seq) + " tokens does not fit the KV cache (max_seq_len " +
           std::to_string(cache->max_seq_len()) + ")");
    }
    if (first_slot < 0 || first_slot + batch > cache->max_batch()) {
      fail("prefill of users [" + std::to_string(first_slot) + ", " +
           std::to_string(first_slot + batch) + ") does not fit the KV cache (max_batch " +
           std::to_string(cache->max_batch()) + ")");
    }
  }
  const Kernels& kernels = *kernels_;
  const HeadLayout layout{spec_.num_heads, kv_heads_, head_dim_};
  const std::int64_t rows = batch * seq;
  const std::vector<float> qkv =
      project_qkv(kernels, config_.qkv.activation_dtype, x, rows, layout);
  std::vector<std::int64_t> positions(static_cast<std::size_t>(seq));
  for (std::int64_t t = 0; t < seq; ++t) positions[static_cast<std::size_t>(t)] = t;
  // The prompt's length chooses the SDPA, as on the device.
  const attention_detail::PrefillAttend attend = seq >= config_.flash_min_seq_len
                                                     ? attention_detail::attend_flash
                                                     : attention_detail::attend_direct;

  std::vector<float> attention(static_cast<std::size_t>(rows * layout.q_width()));
  std::vector<float> kt_buffer;
  for (std::int64_t b = 0; b < batch; ++b) {
    const Heads h =
        user_heads(kernels, config_, qkv.data(), b * seq, seq, layout, positions.data());
    if (cache != nullptr) store_prefill(h, layout, seq, first_slot + b, *cache);
    for (std::int64_t g = 0; g < kv_heads_; ++g) {
      const std::vector<float> queries = group_queries(h, layout, g, seq);
      const attention_detail::PrefillGroup group{queries.data(),
                                                 h.k.data() + g * head_dim_,
                                                 h.v.data() + g * head_dim_,
                                                 layout.kv_width(),
                                                 seq,
                                                 layout.group(),
                                                 head_dim_,
                                                 kernels.slopes.data() + g * layout.group()};
      scatter_group(attend(kernels, config_, group, kt_buffer), layout, g, seq,
                    attention.data() + b * seq * layout.q_width());
    }
  }

  std::vector<float> result(static_cast<std::size_t>(rows * spec_.hidden_dim));
  kernels.output.run(attention.data(), rows, result.data());
  return Tensor::from_floats(x.shape(), std::move(result), config_.output.output_dtype);
}

Tensor Attention::decode_forward(const Tensor& x, const Tensor& positions, KVCache& cache) const {
  if (!x.defined() || x.rank() != 2 || x.dim(1) != spec_.hidden_dim || !is_floating(x.dtype())) {
    fail("decode input has shape " +
         (x.defined() ? shape_to_string(x.shape()) : std::string("(undefined)")) +
         ", expected a floating [batch, " + std::to_string(spec_.hidden_dim) + "]");
  }
  check_cache(cache, "decode");
  const std::int64_t batch = x.dim(0);
  if (batch > cache.max_batch()) {
    fail("decode of " + std::to_string(batch) + " users does not fit the KV cache (max_batch " +
         std::to_string(cache.max_batch()) + ")");
  }
  const std::vector<std::int64_t> position_values = checked_indices(
      positions, {batch}, kBlock, "positions", cache.max_seq_len(), "the KV cache's max_seq_len");
  const Kernels& kernels = *kernels_;
  const HeadLayout layout{spec_.num_heads, kv_heads_, head_dim_};
  const std::int64_t group = layout.group();
  const std::int64_t q_width = layout.q_width();
  const std::int64_t max_seq = cache.max_seq_len();
  const std::vector<float> qkv =
      project_qkv(kernels, config_.qkv.activation_dtype, x, batch, layout);

  std::vector<float> attention(static_cast<std::size_t>(batch * q_width));
  std::vector<float> kt_buffer;
  float* k_cache = cache.k.data<float>();
  float* v_cache = cache.v.data<float>();
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::int64_t position = position_values[static_cast<std::size_t>(b)];
    const Heads h = user_heads(kernels, config_, qkv.data(), b, 1, layout, &position);
    const std::int64_t first =
        std::max<std::int64_t>(0, position - kernels.score_params.window + 1);
    const std::int64_t keys = position - first + 1;
    for (std::int64_t g = 0; g < kv_heads_; ++g) {
      const std::int64_t base = (b * kv_heads_ + g) * max_seq * head_dim_;
      std::copy_n(h.k.data() + g * head_dim_, head_dim_, k_cache + base + position * head_dim_);
      std::copy_n(h.v.data() + g * head_dim_, head_dim_, v_cache + base + position * head_dim_);
      const DeviceMatrix kt_matrix = kernels.scores.prepare(
          keys_transposed(k_cache + base + first * head_dim_, keys, head_dim_, head_dim_,
                          kernels.operand_dtype, kt_buffer));
      // A user's values of one head are contiguous in the cache: read them in place (the cache
      // dtype's values are exactly representable in the operand dtype).
      const DeviceMatrix v_matrix = kernels.probs.prepare(Tensor::view(
          {keys, head_dim_}, kernels.operand_dtype, v_cache + base + first * head_dim_));
      std::vector<float> scores(static_cast<std::size_t>(group * keys));
      kernels.scores.run(h.q.data() + g * group * head_dim_, group, kt_matrix, scores.data());
      for (std::int64_t r = 0; r < group; ++r) {
        kernels.score_row(scores.data() + r * keys, keys, first, position,
                          kernels.slopes[static_cast<std::size_t>(g * group + r)],
                          kernels.score_params);
      }
      softmax_rows_fp32(scores, keys);
      quantize_in_place(scores, keys, config_.probs_dtype);
      kernels.probs.run(scores.data(), group, v_matrix,
                        attention.data() + b * q_width + g * group * head_dim_);
    }
  }
  std::vector<float> result(static_cast<std::size_t>(batch * spec_.hidden_dim));
  kernels.output.run(attention.data(), batch, result.data());
  return Tensor::from_floats({batch, spec_.hidden_dim}, std::move(result),
                             config_.output.output_dtype);
}

}  // namespace ttt

#include "blocks/lm_head/lm_head.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "blocks/common/checks.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/common/reference_math.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

constexpr std::int64_t kTile = 32;
constexpr std::int64_t kMaxChunk = 32768;

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("[lm_head] " + message);
}

// Columns [begin, begin + count) of the [hidden, vocab] weight, as float32 [hidden, count]. A
// tied weight is read transposed from the [vocab, hidden] table.
Tensor weight_columns(const Tensor& weight, bool tied, std::int64_t begin, std::int64_t count) {
  const std::int64_t hidden = tied ? weight.dim(1) : weight.dim(0);
  const std::int64_t vocab = tied ? weight.dim(0) : weight.dim(1);
  const float* values = weight.data<float>();
  std::vector<float> columns(static_cast<std::size_t>(hidden * count));
  for (std::int64_t h = 0; h < hidden; ++h) {
    float* target = columns.data() + h * count;
    for (std::int64_t c = 0; c < count; ++c) {
      target[c] = tied ? values[(begin + c) * hidden + h] : values[h * vocab + begin + c];
    }
  }
  return Tensor::from_floats({hidden, count}, std::move(columns));
}

void no_softcap(float*, std::size_t, float) {}

void softcap_fp32(float* logits, std::size_t count, float cap) {
  for (std::size_t i = 0; i < count; ++i) logits[i] = cap * std::tanh(logits[i] / cap);
}

}  // namespace

void LmHeadSpec::validate() const {
  if (hidden_dim <= 0) fail("spec.hidden_dim must be > 0, got " + std::to_string(hidden_dim));
  if (vocab_size <= 0) fail("spec.vocab_size must be > 0, got " + std::to_string(vocab_size));
  if (!std::isfinite(logit_softcap) || logit_softcap < 0.0) {
    fail("spec.logit_softcap must be finite and >= 0 (0 disables it)");
  }
}

void validate(const LmHeadSpec& spec, const LmHeadWeights& weights) {
  check_weight("lm_head", "weight", weights.weight,
               spec.tied_embeddings ? Shape{spec.vocab_size, spec.hidden_dim}
                                    : Shape{spec.hidden_dim, spec.vocab_size});
}

std::string LmHeadSpec::identity() const {
  return Identity("LM_HEAD")
      .add("hidden", hidden_dim)
      .add("vocab", vocab_size)
      .add("tied", tied_embeddings)
      .add("softcap", logit_softcap)
      .str();
}

void LmHeadImplConfig::validate() const {
  for (const auto& [dtype, name] : {std::pair{matmul.activation_dtype, "activation_dtype"},
                                    std::pair{matmul.weight_dtype, "weight_dtype"},
                                    std::pair{matmul.output_dtype, "output_dtype"}}) {
    if (!is_floating(dtype)) {
      fail(std::string("config.matmul.") + name + " is " + std::string(dtype_name(dtype)) +
           ", expected a floating dtype");
    }
  }
  if (vocab_chunk <= 0 || vocab_chunk % kTile != 0) {
    fail("config.vocab_chunk " + std::to_string(vocab_chunk) +
         " must be a positive multiple of 32");
  }
}

LmHeadImplConfig default_impl_config(const LmHeadSpec& spec, Device device, Mode) {
  LmHeadImplConfig config;
  const std::int64_t chips = mesh_shape(device).num_devices();
  const std::int64_t per_chip = (std::max<std::int64_t>(spec.vocab_size, 1) + chips - 1) / chips;
  config.vocab_chunk = std::min(kMaxChunk, (per_chip + kTile - 1) / kTile * kTile);
  return config;
}

LmHeadImplConfig default_impl_config(const LmHeadSpec& spec, Device device, Mode mode, Preset) {
  return default_impl_config(spec, device, mode);
}

namespace {

constexpr auto kSpecFields =
    std::tuple{json_required("hidden_dim", &LmHeadSpec::hidden_dim),
               json_required("vocab_size", &LmHeadSpec::vocab_size),
               json_optional("tied_embeddings", &LmHeadSpec::tied_embeddings),
               json_optional("logit_softcap", &LmHeadSpec::logit_softcap)};
constexpr auto kConfigFields =
    std::tuple{json_optional("matmul", &LmHeadImplConfig::matmul),
               json_optional("vocab_chunk", &LmHeadImplConfig::vocab_chunk)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(LmHeadSpec, "lm_head spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(LmHeadImplConfig, "lm_head impl_config", kConfigFields)

LmHead::LmHead(LmHeadSpec spec, LmHeadImplConfig config, LmHeadWeights weights)
    : spec_(spec), config_(config), matmul_(config.matmul) {
  spec_.validate();
  config_.validate();
  validate(spec_, weights);
  transform_ = spec_.logit_softcap > 0.0 ? softcap_fp32 : no_softcap;
  chunks_ = Prepared<std::vector<DeviceMatrix>>(
      [matmul = matmul_, source = std::move(weights.weight), tied = spec_.tied_embeddings,
       vocab = spec_.vocab_size, chunk = config_.vocab_chunk] {
        const Tensor full = source.load();
        std::vector<DeviceMatrix> chunks;
        for (std::int64_t begin = 0; begin < vocab; begin += chunk) {
          const std::int64_t count = std::min(chunk, vocab - begin);
          chunks.push_back(
              matmul.prepare(weight_columns(full, tied, begin, count), Tensor(), "lm_head.weight"));
        }
        return chunks;
      });
}

Tensor LmHead::forward(const Tensor& x) const {
  const std::int64_t hidden = spec_.hidden_dim;
  const std::int64_t vocab = spec_.vocab_size;
  const std::int64_t rows = x.numel() / hidden;
  std::vector<float> input(x.data<float>(), x.data<float>() + rows * hidden);
  quantize_in_place(input, hidden, config_.matmul.activation_dtype);
  std::vector<float> logits(static_cast<std::size_t>(rows * vocab));
  std::vector<float> chunk_out;
  std::int64_t begin = 0;
  for (const DeviceMatrix& chunk : chunks_.get()) {
    const std::int64_t count = chunk.cols();
    chunk_out.resize(static_cast<std::size_t>(rows * count));
    if (rows > 0) matmul_.run(input.data(), rows, chunk, chunk_out.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      std::copy_n(chunk_out.data() + r * count, count, logits.data() + r * vocab + begin);
    }
    begin += count;
  }
  transform_(logits.data(), logits.size(), static_cast<float>(spec_.logit_softcap));
  Shape shape = x.shape();
  shape.back() = vocab;
  return Tensor::from_floats(std::move(shape), std::move(logits), config_.matmul.output_dtype);
}

Tensor LmHead::prefill_forward(const Tensor& x) const {
  check_features_input("lm_head", x, spec_.hidden_dim, "prefill_forward", InputRows::any);
  return forward(x);
}

Tensor LmHead::decode_forward(const Tensor& x) const {
  check_features_input("lm_head", x, spec_.hidden_dim, "decode_forward", InputRows::batch);
  return forward(x);
}

Tensor lm_head_reference(const LmHeadSpec& spec, const LmHeadWeights& weights, const Tensor& x) {
  spec.validate();
  validate(spec, weights);
  const Tensor weight = weights.weight.load();
  check_features_input("lm_head", x, spec.hidden_dim, "reference", InputRows::any);
  const std::int64_t hidden = spec.hidden_dim;
  const std::int64_t vocab = spec.vocab_size;
  const std::int64_t rows = x.numel() / hidden;
  const std::vector<double> input = reference_values(x);
  std::vector<double> logits;
  if (spec.tied_embeddings) {
    // x · E^T: one dot product per (row, token) over the [vocab, hidden] table.
    const std::span<const float> table = weight.floats();
    logits.assign(static_cast<std::size_t>(rows * vocab), 0.0);
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t t = 0; t < vocab; ++t) {
        double sum = 0.0;
        for (std::int64_t h = 0; h < hidden; ++h) {
          sum += input[static_cast<std::size_t>(r * hidden + h)] *
                 static_cast<double>(table[static_cast<std::size_t>(t * hidden + h)]);
        }
        logits[static_cast<std::size_t>(r * vocab + t)] = sum;
      }
    }
  } else {
    logits = reference_matmul(input, rows, weight);
  }
  if (spec.logit_softcap > 0.0) {
    for (double& value : logits) value = spec.logit_softcap * std::tanh(value / spec.logit_softcap);
  }
  Shape shape = x.shape();
  shape.back() = vocab;
  return reference_tensor(shape, logits);
}

}  // namespace ttt

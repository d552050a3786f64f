#include "blocks/embeddings/embedding.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/common/positions.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

constexpr std::array<std::pair<PositionEmbedding, std::string_view>, 3> kPositionNames{{
    {PositionEmbedding::none, "none"},
    {PositionEmbedding::learned, "learned"},
    {PositionEmbedding::sinusoidal, "sinusoidal"},
}};

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

[[noreturn]] void fail_field(const char* field, const std::string& value,
                             const std::string& message) {
  throw std::invalid_argument(std::string("[embedding] spec.") + field + " (" + value + ") " +
                              message);
}

bool has_position_table(const EmbeddingSpec& spec) {
  return spec.positions != PositionEmbedding::none;
}

// The sinusoid frequencies w_i = base^(-2i / hidden), i < ceil(hidden / 2).
std::vector<double> sinusoid_frequencies(const EmbeddingSpec& spec) {
  std::vector<double> w(static_cast<std::size_t>((spec.hidden_dim + 1) / 2));
  for (std::size_t i = 0; i < w.size(); ++i) {
    w[i] = std::pow(spec.sinusoid_base,
                    -2.0 * static_cast<double>(i) / static_cast<double>(spec.hidden_dim));
  }
  return w;
}

}  // namespace

std::string_view position_embedding_name(PositionEmbedding kind) {
  for (const auto& [entry, name] : kPositionNames) {
    if (entry == kind) return name;
  }
  throw std::invalid_argument("[embedding] invalid position embedding value " +
                              std::to_string(static_cast<int>(kind)));
}

PositionEmbedding parse_position_embedding(std::string_view name) {
  std::string expected;
  for (const auto& [entry, entry_name] : kPositionNames) {
    if (entry_name == name) return entry;
    expected += (expected.empty() ? "" : ", ") + std::string(entry_name);
  }
  throw std::invalid_argument("unknown position embedding '" + std::string(name) +
                              "' (expected one of " + expected + ")");
}

void EmbeddingSpec::validate() const {
  if (vocab_size <= 0) fail_field("vocab_size", std::to_string(vocab_size), "must be > 0");
  if (hidden_dim <= 0) fail_field("hidden_dim", std::to_string(hidden_dim), "must be > 0");
  if (!std::isfinite(scale) || scale == 0.0) {
    fail_field("scale", number(scale), "must be finite and non-zero");
  }
  if (has_position_table(*this) && max_positions <= 0) {
    fail_field("max_positions", std::to_string(max_positions),
               "must be > 0 for " + std::string(position_embedding_name(positions)) + " positions");
  }
  if (max_positions < 0) fail_field("max_positions", std::to_string(max_positions), "must be >= 0");
  if (!(sinusoid_base > 0.0) || !std::isfinite(sinusoid_base)) {
    fail_field("sinusoid_base", number(sinusoid_base), "must be > 0");
  }
}

void validate(const EmbeddingSpec& spec, const EmbeddingWeights& weights) {
  check_weight("embedding", "token_weight", weights.token_weight,
               {spec.vocab_size, spec.hidden_dim});
  const bool learned = spec.positions == PositionEmbedding::learned;
  check_optional_weight(
      "embedding", "position_weight", weights.position_weight,
      {spec.max_positions, spec.hidden_dim}, learned,
      "spec.positions is " + std::string(position_embedding_name(spec.positions)));
}

std::string EmbeddingSpec::identity() const {
  Identity id("EMBEDDING");
  id.add("vocab", vocab_size)
      .add("hidden", hidden_dim)
      .add("scale", scale)
      .add("positions", position_embedding_name(positions));
  if (has_position_table(*this)) id.add("max_positions", max_positions);
  if (positions == PositionEmbedding::sinusoidal) id.add("base", sinusoid_base);
  return id.str();
}

void EmbeddingImplConfig::validate() const {
  for (const auto& [field, dtype] : {std::pair<const char*, DType>{"weight_dtype", weight_dtype},
                                     {"output_dtype", output_dtype}}) {
    if (!is_floating(dtype)) {
      throw std::invalid_argument(std::string("[embedding] config.") + field + " is " +
                                  std::string(dtype_name(dtype)) + ", expected a floating dtype");
    }
  }
}

EmbeddingImplConfig default_impl_config(const EmbeddingSpec&, Device, Mode) { return {}; }

EmbeddingImplConfig default_impl_config(const EmbeddingSpec& spec, Device device, Mode mode,
                                        Preset) {
  return default_impl_config(spec, device, mode);
}

namespace {

constexpr auto kSpecFields =
    std::tuple{json_required("vocab_size", &EmbeddingSpec::vocab_size),
               json_required("hidden_dim", &EmbeddingSpec::hidden_dim),
               json_optional("scale", &EmbeddingSpec::scale),
               json_named("positions", &EmbeddingSpec::positions, position_embedding_name,
                          parse_position_embedding),
               json_optional("max_positions", &EmbeddingSpec::max_positions),
               json_optional("sinusoid_base", &EmbeddingSpec::sinusoid_base)};
constexpr auto kConfigFields =
    std::tuple{json_optional("weight_dtype", &EmbeddingImplConfig::weight_dtype),
               json_optional("output_dtype", &EmbeddingImplConfig::output_dtype)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(EmbeddingSpec, "embedding spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(EmbeddingImplConfig, "embedding impl_config", kConfigFields)

Embedding::Embedding(EmbeddingSpec spec, EmbeddingImplConfig config, EmbeddingWeights weights)
    : spec_(std::move(spec)), config_(config) {
  spec_.validate();
  config_.validate();
  validate(spec_, weights);
  tables_ =
      Prepared<Tables>([spec = spec_, config = config_, token = std::move(weights.token_weight),
                        position = std::move(weights.position_weight)] {
        Tables tables;
        tables.token = token.load().to(config.weight_dtype);
        // A scalar operand is bfloat16 on the device unless the whole computation is float32.
        tables.scale = config.output_dtype == DType::float32
                           ? static_cast<float>(spec.scale)
                           : round_to_bfloat16(static_cast<float>(spec.scale));
        if (spec.positions == PositionEmbedding::learned) {
          tables.position = position.load().to(config.weight_dtype);
        } else if (spec.positions == PositionEmbedding::sinusoidal) {
          // float32 angles and sin/cos, as a host would compute the table, stored in the weight
          // dtype.
          const std::vector<double> w = sinusoid_frequencies(spec);
          const std::int64_t hidden = spec.hidden_dim;
          std::vector<float> values(static_cast<std::size_t>(spec.max_positions * hidden));
          for (std::int64_t p = 0; p < spec.max_positions; ++p) {
            for (std::int64_t d = 0; d < hidden; ++d) {
              const float angle =
                  static_cast<float>(p) * static_cast<float>(w[static_cast<std::size_t>(d / 2)]);
              values[static_cast<std::size_t>(p * hidden + d)] =
                  d % 2 == 0 ? std::sin(angle) : std::cos(angle);
            }
          }
          tables.position = Tensor::from_floats({spec.max_positions, hidden}, std::move(values),
                                                config.weight_dtype);
        }
        return tables;
      });
}

Tensor Embedding::forward(const std::vector<std::int64_t>& ids,
                          const std::vector<std::int64_t>& positions, Shape out_shape) const {
  const Tables& tables = tables_.get();
  const std::int64_t hidden = spec_.hidden_dim;
  std::vector<float> out(ids.size() * static_cast<std::size_t>(hidden));
  const float* token = tables.token.data<float>();
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const float* row = token + ids[t] * hidden;
    float* target = out.data() + t * static_cast<std::size_t>(hidden);
    for (std::int64_t d = 0; d < hidden; ++d) target[d] = row[d] * tables.scale;
  }
  if (tables.position.defined()) {
    const float* position = tables.position.data<float>();
    for (std::size_t t = 0; t < ids.size(); ++t) {
      const float* row = position + positions[t] * hidden;
      float* target = out.data() + t * static_cast<std::size_t>(hidden);
      for (std::int64_t d = 0; d < hidden; ++d) target[d] += row[d];
    }
  }
  return Tensor::from_floats(std::move(out_shape), std::move(out), config_.output_dtype);
}

Tensor Embedding::prefill_forward(const Tensor& ids) const {
  if (!ids.defined() || ids.rank() < 1) {
    throw std::invalid_argument("[embedding] ids must have shape [..., seq]");
  }
  const std::vector<std::int64_t> id_values =
      checked_indices(ids, ids.shape(), "embedding", "ids", spec_.vocab_size, "spec.vocab_size");
  const std::int64_t seq = ids.dim(-1);
  if (has_position_table(spec_) && seq > spec_.max_positions) {
    throw std::invalid_argument("[embedding] ids has " + std::to_string(seq) +
                                " positions per sequence, beyond spec.max_positions (" +
                                std::to_string(spec_.max_positions) + ")");
  }
  std::vector<std::int64_t> positions(id_values.size());
  for (std::size_t i = 0; i < positions.size(); ++i) {
    positions[i] = static_cast<std::int64_t>(i) % seq;
  }
  Shape out_shape = ids.shape();
  out_shape.push_back(spec_.hidden_dim);
  return forward(id_values, positions, std::move(out_shape));
}

Tensor Embedding::decode_forward(const Tensor& ids, const Tensor& positions) const {
  if (!ids.defined() || ids.rank() != 1) {
    throw std::invalid_argument(
        "[embedding] decode ids must have shape [batch] (one token per user), got " +
        (ids.defined() ? shape_to_string(ids.shape()) : std::string("(undefined)")));
  }
  const std::vector<std::int64_t> id_values =
      checked_indices(ids, ids.shape(), "embedding", "ids", spec_.vocab_size, "spec.vocab_size");
  const std::vector<std::int64_t> position_values =
      has_position_table(spec_) ? checked_indices(positions, ids.shape(), "embedding", "positions",
                                                  spec_.max_positions, "spec.max_positions")
                                : checked_indices(positions, ids.shape(), "embedding", "positions");
  return forward(id_values, position_values, {ids.dim(0), spec_.hidden_dim});
}

Tensor embedding_reference(const EmbeddingSpec& spec, const EmbeddingWeights& weights,
                           const Tensor& ids, const Tensor& positions) {
  spec.validate();
  validate(spec, weights);
  const Tensor token_weight = weights.token_weight.load();
  const Tensor position_weight = load_optional(weights.position_weight);
  if (!ids.defined()) throw std::invalid_argument("[embedding.reference] ids is undefined");
  const std::vector<std::int64_t> id_values = checked_indices(
      ids, ids.shape(), "embedding.reference", "ids", spec.vocab_size, "spec.vocab_size");
  const std::int64_t limit = has_position_table(spec) ? spec.max_positions : -1;
  const std::vector<std::int64_t> position_values = checked_indices(
      positions, ids.shape(), "embedding.reference", "positions", limit, "spec.max_positions");

  const std::int64_t hidden = spec.hidden_dim;
  const std::vector<double> w = sinusoid_frequencies(spec);
  Shape out_shape = ids.shape();
  out_shape.push_back(hidden);
  Tensor out(out_shape, DType::float32);
  float* result = out.data<float>();
  const float* token = token_weight.data<float>();
  for (std::size_t t = 0; t < id_values.size(); ++t) {
    for (std::int64_t d = 0; d < hidden; ++d) {
      double value = spec.scale * static_cast<double>(token[id_values[t] * hidden + d]);
      const auto position = static_cast<double>(position_values[t]);
      if (spec.positions == PositionEmbedding::learned) {
        value += position_weight.data<float>()[position_values[t] * hidden + d];
      } else if (spec.positions == PositionEmbedding::sinusoidal) {
        const double angle = position * w[static_cast<std::size_t>(d / 2)];
        value += d % 2 == 0 ? std::sin(angle) : std::cos(angle);
      }
      result[t * static_cast<std::size_t>(hidden) + static_cast<std::size_t>(d)] =
          static_cast<float>(value);
    }
  }
  return out;
}

}  // namespace ttt

#include "blocks/rope/rope.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>

#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/common/positions.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

constexpr std::array<std::pair<RopeScaling, std::string_view>, 5> kScalingNames{{
    {RopeScaling::none, "default"},
    {RopeScaling::linear, "linear"},
    {RopeScaling::llama3, "llama3"},
    {RopeScaling::yarn, "yarn"},
    {RopeScaling::longrope, "longrope"},
}};

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

[[noreturn]] void fail_field(const std::string& field, const std::string& value,
                             const std::string& message) {
  throw std::invalid_argument("[rope] spec." + field + " (" + value + ") " + message);
}

void require_positive(const char* field, double value) {
  if (!(value > 0.0) || !std::isfinite(value)) fail_field(field, number(value), "must be > 0");
}

// Yarn's magnitude correction (Hugging Face get_mscale).
double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

// The longrope factor and original length after Phi-3's rule (see RopeSpec).
std::pair<double, double> longrope_factor_and_original(const RopeSpec& spec) {
  if (spec.original_max_position_embeddings > 0) {
    const auto original = static_cast<double>(spec.original_max_position_embeddings);
    return {static_cast<double>(spec.max_position_embeddings) / original, original};
  }
  return {spec.factor, static_cast<double>(spec.max_position_embeddings)};
}

std::vector<double> default_frequencies(const RopeSpec& spec) {
  const std::int64_t dim = spec.effective_rotary_dim();
  std::vector<double> inv(static_cast<std::size_t>(dim / 2));
  for (std::size_t i = 0; i < inv.size(); ++i) {
    inv[i] = 1.0 / std::pow(spec.theta, static_cast<double>(2 * i) / static_cast<double>(dim));
  }
  return inv;
}

std::vector<double> llama3_frequencies(const RopeSpec& spec) {
  std::vector<double> inv = default_frequencies(spec);
  const auto old_context = static_cast<double>(spec.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / spec.low_freq_factor;
  const double high_freq_wavelen = old_context / spec.high_freq_factor;
  for (double& frequency : inv) {
    const double wavelen = 2.0 * std::numbers::pi / frequency;
    if (wavelen < high_freq_wavelen) continue;
    if (wavelen > low_freq_wavelen) {
      frequency /= spec.factor;
      continue;
    }
    const double smooth = (old_context / wavelen - spec.low_freq_factor) /
                          (spec.high_freq_factor - spec.low_freq_factor);
    frequency = (1.0 - smooth) * frequency / spec.factor + smooth * frequency;
  }
  return inv;
}

std::vector<double> yarn_frequencies(const RopeSpec& spec) {
  const auto dim = static_cast<double>(spec.effective_rotary_dim());
  const auto original = static_cast<double>(spec.original_max_position_embeddings > 0
                                                ? spec.original_max_position_embeddings
                                                : spec.max_position_embeddings);
  auto correction_dim = [&](double rotations) {
    return dim * std::log(original / (rotations * 2.0 * std::numbers::pi)) /
           (2.0 * std::log(spec.theta));
  };
  double low = correction_dim(spec.beta_fast);
  double high = correction_dim(spec.beta_slow);
  if (spec.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, dim - 1.0);
  if (low == high) high += 0.001;  // Hugging Face's guard against a zero-width ramp.

  std::vector<double> inv = default_frequencies(spec);
  for (std::size_t i = 0; i < inv.size(); ++i) {
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation_weight = 1.0 - ramp;
    const double interpolation = inv[i] / spec.factor;
    inv[i] = interpolation * (1.0 - extrapolation_weight) + inv[i] * extrapolation_weight;
  }
  return inv;
}

std::vector<double> longrope_frequencies(const RopeSpec& spec, bool long_factors) {
  std::vector<double> inv = default_frequencies(spec);
  const std::vector<double>& rescale = long_factors ? spec.long_factor : spec.short_factor;
  for (std::size_t i = 0; i < inv.size(); ++i) inv[i] /= rescale[i];
  return inv;
}

std::uint32_t fnv1a(const std::vector<double>& a, const std::vector<double>& b) {
  std::uint32_t hash = 2166136261u;
  for (const std::vector<double>* list : {&a, &b}) {
    for (double value : *list) {
      const std::string text = number(value) + ";";
      for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 16777619u;
      }
    }
    hash ^= '|';
    hash *= 16777619u;
  }
  return hash;
}

void check_shapes(const RopeSpec& spec, const Tensor& x, const char* block) {
  if (!x.defined() || x.rank() < 2 || x.dim(-1) != spec.head_dim || !is_floating(x.dtype())) {
    throw std::invalid_argument(
        std::string("[") + block + "] x has shape " +
        (x.defined()
             ? shape_to_string(x.shape()) + " and dtype " + std::string(dtype_name(x.dtype()))
             : std::string("(undefined)")) +
        ", expected a floating tensor [..., heads, " + std::to_string(spec.head_dim) + "]");
  }
}

Shape leading_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }

}  // namespace

std::string_view rope_scaling_name(RopeScaling scaling) {
  for (const auto& [entry, name] : kScalingNames) {
    if (entry == scaling) return name;
  }
  throw std::invalid_argument("[rope] invalid scaling value " +
                              std::to_string(static_cast<int>(scaling)));
}

RopeScaling parse_rope_scaling(std::string_view name) {
  std::string expected;
  for (const auto& [entry, entry_name] : kScalingNames) {
    if (entry_name == name) return entry;
    expected += (expected.empty() ? "" : ", ") + std::string(entry_name);
  }
  throw std::invalid_argument("unknown rope scaling '" + std::string(name) + "' (expected one of " +
                              expected + ")");
}

void RopeSpec::validate() const {
  if (head_dim <= 0) fail_field("head_dim", std::to_string(head_dim), "must be > 0");
  if (rotary_dim < 0 || rotary_dim > head_dim) {
    fail_field("rotary_dim", std::to_string(rotary_dim),
               "must be in [0, head_dim " + std::to_string(head_dim) + "] (0 means head_dim)");
  }
  if (effective_rotary_dim() % 2 != 0) {
    fail_field(rotary_dim == 0 ? "head_dim" : "rotary_dim", std::to_string(effective_rotary_dim()),
               "must be even: rotate-half pairs value i with value i + rotary_dim / 2");
  }
  require_positive("theta", theta);
  if (max_position_embeddings <= 0) {
    fail_field("max_position_embeddings", std::to_string(max_position_embeddings), "must be > 0");
  }
  if (original_max_position_embeddings < 0) {
    fail_field("original_max_position_embeddings", std::to_string(original_max_position_embeddings),
               "must be >= 0");
  }
  if (!(attention_factor >= 0.0)) {
    fail_field("attention_factor", number(attention_factor), "must be >= 0 (0 derives it)");
  }
  const std::size_t half = static_cast<std::size_t>(effective_rotary_dim() / 2);
  switch (scaling) {
    case RopeScaling::none:
      break;
    case RopeScaling::linear:
      require_positive("factor", factor);
      break;
    case RopeScaling::llama3:
      require_positive("factor", factor);
      require_positive("low_freq_factor", low_freq_factor);
      if (!(high_freq_factor > low_freq_factor)) {
        fail_field("high_freq_factor", number(high_freq_factor),
                   "must be > low_freq_factor (" + number(low_freq_factor) + ")");
      }
      if (original_max_position_embeddings <= 0) {
        fail_field("original_max_position_embeddings",
                   std::to_string(original_max_position_embeddings), "must be > 0 for llama3");
      }
      break;
    case RopeScaling::yarn:
      require_positive("factor", factor);
      require_positive("beta_fast", beta_fast);
      require_positive("beta_slow", beta_slow);
      if (!(mscale >= 0.0)) fail_field("mscale", number(mscale), "must be >= 0 (0 means unset)");
      if (!(mscale_all_dim >= 0.0)) {
        fail_field("mscale_all_dim", number(mscale_all_dim), "must be >= 0 (0 means unset)");
      }
      break;
    case RopeScaling::longrope:
      for (const auto& [field, list] :
           {std::pair<const char*, const std::vector<double>*>{"short_factor", &short_factor},
            {"long_factor", &long_factor}}) {
        if (list->size() != half) {
          fail_field(field, std::to_string(list->size()) + " values",
                     "must have rotary_dim / 2 = " + std::to_string(half) + " values");
        }
        for (double value : *list) {
          if (!(value > 0.0) || !std::isfinite(value)) {
            fail_field(field, "value " + number(value), "must hold only values > 0");
          }
        }
      }
      if (original_max_position_embeddings == 0) require_positive("factor", factor);
      break;
  }
}

std::vector<double> rope_inverse_frequencies(const RopeSpec& spec, bool long_factors) {
  switch (spec.scaling) {
    case RopeScaling::none:
      return default_frequencies(spec);
    case RopeScaling::linear: {
      std::vector<double> inv = default_frequencies(spec);
      for (double& frequency : inv) frequency /= spec.factor;
      return inv;
    }
    case RopeScaling::llama3:
      return llama3_frequencies(spec);
    case RopeScaling::yarn:
      return yarn_frequencies(spec);
    case RopeScaling::longrope:
      return longrope_frequencies(spec, long_factors);
  }
  throw std::invalid_argument("[rope] invalid scaling value");
}

double rope_attention_scaling(const RopeSpec& spec) {
  if (spec.scaling == RopeScaling::yarn) {
    if (spec.attention_factor > 0.0) return spec.attention_factor;
    if (spec.mscale > 0.0 && spec.mscale_all_dim > 0.0) {
      return yarn_mscale(spec.factor, spec.mscale) / yarn_mscale(spec.factor, spec.mscale_all_dim);
    }
    return yarn_mscale(spec.factor, 1.0);
  }
  if (spec.scaling == RopeScaling::longrope) {
    if (spec.attention_factor > 0.0) return spec.attention_factor;
    const auto [factor, original] = longrope_factor_and_original(spec);
    return factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(factor) / std::log(original));
  }
  return 1.0;
}

std::int64_t rope_long_factor_threshold(const RopeSpec& spec) {
  if (spec.scaling != RopeScaling::longrope) return std::numeric_limits<std::int64_t>::max();
  return spec.original_max_position_embeddings > 0 ? spec.original_max_position_embeddings
                                                   : spec.max_position_embeddings;
}

std::string RopeSpec::identity() const {
  const RopeSpec& spec = *this;
  Identity id("ROPE");
  id.add("head_dim", spec.head_dim)
      .add("rotary_dim", spec.effective_rotary_dim())
      .add("theta", spec.theta)
      .add("max_pos", spec.max_position_embeddings)
      .add("scaling", rope_scaling_name(spec.scaling));
  switch (spec.scaling) {
    case RopeScaling::none:
      break;
    case RopeScaling::linear:
      id.add("factor", spec.factor);
      break;
    case RopeScaling::llama3:
      id.add("factor", spec.factor)
          .add("low_freq_factor", spec.low_freq_factor)
          .add("high_freq_factor", spec.high_freq_factor)
          .add("original_max_pos", spec.original_max_position_embeddings);
      break;
    case RopeScaling::yarn:
      id.add("factor", spec.factor)
          .add("original_max_pos", spec.original_max_position_embeddings)
          .add("beta_fast", spec.beta_fast)
          .add("beta_slow", spec.beta_slow)
          .add("mscale", spec.mscale)
          .add("mscale_all_dim", spec.mscale_all_dim)
          .add("truncate", spec.truncate)
          .add("attention_factor", spec.attention_factor);
      break;
    case RopeScaling::longrope: {
      char hash[16];
      std::snprintf(hash, sizeof(hash), "%08x", fnv1a(spec.short_factor, spec.long_factor));
      id.add("factor", spec.factor)
          .add("original_max_pos", spec.original_max_position_embeddings)
          .add("attention_factor", spec.attention_factor)
          .add("factors", hash);
      break;
    }
  }
  return id.str();
}

RopeImplConfig default_impl_config(const RopeSpec& spec, Device, Mode) {
  RopeImplConfig config;
  config.table_positions =
      std::min<std::int64_t>(config.table_positions, spec.max_position_embeddings);
  return config;
}

RopeImplConfig default_impl_config(const RopeSpec& spec, Device device, Mode mode, Preset) {
  return default_impl_config(spec, device, mode);
}

void RopeImplConfig::validate() const {
  if (table_positions <= 0) {
    throw std::invalid_argument("[rope] config.table_positions (" +
                                std::to_string(table_positions) + ") must be > 0");
  }
  for (const auto& [field, dtype] : {std::pair<const char*, DType>{"table_dtype", table_dtype},
                                     {"activation_dtype", activation_dtype}}) {
    if (!is_floating(dtype)) {
      throw std::invalid_argument(std::string("[rope] config.") + field + " is " +
                                  std::string(dtype_name(dtype)) + ", expected a floating dtype");
    }
  }
}

Rope::Rope(RopeSpec spec, RopeImplConfig config) : spec_(std::move(spec)), config_(config) {
  spec_.validate();
  config_.validate();
  half_ = spec_.effective_rotary_dim() / 2;
  long_threshold_ = rope_long_factor_threshold(spec_);
  tables_ =
      Prepared<Tables>([spec = spec_, config = config_] { return build_tables(spec, config); });
}

Rope::Tables Rope::build_tables(const RopeSpec& spec, const RopeImplConfig& config) {
  // As Hugging Face: float32 inverse frequencies, float32 angle = position * inv_freq, float32
  // cos/sin times the attention factor, then stored in the table dtype.
  const auto scale = static_cast<float>(rope_attention_scaling(spec));
  const std::int64_t half = spec.effective_rotary_dim() / 2;
  auto make = [&](bool long_factors, Tensor& cos_table, Tensor& sin_table) {
    const std::vector<double> inv = rope_inverse_frequencies(spec, long_factors);
    std::vector<float> cos_values(static_cast<std::size_t>(config.table_positions * half));
    std::vector<float> sin_values(cos_values.size());
    for (std::int64_t p = 0; p < config.table_positions; ++p) {
      for (std::int64_t i = 0; i < half; ++i) {
        const float angle =
            static_cast<float>(p) * static_cast<float>(inv[static_cast<std::size_t>(i)]);
        const auto index = static_cast<std::size_t>(p * half + i);
        cos_values[index] = std::cos(angle) * scale;
        sin_values[index] = std::sin(angle) * scale;
      }
    }
    const Shape shape{config.table_positions, half};
    cos_table = Tensor::from_floats(shape, std::move(cos_values), config.table_dtype);
    sin_table = Tensor::from_floats(shape, std::move(sin_values), config.table_dtype);
  };
  Tables tables;
  make(false, tables.cos, tables.sin);
  if (spec.scaling == RopeScaling::longrope) {
    make(true, tables.long_cos, tables.long_sin);
  } else {
    tables.long_cos = tables.cos;
    tables.long_sin = tables.sin;
  }
  return tables;
}

const Tensor& Rope::cos_table() const { return tables_.get().cos; }
const Tensor& Rope::sin_table() const { return tables_.get().sin; }

void Rope::rotate_in_place(float* x, std::int64_t tokens, std::int64_t heads,
                           const std::int64_t* positions) const {
  std::int64_t max_position = -1;
  for (std::int64_t t = 0; t < tokens; ++t) {
    if (positions[t] < 0 || positions[t] >= config_.table_positions) {
      throw std::invalid_argument(
          "[rope] position " + std::to_string(positions[t]) + " is outside the cos/sin table [0, " +
          std::to_string(config_.table_positions) + ") (raise config.table_positions)");
    }
    max_position = std::max(max_position, positions[t]);
  }
  const Tables& tables = tables_.get();
  const bool use_long = max_position + 1 > long_threshold_;
  const float* cos_table = (use_long ? tables.long_cos : tables.cos).data<float>();
  const float* sin_table = (use_long ? tables.long_sin : tables.sin).data<float>();
  const std::int64_t head_dim = spec_.head_dim;
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* cos_row = cos_table + positions[t] * half_;
    const float* sin_row = sin_table + positions[t] * half_;
    for (std::int64_t h = 0; h < heads; ++h) {
      float* first = x + (t * heads + h) * head_dim;
      float* second = first + half_;
      for (std::int64_t i = 0; i < half_; ++i) {
        const float a = first[i];
        const float b = second[i];
        first[i] = a * cos_row[i] - b * sin_row[i];
        second[i] = b * cos_row[i] + a * sin_row[i];
      }
    }
  }
  quantize_in_place(std::span<float>(x, static_cast<std::size_t>(tokens * heads * head_dim)),
                    head_dim, config_.activation_dtype);
}

Tensor Rope::forward(const Tensor& x, const Tensor& positions) const {
  check_shapes(spec_, x, "rope");
  const std::vector<std::int64_t> position_values =
      checked_indices(positions, leading_shape(x), "rope", "positions");
  Tensor out = x.to(config_.activation_dtype);
  rotate_in_place(out.data<float>(), static_cast<std::int64_t>(position_values.size()), x.dim(-2),
                  position_values.data());
  return out;
}

void rope_reference_rotate(const RopeSpec& spec, double* x, std::int64_t tokens, std::int64_t heads,
                           const std::int64_t* positions) {
  std::int64_t max_position = -1;
  for (std::int64_t t = 0; t < tokens; ++t) max_position = std::max(max_position, positions[t]);
  const std::vector<double> inv =
      rope_inverse_frequencies(spec, max_position + 1 > rope_long_factor_threshold(spec));
  const double scale = rope_attention_scaling(spec);
  const std::int64_t half = spec.effective_rotary_dim() / 2;
  for (std::int64_t t = 0; t < tokens; ++t) {
    const auto position = static_cast<double>(positions[t]);
    for (std::int64_t h = 0; h < heads; ++h) {
      double* first = x + (t * heads + h) * spec.head_dim;
      double* second = first + half;
      for (std::int64_t i = 0; i < half; ++i) {
        const double angle = position * inv[static_cast<std::size_t>(i)];
        const double c = std::cos(angle) * scale;
        const double s = std::sin(angle) * scale;
        const double a = first[i];
        const double b = second[i];
        first[i] = a * c - b * s;
        second[i] = b * c + a * s;
      }
    }
  }
}

Tensor rope_reference(const RopeSpec& spec, const Tensor& x, const Tensor& positions) {
  spec.validate();
  check_shapes(spec, x, "rope.reference");
  const std::vector<std::int64_t> position_values =
      checked_indices(positions, leading_shape(x), "rope.reference", "positions");
  std::vector<double> values(x.floats().begin(), x.floats().end());
  rope_reference_rotate(spec, values.data(), static_cast<std::int64_t>(position_values.size()),
                        x.dim(-2), position_values.data());
  std::vector<float> out(values.begin(), values.end());
  return Tensor::from_floats(x.shape(), std::move(out));
}

namespace {

constexpr auto kSpecFields = std::tuple{
    json_optional("head_dim", &RopeSpec::head_dim),
    json_optional("rotary_dim", &RopeSpec::rotary_dim),
    json_optional("theta", &RopeSpec::theta),
    json_optional("max_position_embeddings", &RopeSpec::max_position_embeddings),
    json_named("scaling", &RopeSpec::scaling, rope_scaling_name, parse_rope_scaling),
    json_optional("factor", &RopeSpec::factor),
    json_optional("low_freq_factor", &RopeSpec::low_freq_factor),
    json_optional("high_freq_factor", &RopeSpec::high_freq_factor),
    json_optional("original_max_position_embeddings", &RopeSpec::original_max_position_embeddings),
    json_optional("beta_fast", &RopeSpec::beta_fast),
    json_optional("beta_slow", &RopeSpec::beta_slow),
    json_optional("mscale", &RopeSpec::mscale),
    json_optional("mscale_all_dim", &RopeSpec::mscale_all_dim),
    json_optional("truncate", &RopeSpec::truncate),
    json_optional("attention_factor", &RopeSpec::attention_factor),
    json_optional("short_factor", &RopeSpec::short_factor),
    json_optional("long_factor", &RopeSpec::long_factor)};
constexpr auto kConfigFields =
    std::tuple{json_optional("table_dtype", &RopeImplConfig::table_dtype),
               json_optional("activation_dtype", &RopeImplConfig::activation_dtype),
               json_optional("table_positions", &RopeImplConfig::table_positions)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(RopeSpec, "rope spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(RopeImplConfig, "rope impl_config", kConfigFields)

}  // namespace ttt

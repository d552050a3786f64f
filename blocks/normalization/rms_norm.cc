#include "blocks/normalization/rms_norm.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "blocks/common/checks.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/normalization/row_kernels.h"
#include "blocks/normalization/row_sums.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("[rms_norm] " + message);
}

}  // namespace

void RmsNormSpec::validate() const {
  if (dim <= 0) fail("spec.dim must be > 0, got " + std::to_string(dim));
  if (!std::isfinite(eps) || eps < 0.0) fail("spec.eps must be finite and >= 0");
}

void validate(const RmsNormSpec& spec, const RmsNormWeights& weights) {
  check_weight("rms_norm", "weight", weights.weight, {spec.dim});
}

std::string RmsNormSpec::identity() const {
  return Identity("RMS_NORM").add("dim", dim).add("eps", eps).add("offset", add_unit_offset).str();
}

void RmsNormImplConfig::validate(const RmsNormSpec& spec) const {
  for (const auto& [dtype, field] :
       {std::pair{activation_dtype, "activation_dtype"}, std::pair{weight_dtype, "weight_dtype"},
        std::pair{output_dtype, "output_dtype"}, std::pair{stats_dtype, "stats_dtype"}}) {
    if (!is_floating(dtype)) {
      fail(std::string("config.") + field + " is " + std::string(dtype_name(dtype)) +
           ", expected a floating dtype");
    }
  }
  if (stat_shards < 1) fail("config.stat_shards must be >= 1, got " + std::to_string(stat_shards));
  if (spec.dim % stat_shards != 0) {
    fail("config.stat_shards " + std::to_string(stat_shards) + " does not divide spec.dim " +
         std::to_string(spec.dim));
  }
}

RmsNormImplConfig default_impl_config(const RmsNormSpec& spec, Device device, Mode mode) {
  RmsNormImplConfig config;
  std::int64_t shards = 1;
  if (device == Device::TG) shards = mesh_shape(device).cols;
  if (device == Device::T3K && mode == Mode::prefill) shards = mesh_shape(device).num_devices();
  // A dimension that does not split evenly stays on one chip rather than failing here.
  if (spec.dim > 0 && spec.dim % shards == 0) config.stat_shards = shards;
  return config;
}

RmsNormImplConfig default_impl_config(const RmsNormSpec& spec, Device device, Mode mode, Preset) {
  return default_impl_config(spec, device, mode);
}

namespace {

constexpr auto kSpecFields =
    std::tuple{json_required("dim", &RmsNormSpec::dim), json_optional("eps", &RmsNormSpec::eps),
               json_optional("add_unit_offset", &RmsNormSpec::add_unit_offset)};
constexpr auto kConfigFields =
    std::tuple{json_optional("activation_dtype", &RmsNormImplConfig::activation_dtype),
               json_optional("weight_dtype", &RmsNormImplConfig::weight_dtype),
               json_optional("output_dtype", &RmsNormImplConfig::output_dtype),
               json_optional("accumulation", &RmsNormImplConfig::accumulation),
               json_optional("stat_shards", &RmsNormImplConfig::stat_shards),
               json_optional("stats_dtype", &RmsNormImplConfig::stats_dtype)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(RmsNormSpec, "rms_norm spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(RmsNormImplConfig, "rms_norm impl_config", kConfigFields)

RmsNorm::RmsNorm(RmsNormSpec spec, RmsNormImplConfig config, RmsNormWeights weights)
    : spec_(spec), config_(config) {
  spec_.validate();
  config_.validate(spec_);
  validate(spec_, weights);
  round_intermediate_ = norm_detail::intermediate_rounding(config_.accumulation);
  // A single chip exchanges nothing: its sum stays in float32.
  exchanged_stats_dtype_ = config_.stat_shards == 1 ? DType::float32 : config_.stats_dtype;
  weight_ = norm_detail::prepared_rms_scale(std::move(weights.weight), spec_.add_unit_offset,
                                            config_.weight_dtype);
}

Tensor RmsNorm::prefill_forward(const Tensor& x) const {
  check_features_input("rms_norm", x, spec_.dim, "prefill_forward", InputRows::any);
  return forward(x);
}

Tensor RmsNorm::decode_forward(const Tensor& x) const {
  check_features_input("rms_norm", x, spec_.dim, "decode_forward", InputRows::batch);
  return forward(x);
}

Tensor RmsNorm::forward(const Tensor& x) const {
  const Tensor input = x.dtype() == config_.activation_dtype ? x : x.to(config_.activation_dtype);
  const float* scale = weight_.get().data<float>();
  const std::int64_t dim = spec_.dim;
  const std::int64_t shards = config_.stat_shards;
  const std::int64_t shard = dim / shards;
  const std::int64_t rows = dim == 0 ? 0 : input.numel() / dim;
  const float* in = input.data<float>();
  Tensor output = norm_detail::output_for(x.shape(), config_.output_dtype);
  float* out = output.data<float>();
  const float eps = static_cast<float>(spec_.eps);
  const float inverse_dim = 1.0f / static_cast<float>(dim);
  // Every chip's partial sum of squares of every row (each shard is a contiguous run of the row),
  // rounded for the exchange; then each row's partials are added in chip order.
  std::vector<float> partials(static_cast<std::size_t>(rows * shards));
  norm_detail::reduce_rows({true, config_.accumulation}, in, rows * shards, shard, shard,
                           partials.data(), norm_detail::RowKernel::automatic);
  quantize_in_place(partials, shards, exchanged_stats_dtype_);
  for (std::int64_t r = 0; r < rows; ++r) {
    float sum = 0.0f;
    for (std::int64_t s = 0; s < shards; ++s) {
      sum += partials[static_cast<std::size_t>(r * shards + s)];
    }
    // The kernel's buffers: mean square, 1 / rms and x / rms (docs/numerics.md).
    const float inverse_rms = norm_detail::rms_inverse(sum, inverse_dim, eps, round_intermediate_);
    norm_detail::rms_scale_row(in + r * dim, dim, inverse_rms, scale, config_.accumulation,
                               out + r * dim, norm_detail::RowKernel::automatic);
  }
  return norm_detail::finish_output(std::move(output), config_.output_dtype);
}

Tensor rms_norm_reference(const RmsNormSpec& spec, const RmsNormWeights& weights, const Tensor& x) {
  spec.validate();
  validate(spec, weights);
  const Tensor weight = weights.weight.load();
  check_features_input("rms_norm", x, spec.dim, "reference", InputRows::any);
  const std::int64_t dim = spec.dim;
  const std::int64_t rows = x.numel() / dim;
  const double offset = spec.add_unit_offset ? 1.0 : 0.0;
  // The values as at_flat reads them, converted once.
  const Tensor values = x.to(DType::float64);
  const Tensor scale = weight.to(DType::float64);
  const double* w = scale.data<double>();
  std::vector<float> out(static_cast<std::size_t>(x.numel()));
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* row = values.data<double>() + r * dim;
    double mean_square = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) mean_square += row[i] * row[i];
    mean_square /= static_cast<double>(dim);
    const double inverse_rms = 1.0 / std::sqrt(mean_square + spec.eps);
    for (std::int64_t i = 0; i < dim; ++i) {
      out[static_cast<std::size_t>(r * dim + i)] =
          static_cast<float>(row[i] * inverse_rms * (offset + w[i]));
    }
  }
  return Tensor::from_floats(x.shape(), std::move(out));
}

}  // namespace ttt

#include "blocks/normalization/layer_norm.h"

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

namespace ttt {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("[layer_norm] " + message);
}

}  // namespace

void LayerNormSpec::validate() const {
  if (dim <= 0) fail("spec.dim must be > 0, got " + std::to_string(dim));
  if (!std::isfinite(eps) || eps < 0.0) fail("spec.eps must be finite and >= 0");
}

void validate(const LayerNormSpec& spec, const LayerNormWeights& weights) {
  check_weight("layer_norm", "weight", weights.weight, {spec.dim});
  check_optional_weight("layer_norm", "bias", weights.bias, {spec.dim}, spec.bias,
                        flag_condition("bias", spec.bias));
}

std::string LayerNormSpec::identity() const {
  return Identity("LAYER_NORM").add("dim", dim).add("eps", eps).add("bias", bias).str();
}

void LayerNormImplConfig::validate() const {
  for (const auto& [dtype, field] :
       {std::pair{activation_dtype, "activation_dtype"}, std::pair{weight_dtype, "weight_dtype"},
        std::pair{output_dtype, "output_dtype"}}) {
    if (!is_floating(dtype)) {
      fail(std::string("config.") + field + " is " + std::string(dtype_name(dtype)) +
           ", expected a floating dtype");
    }
  }
}

LayerNormImplConfig default_impl_config(const LayerNormSpec&, Device, Mode) { return {}; }

LayerNormImplConfig default_impl_config(const LayerNormSpec& spec, Device device, Mode mode,
                                        Preset) {
  return default_impl_config(spec, device, mode);
}

namespace {

constexpr auto kSpecFields =
    std::tuple{json_required("dim", &LayerNormSpec::dim), json_optional("eps", &LayerNormSpec::eps),
               json_optional("bias", &LayerNormSpec::bias)};
constexpr auto kConfigFields =
    std::tuple{json_optional("activation_dtype", &LayerNormImplConfig::activation_dtype),
               json_optional("weight_dtype", &LayerNormImplConfig::weight_dtype),
               json_optional("output_dtype", &LayerNormImplConfig::output_dtype),
               json_optional("accumulation", &LayerNormImplConfig::accumulation)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(LayerNormSpec, "layer_norm spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(LayerNormImplConfig, "layer_norm impl_config", kConfigFields)

LayerNorm::LayerNorm(LayerNormSpec spec, LayerNormImplConfig config, LayerNormWeights weights)
    : spec_(spec), config_(config) {
  spec_.validate();
  config_.validate();
  validate(spec_, weights);
  round_intermediate_ = norm_detail::intermediate_rounding(config_.accumulation);
  weights_ =
      Prepared<DeviceWeights>([weight = std::move(weights.weight), bias = std::move(weights.bias),
                               dim = spec_.dim, dtype = config_.weight_dtype] {
        DeviceWeights prepared;
        prepared.weight = weight.load().to(dtype);
        prepared.bias = bias.defined() ? bias.load().to(dtype) : Tensor({dim}, dtype);
        return prepared;
      });
}

Tensor LayerNorm::prefill_forward(const Tensor& x) const {
  check_features_input("layer_norm", x, spec_.dim, "prefill_forward", InputRows::any);
  return forward(x);
}

Tensor LayerNorm::decode_forward(const Tensor& x) const {
  check_features_input("layer_norm", x, spec_.dim, "decode_forward", InputRows::batch);
  return forward(x);
}

Tensor LayerNorm::forward(const Tensor& x) const {
  const Tensor input = x.dtype() == config_.activation_dtype ? x : x.to(config_.activation_dtype);
  const DeviceWeights& prepared = weights_.get();
  const float* weight = prepared.weight.data<float>();
  const float* bias = prepared.bias.data<float>();
  const std::int64_t dim = spec_.dim;
  const std::int64_t rows = input.numel() / dim;
  const float inverse_dim = 1.0f / static_cast<float>(dim);
  const float eps = static_cast<float>(spec_.eps);
  Tensor output = norm_detail::output_for(x.shape(), config_.output_dtype);
  float* out = output.data<float>();
  const float* in = input.data<float>();
  const Accumulation accumulation = config_.accumulation;
  constexpr auto kKernel = norm_detail::RowKernel::automatic;
  // Each named intermediate is a buffer of the kernel (docs/numerics.md); each step runs over all
  // rows before the next, so that the row reductions run many rows at once.
  std::vector<float> sums(static_cast<std::size_t>(rows));
  norm_detail::reduce_rows({false, accumulation}, in, rows, dim, dim, sums.data(), kKernel);
  for (std::int64_t r = 0; r < rows; ++r) {
    const float mean = round_intermediate_(sums[static_cast<std::size_t>(r)] * inverse_dim);
    norm_detail::center_row(in + r * dim, dim, mean, accumulation, out + r * dim, kKernel);
  }
  norm_detail::reduce_rows({true, accumulation}, out, rows, dim, dim, sums.data(), kKernel);
  for (std::int64_t r = 0; r < rows; ++r) {
    const float variance = round_intermediate_(sums[static_cast<std::size_t>(r)] * inverse_dim);
    const float inverse_std = round_intermediate_(1.0f / std::sqrt(variance + eps));
    float* centered = out + r * dim;
    // Without a bias the kernel packs the weighted value to the output directly: no buffer to
    // round to.
    norm_detail::layer_scale_row(centered, dim, inverse_std, weight, bias, accumulation,
                                 spec_.bias, centered, kKernel);
  }
  return norm_detail::finish_output(std::move(output), config_.output_dtype);
}

Tensor layer_norm_reference(const LayerNormSpec& spec, const LayerNormWeights& weights,
                            const Tensor& x) {
  spec.validate();
  validate(spec, weights);
  const Tensor weight = weights.weight.load();
  const Tensor bias = load_optional(weights.bias);
  check_features_input("layer_norm", x, spec.dim, "reference", InputRows::any);
  const std::int64_t dim = spec.dim;
  const std::int64_t rows = x.numel() / dim;
  // The values as at_flat reads them, converted once; no bias adds 0.
  const Tensor values = x.to(DType::float64);
  const Tensor scale = weight.to(DType::float64);
  const Tensor shift = bias.defined() ? bias.to(DType::float64) : Tensor({dim}, DType::float64);
  const double* w = scale.data<double>();
  const double* b = shift.data<double>();
  std::vector<float> out(static_cast<std::size_t>(x.numel()));
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* row = values.data<double>() + r * dim;
    double mean = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) mean += row[i];
    mean /= static_cast<double>(dim);
    double variance = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) variance += (row[i] - mean) * (row[i] - mean);
    variance /= static_cast<double>(dim);
    const double inverse_std = 1.0 / std::sqrt(variance + spec.eps);
    for (std::int64_t i = 0; i < dim; ++i) {
      out[static_cast<std::size_t>(r * dim + i)] =
          static_cast<float>((row[i] - mean) * inverse_std * w[i] + b[i]);
    }
  }
  return Tensor::from_floats(x.shape(), std::move(out));
}

}  // namespace ttt

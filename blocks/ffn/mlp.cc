#include "blocks/ffn/mlp.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "blocks/common/checks.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/common/reference_math.h"
#include "blocks/ffn/ffn_common.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

constexpr const char* kBlock = "mlp";

}  // namespace

void MlpSpec::validate() const {
  if (hidden_dim <= 0) {
    ffn_detail::fail(kBlock, "spec.hidden_dim must be > 0, got " + std::to_string(hidden_dim));
  }
  if (ffn_dim <= 0) {
    ffn_detail::fail(kBlock, "spec.ffn_dim must be > 0, got " + std::to_string(ffn_dim));
  }
}

void validate(const MlpSpec& spec, const MlpWeights& weights) {
  check_weight(kBlock, "w_up", weights.w_up, {spec.hidden_dim, spec.ffn_dim});
  check_weight(kBlock, "w_down", weights.w_down, {spec.ffn_dim, spec.hidden_dim});
  const std::string condition = flag_condition("bias", spec.bias);
  check_optional_weight(kBlock, "b_up", weights.b_up, {spec.ffn_dim}, spec.bias, condition);
  check_optional_weight(kBlock, "b_down", weights.b_down, {spec.hidden_dim}, spec.bias, condition);
}

std::string MlpSpec::identity() const {
  return Identity("MLP")
      .add("hidden", hidden_dim)
      .add("ffn", ffn_dim)
      .add("act", activation_name(activation))
      .add("bias", bias)
      .str();
}

void MlpImplConfig::validate(const MlpSpec& spec) const {
  ffn_detail::check_matmul_config(kBlock, "ff1", ff1);
  ffn_detail::check_matmul_config(kBlock, "ff2", ff2);
  ffn_detail::check_shards(kBlock, reduction_shards, spec.ffn_dim);
  ffn_detail::check_floating(kBlock, "bias_dtype", bias_dtype);
  if (prefill_chunk_rows < 1) {
    ffn_detail::fail(kBlock, "config.prefill_chunk_rows must be >= 1, got " +
                                 std::to_string(prefill_chunk_rows));
  }
}

MlpImplConfig default_impl_config(const MlpSpec& spec, Device device, Mode) {
  MlpImplConfig config;
  config.reduction_shards = ffn_detail::default_reduction_shards(device, spec.ffn_dim);
  return config;
}

MlpImplConfig default_impl_config(const MlpSpec& spec, Device device, Mode mode, Preset preset) {
  MlpImplConfig config = default_impl_config(spec, device, mode);
  if (preset == Preset::performance) {
    config.ff1.weight_dtype = DType::bfloat4_b;
    config.ff1.fidelity = MathFidelity::LoFi;
  }
  return config;
}

namespace {

constexpr auto kSpecFields = std::tuple{
    json_required("hidden_dim", &MlpSpec::hidden_dim), json_required("ffn_dim", &MlpSpec::ffn_dim),
    json_optional("activation", &MlpSpec::activation), json_optional("bias", &MlpSpec::bias)};
constexpr auto kConfigFields =
    std::tuple{json_optional("ff1", &MlpImplConfig::ff1), json_optional("ff2", &MlpImplConfig::ff2),
               json_optional("reduction_shards", &MlpImplConfig::reduction_shards),
               json_optional("prefill_chunk_rows", &MlpImplConfig::prefill_chunk_rows),
               json_optional("bias_dtype", &MlpImplConfig::bias_dtype)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(MlpSpec, "mlp spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(MlpImplConfig, "mlp impl_config", kConfigFields)

Mlp::Mlp(MlpSpec spec, MlpImplConfig config, MlpWeights weights) : spec_(spec), config_(config) {
  spec_.validate();
  config_.validate(spec_);
  validate(spec_, weights);
  up_ = ffn_detail::ShardedProjection(config_.ff1, std::move(weights.w_up), std::move(weights.b_up),
                                      1, "mlp.w_up", config_.bias_dtype);
  down_ = ffn_detail::ShardedProjection(config_.ff2, std::move(weights.w_down),
                                        std::move(weights.b_down), config_.reduction_shards,
                                        "mlp.w_down", config_.bias_dtype);
  activation_ = activation_kernel(spec_.activation);
}

Tensor Mlp::forward(const Tensor& x, std::int64_t chunk_rows) const {
  const std::int64_t hidden = spec_.hidden_dim;
  const std::int64_t ffn = spec_.ffn_dim;
  const std::int64_t rows = x.numel() / hidden;
  std::vector<float> out(static_cast<std::size_t>(rows * hidden));
  std::vector<float> inner;
  for (std::int64_t begin = 0; begin < rows; begin += chunk_rows) {
    const std::int64_t count = std::min(chunk_rows, rows - begin);
    const std::vector<float> input = ffn_detail::rows_in_dtype(
        x.data<float>() + begin * hidden, count, hidden, config_.ff1.activation_dtype);
    inner.resize(static_cast<std::size_t>(count * ffn));
    up_.run(input.data(), count, inner.data());
    activation_(inner);
    quantize_in_place(inner, ffn, config_.ff2.activation_dtype);
    down_.run(inner.data(), count, out.data() + begin * hidden);
  }
  return Tensor::from_floats(x.shape(), std::move(out), config_.ff2.output_dtype);
}

Tensor Mlp::prefill_forward(const Tensor& x) const {
  check_features_input(kBlock, x, spec_.hidden_dim, "prefill_forward", InputRows::any);
  return forward(x, config_.prefill_chunk_rows);
}

Tensor Mlp::decode_forward(const Tensor& x) const {
  check_features_input(kBlock, x, spec_.hidden_dim, "decode_forward", InputRows::batch);
  return forward(x, std::max<std::int64_t>(1, x.dim(0)));
}

Tensor mlp_reference(const MlpSpec& spec, const MlpWeights& weights, const Tensor& x) {
  spec.validate();
  validate(spec, weights);
  check_features_input(kBlock, x, spec.hidden_dim, "reference", InputRows::any);
  const std::int64_t rows = x.numel() / spec.hidden_dim;
  std::vector<double> inner =
      reference_matmul(reference_values(x), rows, weights.w_up.load(), load_optional(weights.b_up));
  for (double& value : inner) value = activation_reference(spec.activation, value);
  return reference_tensor(x.shape(), reference_matmul(inner, rows, weights.w_down.load(),
                                                      load_optional(weights.b_down)));
}

}  // namespace ttt

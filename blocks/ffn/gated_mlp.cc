#include "blocks/ffn/gated_mlp.h"

#include <algorithm>
#include <nlohmann/json.hpp>
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

constexpr const char* kBlock = "gated_mlp";

}  // namespace

void GatedMlpSpec::validate() const {
  if (hidden_dim <= 0) {
    ffn_detail::fail(kBlock, "spec.hidden_dim must be > 0, got " + std::to_string(hidden_dim));
  }
  if (ffn_dim <= 0) {
    ffn_detail::fail(kBlock, "spec.ffn_dim must be > 0, got " + std::to_string(ffn_dim));
  }
}

void validate(const GatedMlpSpec& spec, const GatedMlpWeights& weights) {
  check_weight(kBlock, "w_gate", weights.w_gate, {spec.hidden_dim, spec.ffn_dim});
  check_weight(kBlock, "w_up", weights.w_up, {spec.hidden_dim, spec.ffn_dim});
  check_weight(kBlock, "w_down", weights.w_down, {spec.ffn_dim, spec.hidden_dim});
}

std::string GatedMlpSpec::identity() const {
  return Identity("GATED_MLP")
      .add("hidden", hidden_dim)
      .add("ffn", ffn_dim)
      .add("act", activation_name(activation))
      .str();
}

void GatedMlpImplConfig::validate(const GatedMlpSpec& spec) const {
  ffn_detail::check_matmul_config(kBlock, "ff1_ff3", ff1_ff3);
  ffn_detail::check_matmul_config(kBlock, "ff2", ff2);
  ffn_detail::check_shards(kBlock, reduction_shards, spec.ffn_dim);
  if (prefill_chunk_rows < 1) {
    ffn_detail::fail(kBlock, "config.prefill_chunk_rows must be >= 1, got " +
                                 std::to_string(prefill_chunk_rows));
  }
}

GatedMlpImplConfig default_impl_config(const GatedMlpSpec& spec, Device device, Mode) {
  GatedMlpImplConfig config;
  config.reduction_shards = ffn_detail::default_reduction_shards(device, spec.ffn_dim);
  return config;
}

GatedMlpImplConfig default_impl_config(const GatedMlpSpec& spec, Device device, Mode mode,
                                       Preset preset) {
  GatedMlpImplConfig config = default_impl_config(spec, device, mode);
  if (preset == Preset::performance) {
    config.ff1_ff3.weight_dtype = DType::bfloat4_b;
    config.ff1_ff3.fidelity = MathFidelity::LoFi;
  }
  return config;
}

namespace {

constexpr auto kSpecFields = std::tuple{json_required("hidden_dim", &GatedMlpSpec::hidden_dim),
                                        json_required("ffn_dim", &GatedMlpSpec::ffn_dim),
                                        json_optional("activation", &GatedMlpSpec::activation)};
constexpr auto kConfigFields =
    std::tuple{json_optional("ff1_ff3", &GatedMlpImplConfig::ff1_ff3),
               json_optional("ff2", &GatedMlpImplConfig::ff2),
               json_optional("reduction_shards", &GatedMlpImplConfig::reduction_shards),
               json_optional("prefill_chunk_rows", &GatedMlpImplConfig::prefill_chunk_rows)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(GatedMlpSpec, "gated_mlp spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(GatedMlpImplConfig, "gated_mlp impl_config", kConfigFields)

GatedMlp::GatedMlp(GatedMlpSpec spec, GatedMlpImplConfig config, GatedMlpWeights weights)
    : spec_(spec), config_(config) {
  spec_.validate();
  config_.validate(spec_);
  validate(spec_, weights);
  gate_ = ffn_detail::ShardedProjection(config_.ff1_ff3, std::move(weights.w_gate), WeightSource(),
                                        1, "gated_mlp.w_gate");
  up_ = ffn_detail::ShardedProjection(config_.ff1_ff3, std::move(weights.w_up), WeightSource(), 1,
                                      "gated_mlp.w_up");
  down_ = ffn_detail::ShardedProjection(config_.ff2, std::move(weights.w_down), WeightSource(),
                                        config_.reduction_shards, "gated_mlp.w_down");
  activation_ = activation_kernel(spec_.activation);
}

bool GatedMlp::weights_prepared() const {
  return gate_.prepared() && up_.prepared() && down_.prepared();
}

void GatedMlp::run_rows(const float* x, std::int64_t rows, float* out) const {
  const std::int64_t hidden = spec_.hidden_dim;
  const std::int64_t ffn = spec_.ffn_dim;
  const std::vector<float> input =
      ffn_detail::rows_in_dtype(x, rows, hidden, config_.ff1_ff3.activation_dtype);
  std::vector<float> gate(static_cast<std::size_t>(rows * ffn));
  std::vector<float> up(gate.size());
  gate_.run(input.data(), rows, gate.data());
  up_.run(input.data(), rows, up.data());
  activation_(gate);
  for (std::size_t i = 0; i < gate.size(); ++i) gate[i] *= up[i];
  quantize_in_place(gate, ffn, config_.ff2.activation_dtype);
  down_.run(gate.data(), rows, out);
}

Tensor GatedMlp::forward(const Tensor& x, std::int64_t chunk_rows) const {
  const std::int64_t hidden = spec_.hidden_dim;
  const std::int64_t rows = x.numel() / hidden;
  std::vector<float> out(static_cast<std::size_t>(rows * hidden));
  for (std::int64_t begin = 0; begin < rows; begin += chunk_rows) {
    const std::int64_t count = std::min(chunk_rows, rows - begin);
    run_rows(x.data<float>() + begin * hidden, count, out.data() + begin * hidden);
  }
  return Tensor::from_floats(x.shape(), std::move(out), config_.ff2.output_dtype);
}

Tensor GatedMlp::prefill_forward(const Tensor& x) const {
  check_features_input(kBlock, x, spec_.hidden_dim, "prefill_forward", InputRows::any);
  return forward(x, config_.prefill_chunk_rows);
}

Tensor GatedMlp::decode_forward(const Tensor& x) const {
  check_features_input(kBlock, x, spec_.hidden_dim, "decode_forward", InputRows::batch);
  return forward(x, std::max<std::int64_t>(1, x.dim(0)));
}

Tensor gated_mlp_reference(const GatedMlpSpec& spec, const GatedMlpWeights& weights,
                           const Tensor& x) {
  spec.validate();
  validate(spec, weights);
  check_features_input(kBlock, x, spec.hidden_dim, "reference", InputRows::any);
  const std::int64_t rows = x.numel() / spec.hidden_dim;
  return reference_tensor(
      x.shape(), ffn_detail::gated_mlp_reference_rows(spec.activation, reference_values(x), rows,
                                                      weights.w_gate.load(), weights.w_up.load(),
                                                      weights.w_down.load()));
}

}  // namespace ttt

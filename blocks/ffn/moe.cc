#include "blocks/ffn/moe.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <utility>

#include "blocks/common/checks.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/common/reference_math.h"
#include "blocks/ffn/ffn_common.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

constexpr const char* kBlock = "moe";

// Expert indices ordered by descending logit, ties to the lower index; the first top_k.
template <typename T>
std::vector<std::int64_t> top_indices(std::span<const T> logits, std::int64_t top_k) {
  std::vector<std::int64_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
  });
  order.resize(static_cast<std::size_t>(top_k));
  return order;
}

void check_top_k(std::size_t experts, std::int64_t top_k) {
  if (top_k < 1 || top_k > static_cast<std::int64_t>(experts)) {
    ffn_detail::fail(kBlock, "top_k " + std::to_string(top_k) + " must be in [1, " +
                                 std::to_string(experts) + "]");
  }
}

}  // namespace

void MoeSpec::validate() const {
  if (hidden_dim <= 0) {
    ffn_detail::fail(kBlock, "spec.hidden_dim must be > 0, got " + std::to_string(hidden_dim));
  }
  if (ffn_dim <= 0) {
    ffn_detail::fail(kBlock, "spec.ffn_dim must be > 0, got " + std::to_string(ffn_dim));
  }
  if (num_experts <= 0) {
    ffn_detail::fail(kBlock, "spec.num_experts must be > 0, got " + std::to_string(num_experts));
  }
  if (top_k < 1) ffn_detail::fail(kBlock, "spec.top_k must be >= 1, got " + std::to_string(top_k));
  if (top_k > num_experts) {
    ffn_detail::fail(kBlock, "spec.top_k " + std::to_string(top_k) + " exceeds spec.num_experts " +
                                 std::to_string(num_experts));
  }
}

std::string MoeSpec::identity() const {
  return Identity("MOE")
      .add("hidden", hidden_dim)
      .add("ffn", ffn_dim)
      .add("experts", num_experts)
      .add("top_k", top_k)
      .add("act", activation_name(activation))
      .str();
}

void MoeImplConfig::validate(const MoeSpec& spec) const {
  ffn_detail::check_matmul_config(kBlock, "router", router);
  if (!is_floating(combine_dtype)) {
    ffn_detail::fail(kBlock, "config.combine_dtype is " + std::string(dtype_name(combine_dtype)) +
                                 ", expected a floating dtype");
  }
  expert.validate(spec.expert_spec());
}

MoeImplConfig default_impl_config(const MoeSpec& spec, Device device, Mode mode) {
  MoeImplConfig config;
  config.expert = default_impl_config(spec.expert_spec(), Device::N150, mode);
  (void)device;  // Every target holds each expert whole on one chip.
  return config;
}

MoeImplConfig default_impl_config(const MoeSpec& spec, Device device, Mode mode, Preset preset) {
  MoeImplConfig config = default_impl_config(spec, device, mode);
  config.expert = default_impl_config(spec.expert_spec(), Device::N150, mode, preset);
  return config;
}

namespace {

constexpr auto kSpecFields = std::tuple{
    json_required("hidden_dim", &MoeSpec::hidden_dim), json_required("ffn_dim", &MoeSpec::ffn_dim),
    json_required("num_experts", &MoeSpec::num_experts), json_required("top_k", &MoeSpec::top_k),
    json_optional("activation", &MoeSpec::activation)};
constexpr auto kConfigFields =
    std::tuple{json_optional("router", &MoeImplConfig::router),
               json_optional("expert", &MoeImplConfig::expert),
               json_optional("combine_dtype", &MoeImplConfig::combine_dtype)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(MoeSpec, "moe spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(MoeImplConfig, "moe impl_config", kConfigFields)

std::vector<ExpertChoice> select_experts(std::span<const float> logits, std::int64_t top_k) {
  check_top_k(logits.size(), top_k);
  const std::vector<std::int64_t> chosen = top_indices(logits, top_k);
  const float maximum = logits[static_cast<std::size_t>(chosen.front())];
  std::vector<ExpertChoice> choices;
  float sum = 0.0f;
  for (std::int64_t expert : chosen) {
    const float weight = std::exp(logits[static_cast<std::size_t>(expert)] - maximum);
    choices.push_back({expert, weight});
    sum += weight;
  }
  for (ExpertChoice& choice : choices) choice.weight = round_to_bfloat16(choice.weight / sum);
  return choices;
}

std::vector<std::pair<std::int64_t, double>> select_experts_reference(
    std::span<const double> logits, std::int64_t top_k) {
  check_top_k(logits.size(), top_k);
  const std::vector<std::int64_t> chosen = top_indices(logits, top_k);
  const double maximum = logits[static_cast<std::size_t>(chosen.front())];
  std::vector<std::pair<std::int64_t, double>> choices;
  double sum = 0.0;
  for (std::int64_t expert : chosen) {
    const double weight = std::exp(logits[static_cast<std::size_t>(expert)] - maximum);
    choices.emplace_back(expert, weight);
    sum += weight;
  }
  for (auto& choice : choices) choice.second /= sum;
  return choices;
}

void validate(const MoeSpec& spec, const MoeWeights& weights) {
  check_weight(kBlock, "router", weights.router, {spec.hidden_dim, spec.num_experts});
  if (static_cast<std::int64_t>(weights.experts.size()) != spec.num_experts) {
    ffn_detail::fail(kBlock, "got weights for " + std::to_string(weights.experts.size()) +
                                 " experts, spec.num_experts is " +
                                 std::to_string(spec.num_experts));
  }
  const Shape up{spec.hidden_dim, spec.ffn_dim};
  for (std::size_t e = 0; e < weights.experts.size(); ++e) {
    const GatedMlpWeights& expert = weights.experts[e];
    const std::string index = "/" + std::to_string(e);
    check_weight(kBlock, ("w_gate" + index).c_str(), expert.w_gate, up);
    check_weight(kBlock, ("w_up" + index).c_str(), expert.w_up, up);
    check_weight(kBlock, ("w_down" + index).c_str(), expert.w_down,
                 {spec.ffn_dim, spec.hidden_dim});
  }
}

Moe::Moe(MoeSpec spec, MoeImplConfig config, MoeWeights weights)
    : Moe(spec, config, std::move(weights), ExpertRange{0, spec.num_experts}) {}

Moe::Moe(MoeSpec spec, MoeImplConfig config, MoeWeights weights, ExpertRange held)
    : spec_(spec), config_(config), held_(held), router_matmul_(config.router) {
  spec_.validate();
  config_.validate(spec_);
  validate(spec_, weights);
  if (held_.first < 0 || held_.count < 1 || held_.first + held_.count > spec_.num_experts) {
    ffn_detail::fail(kBlock, "experts " + std::to_string(held_.first) + ".." +
                                 std::to_string(held_.first + held_.count - 1) +
                                 " are not all among spec.num_experts " +
                                 std::to_string(spec_.num_experts));
  }
  router_ = Prepared<DeviceMatrix>([matmul = router_matmul_, source = weights.router] {
    return matmul.prepare(source.load(), Tensor(), "moe.router");
  });
  for (std::int64_t e = held_.first; e < held_.first + held_.count; ++e) {
    experts_.emplace_back(spec_.expert_spec(), config_.expert,
                          std::move(weights.experts[static_cast<std::size_t>(e)]));
  }
}

bool Moe::expert_prepared(std::int64_t expert) const {
  return router_.ready() &&
         experts_.at(static_cast<std::size_t>(expert - held_.first)).weights_prepared();
}

Tensor Moe::forward(const Tensor& x) const {
  const std::int64_t hidden = spec_.hidden_dim;
  const std::int64_t experts = spec_.num_experts;
  const std::int64_t rows = x.numel() / hidden;
  const std::vector<float> input =
      ffn_detail::rows_in_dtype(x.data<float>(), rows, hidden, config_.router.activation_dtype);
  std::vector<float> logits(static_cast<std::size_t>(rows * experts));
  if (rows > 0) router_matmul_.run(input.data(), rows, router_.get(), logits.data());

  // Route: per expert, the rows it serves and their weights.
  std::vector<std::vector<std::int64_t>> routed_rows(static_cast<std::size_t>(experts));
  std::vector<std::vector<float>> routed_weights(static_cast<std::size_t>(experts));
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::span<const float> row_logits(logits.data() + r * experts,
                                            static_cast<std::size_t>(experts));
    for (const ExpertChoice& choice : select_experts(row_logits, spec_.top_k)) {
      routed_rows[static_cast<std::size_t>(choice.expert)].push_back(r);
      routed_weights[static_cast<std::size_t>(choice.expert)].push_back(choice.weight);
    }
  }

  // Each held expert runs on its rows; the weighted outputs are summed in expert order.
  std::vector<float> out(static_cast<std::size_t>(rows * hidden), 0.0f);
  std::vector<float> gathered;
  std::vector<float> expert_out;
  for (std::int64_t e = held_.first; e < held_.first + held_.count; ++e) {
    const std::vector<std::int64_t>& served = routed_rows[static_cast<std::size_t>(e)];
    const auto count = static_cast<std::int64_t>(served.size());
    if (count == 0) continue;
    gathered.resize(static_cast<std::size_t>(count * hidden));
    for (std::int64_t i = 0; i < count; ++i) {
      std::copy_n(x.data<float>() + served[static_cast<std::size_t>(i)] * hidden, hidden,
                  gathered.data() + i * hidden);
    }
    expert_out.resize(gathered.size());
    experts_[static_cast<std::size_t>(e - held_.first)].run_rows(gathered.data(), count,
                                                                 expert_out.data());
    for (std::int64_t i = 0; i < count; ++i) {
      const float weight = routed_weights[static_cast<std::size_t>(e)][static_cast<std::size_t>(i)];
      float* target = out.data() + served[static_cast<std::size_t>(i)] * hidden;
      const float* source = expert_out.data() + i * hidden;
      for (std::int64_t j = 0; j < hidden; ++j) target[j] += weight * source[j];
      quantize_in_place(std::span<float>(target, static_cast<std::size_t>(hidden)), hidden,
                        config_.combine_dtype);
    }
  }
  return Tensor::from_floats(x.shape(), std::move(out), config_.combine_dtype);
}

Tensor Moe::prefill_forward(const Tensor& x) const {
  check_features_input(kBlock, x, spec_.hidden_dim, "prefill_forward", InputRows::any);
  return forward(x);
}

Tensor Moe::decode_forward(const Tensor& x) const {
  check_features_input(kBlock, x, spec_.hidden_dim, "decode_forward", InputRows::batch);
  return forward(x);
}

Tensor moe_reference(const MoeSpec& spec, const MoeWeights& weights, const Tensor& x) {
  spec.validate();
  check_features_input(kBlock, x, spec.hidden_dim, "reference", InputRows::any);
  validate(spec, weights);
  const auto experts = static_cast<std::size_t>(spec.num_experts);
  // Each expert's w_gate, w_up, w_down, loaded when a token is first routed to it.
  std::vector<std::vector<Tensor>> loaded(experts);
  const auto expert_weights = [&](std::size_t e) -> const std::vector<Tensor>& {
    if (loaded[e].empty()) {
      const GatedMlpWeights& expert = weights.experts[e];
      loaded[e] = {expert.w_gate.load(), expert.w_up.load(), expert.w_down.load()};
    }
    return loaded[e];
  };
  const std::int64_t hidden = spec.hidden_dim;
  const std::int64_t rows = x.numel() / hidden;
  const std::vector<double> input = reference_values(x);
  const std::vector<double> logits = reference_matmul(input, rows, weights.router.load());
  std::vector<double> out(static_cast<std::size_t>(rows * hidden), 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::span<const double> row_logits(logits.data() + r * spec.num_experts, experts);
    const std::vector<double> row(input.begin() + r * hidden, input.begin() + (r + 1) * hidden);
    for (const auto& [expert, weight] : select_experts_reference(row_logits, spec.top_k)) {
      const std::vector<Tensor>& w = expert_weights(static_cast<std::size_t>(expert));
      const std::vector<double> down =
          ffn_detail::gated_mlp_reference_rows(spec.activation, row, 1, w[0], w[1], w[2]);
      for (std::int64_t j = 0; j < hidden; ++j) {
        out[static_cast<std::size_t>(r * hidden + j)] += weight * down[static_cast<std::size_t>(j)];
      }
    }
  }
  return reference_tensor(x.shape(), out);
}

}  // namespace ttt

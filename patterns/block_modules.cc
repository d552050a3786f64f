#include "patterns/block_modules.h"

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "blocks/common/block_kind.h"
#include "patterns/internal/block_module_support.h"
#include "validation/input/json_reader.h"

namespace ttt {

using pattern_detail::block_infos;
using pattern_detail::make_blocks;
using pattern_detail::named_weights;

WeightSource load_once(WeightSource source) {
  if (!source.defined()) return source;
  const Shape shape = source.shape();
  Prepared<Tensor> once([source = std::move(source)] { return source.load(); });
  return WeightSource(shape, [once] { return once.get(); });
}

namespace {

// The kinds of each variant, in the order of its alternatives.
constexpr std::string_view kNormKinds[] = {"rms_norm", "layer_norm"};
constexpr std::string_view kFfnKinds[] = {"gated_mlp", "mlp", "moe"};

std::string kind_list(std::span<const std::string_view> kinds) {
  std::string text;
  for (const std::string_view kind : kinds) {
    if (!text.empty()) text += ", ";
    text += kind;
  }
  return text;
}

// Variant JSON: {"<kind>": <the alternative's JSON>}.
template <typename Variant>
void variant_to_json(nlohmann::json& json, const Variant& value,
                     std::span<const std::string_view> kinds) {
  json = nlohmann::json::object();
  std::visit(
      [&](const auto& alternative) { json[std::string(kinds[value.index()])] = alternative; },
      value);
}

// Reads alternative `I` when `kind` is kinds[I].
template <typename Variant, std::size_t I = 0>
void read_alternative(const JsonNode& body, std::string_view kind,
                      std::span<const std::string_view> kinds, Variant& value) {
  if constexpr (I < std::variant_size_v<Variant>) {
    if (kind == kinds[I]) {
      std::variant_alternative_t<I, Variant> alternative{};
      read_json(body, alternative);
      value = std::move(alternative);
      return;
    }
    read_alternative<Variant, I + 1>(body, kind, kinds, value);
  }
}

template <typename Variant>
void read_variant(const JsonNode& node, Variant& value, std::span<const std::string_view> kinds) {
  if (node.object().size() != 1) {
    node.fail("expected an object with one key naming the block (one of " + kind_list(kinds) +
              "), got " + node.json().dump());
  }
  const std::string kind = node.json().begin().key();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    node.at(kind).fail("unknown block '" + kind + "' (expected one of " + kind_list(kinds) + ")");
  }
  read_alternative(node.at(kind), kind, kinds, value);
}

// A positionwise module over a block with prefill_forward(x) and decode_forward(x).
template <typename Block>
class PositionwiseBlockModule : public PositionwiseModule {
 public:
  Tensor forward(const Tensor& x, Mode mode) const override {
    return mode == Mode::prefill ? blocks_.prefill->prefill_forward(x)
                                 : blocks_.decode->decode_forward(x);
  }
  ModuleInfo info(Mode mode) const override { return infos_[mode]; }

 protected:
  PerMode<std::shared_ptr<const Block>> blocks_;
  PerMode<ModuleInfo> infos_;
};

class RmsNormModule final : public PositionwiseBlockModule<RmsNorm> {
 public:
  RmsNormModule(const RmsNormSpec& spec, const PerMode<RmsNormImplConfig>& configs,
                NormWeights weights)
      : spec_(spec), weights_{load_once(std::move(weights.weight))} {
    if (weights.bias.defined()) {
      throw std::invalid_argument("[rms_norm] a bias was given, but RMSNorm has none");
    }
    blocks_ = make_blocks<RmsNorm>(configs, [&](const RmsNormImplConfig& config) {
      return std::make_shared<const RmsNorm>(spec_, config, weights_);
    });
    infos_ = block_infos(kNormKinds[0], kNormKinds[0], spec_, configs);
  }
  Tensor reference(const Tensor& x) const override {
    return rms_norm_reference(spec_, weights_, x);
  }
  std::vector<NamedTensor> weights() const override {
    return named_weights(kNormKinds[0], spec_, {&weights_.weight});
  }

 private:
  RmsNormSpec spec_;
  RmsNormWeights weights_;
};

class LayerNormModule final : public PositionwiseBlockModule<LayerNorm> {
 public:
  LayerNormModule(const LayerNormSpec& spec, const PerMode<LayerNormImplConfig>& configs,
                  NormWeights weights)
      : spec_(spec),
        weights_{load_once(std::move(weights.weight)), load_once(std::move(weights.bias))} {
    blocks_ = make_blocks<LayerNorm>(configs, [&](const LayerNormImplConfig& config) {
      return std::make_shared<const LayerNorm>(spec_, config, weights_);
    });
    infos_ = block_infos(kNormKinds[1], kNormKinds[1], spec_, configs);
  }
  Tensor reference(const Tensor& x) const override {
    return layer_norm_reference(spec_, weights_, x);
  }
  std::vector<NamedTensor> weights() const override {
    return named_weights(kNormKinds[1], spec_, {&weights_.weight, &weights_.bias});
  }

 private:
  LayerNormSpec spec_;
  LayerNormWeights weights_;
};

class GatedMlpModule final : public PositionwiseBlockModule<GatedMlp> {
 public:
  GatedMlpModule(const GatedMlpSpec& spec, const PerMode<GatedMlpImplConfig>& configs,
                 GatedMlpWeights weights)
      : spec_(spec),
        weights_{load_once(std::move(weights.w_gate)), load_once(std::move(weights.w_up)),
                 load_once(std::move(weights.w_down))} {
    blocks_ = make_blocks<GatedMlp>(configs, [&](const GatedMlpImplConfig& config) {
      return std::make_shared<const GatedMlp>(spec_, config, weights_);
    });
    infos_ = block_infos(kFfnKinds[0], kFfnKinds[0], spec_, configs);
  }
  Tensor reference(const Tensor& x) const override {
    return gated_mlp_reference(spec_, weights_, x);
  }
  std::vector<NamedTensor> weights() const override {
    return named_weights(kFfnKinds[0], spec_, {&weights_.w_gate, &weights_.w_up, &weights_.w_down});
  }

 private:
  GatedMlpSpec spec_;
  GatedMlpWeights weights_;
};

class MlpModule final : public PositionwiseBlockModule<Mlp> {
 public:
  MlpModule(const MlpSpec& spec, const PerMode<MlpImplConfig>& configs, MlpWeights weights)
      : spec_(spec),
        weights_{load_once(std::move(weights.w_up)), load_once(std::move(weights.w_down)),
                 load_once(std::move(weights.b_up)), load_once(std::move(weights.b_down))} {
    blocks_ = make_blocks<Mlp>(configs, [&](const MlpImplConfig& config) {
      return std::make_shared<const Mlp>(spec_, config, weights_);
    });
    infos_ = block_infos(kFfnKinds[1], kFfnKinds[1], spec_, configs);
  }
  Tensor reference(const Tensor& x) const override { return mlp_reference(spec_, weights_, x); }
  std::vector<NamedTensor> weights() const override {
    return named_weights(kFfnKinds[1], spec_,
                         {&weights_.w_up, &weights_.w_down, &weights_.b_up, &weights_.b_down});
  }

 private:
  MlpSpec spec_;
  MlpWeights weights_;
};

class MoeModule final : public PositionwiseBlockModule<Moe> {
 public:
  MoeModule(const MoeSpec& spec, const PerMode<MoeImplConfig>& configs, MoeWeights weights)
      : spec_(spec), weights_(pattern_detail::load_once(std::move(weights))) {
    blocks_ = make_blocks<Moe>(configs, [&](const MoeImplConfig& config) {
      return std::make_shared<const Moe>(spec_, config, weights_);
    });
    infos_ = block_infos(kFfnKinds[2], kFfnKinds[2], spec_, configs);
  }
  Tensor reference(const Tensor& x) const override { return moe_reference(spec_, weights_, x); }
  std::vector<NamedTensor> weights() const override {
    return named_weights(kFfnKinds[2], spec_, pattern_detail::moe_weight_sources(weights_));
  }

 private:
  MoeSpec spec_;
  MoeWeights weights_;
};

class LmHeadModule final : public PositionwiseBlockModule<LmHead> {
 public:
  LmHeadModule(const LmHeadSpec& spec, const PerMode<LmHeadImplConfig>& configs,
               WeightSource weight)
      : spec_(spec), weights_{load_once(std::move(weight))} {
    blocks_ = make_blocks<LmHead>(configs, [&](const LmHeadImplConfig& config) {
      return std::make_shared<const LmHead>(spec_, config, weights_);
    });
    infos_ = block_infos("lm_head", "lm_head", spec_, configs);
  }
  Tensor reference(const Tensor& x) const override { return lm_head_reference(spec_, weights_, x); }
  std::vector<NamedTensor> weights() const override {
    return named_weights("lm_head", spec_, {&weights_.weight});
  }

 private:
  LmHeadSpec spec_;
  LmHeadWeights weights_;
};

class BlockAttentionModule final : public AttentionModule {
 public:
  BlockAttentionModule(const AttentionSpec& spec, const PerMode<AttentionImplConfig>& configs,
                       AttentionWeights weights)
      : spec_(spec), cache_config_(configs.decode) {
    weights_ = pattern_detail::shared_attention_weights("attention", configs, std::move(weights));
    blocks_ = make_blocks<Attention>(configs, [&](const AttentionImplConfig& config) {
      return std::make_shared<const Attention>(spec_, config, weights_);
    });
    infos_ = block_infos("attention.prefill", "attention.decode", spec_, configs);
  }

  KVCache make_cache(std::int64_t max_batch, std::int64_t max_seq_len) const override {
    return make_kv_cache(spec_, cache_config_, max_batch, max_seq_len);
  }
  Tensor prefill(const Tensor& x, KVCache& cache, std::int64_t first_slot) const override {
    return blocks_.prefill->prefill_forward(x, &cache, first_slot);
  }
  Tensor decode(const Tensor& x, const Tensor& positions, KVCache& cache) const override {
    return blocks_.decode->decode_forward(x, positions, cache);
  }
  Tensor prefill_reference(const Tensor& x) const override {
    return attention_prefill_reference(spec_, weights_, x);
  }
  Tensor decode_reference(const Tensor& x, const Tensor& positions,
                          const KVCache& cache) const override {
    return attention_decode_reference(spec_, weights_, x, positions, cache.k, cache.v);
  }
  ModuleInfo info(Mode mode) const override { return infos_[mode]; }
  std::vector<NamedTensor> weights() const override {
    return named_weights(
        "attention.prefill", spec_,
        {&weights_.wq, &weights_.wk, &weights_.wv, &weights_.wo, &weights_.bq, &weights_.bk,
         &weights_.bv, &weights_.bo, &weights_.q_norm, &weights_.k_norm});
  }

 private:
  AttentionSpec spec_;
  AttentionImplConfig cache_config_;
  AttentionWeights weights_;
  PerMode<std::shared_ptr<const Attention>> blocks_;
  PerMode<ModuleInfo> infos_;
};

// Positions 0..seq-1 for every sequence of ids [..., seq]: what a prefill embeds at.
Tensor prefill_positions(const Tensor& ids) {
  if (ids.rank() < 1) {
    throw std::invalid_argument("[embedding] ids must have rank >= 1, got shape " +
                                shape_to_string(ids.shape()));
  }
  Tensor positions(ids.shape(), DType::int64);
  const std::int64_t seq = ids.dim(-1);
  std::int64_t* values = positions.data<std::int64_t>();
  for (std::int64_t i = 0; i < positions.numel(); ++i) values[i] = i % seq;
  return positions;
}

class BlockEmbeddingModule final : public EmbeddingModule {
 public:
  BlockEmbeddingModule(const EmbeddingSpec& spec, const PerMode<EmbeddingImplConfig>& configs,
                       WeightSource token_weight, WeightSource position_weight)
      : spec_(spec),
        weights_{load_once(std::move(token_weight)), load_once(std::move(position_weight))} {
    blocks_ = make_blocks<Embedding>(configs, [&](const EmbeddingImplConfig& config) {
      return std::make_shared<const Embedding>(spec_, config, weights_);
    });
    infos_ = block_infos("embedding", "embedding", spec_, configs);
  }

  Tensor prefill(const Tensor& ids) const override { return blocks_.prefill->prefill_forward(ids); }
  Tensor decode(const Tensor& ids, const Tensor& positions) const override {
    return blocks_.decode->decode_forward(ids, positions);
  }
  Tensor prefill_reference(const Tensor& ids) const override {
    return embedding_reference(spec_, weights_, ids, prefill_positions(ids));
  }
  Tensor decode_reference(const Tensor& ids, const Tensor& positions) const override {
    return embedding_reference(spec_, weights_, ids, positions);
  }
  ModuleInfo info(Mode mode) const override { return infos_[mode]; }
  std::vector<NamedTensor> weights() const override {
    return named_weights("embedding", spec_, {&weights_.token_weight, &weights_.position_weight});
  }

 private:
  EmbeddingSpec spec_;
  EmbeddingWeights weights_;
  PerMode<std::shared_ptr<const Embedding>> blocks_;
  PerMode<ModuleInfo> infos_;
};

// Throws unless `config` holds the same alternative as `spec`.
template <typename Spec, typename Config>
void check_same_alternative(const Spec& spec, const Config& config,
                            std::span<const std::string_view> kinds, std::string_view what) {
  if (spec.index() != config.index()) {
    throw std::invalid_argument("[" + std::string(what) + "] impl config is " +
                                std::string(kinds[config.index()]) + ", spec is " +
                                std::string(kinds[spec.index()]));
  }
}

// Validates the config alternative against the spec alternative (blocks whose ImplConfig does not
// depend on the spec validate without it). REQUIRES: the same alternative on both sides.
template <typename Spec, typename Config>
void validate_alternatives(const Spec& spec, const Config& config) {
  std::visit(
      [](const auto& spec_alternative, const auto& config_alternative) {
        if constexpr (requires { config_alternative.validate(spec_alternative); }) {
          spec_alternative.validate();
          config_alternative.validate(spec_alternative);
        } else if constexpr (requires { config_alternative.validate(); }) {
          spec_alternative.validate();
          config_alternative.validate();
        }
      },
      spec, config);
}

template <typename Result, typename Spec>
Result default_for(const Spec& spec, Device device, Mode mode, std::optional<Preset> preset) {
  return std::visit(
      [&](const auto& alternative) -> Result {
        if (preset.has_value()) return default_impl_config(alternative, device, mode, *preset);
        return default_impl_config(alternative, device, mode);
      },
      spec);
}

}  // namespace

std::string_view block_kind(const NormSpec& spec) { return kNormKinds[spec.index()]; }
std::string_view block_kind(const FfnSpec& spec) { return kFfnKinds[spec.index()]; }

std::int64_t norm_dim(const NormSpec& spec) {
  return std::visit([](const auto& alternative) { return alternative.dim; }, spec);
}

std::int64_t ffn_hidden_dim(const FfnSpec& spec) {
  return std::visit([](const auto& alternative) { return alternative.hidden_dim; }, spec);
}

void validate(const NormSpec& spec) {
  std::visit([](const auto& alternative) { alternative.validate(); }, spec);
}

void validate(const FfnSpec& spec) {
  std::visit([](const auto& alternative) { alternative.validate(); }, spec);
}

void validate(const NormSpec& spec, const NormImplConfig& config, std::string_view what) {
  check_same_alternative(spec, config, kNormKinds, what);
  validate_alternatives(spec, config);
}

void validate(const FfnSpec& spec, const FfnImplConfig& config, std::string_view what) {
  check_same_alternative(spec, config, kFfnKinds, what);
  validate_alternatives(spec, config);
}

NormImplConfig default_impl_config(const NormSpec& spec, Device device, Mode mode,
                                   std::optional<Preset> preset) {
  return default_for<NormImplConfig>(spec, device, mode, preset);
}

FfnImplConfig default_impl_config(const FfnSpec& spec, Device device, Mode mode,
                                  std::optional<Preset> preset) {
  return default_for<FfnImplConfig>(spec, device, mode, preset);
}

void to_json(nlohmann::json& json, const NormSpec& spec) {
  variant_to_json(json, spec, kNormKinds);
}
void from_json(const nlohmann::json& json, NormSpec& spec) {
  read_json(JsonNode(json, "norm spec"), spec);
}
void read_json(const JsonNode& node, NormSpec& spec) { read_variant(node, spec, kNormKinds); }
void to_json(nlohmann::json& json, const NormImplConfig& config) {
  variant_to_json(json, config, kNormKinds);
}
void from_json(const nlohmann::json& json, NormImplConfig& config) {
  read_json(JsonNode(json, "norm impl_config"), config);
}
void read_json(const JsonNode& node, NormImplConfig& config) {
  read_variant(node, config, kNormKinds);
}
void to_json(nlohmann::json& json, const FfnSpec& spec) { variant_to_json(json, spec, kFfnKinds); }
void from_json(const nlohmann::json& json, FfnSpec& spec) {
  read_json(JsonNode(json, "ffn spec"), spec);
}
void read_json(const JsonNode& node, FfnSpec& spec) { read_variant(node, spec, kFfnKinds); }
void to_json(nlohmann::json& json, const FfnImplConfig& config) {
  variant_to_json(json, config, kFfnKinds);
}
void from_json(const nlohmann::json& json, FfnImplConfig& config) {
  read_json(JsonNode(json, "ffn impl_config"), config);
}
void read_json(const JsonNode& node, FfnImplConfig& config) {
  read_variant(node, config, kFfnKinds);
}

std::shared_ptr<const PositionwiseModule> make_norm_module(const NormSpec& spec,
                                                           const PerMode<NormImplConfig>& configs,
                                                           NormWeights weights) {
  validate(spec, configs.prefill, block_kind(spec));
  validate(spec, configs.decode, block_kind(spec));
  if (const auto* rms = std::get_if<RmsNormSpec>(&spec)) {
    return std::make_shared<const RmsNormModule>(
        *rms,
        PerMode<RmsNormImplConfig>{std::get<RmsNormImplConfig>(configs.prefill),
                                   std::get<RmsNormImplConfig>(configs.decode)},
        std::move(weights));
  }
  return std::make_shared<const LayerNormModule>(
      std::get<LayerNormSpec>(spec),
      PerMode<LayerNormImplConfig>{std::get<LayerNormImplConfig>(configs.prefill),
                                   std::get<LayerNormImplConfig>(configs.decode)},
      std::move(weights));
}

std::shared_ptr<const PositionwiseModule> make_ffn_module(const FfnSpec& spec,
                                                          const PerMode<FfnImplConfig>& configs,
                                                          FfnWeights weights) {
  validate(spec, configs.prefill, block_kind(spec));
  validate(spec, configs.decode, block_kind(spec));
  if (spec.index() != weights.index()) {
    throw std::invalid_argument("[" + std::string(block_kind(spec)) + "] weights are for " +
                                std::string(kFfnKinds[weights.index()]) + ", spec is " +
                                std::string(block_kind(spec)));
  }
  switch (spec.index()) {
    case 0:
      return std::make_shared<const GatedMlpModule>(
          std::get<GatedMlpSpec>(spec),
          PerMode<GatedMlpImplConfig>{std::get<GatedMlpImplConfig>(configs.prefill),
                                      std::get<GatedMlpImplConfig>(configs.decode)},
          std::get<GatedMlpWeights>(std::move(weights)));
    case 1:
      return std::make_shared<const MlpModule>(
          std::get<MlpSpec>(spec),
          PerMode<MlpImplConfig>{std::get<MlpImplConfig>(configs.prefill),
                                 std::get<MlpImplConfig>(configs.decode)},
          std::get<MlpWeights>(std::move(weights)));
    default:
      return std::make_shared<const MoeModule>(
          std::get<MoeSpec>(spec),
          PerMode<MoeImplConfig>{std::get<MoeImplConfig>(configs.prefill),
                                 std::get<MoeImplConfig>(configs.decode)},
          std::get<MoeWeights>(std::move(weights)));
  }
}

std::shared_ptr<const PositionwiseModule> make_lm_head_module(
    const LmHeadSpec& spec, const PerMode<LmHeadImplConfig>& configs, WeightSource weight) {
  return std::make_shared<const LmHeadModule>(spec, configs, std::move(weight));
}

std::shared_ptr<const AttentionModule> make_attention_module(
    const AttentionSpec& spec, const PerMode<AttentionImplConfig>& configs,
    AttentionWeights weights) {
  return std::make_shared<const BlockAttentionModule>(spec, configs, std::move(weights));
}

std::shared_ptr<const EmbeddingModule> make_embedding_module(
    const EmbeddingSpec& spec, const PerMode<EmbeddingImplConfig>& configs,
    WeightSource token_weight, WeightSource position_weight) {
  return std::make_shared<const BlockEmbeddingModule>(spec, configs, std::move(token_weight),
                                                      std::move(position_weight));
}

}  // namespace ttt

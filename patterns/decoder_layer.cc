#include "patterns/decoder_layer.h"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "blocks/attention/tp_attention.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/ffn/ep_moe.h"
#include "blocks/registration.h"
#include "patterns/internal/context.h"
#include "patterns/internal/optional_norm.h"
#include "patterns/internal/validated_call.h"

namespace ttt {

using pattern_detail::call_settings;
using pattern_detail::make_optional_norm_module;
using pattern_detail::positionwise_calls;
using pattern_detail::validate_optional_norm;
using pattern_detail::validate_spec_and_configs;
using pattern_detail::ValidatedCall;
using pattern_detail::with_context;

namespace {

std::string norm_identity(const NormSpec& spec) {
  return std::visit([](const auto& alternative) { return alternative.identity(); }, spec);
}

std::string ffn_identity(const FfnSpec& spec) {
  return std::visit([](const auto& alternative) { return alternative.identity(); }, spec);
}

void check_width(std::int64_t width, std::int64_t hidden, const std::string& field) {
  if (width != hidden) {
    throw std::invalid_argument("[decoder_layer] " + field + " (" + std::to_string(width) +
                                ") differs from attention.hidden_dim (" + std::to_string(hidden) +
                                ")");
  }
}

}  // namespace

void DecoderLayerSpec::validate() const {
  with_context("decoder_layer", "attention", [&] { attention.validate(); });
  const std::int64_t hidden = attention.hidden_dim;
  const auto check_norm = [&](const NormSpec& norm, const std::string& field) {
    with_context("decoder_layer", field, [&] { ttt::validate(norm); });
    check_width(norm_dim(norm), hidden, field + ".dim");
  };
  check_norm(attention_norm, "attention_norm");
  if (post_attention_norm.has_value()) check_norm(*post_attention_norm, "post_attention_norm");
  check_norm(ffn_norm, "ffn_norm");
  with_context("decoder_layer", "ffn", [&] { ttt::validate(ffn); });
  check_width(ffn_hidden_dim(ffn), hidden, "ffn.hidden_dim");
  if (post_ffn_norm.has_value()) check_norm(*post_ffn_norm, "post_ffn_norm");
}

std::string DecoderLayerSpec::identity() const {
  Identity id("DECODER_LAYER");
  id.add("attention_norm", norm_identity(attention_norm));
  id.add("attention", attention.identity());
  if (post_attention_norm.has_value()) {
    id.add("post_attention_norm", norm_identity(*post_attention_norm));
  }
  id.add("ffn_norm", norm_identity(ffn_norm));
  id.add("ffn", ffn_identity(ffn));
  if (post_ffn_norm.has_value()) id.add("post_ffn_norm", norm_identity(*post_ffn_norm));
  return id.str();
}

void DecoderLayerImplConfig::validate(const DecoderLayerSpec& spec) const {
  const auto check_norm = [&](const NormSpec& norm_spec, const NormImplConfig& config,
                              const char* field) {
    with_context("decoder_layer", field, [&] { ttt::validate(norm_spec, config, field); });
  };
  const auto check_optional = [&](const std::optional<NormSpec>& norm_spec,
                                  const std::optional<NormImplConfig>& config, const char* field) {
    validate_optional_norm("decoder_layer", norm_spec, config, field);
  };
  check_norm(spec.attention_norm, attention_norm, "attention_norm");
  with_context("decoder_layer", "attention", [&] { attention.validate(spec.attention); });
  check_optional(spec.post_attention_norm, post_attention_norm, "post_attention_norm");
  check_norm(spec.ffn_norm, ffn_norm, "ffn_norm");
  with_context("decoder_layer", "ffn", [&] { ttt::validate(spec.ffn, ffn, "ffn"); });
  check_optional(spec.post_ffn_norm, post_ffn_norm, "post_ffn_norm");
  if (tensor_parallel.has_value()) {
    with_context("decoder_layer", "tensor_parallel", [&] {
      ttt::validate(*tensor_parallel, spec.attention, attention, spec.ffn, ffn);
    });
  }
  if (!is_floating(residual_dtype)) {
    throw std::invalid_argument("[decoder_layer] config.residual_dtype is " +
                                std::string(dtype_name(residual_dtype)) +
                                ", expected a floating dtype");
  }
}

DecoderLayerImplConfig default_impl_config(const DecoderLayerSpec& spec, Device device, Mode mode,
                                           std::optional<Preset> preset) {
  DecoderLayerImplConfig config;
  config.attention_norm = default_impl_config(spec.attention_norm, device, mode, preset);
  config.attention = preset.has_value() ? default_impl_config(spec.attention, device, mode, *preset)
                                        : default_impl_config(spec.attention, device, mode);
  if (spec.post_attention_norm.has_value()) {
    config.post_attention_norm =
        default_impl_config(*spec.post_attention_norm, device, mode, preset);
  }
  config.ffn_norm = default_impl_config(spec.ffn_norm, device, mode, preset);
  config.ffn = default_impl_config(spec.ffn, device, mode, preset);
  if (spec.post_ffn_norm.has_value()) {
    config.post_ffn_norm = default_impl_config(*spec.post_ffn_norm, device, mode, preset);
  }
  return config;
}

DecoderLayerImplConfig default_impl_config(const DecoderLayerSpec& spec, Device device, Mode mode,
                                           std::optional<Preset> preset, const Mesh& mesh) {
  DecoderLayerImplConfig config = default_impl_config(spec, device, mode, preset);
  if (mesh.size() == 1) return config;
  const int axis = default_tp_axis(mesh);
  const TpAttentionSpec attention{spec.attention, mesh, axis};
  const TpAttentionImplConfig tp_attention =
      preset.has_value() ? default_impl_config(attention, device, mode, *preset)
                         : default_impl_config(attention, device, mode);
  config.attention = tp_attention.device;
  DecoderLayerTpConfig tp{mesh, axis, {tp_attention.reduction, tp_attention.ccl}, {}};
  if (const auto* gated = std::get_if<GatedMlpSpec>(&spec.ffn)) {
    const TpGatedMlpSpec ffn{*gated, mesh, axis};
    const TpGatedMlpImplConfig tp_ffn = preset.has_value()
                                            ? default_impl_config(ffn, device, mode, *preset)
                                            : default_impl_config(ffn, device, mode);
    config.ffn = tp_ffn.device;
    tp.ffn = {tp_ffn.reduction, tp_ffn.ccl};
  } else if (const auto* moe = std::get_if<MoeSpec>(&spec.ffn)) {
    const EpMoeSpec ffn{*moe, mesh, axis};
    const EpMoeImplConfig ep_moe = preset.has_value()
                                       ? default_impl_config(ffn, device, mode, *preset)
                                       : default_impl_config(ffn, device, mode);
    config.ffn = ep_moe.device;
    tp.ffn = {ep_moe.reduction, ep_moe.ccl};
  }
  config.tensor_parallel = tp;
  return config;
}

namespace {

constexpr auto kSpecFields =
    std::tuple{json_required("attention_norm", &DecoderLayerSpec::attention_norm),
               json_required("attention", &DecoderLayerSpec::attention),
               json_optional("post_attention_norm", &DecoderLayerSpec::post_attention_norm),
               json_required("ffn_norm", &DecoderLayerSpec::ffn_norm),
               json_required("ffn", &DecoderLayerSpec::ffn),
               json_optional("post_ffn_norm", &DecoderLayerSpec::post_ffn_norm)};
constexpr auto kConfigFields =
    std::tuple{json_required("attention_norm", &DecoderLayerImplConfig::attention_norm),
               json_required("attention", &DecoderLayerImplConfig::attention),
               json_optional("post_attention_norm", &DecoderLayerImplConfig::post_attention_norm),
               json_required("ffn_norm", &DecoderLayerImplConfig::ffn_norm),
               json_required("ffn", &DecoderLayerImplConfig::ffn),
               json_optional("post_ffn_norm", &DecoderLayerImplConfig::post_ffn_norm),
               json_optional("residual_dtype", &DecoderLayerImplConfig::residual_dtype),
               json_optional("tensor_parallel", &DecoderLayerImplConfig::tensor_parallel)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(DecoderLayerSpec, "decoder_layer spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(DecoderLayerImplConfig, "decoder_layer impl_config", kConfigFields)

namespace {

// Both modes' meshes, when the configs name one: both or neither must.
std::optional<PerMode<DecoderLayerTpConfig>> tensor_parallel(
    const PerMode<DecoderLayerImplConfig>& configs) {
  const auto& prefill = configs.prefill.tensor_parallel;
  const auto& decode = configs.decode.tensor_parallel;
  if (prefill.has_value() != decode.has_value()) {
    throw std::invalid_argument(
        std::string("[decoder_layer] the ") + (prefill.has_value() ? "prefill" : "decode") +
        " config names a mesh (tensor_parallel), the " +
        (prefill.has_value() ? "decode" : "prefill") + " config none: both modes run on one mesh");
  }
  if (!prefill.has_value()) return std::nullopt;
  return PerMode<DecoderLayerTpConfig>{*prefill, *decode};
}

}  // namespace

DecoderLayerModules make_decoder_layer_modules(const DecoderLayerSpec& spec,
                                               const PerMode<DecoderLayerImplConfig>& configs,
                                               DecoderLayerWeights weights) {
  validate_spec_and_configs("decoder_layer", spec, configs);
  const auto norm = [&](const NormSpec& norm_spec, const NormImplConfig& prefill,
                        const NormImplConfig& decode, NormWeights norm_weights, const char* field) {
    return with_context("decoder_layer", field, [&] {
      return make_norm_module(norm_spec, {prefill, decode}, std::move(norm_weights));
    });
  };
  const auto optional_norm = [&](const std::optional<NormSpec>& norm_spec,
                                 const std::optional<NormImplConfig>& prefill,
                                 const std::optional<NormImplConfig>& decode,
                                 NormWeights norm_weights, const char* field) {
    return make_optional_norm_module("decoder_layer", norm_spec, prefill, decode,
                                     std::move(norm_weights), field);
  };

  DecoderLayerModules modules;
  modules.attention_norm =
      norm(spec.attention_norm, configs.prefill.attention_norm, configs.decode.attention_norm,
           std::move(weights.attention_norm), "attention_norm");
  const std::optional<PerMode<DecoderLayerTpConfig>> mesh = tensor_parallel(configs);
  modules.attention = with_context("decoder_layer", "attention", [&] {
    const PerMode<AttentionImplConfig> attention{configs.prefill.attention,
                                                 configs.decode.attention};
    return mesh.has_value()
               ? make_tp_attention_module(spec.attention, attention, *mesh,
                                          std::move(weights.attention))
               : make_attention_module(spec.attention, attention, std::move(weights.attention));
  });
  modules.post_attention_norm =
      optional_norm(spec.post_attention_norm, configs.prefill.post_attention_norm,
                    configs.decode.post_attention_norm, std::move(weights.post_attention_norm),
                    "post_attention_norm");
  modules.ffn_norm = norm(spec.ffn_norm, configs.prefill.ffn_norm, configs.decode.ffn_norm,
                          std::move(weights.ffn_norm), "ffn_norm");
  modules.ffn = with_context("decoder_layer", "ffn", [&] {
    const PerMode<FfnImplConfig> ffn{configs.prefill.ffn, configs.decode.ffn};
    return mesh.has_value() ? make_tp_ffn_module(spec.ffn, ffn, *mesh, std::move(weights.ffn))
                            : make_ffn_module(spec.ffn, ffn, std::move(weights.ffn));
  });
  modules.post_ffn_norm =
      optional_norm(spec.post_ffn_norm, configs.prefill.post_ffn_norm, configs.decode.post_ffn_norm,
                    std::move(weights.post_ffn_norm), "post_ffn_norm");
  modules.residual_dtype = {configs.prefill.residual_dtype, configs.decode.residual_dtype};
  return modules;
}

// The wrapped calls of a layer. Optional norms have no calls.
struct DecoderLayer::Calls {
  PerMode<std::optional<ValidatedCall>> attention_norm;
  std::optional<ValidatedCall> attention_prefill;
  std::optional<ValidatedCall> attention_decode;
  PerMode<std::optional<ValidatedCall>> post_attention_norm;
  PerMode<std::optional<ValidatedCall>> ffn_norm;
  PerMode<std::optional<ValidatedCall>> ffn;
  PerMode<std::optional<ValidatedCall>> post_ffn_norm;
};

namespace {

Tensor run(const PerMode<std::optional<ValidatedCall>>& calls, const Tensor& x, Mode mode,
           const std::source_location& site) {
  return (*calls[mode])({.tensors = {{"x", x}}}, site);
}

// The cache as a call holds it (the device's own, or the reference's copy from before the call).
KVCache cache_of(const CallInputs& in) {
  return KVCache{in.tensor("k_cache"), in.tensor("v_cache")};
}

// The inputs of an attention call: its own, then the cache, which the device updates in place.
CallInputs attention_inputs(std::vector<NamedTensor> own, const KVCache& cache) {
  own.push_back({"k_cache", cache.k});
  own.push_back({"v_cache", cache.v});
  return {.tensors = std::move(own), .updated_in_place = {"k_cache", "v_cache"}};
}

// On a mesh: x replicated, the cache as the devices hold it (the module's cache_layout), so that
// records and traces keep every device's input and cache.
pattern_detail::InputLayout attention_layout(const AttentionModule& attention) {
  const Mesh mesh = *attention.mesh();
  const std::array<Placement, 2> cache_layout = attention.cache_layout();
  const pattern_detail::InputLayout x = pattern_detail::replicate_input("x", mesh);
  return [mesh, cache_layout, x](CallInputs& inputs) {
    x(inputs);
    for (NamedTensor& input : inputs.tensors) {
      if (input.name == "k_cache" || input.name == "v_cache") {
        input.mesh =
            std::make_shared<const MeshTensor>(distribute(input.tensor, mesh, cache_layout));
      }
    }
  };
}

// A mesh input's mesh tensor (laid out by attention_layout).
const MeshTensor& mesh_x(const CallInputs& in) {
  return *pattern_detail::named_input(in, "x").mesh;
}

}  // namespace

DecoderLayer::DecoderLayer(std::string path, DecoderLayerModules modules, PatternOptions options)
    : path_(std::move(path)), modules_(std::move(modules)) {
  register_builtin_blocks();
  if (path_.empty()) throw std::invalid_argument("[decoder_layer] the module path is empty");
  const auto require = [&](bool present, const char* field) {
    if (!present) {
      throw std::invalid_argument("[decoder_layer] " + path_ + ": module " + field + " is missing");
    }
  };
  require(modules_.attention_norm != nullptr, "attention_norm");
  require(modules_.attention != nullptr, "attention");
  require(modules_.ffn_norm != nullptr, "ffn_norm");
  require(modules_.ffn != nullptr, "ffn");
  for (const Mode mode : {Mode::prefill, Mode::decode}) {
    if (!is_floating(modules_.residual_dtype[mode])) {
      throw std::invalid_argument("[decoder_layer] " + path_ + ": residual_dtype is " +
                                  std::string(dtype_name(modules_.residual_dtype[mode])) +
                                  ", expected a floating dtype");
    }
  }

  auto calls = std::make_shared<Calls>();
  calls->attention_norm =
      positionwise_calls(modules_.attention_norm, path_ + ".attention_norm", options);
  calls->post_attention_norm =
      positionwise_calls(modules_.post_attention_norm, path_ + ".post_attention_norm", options);
  calls->ffn_norm = positionwise_calls(modules_.ffn_norm, path_ + ".ffn_norm", options);
  calls->ffn = positionwise_calls(modules_.ffn, path_ + ".ffn", options);
  calls->post_ffn_norm =
      positionwise_calls(modules_.post_ffn_norm, path_ + ".post_ffn_norm", options);

  const std::shared_ptr<const AttentionModule> attention = modules_.attention;
  if (attention->mesh().has_value()) {
    emplace_mesh_attention_calls(*calls, attention, options);
  } else {
    emplace_attention_calls(*calls, attention, options);
  }
  calls_ = std::move(calls);
}

void DecoderLayer::emplace_attention_calls(Calls& calls,
                                           const std::shared_ptr<const AttentionModule>& attention,
                                           const PatternOptions& options) const {
  const auto weights = [attention] { return attention->weights(); };
  calls.attention_prefill.emplace(
      path_ + ".attention.prefill", attention->info(Mode::prefill),
      std::vector<std::string>{"x", "k_cache", "v_cache", "first_slot"}, weights,
      call_settings(options),
      [attention](const CallInputs& in) {
        KVCache cache = cache_of(in);
        return attention->prefill(in.tensor("x"), cache, in.integer("first_slot"));
      },
      [attention](const CallInputs& in) { return attention->prefill_reference(in.tensor("x")); });
  calls.attention_decode.emplace(
      path_ + ".attention.decode", attention->info(Mode::decode),
      std::vector<std::string>{"x", "positions", "k_cache", "v_cache"}, weights,
      call_settings(options),
      [attention](const CallInputs& in) {
        KVCache cache = cache_of(in);
        return attention->decode(in.tensor("x"), in.tensor("positions"), cache);
      },
      [attention](const CallInputs& in) {
        return attention->decode_reference(in.tensor("x"), in.tensor("positions"), cache_of(in));
      });
}

void DecoderLayer::emplace_mesh_attention_calls(
    Calls& calls, const std::shared_ptr<const AttentionModule>& attention,
    const PatternOptions& options) const {
  using pattern_detail::DeviceFunction;
  using pattern_detail::on_mesh;
  using pattern_detail::with_mode;
  const auto weights = [attention] { return attention->weights(); };
  calls.attention_prefill.emplace(
      path_ + ".attention.prefill", attention->info(Mode::prefill),
      std::vector<std::string>{"x", "k_cache", "v_cache", "first_slot"}, weights,
      call_settings(options), DeviceFunction([attention](const CallInputs& in) {
        KVCache cache = cache_of(in);
        return on_mesh(attention->mesh_prefill(mesh_x(in), cache, in.integer("first_slot")));
      }),
      [attention](const CallInputs& in) { return attention->prefill_reference(in.tensor("x")); },
      with_mode(attention_layout(*attention), Mode::prefill));
  calls.attention_decode.emplace(
      path_ + ".attention.decode", attention->info(Mode::decode),
      std::vector<std::string>{"x", "positions", "k_cache", "v_cache"}, weights,
      call_settings(options), DeviceFunction([attention](const CallInputs& in) {
        KVCache cache = cache_of(in);
        return on_mesh(attention->mesh_decode(mesh_x(in), in.tensor("positions"), cache));
      }),
      [attention](const CallInputs& in) {
        return attention->decode_reference(in.tensor("x"), in.tensor("positions"), cache_of(in));
      },
      with_mode(attention_layout(*attention), Mode::decode));
}

KVCache DecoderLayer::make_cache(std::int64_t max_batch, std::int64_t max_seq_len) const {
  return modules_.attention->make_cache(max_batch, max_seq_len);
}

namespace {

// residual + update in float32, rounded once to `dtype`.
Tensor residual_add(const Tensor& residual, const Tensor& update, DType dtype,
                    const std::string& path) {
  if (residual.shape() != update.shape()) {
    throw std::invalid_argument("[decoder_layer] " + path + ": a module returned shape " +
                                shape_to_string(update.shape()) + " for a residual of shape " +
                                shape_to_string(residual.shape()));
  }
  const std::span<const float> a = residual.floats();
  const std::span<const float> b = update.floats();
  std::vector<float> sum(a.size());
  for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = a[i] + b[i];
  return Tensor::from_floats(residual.shape(), std::move(sum), dtype);
}

}  // namespace

Tensor DecoderLayer::prefill(const Tensor& x, KVCache& cache, std::int64_t first_slot,
                             std::source_location site) const {
  const Calls& calls = *calls_;
  const DType dtype = modules_.residual_dtype.prefill;
  const Tensor normed = run(calls.attention_norm, x, Mode::prefill, site);
  CallInputs inputs = attention_inputs({{"x", normed}}, cache);
  inputs.scalars.emplace_back("first_slot", first_slot);
  Tensor update = (*calls.attention_prefill)(std::move(inputs), site);
  if (calls.post_attention_norm.prefill) {
    update = run(calls.post_attention_norm, update, Mode::prefill, site);
  }
  const Tensor h = residual_add(x, update, dtype, path_);
  update = run(calls.ffn, run(calls.ffn_norm, h, Mode::prefill, site), Mode::prefill, site);
  if (calls.post_ffn_norm.prefill) update = run(calls.post_ffn_norm, update, Mode::prefill, site);
  return residual_add(h, update, dtype, path_);
}

Tensor DecoderLayer::decode(const Tensor& x, const Tensor& positions, KVCache& cache,
                            std::source_location site) const {
  const Calls& calls = *calls_;
  const DType dtype = modules_.residual_dtype.decode;
  const Tensor normed = run(calls.attention_norm, x, Mode::decode, site);
  Tensor update = (*calls.attention_decode)(
      attention_inputs({{"x", normed}, {"positions", positions}}, cache), site);
  if (calls.post_attention_norm.decode) {
    update = run(calls.post_attention_norm, update, Mode::decode, site);
  }
  const Tensor h = residual_add(x, update, dtype, path_);
  update = run(calls.ffn, run(calls.ffn_norm, h, Mode::decode, site), Mode::decode, site);
  if (calls.post_ffn_norm.decode) update = run(calls.post_ffn_norm, update, Mode::decode, site);
  return residual_add(h, update, dtype, path_);
}

}  // namespace ttt

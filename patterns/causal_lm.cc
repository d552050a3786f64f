#include "patterns/causal_lm.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/lm_head/tp_lm_head.h"
#include "blocks/registration.h"
#include "patterns/internal/context.h"
#include "patterns/internal/optional_norm.h"
#include "patterns/internal/validated_call.h"
#include "patterns/module_configs.h"
#include "validation/trace/capture.h"

namespace ttt {

using pattern_detail::call_settings;
using pattern_detail::make_optional_norm_module;
using pattern_detail::positionwise_calls;
using pattern_detail::validate_optional_norm;
using pattern_detail::validate_spec_and_configs;
using pattern_detail::ValidatedCall;
using pattern_detail::with_context;

namespace {

std::string layer_path(std::size_t index) { return "layers." + std::to_string(index); }

std::string norm_identity(const NormSpec& spec) {
  return std::visit([](const auto& alternative) { return alternative.identity(); }, spec);
}

void check_equal(std::int64_t value, std::int64_t expected, const std::string& field,
                 const std::string& expected_field) {
  if (value != expected) {
    throw std::invalid_argument("[causal_lm] " + field + " (" + std::to_string(value) +
                                ") differs from " + expected_field + " (" +
                                std::to_string(expected) + ")");
  }
}

}  // namespace

void CausalLmSpec::validate() const {
  with_context("causal_lm", "embedding", [&] { embedding.validate(); });
  if (layers.empty()) throw std::invalid_argument("[causal_lm] spec.layers is empty");
  const std::int64_t hidden = embedding.hidden_dim;
  if (embedding_norm.has_value()) {
    with_context("causal_lm", "embedding_norm", [&] { ttt::validate(*embedding_norm); });
    check_equal(norm_dim(*embedding_norm), hidden, "embedding_norm.dim", "embedding.hidden_dim");
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    with_context("causal_lm", layer_path(i), [&] { layers[i].validate(); });
    check_equal(layers[i].hidden_dim(), hidden, layer_path(i) + ".attention.hidden_dim",
                "embedding.hidden_dim");
  }
  with_context("causal_lm", "norm", [&] { ttt::validate(norm); });
  check_equal(norm_dim(norm), hidden, "norm.dim", "embedding.hidden_dim");
  with_context("causal_lm", "lm_head", [&] { lm_head.validate(); });
  check_equal(lm_head.hidden_dim, hidden, "lm_head.hidden_dim", "embedding.hidden_dim");
  check_equal(lm_head.vocab_size, embedding.vocab_size, "lm_head.vocab_size",
              "embedding.vocab_size");
}

std::string CausalLmSpec::identity() const {
  Identity id("CAUSAL_LM");
  id.add("layers", static_cast<std::int64_t>(layers.size()));
  id.add("embedding", embedding.identity());
  if (embedding_norm.has_value()) id.add("embedding_norm", norm_identity(*embedding_norm));
  const bool alike = std::all_of(layers.begin(), layers.end(),
                                 [&](const DecoderLayerSpec& layer) { return layer == layers[0]; });
  if (alike && !layers.empty()) {
    id.add("layer", layers[0].identity());
  } else {
    std::string all;
    for (const DecoderLayerSpec& layer : layers) {
      if (!all.empty()) all += ';';
      all += layer.identity();
    }
    id.add("layer", all);
  }
  id.add("norm", norm_identity(norm));
  id.add("lm_head", lm_head.identity());
  return id.str();
}

namespace {

// The model and its layers run on one mesh (or all on one device); the LM head fits the mesh.
void validate_mesh(const CausalLmImplConfig& config, const CausalLmSpec& spec) {
  const std::vector<DecoderLayerImplConfig>& layers = config.layers;
  const std::optional<CausalLmTpConfig>& tensor_parallel = config.tensor_parallel;
  const auto mesh_text = [](const auto& tp) {
    return tp.has_value() ? "mesh " + mesh_name(tp->mesh) + " axis " + std::to_string(tp->axis)
                          : std::string("one device");
  };
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& layer = layers[i].tensor_parallel;
    if (layer.has_value() != tensor_parallel.has_value() ||
        (layer.has_value() &&
         (layer->mesh != tensor_parallel->mesh || layer->axis != tensor_parallel->axis))) {
      throw std::invalid_argument("[causal_lm] " + layer_path(i) + ".tensor_parallel runs on " +
                                  mesh_text(layer) + ", config.tensor_parallel on " +
                                  mesh_text(tensor_parallel) + ": the model runs on one mesh");
    }
  }
  if (!tensor_parallel.has_value()) return;
  with_context("causal_lm", "tensor_parallel", [&] {
    TpLmHeadSpec{spec.lm_head, tensor_parallel->mesh, tensor_parallel->axis}.validate();
    tensor_parallel->lm_head.validate(TpLmHeadSpec::kind);
  });
}

}  // namespace

void CausalLmImplConfig::validate(const CausalLmSpec& spec) const {
  with_context("causal_lm", "embedding", [&] { embedding.validate(); });
  validate_optional_norm("causal_lm", spec.embedding_norm, embedding_norm, "embedding_norm");
  if (layers.size() != spec.layers.size()) {
    throw std::invalid_argument("[causal_lm] config.layers has " + std::to_string(layers.size()) +
                                " layers, spec.layers " + std::to_string(spec.layers.size()));
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    with_context("causal_lm", layer_path(i), [&] { layers[i].validate(spec.layers[i]); });
  }
  with_context("causal_lm", "norm", [&] { ttt::validate(spec.norm, norm, "norm"); });
  with_context("causal_lm", "lm_head", [&] { lm_head.validate(); });
  validate_mesh(*this, spec);
}

CausalLmImplConfig default_impl_config(const CausalLmSpec& spec, Device device, Mode mode,
                                       std::optional<Preset> preset, const Mesh& mesh) {
  CausalLmImplConfig config;
  config.embedding = preset.has_value() ? default_impl_config(spec.embedding, device, mode, *preset)
                                        : default_impl_config(spec.embedding, device, mode);
  if (spec.embedding_norm.has_value()) {
    config.embedding_norm = default_impl_config(*spec.embedding_norm, device, mode, preset);
  }
  for (const DecoderLayerSpec& layer : spec.layers) {
    config.layers.push_back(default_impl_config(layer, device, mode, preset, mesh));
  }
  config.norm = default_impl_config(spec.norm, device, mode, preset);
  config.lm_head = preset.has_value() ? default_impl_config(spec.lm_head, device, mode, *preset)
                                      : default_impl_config(spec.lm_head, device, mode);
  if (mesh.size() > 1) {
    const TpLmHeadSpec lm_head{spec.lm_head, mesh, default_tp_axis(mesh)};
    const TpLmHeadImplConfig tp = preset.has_value()
                                      ? default_impl_config(lm_head, device, mode, *preset)
                                      : default_impl_config(lm_head, device, mode);
    config.lm_head = tp.device;
    config.tensor_parallel = CausalLmTpConfig{mesh, lm_head.axis, tp.ccl};
  }
  return config;
}

PerMode<CausalLmImplConfig> default_impl_configs(const CausalLmSpec& spec, Device device,
                                                 std::optional<Preset> preset, const Mesh& mesh) {
  return {default_impl_config(spec, device, Mode::prefill, preset, mesh),
          default_impl_config(spec, device, Mode::decode, preset, mesh)};
}

namespace {

constexpr auto kSpecFields = std::tuple{
    json_required("embedding", &CausalLmSpec::embedding),
    json_optional("embedding_norm", &CausalLmSpec::embedding_norm),
    json_required("layers", &CausalLmSpec::layers), json_required("norm", &CausalLmSpec::norm),
    json_required("lm_head", &CausalLmSpec::lm_head)};
constexpr auto kConfigFields =
    std::tuple{json_required("embedding", &CausalLmImplConfig::embedding),
               json_optional("embedding_norm", &CausalLmImplConfig::embedding_norm),
               json_required("layers", &CausalLmImplConfig::layers),
               json_required("norm", &CausalLmImplConfig::norm),
               json_required("lm_head", &CausalLmImplConfig::lm_head),
               json_optional("tensor_parallel", &CausalLmImplConfig::tensor_parallel)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(CausalLmSpec, "causal_lm spec", kSpecFields)
TTT_DEFINE_JSON_FIELDS(CausalLmImplConfig, "causal_lm impl_config", kConfigFields)

CausalLmModules make_causal_lm_modules(const CausalLmSpec& spec,
                                       const PerMode<CausalLmImplConfig>& configs,
                                       CausalLmWeights weights) {
  validate_spec_and_configs("causal_lm", spec, configs);
  if (weights.layers.size() != spec.layers.size()) {
    throw std::invalid_argument("[causal_lm] weights.layers has " +
                                std::to_string(weights.layers.size()) + " layers, spec.layers " +
                                std::to_string(spec.layers.size()));
  }
  if (spec.lm_head.tied_embeddings && weights.lm_head.defined()) {
    throw std::invalid_argument(
        "[causal_lm] weights.lm_head was given, but spec.lm_head.tied_embeddings is set (the LM "
        "head reads the token embedding)");
  }
  // One lazily loaded token table, shared by the embedding and a tied LM head.
  const WeightSource token_table = load_once(std::move(weights.token_embedding));

  CausalLmModules modules;
  modules.embedding = with_context("causal_lm", "embedding", [&] {
    return make_embedding_module(spec.embedding,
                                 {configs.prefill.embedding, configs.decode.embedding}, token_table,
                                 std::move(weights.position_embedding));
  });
  modules.embedding_norm = make_optional_norm_module(
      "causal_lm", spec.embedding_norm, configs.prefill.embedding_norm,
      configs.decode.embedding_norm, std::move(weights.embedding_norm), "embedding_norm");
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    modules.layers.push_back(with_context("causal_lm", layer_path(i), [&] {
      return make_decoder_layer_modules(spec.layers[i],
                                        {configs.prefill.layers[i], configs.decode.layers[i]},
                                        std::move(weights.layers[i]));
    }));
  }
  modules.norm = with_context("causal_lm", "norm", [&] {
    return make_norm_module(spec.norm, {configs.prefill.norm, configs.decode.norm},
                            std::move(weights.norm));
  });
  modules.lm_head = with_context("causal_lm", "lm_head", [&] {
    const PerMode<LmHeadImplConfig> lm_head{configs.prefill.lm_head, configs.decode.lm_head};
    WeightSource weight = spec.lm_head.tied_embeddings ? token_table : std::move(weights.lm_head);
    const auto& prefill_mesh = configs.prefill.tensor_parallel;
    const auto& decode_mesh = configs.decode.tensor_parallel;
    if (prefill_mesh.has_value() && decode_mesh.has_value()) {
      return make_tp_lm_head_module(spec.lm_head, lm_head, {*prefill_mesh, *decode_mesh},
                                    std::move(weight));
    }
    return make_lm_head_module(spec.lm_head, lm_head, std::move(weight));
  });
  return modules;
}

struct CausalLm::Calls {
  std::optional<ValidatedCall> embedding_prefill;
  std::optional<ValidatedCall> embedding_decode;
  PerMode<std::optional<ValidatedCall>> embedding_norm;  // Unset: the model has none.
  PerMode<std::optional<ValidatedCall>> norm;
  PerMode<std::optional<ValidatedCall>> lm_head;
};

CausalLm::CausalLm(CausalLmModules modules, PatternOptions options) : modules_(std::move(modules)) {
  register_builtin_blocks();
  const auto require = [](bool present, const std::string& field) {
    if (!present) throw std::invalid_argument("[causal_lm] module " + field + " is missing");
  };
  require(modules_.embedding != nullptr, "embedding");
  require(!modules_.layers.empty(), "layers (there are none)");
  require(modules_.norm != nullptr, "norm");
  require(modules_.lm_head != nullptr, "lm_head");
  for (std::size_t i = 0; i < modules_.layers.size(); ++i) {
    layers_.emplace_back(layer_path(i), modules_.layers[i], options);
  }

  auto calls = std::make_shared<Calls>();
  const std::shared_ptr<const EmbeddingModule> embedding = modules_.embedding;
  const auto weights = [embedding] { return embedding->weights(); };
  calls->embedding_prefill.emplace(
      "embedding.prefill", embedding->info(Mode::prefill), std::vector<std::string>{"ids"}, weights,
      call_settings(options),
      [embedding](const CallInputs& in) { return embedding->prefill(in.tensor("ids")); },
      [embedding](const CallInputs& in) { return embedding->prefill_reference(in.tensor("ids")); });
  calls->embedding_decode.emplace(
      "embedding.decode", embedding->info(Mode::decode),
      std::vector<std::string>{"ids", "positions"}, weights, call_settings(options),
      [embedding](const CallInputs& in) {
        return embedding->decode(in.tensor("ids"), in.tensor("positions"));
      },
      [embedding](const CallInputs& in) {
        return embedding->decode_reference(in.tensor("ids"), in.tensor("positions"));
      });
  calls->embedding_norm = positionwise_calls(modules_.embedding_norm, "embedding_norm", options);
  calls->norm = positionwise_calls(modules_.norm, "norm", options);
  calls->lm_head = positionwise_calls(modules_.lm_head, "lm_head", options);
  calls_ = std::move(calls);
}

const DecoderLayer& CausalLm::layer(std::int64_t index) const {
  if (index < 0 || index >= num_layers()) {
    throw std::out_of_range("[causal_lm] layer " + std::to_string(index) + " does not exist (" +
                            std::to_string(num_layers()) + " layers)");
  }
  return layers_[static_cast<std::size_t>(index)];
}

CausalLmCache CausalLm::make_cache(std::int64_t max_batch, std::int64_t max_seq_len) const {
  CausalLmCache cache;
  for (const DecoderLayer& layer : layers_) {
    cache.layers.push_back(layer.make_cache(max_batch, max_seq_len));
  }
  return cache;
}

namespace {

void check_cache(const CausalLmCache& cache, std::size_t layers) {
  if (cache.layers.size() != layers) {
    throw std::invalid_argument("[causal_lm] the cache has " + std::to_string(cache.layers.size()) +
                                " layers, the model " + std::to_string(layers) +
                                " (use CausalLm::make_cache)");
  }
}

}  // namespace

Tensor CausalLm::prefill(const Tensor& ids, CausalLmCache& cache, std::int64_t first_slot,
                         std::source_location site) const {
  check_cache(cache, layers_.size());
  const Calls& calls = *calls_;
  Tensor x = (*calls.embedding_prefill)({.tensors = {{"ids", ids}}}, site);
  if (calls.embedding_norm.prefill) {
    x = (*calls.embedding_norm.prefill)({.tensors = {{"x", x}}}, site);
  }
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    x = layers_[i].prefill(x, cache.layers[i], first_slot, site);
  }
  x = (*calls.norm.prefill)({.tensors = {{"x", x}}}, site);
  return (*calls.lm_head.prefill)({.tensors = {{"x", x}}}, site);
}

Tensor CausalLm::decode(const Tensor& ids, const Tensor& positions, CausalLmCache& cache,
                        std::source_location site) const {
  check_cache(cache, layers_.size());
  const Calls& calls = *calls_;
  Tensor x = (*calls.embedding_decode)({.tensors = {{"ids", ids}, {"positions", positions}}}, site);
  if (calls.embedding_norm.decode) {
    x = (*calls.embedding_norm.decode)({.tensors = {{"x", x}}}, site);
  }
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    x = layers_[i].decode(x, positions, cache.layers[i], site);
  }
  x = (*calls.norm.decode)({.tensors = {{"x", x}}}, site);
  return (*calls.lm_head.decode)({.tensors = {{"x", x}}}, site);
}

std::vector<NamedTensor> CausalLm::weights() const {
  std::vector<NamedTensor> all;
  std::set<std::tuple<const void*, Shape, DType>> seen;
  const auto add = [&](const std::string& path, const std::vector<NamedTensor>& weights) {
    for (const NamedTensor& weight : weights) {
      if (!seen.insert({weight.tensor.storage_id(), weight.tensor.shape(), weight.tensor.dtype()})
               .second) {
        continue;
      }
      std::string name = path + "." + weight.name;
      std::replace(name.begin(), name.end(), '/', '.');
      all.push_back({std::move(name), weight.tensor});
    }
  };
  for_each_module(modules_, [&](const std::string& path, const auto& module) {
    add(path, module.weights());
  });
  return all;
}

void register_weights(const CausalLm& model, TraceSession& session) {
  for (const NamedTensor& weight : model.weights()) {
    session.register_shared_tensor(weight.name, weight.tensor);
  }
}

Tensor argmax_tokens(const Tensor& logits) {
  if (logits.rank() < 1 || logits.dim(-1) == 0 || !is_floating(logits.dtype())) {
    throw std::invalid_argument("[argmax_tokens] expected floating logits [..., vocab], got " +
                                shape_to_string(logits.shape()));
  }
  const std::int64_t vocab = logits.dim(-1);
  Shape shape(logits.shape().begin(), logits.shape().end() - 1);
  Tensor tokens(shape, DType::int64);
  const std::span<const float> values = logits.floats();
  std::int64_t* out = tokens.data<std::int64_t>();
  for (std::int64_t row = 0; row < tokens.numel(); ++row) {
    const float* begin = values.data() + row * vocab;
    out[row] = std::max_element(begin, begin + vocab) - begin;
  }
  return tokens;
}

}  // namespace ttt

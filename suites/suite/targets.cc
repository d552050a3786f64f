#include "suites/suite/targets.h"

#include <stdexcept>
#include <utility>

#include "blocks/registration.h"
#include "suites/suite/internal/block_kinds.h"
#include "suites/suite/internal/hash.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using suite_detail::KnownKind;
using suite_detail::ParsedBlock;

// "ffn.decode.b1", "attention.prefill.b1.s128": the short name of a module or kind, the mode and
// the shape fields that matter.
std::string short_id(const std::string& base, Mode mode) {
  return base + "." + std::string(mode_name(mode));
}

// The mode an attention kind implies, or the definition's mode for other kinds.
Mode mode_of(const BlockCaseDefinition& definition) {
  if (definition.kind == "attention.prefill") {
    if (definition.mode != Mode::prefill) {
      throw std::invalid_argument("[suite] block attention.prefill runs in prefill mode only");
    }
    return Mode::prefill;
  }
  if (definition.kind == "attention.decode") {
    if (definition.mode != Mode::decode) {
      throw std::invalid_argument("[suite] block attention.decode runs in decode mode only");
    }
    return Mode::decode;
  }
  return definition.mode;
}

// A block kind of the registry, rebuilt from its Spec and ImplConfig JSON by the kind's replayer.
class BlockTarget final : public CaseTarget {
 public:
  explicit BlockTarget(BlockCaseDefinition definition)
      : definition_(std::move(definition)), mode_(mode_of(definition_)) {
    if (definition_.kind.empty()) throw std::invalid_argument("[suite] block_case: empty kind");
    if (definition_.registry == nullptr) register_builtin_blocks();
    known_ = suite_detail::find_known_kind(definition_.kind);
    if (known_ != nullptr) {
      parsed_ = suite_detail::parse_block(
          *known_, JsonNode(definition_.spec, definition_.kind + " spec"), definition_.device,
          mode_, definition_.preset,
          JsonNode(definition_.impl_config, definition_.kind + " impl_config"));
    } else {
      parsed_.spec = definition_.spec;
      parsed_.impl_config = definition_.impl_config;
    }
  }

  CaseDescription describe() const override {
    CaseDescription description;
    description.kind = definition_.kind;
    description.mode = std::string(mode_name(mode_));
    description.identity = parsed_.identity;
    const std::string base =
        definition_.module.empty() ? definition_.kind : last_component(definition_.module);
    description.default_id = base.find('.') == std::string::npos ? short_id(base, mode_) : base;
    description.module = definition_.module;
    description.spec = parsed_.spec;
    description.impl_config = parsed_.impl_config;
    description.preset =
        definition_.preset ? std::string(preset_name(*definition_.preset)) : std::string();
    description.device = std::string(device_name(definition_.device));
    return description;
  }

  std::vector<std::string> problems() const override {
    if (registry().find(definition_.kind) != nullptr) return {};
    std::string kinds;
    for (const std::string& kind : registry().kinds()) kinds += (kinds.empty() ? "" : ", ") + kind;
    return {"no reference: block kind '" + definition_.kind +
            "' is not registered (registered: " + kinds + ")"};
  }

  bool can_seed() const override { return known_ != nullptr; }

  std::optional<CaseInputs> seeded_inputs(const CaseShapes& shapes, const SeededInputs& seeded,
                                          std::uint64_t seed) const override {
    if (known_ == nullptr) return std::nullopt;
    return suite_detail::seeded_block_inputs(*known_, parsed_, mode_, shapes, seeded, seed);
  }

  BoundCase bind(const CaseInputs& inputs) const override {
    const BlockReplayer* replayer = registry().find(definition_.kind);
    if (replayer == nullptr) {
      throw std::invalid_argument("block kind '" + definition_.kind + "' is not registered");
    }
    BlockCall call;
    call.kind = definition_.kind;
    call.spec = parsed_.spec;
    call.impl_config = parsed_.impl_config;
    call.device = std::string(device_name(definition_.device));
    call.scalars = inputs.scalars.is_object() ? inputs.scalars : nlohmann::json::object();
    call.scalars["mode"] = std::string(mode_name(mode_));
    call.inputs = inputs.tensors;
    const BoundCall bound = replayer->bind(call);
    BoundCase result;
    result.check = [bound](const MetricsOptions& options) {
      const std::vector<NamedTensor> device = bound.run_device();
      const std::vector<NamedTensor> reference = bound.run_reference();
      return suite_detail::compare_outputs(device, reference, options);
    };
    result.run_device = [bound] { bound.run_device(); };
    return result;
  }

 private:
  static std::string last_component(const std::string& module) {
    const std::size_t dot = module.rfind('.');
    return dot == std::string::npos ? module : module.substr(dot + 1);
  }
  const BlockRegistry& registry() const {
    return definition_.registry != nullptr ? *definition_.registry : BlockRegistry::global();
  }

  BlockCaseDefinition definition_;
  Mode mode_;
  const KnownKind* known_ = nullptr;
  ParsedBlock parsed_;
};

// What every module target shares: the description from the module's ModuleInfo.
CaseDescription module_description(const ModuleInfo& info, const std::string& path, Mode mode,
                                   const std::string& device) {
  CaseDescription description;
  description.kind = info.block.empty() ? "module" : info.block;
  description.mode = std::string(mode_name(mode));
  description.module = path;
  description.call = path + "." + std::string(mode_name(mode));
  description.default_id = description.call;
  description.spec = nlohmann::json::parse(info.spec_json);
  description.impl_config = nlohmann::json::parse(info.impl_config_json);
  description.device = device;
  if (const KnownKind* known = suite_detail::find_known_kind(info.block)) {
    try {
      description.identity = suite_detail::block_identity(*known, description.spec);
    } catch (const std::exception&) {
      description.identity = "";  // An injected module's Spec need not parse as the kind's.
    }
  }
  return description;
}

std::int64_t width_of(const nlohmann::json& spec, const char* module) {
  for (const char* key : {"hidden_dim", "dim"}) {
    if (spec.contains(key) && spec.at(key).is_number_integer()) {
      return spec.at(key).get<std::int64_t>();
    }
  }
  throw std::invalid_argument(std::string("[suite] module ") + module +
                              ": its Spec has no hidden_dim or dim to size seeded inputs");
}

// A case over one module of a model in one mode: described by the module's info, seeded from
// its Spec.
template <typename Module>
class ModuleTarget : public CaseTarget {
 public:
  ModuleTarget(std::shared_ptr<const Module> module, std::string path, Mode mode,
               std::string device)
      : module_(std::move(module)),
        path_(std::move(path)),
        mode_(mode),
        device_(std::move(device)) {}

  CaseDescription describe() const override {
    return module_description(module_->info(mode_), path_, mode_, device_);
  }
  bool can_seed() const override { return true; }

 protected:
  std::shared_ptr<const Module> module_;
  std::string path_;
  Mode mode_;
  std::string device_;
};

// A positionwise module (a norm, a feed-forward network, the LM head).
class PositionwiseTarget final : public ModuleTarget<PositionwiseModule> {
 public:
  using ModuleTarget::ModuleTarget;

  std::optional<CaseInputs> seeded_inputs(const CaseShapes& shapes, const SeededInputs& seeded,
                                          std::uint64_t seed) const override {
    const std::int64_t width =
        width_of(nlohmann::json::parse(module_->info(mode_).spec_json), path_.c_str());
    if (shapes.batch < 1 || (mode_ == Mode::prefill && shapes.seq_len < 1)) {
      throw std::invalid_argument("shapes need batch >= 1 (and seq_len >= 1 in prefill)");
    }
    const Shape shape = mode_ == Mode::prefill ? Shape{shapes.batch, shapes.seq_len, width}
                                               : Shape{shapes.batch, width};
    CaseInputs inputs;
    inputs.tensors.push_back(
        {"x", suite_detail::seeded_activation(shape, seeded.activation_std,
                                              suite_detail::input_seed(seed, "x"))});
    return inputs;
  }
  BoundCase bind(const CaseInputs& inputs) const override {
    const Tensor x = inputs.tensor("x");
    BoundCase bound;
    bound.check = [module = module_, mode = mode_, x](const MetricsOptions& options) {
      return suite_detail::compare_outputs({{"y", module->forward(x, mode)}},
                                           {{"y", module->reference(x.to(DType::float32))}},
                                           options);
    };
    bound.run_device = [module = module_, mode = mode_, x] { module->forward(x, mode); };
    return bound;
  }
};

// Attention with its KV cache: the device writes into a copy of the given cache, the reference
// reads the cache as given.
class AttentionTarget final : public ModuleTarget<AttentionModule> {
 public:
  using ModuleTarget::ModuleTarget;

  std::optional<CaseInputs> seeded_inputs(const CaseShapes& shapes, const SeededInputs& seeded,
                                          std::uint64_t seed) const override {
    const nlohmann::json spec = nlohmann::json::parse(module_->info(mode_).spec_json);
    const std::int64_t width = width_of(spec, path_.c_str());
    if (shapes.batch < 1 || (mode_ == Mode::prefill && shapes.seq_len < 1) ||
        shapes.context_len < 0) {
      throw std::invalid_argument(
          "shapes need batch >= 1, seq_len >= 1 in prefill and context_len >= 0");
    }
    const std::int64_t needed = mode_ == Mode::prefill ? shapes.seq_len : shapes.context_len + 1;
    const KVCache empty = module_->make_cache(shapes.batch, suite_detail::cache_length(needed));
    const std::int64_t filled = mode_ == Mode::prefill ? 0 : shapes.context_len;
    CaseInputs inputs;
    const Shape shape = mode_ == Mode::prefill ? Shape{shapes.batch, shapes.seq_len, width}
                                               : Shape{shapes.batch, width};
    inputs.tensors.push_back(
        {"x", suite_detail::seeded_activation(shape, seeded.activation_std,
                                              suite_detail::input_seed(seed, "x"))});
    if (mode_ == Mode::decode) {
      inputs.tensors.push_back(
          {"positions", suite_detail::uniform_positions(shapes.batch, shapes.context_len)});
    }
    inputs.tensors.push_back(
        {"k_cache", suite_detail::seeded_cache(empty.k.shape(), empty.k.dtype(), filled,
                                               suite_detail::input_seed(seed, "k_cache"))});
    inputs.tensors.push_back(
        {"v_cache", suite_detail::seeded_cache(empty.v.shape(), empty.v.dtype(), filled,
                                               suite_detail::input_seed(seed, "v_cache"))});
    return inputs;
  }
  BoundCase bind(const CaseInputs& inputs) const override {
    const Tensor x = inputs.tensor("x");
    const KVCache given{inputs.tensor("k_cache"), inputs.tensor("v_cache")};
    auto cache = std::make_shared<KVCache>(KVCache{given.k.clone(), given.v.clone()});
    BoundCase bound;
    if (mode_ == Mode::prefill) {
      const std::int64_t first_slot = inputs.scalars.contains("first_slot")
                                          ? inputs.scalars.at("first_slot").get<std::int64_t>()
                                          : 0;
      bound.check = [module = module_, x, cache, first_slot](const MetricsOptions& options) {
        return suite_detail::compare_outputs({{"y", module->prefill(x, *cache, first_slot)}},
                                             {{"y", module->prefill_reference(x)}}, options);
      };
      bound.run_device = [module = module_, x, cache, first_slot] {
        module->prefill(x, *cache, first_slot);
      };
    } else {
      const Tensor positions = inputs.tensor("positions");
      bound.check = [module = module_, x, positions, cache, given](const MetricsOptions& options) {
        return suite_detail::compare_outputs({{"y", module->decode(x, positions, *cache)}},
                                             {{"y", module->decode_reference(x, positions, given)}},
                                             options);
      };
      bound.run_device = [module = module_, x, positions, cache] {
        module->decode(x, positions, *cache);
      };
    }
    return bound;
  }
};

// The token embedding.
class EmbeddingTarget final : public ModuleTarget<EmbeddingModule> {
 public:
  using ModuleTarget::ModuleTarget;

  std::optional<CaseInputs> seeded_inputs(const CaseShapes& shapes, const SeededInputs&,
                                          std::uint64_t seed) const override {
    const nlohmann::json spec = nlohmann::json::parse(module_->info(mode_).spec_json);
    const std::int64_t vocab = spec.at("vocab_size").get<std::int64_t>();
    if (shapes.batch < 1 || (mode_ == Mode::prefill && shapes.seq_len < 1)) {
      throw std::invalid_argument("shapes need batch >= 1 (and seq_len >= 1 in prefill)");
    }
    CaseInputs inputs;
    const Shape shape =
        mode_ == Mode::prefill ? Shape{shapes.batch, shapes.seq_len} : Shape{shapes.batch};
    inputs.tensors.push_back(
        {"ids", random_integers(shape, suite_detail::input_seed(seed, "ids"), 0, vocab)});
    if (mode_ == Mode::decode) {
      inputs.tensors.push_back(
          {"positions", suite_detail::uniform_positions(shapes.batch, shapes.context_len)});
    }
    return inputs;
  }
  BoundCase bind(const CaseInputs& inputs) const override {
    const Tensor ids = inputs.tensor("ids");
    BoundCase bound;
    if (mode_ == Mode::prefill) {
      bound.check = [module = module_, ids](const MetricsOptions& options) {
        return suite_detail::compare_outputs({{"y", module->prefill(ids)}},
                                             {{"y", module->prefill_reference(ids)}}, options);
      };
      bound.run_device = [module = module_, ids] { module->prefill(ids); };
    } else {
      const Tensor positions = inputs.tensor("positions");
      bound.check = [module = module_, ids, positions](const MetricsOptions& options) {
        return suite_detail::compare_outputs({{"y", module->decode(ids, positions)}},
                                             {{"y", module->decode_reference(ids, positions)}},
                                             options);
      };
      bound.run_device = [module = module_, ids, positions] { module->decode(ids, positions); };
    }
    return bound;
  }
};

std::shared_ptr<const CaseTarget> layer_module_case(const DecoderLayerModules& modules,
                                                    const std::string& layer_path,
                                                    std::string_view module, Mode mode,
                                                    const std::string& device) {
  const std::string path = layer_path + "." + std::string(module);
  const auto positionwise = [&](const std::shared_ptr<const PositionwiseModule>& pointer)
      -> std::shared_ptr<const CaseTarget> {
    if (!pointer) {
      throw std::invalid_argument("[suite] module_case: " + layer_path + " has no " +
                                  std::string(module));
    }
    return std::make_shared<const PositionwiseTarget>(pointer, path, mode, device);
  };
  if (module == "attention") {
    return std::make_shared<const AttentionTarget>(modules.attention, path, mode, device);
  }
  if (module == "attention_norm") return positionwise(modules.attention_norm);
  if (module == "post_attention_norm") return positionwise(modules.post_attention_norm);
  if (module == "ffn_norm") return positionwise(modules.ffn_norm);
  if (module == "ffn") return positionwise(modules.ffn);
  if (module == "post_ffn_norm") return positionwise(modules.post_ffn_norm);
  throw std::invalid_argument(
      "[suite] module_case: unknown layer module '" + std::string(module) +
      "' (expected one of: attention_norm, attention, post_attention_norm, ffn_norm, ffn, "
      "post_ffn_norm)");
}

}  // namespace

std::vector<std::string> known_block_kinds() { return suite_detail::known_kind_names(); }

std::shared_ptr<const CaseTarget> block_case(BlockCaseDefinition definition) {
  return std::make_shared<const BlockTarget>(std::move(definition));
}

std::shared_ptr<const CaseTarget> module_case(const DecoderLayer& layer, std::string_view module,
                                              Mode mode) {
  return layer_module_case(layer.modules(), layer.path(), module, mode, "");
}

std::shared_ptr<const CaseTarget> module_case(const CausalLm& model, std::string_view module,
                                              Mode mode) {
  const CausalLmModules& modules = model.modules();
  if (module == "embedding") {
    return std::make_shared<const EmbeddingTarget>(modules.embedding, "embedding", mode, "");
  }
  if (module == "norm") {
    return std::make_shared<const PositionwiseTarget>(modules.norm, "norm", mode, "");
  }
  if (module == "embedding_norm") {
    if (!modules.embedding_norm) {
      throw std::invalid_argument("[suite] module_case: the model has no embedding_norm");
    }
    return std::make_shared<const PositionwiseTarget>(modules.embedding_norm, "embedding_norm",
                                                      mode, "");
  }
  if (module == "lm_head") {
    return std::make_shared<const PositionwiseTarget>(modules.lm_head, "lm_head", mode, "");
  }
  if (module.rfind("layers.", 0) == 0) {
    const std::size_t dot = module.find('.', 7);
    if (dot != std::string_view::npos) {
      const std::string index_text(module.substr(7, dot - 7));
      std::size_t parsed = 0;
      std::int64_t index = -1;
      try {
        index = std::stoll(index_text, &parsed);
      } catch (const std::exception&) {
        parsed = 0;
      }
      if (parsed == index_text.size() && index >= 0 && index < model.num_layers()) {
        return module_case(model.layer(index), module.substr(dot + 1), mode);
      }
    }
  }
  throw std::invalid_argument(
      "[suite] module_case: unknown model module '" + std::string(module) +
      "' (expected embedding, embedding_norm, norm, lm_head or layers.N.<module> with N < " +
      std::to_string(model.num_layers()) + ")");
}

}  // namespace ttt

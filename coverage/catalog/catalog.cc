#include "coverage/catalog/catalog.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <variant>

#include "blocks/attention/attention.h"
#include "blocks/common/device.h"
#include "blocks/embeddings/embedding.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"
#include "blocks/lm_head/lm_head.h"
#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"
#include "coverage/internal/block_facts.h"
#include "coverage/internal/catalog_data.h"
#include "models/catalog.h"
#include "models/model.h"
#include "patterns/block_modules.h"
#include "patterns/causal_lm.h"
#include "validation/input/input_file.h"

namespace ttt {
namespace {

using coverage_detail::BlockFacts;
using coverage_detail::describe_block;

// Collects a model's configurations: every added Spec in both modes under every preset.
class ModelBuilder {
 public:
  // Adds a block that runs `count` times per forward.
  template <typename Spec>
  void add(const std::string& block, const Spec& spec, std::int64_t count) {
    nlohmann::json spec_json;
    to_json(spec_json, spec);
    for (const Mode mode : {Mode::prefill, Mode::decode}) {
      std::set<std::string> counted;
      for (const auto& [preset_name, preset] : presets()) {
        nlohmann::json impl_json;
        if (preset.has_value()) {
          to_json(impl_json, default_impl_config(spec, Device::N150, mode, *preset));
        } else {
          to_json(impl_json, default_impl_config(spec, Device::N150, mode));
        }
        const std::string mode_text(mode_name(mode));
        const BlockFacts facts = describe_block(block, spec_json, impl_json, "N150", mode_text);
        if (!facts.known) {
          throw std::logic_error("[catalog] " + block +
                                 " spec derived from a config is invalid: " + facts.problem);
        }
        CatalogConfig candidate;
        candidate.block = block;
        candidate.mode = mode_text;
        candidate.identity = facts.identity;
        candidate.weight_dtype = facts.weight_dtype;
        const std::string key = candidate.key();
        auto it = std::find_if(configurations_.begin(), configurations_.end(),
                               [&](const CatalogConfig& c) { return c.key() == key; });
        if (it == configurations_.end()) {
          candidate.spec = facts.spec;
          candidate.impl_config = facts.impl_config;
          configurations_.push_back(std::move(candidate));
          it = configurations_.end() - 1;
        }
        if (std::find(it->presets.begin(), it->presets.end(), preset_name) == it->presets.end()) {
          it->presets.push_back(preset_name);
        }
        if (counted.insert(key).second) it->count += count;
      }
    }
  }

  std::vector<CatalogConfig> take() { return std::move(configurations_); }

 private:
  static const std::vector<std::pair<std::string, std::optional<Preset>>>& presets() {
    static const auto* all = new std::vector<std::pair<std::string, std::optional<Preset>>>{
        {"default", std::nullopt},
        {"accuracy", Preset::accuracy},
        {"performance", Preset::performance}};
    return *all;
  }

  std::vector<CatalogConfig> configurations_;
};

// The distinct Specs of one kind of module in a model, in order of first use, each with how many
// times one forward runs it.
template <typename Spec>
class SpecUses {
 public:
  void add(const Spec& spec) {
    auto it =
        std::find_if(uses_.begin(), uses_.end(),
                     [&](const std::pair<Spec, std::int64_t>& use) { return use.first == spec; });
    if (it == uses_.end()) {
      uses_.emplace_back(spec, 1);
    } else {
      ++it->second;
    }
  }
  const std::vector<std::pair<Spec, std::int64_t>>& uses() const { return uses_; }

 private:
  std::vector<std::pair<Spec, std::int64_t>> uses_;
};

// A variant Spec (NormSpec, FfnSpec) added as the block its alternative is.
template <typename Variant>
void add_variant(ModelBuilder& builder, const Variant& spec, std::int64_t count) {
  std::visit(
      [&](const auto& alternative) {
        builder.add(std::string(block_kind(spec)), alternative, count);
      },
      spec);
}

// The configurations of the model the suites run: every module Spec of its CausalLmSpec, grouped
// as embedding, norms (the layers', the embedding's and the final one), attention (one per
// distinct layer Spec: Gemma-2's windowed and global layers), feed-forward, LM head.
std::vector<CatalogConfig> configurations_of(const CausalLmSpec& spec) {
  SpecUses<NormSpec> norms;
  SpecUses<AttentionSpec> attention;
  SpecUses<FfnSpec> ffns;
  for (const DecoderLayerSpec& layer : spec.layers) {
    norms.add(layer.attention_norm);
    if (layer.post_attention_norm.has_value()) norms.add(*layer.post_attention_norm);
    norms.add(layer.ffn_norm);
    if (layer.post_ffn_norm.has_value()) norms.add(*layer.post_ffn_norm);
    attention.add(layer.attention);
    ffns.add(layer.ffn);
  }
  if (spec.embedding_norm.has_value()) norms.add(*spec.embedding_norm);
  norms.add(spec.norm);
  ModelBuilder builder;
  builder.add("embedding", spec.embedding, 1);
  for (const auto& [norm, count] : norms.uses()) add_variant(builder, norm, count);
  for (const auto& [layer_attention, count] : attention.uses()) {
    builder.add("attention", layer_attention, count);
  }
  for (const auto& [ffn, count] : ffns.uses()) add_variant(builder, ffn, count);
  builder.add("lm_head", spec.lm_head, 1);
  return builder.take();
}

nlohmann::json parse_json_text(const std::string& text, const std::string& where) {
  try {
    return parse_json(text, where);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[catalog] " + std::string(error.what()));
  }
}

std::string read_file(const std::string& path) {
  try {
    require_regular_file(path);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[catalog] " + std::string(error.what()));
  }
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("[catalog] " + path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

// Sorted, without duplicates (same_value).
std::vector<nlohmann::json> sorted_values(std::vector<nlohmann::json> values) {
  std::sort(values.begin(), values.end(), coverage_detail::value_less);
  std::vector<nlohmann::json> unique;
  for (nlohmann::json& value : values) {
    if (unique.empty() || !coverage_detail::same_value(unique.back(), value)) {
      unique.push_back(std::move(value));
    }
  }
  return unique;
}

BlockDomain parse_domain(const std::string& block, const nlohmann::json& json,
                         const std::string& where, const std::vector<CatalogModel>& models) {
  const auto fail = [&](const std::string& path, const std::string& message) {
    throw std::invalid_argument("[catalog] " + where + ": " + path + ": " + message);
  };
  const std::string base = "/blocks/" + block;
  if (!json.is_object()) fail(base, "expected an object");
  for (const auto& [key, value] : json.items()) {
    if (key != "parameters" && key != "constraints") fail(base + "/" + key, "unknown field");
  }
  if (!json.contains("parameters") || !json.at("parameters").is_array()) {
    fail(base + "/parameters", "expected an array");
  }
  BlockDomain domain;
  domain.block = block;
  const nlohmann::json& parameters = json.at("parameters");
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const std::string path = base + "/parameters/" + std::to_string(i);
    const nlohmann::json& item = parameters[i];
    if (!item.is_object()) fail(path, "expected an object");
    for (const auto& [key, value] : item.items()) {
      if (key != "name" && key != "field" && key != "values" && key != "catalog" && key != "tway") {
        fail(path + "/" + key, "unknown field");
      }
    }
    DomainParameter parameter;
    if (!item.contains("name") || !item.at("name").is_string()) {
      fail(path + "/name", "expected a string");
    }
    parameter.name = item.at("name").get<std::string>();
    for (const DomainParameter& other : domain.parameters) {
      if (other.name == parameter.name) fail(path + "/name", "'" + parameter.name + "' repeats");
    }
    if (!item.contains("field") || !item.at("field").is_string() ||
        !coverage_detail::valid_field(item.at("field").get<std::string>())) {
      fail(path + "/field",
           "expected mode, device, batch, seq_len, weight_dtype, identity, topology, spec.<path>, "
           "impl.<path> or derived.<name>");
    }
    parameter.field = item.at("field").get<std::string>();
    parameter.from_catalog = item.value("catalog", false);
    if (item.contains("tway")) {
      if (!item.at("tway").is_boolean()) fail(path + "/tway", "expected true or false");
      parameter.tway = item.at("tway").get<bool>();
    }
    if (parameter.from_catalog == item.contains("values")) {
      fail(path, "give exactly one of \"values\" and \"catalog\": true");
    }
    if (parameter.from_catalog) {
      for (const CatalogModel& model : models) {
        for (const CatalogConfig& config : model.configurations) {
          if (config.block != block) continue;
          const BlockFacts facts =
              describe_block(block, config.spec, config.impl_config, "N150", config.mode);
          coverage_detail::FieldContext context{&facts, config.mode, "", 0, 0};
          nlohmann::json value = coverage_detail::field_value(parameter.field, context);
          if (!value.is_null()) parameter.values.push_back(std::move(value));
        }
      }
    } else {
      const nlohmann::json& values = item.at("values");
      if (!values.is_array() || values.empty())
        fail(path + "/values", "expected a non-empty array");
      for (const nlohmann::json& value : values) {
        if (!value.is_primitive() || value.is_null()) {
          fail(path + "/values", "expected numbers, strings or booleans, got " + value.dump());
        }
        for (const nlohmann::json& earlier : parameter.values) {
          if (coverage_detail::same_value(earlier, value)) {
            fail(path + "/values", "value " + value.dump() + " repeats");
          }
        }
        parameter.values.push_back(value);
      }
    }
    // Declared values keep their order (prefill before decode); catalog values are sorted.
    if (parameter.from_catalog) parameter.values = sorted_values(std::move(parameter.values));
    domain.parameters.push_back(std::move(parameter));
  }
  const auto find_parameter = [&](const std::string& name) {
    return std::find_if(domain.parameters.begin(), domain.parameters.end(),
                        [&](const DomainParameter& p) { return p.name == name; });
  };
  if (json.contains("constraints")) {
    const nlohmann::json& constraints = json.at("constraints");
    if (!constraints.is_array()) fail(base + "/constraints", "expected an array");
    for (std::size_t i = 0; i < constraints.size(); ++i) {
      const std::string path = base + "/constraints/" + std::to_string(i);
      const nlohmann::json& item = constraints[i];
      if (!item.is_object() || item.size() != 2 || !item.contains("if") || !item.contains("then") ||
          !item.at("if").is_object() || item.at("if").size() != 1 || !item.at("then").is_object() ||
          item.at("then").size() != 1) {
        fail(path,
             "expected {\"if\": {\"<parameter>\": value}, \"then\": {\"<parameter>\": [values]}}");
      }
      DomainConstraint constraint;
      constraint.if_parameter = item.at("if").begin().key();
      constraint.if_value = item.at("if").begin().value();
      constraint.then_parameter = item.at("then").begin().key();
      for (const std::string& name : {constraint.if_parameter, constraint.then_parameter}) {
        if (find_parameter(name) == domain.parameters.end()) {
          fail(path, "names no parameter '" + name + "'");
        }
      }
      const nlohmann::json& allowed = item.at("then").begin().value();
      if (!allowed.is_array()) fail(path + "/then", "expected an array of values");
      for (const nlohmann::json& value : allowed) constraint.allowed.push_back(value);
      domain.constraints.push_back(std::move(constraint));
    }
  }
  return domain;
}

// One entry of a --catalog directory's models.json (docs/coverage.md "Your own catalog"): a model
// of the models catalog by its id ("model") or a config.json given inline ("config"), mapped by
// the model reader; with "unsupported", a model the reader cannot map, listed with the features no
// block expresses; "topologies" as the models catalog's.
CatalogModel read_model_entry(const nlohmann::json& item, const std::string& where,
                              const std::string& path) {
  const auto fail = [&](const std::string& field, const std::string& message) {
    throw std::invalid_argument("[catalog] " + where + ": " + path +
                                (field.empty() ? "" : "/" + field) + ": " + message);
  };
  if (!item.is_object()) fail("", "expected an object");
  for (const auto& [key, value] : item.items()) {
    if (key != "name" && key != "hf_id" && key != "model" && key != "config" &&
        key != "architecture" && key != "unsupported" && key != "topologies") {
      fail(key,
           "unknown field (known: name, hf_id, model, config, architecture, unsupported, "
           "topologies)");
    }
  }
  std::vector<std::string> topologies;
  if (item.contains("topologies")) {
    try {
      topologies = read_topologies(JsonNode(item.at("topologies"), "", path + "/topologies"));
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument("[catalog] " + where + ": " + error.what());
    }
  }
  const auto text = [&](const std::string& field) {
    if (!item.at(field).is_string() || item.at(field).get<std::string>().empty()) {
      fail(field, "expected a non-empty string, got " + item.at(field).dump());
    }
    return item.at(field).get<std::string>();
  };
  if (!item.contains("name")) fail("name", "is required");
  const std::string name = text("name");
  const std::string hf_id = item.contains("hf_id") ? text("hf_id") : "";
  const std::string id = item.contains("model") ? text("model") : "";
  const bool unsupported = item.contains("unsupported");
  if (item.contains("model") && item.contains("config")) {
    fail("", "give one of \"model\" (a models catalog name) and \"config\", not both");
  }
  nlohmann::json config;
  std::string config_source = where;  // The file holding the config, and its path in it.
  std::string config_path = path + "/config";
  if (item.contains("config")) {
    config = item.at("config");
    if (!config.is_object()) fail("config", "expected a config.json object, got " + config.dump());
  } else if (item.contains("model")) {
    config_source = text("model");  // A models catalog config, named as load_model names it.
    config_path = "";
    try {
      config = catalog_config(text("model"));
    } catch (const std::invalid_argument& error) {
      fail("model", error.what());
    }
  } else if (!unsupported) {
    fail("", "give \"model\" (a models catalog name) or \"config\"");
  }
  if (!unsupported) {
    if (item.contains("architecture")) {
      fail("architecture", "is read from the config (give it only with \"unsupported\")");
    }
    CatalogModel model = derive_model(name, hf_id, JsonNode(config, config_source, config_path));
    model.id = id;
    model.topologies = std::move(topologies);
    return model;
  }

  if (!item.contains("architecture")) fail("architecture", "is required with \"unsupported\"");
  const nlohmann::json& features = item.at("unsupported");
  if (!features.is_array() || features.empty()) {
    fail("unsupported", "expected a non-empty array of features");
  }
  CatalogModel model;
  model.id = id;
  model.name = name;
  model.hf_id = hf_id;
  model.topologies = std::move(topologies);
  model.architecture = text("architecture");
  model.config = config.is_null() ? nlohmann::json::object() : std::move(config);
  for (std::size_t i = 0; i < features.size(); ++i) {
    if (!features[i].is_string() || features[i].get<std::string>().empty()) {
      fail("unsupported/" + std::to_string(i), "expected a non-empty string");
    }
    model.unsupported.push_back(features[i].get<std::string>());
  }
  return model;
}

// Resolves the domains of domains.json (`where`) against the catalog's models.
void add_domains(Catalog& catalog, const nlohmann::json& domains, const std::string& where) {
  if (!domains.is_object() || !domains.contains("blocks") || !domains.at("blocks").is_object()) {
    throw std::invalid_argument("[catalog] " + where + ": /blocks: expected an object");
  }
  for (const auto& [block, json] : domains.at("blocks").items()) {
    catalog.domains[block] = parse_domain(block, json, where, catalog.models);
  }
}

// A model of the models catalog: derived from its config.json by the model reader, or listed with
// its unsupported features (its architecture is the config's model_type).
CatalogModel from_models_catalog(const ModelCatalogEntry& entry) {
  CatalogModel model;
  if (entry.unsupported.empty()) {
    model = derive_model(entry.name, entry.hf_id, JsonNode(entry.config, entry.id));
  } else {
    model.name = entry.name;
    model.hf_id = entry.hf_id;
    model.architecture = entry.config.value("model_type", "");
    model.config = entry.config;
    model.unsupported = entry.unsupported;
  }
  model.id = entry.id;
  model.topologies = entry.topologies;
  return model;
}

}  // namespace

std::string CatalogConfig::key() const {
  return block + "|" + mode + "|" + identity + "|" + weight_dtype +
         (topology.empty() ? "" : "|" + topology);
}

const CatalogModel* Catalog::find_model(std::string_view name) const {
  const std::string wanted = lower(name);
  for (const CatalogModel& model : models) {
    if (lower(model.name) == wanted) return &model;
  }
  return nullptr;
}

CatalogModel derive_model(const std::string& name, const std::string& hf_id,
                          const JsonNode& config) {
  const ModelDefinition definition = model_from_config(config);
  CatalogModel model;
  model.name = name;
  model.hf_id = hf_id;
  model.architecture = definition.architecture;
  model.config = config.json();
  model.configurations = configurations_of(definition.spec);
  return model;
}

Catalog build_catalog(const nlohmann::json& models, const nlohmann::json& domains,
                      const std::string& source) {
  Catalog catalog;
  catalog.source = source;
  const std::string models_where = source + "/models.json";
  if (!models.is_object() || !models.contains("models") || !models.at("models").is_array()) {
    throw std::invalid_argument("[catalog] " + models_where + ": /models: expected an array");
  }
  const nlohmann::json& list = models.at("models");
  for (std::size_t i = 0; i < list.size(); ++i) {
    CatalogModel model = read_model_entry(list[i], models_where, "/models/" + std::to_string(i));
    if (catalog.find_model(model.name) != nullptr) {
      throw std::invalid_argument("[catalog] " + models_where + ": /models/" + std::to_string(i) +
                                  ": model '" + model.name + "' repeats");
    }
    catalog.models.push_back(std::move(model));
  }
  add_domains(catalog, domains, source + "/domains.json");
  return catalog;
}

Catalog load_catalog(const std::string& directory) {
  const std::string models_path = directory + "/models.json";
  const std::string domains_path = directory + "/domains.json";
  const nlohmann::json models = parse_json_text(read_file(models_path), models_path);
  const nlohmann::json domains = parse_json_text(read_file(domains_path), domains_path);
  return build_catalog(models, domains, directory);
}

const Catalog& builtin_catalog() {
  static const Catalog* catalog = [] {
    auto* built = new Catalog;
    built->source = "builtin";
    for (const ModelCatalogEntry& entry : model_catalog()) {
      built->models.push_back(from_models_catalog(entry));
    }
    add_domains(*built,
                parse_json_text(coverage_detail::builtin_domains_json(), "builtin domains.json"),
                "builtin/domains.json");
    return built;
  }();
  return *catalog;
}

}  // namespace ttt

// The dispatch of a config.json to its architecture mapping (the reader is
// models/internal/config_reader.cc); the catalog is models/catalog.cc.
#include "models/model.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "models/internal/architecture.h"
#include "validation/input/input_file.h"

namespace ttt {
namespace {

using models_detail::Architecture;
using models_detail::architectures;

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

const Architecture* mapping_of_type(const std::string& model_type) {
  for (const Architecture& architecture : architectures()) {
    if (architecture.model_type == model_type) return &architecture;
  }
  return nullptr;
}

const Architecture* mapping_listing(const std::string& name) {
  for (const Architecture& architecture : architectures()) {
    for (const std::string& listed : architecture.architectures) {
      if (listed == name) return &architecture;
    }
  }
  return nullptr;
}

std::vector<std::string> mapped_types() {
  std::vector<std::string> types;
  for (const Architecture& architecture : architectures()) {
    types.push_back(architecture.model_type);
  }
  return types;
}

// The mapping of a config.json: its model_type's, which must list its one architecture (or, with
// no model_type, the mapping listing the architecture).
const Architecture& mapping_for(const JsonNode& config) {
  const std::optional<JsonNode> type_node = models_detail::present(config, "model_type");
  const std::optional<JsonNode> listed = config.find("architectures");
  const nlohmann::json none = nlohmann::json::array();
  const nlohmann::json& names = listed ? listed->json() : none;
  if (!names.is_array() || names.size() != 1 || !names[0].is_string()) {
    config.fail_at("architectures",
                   "expected one architecture, e.g. [\"LlamaForCausalLM\"], got " + names.dump());
  }
  const std::string name = names[0].get<std::string>();
  const Architecture* by_name = mapping_listing(name);
  if (!type_node) {
    if (by_name == nullptr) {
      listed->fail("unmapped architecture '" + name + "' (mapped: " + joined(mapped_types()) + ")");
    }
    return *by_name;
  }
  const std::string type = type_node->string();
  const Architecture* by_type = mapping_of_type(type);
  if (by_type == nullptr) {
    type_node->fail("unmapped architecture '" + type + "' (mapped: " + joined(mapped_types()) +
                    ")");
  }
  if (by_type != by_name) {
    if (by_name != nullptr) {
      type_node->fail("'" + type + "' contradicts architecture " + name + " (model_type '" +
                      by_name->model_type + "')");
    }
    listed->fail("unmapped architecture '" + name + "' (the " + type + " mapping accepts " +
                 joined(by_type->architectures) + ")");
  }
  return *by_type;
}

}  // namespace

ModelDefinition model_from_config(const nlohmann::json& config, const std::string& source) {
  return model_from_config(JsonNode(config, source));
}

ModelDefinition model_from_config(const JsonNode& config) {
  config.object();
  return models_detail::read_config(mapping_for(config), config);
}

ModelDefinition load_model(const std::string& name_or_path) {
  if (is_catalog_model(name_or_path)) {
    return model_from_config(catalog_config(name_or_path), name_or_path);
  }
  require_regular_file(name_or_path);
  std::ifstream in(name_or_path);
  if (!in) {
    throw std::invalid_argument("[model_catalog] '" + name_or_path +
                                "' is neither a catalog model (" + joined(catalog_model_names()) +
                                ") nor a readable config.json");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return model_from_config(parse_json(text.str(), name_or_path), name_or_path);
}

CausalLmSpec slice_spec(const CausalLmSpec& spec, std::int64_t layers, std::int64_t vocab_size) {
  if (layers < 1 || layers > static_cast<std::int64_t>(spec.layers.size())) {
    throw std::invalid_argument("[slice_spec] layers must be in [1, " +
                                std::to_string(spec.layers.size()) + "], got " +
                                std::to_string(layers));
  }
  if (vocab_size < 0) {
    throw std::invalid_argument("[slice_spec] vocab_size must be >= 1, got " +
                                std::to_string(vocab_size));
  }
  CausalLmSpec slice = spec;
  slice.layers.resize(static_cast<std::size_t>(layers));
  if (vocab_size > 0) {
    slice.embedding.vocab_size = vocab_size;
    slice.lm_head.vocab_size = vocab_size;
  }
  return slice;
}

}  // namespace ttt

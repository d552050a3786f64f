// The catalog's index (models/catalog/catalog.json) read strictly, and the catalog functions of
// model.h answered from it.
#include "models/catalog.h"

#include <algorithm>
#include <stdexcept>

#include "models/internal/architecture.h"
#include "models/model.h"
#include "validation/input/input_file.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

constexpr std::string_view kIndexFormat = "ttt-model-catalog";
constexpr std::string_view kIndexSource = "models/catalog/catalog.json";

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// A non-empty string.
std::string text_of(const JsonNode& node) {
  std::string value = node.string();
  if (value.empty()) node.fail("expected a non-empty string");
  return value;
}

// A non-empty array of non-empty strings.
std::vector<std::string> texts_of(const JsonNode& node) {
  if (node.size() == 0) node.fail("expected a non-empty array");
  std::vector<std::string> values;
  for (std::size_t i = 0; i < node.size(); ++i) values.push_back(text_of(node.at(i)));
  return values;
}

}  // namespace

std::vector<std::string> read_topologies(const JsonNode& node) {
  std::vector<std::string> names = texts_of(node);
  std::vector<Mesh> meshes;
  for (std::size_t i = 0; i < names.size(); ++i) {
    Mesh mesh;
    try {
      mesh = parse_mesh(names[i]);
    } catch (const std::invalid_argument& error) {
      node.at(i).fail(error.what());
    }
    const auto same = std::find(meshes.begin(), meshes.end(), mesh);
    if (same != meshes.end()) {
      node.at(i).fail("'" + names[i] + "' names the mesh of '" + names[same - meshes.begin()] +
                      "' again");
    }
    meshes.push_back(mesh);
  }
  return names;
}

namespace {

ModelCatalogEntry read_entry(
    const JsonNode& node,
    const std::function<std::optional<std::string>(const std::string&)>& config_text) {
  node.allow_only({"id", "name", "hf_id", "config", "topologies", "unsupported"});
  ModelCatalogEntry entry;
  entry.id = text_of(node.at("id"));
  entry.name = text_of(node.at("name"));
  entry.hf_id = text_of(node.at("hf_id"));
  const JsonNode file = node.at("config");
  entry.config_file = text_of(file);
  if (!entry.config_file.ends_with(".json") || entry.config_file.find('/') != std::string::npos) {
    file.fail("expected a file name ending in .json beside the index, got '" + entry.config_file +
              "'");
  }
  const std::optional<std::string> text = config_text(entry.config_file);
  if (!text.has_value()) file.fail("no file '" + entry.config_file + "' beside the index");
  entry.config = parse_json(*text, "models/catalog/" + entry.config_file);
  entry.topologies = read_topologies(node.at("topologies"));
  if (const std::optional<JsonNode> features = node.find("unsupported")) {
    entry.unsupported = texts_of(*features);
  }
  return entry;
}

}  // namespace

std::vector<ModelCatalogEntry> parse_model_catalog(
    const JsonNode& index,
    const std::function<std::optional<std::string>(const std::string& file)>& config_text) {
  index.allow_only({"format", "about", "models"});
  const JsonNode format = index.at("format");
  if (format.string() != kIndexFormat) {
    format.fail("expected \"" + std::string(kIndexFormat) + "\", got " + format.json().dump());
  }
  if (const std::optional<JsonNode> about = index.find("about")) about->string();
  const JsonNode models = index.at("models");
  std::vector<ModelCatalogEntry> entries;
  for (std::size_t i = 0; i < models.size(); ++i) {
    ModelCatalogEntry entry = read_entry(models.at(i), config_text);
    for (const ModelCatalogEntry& earlier : entries) {
      if (earlier.id == entry.id) models.at(i).at("id").fail("'" + entry.id + "' repeats");
      if (earlier.name == entry.name) {
        models.at(i).at("name").fail("'" + entry.name + "' repeats");
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

const std::vector<ModelCatalogEntry>& model_catalog() {
  static const std::vector<ModelCatalogEntry>* catalog = [] {
    const auto& files = models_detail::embedded_catalog();
    const nlohmann::json index =
        parse_json(models_detail::embedded_catalog_index(), std::string(kIndexSource));
    auto entries = new std::vector<ModelCatalogEntry>(
        parse_model_catalog(JsonNode(index, std::string(kIndexSource)),
                            [&](const std::string& file) -> std::optional<std::string> {
                              const auto it = files.find(file.substr(0, file.size() - 5));
                              if (it == files.end()) return std::nullopt;
                              return it->second;
                            }));
    // A config file no entry names would be a model suites and coverage never see.
    for (const auto& [stem, text] : files) {
      if (std::none_of(entries->begin(), entries->end(), [&](const ModelCatalogEntry& entry) {
            return entry.config_file == stem + ".json";
          })) {
        throw std::logic_error("[model_catalog] models/catalog/" + stem +
                               ".json: no entry of the index names it");
      }
    }
    return entries;
  }();
  return *catalog;
}

const ModelCatalogEntry* find_catalog_model(std::string_view id) {
  for (const ModelCatalogEntry& entry : model_catalog()) {
    if (entry.id == id) return &entry;
  }
  return nullptr;
}

std::vector<std::string> catalog_model_names() {
  std::vector<std::string> names;
  for (const ModelCatalogEntry& entry : model_catalog()) names.push_back(entry.id);
  std::sort(names.begin(), names.end());
  return names;
}

bool is_catalog_model(std::string_view name) { return find_catalog_model(name) != nullptr; }

nlohmann::json catalog_config(std::string_view name) {
  if (const ModelCatalogEntry* entry = find_catalog_model(name)) return entry->config;
  throw std::invalid_argument("[model_catalog] unknown model '" + std::string(name) +
                              "' (catalog: " + joined(catalog_model_names()) + ")");
}

}  // namespace ttt

// The catalog of published models: one index, models/catalog/catalog.json, naming each model's
// id (what suites name), name and Hugging Face id, its config.json as released (a file beside the
// index), the topologies (meshes) TTTv1 runs it on, and for a model the model reader cannot map
// the features no TTTv2 block expresses. Suites load models from it (load_model, model.h) and
// coverage measures against it (coverage/catalog/catalog.h): one catalog for both
// (docs/models.md "The catalog").
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "validation/input/json_reader.h"

namespace ttt {

// One model of the catalog.
struct ModelCatalogEntry {
  std::string id;           // "llama-3.1-8b": what suites and load_model name.
  std::string name;         // "Llama-3.1-8B": what reports show.
  std::string hf_id;        // "meta-llama/Llama-3.1-8B".
  std::string config_file;  // "llama-3.1-8b.json", in the index's folder.
  nlohmann::json config;    // That file's config.json.
  // The meshes the model targets, as written ("N150", "T3K"); each parses with parse_mesh
  // (validation/mesh/mesh.h) and no two name the same mesh.
  std::vector<std::string> topologies;
  // Features no TTTv2 block or pattern expresses; non-empty for a model the reader cannot map.
  std::vector<std::string> unsupported;
};

// Reads a catalog index strictly. `config_text(file)` gives the text of a config file of the
// index's folder, or nothing when there is no such file. Throws std::invalid_argument
// "<source>: <JSON Pointer>: <what>" (JsonNode) for an unknown or mistyped field, a repeated id,
// a file that does not exist ("/models/3/config: no file 'x.json' beside the index"), a topology
// parse_mesh refuses, and a config file that is not JSON (naming the file).
std::vector<ModelCatalogEntry> parse_model_catalog(
    const JsonNode& index,
    const std::function<std::optional<std::string>(const std::string& file)>& config_text);

// A "topologies" array: non-empty, each a name parse_mesh accepts ("N150", "T3K", "2x4"), no
// two naming the same mesh. Throws std::invalid_argument "<source>: <JSON Pointer>: <what>".
std::vector<std::string> read_topologies(const JsonNode& node);

// The catalog compiled into the library from models/catalog/ (parsed once; thread-safe), in the
// index's order. Every config file of the folder is named by one entry.
const std::vector<ModelCatalogEntry>& model_catalog();

// The entry whose id is `id`, or nullptr.
const ModelCatalogEntry* find_catalog_model(std::string_view id);

}  // namespace ttt

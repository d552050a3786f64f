// The models a suite names: a catalog of published configurations (config.json as released,
// models/catalog/<id>.json, indexed by models/catalog/catalog.json: models/catalog.h), the one
// reader mapping a config.json to the causal LM's Spec through the mapping file of its model_type
// (models/architectures/<model_type>.json; docs/models.md "Adding a model"); weights (seeded, or
// from a checkpoint) are models/weights.h's.
//
// Mapped: llama, mistral, mixtral, qwen2, qwen3, gemma2, gpt2, phi3, stablelm and bloom.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "models/weights.h"
#include "patterns/causal_lm.h"
#include "validation/input/json_reader.h"

namespace ttt {

// Ids of the catalog models (models/catalog.h), sorted: "bert-base-uncased", "bloom-560m", ...
std::vector<std::string> catalog_model_names();
// Whether `name` is a catalog model.
bool is_catalog_model(std::string_view name);
// The config.json of a catalog model. Throws std::invalid_argument listing the names.
nlohmann::json catalog_config(std::string_view name);

// A model read from a config.json.
struct ModelDefinition {
  std::string name;          // The catalog name, or the config file's path.
  std::string architecture;  // The model_type of its mapping: "llama", "qwen3", "gpt2", ...
  nlohmann::json config;     // The config.json.
  CausalLmSpec spec;
  double initializer_range = 0.02;  // Standard deviation of seeded weights.
};

// Maps a config.json to the Spec. Throws std::invalid_argument naming `source` and the field's
// JSON Pointer (the strict reader's format, validation/input/json_reader.h):
// "gemma2.json: /head_dim: expected an integer, got \"x\"", an unknown architecture or field, or
// a value needing a feature no block expresses ("stablelm.json: /use_parallel_residual: true needs
// a parallel residual, which no TTTv2 pattern expresses (models/architectures/stablelm.json)").
ModelDefinition model_from_config(const nlohmann::json& config, const std::string& source);
// The same for a config.json inside a larger document: errors name the node's source and the
// field's full JSON Pointer ("dir/models.json: /models/9/config/hidden_size: expected an
// integer, got \"wide\"", a --catalog directory's models.json: coverage/catalog/catalog.h).
ModelDefinition model_from_config(const JsonNode& config);

// A catalog model by name, else the config.json at `name_or_path`. Throws std::invalid_argument
// naming the file when it cannot be read, or the catalog names when `name_or_path` is neither.
ModelDefinition load_model(const std::string& name_or_path);

// The first `layers` layers of `spec` (a shaped slice), with the vocabulary cut to `vocab_size`
// when it is not 0. Throws std::invalid_argument for layers outside [1, spec.layers.size()] or a
// vocabulary < 1.
CausalLmSpec slice_spec(const CausalLmSpec& spec, std::int64_t layers, std::int64_t vocab_size = 0);

}  // namespace ttt

// The coverage catalog: for each real model, the block configurations it needs and the
// topologies it needs them on, and for each block family the parameters coverage reports on with
// their declared domains (docs/coverage.md "The catalog").
//
// The models are the models catalog's (models/catalog.h: models/catalog/catalog.json, the one
// catalog suites and coverage share): each with its published config.json, the topologies
// (meshes) it targets, and for a model the model reader cannot map its unsupported features.
// The domains are coverage/catalog/domains.json. Both are compiled into the libraries
// (builtin_catalog()); `--catalog DIR` reads DIR/models.json (a list of your own models, see
// build_catalog) and DIR/domains.json instead (load_catalog()).
//
// A model's configurations come from the model the suites run: derive_model() reads its
// config.json with the model reader (models/model.h model_from_config) and takes every module Spec
// of the resulting CausalLmSpec: its embedding, norms, attention (one per distinct layer Spec:
// Gemma-2's windowed and global layers), feed-forward block, final norm and LM head, in both modes,
// under each precision preset (TTTv1's default, accuracy and performance), the ImplConfig being the
// block's default_impl_config() on N150. Configurations that differ only by an ImplConfig field
// other than the main weight's dtype are one configuration. A model needs them on one device and,
// again, on each multi-device topology it targets (report.h: one report row per topology).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "validation/input/json_reader.h"

namespace ttt {

// One block configuration a model needs.
struct CatalogConfig {
  std::string block;           // Family: "attention", "gated_mlp", "rms_norm", ...
  std::string mode;            // "prefill" or "decode".
  std::string identity;        // The Spec's identity string.
  std::string weight_dtype;    // The main weight's dtype ("bfloat8_b"; norms: "bfloat16").
  nlohmann::json spec;         // The Spec as the block writes it.
  nlohmann::json impl_config;  // The ImplConfig of the first preset below, on N150.
  // The presets giving this configuration: "default", "accuracy", "performance".
  std::vector<std::string> presets;
  // How many times the block runs in one forward of one token (layers, norms per layer).
  std::int64_t count = 0;
  // The mesh it runs on, by mesh_name() ("T3K", "TG", "2x4"); "" for one device (1x1).
  std::string topology;

  // "<block>|<mode>|<identity>|<weight_dtype>", followed by "|<topology>" on a multi-device mesh:
  // what a record must match (docs/coverage.md "Matching").
  std::string key() const;
};

// A model and what it needs.
struct CatalogModel {
  std::string id;            // The models catalog's id ("llama-3.1-8b"); "" when it has none.
  std::string name;          // "Llama-3.1-8B".
  std::string hf_id;         // "meta-llama/Llama-3.1-8B".
  std::string architecture;  // The config's model_type.
  nlohmann::json config;     // The config.json it was derived from ({} when not given).
  std::vector<CatalogConfig> configurations;
  // Features of the model no TTTv2 block expresses (they cannot be covered, and are listed by
  // reports): "bidirectional (encoder) self-attention ...". A model the model reader cannot map
  // has these and no configurations.
  std::vector<std::string> unsupported;
  // The topologies the model targets, as the catalog names them ("N150", "N300", "T3K", "TG").
  // Its configurations are needed on one device and on each of these meshes with more than one
  // device.
  std::vector<std::string> topologies;
};

// A parameter a block family is reported on.
struct DomainParameter {
  std::string name;   // "head_dim".
  std::string field;  // Where its value is read: "derived.head_dim", "mode", "spec.dim", ...
  // The domain: declared values in their declared order, or the catalog's values sorted
  // (booleans false first, numbers ascending, strings alphabetically); empty when no catalog
  // model needs the block.
  std::vector<nlohmann::json> values;
  bool from_catalog = false;  // The values are those the catalog's models need.
  bool tway = true;           // Part of the t-way combinations.
};

// When `if_parameter` has `if_value`, `then_parameter` only takes `allowed`.
struct DomainConstraint {
  std::string if_parameter;
  nlohmann::json if_value;
  std::string then_parameter;
  std::vector<nlohmann::json> allowed;
};

struct BlockDomain {
  std::string block;
  std::vector<DomainParameter> parameters;
  std::vector<DomainConstraint> constraints;
};

struct Catalog {
  std::string source;  // "builtin" or the directory read.
  std::vector<CatalogModel> models;
  std::map<std::string, BlockDomain> domains;  // By block family.

  // The model called `name` (case-insensitive), or nullptr.
  const CatalogModel* find_model(std::string_view name) const;
};

// Derives the configurations of one model from its config.json through the model reader
// (model_from_config), so coverage measures the model the suites run. Throws std::invalid_argument
// with the reader's message, naming the config's file and the field's JSON Pointer in it:
// "models.json: /models/9/config/hidden_size: expected an integer, got \"wide\"" (a missing or
// mistyped field, a field the architecture's mapping does not know, an unmapped model_type).
CatalogModel derive_model(const std::string& name, const std::string& hf_id,
                          const JsonNode& config);

// Builds a catalog of your own models from a models.json ({"models": [...]}, each entry a models
// catalog model by id ("model") or a config.json given inline ("config"), with "name", optional
// "hf_id" and "topologies", and with "unsupported" (and "architecture") a model the reader cannot
// map) and a domains.json: derives every model and resolves the domains (catalog values,
// sorting). Throws std::invalid_argument naming `source`, the file and the JSON path of a bad
// field, or as derive_model for a config the reader refuses.
Catalog build_catalog(const nlohmann::json& models, const nlohmann::json& domains,
                      const std::string& source);

// Reads DIR/models.json and DIR/domains.json. Throws std::invalid_argument naming the file when
// one is missing or bad.
Catalog load_catalog(const std::string& directory);

// The models catalog's models (models/catalog.h) with coverage/catalog/domains.json (built once;
// thread-safe).
const Catalog& builtin_catalog();

}  // namespace ttt

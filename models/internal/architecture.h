// The architecture mappings (models/architectures/<model_type>.json, docs/models.md "Adding a
// model") and the one reader that applies them to a config.json. Internal to models/: callers use
// models/model.h.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "models/model.h"
#include "validation/input/json_reader.h"

namespace ttt::models_detail {

// One config.json field the mapping reads.
struct MappedField {
  std::string field;                  // The config.json field: "num_key_value_heads".
  std::vector<std::string> settings;  // What it sets: {"kv_heads"}.
  std::string older_field;            // "or": read when `field` is absent (Gemma's hidden_act).
  std::optional<nlohmann::json> fallback;  // "default": a literal or an expression of settings.
};

// A field whose other values need a feature no block expresses.
struct RefusedField {
  std::string field;
  std::optional<nlohmann::json> accepts;  // The one value accepted; absent: any value is refused.
  std::string needs;                      // "a parallel residual, which no TTTv2 pattern ..."
};

// One entry of the "weights" section: where a weight the model reads comes from in a Hugging
// Face checkpoint (docs/models.md "Adding a model").
struct MappedWeight {
  // The weight as CausalLm::weights() names it, with {i} for the layer and {e} for the expert:
  // "layers.{i}.attention.wq", "layers.{i}.ffn.w_gate.{e}" (one of weight_paths()).
  std::string path;
  // The Hugging Face tensor, with the same placeholders:
  // "model.layers.{i}.self_attn.q_proj.weight".
  std::string name;
  // Stored [out, in] (nn.Linear): transposed to the blocks' [in, out] when loaded.
  bool transpose = false;
  // >= 0: part `part` of a fused tensor (Phi-3's qkv_proj): the parts, in order, are
  // concatenated along the output dimension (the last one in the blocks' layout).
  int part = -1;
  int parts = 1;  // How many entries share `name` (1 when not fused).
  // The fused parts interleave per attention head (BLOOM's query_key_value: q, k, v of head 0,
  // then of head 1, ...) instead of following each other whole.
  bool per_head = false;
};

// A weight path a mapping may name: its pattern and rank.
struct WeightPath {
  std::string_view pattern;  // "layers.{i}.attention.wq"
  int rank;                  // 2 for matrices and tables, 1 for vectors
};
// Every weight path of a causal LM (the "weights" section's vocabulary).
std::span<const WeightPath> weight_paths();

// One parsed mapping file.
struct Architecture {
  std::string file;  // "models/architectures/qwen3.json", for messages.
  std::string model_type;
  std::vector<std::string> architectures;
  std::vector<MappedField> fields;
  std::map<std::string, nlohmann::json> constants;
  std::vector<std::string> ignored;
  std::vector<RefusedField> refused;
  std::string unsupported;  // Non-empty: a feature every model of this type needs and none has.
  // "weights": one entry per weight path; empty: checkpoints of this type do not load.
  std::vector<MappedWeight> weights;
  // "base_model_prefix" (Hugging Face's): checkpoints saved from the base model (GPT-2's, BLOOM's)
  // name "h.0.ln_1.weight" for "transformer.h.0.ln_1.weight"; the loader accepts both.
  std::string base_model_prefix;
};

// Parses a mapping file strictly: unknown keys, unknown settings and wrong types throw
// std::invalid_argument "<file>: <JSON Pointer>: <what>" (JsonNode).
Architecture parse_architecture(const nlohmann::json& json, const std::string& file);

// The mappings compiled into the library, parsed once, sorted by model_type.
const std::vector<Architecture>& architectures();

// Applies `architecture` to `config`. Throws std::invalid_argument "<source>: <JSON Pointer>:
// <what>" (JsonNode; docs/models.md lists the messages).
ModelDefinition read_config(const Architecture& architecture, const JsonNode& config);

// The field `name` of the object `config`, unless absent or null: Hugging Face writes null for
// "not set" (rope_scaling, sliding_window), so null reads as absent.
std::optional<JsonNode> present(const JsonNode& config, std::string_view name);

// The embedded files, name (file stem) -> text, generated at configure time from
// models/architectures/*.json and models/catalog/*.json but the index (models/CMakeLists.txt).
const std::map<std::string, std::string>& embedded_architectures();
const std::map<std::string, std::string>& embedded_catalog();
// The text of models/catalog/catalog.json, the catalog's index (models/catalog.h).
const char* embedded_catalog_index();

}  // namespace ttt::models_detail

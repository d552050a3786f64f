// The mapping files: the settings a mapping may set (one table), and the strict parse of a file.
#include "models/internal/architecture.h"

#include <stdexcept>

#include "models/internal/settings.h"

namespace ttt::models_detail {
namespace {

// A string, or a non-empty array of strings.
std::vector<std::string> texts_of(const JsonNode& node) {
  if (node.json().is_string()) return {node.string()};
  if (!node.json().is_array() || node.size() == 0) {
    node.fail("expected a string or a non-empty array of strings, got " + node.json().dump());
  }
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < node.size(); ++i) texts.push_back(node.at(i).string());
  return texts;
}

// A constant or a default: a literal of the setting's kind, or (for numbers) an expression.
void check_value(const Setting& setting, const JsonNode& node) {
  const nlohmann::json& value = node.json();
  const bool ok = [&] {
    switch (setting.kind) {
      case SettingKind::integer:
        return value.is_number_integer() || is_expression(value);
      case SettingKind::number:
        return value.is_number() || is_expression(value);
      case SettingKind::boolean:
        return value.is_boolean();
      case SettingKind::text:
        return value.is_string() && setting.accepts(value.get<std::string>());
      case SettingKind::object:
        return value.is_object();
    }
    return false;
  }();
  if (!ok) {
    node.fail(value.dump() + " is not a value of setting '" + std::string(setting.name) + "' (" +
              setting.describe() + ")");
  }
}

// The placeholders of a pattern, as "{i}{e}" (in that order, each once).
std::string placeholders_of(std::string_view pattern) {
  std::string found;
  for (const char* placeholder : {"{i}", "{e}"}) {
    if (pattern.find(placeholder) != std::string_view::npos) found += placeholder;
  }
  return found;
}

const WeightPath* find_weight_path(std::string_view pattern) {
  for (const WeightPath& path : weight_paths()) {
    if (path.pattern == pattern) return &path;
  }
  return nullptr;
}

// The "weights" section: each entry a known weight path, its placeholders in the name, and the
// entries sharing a name numbered parts 0..n-1 with the same conversion.
std::vector<MappedWeight> read_weights(const JsonNode& section) {
  std::vector<MappedWeight> weights;
  std::map<std::string, std::vector<std::size_t>> by_name;
  for (const auto& [path, entry] : section.object().items()) {
    const JsonNode node = section.at(path);
    const WeightPath* known = find_weight_path(path);
    if (known == nullptr) {
      node.fail("unknown weight path '" + path +
                "' (docs/models.md \"Adding a model\" lists them)");
    }
    MappedWeight weight;
    weight.path = path;
    if (entry.is_object()) {
      node.allow_only({"name", "transpose", "part", "per_head"});
      weight.name = node.at("name").string();
      if (const auto transpose = node.find("transpose")) weight.transpose = transpose->boolean();
      if (const auto part = node.find("part"))
        weight.part = static_cast<int>(part->integer_in(0, 63));
      if (const auto per_head = node.find("per_head")) weight.per_head = per_head->boolean();
    } else {
      weight.name = node.string();
    }
    if (weight.name.empty()) node.fail("the Hugging Face name is empty");
    if (placeholders_of(weight.name) != placeholders_of(path)) {
      node.fail("the name '" + weight.name + "' must hold the placeholders of the path (" +
                (placeholders_of(path).empty() ? "none" : placeholders_of(path)) + ")");
    }
    if (weight.transpose && known->rank != 2) {
      node.fail("transpose applies to matrices; '" + path + "' is a vector");
    }
    if (weight.per_head && !path.starts_with("layers.{i}.attention.")) {
      node.fail("per_head applies to attention weights; '" + path + "' is not one");
    }
    if (weight.per_head && weight.part < 0) {
      node.fail("per_head applies to the parts of a fused tensor");
    }
    by_name[weight.name].push_back(weights.size());
    weights.push_back(std::move(weight));
  }
  for (auto& [name, indices] : by_name) {
    std::vector<bool> seen(indices.size(), false);
    const MappedWeight& first = weights[indices.front()];
    for (const std::size_t index : indices) {
      MappedWeight& weight = weights[index];
      const JsonNode node = section.at(weight.path);
      if (indices.size() > 1 && weight.part < 0) {
        node.fail("'" + name + "' is named by " + std::to_string(indices.size()) +
                  " weights: give each its \"part\"");
      }
      if (weight.part >= static_cast<int>(indices.size()) ||
          (weight.part >= 0 && seen[static_cast<std::size_t>(weight.part)])) {
        node.fail("part " + std::to_string(weight.part) + " of '" + name + "': the " +
                  std::to_string(indices.size()) + " parts must be numbered 0.." +
                  std::to_string(indices.size() - 1) + ", each once");
      }
      if (weight.part >= 0) seen[static_cast<std::size_t>(weight.part)] = true;
      if (weight.transpose != first.transpose || weight.per_head != first.per_head) {
        node.fail("the parts of '" + name + "' differ in transpose or per_head");
      }
      weight.parts = static_cast<int>(indices.size());
    }
  }
  return weights;
}

}  // namespace

std::span<const WeightPath> weight_paths() {
  static constexpr WeightPath kPaths[] = {
      {"embedding.token_weight", 2},
      {"embedding.position_weight", 2},
      {"embedding_norm.weight", 1},
      {"embedding_norm.bias", 1},
      {"layers.{i}.attention_norm.weight", 1},
      {"layers.{i}.attention_norm.bias", 1},
      {"layers.{i}.attention.wq", 2},
      {"layers.{i}.attention.wk", 2},
      {"layers.{i}.attention.wv", 2},
      {"layers.{i}.attention.wo", 2},
      {"layers.{i}.attention.bq", 1},
      {"layers.{i}.attention.bk", 1},
      {"layers.{i}.attention.bv", 1},
      {"layers.{i}.attention.bo", 1},
      {"layers.{i}.attention.q_norm", 1},
      {"layers.{i}.attention.k_norm", 1},
      {"layers.{i}.post_attention_norm.weight", 1},
      {"layers.{i}.post_attention_norm.bias", 1},
      {"layers.{i}.ffn_norm.weight", 1},
      {"layers.{i}.ffn_norm.bias", 1},
      {"layers.{i}.ffn.w_gate", 2},
      {"layers.{i}.ffn.w_up", 2},
      {"layers.{i}.ffn.w_down", 2},
      {"layers.{i}.ffn.b_up", 1},
      {"layers.{i}.ffn.b_down", 1},
      {"layers.{i}.ffn.router", 2},
      {"layers.{i}.ffn.w_gate.{e}", 2},
      {"layers.{i}.ffn.w_up.{e}", 2},
      {"layers.{i}.ffn.w_down.{e}", 2},
      {"layers.{i}.post_ffn_norm.weight", 1},
      {"layers.{i}.post_ffn_norm.bias", 1},
      {"norm.weight", 1},
      {"norm.bias", 1},
      {"lm_head.weight", 2},
  };
  return kPaths;
}

Architecture parse_architecture(const nlohmann::json& json, const std::string& file) {
  const JsonNode root(json, file);
  root.allow_only({"model_type", "architectures", "description", "fields", "constants", "ignored",
                   "refused", "unsupported", "weights", "base_model_prefix"});
  Architecture architecture;
  architecture.file = file;
  architecture.model_type = root.at("model_type").string();
  architecture.architectures = texts_of(root.at("architectures"));
  if (const auto description = root.find("description")) description->string();

  std::map<std::string, std::string> set_by;  // setting -> the path that sets it
  const auto claim = [&](const std::string& setting, const JsonNode& node) {
    if (!find_setting(setting)) {
      node.fail("unknown setting '" + setting + "' (docs/models.md lists them)");
    }
    if (!set_by.emplace(setting, node.path()).second) {
      node.fail("setting '" + setting + "' is already set by " + set_by[setting]);
    }
  };
  const JsonNode fields = root.at("fields");
  for (const auto& [field, entry] : fields.object().items()) {
    const JsonNode node = fields.at(field);
    MappedField mapped;
    mapped.field = field;
    std::optional<JsonNode> fallback;
    if (entry.is_object()) {
      node.allow_only({"sets", "default", "or"});
      mapped.settings = texts_of(node.at("sets"));
      if (const auto older = node.find("or")) mapped.older_field = older->string();
      if ((fallback = node.find("default"))) mapped.fallback = fallback->json();
    } else {
      mapped.settings = texts_of(node);
    }
    for (const std::string& setting : mapped.settings) claim(setting, node);
    const Setting& first = *find_setting(mapped.settings.front());
    for (const std::string& setting : mapped.settings) {
      if (find_setting(setting)->kind != first.kind) node.fail("sets settings of different kinds");
    }
    if (fallback) check_value(first, *fallback);
    architecture.fields.push_back(std::move(mapped));
  }
  const JsonNode constants = root.at("constants");
  for (const auto& [setting, value] : constants.object().items()) {
    const JsonNode node = constants.at(setting);
    claim(setting, node);
    check_value(*find_setting(setting), node);
    architecture.constants[setting] = value;
  }
  if (const auto ignored = root.find("ignored")) architecture.ignored = texts_of(*ignored);
  if (const auto refused_fields = root.find("refused")) {
    for (const auto& [field, entry] : refused_fields->object().items()) {
      const JsonNode node = refused_fields->at(field);
      node.allow_only({"accepts", "needs"});
      RefusedField refused{field, std::nullopt, node.at("needs").string()};
      if (entry.contains("accepts") && !entry.at("accepts").is_null()) {
        refused.accepts = entry.at("accepts");
      }
      architecture.refused.push_back(std::move(refused));
    }
  }
  if (const auto unsupported = root.find("unsupported")) {
    architecture.unsupported = unsupported->string();
  }
  if (const auto weights = root.find("weights")) architecture.weights = read_weights(*weights);
  if (const auto prefix = root.find("base_model_prefix")) {
    architecture.base_model_prefix = prefix->string();
  }
  for (const Setting& setting : settings()) {
    if (setting.required && set_by.count(std::string(setting.name)) == 0) {
      fields.fail("no field or constant sets the required setting '" + std::string(setting.name) +
                  "'");
    }
  }
  return architecture;
}

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> kArchitectures = [] {
    std::vector<Architecture> parsed;
    for (const auto& [stem, text] : embedded_architectures()) {
      const std::string file = "models/architectures/" + stem + ".json";
      const nlohmann::json json = nlohmann::json::parse(text);
      Architecture architecture = parse_architecture(json, file);
      if (architecture.model_type != stem) {
        JsonNode(json, file)
            .at("model_type")
            .fail("'" + architecture.model_type + "' differs from the file name");
      }
      parsed.push_back(std::move(architecture));
    }
    return parsed;
  }();
  return kArchitectures;
}

}  // namespace ttt::models_detail

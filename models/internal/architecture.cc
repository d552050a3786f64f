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

}  // namespace

Architecture parse_architecture(const nlohmann::json& json, const std::string& file) {
  const JsonNode root(json, file);
  root.allow_only({"model_type", "architectures", "description", "fields", "constants", "ignored",
                   "refused", "unsupported"});
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

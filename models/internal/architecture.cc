// The mapping files: the settings a mapping may set (one table), and the strict parse of a file.
#include "models/internal/architecture.h"

#include <algorithm>
#include <stdexcept>

#include "models/internal/settings.h"

namespace ttt::models_detail {
namespace {

[[noreturn]] void mapping_error(const std::string& file, const std::string& path,
                                const std::string& message) {
  throw std::invalid_argument("[model_mapping] " + file + ": " + path + ": " + message);
}

std::string text_of(const nlohmann::json& value, const std::string& file, const std::string& path) {
  if (!value.is_string()) mapping_error(file, path, "expected a string, got " + value.dump());
  return value.get<std::string>();
}

std::vector<std::string> texts_of(const nlohmann::json& value, const std::string& file,
                                  const std::string& path) {
  if (value.is_string()) return {value.get<std::string>()};
  if (!value.is_array() || value.empty()) {
    mapping_error(file, path, "expected a string or a non-empty array of strings");
  }
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < value.size(); ++i) {
    texts.push_back(text_of(value[i], file, path + "[" + std::to_string(i) + "]"));
  }
  return texts;
}

const nlohmann::json& object_of(const nlohmann::json& value, const std::string& file,
                                const std::string& path, std::initializer_list<const char*> known) {
  if (!value.is_object()) mapping_error(file, path, "expected an object, got " + value.dump());
  if (known.size() == 0) return value;  // Keys are config fields or settings, checked by callers.
  for (const auto& [key, item] : value.items()) {
    if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) ==
        known.end()) {
      mapping_error(file, path + "." + key, "is not a key of a mapping");
    }
  }
  return value;
}

// A constant or a default: a literal of the setting's kind, or (for numbers) an expression.
void check_value(const Setting& setting, const nlohmann::json& value, const std::string& file,
                 const std::string& path) {
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
    mapping_error(file, path,
                  value.dump() + " is not a value of setting '" + std::string(setting.name) +
                      "' (" + setting.describe() + ")");
  }
}

}  // namespace

Architecture parse_architecture(const nlohmann::json& json, const std::string& file) {
  object_of(json, file, "(root)",
            {"model_type", "architectures", "description", "fields", "constants", "ignored",
             "refused", "unsupported"});
  Architecture architecture;
  architecture.file = file;
  for (const char* required : {"model_type", "architectures", "fields", "constants"}) {
    if (!json.contains(required)) mapping_error(file, required, "is required");
  }
  architecture.model_type = text_of(json.at("model_type"), file, "model_type");
  architecture.architectures = texts_of(json.at("architectures"), file, "architectures");
  if (json.contains("description")) text_of(json.at("description"), file, "description");

  std::map<std::string, std::string> set_by;  // setting -> the field or "constants" setting it
  const auto claim = [&](const std::string& setting, const std::string& path) {
    if (!find_setting(setting)) {
      mapping_error(file, path, "unknown setting '" + setting + "' (docs/models.md lists them)");
    }
    if (!set_by.emplace(setting, path).second) {
      mapping_error(file, path, "setting '" + setting + "' is already set by " + set_by[setting]);
    }
  };
  const nlohmann::json& fields = object_of(json.at("fields"), file, "fields", {});
  for (const auto& [field, entry] : fields.items()) {
    const std::string path = "fields." + field;
    MappedField mapped;
    mapped.field = field;
    if (entry.is_object()) {
      object_of(entry, file, path, {"sets", "default", "or"});
      if (!entry.contains("sets")) mapping_error(file, path + ".sets", "is required");
      mapped.settings = texts_of(entry.at("sets"), file, path + ".sets");
      if (entry.contains("or")) mapped.older_field = text_of(entry.at("or"), file, path + ".or");
      if (entry.contains("default")) mapped.fallback = entry.at("default");
    } else {
      mapped.settings = texts_of(entry, file, path);
    }
    for (const std::string& setting : mapped.settings) claim(setting, path);
    const Setting& first = *find_setting(mapped.settings.front());
    for (const std::string& setting : mapped.settings) {
      if (find_setting(setting)->kind != first.kind) {
        mapping_error(file, path, "sets settings of different kinds");
      }
    }
    if (mapped.fallback) check_value(first, *mapped.fallback, file, path + ".default");
    architecture.fields.push_back(std::move(mapped));
  }
  for (const auto& [setting, value] :
       object_of(json.at("constants"), file, "constants", {}).items()) {
    const std::string path = "constants." + setting;
    claim(setting, path);
    check_value(*find_setting(setting), value, file, path);
    architecture.constants[setting] = value;
  }
  if (json.contains("ignored")) {
    architecture.ignored = texts_of(json.at("ignored"), file, "ignored");
  }
  if (json.contains("refused")) {
    for (const auto& [field, entry] : object_of(json.at("refused"), file, "refused", {}).items()) {
      const std::string path = "refused." + field;
      object_of(entry, file, path, {"accepts", "needs"});
      if (!entry.contains("needs")) mapping_error(file, path + ".needs", "is required");
      RefusedField refused{field, std::nullopt, text_of(entry.at("needs"), file, path + ".needs")};
      if (entry.contains("accepts") && !entry.at("accepts").is_null()) {
        refused.accepts = entry.at("accepts");
      }
      architecture.refused.push_back(std::move(refused));
    }
  }
  if (json.contains("unsupported")) {
    architecture.unsupported = text_of(json.at("unsupported"), file, "unsupported");
  }
  for (const Setting& setting : settings()) {
    if (setting.required && set_by.count(std::string(setting.name)) == 0) {
      mapping_error(
          file, "fields",
          "no field or constant sets the required setting '" + std::string(setting.name) + "'");
    }
  }
  return architecture;
}

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> kArchitectures = [] {
    std::vector<Architecture> parsed;
    for (const auto& [stem, text] : embedded_architectures()) {
      const std::string file = "models/architectures/" + stem + ".json";
      Architecture architecture = parse_architecture(nlohmann::json::parse(text), file);
      if (architecture.model_type != stem) {
        mapping_error(file, "model_type",
                      "'" + architecture.model_type + "' differs from the file name");
      }
      parsed.push_back(std::move(architecture));
    }
    return parsed;
  }();
  return kArchitectures;
}

}  // namespace ttt::models_detail

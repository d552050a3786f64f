#include "blocks/common/json_fields.h"

#include <utility>

namespace ttt {

void dtype_to_json(nlohmann::json& json, DType dtype) { json = std::string(dtype_name(dtype)); }

DType dtype_from_json(const nlohmann::json& json) {
  if (!json.is_string()) {
    throw std::invalid_argument("expected a dtype name string, got " + json.dump());
  }
  return parse_dtype(json.get_ref<const std::string&>());
}

JsonFields::JsonFields(const nlohmann::json& json, std::string block)
    : json_(json), block_(std::move(block)) {
  if (!json_.is_object()) {
    throw std::invalid_argument("[" + block_ + "] expected a JSON object, got " + json_.dump());
  }
}

void JsonFields::finish() const {
  for (const auto& [key, value] : json_.items()) {
    if (!seen_.contains(key)) fail(key, "is not a field of " + block_);
  }
}

void JsonFields::fail(std::string_view field, const std::string& message) const {
  throw std::invalid_argument("[" + block_ + "] field '" + std::string(field) + "': " + message);
}

}  // namespace ttt

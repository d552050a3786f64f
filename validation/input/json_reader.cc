#include "validation/input/json_reader.h"

#include <limits>
#include <stdexcept>

#include "validation/input/input_file.h"

namespace ttt {
namespace {

// A value as it appears in a message, shortened when long.
std::string shown(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

}  // namespace

std::string json_child_path(const std::string& path, std::string_view key) {
  std::string escaped;
  for (char c : key) {
    if (c == '~') {
      escaped += "~0";
    } else if (c == '/') {
      escaped += "~1";
    } else {
      escaped += c;
    }
  }
  return path + "/" + escaped;
}

std::string json_child_path(const std::string& path, std::size_t index) {
  return path + "/" + std::to_string(index);
}

std::string JsonNode::error_text(const std::string& message) const {
  const std::string where = path_.empty() ? "/" : path_;
  return source_.empty() ? where + ": " + message : source_ + ": " + where + ": " + message;
}

void JsonNode::fail(const std::string& message) const {
  throw std::invalid_argument(error_text(message));
}

void JsonNode::fail_at(std::string_view key, const std::string& message) const {
  JsonNode(*value_, source_, json_child_path(path_, key)).fail(message);
}

bool JsonNode::has(std::string_view key) const {
  object();
  return value_->contains(key);
}

JsonNode JsonNode::child(const nlohmann::json& value, std::string path) const {
  // A document from parse_json never trips this; one built in-process may.
  if (depth_ + 1 > kMaxJsonDepth) {
    fail("nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  return JsonNode(value, source_, std::move(path), depth_ + 1);
}

JsonNode JsonNode::at(std::string_view key) const {
  object();
  const auto found = value_->find(key);
  if (found == value_->end()) fail("missing field '" + std::string(key) + "'");
  return child(*found, json_child_path(path_, key));
}

std::optional<JsonNode> JsonNode::find(std::string_view key) const {
  object();
  const auto found = value_->find(key);
  if (found == value_->end()) return std::nullopt;
  return child(*found, json_child_path(path_, key));
}

void JsonNode::allow_only(std::initializer_list<std::string_view> allowed) const {
  allow_only(std::span<const std::string_view>(allowed.begin(), allowed.size()));
}

void JsonNode::allow_only(std::span<const std::string_view> allowed) const {
  for (const auto& [key, value] : object().items()) {
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (known) continue;
    std::string list;
    for (std::string_view name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
    JsonNode(value, source_, json_child_path(path_, key))
        .fail("unknown field '" + key + "' (expected one of: " + list + ")");
  }
}

std::size_t JsonNode::size() const {
  if (!value_->is_array()) fail("expected an array, got " + shown(*value_));
  return value_->size();
}

JsonNode JsonNode::at(std::size_t index) const {
  if (index >= size()) fail("index " + std::to_string(index) + " out of range");
  return child((*value_)[index], json_child_path(path_, index));
}

const nlohmann::json& JsonNode::object() const {
  if (!value_->is_object()) fail("expected an object, got " + shown(*value_));
  return *value_;
}

std::string JsonNode::string() const {
  if (!value_->is_string()) fail("expected a string, got " + shown(*value_));
  return value_->get<std::string>();
}

std::int64_t JsonNode::integer() const {
  if (!value_->is_number_integer()) fail("expected an integer, got " + shown(*value_));
  // Above 2^63 - 1 the conversion would wrap to a negative number.
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (value_->is_number_unsigned() &&
      value_->get<std::uint64_t>() > static_cast<std::uint64_t>(kMax)) {
    fail("integer " + shown(*value_) + " is out of range (at most " + std::to_string(kMax) + ")");
  }
  return value_->get<std::int64_t>();
}

double JsonNode::number() const {
  if (!value_->is_number()) fail("expected a number, got " + shown(*value_));
  return value_->get<double>();
}

bool JsonNode::boolean() const {
  if (!value_->is_boolean()) fail("expected a boolean, got " + shown(*value_));
  return value_->get<bool>();
}

std::int64_t JsonNode::integer_at_least(std::int64_t minimum) const {
  const std::int64_t value = integer();
  if (value < minimum) {
    fail("expected an integer >= " + std::to_string(minimum) + ", got " + std::to_string(value));
  }
  return value;
}

std::int64_t JsonNode::integer_in(std::int64_t minimum, std::int64_t maximum) const {
  const std::int64_t value = integer();
  if (value < minimum || value > maximum) {
    fail("expected an integer from " + std::to_string(minimum) + " to " + std::to_string(maximum) +
         ", got " + std::to_string(value));
  }
  return value;
}

}  // namespace ttt

// Reading JSON with errors that name the file and the JSON path of the bad value (internal to
// suites/suite): "suites/llama-3.1-8b.json: /cases/3/spec/num_heads: expected an integer, got
// \"32\"".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace ttt::suite_detail {

// "/cases/3" + "spec" -> "/cases/3/spec" (JSON Pointer escaping of '~' and '/').
std::string child_path(const std::string& path, std::string_view key);
std::string child_path(const std::string& path, std::size_t index);

// A JSON value with where it came from. REQUIRES: `value` outlives the node.
class JsonNode {
 public:
  JsonNode(const nlohmann::json& value, std::string source, std::string path = "")
      : value_(&value), source_(std::move(source)), path_(std::move(path)) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }

  // Throws std::invalid_argument "<source>: <path>: <message>" (the root path prints as "/").
  [[noreturn]] void fail(const std::string& message) const;
  // The message fail() would throw, for callers that add context.
  std::string error_text(const std::string& message) const;

  bool is_object() const { return value_->is_object(); }
  // Object access. at() throws "<path>: missing field 'name'" when absent; find() returns
  // nothing when absent. Both fail when this is not an object.
  bool has(std::string_view key) const;
  JsonNode at(std::string_view key) const;
  std::optional<JsonNode> find(std::string_view key) const;
  // Throws naming the first key that is not in `allowed` ("unknown field 'prest' (expected one
  // of: ...)").
  void allow_only(std::initializer_list<std::string_view> allowed) const;

  // Array access. Fails when this is not an array.
  std::size_t size() const;
  JsonNode at(std::size_t index) const;

  // Typed values; each fails with "expected <type>, got <json>".
  const nlohmann::json& object() const;
  std::string string() const;
  std::int64_t integer() const;
  double number() const;
  bool boolean() const;
  // An integer >= minimum.
  std::int64_t integer_at_least(std::int64_t minimum) const;
  // An integer in [minimum, maximum]: checked before a caller narrows it (to int), so that
  // 2^32 + 9 is an error, not 9.
  std::int64_t integer_in(std::int64_t minimum, std::int64_t maximum) const;

 private:
  const nlohmann::json* value_;
  std::string source_;
  std::string path_;
};

}  // namespace ttt::suite_detail

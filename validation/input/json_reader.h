// The one strict JSON reader: a JSON value with the file it came from and its JSON path, so that
// every error names both, in one format:
//
//   <source>: <JSON Pointer>: <what>
//   suites/llama-3.1-8b.json: /cases/3/spec/num_heads: expected an integer, got "32"
//   policy.json: /latency/alpha: unknown field 'alpah' (expected one of: threshold, alpha, ...)
//
// Typed getters fail on a wrong type instead of converting; allow_only() rejects unknown fields
// (a typo is an error, not a silent default); children extend the path and refuse to nest deeper
// than kMaxJsonDepth, the limit parse_json puts on text (a document built in-process is held to
// it too, so recursive callers stay bounded). docs/design.md "Reading JSON".
//
//   const JsonNode root(read_json_file(path), path);
//   root.allow_only({"name", "cases"});
//   const std::string name = root.at("name").string();
//   if (const auto cases = root.find("cases")) {
//     for (std::size_t i = 0; i < cases->size(); ++i) read_case(cases->at(i));
//   }
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ttt {

// "/cases/3" + "spec" -> "/cases/3/spec" (JSON Pointer escaping of '~' and '/').
std::string json_child_path(const std::string& path, std::string_view key);
std::string json_child_path(const std::string& path, std::size_t index);

// A JSON value with where it came from. Cheap to copy. REQUIRES: `value` outlives the node and
// its children.
class JsonNode {
 public:
  // `source` names the document (a file name; may be empty, then messages start at the path);
  // `path` is the JSON Pointer of `value` in it ("" for the root).
  JsonNode(const nlohmann::json& value, std::string source, std::string path = "")
      : value_(&value), source_(std::move(source)), path_(std::move(path)) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }

  // Throws std::invalid_argument "<source>: <path>: <message>" (the root path prints as "/").
  [[noreturn]] void fail(const std::string& message) const;
  // Fails at the child `key` whether or not it is present: for a field a rule on other fields
  // requires or refuses ("<source>: /rope_scaling/factor: ...").
  [[noreturn]] void fail_at(std::string_view key, const std::string& message) const;
  // The message fail() would throw, for callers that add context.
  std::string error_text(const std::string& message) const;

  bool is_object() const { return value_->is_object(); }
  // Object access. at() fails with "missing field 'name'" when absent; find() returns nothing
  // when absent. Both fail when this is not an object, or when the child would nest deeper than
  // kMaxJsonDepth ("nested deeper than 128 levels").
  bool has(std::string_view key) const;
  JsonNode at(std::string_view key) const;
  std::optional<JsonNode> find(std::string_view key) const;
  // Fails at the first key that is not in `allowed`, naming it and the allowed ones:
  // "<source>: /cases/0/prest: unknown field 'prest' (expected one of: name, preset)".
  void allow_only(std::initializer_list<std::string_view> allowed) const;
  void allow_only(std::span<const std::string_view> allowed) const;

  // Array access. Fails when this is not an array (or for an index out of range).
  std::size_t size() const;
  JsonNode at(std::size_t index) const;

  // Typed values; each fails with "expected <type>, got <json>" (long values shortened).
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
  JsonNode(const nlohmann::json& value, std::string source, std::string path, int depth)
      : value_(&value), source_(std::move(source)), path_(std::move(path)), depth_(depth) {}
  JsonNode child(const nlohmann::json& value, std::string path) const;

  const nlohmann::json* value_;
  std::string source_;
  std::string path_;
  int depth_ = 0;  // Containers above this value; children beyond kMaxJsonDepth are refused.
};

}  // namespace ttt

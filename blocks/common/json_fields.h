// The JSON form of a block's Spec or ImplConfig, listed once: a table of fields serves both
// directions, so that what a block writes and what it reads cannot drift apart.
//
//   constexpr auto kSpecFields = std::tuple{json_required("dim", &RmsNormSpec::dim),
//                                           json_optional("eps", &RmsNormSpec::eps)};
//   TTT_DEFINE_JSON_FIELDS(RmsNormSpec, "rms_norm spec", kSpecFields)
//
// defines to_json (write_json_fields: every field, always), read_json(const JsonNode&, ...) and
// from_json (read_json_fields: strict, unknown fields and wrong types refused).
//
// Reading goes through the one strict JSON reader (validation/input/json_reader.h), so every error
// names the document and the JSON path: "suites/x.json: /cases/3/spec/dim: expected an integer,
// got \"8\"", or, for nlohmann's from_json/get<> which carry no file, a source naming the struct:
// "rms_norm spec: /dim: ...". docs/design.md "Reading JSON".
//
// Field types: bool, integers (range-checked before narrowing), floating point, std::string,
// DType (by name), enums with nlohmann to_json/from_json, enums written by name (json_named),
// std::vector, std::optional (absent when empty; null reads as empty) and nested structs that
// have a read_json(const JsonNode&, T&) overload (read into a default T: the fields they leave out
// take T's defaults, not the enclosing value's).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "validation/input/json_reader.h"
#include "validation/tensor/dtype.h"

namespace ttt {

// DType as its canonical name (read_value accepts the aliases parse_dtype() accepts).
void dtype_to_json(nlohmann::json& json, DType dtype);

// One field of struct S: its JSON name, its member, and whether reading requires it (an optional
// field left out keeps the value the struct already holds, its default).
template <typename S, typename T>
struct JsonField {
  std::string_view name;
  T S::*member;
  bool required;
};

// An enum field written as a name: name_of(value) writes, parse(name) reads (throwing
// std::invalid_argument for an unknown name).
template <typename S, typename E>
struct JsonNamedField {
  std::string_view name;
  E S::*member;
  std::string_view (*name_of)(E);
  E (*parse)(std::string_view);
  bool required = false;
};

template <typename S, typename T>
constexpr JsonField<S, T> json_required(std::string_view name, T S::*member) {
  return {name, member, true};
}
template <typename S, typename T>
constexpr JsonField<S, T> json_optional(std::string_view name, T S::*member) {
  return {name, member, false};
}
template <typename S, typename E>
constexpr JsonNamedField<S, E> json_named(std::string_view name, E S::*member,
                                          std::string_view (*name_of)(E),
                                          E (*parse)(std::string_view)) {
  return {name, member, name_of, parse};
}

namespace json_fields_detail {

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};

// Reads `node` into `value`, strictly; fails through node.fail() (source and path).
template <typename T>
void read_value(const JsonNode& node, T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    value = node.boolean();
  } else if constexpr (std::is_integral_v<T>) {
    // Checked before narrowing: 2^32 + 1 in an int field is an error, not 1.
    value = static_cast<T>(node.integer_in(
        static_cast<std::int64_t>(std::numeric_limits<T>::min()),
        static_cast<std::int64_t>(std::min<std::uint64_t>(
            std::numeric_limits<T>::max(), std::numeric_limits<std::int64_t>::max()))));
  } else if constexpr (std::is_floating_point_v<T>) {
    value = static_cast<T>(node.number());
  } else if constexpr (std::is_same_v<T, std::string>) {
    value = node.string();
  } else if constexpr (std::is_same_v<T, DType>) {
    const std::string name = node.string();
    try {
      value = parse_dtype(name);
    } catch (const std::invalid_argument& error) {
      node.fail(error.what());
    }
  } else if constexpr (IsOptional<T>::value) {
    if (node.json().is_null()) {
      value.reset();
    } else {
      typename T::value_type read{};
      read_value(node, read);
      value = std::move(read);
    }
  } else if constexpr (IsVector<T>::value) {
    T read(node.size());
    for (std::size_t i = 0; i < read.size(); ++i) read_value(node.at(i), read[i]);
    value = std::move(read);
  } else if constexpr (requires { read_json(node, value); }) {
    T read{};
    read_json(node, read);
    value = std::move(read);
  } else {
    // An enum with nlohmann from_json (Activation, MathFidelity, ...): its message, our path.
    try {
      value = node.json().template get<T>();
    } catch (const std::exception& error) {
      node.fail(error.what());
    }
  }
}

template <typename T>
void write_value(nlohmann::json& json, const T& value) {
  if constexpr (std::is_same_v<T, DType>) {
    dtype_to_json(json, value);
  } else {
    json = value;
  }
}

template <typename S, typename T>
void write_field(nlohmann::json& json, const S& value, const JsonField<S, T>& field) {
  const T& member = value.*field.member;
  if constexpr (IsOptional<T>::value) {
    if (member.has_value()) write_value(json[std::string(field.name)], *member);
  } else {
    write_value(json[std::string(field.name)], member);
  }
}

template <typename S, typename E>
void write_field(nlohmann::json& json, const S& value, const JsonNamedField<S, E>& field) {
  json[std::string(field.name)] = std::string(field.name_of(value.*field.member));
}

template <typename S, typename T>
void read_field(const JsonNode& node, S& value, const JsonField<S, T>& field) {
  if (field.required) {
    read_value(node.at(field.name), value.*field.member);
  } else if (const auto item = node.find(field.name)) {
    read_value(*item, value.*field.member);
  }
}

template <typename S, typename E>
void read_field(const JsonNode& node, S& value, const JsonNamedField<S, E>& field) {
  const auto item =
      field.required ? std::optional<JsonNode>(node.at(field.name)) : node.find(field.name);
  if (!item) return;
  const std::string name = item->string();
  try {
    value.*field.member = field.parse(name);
  } catch (const std::invalid_argument& error) {
    item->fail(error.what());
  }
}

}  // namespace json_fields_detail

// Writes every field of `value` (an empty std::optional is left out) as a JSON object.
template <typename S, typename... Fields>
void write_json_fields(nlohmann::json& json, const S& value, const std::tuple<Fields...>& fields) {
  json = nlohmann::json::object();
  std::apply(
      [&](const auto&... field) { (json_fields_detail::write_field(json, value, field), ...); },
      fields);
}

// Reads the fields of `value` from the object `node`: fails on a key that is not a field
// ("unknown field 'eps_' (expected one of: dim, eps, ...)"), on a missing required field and on a
// value of the wrong type or out of range, each at its JSON path. Fields left out keep their
// values.
template <typename S, typename... Fields>
void read_json_fields(const JsonNode& node, S& value, const std::tuple<Fields...>& fields) {
  const auto names = std::apply(
      [](const auto&... field) {
        return std::array<std::string_view, sizeof...(Fields)>{field.name...};
      },
      fields);
  node.allow_only(names);
  std::apply(
      [&](const auto&... field) { (json_fields_detail::read_field(node, value, field), ...); },
      fields);
}

}  // namespace ttt

// Defines to_json, from_json and read_json of `Type` from its field table `fields`, as
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE defines them from a member list: one line per struct in its
// .cc, beside the table. from_json (nlohmann's get<>) reads with `source` ("rms_norm spec") naming
// the document.
#define TTT_DEFINE_JSON_FIELDS(Type, source, fields)         \
  void to_json(nlohmann::json& json, const Type& value) {    \
    ::ttt::write_json_fields(json, value, fields);           \
  }                                                          \
  void from_json(const nlohmann::json& json, Type& value) {  \
    read_json(::ttt::JsonNode(json, source), value);         \
  }                                                          \
  void read_json(const ::ttt::JsonNode& node, Type& value) { \
    ::ttt::read_json_fields(node, value, fields);            \
  }

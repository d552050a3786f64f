// Reading a block's Spec or ImplConfig from JSON with errors that name the block and the field.
//
//   JsonFields fields(json, "mlp");
//   fields.required("hidden_dim", spec.hidden_dim);
//   fields.optional("activation", spec.activation);
//   fields.finish();  // Rejects unknown fields: a typo is an error, not a silent default.
//
// Every failure throws std::invalid_argument: "[mlp] field 'activation': unknown activation
// 'gelu_fast' (expected one of ...)".
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "validation/tensor/dtype.h"

namespace ttt {

// DType as its canonical name; from_json accepts the aliases parse_dtype() accepts.
void dtype_to_json(nlohmann::json& json, DType dtype);
DType dtype_from_json(const nlohmann::json& json);

class JsonFields {
 public:
  // REQUIRES: `json` outlives this reader. Throws when `json` is not an object.
  JsonFields(const nlohmann::json& json, std::string block);

  // Reads `field` into `value`; throws when absent or invalid.
  template <typename T>
  void required(std::string_view field, T& value) {
    if (!json_.contains(field)) fail(field, "is required");
    read(field, value);
  }

  // Reads `field` into `value` when present; otherwise leaves `value` (its default) alone.
  template <typename T>
  void optional(std::string_view field, T& value) {
    if (json_.contains(field)) read(field, value);
  }

  // Throws naming the first field of the object that was never read.
  void finish() const;

  // Throws std::invalid_argument "[block] field 'name': message".
  [[noreturn]] void fail(std::string_view field, const std::string& message) const;

 private:
  template <typename T>
  void read(std::string_view field, T& value) {
    seen_.insert(std::string(field));
    const nlohmann::json& item = json_.at(field);
    try {
      if constexpr (std::is_same_v<T, DType>) {
        value = dtype_from_json(item);
      } else if constexpr (std::is_same_v<T, bool>) {
        if (!item.is_boolean())
          throw std::invalid_argument("expected a boolean, got " + item.dump());
        value = item.get<bool>();
      } else if constexpr (std::is_integral_v<T>) {
        if (!item.is_number_integer()) {
          throw std::invalid_argument("expected an integer, got " + item.dump());
        }
        // Checked before narrowing: 2^32 + 1 in an int field is an error, not 1.
        const bool fits = item.is_number_unsigned()
                              ? item.get<std::uint64_t>() <=
                                    static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                              : std::in_range<T>(item.get<std::int64_t>());
        if (!fits) throw std::invalid_argument("integer " + item.dump() + " is out of range");
        value = item.get<T>();
      } else if constexpr (std::is_floating_point_v<T>) {
        if (!item.is_number()) throw std::invalid_argument("expected a number, got " + item.dump());
        value = item.get<T>();
      } else {
        value = item.get<T>();
      }
    } catch (const std::exception& error) {
      fail(field, error.what());
    }
  }

  const nlohmann::json& json_;
  std::string block_;
  std::set<std::string> seen_;
};

}  // namespace ttt

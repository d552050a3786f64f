#include "validation/tensor/dtype.h"

#include <array>
#include <stdexcept>
#include <utility>

namespace ttt {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "float32";
    case DType::float16:
      return "float16";
    case DType::bfloat16:
      return "bfloat16";
    case DType::bfloat8_b:
      return "bfloat8_b";
    case DType::bfloat4_b:
      return "bfloat4_b";
    case DType::int32:
      return "int32";
    case DType::int64:
      return "int64";
    case DType::float64:
      return "float64";
  }
  throw std::invalid_argument("[dtype_name] invalid DType value " +
                              std::to_string(static_cast<int>(dtype)));
}

DType parse_dtype(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, DType>, 23> kNames{{
      {"float32", DType::float32},   {"f32", DType::float32},      {"fp32", DType::float32},
      {"float16", DType::float16},   {"f16", DType::float16},      {"fp16", DType::float16},
      {"bfloat16", DType::bfloat16}, {"bf16", DType::bfloat16},    {"bfloat8_b", DType::bfloat8_b},
      {"bfp8", DType::bfloat8_b},    {"bfp8_b", DType::bfloat8_b}, {"bfloat4_b", DType::bfloat4_b},
      {"bfp4", DType::bfloat4_b},    {"bfp4_b", DType::bfloat4_b}, {"int32", DType::int32},
      {"i32", DType::int32},         {"int64", DType::int64},      {"i64", DType::int64},
      {"float", DType::float32},     {"float64", DType::float64},  {"f64", DType::float64},
      {"fp64", DType::float64},      {"double", DType::float64},
  }};
  for (const auto& [text, dtype] : kNames) {
    if (text == name) return dtype;
  }
  throw std::invalid_argument("[parse_dtype] unknown dtype '" + std::string(name) +
                              "' (expected one of float32, float16, bfloat16, bfloat8_b, "
                              "bfloat4_b, int32, int64, float64)");
}

bool is_floating(DType dtype) { return dtype != DType::int32 && dtype != DType::int64; }

bool is_block_float(DType dtype) { return dtype == DType::bfloat8_b || dtype == DType::bfloat4_b; }

bool is_held_as_float32(DType dtype) { return is_floating(dtype) && dtype != DType::float64; }

std::size_t element_size(DType dtype) {
  return dtype == DType::int64 || dtype == DType::float64 ? 8 : 4;
}

double device_bits_per_element(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return 32.0;
    case DType::float16:
      return 16.0;
    case DType::bfloat16:
      return 16.0;
    case DType::bfloat8_b:
      return 8.0 + 8.0 / 16.0;
    case DType::bfloat4_b:
      return 4.0 + 8.0 / 16.0;
    case DType::int32:
      return 32.0;
    case DType::int64:
    case DType::float64:
      return 64.0;
  }
  return 0.0;
}

}  // namespace ttt

// Data types a tensor can hold: the host formats and the device's storage formats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ttt {

// Logical data type of a tensor. The device's floating formats are held in memory as float32
// values that are exactly representable in the format (see formats.h); float64 (host data and
// float64 references) and integers are held natively.
enum class DType : std::uint8_t {
  float32,
  float16,    // IEEE 754 binary16, with subnormals.
  bfloat16,   // The high 16 bits of a float32.
  bfloat8_b,  // Tenstorrent block float: 16 values share an 8-bit exponent, 7-bit mantissas.
  bfloat4_b,  // Tenstorrent block float: 16 values share an 8-bit exponent, 3-bit mantissas.
  int32,
  int64,
  float64,  // IEEE 754 binary64: host data and references, never rounded to float32.
};

// The canonical name, e.g. "bfloat8_b" (the trace format's `ttt_dtype` attribute).
std::string_view dtype_name(DType dtype);

// Parses a canonical name. Also accepts the short aliases "f32", "fp32", "f16", "fp16", "bf16",
// "bfp8", "bfp8_b", "bfp4", "bfp4_b", "i32", "i64", "f64", "fp64", "double". Throws
// std::invalid_argument naming the text.
DType parse_dtype(std::string_view name);

// True for float32, float16, bfloat16, bfloat8_b, bfloat4_b and float64.
bool is_floating(DType dtype);

// True for the block floating point formats bfloat8_b and bfloat4_b.
bool is_block_float(DType dtype);

// True for the dtypes held in memory as float32 values: every floating dtype but float64.
bool is_held_as_float32(DType dtype);

// Bytes per element of the in-memory representation (4 for the float32-held formats, 8 for
// float64, 4 or 8 for ints).
std::size_t element_size(DType dtype);

// Bits per element the device stores (32, 16, 16, 8.5, 4.5 (exponent amortised), 32, 64, 64).
double device_bits_per_element(DType dtype);

}  // namespace ttt

// Data types a tensor can hold: the host formats and the device's storage formats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ttt {

// Logical data type of a tensor. Floating formats are held in memory as float32 values that are
// exactly representable in the format (see formats.h); integers are held natively.
enum class DType : std::uint8_t {
  float32,
  float16,    // IEEE 754 binary16, with subnormals.
  bfloat16,   // The high 16 bits of a float32.
  bfloat8_b,  // Tenstorrent block float: 16 values share an 8-bit exponent, 7-bit mantissas.
  bfloat4_b,  // Tenstorrent block float: 16 values share an 8-bit exponent, 3-bit mantissas.
  int32,
  int64,
};

// The canonical name, e.g. "bfloat8_b" (the trace format's `ttt_dtype` attribute).
std::string_view dtype_name(DType dtype);

// Parses a canonical name. Also accepts the short aliases "f32", "fp32", "f16", "fp16", "bf16",
// "bfp8", "bfp8_b", "bfp4", "bfp4_b", "i32", "i64". Throws std::invalid_argument naming the text.
DType parse_dtype(std::string_view name);

// True for float32, float16, bfloat16, bfloat8_b and bfloat4_b.
bool is_floating(DType dtype);

// True for the block floating point formats bfloat8_b and bfloat4_b.
bool is_block_float(DType dtype);

// Bytes per element of the in-memory representation (4 for floating formats, 4 or 8 for ints).
std::size_t element_size(DType dtype);

// Bits per element the device stores (32, 16, 16, 8.5, 4.5 (exponent amortised), 32, 64).
double device_bits_per_element(DType dtype);

}  // namespace ttt

// Exact conversions between float32 and the device's numeric formats.
//
// Every float16, bfloat16, bfloat8_b and bfloat4_b value is exactly a float32, so a tensor "lives
// on the device" by being quantized (rounded to the format) and then held as float32. The packed
// representations below are what a device actually stores. docs/formats.md defines every corner.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "validation/tensor/dtype.h"

namespace ttt {

// float32 -> bfloat16 bits: round to nearest, ties to even. NaN stays NaN (quiet, sign kept),
// Inf stays Inf, overflow past the largest finite bfloat16 rounds to Inf.
std::uint16_t float_to_bfloat16_bits(float value);
float bfloat16_bits_to_float(std::uint16_t bits);

// float32 -> IEEE binary16 bits: round to nearest, ties to even, subnormals per IEEE 754,
// overflow to Inf, NaN stays NaN (quiet, sign kept).
std::uint16_t float_to_float16_bits(float value);
float float16_bits_to_float(std::uint16_t bits);

// Round-trips through the 16-bit format: the nearest representable value as a float32.
float round_to_bfloat16(float value);
float round_to_float16(float value);

// Number of values sharing one exponent in bfloat8_b / bfloat4_b.
inline constexpr int kBlockSize = 16;

// Mantissa bits (without sign, no implicit leading one) kept per value: 7 (bfloat8_b), 3
// (bfloat4_b). REQUIRES: is_block_float(dtype); otherwise throws std::invalid_argument.
int block_mantissa_bits(DType dtype);

// Quantizes `values` in place to `dtype` (any floating dtype; float32 is a no-op). For block
// formats the values are taken as rows of `row_length` elements (the tensor's last dimension); each
// row is split into blocks of 16 consecutive values, the last block of a row padded with zeros.
// REQUIRES: row_length > 0 and values.size() is a multiple of row_length (block formats only).
// Throws std::invalid_argument naming [quantize_in_place] when that does not hold or for an
// integer dtype.
void quantize_in_place(std::span<float> values, std::int64_t row_length, DType dtype);

// What a device stores for a block-float tensor: per block one shared exponent byte, and per value
// one byte (bfloat8_b: sign in bit 7, 7-bit mantissa) or one nibble (bfloat4_b: sign in bit 3,
// 3-bit mantissa; two values per byte, the first in the low nibble).
struct PackedBlockFloat {
  DType dtype = DType::bfloat8_b;
  std::int64_t rows = 0;                // Number of rows (product of all but the last dimension).
  std::int64_t row_length = 0;          // Last dimension; padded up to a multiple of 16 in storage.
  std::vector<std::uint8_t> exponents;  // One per block, row-major, ceil(row_length / 16) per row.
  std::vector<std::uint8_t> mantissas;  // Sign-magnitude codes, padded values are zero.

  // Bytes a device would hold: exponents plus mantissa bytes.
  std::size_t storage_bytes() const { return exponents.size() + mantissas.size(); }
};

// Packs float32 values (rows of `row_length`) into block floating point. Values need not be
// quantized first; packing rounds exactly as quantize_in_place does, so
// unpack_block_float(pack_block_float(v)) equals v after quantize_in_place, bit for bit.
// Throws std::invalid_argument naming [pack_block_float] unless `dtype` is bfloat8_b or bfloat4_b,
// row_length > 0 and values.size() is a multiple of row_length.
PackedBlockFloat pack_block_float(std::span<const float> values, std::int64_t row_length,
                                  DType dtype);

// Unpacks to float32 values (rows * row_length of them, padding dropped). Any byte values are
// accepted (docs/formats.md says what each code means). Throws std::invalid_argument naming
// [unpack_block_float] when the dtype is not a block format or the vector sizes do not match
// rows and row_length.
std::vector<float> unpack_block_float(const PackedBlockFloat& packed);

}  // namespace ttt

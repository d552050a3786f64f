// Conversions between float32 and the device formats, done on raw bits so that every rounding is
// exact and independent of the host's floating-point environment. docs/formats.md is the
// specification; tests/validation/tensor/formats_test.cc checks it against independent references.
#include "validation/tensor/formats.h"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

namespace ttt {

namespace {

constexpr std::uint32_t kSignMask = 0x80000000u;
constexpr std::uint32_t kAbsMask = 0x7fffffffu;
constexpr std::uint32_t kFloatInfBits = 0x7f800000u;
constexpr std::uint32_t kFloatQuietBit = 0x00400000u;
constexpr std::uint32_t kFloatMantissaMask = 0x007fffffu;
constexpr std::uint32_t kFloatHiddenBit = 0x00800000u;

std::uint32_t bits_of(float value) { return std::bit_cast<std::uint32_t>(value); }
float float_of(std::uint32_t bits) { return std::bit_cast<float>(bits); }

// `value >> shift` rounded to nearest, ties to even. REQUIRES: 1 <= shift <= 31 and
// value < 2^31, so the addition cannot overflow.
inline std::uint32_t shift_right_round_even(std::uint32_t value, std::uint32_t shift) {
  const std::uint32_t half_minus_one = (1u << (shift - 1)) - 1u;
  const std::uint32_t lowest_kept_bit = (value >> shift) & 1u;
  return (value + half_minus_one + lowest_kept_bit) >> shift;
}

// The conversions live here, with internal linkage, so that the quantize loops can inline them
// (exported functions may be interposed in a shared library and are then never inlined).

std::uint16_t to_bfloat16_bits(float value) {
  const std::uint32_t bits = bits_of(value);
  // Rounding carries into the exponent naturally, and past the largest finite value into Inf.
  const std::uint32_t lowest_kept_bit = (bits >> 16) & 1u;
  const std::uint32_t rounded = bits + 0x7fffu + lowest_kept_bit;
  // NaN keeps its sign and top payload bits and gets the quiet bit, so that the payload can never
  // collapse to the Inf pattern. A select rather than a branch keeps quantize loops vectorizable.
  const bool is_nan = (bits & kAbsMask) > kFloatInfBits;
  return static_cast<std::uint16_t>((is_nan ? bits | kFloatQuietBit : rounded) >> 16);
}

float from_bfloat16_bits(std::uint16_t bits) {
  return float_of(static_cast<std::uint32_t>(bits) << 16);
}

std::uint16_t to_float16_bits(float value) {
  const std::uint32_t bits = bits_of(value);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const std::uint32_t abs = bits & kAbsMask;
  std::uint32_t magnitude = 0;
  if (abs > kFloatInfBits) {
    // NaN: quiet, sign and the top 9 payload bits kept.
    magnitude = 0x7e00u | ((abs >> 13) & 0x01ffu);
  } else if (abs >= 0x477ff000u) {
    // 65520 = 65504 + half an ulp ties to the even neighbour 65536, which is Inf; Inf stays Inf.
    magnitude = 0x7c00u;
  } else if (abs >= 0x38800000u) {
    // Normal in binary16 (>= 2^-14): rebias the exponent from 127 to 15, round away 13 bits.
    magnitude = shift_right_round_even(abs - (112u << 23), 13);
  } else {
    // Subnormal in binary16: the result counts units of 2^-24. A float32 with biased exponent e
    // and significand s (24 bits) is s * 2^(e - 150), i.e. s >> (126 - e) units. Values below
    // 2^-25 (shift > 24) and float32 subnormals round to zero.
    const std::uint32_t exponent = abs >> 23;
    if (exponent >= 102) {
      const std::uint32_t significand = (abs & kFloatMantissaMask) | kFloatHiddenBit;
      magnitude = shift_right_round_even(significand, 126 - exponent);
    }
  }
  return static_cast<std::uint16_t>(sign | magnitude);
}

float from_float16_bits(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1fu;
  const std::uint32_t mantissa = half & 0x03ffu;
  if (exponent == 0x1fu) return float_of(sign | kFloatInfBits | (mantissa << 13));
  if (exponent != 0) return float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in float32.
  const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
  return float_of(sign | bits_of(magnitude));
}

}  // namespace

std::uint16_t float_to_bfloat16_bits(float value) { return to_bfloat16_bits(value); }
float bfloat16_bits_to_float(std::uint16_t bits) { return from_bfloat16_bits(bits); }
std::uint16_t float_to_float16_bits(float value) { return to_float16_bits(value); }
float float16_bits_to_float(std::uint16_t bits) { return from_float16_bits(bits); }
float round_to_bfloat16(float value) { return from_bfloat16_bits(to_bfloat16_bits(value)); }
float round_to_float16(float value) { return from_float16_bits(to_float16_bits(value)); }

int block_mantissa_bits(DType dtype) {
  switch (dtype) {
    case DType::bfloat8_b:
      return 7;
    case DType::bfloat4_b:
      return 3;
    default:
      throw std::invalid_argument("[block_mantissa_bits] " + std::string(dtype_name(dtype)) +
                                  " is not a block floating point dtype");
  }
}

namespace {

// Block floating point with M = kMantissaBits bits of mantissa per value and a shared exponent
// byte E, the largest float32 exponent field in the block. A code holds a sign bit above an
// unsigned mantissa q and stands for (-1)^sign * q * 2^(E - 126 - M): q has no implicit leading
// one, and q = 2^(M - 1) is exactly 2^(E - 127). With E = 255 the codes with q >= 2^(M - 1) are
// Inf (q equal to it) and NaN (above it). Like tt-metal, float32 subnormal inputs count as zero and
// values below 2^-126 read as zero, so a block float value is always zero or a normal float32.
template <int kMantissaBits>
struct BlockCodec {
  static constexpr std::uint32_t kMaxMantissa = (1u << kMantissaBits) - 1u;
  static constexpr std::uint32_t kInfMantissa = 1u << (kMantissaBits - 1);
  static constexpr std::uint32_t kNanMantissa = kInfMantissa | (kInfMantissa >> 1);
  static constexpr std::uint32_t kSignBit = 1u << kMantissaBits;

  // The largest exponent field. Zero padding (exponent field 0) never raises it.
  static std::uint32_t shared_exponent(const float* values, std::size_t count) {
    std::uint32_t largest = 0;
    for (std::size_t i = 0; i < count; ++i) {
      largest = std::max(largest, (bits_of(values[i]) >> 23) & 0xffu);
    }
    return largest;
  }

  // What to add to the bits of float(q) to multiply it by one unit, 2^(E - 126 - M): the unit's
  // exponent moved into the exponent field (modulo 2^32, the offset is usually negative). Scaling
  // by integer addition keeps the result exact and independent of denormals-are-zero modes.
  // REQUIRES of the result: q > 0 and q * 2^(E - 126 - M) is a normal float32.
  static std::uint32_t exponent_offset(std::uint32_t shared) {
    return static_cast<std::uint32_t>(static_cast<int>(shared) - 126 - kMantissaBits) << 23;
  }

  // The bits of q * 2^(E - 126 - M) for q > 0, given exponent_offset(E).
  static std::uint32_t scaled_bits(std::uint32_t mantissa, std::uint32_t offset) {
    return bits_of(static_cast<float>(mantissa)) + offset;
  }

  // The smallest mantissa whose value q * 2^(E - 126 - M) is not below 2^-126: 2^(M - E) for the
  // tiny exponents E < M. Encoding never produces a smaller nonzero mantissa (a normal input is at
  // least 2^-126, and rounding cannot go below a power of two it exceeds), so only decoding of
  // foreign codes needs it.
  static std::uint32_t smallest_mantissa(std::uint32_t shared) {
    return shared < kMantissaBits ? 1u << (kMantissaBits - shared) : 0u;
  }

  // The unsigned mantissa of a finite value's magnitude: rounded to nearest, ties to even, clamped
  // to the largest mantissa (the block's largest value may round up past it), and zero for a
  // float32 subnormal input.
  static std::uint32_t finite_mantissa(std::uint32_t bits, std::uint32_t shared) {
    const std::uint32_t exponent = (bits >> 23) & 0xffu;
    const std::uint32_t significand =
        exponent != 0 ? (bits & kFloatMantissaMask) | kFloatHiddenBit : 0u;
    // A normal float32 is significand * 2^(e - 150) and a unit is 2^(E - 126 - M), so the mantissa
    // is significand >> (E - e + 24 - M): a shift of at least 24 - M since e <= E. Shifts of 25 or
    // more give zero; 31 keeps the rounding arithmetic in range. max(e, 1) keeps the unsigned
    // subtraction meaningful for zero and subnormals, whose significand is zero anyway.
    const std::uint32_t shift =
        std::min<std::uint32_t>(shared - std::max<std::uint32_t>(exponent, 1u) + 24u -
                                    static_cast<std::uint32_t>(kMantissaBits),
                                31u);
    return std::min(shift_right_round_even(significand, shift), kMaxMantissa);
  }

  // The code of one value in a block with shared exponent `shared`.
  static std::uint8_t encode(float value, std::uint32_t shared) {
    const std::uint32_t bits = bits_of(value);
    const std::uint32_t abs = bits & kAbsMask;
    std::uint32_t mantissa = 0;
    if (abs > kFloatInfBits) {
      mantissa = kNanMantissa;
    } else if (abs == kFloatInfBits) {
      mantissa = kInfMantissa;
    } else {
      mantissa = finite_mantissa(bits, shared);
    }
    // Zero is always stored with a clear sign bit, as tt-metal's packer does.
    const std::uint32_t sign = mantissa != 0 ? (bits >> (31 - kMantissaBits)) & kSignBit : 0u;
    return static_cast<std::uint8_t>(sign | mantissa);
  }

  // The float32 a code stands for.
  static float decode(std::uint8_t code, std::uint32_t shared) {
    const std::uint32_t mantissa = code & kMaxMantissa;
    const std::uint32_t sign =
        (static_cast<std::uint32_t>(code) << (31 - kMantissaBits)) & kSignMask;
    if (shared == 0xffu && mantissa >= kInfMantissa) {
      return float_of(sign | kFloatInfBits | (mantissa > kInfMantissa ? kFloatQuietBit : 0u));
    }
    if (mantissa == 0 || mantissa < smallest_mantissa(shared)) return 0.0f;
    return float_of(sign | scaled_bits(mantissa, exponent_offset(shared)));
  }

  // Quantizes one block in place: decode(encode(v)) for every value, without the codes.
  static void quantize_block(float* values, std::size_t count) {
    const std::uint32_t shared = shared_exponent(values, count);
    if (shared == 0xffu) {
      // A block holding Inf or NaN: rare, so it takes the general path.
      for (std::size_t i = 0; i < count; ++i) values[i] = decode(encode(values[i], shared), shared);
      return;
    }
    // Encoded finite values are zero or normal floats (see smallest_mantissa), so scaled_bits
    // applies to every nonzero mantissa. Masks rather than branches: zeros are common.
    const std::uint32_t offset = exponent_offset(shared);
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint32_t bits = bits_of(values[i]);
      const std::uint32_t mantissa = finite_mantissa(bits, shared);
      const std::uint32_t nonzero = 0u - static_cast<std::uint32_t>(mantissa != 0);
      values[i] = float_of(((bits & kSignMask) | scaled_bits(mantissa, offset)) & nonzero);
    }
  }
};

void check_rows(std::size_t size, std::int64_t row_length, const char* operation) {
  if (row_length <= 0) {
    throw std::invalid_argument(std::string("[") + operation + "] row_length " +
                                std::to_string(row_length) + " must be positive");
  }
  if (size % static_cast<std::size_t>(row_length) != 0) {
    throw std::invalid_argument(std::string("[") + operation + "] " + std::to_string(size) +
                                " values are not a whole number of rows of " +
                                std::to_string(row_length));
  }
}

void check_block_dtype(DType dtype, const char* operation) {
  if (!is_block_float(dtype)) {
    throw std::invalid_argument(std::string("[") + operation + "] " +
                                std::string(dtype_name(dtype)) +
                                " is not a block floating point dtype (bfloat8_b or bfloat4_b)");
  }
}

// Calls block(start, count) for every block of every row, in row-major order.
template <typename BlockFunction>
void for_each_block(std::size_t size, std::int64_t row_length, BlockFunction&& block) {
  const auto length = static_cast<std::size_t>(row_length);
  for (std::size_t row_start = 0; row_start < size; row_start += length) {
    for (std::size_t offset = 0; offset < length; offset += kBlockSize) {
      block(row_start + offset, std::min<std::size_t>(kBlockSize, length - offset));
    }
  }
}

template <int kMantissaBits>
void quantize_blocks(std::span<float> values, std::int64_t row_length) {
  for_each_block(values.size(), row_length, [&](std::size_t start, std::size_t count) {
    BlockCodec<kMantissaBits>::quantize_block(values.data() + start, count);
  });
}

std::size_t blocks_per_row(std::int64_t row_length) {
  return (static_cast<std::size_t>(row_length) + kBlockSize - 1) / kBlockSize;
}

template <int kMantissaBits>
void pack_blocks(std::span<const float> values, PackedBlockFloat& packed) {
  using Codec = BlockCodec<kMantissaBits>;
  std::size_t block_index = 0;
  for_each_block(values.size(), packed.row_length, [&](std::size_t start, std::size_t count) {
    const float* block = values.data() + start;
    const std::uint32_t shared = Codec::shared_exponent(block, count);
    packed.exponents[block_index] = static_cast<std::uint8_t>(shared);
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint8_t code = Codec::encode(block[i], shared);
      const std::size_t slot = block_index * kBlockSize + i;
      if constexpr (kMantissaBits == 7) {
        packed.mantissas[slot] = code;
      } else {
        packed.mantissas[slot / 2] |= static_cast<std::uint8_t>(code << (4 * (slot % 2)));
      }
    }
    ++block_index;
  });
}

template <int kMantissaBits>
void unpack_blocks(const PackedBlockFloat& packed, std::vector<float>& values) {
  using Codec = BlockCodec<kMantissaBits>;
  std::size_t block_index = 0;
  for_each_block(values.size(), packed.row_length, [&](std::size_t start, std::size_t count) {
    const std::uint32_t shared = packed.exponents[block_index];
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t slot = block_index * kBlockSize + i;
      std::uint8_t code = 0;
      if constexpr (kMantissaBits == 7) {
        code = packed.mantissas[slot];
      } else {
        code = static_cast<std::uint8_t>((packed.mantissas[slot / 2] >> (4 * (slot % 2))) & 0xfu);
      }
      values[start + i] = Codec::decode(code, shared);
    }
    ++block_index;
  });
}

}  // namespace

void quantize_in_place(std::span<float> values, std::int64_t row_length, DType dtype) {
  switch (dtype) {
    case DType::float32:
      return;
    case DType::float16:
      for (float& value : values) value = from_float16_bits(to_float16_bits(value));
      return;
    case DType::bfloat16:
      for (float& value : values) value = from_bfloat16_bits(to_bfloat16_bits(value));
      return;
    case DType::bfloat8_b:
      check_rows(values.size(), row_length, "quantize_in_place");
      quantize_blocks<7>(values, row_length);
      return;
    case DType::bfloat4_b:
      check_rows(values.size(), row_length, "quantize_in_place");
      quantize_blocks<3>(values, row_length);
      return;
    case DType::float64:
      throw std::invalid_argument(
          "[quantize_in_place] float64 values are held as double, not as float32");
    case DType::int32:
    case DType::int64:
      break;
  }
  throw std::invalid_argument("[quantize_in_place] " + std::string(dtype_name(dtype)) +
                              " is not a floating dtype");
}

PackedBlockFloat pack_block_float(std::span<const float> values, std::int64_t row_length,
                                  DType dtype) {
  check_block_dtype(dtype, "pack_block_float");
  const int mantissa_bits = block_mantissa_bits(dtype);
  check_rows(values.size(), row_length, "pack_block_float");
  PackedBlockFloat packed;
  packed.dtype = dtype;
  packed.row_length = row_length;
  packed.rows = static_cast<std::int64_t>(values.size()) / row_length;
  const std::size_t blocks = static_cast<std::size_t>(packed.rows) * blocks_per_row(row_length);
  packed.exponents.assign(blocks, 0);
  packed.mantissas.assign(mantissa_bits == 7 ? blocks * kBlockSize : blocks * kBlockSize / 2, 0);
  if (mantissa_bits == 7) {
    pack_blocks<7>(values, packed);
  } else {
    pack_blocks<3>(values, packed);
  }
  return packed;
}

std::vector<float> unpack_block_float(const PackedBlockFloat& packed) {
  check_block_dtype(packed.dtype, "unpack_block_float");
  const int mantissa_bits = block_mantissa_bits(packed.dtype);
  if (packed.rows < 0 || packed.row_length <= 0) {
    throw std::invalid_argument(
        "[unpack_block_float] invalid shape: " + std::to_string(packed.rows) + " rows of " +
        std::to_string(packed.row_length));
  }
  const std::size_t blocks =
      static_cast<std::size_t>(packed.rows) * blocks_per_row(packed.row_length);
  const std::size_t mantissa_bytes =
      mantissa_bits == 7 ? blocks * kBlockSize : blocks * kBlockSize / 2;
  if (packed.exponents.size() != blocks || packed.mantissas.size() != mantissa_bytes) {
    throw std::invalid_argument("[unpack_block_float] " + std::to_string(packed.rows) +
                                " rows of " + std::to_string(packed.row_length) + " need " +
                                std::to_string(blocks) + " exponent bytes and " +
                                std::to_string(mantissa_bytes) + " mantissa bytes, got " +
                                std::to_string(packed.exponents.size()) + " and " +
                                std::to_string(packed.mantissas.size()));
  }
  std::vector<float> values(static_cast<std::size_t>(packed.rows) *
                            static_cast<std::size_t>(packed.row_length));
  if (mantissa_bits == 7) {
    unpack_blocks<7>(packed, values);
  } else {
    unpack_blocks<3>(packed, values);
  }
  return values;
}

}  // namespace ttt

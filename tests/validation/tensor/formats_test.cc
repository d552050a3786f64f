// Tests of the device numeric formats (validation/tensor/formats.h) against docs/formats.md.
//
// Expected values come from hand-computed tables or from reference implementations written here in
// double arithmetic (a nearest-value search over every representable value for the 16-bit formats,
// std::nearbyint on exact quotients for the block formats), never from the code under test.
#include "validation/tensor/formats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace ttt {
namespace {

using ::testing::HasSubstr;

std::uint32_t bits_of(float value) { return std::bit_cast<std::uint32_t>(value); }
float from_bits(std::uint32_t bits) { return std::bit_cast<float>(bits); }

std::string hex(std::uint32_t bits) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", bits);
  return text;
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kFloatMax = std::numeric_limits<float>::max();

// ---------------------------------------------------------------------------------------------
// Independent reference for the 16-bit formats.

// A binary floating point format with an implicit leading one, IEEE 754 style.
struct SixteenBitFormat {
  int exponent_bits;
  int mantissa_bits;
  int bias() const { return (1 << (exponent_bits - 1)) - 1; }
  std::uint16_t exponent_mask() const {
    return static_cast<std::uint16_t>(((1 << exponent_bits) - 1) << mantissa_bits);
  }
  std::uint16_t inf_code() const { return exponent_mask(); }
  std::uint16_t quiet_bit() const { return static_cast<std::uint16_t>(1 << (mantissa_bits - 1)); }
  bool is_nan(std::uint16_t code) const {
    return (code & exponent_mask()) == exponent_mask() && (code & ((1 << mantissa_bits) - 1)) != 0;
  }
};

constexpr SixteenBitFormat kHalf{5, 10};
constexpr SixteenBitFormat kBrain{8, 7};

// The value of a code by the textbook formula, in double. NaN codes give NaN.
double reference_value(const SixteenBitFormat& format, std::uint16_t code) {
  const int sign = code >> 15;
  const int exponent = (code >> format.mantissa_bits) & ((1 << format.exponent_bits) - 1);
  const int mantissa = code & ((1 << format.mantissa_bits) - 1);
  double magnitude = 0.0;
  if (exponent == (1 << format.exponent_bits) - 1) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(mantissa, 1 - format.bias() - format.mantissa_bits);
  } else {
    magnitude =
        std::ldexp(1.0 + std::ldexp(mantissa, -format.mantissa_bits), exponent - format.bias());
  }
  return sign ? -magnitude : magnitude;
}

// Rounds a float32 to a 16-bit format by searching the sorted list of all its non-negative values:
// the nearest one wins, a tie goes to the even code. IEEE 754 overflow: rounding happens as if the
// exponent were unbounded, so the Inf code stands for the next power of two (2^16 for float16,
// 2^128 for bfloat16) and everything that rounds to it or beyond is Inf.
class NearestValueSearch {
 public:
  explicit NearestValueSearch(const SixteenBitFormat& format) : format_(format) {
    for (std::uint16_t code = 0; code < format.inf_code(); ++code) {
      magnitudes_.push_back(reference_value(format, code));
    }
    magnitudes_.push_back(std::ldexp(1.0, (1 << format.exponent_bits) - 1 - format.bias()));
  }

  // REQUIRES: value is not NaN.
  std::uint16_t round(float value) const {
    const std::uint16_t sign = std::signbit(value) ? 0x8000 : 0;
    const double magnitude = std::fabs(static_cast<double>(value));
    if (magnitude >= magnitudes_.back()) return sign | format_.inf_code();
    // magnitudes_[above - 1] <= magnitude < magnitudes_[above]; neighbours are within a factor of
    // two of each other, so both differences are exact in double (Sterbenz).
    const auto above = static_cast<std::size_t>(
        std::upper_bound(magnitudes_.begin(), magnitudes_.end(), magnitude) - magnitudes_.begin());
    const std::size_t below = above - 1;
    const double distance_below = magnitude - magnitudes_[below];
    const double distance_above = magnitudes_[above] - magnitude;
    std::size_t nearest = distance_below < distance_above ? below : above;
    if (distance_below == distance_above) nearest = below % 2 == 0 ? below : above;
    return static_cast<std::uint16_t>(sign | nearest);
  }

 private:
  SixteenBitFormat format_;
  std::vector<double> magnitudes_;  // Index == code, ascending.
};

// The documented NaN rule: sign kept, quiet bit set, the top payload bits that fit kept.
std::uint16_t expected_nan_code(const SixteenBitFormat& format, std::uint32_t float_bits) {
  const auto sign = static_cast<std::uint16_t>((float_bits >> 16) & 0x8000u);
  const auto payload =
      static_cast<std::uint16_t>((float_bits & 0x7fffffu) >> (23 - format.mantissa_bits));
  return static_cast<std::uint16_t>(sign | format.exponent_mask() | format.quiet_bit() | payload);
}

// ---------------------------------------------------------------------------------------------
// Exhaustive checks of the 16-bit formats.

TEST(Float16, EveryBitPatternDecodesToItsIeeeValue) {
  for (std::uint32_t code = 0; code <= 0xffff; ++code) {
    const auto half = static_cast<std::uint16_t>(code);
    const float value = float16_bits_to_float(half);
    const double expected = reference_value(kHalf, half);
    if (kHalf.is_nan(half)) {
      // Widening keeps sign and payload (signalling NaNs stay signalling here).
      ASSERT_EQ(bits_of(value), ((code & 0x8000u) << 16) | 0x7f800000u | ((code & 0x3ffu) << 13))
          << hex(code);
    } else {
      ASSERT_EQ(static_cast<double>(value), expected) << hex(code);
      ASSERT_EQ(std::signbit(value), (code & 0x8000u) != 0) << hex(code);
    }
  }
}

TEST(Float16, EveryBitPatternRoundTripsAndNanIsQuieted) {
  int nan_codes = 0;
  for (std::uint32_t code = 0; code <= 0xffff; ++code) {
    const auto half = static_cast<std::uint16_t>(code);
    const std::uint16_t back = float_to_float16_bits(float16_bits_to_float(half));
    if (kHalf.is_nan(half)) {
      ++nan_codes;
      ASSERT_EQ(back, half | 0x0200u) << hex(code);  // Quiet bit set, sign and payload kept.
    } else {
      ASSERT_EQ(back, half) << hex(code);
    }
  }
  EXPECT_EQ(nan_codes, 2 * 1023);
}

TEST(BFloat16, EveryBitPatternDecodesToItsValue) {
  for (std::uint32_t code = 0; code <= 0xffff; ++code) {
    const auto brain = static_cast<std::uint16_t>(code);
    const float value = bfloat16_bits_to_float(brain);
    ASSERT_EQ(bits_of(value), code << 16) << hex(code);
    if (!kBrain.is_nan(brain)) {
      ASSERT_EQ(static_cast<double>(value), reference_value(kBrain, brain)) << hex(code);
    }
  }
}

TEST(BFloat16, EveryBitPatternRoundTripsAndNanIsQuieted) {
  int nan_codes = 0;
  for (std::uint32_t code = 0; code <= 0xffff; ++code) {
    const auto brain = static_cast<std::uint16_t>(code);
    const std::uint16_t back = float_to_bfloat16_bits(bfloat16_bits_to_float(brain));
    if (kBrain.is_nan(brain)) {
      ++nan_codes;
      ASSERT_EQ(back, brain | 0x0040u) << hex(code);
    } else {
      ASSERT_EQ(back, brain) << hex(code);
    }
  }
  EXPECT_EQ(nan_codes, 2 * 127);
}

// ---------------------------------------------------------------------------------------------
// Edge values, bit by bit.

struct EdgeCase {
  const char* what;
  std::uint32_t input_bits;
  std::uint16_t expected;
};

TEST(Float16, EdgeValuesRoundBitExactly) {
  const std::vector<EdgeCase> cases = {
      {"zero", 0x00000000u, 0x0000},
      {"negative zero", 0x80000000u, 0x8000},
      {"one", 0x3f800000u, 0x3c00},
      {"1 + 2^-11: tie, down to even 1.0", 0x3f801000u, 0x3c00},
      {"just above that tie", 0x3f801001u, 0x3c01},
      {"just below that tie", 0x3f800fffu, 0x3c00},
      {"1 + 3*2^-11: tie, up to even 1 + 2^-9", 0x3f803000u, 0x3c02},
      {"-(1 + 3*2^-11): tie, up to even", 0xbf803000u, 0xbc02},
      {"2047.5: tie carries into the exponent (2048)", 0x44fff000u, 0x6800},
      {"2049: tie, down to even 2048", 0x45001000u, 0x6800},
      {"2051: tie, up to even 2052", 0x45003000u, 0x6802},
      {"max finite 65504", 0x477fe000u, 0x7bff},
      {"just below the overflow threshold 65520", 0x477fefffu, 0x7bff},
      {"overflow threshold 65520: tie to even is Inf", 0x477ff000u, 0x7c00},
      {"just above the overflow threshold", 0x477ff001u, 0x7c00},
      {"-65520 overflows to -Inf", 0xc77ff000u, 0xfc00},
      {"65536", 0x47800000u, 0x7c00},
      {"largest float32", 0x7f7fffffu, 0x7c00},
      {"Inf", 0x7f800000u, 0x7c00},
      {"-Inf", 0xff800000u, 0xfc00},
      {"min normal 2^-14", 0x38800000u, 0x0400},
      {"just below min normal rounds up to it", 0x387fffffu, 0x0400},
      {"1023.5 * 2^-24: tie between largest subnormal and min normal, up to even", 0x387fe000u,
       0x0400},
      {"just below that tie: largest subnormal", 0x387fdfffu, 0x03ff},
      {"largest subnormal 1023 * 2^-24", 0x387fc000u, 0x03ff},
      {"smallest subnormal 2^-24", 0x33800000u, 0x0001},
      {"1.5 * 2^-24: tie between 1 and 2 units, up to even 2", 0x33c00000u, 0x0002},
      {"2.5 * 2^-24: tie between 2 and 3 units, down to even 2", 0x34200000u, 0x0002},
      {"3.5 * 2^-24: tie between 3 and 4 units, up to even 4", 0x34600000u, 0x0004},
      {"2.25 * 2^-24: nearest is 2 units", 0x34100000u, 0x0002},
      {"half the smallest subnormal 2^-25: tie to zero", 0x33000000u, 0x0000},
      {"-2^-25: tie to negative zero", 0xb3000000u, 0x8000},
      {"just above 2^-25 rounds up to the smallest subnormal", 0x33000001u, 0x0001},
      {"just below 2^-25 rounds to zero", 0x32ffffffu, 0x0000},
      {"2^-26", 0x32800000u, 0x0000},
      {"smallest float32 subnormal", 0x00000001u, 0x0000},
      {"negative float32 subnormal", 0x80400000u, 0x8000},
      {"quiet NaN", 0x7fc00000u, 0x7e00},
      {"negative quiet NaN", 0xffc00000u, 0xfe00},
      {"signalling NaN with a low payload is quieted", 0x7f800001u, 0x7e00},
      {"NaN payload top bits kept", 0x7fa00000u, 0x7f00},
      {"NaN with a full payload", 0x7fffffffu, 0x7fff},
  };
  for (const EdgeCase& edge : cases) {
    EXPECT_EQ(float_to_float16_bits(from_bits(edge.input_bits)), edge.expected)
        << edge.what << " (input " << hex(edge.input_bits) << ")";
  }
}

TEST(BFloat16, EdgeValuesRoundBitExactly) {
  const std::vector<EdgeCase> cases = {
      {"zero", 0x00000000u, 0x0000},
      {"negative zero", 0x80000000u, 0x8000},
      {"one", 0x3f800000u, 0x3f80},
      {"1 + 2^-8: tie, down to even 1.0", 0x3f808000u, 0x3f80},
      {"just above that tie", 0x3f808001u, 0x3f81},
      {"1 + 3*2^-8: tie, up to even", 0x3f818000u, 0x3f82},
      {"-(1 + 3*2^-8): tie, up to even", 0xbf818000u, 0xbf82},
      {"2 - 2^-9: tie, carries into the exponent", 0x3fff8000u, 0x4000},
      {"max finite bfloat16", 0x7f7f0000u, 0x7f7f},
      {"just below the overflow threshold", 0x7f7f7fffu, 0x7f7f},
      {"overflow threshold (2 - 2^-8) * 2^127: tie to even is Inf", 0x7f7f8000u, 0x7f80},
      {"largest float32 overflows", 0x7f7fffffu, 0x7f80},
      {"-largest float32 overflows to -Inf", 0xff7fffffu, 0xff80},
      {"Inf", 0x7f800000u, 0x7f80},
      {"-Inf", 0xff800000u, 0xff80},
      {"min normal 2^-126", 0x00800000u, 0x0080},
      {"largest bfloat16 subnormal", 0x007f0000u, 0x007f},
      {"tie between largest subnormal and min normal, up to even", 0x007f8000u, 0x0080},
      {"just below that tie", 0x007f7fffu, 0x007f},
      {"smallest bfloat16 subnormal 2^-133", 0x00010000u, 0x0001},
      {"half the smallest subnormal: tie to zero", 0x00008000u, 0x0000},
      {"-half the smallest subnormal: tie to negative zero", 0x80008000u, 0x8000},
      {"just above half the smallest subnormal", 0x00008001u, 0x0001},
      {"1.5 smallest subnormals: tie, up to even 2", 0x00018000u, 0x0002},
      {"smallest float32 subnormal", 0x00000001u, 0x0000},
      {"quiet NaN", 0x7fc00000u, 0x7fc0},
      {"negative quiet NaN", 0xffc00000u, 0xffc0},
      {"signalling NaN with a low payload is quieted, not Inf", 0x7f800001u, 0x7fc0},
      {"negative signalling NaN", 0xff800001u, 0xffc0},
      {"NaN payload top bits kept", 0x7f810000u, 0x7fc1},
      {"NaN payload all ones", 0x7fffffffu, 0x7fff},
  };
  for (const EdgeCase& edge : cases) {
    EXPECT_EQ(float_to_bfloat16_bits(from_bits(edge.input_bits)), edge.expected)
        << edge.what << " (input " << hex(edge.input_bits) << ")";
  }
}

// ---------------------------------------------------------------------------------------------
// Millions of seeded random float32 bit patterns against the nearest-value search.

// Draws float32 bit patterns: a third uniform over all 2^32 patterns, a third with the exponent
// inside [lowest_exponent, highest_exponent] (the format's interesting range), a third of those
// with the bits that rounding drops forced to an exact tie or one unit either side of it.
class FloatPatternSource {
 public:
  FloatPatternSource(std::uint64_t seed, std::uint32_t lowest_exponent,
                     std::uint32_t highest_exponent, int dropped_bits)
      : engine_(seed), exponent_(lowest_exponent, highest_exponent), dropped_bits_(dropped_bits) {}

  std::uint32_t next(std::size_t index) {
    const auto random = static_cast<std::uint32_t>(engine_());
    if (index % 3 == 0) return random;
    std::uint32_t bits = (random & 0x807fffffu) | (exponent_(engine_) << 23);
    if (index % 3 == 2) {
      const std::uint32_t tie = 1u << (dropped_bits_ - 1);
      const std::uint32_t offsets[3] = {tie - 1, tie, tie + 1};
      bits = (bits & ~((1u << dropped_bits_) - 1)) | offsets[(random >> 8) % 3];
    }
    return bits;
  }

 private:
  std::mt19937_64 engine_;
  std::uniform_int_distribution<std::uint32_t> exponent_;
  int dropped_bits_;
};

constexpr std::size_t kRandomPatterns = std::size_t{6} << 20;  // 6,291,456 per format.

template <typename Convert>
void check_random_patterns(const SixteenBitFormat& format, FloatPatternSource source,
                           Convert convert) {
  const NearestValueSearch search(format);
  std::size_t mismatches = 0;
  std::size_t nans = 0;
  for (std::size_t i = 0; i < kRandomPatterns; ++i) {
    const std::uint32_t bits = source.next(i);
    const float value = from_bits(bits);
    std::uint16_t expected = 0;
    if (std::isnan(value)) {
      ++nans;
      expected = expected_nan_code(format, bits);
    } else {
      expected = search.round(value);
    }
    const std::uint16_t actual = convert(value);
    if (actual != expected && ++mismatches <= 10) {
      ADD_FAILURE() << "input " << hex(bits) << ": got " << hex(actual) << ", expected "
                    << hex(expected);
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(nans, 1000u);  // The uniform third reaches the NaN patterns.
}

TEST(Float16, MatchesNearestValueSearchOnMillionsOfRandomPatterns) {
  // Exponents 100..145 span float16's subnormals (from 2^-25, field 102) to past its overflow.
  check_random_patterns(kHalf, FloatPatternSource(0x5eed0016, 100, 145, 13),
                        [](float value) { return float_to_float16_bits(value); });
}

TEST(BFloat16, MatchesNearestValueSearchOnMillionsOfRandomPatterns) {
  // bfloat16 shares float32's exponent range; the ends (subnormals, overflow) need the most care.
  check_random_patterns(kBrain, FloatPatternSource(0x5eedbf16, 0, 254, 16),
                        [](float value) { return float_to_bfloat16_bits(value); });
}

TEST(SixteenBitFormats, RoundToHelpersAreTheNearestValueAsFloat) {
  const NearestValueSearch half_search(kHalf);
  const NearestValueSearch brain_search(kBrain);
  std::mt19937_64 engine(7);
  std::normal_distribution<float> normal(0.0f, 1000.0f);
  for (int i = 0; i < 100000; ++i) {
    const float value = normal(engine);
    ASSERT_EQ(static_cast<double>(round_to_float16(value)),
              reference_value(kHalf, half_search.round(value)))
        << value;
    ASSERT_EQ(static_cast<double>(round_to_bfloat16(value)),
              reference_value(kBrain, brain_search.round(value)))
        << value;
  }
  EXPECT_TRUE(std::isnan(round_to_float16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(round_to_bfloat16(-std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::signbit(round_to_bfloat16(-std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(round_to_float16(1e6f), kInf);
  EXPECT_EQ(round_to_bfloat16(-kFloatMax), -kInf);
}

// ---------------------------------------------------------------------------------------------
// Independent reference for the block formats, following docs/formats.md in double arithmetic.

struct ReferenceBlockFloat {
  std::vector<float> values;            // Quantized values.
  std::vector<std::uint8_t> exponents;  // One per block.
  std::vector<std::uint8_t> codes;      // One per padded slot: sign << M | mantissa.
};

ReferenceBlockFloat reference_block_float(const std::vector<float>& input, std::int64_t row_length,
                                          int mantissa_bits) {
  const auto length = static_cast<std::size_t>(row_length);
  const std::size_t blocks_per_row = (length + 15) / 16;
  const std::size_t rows = input.size() / length;
  const double largest_mantissa = std::ldexp(1.0, mantissa_bits) - 1.0;
  const double inf_mantissa = std::ldexp(1.0, mantissa_bits - 1);
  const auto sign_bit = static_cast<std::uint8_t>(1u << mantissa_bits);
  ReferenceBlockFloat result;
  result.values.resize(input.size());
  result.codes.assign(rows * blocks_per_row * 16, 0);
  for (std::size_t row = 0; row < rows; ++row) {
    for (std::size_t block = 0; block < blocks_per_row; ++block) {
      const std::size_t first = row * length + block * 16;
      const std::size_t count = std::min<std::size_t>(16, length - block * 16);
      const std::size_t first_slot = (row * blocks_per_row + block) * 16;
      // Shared exponent: the largest biased exponent; subnormals count as zero, Inf/NaN as 255.
      int shared = 0;
      for (std::size_t i = 0; i < count; ++i) {
        const float x = input[first + i];
        if (!std::isfinite(x)) {
          shared = 255;
        } else if (std::fabs(x) >= std::numeric_limits<float>::min()) {
          shared = std::max(shared, std::ilogb(x) + 127);
        }
      }
      result.exponents.push_back(static_cast<std::uint8_t>(shared));
      const double unit = std::ldexp(1.0, shared - 126 - mantissa_bits);
      for (std::size_t i = 0; i < count; ++i) {
        const float x = input[first + i];
        const std::uint8_t sign = std::signbit(x) ? sign_bit : 0;
        float& out = result.values[first + i];
        std::uint8_t& code = result.codes[first_slot + i];
        if (std::isnan(x)) {
          out = from_bits((bits_of(x) & 0x80000000u) | 0x7fc00000u);
          code = static_cast<std::uint8_t>(sign | (3u << (mantissa_bits - 2)));
          continue;
        }
        if (std::isinf(x)) {
          out = x;
          code = static_cast<std::uint8_t>(sign | static_cast<unsigned>(inf_mantissa));
          continue;
        }
        const double magnitude =
            std::fabs(x) < std::numeric_limits<float>::min() ? 0.0 : std::fabs(x);
        double mantissa = std::nearbyint(magnitude / unit);  // Exact quotient; ties to even.
        if (shared == 255 && mantissa >= inf_mantissa) {
          out = std::signbit(x) ? -kInf : kInf;
          code = static_cast<std::uint8_t>(sign | static_cast<unsigned>(inf_mantissa));
          continue;
        }
        mantissa = std::min(mantissa, largest_mantissa);
        if (mantissa == 0.0) {
          out = 0.0f;
          code = 0;
          continue;
        }
        out = static_cast<float>(std::copysign(mantissa * unit, static_cast<double>(x)));
        code = static_cast<std::uint8_t>(sign | static_cast<unsigned>(mantissa));
      }
    }
  }
  return result;
}

DType block_dtype(int mantissa_bits) {
  return mantissa_bits == 7 ? DType::bfloat8_b : DType::bfloat4_b;
}

// The packed mantissa bytes the reference codes make (one byte, or two nibbles low first).
std::vector<std::uint8_t> packed_codes(const std::vector<std::uint8_t>& codes, int mantissa_bits) {
  if (mantissa_bits == 7) return codes;
  std::vector<std::uint8_t> bytes(codes.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(codes[2 * i] | (codes[2 * i + 1] << 4));
  }
  return bytes;
}

// Counts values whose bits differ (NaN compared by bits too: the documented NaN is canonical).
std::size_t count_bit_mismatches(const std::vector<float>& actual,
                                 const std::vector<float>& expected,
                                 const std::vector<float>& input) {
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (bits_of(actual[i]) != bits_of(expected[i]) && ++mismatches <= 10) {
      ADD_FAILURE() << "element " << i << " input " << hex(bits_of(input[i])) << " (" << input[i]
                    << "): got " << hex(bits_of(actual[i])) << " (" << actual[i] << "), expected "
                    << hex(bits_of(expected[i])) << " (" << expected[i] << ")";
    }
  }
  return mismatches;
}

// Checks quantize_in_place, pack_block_float and unpack_block_float against the reference, and
// quantize_in_place == unpack(pack) bit for bit.
void check_block_float(const std::vector<float>& input, std::int64_t row_length,
                       int mantissa_bits) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  const DType dtype = block_dtype(mantissa_bits);
  const ReferenceBlockFloat expected = reference_block_float(input, row_length, mantissa_bits);

  std::vector<float> quantized = input;
  quantize_in_place(quantized, row_length, dtype);
  EXPECT_EQ(count_bit_mismatches(quantized, expected.values, input), 0u) << "quantize_in_place";

  const PackedBlockFloat packed = pack_block_float(input, row_length, dtype);
  EXPECT_EQ(packed.dtype, dtype);
  EXPECT_EQ(packed.row_length, row_length);
  EXPECT_EQ(packed.rows, static_cast<std::int64_t>(input.size()) / row_length);
  EXPECT_EQ(packed.exponents, expected.exponents);
  EXPECT_EQ(packed.mantissas, packed_codes(expected.codes, mantissa_bits));

  const std::vector<float> unpacked = unpack_block_float(packed);
  ASSERT_EQ(unpacked.size(), input.size());
  EXPECT_EQ(count_bit_mismatches(unpacked, quantized, input), 0u) << "unpack(pack) vs quantize";
}

class BlockFloat : public ::testing::TestWithParam<int> {
 protected:
  int mantissa_bits() const { return GetParam(); }
  DType dtype() const { return block_dtype(GetParam()); }
  // The value of `mantissa` units in a block with shared exponent `shared`.
  float units(double mantissa, int shared) const {
    return static_cast<float>(std::ldexp(mantissa, shared - 126 - mantissa_bits()));
  }
  std::vector<float> quantized(std::vector<float> values, std::int64_t row_length) const {
    quantize_in_place(values, row_length, dtype());
    return values;
  }
};

INSTANTIATE_TEST_SUITE_P(Formats, BlockFloat, ::testing::Values(7, 3),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return std::string(dtype_name(block_dtype(param_info.param)));
                         });

// Random blocks: magnitudes spread over a block-dependent range, with zeros, negative zeros,
// subnormals, values on exact ties of the block grid, the block maximum near the clamp, and rare
// Inf/NaN. Each row length exercises full and padded blocks.
std::vector<float> random_block_values(std::mt19937_64& engine, std::size_t rows,
                                       std::int64_t row_length, int mantissa_bits) {
  std::uniform_int_distribution<int> top_exponent_choice(1, 254);
  std::uniform_int_distribution<int> below(0, 12);
  std::uniform_int_distribution<int> kind(0, 99);
  std::uniform_int_distribution<std::uint32_t> mantissa(0, 0x7fffff);
  std::vector<float> values;
  values.reserve(rows * static_cast<std::size_t>(row_length));
  for (std::size_t row = 0; row < rows; ++row) {
    int top = top_exponent_choice(engine);
    for (std::int64_t column = 0; column < row_length; ++column) {
      if (column % 16 == 0) top = top_exponent_choice(engine);
      const std::uint32_t sign = static_cast<std::uint32_t>(engine() & 1u) << 31;
      const int k = kind(engine);
      std::uint32_t bits = 0;
      if (k < 3) {
        bits = sign;  // Zero or negative zero.
      } else if (k < 5) {
        bits = sign | (mantissa(engine) | 1u);  // float32 subnormal.
      } else if (k < 6 && engine() % 8 == 0) {
        bits = sign | 0x7f800000u | (engine() % 2 == 0 ? 0u : mantissa(engine) | 1u);  // Inf, NaN.
      } else if (k < 25) {
        // An exact tie or one float32 ulp around it: (n + 1/2) units of the planned grid.
        const double n = static_cast<double>(engine() % (1u << mantissa_bits));
        const auto tie = static_cast<float>(std::ldexp(n + 0.5, top - 126 - mantissa_bits));
        bits = bits_of(tie) + static_cast<std::uint32_t>(engine() % 3) - 1u;
        if (!std::isfinite(from_bits(bits)) || bits_of(tie) == 0) bits = 0;
        bits |= sign;
      } else if (k < 35) {
        // At the block's top exponent with the largest mantissas: the clamp region.
        bits =
            sign | (static_cast<std::uint32_t>(top) << 23) | (0x7fffffu - (mantissa(engine) >> 12));
      } else {
        const int exponent = std::max(1, top - below(engine));
        bits = sign | (static_cast<std::uint32_t>(exponent) << 23) | mantissa(engine);
      }
      values.push_back(from_bits(bits));
    }
  }
  return values;
}

TEST_P(BlockFloat, MatchesReferenceOnRandomBlocksOfEveryRowLength) {
  std::mt19937_64 engine(0xb10c + static_cast<std::uint64_t>(mantissa_bits()));
  for (const std::int64_t row_length : {1, 2, 5, 15, 16, 17, 31, 32, 33, 48, 64, 100, 1000}) {
    SCOPED_TRACE("row_length " + std::to_string(row_length));
    const std::size_t rows = static_cast<std::size_t>(40000 / row_length) + 1;
    check_block_float(random_block_values(engine, rows, row_length, mantissa_bits()), row_length,
                      mantissa_bits());
  }
}

TEST_P(BlockFloat, MatchesReferenceOnUniformRandomBitPatterns) {
  // Any float32 at all, blocks mixing wildly different exponents, NaN and Inf included.
  std::mt19937_64 engine(0xfeed + static_cast<std::uint64_t>(mantissa_bits()));
  std::vector<float> values(std::size_t{1} << 20);
  for (float& value : values) value = from_bits(static_cast<std::uint32_t>(engine()));
  check_block_float(values, 64, mantissa_bits());
}

TEST_P(BlockFloat, MatchesReferenceOnNormalActivations) {
  std::mt19937_64 engine(0xac7 + static_cast<std::uint64_t>(mantissa_bits()));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(std::size_t{1} << 20);
  for (float& value : values) value = normal(engine);
  check_block_float(values, 4096, mantissa_bits());
}

TEST_P(BlockFloat, QuantizingTwiceChangesNothing) {
  std::mt19937_64 engine(99);
  const std::vector<float> once =
      quantized(random_block_values(engine, 500, 37, mantissa_bits()), 37);
  const std::vector<float> twice = quantized(once, 37);
  EXPECT_EQ(count_bit_mismatches(twice, once, once), 0u);
}

// ---------------------------------------------------------------------------------------------
// Every corner of docs/formats.md, with hand-computed values.

TEST_P(BlockFloat, AllZeroBlockHasExponentZeroAndZeroCodes) {
  std::vector<float> values(16, 0.0f);
  values[3] = -0.0f;
  const PackedBlockFloat packed = pack_block_float(values, 16, dtype());
  EXPECT_THAT(packed.exponents, ::testing::ElementsAre(0));
  EXPECT_THAT(packed.mantissas, ::testing::Each(0));
  for (float value : quantized(values, 16)) EXPECT_EQ(bits_of(value), 0u);
}

TEST_P(BlockFloat, MantissaOverflowOfTheBlockMaximumClampsToTheLargestMantissa) {
  // The block maximum at exponent 127 (values in [1, 2)): units are 2^-6 (bfp8) or 2^-2 (bfp4)
  // and the largest mantissa is 127 (1.984375) or 7 (1.75). 127.6 units would round to 128, which
  // needs an eighth bit: it is clamped, the shared exponent is not bumped.
  const double largest = std::ldexp(1.0, mantissa_bits()) - 1.0;
  const float above_half = units(largest + 0.6, 127);
  const float exact_tie = units(largest + 0.5, 127);  // Tie: even would be 128, clamped too.
  const float below_half = units(largest + 0.4, 127);
  const std::vector<float> values = {above_half, exact_tie, below_half, -above_half};
  const float clamped = units(largest, 127);
  EXPECT_THAT(quantized(values, 4), ::testing::ElementsAre(clamped, clamped, clamped, -clamped));
  const PackedBlockFloat packed = pack_block_float(values, 4, dtype());
  EXPECT_THAT(packed.exponents, ::testing::ElementsAre(127));
  check_block_float(values, 4, mantissa_bits());
  if (mantissa_bits() == 7) {
    EXPECT_EQ(clamped, 1.984375f);
    EXPECT_EQ(above_half, 1.99375f);
  } else {
    EXPECT_EQ(clamped, 1.75f);
    EXPECT_EQ(above_half, 1.9f);
  }
}

TEST_P(BlockFloat, MantissasRoundToNearestTiesToEven) {
  // Block maximum 1.0: shared exponent 127, one unit is 2^-6 (bfp8) or 2^-2 (bfp4).
  const std::vector<float> values = {
      1.0f,
      units(0.5, 127),                        // Tie between 0 and 1: 0.
      units(1.5, 127),                        // Tie between 1 and 2: 2.
      units(2.5, 127),                        // Tie between 2 and 3: 2.
      -units(2.5, 127),                       // Negative tie: -2.
      units(3.5, 127),                        // 4.
      std::nextafter(units(0.5, 127), 2.0f),  // Just above a tie: 1.
      std::nextafter(units(1.5, 127), 0.0f),  // Just below a tie: 1.
      units(1.25, 127),                       // 1.
  };
  EXPECT_THAT(quantized(values, static_cast<std::int64_t>(values.size())),
              ::testing::ElementsAre(1.0f, 0.0f, units(2, 127), units(2, 127), -units(2, 127),
                                     units(4, 127), units(1, 127), units(1, 127), units(1, 127)));
  check_block_float(values, static_cast<std::int64_t>(values.size()), mantissa_bits());
}

TEST_P(BlockFloat, RoundsTheExactValueNotATruncatedAlignment) {
  // tt-metal's host packer shifts the significand right by the exponent difference (dropping bits)
  // before rounding, which turns "just above a tie" into a tie and rounds it down to even. We round
  // the exact value (docs/formats.md): just above half a unit is one unit.
  const float just_above_half_unit = from_bits(bits_of(units(0.5, 127)) + 1);
  EXPECT_THAT(quantized({1.0f, just_above_half_unit}, 2),
              ::testing::ElementsAre(1.0f, units(1, 127)));
}

TEST_P(BlockFloat, ValuesTooSmallForTheSharedExponentBecomePositiveZero) {
  const std::vector<float> values = {1.0f,           units(0.25, 127), -units(0.25, 127),
                                     -units(1, 127), 1e-30f,           -1e-30f};
  const std::vector<float> result = quantized(values, 6);
  EXPECT_EQ(result[0], 1.0f);
  EXPECT_EQ(bits_of(result[1]), 0u);
  EXPECT_EQ(bits_of(result[2]), 0u);  // No negative zero: the sign is dropped with the value.
  EXPECT_EQ(result[3], -units(1, 127));
  EXPECT_EQ(bits_of(result[4]), 0u);
  EXPECT_EQ(bits_of(result[5]), 0u);
  check_block_float(values, 6, mantissa_bits());
}

TEST_P(BlockFloat, NegativeZeroIsStoredAsPositiveZero) {
  const std::vector<float> values = {-0.0f, 1.0f, -0.0f};
  const PackedBlockFloat packed = pack_block_float(values, 3, dtype());
  const std::vector<float> unpacked = unpack_block_float(packed);
  EXPECT_EQ(bits_of(unpacked[0]), 0u);
  EXPECT_EQ(bits_of(unpacked[2]), 0u);
  check_block_float(values, 3, mantissa_bits());
}

TEST_P(BlockFloat, Float32SubnormalInputsAreFlushedToZeroAndDoNotSetTheExponent) {
  const float smallest_normal = std::numeric_limits<float>::min();  // 2^-126.
  const float subnormal = smallest_normal / 2.0f;                   // 2^-127.
  // Only subnormals: the shared exponent stays 0 and everything is zero.
  const std::vector<float> tiny = {subnormal, -subnormal, std::numeric_limits<float>::denorm_min()};
  const PackedBlockFloat packed = pack_block_float(tiny, 3, dtype());
  EXPECT_THAT(packed.exponents, ::testing::ElementsAre(0));
  for (float value : quantized(tiny, 3)) EXPECT_EQ(bits_of(value), 0u);
  // With the smallest normal beside it, 2^-127 would be representable (32 or 2 units) but is still
  // flushed: subnormal inputs count as zero, as on tt-metal.
  const std::vector<float> mixed = {smallest_normal, subnormal, -smallest_normal};
  EXPECT_THAT(quantized(mixed, 3), ::testing::ElementsAre(smallest_normal, 0.0f, -smallest_normal));
  EXPECT_THAT(pack_block_float(mixed, 3, dtype()).exponents, ::testing::ElementsAre(1));
  check_block_float(tiny, 3, mantissa_bits());
  check_block_float(mixed, 3, mantissa_bits());
}

TEST_P(BlockFloat, InfAndNanSetTheExponentTo255) {
  // With a shared exponent of 255 one unit is 2^122 (bfp8) or 2^126 (bfp4); the mantissa 2^(M-1)
  // (64 or 4) means Inf and larger mantissas mean NaN, so finite values keep at most 63 or 3 units
  // and a finite value rounding to 64 or 4 units (2^128) overflows to Inf.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float signalling = from_bits(0x7f800001u);
  const std::vector<float> values = {
      kInf,
      -kInf,
      nan,
      -nan,
      signalling,
      1.0f,
      std::ldexp(1.0f, 127),
      -std::ldexp(1.5f, 127),
      kFloatMax,
      units(0.75, 255),
      units(0.5, 255),
  };
  const std::vector<float> result = quantized(values, static_cast<std::int64_t>(values.size()));
  EXPECT_EQ(result[0], kInf);
  EXPECT_EQ(result[1], -kInf);
  EXPECT_EQ(bits_of(result[2]), 0x7fc00000u);  // Canonical quiet NaN, sign kept.
  EXPECT_EQ(bits_of(result[3]), 0xffc00000u);
  EXPECT_EQ(bits_of(result[4]), 0x7fc00000u);  // A signalling NaN never becomes Inf.
  EXPECT_EQ(bits_of(result[5]), 0u);           // Far too small for exponent 255.
  EXPECT_EQ(result[6], std::ldexp(1.0f, 127));
  EXPECT_EQ(result[7], -std::ldexp(1.5f, 127));
  EXPECT_EQ(result[8], kInf);  // 63.99 (bfp8) or 3.99 (bfp4) units round to the Inf mantissa.
  EXPECT_EQ(result[9], units(1, 255));
  EXPECT_EQ(bits_of(result[10]), 0u);  // Tie between 0 and 1 unit: even.

  const PackedBlockFloat packed =
      pack_block_float(values, static_cast<std::int64_t>(values.size()), dtype());
  EXPECT_THAT(packed.exponents, ::testing::ElementsAre(255));
  check_block_float(values, static_cast<std::int64_t>(values.size()), mantissa_bits());
}

TEST_P(BlockFloat, InfOnlyAffectsItsOwnBlock) {
  std::vector<float> values(32, 1.5f);
  values[20] = kInf;
  const std::vector<float> result = quantized(values, 32);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(result[static_cast<std::size_t>(i)], 1.5f) << i;
  for (int i = 16; i < 32; ++i) {
    EXPECT_EQ(result[static_cast<std::size_t>(i)], i == 20 ? kInf : 0.0f) << i;
  }
}

TEST_P(BlockFloat, ShortLastBlockIsPaddedWithZerosThatNeverRaiseTheExponent) {
  // Row length 20: each row is a full block of 16 and a block of 4 padded with 12 zeros.
  std::vector<float> values;
  for (int row = 0; row < 2; ++row) {
    for (int i = 0; i < 16; ++i) values.push_back(1.0f + 0.0625f * static_cast<float>(i));
    for (float small : {0.001f, -0.002f, 0.003f, 0.0005f}) values.push_back(small);
  }
  const PackedBlockFloat packed = pack_block_float(values, 20, dtype());
  EXPECT_EQ(packed.rows, 2);
  // 0.003 = 1.536 * 2^-9 sets the short block's exponent: 127 - 9 = 118.
  EXPECT_THAT(packed.exponents, ::testing::ElementsAre(127, 118, 127, 118));
  const std::size_t bytes_per_block = mantissa_bits() == 7 ? 16 : 8;
  ASSERT_EQ(packed.mantissas.size(), 4 * bytes_per_block);
  // The padded slots (values 4..15 of blocks 1 and 3) are zero codes.
  for (std::size_t block : {1u, 3u}) {
    for (std::size_t slot = 4; slot < 16; ++slot) {
      const std::size_t index = block * 16 + slot;
      const int code = mantissa_bits() == 7
                           ? packed.mantissas[index]
                           : (packed.mantissas[index / 2] >> (4 * (index % 2))) & 15;
      EXPECT_EQ(code, 0) << "block " << block << " slot " << slot;
    }
  }
  // 0.001 keeps (bfp8) 0.001 / 2^(118-133) = 32.8 -> 33 units, not zero as it would next to 1.0.
  const std::vector<float> result = quantized(values, 20);
  if (mantissa_bits() == 7) {
    EXPECT_EQ(result[16], units(33, 118));
  } else {
    EXPECT_EQ(result[16], units(2, 118));  // 0.001 / 2^-11 = 2.05 -> 2.
  }
  check_block_float(values, 20, mantissa_bits());
}

TEST_P(BlockFloat, RowLengthOfOneGivesEveryValueItsOwnExponent) {
  const std::vector<float> values = {1e-20f, 3.0f, -7e10f, 1.2345f};
  const std::vector<float> result = quantized(values, 1);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const int shared = std::ilogb(values[i]) + 127;
    const double mantissa =
        std::min(std::nearbyint(std::fabs(static_cast<double>(values[i])) /
                                std::ldexp(1.0, shared - 126 - mantissa_bits())),
                 std::ldexp(1.0, mantissa_bits()) - 1);
    EXPECT_EQ(result[i], std::copysign(units(mantissa, shared), values[i])) << i;
  }
  check_block_float(values, 1, mantissa_bits());
}

TEST_P(BlockFloat, EmptyInputPacksToNothing) {
  std::vector<float> none;
  quantize_in_place(none, 16, dtype());
  const PackedBlockFloat packed = pack_block_float(none, 16, dtype());
  EXPECT_EQ(packed.rows, 0);
  EXPECT_TRUE(packed.exponents.empty());
  EXPECT_TRUE(packed.mantissas.empty());
  EXPECT_TRUE(unpack_block_float(packed).empty());
}

TEST_P(BlockFloat, StorageBytesMatchDeviceBitsPerElement) {
  const std::vector<float> values(4 * 64, 0.5f);
  const PackedBlockFloat packed = pack_block_float(values, 64, dtype());
  EXPECT_EQ(packed.exponents.size(), 16u);
  EXPECT_EQ(packed.storage_bytes(), mantissa_bits() == 7 ? 272u : 144u);
  EXPECT_EQ(static_cast<double>(packed.storage_bytes()) * 8.0,
            device_bits_per_element(dtype()) * static_cast<double>(values.size()));
}

TEST(BlockFloatLayout, Bfloat8bStoresSignBit7AndSevenBitMantissaPerByte) {
  // Block maximum 2.0: exponent 128, one unit is 2^-5. 2.0 = 64 units, -1.5 = -48 units,
  // 0.03125 = 1 unit, -0.0 and 0.01 (0.32 units) are zero.
  const std::vector<float> values = {2.0f, -1.5f, 0.03125f, -0.0f, 0.01f};
  const PackedBlockFloat packed = pack_block_float(values, 5, DType::bfloat8_b);
  EXPECT_THAT(packed.exponents, ::testing::ElementsAre(128));
  ASSERT_EQ(packed.mantissas.size(), 16u);
  EXPECT_THAT(std::vector<std::uint8_t>(packed.mantissas.begin(), packed.mantissas.begin() + 6),
              ::testing::ElementsAre(0x40, 0xb0, 0x01, 0x00, 0x00, 0x00));
  EXPECT_EQ(block_mantissa_bits(DType::bfloat8_b), 7);
}

TEST(BlockFloatLayout, Bfloat4bStoresTwoValuesPerByteFirstInTheLowNibble) {
  // Block maximum 1.0: exponent 127, one unit is 0.25. 1.0 = 4, -0.5 = -2 (0b1010),
  // 0.25 = 1, -1.75 = -7 (0b1111).
  const std::vector<float> values = {1.0f, -0.5f, 0.25f, -1.75f};
  const PackedBlockFloat packed = pack_block_float(values, 4, DType::bfloat4_b);
  EXPECT_THAT(packed.exponents, ::testing::ElementsAre(127));
  ASSERT_EQ(packed.mantissas.size(), 8u);
  EXPECT_THAT(packed.mantissas, ::testing::ElementsAre(0xa4, 0xf1, 0, 0, 0, 0, 0, 0));
  EXPECT_EQ(block_mantissa_bits(DType::bfloat4_b), 3);
}

TEST(BlockFloatLayout, UnpackDecodesEveryCodeOfEveryExponent) {
  // Codes written by hand (any byte a device might hold), checked against the format's formula.
  for (const DType dtype : {DType::bfloat8_b, DType::bfloat4_b}) {
    const int m = block_mantissa_bits(dtype);
    const int codes = 1 << (m + 1);
    for (int shared = 0; shared <= 255; ++shared) {
      PackedBlockFloat packed;
      packed.dtype = dtype;
      packed.rows = codes / 16;
      packed.row_length = 16;
      packed.exponents.assign(static_cast<std::size_t>(packed.rows),
                              static_cast<std::uint8_t>(shared));
      for (int code = 0; code < codes; code += (m == 7 ? 1 : 2)) {
        packed.mantissas.push_back(m == 7 ? static_cast<std::uint8_t>(code)
                                          : static_cast<std::uint8_t>(code | ((code + 1) << 4)));
      }
      const std::vector<float> values = unpack_block_float(packed);
      ASSERT_EQ(values.size(), static_cast<std::size_t>(codes));
      for (int code = 0; code < codes; ++code) {
        const int mantissa = code & ((1 << m) - 1);
        const bool negative = (code >> m) != 0;
        const float value = values[static_cast<std::size_t>(code)];
        const std::string where = dtype_name(dtype).data() + std::string(" exponent ") +
                                  std::to_string(shared) + " code " + std::to_string(code);
        if (shared == 255 && mantissa >= (1 << (m - 1))) {
          if (mantissa == (1 << (m - 1))) {
            ASSERT_EQ(value, negative ? -kInf : kInf) << where;
          } else {
            ASSERT_EQ(bits_of(value), (negative ? 0xffc00000u : 0x7fc00000u)) << where;
          }
          continue;
        }
        const double exact = std::ldexp(mantissa, shared - 126 - m);
        if (mantissa == 0 || exact < static_cast<double>(std::numeric_limits<float>::min())) {
          // Zero codes (either sign) and values below 2^-126 read as +0.
          ASSERT_EQ(bits_of(value), 0u) << where;
        } else {
          ASSERT_EQ(static_cast<double>(value), negative ? -exact : exact) << where;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The other dtypes and errors.

TEST(QuantizeInPlace, Float32IsANoOpKeepingEveryBit) {
  std::vector<float> values = {from_bits(0x7f800001u), -0.0f, 1e-45f, 3.14159f, kFloatMax};
  const std::vector<float> before = values;
  quantize_in_place(values, 5, DType::float32);
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(bits_of(values[i]), bits_of(before[i]));
}

TEST(QuantizeInPlace, SixteenBitFormatsRoundEveryValueAndIgnoreRows) {
  std::mt19937_64 engine(3);
  std::vector<float> values(10000);
  for (float& value : values) value = from_bits(static_cast<std::uint32_t>(engine()));
  for (const DType dtype : {DType::float16, DType::bfloat16}) {
    std::vector<float> rounded = values;
    quantize_in_place(rounded, 7, dtype);  // 10000 is not a multiple of 7: rows do not matter.
    for (std::size_t i = 0; i < values.size(); ++i) {
      const float expected =
          dtype == DType::float16 ? round_to_float16(values[i]) : round_to_bfloat16(values[i]);
      ASSERT_EQ(bits_of(rounded[i]), bits_of(expected)) << i;
    }
  }
}

TEST(QuantizeInPlace, RejectsIntegerDtypesAndBadRows) {
  std::vector<float> values(10, 1.0f);
  EXPECT_THAT([&] { quantize_in_place(values, 10, DType::int32); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[quantize_in_place] int32 is not a floating dtype")));
  EXPECT_THAT([&] { quantize_in_place(values, 0, DType::bfloat8_b); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[quantize_in_place] row_length 0 must be positive")));
  EXPECT_THAT([&] { quantize_in_place(values, 4, DType::bfloat4_b); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[quantize_in_place] 10 values are not a whole number of rows of 4")));
}

TEST(PackBlockFloat, RejectsNonBlockDtypesAndBadRows) {
  const std::vector<float> values(10, 1.0f);
  EXPECT_THAT([&] { pack_block_float(values, 10, DType::bfloat16); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[pack_block_float] bfloat16 is not a block floating point dtype")));
  EXPECT_THAT([&] { pack_block_float(values, 3, DType::bfloat8_b); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("[pack_block_float]")));
  EXPECT_THAT([] { block_mantissa_bits(DType::float32); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("[block_mantissa_bits]")));
}

TEST(UnpackBlockFloat, RejectsInconsistentSizes) {
  PackedBlockFloat packed = pack_block_float(std::vector<float>(40, 1.0f), 20, DType::bfloat4_b);
  packed.mantissas.pop_back();
  EXPECT_THAT([&] { unpack_block_float(packed); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[unpack_block_float] 2 rows of 20 need 4 exponent bytes and 32 mantissa "
                  "bytes, got 4 and 31")));
  packed.row_length = 0;
  EXPECT_THAT([&] { unpack_block_float(packed); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("[unpack_block_float]")));
  packed.dtype = DType::int64;
  EXPECT_THAT([&] { unpack_block_float(packed); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[unpack_block_float] int64 is not a block floating point dtype")));
}

}  // namespace
}  // namespace ttt

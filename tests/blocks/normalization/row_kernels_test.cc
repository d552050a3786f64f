// The normalization row kernels: the AVX2 and AVX-512 implementations give the portable one's bits
// (row reductions in the device's order, element-wise steps with their bfloat16 roundings) on
// seeded rows whose counts are not multiples of the vector widths or of the 32-value tile, with
// NaN, infinities, subnormals and bfloat16 rounding ties among the values.
#include "blocks/normalization/row_kernels.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace ttt::norm_detail {
namespace {

std::vector<RowKernel> vector_kernels() {
  std::vector<RowKernel> kernels;
  if (row_kernel_supported(RowKernel::avx2)) kernels.push_back(RowKernel::avx2);
  if (row_kernel_supported(RowKernel::avx512)) kernels.push_back(RowKernel::avx512);
  return kernels;
}

std::string name(RowKernel kernel) { return kernel == RowKernel::avx2 ? "avx2" : "avx512"; }

// Normal values (mean 0.3, sd 2) from a fixed seed, with every 97th value special: NaN, +-Inf, a
// subnormal, a float32 exactly halfway between two bfloat16 values, or a value near FLT_MAX whose
// square overflows.
std::vector<float> seeded_values(std::size_t count, std::uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.3f, 2.0f);
  const std::vector<float> specials = {std::numeric_limits<float>::quiet_NaN(),
                                       std::numeric_limits<float>::infinity(),
                                       -std::numeric_limits<float>::infinity(),
                                       1e-40f,
                                       std::bit_cast<float>(0x3f808000u),
                                       std::bit_cast<float>(0x3f818000u),
                                       3e38f};
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) {
    values[i] = i % 97 == 96 ? specials[(i / 97) % specials.size()] : normal(generator);
  }
  return values;
}

// Finite values only (the statistics of a row holding NaN are NaN in every kernel, which hides
// the order of the sum).
std::vector<float> seeded_finite_values(std::size_t count, std::uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.3f, 2.0f);
  std::vector<float> values(count);
  for (float& value : values) value = normal(generator);
  return values;
}

void expect_same_bits(const std::vector<float>& actual, const std::vector<float>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    ASSERT_EQ(std::bit_cast<std::uint32_t>(actual[i]), std::bit_cast<std::uint32_t>(expected[i]))
        << "at " << i << ": " << actual[i] << " vs " << expected[i];
  }
}

TEST(RowKernelsTest, ReductionsKeepEachRowsOrder) {
  for (RowKernel kernel : vector_kernels()) {
    for (const RowReduction reduction :
         {RowReduction{false, Accumulation::fp32}, RowReduction{true, Accumulation::fp32},
          RowReduction{false, Accumulation::bf16}, RowReduction{true, Accumulation::bf16}}) {
      for (std::int64_t rows : {1, 7, 8, 9, 16, 17, 40}) {
        for (std::int64_t count : {1, 31, 32, 33, 100, 1000}) {
          SCOPED_TRACE(name(kernel) + (reduction.squares ? " squares" : " sum") +
                       (reduction.accumulation == Accumulation::bf16 ? " bf16" : " fp32") +
                       ", rows " + std::to_string(rows) + ", count " + std::to_string(count));
          // Rows of `count` values at a stride of count + 3 (as the shards of a row are).
          const std::int64_t stride = count + 3;
          const std::vector<float> values = seeded_finite_values(
              static_cast<std::size_t>(rows * stride), static_cast<std::uint32_t>(rows + count));
          std::vector<float> expected(static_cast<std::size_t>(rows));
          std::vector<float> actual(static_cast<std::size_t>(rows));
          reduce_rows(reduction, values.data(), rows, stride, count, expected.data(),
                      RowKernel::portable);
          reduce_rows(reduction, values.data(), rows, stride, count, actual.data(), kernel);
          expect_same_bits(actual, expected);
        }
      }
    }
  }
}

TEST(RowKernelsTest, ReductionsOfNonFiniteAndOverflowingRows) {
  // Every row holds some of the special values: NaN, Inf - Inf, squares that overflow.
  for (RowKernel kernel : vector_kernels()) {
    for (const RowReduction reduction :
         {RowReduction{false, Accumulation::fp32}, RowReduction{true, Accumulation::fp32},
          RowReduction{false, Accumulation::bf16}, RowReduction{true, Accumulation::bf16}}) {
      SCOPED_TRACE(name(kernel));
      const std::int64_t rows = 35;
      const std::int64_t count = 300;
      const std::vector<float> values = seeded_values(rows * count, 11);
      std::vector<float> expected(rows);
      std::vector<float> actual(rows);
      reduce_rows(reduction, values.data(), rows, count, count, expected.data(),
                  RowKernel::portable);
      reduce_rows(reduction, values.data(), rows, count, count, actual.data(), kernel);
      expect_same_bits(actual, expected);
    }
  }
}

TEST(RowKernelsTest, ElementWiseStepsRoundAsTheScalarLoops) {
  for (RowKernel kernel : vector_kernels()) {
    for (std::size_t count : {1u, 7u, 8u, 15u, 16u, 17u, 4097u}) {
      for (Accumulation round : {Accumulation::fp32, Accumulation::bf16}) {
        SCOPED_TRACE(name(kernel) + ", count " + std::to_string(count) +
                     (round == Accumulation::bf16 ? ", bf16" : ", fp32"));
        const std::vector<float> row = seeded_values(count, 1);
        const std::vector<float> scale = seeded_values(count, 2);
        const std::vector<float> bias = seeded_values(count, 3);
        const auto n = static_cast<std::int64_t>(count);
        std::vector<float> expected(count);
        std::vector<float> actual(count);

        rms_scale_row(row.data(), n, 0.37f, scale.data(), round, expected.data(),
                      RowKernel::portable);
        rms_scale_row(row.data(), n, 0.37f, scale.data(), round, actual.data(), kernel);
        expect_same_bits(actual, expected);

        center_row(row.data(), n, -1.3f, round, expected.data(), RowKernel::portable);
        center_row(row.data(), n, -1.3f, round, actual.data(), kernel);
        expect_same_bits(actual, expected);

        for (bool round_weighted : {false, true}) {
          layer_scale_row(row.data(), n, 0.81f, scale.data(), bias.data(), round, round_weighted,
                          expected.data(), RowKernel::portable);
          // In place, as LayerNorm runs it.
          actual = row;
          layer_scale_row(actual.data(), n, 0.81f, scale.data(), bias.data(), round, round_weighted,
                          actual.data(), kernel);
          expect_same_bits(actual, expected);
        }
      }
    }
  }
}

TEST(RowKernelsTest, AutomaticPicksTheWidestSupportedKernel) {
  const RowKernel chosen = resolve_row_kernel(RowKernel::automatic);
  if (row_kernel_supported(RowKernel::avx512)) {
    EXPECT_EQ(chosen, RowKernel::avx512);
  } else if (row_kernel_supported(RowKernel::avx2)) {
    EXPECT_EQ(chosen, RowKernel::avx2);
  } else {
    EXPECT_EQ(chosen, RowKernel::portable);
  }
  EXPECT_EQ(resolve_row_kernel(RowKernel::portable), RowKernel::portable);
}

}  // namespace
}  // namespace ttt::norm_detail

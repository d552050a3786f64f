// Test helpers of the hand-checked device cases (tests/blocks/*/hand_checked_test.cc): the
// inputs' formula, shared with the script that derives the expected values
// (tools/hand_checked_values.py), and the element-wise check that names the fault a case catches.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "blocks/common/matmul.h"
#include "validation/tensor/tensor.h"

namespace ttt::testing_blocks {

// A float32 tensor whose element i is ((a * i + b) % m - m / 2) / d: small dyadic numbers that
// bfloat16, TF32 and float32 hold exactly, so the device path's only error is its float32
// arithmetic. tools/hand_checked_values.py writes the same formula (`pattern`).
inline Tensor pattern(Shape shape, int a, int b, int m, double d) {
  const std::int64_t n = shape_numel(shape, "pattern");
  std::vector<float> values;
  values.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    values.push_back(static_cast<float>(static_cast<double>((a * i + b) % m - m / 2) / d));
  }
  return Tensor::from_floats(std::move(shape), std::move(values));
}

// float32 operands and output, HiFi4, fp32 accumulation: a device matmul that is exact on
// pattern() inputs up to float32 rounding.
inline constexpr MatmulConfig kExactMatmul{DType::float32, DType::float32, DType::float32,
                                           MathFidelity::HiFi4, Accumulation::fp32};

// Every element of `actual` (row-major) within `tolerance` of `expected`; a failure names the
// element and the fault the case is there to catch.
inline void expect_values(const Tensor& actual, const std::vector<double>& expected,
                          double tolerance, const std::string& catches) {
  ASSERT_EQ(actual.numel(), static_cast<std::int64_t>(expected.size())) << catches;
  for (std::int64_t i = 0; i < actual.numel(); ++i) {
    EXPECT_NEAR(actual.at_flat(i), expected[static_cast<std::size_t>(i)], tolerance)
        << "element " << i << "; this case catches: " << catches;
  }
}

}  // namespace ttt::testing_blocks

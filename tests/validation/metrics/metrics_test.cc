// compute_metrics(): each metric on data small enough to work out by hand, the edge cases
// (empty, single element, non-finite, huge values, integers), ULPs in every dtype, the allclose
// defaults and the quantiles/histogram; random data against the naive loops of naive_metrics.h.
#include "validation/metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/validation/metrics/naive_metrics.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;

constexpr float kNaN = NAN;
constexpr float kInf = INFINITY;
constexpr double kEpsilon = std::numeric_limits<double>::epsilon();

Tensor floats(std::vector<float> values, DType dtype = DType::float32) {
  const Shape shape = {static_cast<std::int64_t>(values.size())};
  return Tensor::from_floats(shape, std::move(values), dtype);
}

TEST(ComputeMetricsTest, ErrorMetricsByHand) {
  // d = a - e = [0, -0.5, 1, 0]; |e| = [1, 2.5, 2, 4].
  const Metrics m = compute_metrics(floats({1, 2, 3, 4}), floats({1, 2.5, 2, 4}));
  EXPECT_EQ(m.numel, 4);
  EXPECT_EQ(m.finite_pairs, 4);
  EXPECT_EQ(m.max_abs_error, 1.0);
  EXPECT_EQ(m.max_abs_error_index, 2);
  EXPECT_EQ(m.mean_abs_error, 0.375);
  EXPECT_EQ(m.rmse, std::sqrt(1.25 / 4.0));
  EXPECT_EQ(m.nmse, 1.25 / 27.25);
  EXPECT_EQ(m.max_rel_error, 0.5);
  EXPECT_THAT(m.cosine_similarity, DoubleNear(28.0 / std::sqrt(30.0 * 27.25), 1e-15));
  // float32 ULP at e = 2 is 2^-22: an error of 1 is 2^22 ULPs; at 2.5, 0.5 is 2^21 ULPs.
  EXPECT_EQ(m.max_ulp_error, 4194304.0);
  EXPECT_EQ(m.rtol, 1.3e-6);
  EXPECT_EQ(m.atol, 1e-5);
  EXPECT_FALSE(m.allclose);
  EXPECT_EQ(m.mismatched, 2);
  EXPECT_EQ(m.mismatched_fraction, 0.5);
  EXPECT_EQ(m.worst_mismatch_index, 2);
  EXPECT_EQ(m.nonfinite_mismatched, 0);
  EXPECT_EQ(m.first_nonfinite_mismatch_index, -1);
}

TEST(ComputeMetricsTest, IdenticalTensors) {
  const Metrics m = compute_metrics(floats({-1, 0, 5}), floats({-1, 0, 5}));
  EXPECT_EQ(m.pcc, 1.0);
  EXPECT_EQ(m.max_abs_error, 0.0);
  EXPECT_EQ(m.max_abs_error_index, 0);  // The first of the equal maxima.
  EXPECT_EQ(m.nmse, 0.0);
  EXPECT_EQ(m.cosine_similarity, 1.0);
  EXPECT_TRUE(m.allclose);
  EXPECT_EQ(m.worst_mismatch_index, -1);
}

TEST(ComputeMetricsTest, RelativeErrorReplacesZeroByEpsilon) {
  const Metrics m = compute_metrics(floats({1e-20f, 0.0f}), floats({0.0f, 0.0f}));
  EXPECT_EQ(m.max_rel_error, static_cast<double>(1e-20f) / kEpsilon);
  EXPECT_EQ(m.nmse, std::numeric_limits<double>::infinity());  // sum e^2 == 0, a != e.
  EXPECT_EQ(m.cosine_similarity, 0.0);                         // Only one side is all zero.
}

TEST(ComputeMetricsTest, EmptyTensors) {
  const Metrics m =
      compute_metrics(Tensor({2, 0}, DType::float32), Tensor({2, 0}, DType::bfloat16));
  EXPECT_EQ(m.numel, 0);
  EXPECT_EQ(m.finite_pairs, 0);
  EXPECT_EQ(m.pcc, 1.0);
  EXPECT_EQ(m.max_abs_error, 0.0);
  EXPECT_EQ(m.max_abs_error_index, -1);
  EXPECT_EQ(m.mean_abs_error, 0.0);
  EXPECT_EQ(m.rmse, 0.0);
  EXPECT_EQ(m.nmse, 0.0);
  EXPECT_EQ(m.cosine_similarity, 1.0);
  EXPECT_TRUE(m.allclose);
  EXPECT_EQ(m.mismatched_fraction, 0.0);
  ASSERT_TRUE(m.quantiles.has_value());
  EXPECT_EQ(m.quantiles->p99, 0.0);
  ASSERT_TRUE(m.histogram.has_value());
  EXPECT_EQ(m.histogram->counts, std::vector<std::int64_t>(10, 0));
}

TEST(ComputeMetricsTest, SingleElement) {
  const Metrics m = compute_metrics(Tensor::scalar(1.5f), Tensor::scalar(1.0f));
  EXPECT_TRUE(m.shape.empty());
  EXPECT_EQ(m.numel, 1);
  EXPECT_EQ(m.pcc, 0.0);
  EXPECT_EQ(m.max_abs_error, 0.5);
  EXPECT_EQ(m.max_abs_error_index, 0);
  EXPECT_EQ(m.quantiles->p50, 0.5);
  EXPECT_EQ(m.quantiles->p99, 0.5);
}

TEST(ComputeMetricsTest, ConstantTensors) {
  const Metrics m = compute_metrics(floats({3, 3, 3, 3}), floats({2, 2, 2, 2}));
  EXPECT_EQ(m.pcc, 0.0);
  EXPECT_EQ(m.max_abs_error, 1.0);
  EXPECT_EQ(m.max_abs_error_index, 0);
  EXPECT_EQ(m.cosine_similarity, 1.0);  // Parallel vectors.
  EXPECT_EQ(m.max_rel_error, 0.5);
}

TEST(ComputeMetricsTest, NonFiniteValuesOnEitherSide) {
  // Positions: 0 NaN/NaN (match), 1 +Inf/+Inf (match), 2 +Inf/-Inf (mismatch), 3 NaN/1 (mismatch),
  // 4 1/-Inf (mismatch), 5 2/2.5 (finite pair).
  const Metrics m = compute_metrics(floats({kNaN, kInf, kInf, kNaN, 1, 2}),
                                    floats({kNaN, kInf, -kInf, 1, -kInf, 2.5}));
  EXPECT_EQ(m.nan_actual, 2);
  EXPECT_EQ(m.nan_expected, 1);
  EXPECT_EQ(m.inf_actual, 2);
  EXPECT_EQ(m.inf_expected, 3);
  EXPECT_EQ(m.nonfinite_mismatched, 3);
  EXPECT_EQ(m.first_nonfinite_mismatch_index, 2);
  EXPECT_EQ(m.finite_pairs, 1);
  EXPECT_EQ(m.max_abs_error, 0.5);
  EXPECT_EQ(m.max_abs_error_index, 5);
  EXPECT_EQ(m.mean_abs_error, 0.5);
  EXPECT_FALSE(m.allclose);
  EXPECT_EQ(m.mismatched, 4);  // 3 non-finite plus position 5.
  EXPECT_EQ(m.worst_mismatch_index, 2);
  // Masked: a = [0, 0, 0, 0, 1, 2], e = [0, 0, 0, 1, 0, 2.5]: means 0.5 and 7/12.
  const std::vector<double> a = {0, 0, 0, 0, 1, 2};
  const std::vector<double> e = {0, 0, 0, 1, 0, 2.5};
  EXPECT_THAT(m.pcc, DoubleNear(ttt::testing::naive_masked_pearson(a, e), 1e-15));
}

TEST(ComputeMetricsTest, OppositeInfinitiesMismatchEqualOnesMatch) {
  const Metrics opposite = compute_metrics(floats({kInf, 1}), floats({-kInf, 1}));
  EXPECT_EQ(opposite.nonfinite_mismatched, 1);
  EXPECT_FALSE(opposite.allclose);
  const Metrics same = compute_metrics(floats({-kInf, 1}), floats({-kInf, 1}));
  EXPECT_EQ(same.nonfinite_mismatched, 0);
  EXPECT_TRUE(same.allclose);
  EXPECT_EQ(same.max_abs_error, 0.0);
}

TEST(ComputeMetricsTest, HugeValuesDoNotOverflowTheSums) {
  const float big = 3e38f;
  const Metrics m = compute_metrics(floats({big, -big, big}), floats({-big, big, big}));
  const double b = static_cast<double>(big);
  EXPECT_EQ(m.max_abs_error, 2.0 * b);
  EXPECT_EQ(m.max_abs_error_index, 0);
  EXPECT_EQ(m.mean_abs_error, 4.0 * b / 3.0);
  EXPECT_EQ(m.rmse, std::sqrt(8.0 * b * b / 3.0));
  EXPECT_THAT(m.nmse, DoubleNear(8.0 / 3.0, 1e-15));
  EXPECT_THAT(m.cosine_similarity, DoubleNear(-1.0 / 3.0, 1e-15));
  EXPECT_TRUE(std::isfinite(m.pcc));
  EXPECT_EQ(m.inf_actual, 0);
}

TEST(ComputeMetricsTest, ShapeMismatchNamesBothShapes) {
  try {
    compute_metrics(Tensor({2, 3}, DType::float32), Tensor({3, 2}, DType::float32));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "[compute_metrics] shapes differ: actual [2, 3], expected [3, 2]");
  }
  EXPECT_THROW(compute_metrics(Tensor({6}, DType::float32), Tensor({2, 3}, DType::float32)),
               std::invalid_argument);
  EXPECT_THROW(compute_metrics(Tensor(), Tensor({2}, DType::float32)), std::invalid_argument);
}

TEST(ComputeMetricsTest, InvalidOptionsThrow) {
  const Tensor t = floats({1, 2});
  MetricsOptions negative;
  negative.rtol = -1.0;
  EXPECT_THROW(compute_metrics(t, t, negative), std::invalid_argument);
  MetricsOptions nan_atol;
  nan_atol.atol = std::nan("");
  EXPECT_THROW(compute_metrics(t, t, nan_atol), std::invalid_argument);
  MetricsOptions no_bins;
  no_bins.histogram_bins = 0;
  try {
    compute_metrics(t, t, no_bins);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("histogram_bins 0"));
  }
}

TEST(ComputeMetricsTest, IntegersAgainstFloats) {
  const Metrics m = compute_metrics(Tensor::from_int32({3}, {1, 2, 3}), floats({1.0f, 2.5f, 3.0f}));
  EXPECT_EQ(m.actual_dtype, DType::int32);
  EXPECT_EQ(m.max_abs_error, 0.5);
  EXPECT_EQ(m.max_abs_error_index, 1);
  EXPECT_EQ(m.rtol, 1.3e-6);  // The looser of int32 (0, 0) and float32.
  // Expected float32: ULP at 2.5 is 2^-22, so 0.5 is 2^21 ULPs.
  EXPECT_EQ(m.max_ulp_error, 2097152.0);

  const Metrics ints = compute_metrics(Tensor::from_int64({2, 2}, {10, -20, 30, 41}),
                                       Tensor::from_int64({2, 2}, {10, -20, 30, 40}));
  EXPECT_EQ(ints.max_abs_error, 1.0);
  EXPECT_EQ(ints.max_abs_error_index, 3);
  EXPECT_EQ(ints.max_ulp_error, 1.0);  // An integer's ULP is 1.
  EXPECT_EQ(ints.rtol, 0.0);
  EXPECT_EQ(ints.atol, 0.0);
  EXPECT_EQ(ints.mismatched, 1);
  EXPECT_EQ(ints.worst_mismatch_index, 3);
}

// Issue 12: 2^62 + 1 against 2^62 is an error of 1 (both are 2^62 as doubles).
TEST(ComputeMetricsTest, Int64IsComparedExactly) {
  const std::int64_t big = std::int64_t{1} << 62;
  const Metrics m = compute_metrics(Tensor::from_int64({2}, {5, big}),
                                    Tensor::from_int64({2}, {5, big + 1}));
  EXPECT_EQ(m.max_abs_error, 1.0);
  EXPECT_EQ(m.max_abs_error_index, 1);
  EXPECT_EQ(m.mean_abs_error, 0.5);
  EXPECT_EQ(m.mismatched, 1);
  EXPECT_FALSE(m.allclose);
  EXPECT_EQ(m.worst_mismatch_index, 1);
  EXPECT_LT(m.pcc, 1.0);  // Not "equal once masked".
  EXPECT_FALSE(evaluate(m, default_tolerances(DType::int64)).passed);
  // Against a float64 side too: 2^62 + 1 against the double 2^62.
  const Metrics mixed = compute_metrics(Tensor::from_int64({1}, {big + 1}),
                                        Tensor::from_doubles({1}, {0x1p62}));
  EXPECT_EQ(mixed.max_abs_error, 1.0);
  // The extremes do not overflow: 2^63 - 1 against -2^63 is 2^64 - 1, 2^64 as a double.
  const Metrics extremes =
      compute_metrics(Tensor::from_int64({1}, {std::numeric_limits<std::int64_t>::max()}),
                      Tensor::from_int64({1}, {std::numeric_limits<std::int64_t>::min()}));
  EXPECT_EQ(extremes.max_abs_error, 0x1p64);
}

// Issue 12: a float64 error of 1e-9 on values near 0.02 read as 1.86e-9 when float64 data was
// rounded to float32 (whose spacing there is 1.86e-9). Kept as float64, every metric sees the
// stored doubles: the differences below are exact (Sterbenz), so they are the errors to the bit.
TEST(ComputeMetricsTest, Float64ErrorsAreNotRoundedToFloat32) {
  std::vector<double> expected(64);
  std::vector<double> actual(64);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    expected[i] = 0.02 + 1e-4 * static_cast<double>(i);
    actual[i] = expected[i] + (i % 4 == 0 ? 1e-9 : 0.0);
  }
  double max_difference = 0.0;
  double sum_difference = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    max_difference = std::max(max_difference, actual[i] - expected[i]);
    sum_difference += actual[i] - expected[i];
  }
  const Metrics m = compute_metrics(Tensor::from_doubles({64}, actual),
                                    Tensor::from_doubles({64}, expected));
  EXPECT_EQ(m.actual_dtype, DType::float64);
  EXPECT_EQ(m.max_abs_error, max_difference);
  EXPECT_THAT(m.max_abs_error, DoubleNear(1e-9, 1e-17));  // 1e-9 up to the data's own rounding.
  EXPECT_DOUBLE_EQ(m.mean_abs_error, sum_difference / 64.0);
  EXPECT_THAT(m.mean_abs_error, DoubleNear(1e-9 / 4.0, 1e-17));
  EXPECT_EQ(m.rtol, 1e-7);  // torch's float64 defaults.
  EXPECT_EQ(m.atol, 1e-7);
  // float64 ULPs: at 0.02 (exponent -6) one ULP is 2^-58, so 1e-9 is about 2.9e8 ULPs.
  EXPECT_THAT(m.max_ulp_error, DoubleNear(max_difference * 0x1p58, 1.0));
  // nmse = 16 * (1e-9)^2 / sum(expected^2) ~ 1.6e-17 / 0.035 ~ 4.6e-16, far above float64's
  // default 2^-90 (~8e-28): an error of 1e-9 is no float64 rounding, so the default fails it.
  EXPECT_THAT(m.nmse, DoubleNear(4.6e-16, 0.1e-16));
  EXPECT_FALSE(evaluate(m, default_tolerances(DType::float64)).passed);
}

TEST(ComputeMetricsTest, Float64ExtremesStayFinite) {
  // The difference of two finite doubles can exceed the largest double: it is clamped to it, so
  // the error metrics and the quantiles stay defined. An error at an expected zero is at most the
  // largest double in ULPs (2^-1074 each).
  const Metrics m = compute_metrics(Tensor::from_doubles({3}, {1.5e308, 0.0, 1e-3}),
                                    Tensor::from_doubles({3}, {-1.5e308, 0.0, 0.0}));
  EXPECT_EQ(m.max_abs_error, std::numeric_limits<double>::max());
  EXPECT_EQ(m.max_abs_error_index, 0);
  EXPECT_EQ(m.finite_pairs, 3);
  EXPECT_EQ(m.nonfinite_mismatched, 0);
  EXPECT_EQ(m.max_ulp_error, std::numeric_limits<double>::max());
  ASSERT_TRUE(m.quantiles.has_value());
  EXPECT_EQ(m.quantiles->p50, 1e-3);
  ASSERT_TRUE(m.histogram.has_value());
  EXPECT_EQ(m.histogram->counts.back(), 1);
}

TEST(ComputeMetricsTest, ViewsAreComparedInPlace) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<float> e = {1, 2, 3, 4, 5, 7};
  const Metrics m = compute_metrics(Tensor::view({2, 3}, DType::float32, a.data()),
                                    Tensor::view({2, 3}, DType::float32, e.data()));
  EXPECT_EQ(m.max_abs_error, 1.0);
  EXPECT_EQ(m.max_abs_error_index, 5);
}

TEST(DefaultAllcloseToleranceTest, TorchTableAndDerivedBlockFormats) {
  EXPECT_EQ(default_allclose_tolerance(DType::float32).rtol, 1.3e-6);
  EXPECT_EQ(default_allclose_tolerance(DType::float32).atol, 1e-5);
  EXPECT_EQ(default_allclose_tolerance(DType::float16).rtol, 1e-3);
  EXPECT_EQ(default_allclose_tolerance(DType::float16).atol, 1e-5);
  EXPECT_EQ(default_allclose_tolerance(DType::bfloat16).rtol, 1.6e-2);
  EXPECT_EQ(default_allclose_tolerance(DType::bfloat16).atol, 1e-5);
  EXPECT_EQ(default_allclose_tolerance(DType::bfloat8_b).rtol, 0.03125);
  EXPECT_EQ(default_allclose_tolerance(DType::bfloat8_b).atol, 0.03125);
  EXPECT_EQ(default_allclose_tolerance(DType::bfloat4_b).rtol, 0.5);
  EXPECT_EQ(default_allclose_tolerance(DType::bfloat4_b).atol, 0.5);
  EXPECT_EQ(default_allclose_tolerance(DType::int32).rtol, 0.0);
  EXPECT_EQ(default_allclose_tolerance(DType::int64).atol, 0.0);
  const AllcloseTolerance mixed = default_allclose_tolerance(DType::float32, DType::bfloat16);
  EXPECT_EQ(mixed.rtol, 1.6e-2);
  EXPECT_EQ(mixed.atol, 1e-5);
}

TEST(AllcloseTest, BfloatSixteenExpectedUsesItsDefaults) {
  // rtol 1.6e-2, atol 1e-5: at e = 1 the tolerance is 0.01601.
  const Metrics m = compute_metrics(floats({1.016f, 1.017f, 0.0f, 100.0f}),
                                    floats({1.0f, 1.0f, 0.0f, 101.0f}, DType::bfloat16));
  EXPECT_EQ(m.expected_dtype, DType::bfloat16);
  EXPECT_EQ(m.rtol, 1.6e-2);
  EXPECT_EQ(m.atol, 1e-5);
  EXPECT_EQ(m.mismatched, 1);  // Only 1.017 (0.017 > 0.01601); 1 vs 100 is within 1.616.
  EXPECT_EQ(m.worst_mismatch_index, 1);
  EXPECT_EQ(m.mismatched_fraction, 0.25);
}

TEST(AllcloseTest, ExplicitTolerancesOverrideDefaults) {
  MetricsOptions options;
  options.rtol = 0.0;
  options.atol = 0.25;
  const Metrics m =
      compute_metrics(floats({0.0f, 0.3f, 0.5f, -0.2f}), floats({0, 0, 0, 0}), options);
  EXPECT_EQ(m.mismatched, 2);
  EXPECT_EQ(m.worst_mismatch_index, 2);  // Excess 0.25 beats 0.05.
  EXPECT_EQ(m.atol, 0.25);
}

TEST(AllcloseTest, DerivedBlockDefaultsAcceptQuantisationOfUnitScaleData) {
  // The derivation of docs/metrics.md: quantising normal(0, 1) data to bfloat8_b (or bfloat4_b)
  // stays within the derived defaults, while a clear error at |e| ~ 1 fails them.
  ttt::testing::TestRandom random(31);
  const std::vector<float> original = random.normals(64 * 256);
  const Tensor reference = Tensor::from_floats({64, 256}, original);
  std::size_t unit_index = 0;
  while (std::fabs(original[unit_index]) < 0.9f || std::fabs(original[unit_index]) > 1.5f) {
    ++unit_index;
  }
  for (DType dtype : {DType::bfloat8_b, DType::bfloat4_b}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    const Tensor device = reference.to(dtype);
    const Metrics m = compute_metrics(device, reference);
    EXPECT_EQ(m.rtol, default_allclose_tolerance(dtype).rtol);
    EXPECT_EQ(m.atol, default_allclose_tolerance(dtype).atol);
    EXPECT_TRUE(m.allclose) << m.mismatched << " mismatched";
    EXPECT_GT(m.max_abs_error, 0.0);
    // Quantisation moves this value by at most half a unit (2^-5 or 2^-1); the tolerance at
    // |e| <= 1.5 is at most 0.078 (bfloat8_b) or 1.25 (bfloat4_b).
    std::vector<float> broken(device.floats().begin(), device.floats().end());
    broken[unit_index] += dtype == DType::bfloat8_b ? 0.2f : 2.0f;
    MetricsOptions block_defaults;
    block_defaults.rtol = m.rtol;
    block_defaults.atol = m.atol;
    const Metrics b =
        compute_metrics(Tensor::from_floats({64, 256}, broken), reference, block_defaults);
    EXPECT_EQ(b.mismatched, 1);
    EXPECT_EQ(b.worst_mismatch_index, static_cast<std::int64_t>(unit_index));
  }
}

TEST(AllcloseTest, BfloatSixteenQuantisationPassesItsDefaults) {
  ttt::testing::TestRandom random(32);
  const Tensor reference = Tensor::from_floats({4096}, random.normals(4096, 0.0, 3.0));
  const Tensor device = reference.to(DType::bfloat16);
  EXPECT_TRUE(compute_metrics(device, reference).allclose);
  MetricsOptions float32_defaults;
  float32_defaults.rtol = default_allclose_tolerance(DType::float32).rtol;
  float32_defaults.atol = default_allclose_tolerance(DType::float32).atol;
  EXPECT_FALSE(compute_metrics(device, reference, float32_defaults).allclose);
}

TEST(UlpTest, Float32) {
  const float one_up = std::nextafter(1.0f, 2.0f);
  const Metrics m = compute_metrics(floats({one_up, 1.0f}), floats({1.0f, 1.0f}));
  EXPECT_EQ(m.max_ulp_error, 1.0);
  // At zero the ULP is the smallest subnormal, 2^-149.
  EXPECT_EQ(compute_metrics(floats({0x1p-148f}), floats({0.0f})).max_ulp_error, 2.0);
  // Just below 2 the ULP is 2^-23; an error of 4 * 2^-23 is 4 ULPs.
  EXPECT_EQ(compute_metrics(floats({2.0f - 5 * 0x1p-23f}), floats({2.0f - 0x1p-23f})).max_ulp_error,
            4.0);
}

TEST(UlpTest, Float16WithSubnormals) {
  // Normal: ULP at 1 is 2^-10. Subnormal: 3 * 2^-24 has ULP 2^-24. Zero: 2^-24.
  EXPECT_EQ(compute_metrics(floats({1.0f + 0x1p-9f}), floats({1.0f}, DType::float16)).max_ulp_error,
            2.0);
  EXPECT_EQ(
      compute_metrics(floats({5 * 0x1p-24f}), floats({3 * 0x1p-24f}, DType::float16)).max_ulp_error,
      2.0);
  EXPECT_EQ(compute_metrics(floats({0x1p-25f}), floats({0.0f}, DType::float16)).max_ulp_error, 0.5);
  // 65504, the largest float16, has ULP 32.
  EXPECT_EQ(compute_metrics(floats({65536.0f}), floats({65504.0f}, DType::float16)).max_ulp_error,
            1.0);
}

TEST(UlpTest, Bfloat16) {
  // ULP at 256 is 2; at 1 it is 2^-7; bfloat16 subnormals reach 2^-133.
  EXPECT_EQ(compute_metrics(floats({258.0f}), floats({256.0f}, DType::bfloat16)).max_ulp_error,
            1.0);
  EXPECT_EQ(
      compute_metrics(floats({1.0f + 0x1p-6f}), floats({1.0f}, DType::bfloat16)).max_ulp_error,
      2.0);
  EXPECT_EQ(compute_metrics(floats({0x1p-132f}), floats({0.0f}, DType::bfloat16)).max_ulp_error,
            2.0);
}

TEST(UlpTest, BlockFormatsUseTheBlocksMantissaUnit) {
  // Row of 20 values: block 0 (16 values) has max 1.5, so its shared exponent is that of 1 and the
  // bfloat8_b unit is 2^-6; block 1 (4 values, padded) has max 8, unit 2^-3.
  std::vector<float> expected(20, 0.0f);
  expected[0] = 1.5f;
  expected[5] = 0.25f;
  expected[16] = 8.0f;
  expected[17] = 1.0f;
  std::vector<float> actual = expected;
  actual[5] = 0.25f + 0x1p-6f;  // 1 unit of block 0.
  actual[17] = 1.25f;           // 2 units of block 1.
  const Tensor bfp8 = Tensor::from_floats({1, 20}, expected, DType::bfloat8_b);
  for (std::int64_t i : {0, 5, 16, 17})
    ASSERT_EQ(bfp8.at_flat(i), expected[static_cast<std::size_t>(i)]);
  EXPECT_EQ(compute_metrics(Tensor::from_floats({1, 20}, actual), bfp8).max_ulp_error, 2.0);
  actual[17] = 1.0f;
  EXPECT_EQ(compute_metrics(Tensor::from_floats({1, 20}, actual), bfp8).max_ulp_error, 1.0);

  // bfloat4_b: block max 1.0, unit 2^-2; 0.5 against 1.0 is 2 units.
  std::vector<float> e4(16, 0.0f);
  e4[0] = 1.0f;
  e4[1] = 0.5f;
  std::vector<float> a4 = e4;
  a4[1] = 1.0f;
  const Tensor bfp4 = Tensor::from_floats({16}, e4, DType::bfloat4_b);
  EXPECT_EQ(compute_metrics(Tensor::from_floats({16}, a4), bfp4).max_ulp_error, 2.0);
}

TEST(QuantilesTest, KnownData) {
  // |a - e| = 0, 1, ..., 100: numpy's linear quantiles are 50, 90 and 99.
  std::vector<float> actual;
  for (int i = 0; i <= 100; ++i) actual.push_back(static_cast<float>(i));
  const Metrics m = compute_metrics(floats(actual), floats(std::vector<float>(101, 0.0f)));
  ASSERT_TRUE(m.quantiles.has_value());
  EXPECT_EQ(m.quantiles->p50, 50.0);
  EXPECT_EQ(m.quantiles->p90, 90.0);
  EXPECT_EQ(m.quantiles->p99, 99.0);

  // |a - e| = 1, 2, 3, 4 (unsorted): positions 1.5, 2.7 and 2.97 interpolate.
  const Metrics small = compute_metrics(floats({3, -1, 4, 2}), floats({0, 0, 0, 0}));
  EXPECT_EQ(small.quantiles->p50, 2.5);
  EXPECT_THAT(small.quantiles->p90, DoubleNear(3.7, 1e-15));
  EXPECT_THAT(small.quantiles->p99, DoubleNear(3.97, 1e-15));
}

TEST(QuantilesTest, SkipNonFinitePairs) {
  const Metrics m = compute_metrics(floats({kNaN, 1, 2, kInf}), floats({0, 0, 0, 0}));
  EXPECT_EQ(m.quantiles->p50, 1.5);
}

TEST(HistogramTest, DecadesBelowTheMaxError) {
  // Max error 1: edges 0, 1e-9, ..., 1e-1, 1.
  const Metrics m = compute_metrics(floats({0, 1e-12f, 2e-5f, 0.05f, 0.5f, 1.0f, -0.3f}),
                                    floats({0, 0, 0, 0, 0, 0, 0}));
  ASSERT_TRUE(m.histogram.has_value());
  ASSERT_EQ(m.histogram->edges.size(), 11u);
  EXPECT_EQ(m.histogram->edges.front(), 0.0);
  EXPECT_EQ(m.histogram->edges.back(), 1.0);
  EXPECT_THAT(m.histogram->edges[1], DoubleNear(1e-9, 1e-24));
  EXPECT_THAT(m.histogram->edges[9], DoubleNear(0.1, 1e-16));
  const std::vector<std::int64_t> expected_counts = {2, 0, 0, 0, 0, 1, 0, 0, 1, 3};
  EXPECT_EQ(m.histogram->counts, expected_counts);
}

TEST(HistogramTest, AllErrorsZeroFallInTheLastBin) {
  MetricsOptions options;
  options.histogram_bins = 3;
  const Metrics m = compute_metrics(floats({1, 2}), floats({1, 2}), options);
  EXPECT_EQ(m.histogram->edges, std::vector<double>(4, 0.0));
  EXPECT_EQ(m.histogram->counts, (std::vector<std::int64_t>{0, 0, 2}));
}

TEST(HistogramTest, OptionalPassCanBeTurnedOff) {
  MetricsOptions options;
  options.quantiles = false;
  options.histogram = false;
  const Metrics m = compute_metrics(floats({1, 2}), floats({1, 3}), options);
  EXPECT_FALSE(m.quantiles.has_value());
  EXPECT_FALSE(m.histogram.has_value());
}

TEST(ComputeMetricsTest, RandomBfloat16DataMatchesNaiveLoops) {
  ttt::testing::TestRandom random(77);
  const std::vector<float> values = random.normals(3 * 5000, 0.0, 2.0);
  const Tensor expected = Tensor::from_floats({3, 5000}, values, DType::bfloat16);
  std::vector<float> noisy;
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    noisy.push_back(static_cast<float>(expected.at_flat(i) + random.normal(0.0, 0.02)));
  }
  noisy[7777] = kNaN;
  const Tensor actual = Tensor::from_floats({3, 5000}, noisy);
  const Metrics m = compute_metrics(actual, expected);

  std::vector<double> a(noisy.begin(), noisy.end());
  std::vector<double> e;
  for (std::int64_t i = 0; i < expected.numel(); ++i) e.push_back(expected.at_flat(i));
  const auto naive = ttt::testing::naive_metrics(a, e, 1.6e-2, 1e-5, [&](std::size_t i) {
    return ttt::testing::naive_ieee_ulp(e[i], 7, -126);
  });
  EXPECT_EQ(m.finite_pairs, naive.finite_pairs);
  EXPECT_EQ(m.max_abs_error, naive.max_abs_error);
  EXPECT_EQ(m.max_abs_error_index, naive.max_abs_error_index);
  EXPECT_THAT(m.mean_abs_error, DoubleNear(naive.mean_abs_error, 1e-13));
  EXPECT_THAT(m.rmse, DoubleNear(naive.rmse, 1e-13));
  EXPECT_THAT(m.nmse, DoubleNear(naive.nmse, 1e-15));
  EXPECT_THAT(m.max_rel_error, DoubleNear(naive.max_rel_error, 1e-12 * naive.max_rel_error));
  EXPECT_THAT(m.cosine_similarity, DoubleNear(naive.cosine_similarity, 1e-13));
  EXPECT_EQ(m.max_ulp_error, naive.max_ulp_error);
  EXPECT_EQ(m.mismatched, naive.mismatched);
  EXPECT_EQ(m.nan_actual, 1);
  EXPECT_EQ(m.nonfinite_mismatched, 1);
  EXPECT_EQ(m.worst_mismatch_index, 7777);
  EXPECT_THAT(m.pcc, DoubleNear(ttt::testing::naive_masked_pearson(a, e), 1e-13));
  std::vector<double> errors;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isfinite(a[i])) errors.push_back(std::fabs(a[i] - e[i]));
  }
  EXPECT_EQ(m.quantiles->p50, ttt::testing::naive_quantile(errors, 0.5));
  EXPECT_EQ(m.quantiles->p90, ttt::testing::naive_quantile(errors, 0.9));
  EXPECT_EQ(m.quantiles->p99, ttt::testing::naive_quantile(errors, 0.99));
}

}  // namespace
}  // namespace ttt

// The fused pass's kernels (portable, AVX2 and AVX-512) against the naive reference, on sizes that
// straddle the 8-value vectors and the 16384-value chunks, with and without non-finite values; the
// vector kernels against each other bit for bit; and the second pass (quantiles, histogram) of
// every kernel against its radix-select fallback and a full sort.
#include "validation/metrics/internal/passes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tests/validation/metrics/naive_metrics.h"

namespace ttt::metrics_internal {
namespace {

using ::testing::DoubleNear;
using ttt::testing::naive_ieee_ulp;
using ttt::testing::naive_masked_pearson;
using ttt::testing::naive_metrics;
using ttt::testing::TestRandom;

std::vector<Kernel> kernels_to_test() {
  std::vector<Kernel> kernels = {Kernel::portable};
  if (avx2_supported()) kernels.push_back(Kernel::avx2);
  if (avx512_supported()) kernels.push_back(Kernel::avx512);
  return kernels;
}

std::string kernel_name(Kernel kernel) {
  switch (kernel) {
    case Kernel::avx512:
      return "avx512";
    case Kernel::avx2:
      return "avx2";
    default:
      return "portable";
  }
}

struct Case {
  std::vector<float> actual;
  std::vector<float> expected;
};

// expected ~ normal(0.5, 2); actual = expected + normal(0, 0.01); a few exact matches.
Case random_case(std::size_t numel, std::uint64_t seed) {
  TestRandom random(seed);
  Case c;
  c.expected = random.normals(numel, 0.5, 2.0);
  for (std::size_t i = 0; i < numel; ++i) {
    const bool exact = random.uniform() < 0.05;
    c.actual.push_back(exact ? c.expected[i]
                             : c.expected[i] + static_cast<float>(random.normal(0.0, 0.01)));
  }
  if (numel > 3) c.expected[3] = 0.0f;  // Exercises the epsilon of max_rel_error.
  return c;
}

PassInput float_input(const Case& c, double rtol, double atol) {
  PassInput input;
  input.actual = c.actual.data();
  input.expected = c.expected.data();
  input.numel = static_cast<std::int64_t>(c.actual.size());
  input.rtol = rtol;
  input.atol = atol;
  input.ulp = {UlpRule::Kind::ieee, 23, -126, 1};
  return input;
}

void expect_matches_naive(const Case& c, const PassTotals& t, double rtol, double atol) {
  const std::vector<double> a(c.actual.begin(), c.actual.end());
  const std::vector<double> e(c.expected.begin(), c.expected.end());
  const auto naive = naive_metrics(a, e, rtol, atol,
                                   [&](std::size_t i) { return naive_ieee_ulp(e[i], 23, -126); });
  EXPECT_EQ(t.numel, static_cast<std::int64_t>(a.size()));
  EXPECT_EQ(t.finite_pairs, naive.finite_pairs);
  EXPECT_EQ(t.nan_actual, naive.nan_actual);
  EXPECT_EQ(t.nan_expected, naive.nan_expected);
  EXPECT_EQ(t.inf_actual, naive.inf_actual);
  EXPECT_EQ(t.inf_expected, naive.inf_expected);
  EXPECT_EQ(t.nonfinite_mismatched, naive.nonfinite_mismatched);
  EXPECT_EQ(t.first_nonfinite_mismatch, naive.first_nonfinite_mismatch);
  EXPECT_EQ(t.max_abs_error, naive.max_abs_error);
  EXPECT_EQ(t.max_abs_error_index, naive.max_abs_error_index);
  const double pairs = static_cast<double>(naive.finite_pairs);
  EXPECT_THAT(t.sum_abs_error / pairs,
              DoubleNear(naive.mean_abs_error, 1e-12 * naive.mean_abs_error));
  EXPECT_THAT(std::sqrt(t.sum_squared_error / pairs), DoubleNear(naive.rmse, 1e-12 * naive.rmse));
  EXPECT_THAT(t.sum_squared_error / t.sum_expected_squared,
              DoubleNear(naive.nmse, 1e-12 * naive.nmse));
  EXPECT_THAT(t.sum_product / std::sqrt(t.sum_actual_squared * t.sum_expected_squared),
              DoubleNear(naive.cosine_similarity, 1e-13));
  EXPECT_THAT(t.max_rel_error, DoubleNear(naive.max_rel_error, 1e-15 * naive.max_rel_error));
  EXPECT_EQ(t.max_ulp_error, naive.max_ulp_error);
  EXPECT_EQ(t.mismatched + t.nonfinite_mismatched, naive.mismatched);
  EXPECT_THAT(t.co_moment / std::sqrt(t.m2_actual * t.m2_expected),
              DoubleNear(naive_masked_pearson(a, e), 1e-13));
}

TEST(FusedPassTest, KernelsMatchNaiveLoopsAcrossChunkBoundaries) {
  for (std::size_t numel : {1u, 7u, 8u, 9u, 16383u, 16384u, 16385u, 32781u, 100003u}) {
    const Case c = random_case(numel, 1000 + numel);
    for (Kernel kernel : kernels_to_test()) {
      SCOPED_TRACE("numel " + std::to_string(numel) + ", kernel " + kernel_name(kernel));
      const PassTotals t = fused_pass(float_input(c, 1e-3, 1e-2), kernel);
      if (numel == 1) {
        EXPECT_EQ(t.max_abs_error, std::fabs(double{c.actual[0]} - double{c.expected[0]}));
        continue;
      }
      expect_matches_naive(c, t, 1e-3, 1e-2);
      EXPECT_GT(t.mismatched, 0);
      EXPECT_FALSE(t.actual_constant);
      EXPECT_TRUE(t.actual_nonzero);
      EXPECT_FALSE(t.masked_equal);
    }
  }
}

TEST(FusedPassTest, NonFiniteValuesInsideVectorChunksFallBackExactly) {
  Case c = random_case(50003, 7);
  c.actual[20000] = NAN;         // Second chunk: NaN facing a finite value.
  c.expected[20001] = INFINITY;  // Inf facing a finite value.
  c.actual[36000] = INFINITY;    // Same Inf on both sides (third chunk): a match.
  c.expected[36000] = INFINITY;
  c.actual[36001] = -INFINITY;  // Opposite signs: a mismatch.
  c.expected[36001] = INFINITY;
  c.actual[40000] = NAN;  // NaN facing NaN: a match.
  c.expected[40000] = NAN;
  c.actual[50002] = -INFINITY;  // In the scalar tail of the last chunk.
  for (Kernel kernel : kernels_to_test()) {
    SCOPED_TRACE(kernel_name(kernel));
    const PassTotals t = fused_pass(float_input(c, 1e-3, 1e-2), kernel);
    expect_matches_naive(c, t, 1e-3, 1e-2);
    EXPECT_EQ(t.nan_actual, 2);
    EXPECT_EQ(t.nan_expected, 1);
    EXPECT_EQ(t.inf_actual, 3);
    EXPECT_EQ(t.inf_expected, 3);
    EXPECT_EQ(t.nonfinite_mismatched, 4);
    EXPECT_EQ(t.first_nonfinite_mismatch, 20000);
    EXPECT_EQ(t.finite_pairs, 50003 - 6);
  }
}

TEST(FusedPassTest, LocatesTheFirstOfEqualMaxima) {
  std::vector<float> expected(40000, 1.0f);
  std::vector<float> actual(expected);
  actual[20500] = 3.0f;  // Error 2, twice in the second chunk and once in the third: the first.
  actual[21000] = 3.0f;
  actual[33000] = 3.0f;
  actual[6000] = 1.5f;
  const Case c{actual, expected};
  for (Kernel kernel : kernels_to_test()) {
    SCOPED_TRACE(kernel_name(kernel));
    const PassTotals t = fused_pass(float_input(c, 0.0, 0.1), kernel);
    EXPECT_EQ(t.max_abs_error, 2.0);
    EXPECT_EQ(t.max_abs_error_index, 20500);
    EXPECT_EQ(t.mismatched, 4);
    EXPECT_EQ(t.worst_mismatch_index, 20500);
    EXPECT_TRUE(t.expected_constant);
    EXPECT_EQ(t.expected_value, 1.0);
    EXPECT_FALSE(t.actual_constant);
  }
}

TEST(FusedPassTest, PearsonSurvivesALargeCommonOffset) {
  // float32 values around 1e6 (spacing 0.0625): the raw sums of squares would cancel
  // catastrophically; per-chunk shifts and Chan's merge keep Pearson to 1e-12.
  Case c;
  for (int i = 0; i < 50000; ++i) {
    c.expected.push_back(1e6f + 0.0625f * static_cast<float>(i % 13));
    c.actual.push_back(1e6f + 0.0625f * static_cast<float>(i % 13 + (i % 3 == 0 ? 1 : 0)));
  }
  const std::vector<double> a(c.actual.begin(), c.actual.end());
  const std::vector<double> e(c.expected.begin(), c.expected.end());
  const double expected_pcc = naive_masked_pearson(a, e);
  EXPECT_GT(expected_pcc, 0.9);
  EXPECT_LT(expected_pcc, 0.999);
  for (Kernel kernel : kernels_to_test()) {
    SCOPED_TRACE(kernel_name(kernel));
    const PassTotals t = fused_pass(float_input(c, 0.0, 0.0), kernel);
    EXPECT_THAT(t.co_moment / std::sqrt(t.m2_actual * t.m2_expected),
                DoubleNear(expected_pcc, 1e-12));
  }
}

TEST(FusedPassTest, IntegerSidesUseThePortableKernel) {
  const std::vector<std::int64_t> actual = {1, -2, 3, 9007199254740993};  // 2^53 + 1.
  const std::vector<std::int32_t> expected = {1, 2, 3, 4};
  PassInput input;
  input.actual = actual.data();
  input.actual_type = ElementType::int64;
  input.expected = expected.data();
  input.expected_type = ElementType::int32;
  input.numel = 4;
  input.ulp = {UlpRule::Kind::integer, 0, 0, 1};
  const PassTotals t = fused_pass(input);
  // An int64 side is subtracted exactly: (2^53 + 1) - 4, which a double difference would round
  // to 2^53 - 4.
  EXPECT_EQ(t.max_abs_error, 9007199254740989.0);
  EXPECT_EQ(t.max_abs_error_index, 3);
  EXPECT_EQ(t.max_ulp_error, t.max_abs_error);
  EXPECT_EQ(t.mismatched, 2);
  EXPECT_EQ(t.finite_pairs, 4);
  EXPECT_THROW(fused_pass(input, Kernel::avx512), std::logic_error);
  EXPECT_THROW(fused_pass(input, Kernel::avx2), std::logic_error);
  EXPECT_THROW(error_distribution(input, 4, 1.0, true, 10, Kernel::avx2), std::logic_error);
}

// Every field of two PassTotals, compared exactly.
void expect_same_bits(const PassTotals& a, const PassTotals& b) {
  EXPECT_EQ(a.numel, b.numel);
  EXPECT_EQ(a.finite_pairs, b.finite_pairs);
  EXPECT_EQ(a.nan_actual, b.nan_actual);
  EXPECT_EQ(a.nan_expected, b.nan_expected);
  EXPECT_EQ(a.inf_actual, b.inf_actual);
  EXPECT_EQ(a.inf_expected, b.inf_expected);
  EXPECT_EQ(a.nonfinite_mismatched, b.nonfinite_mismatched);
  EXPECT_EQ(a.first_nonfinite_mismatch, b.first_nonfinite_mismatch);
  EXPECT_EQ(a.mean_actual, b.mean_actual);
  EXPECT_EQ(a.mean_expected, b.mean_expected);
  EXPECT_EQ(a.m2_actual, b.m2_actual);
  EXPECT_EQ(a.m2_expected, b.m2_expected);
  EXPECT_EQ(a.co_moment, b.co_moment);
  EXPECT_EQ(a.actual_constant, b.actual_constant);
  EXPECT_EQ(a.expected_constant, b.expected_constant);
  EXPECT_EQ(a.actual_nonzero, b.actual_nonzero);
  EXPECT_EQ(a.expected_nonzero, b.expected_nonzero);
  EXPECT_EQ(a.masked_equal, b.masked_equal);
  EXPECT_EQ(a.sum_abs_error, b.sum_abs_error);
  EXPECT_EQ(a.sum_squared_error, b.sum_squared_error);
  EXPECT_EQ(a.sum_actual_squared, b.sum_actual_squared);
  EXPECT_EQ(a.sum_expected_squared, b.sum_expected_squared);
  EXPECT_EQ(a.sum_product, b.sum_product);
  EXPECT_EQ(a.max_abs_error, b.max_abs_error);
  EXPECT_EQ(a.max_abs_error_index, b.max_abs_error_index);
  EXPECT_EQ(a.max_rel_error, b.max_rel_error);
  EXPECT_EQ(a.max_ulp_error, b.max_ulp_error);
  EXPECT_EQ(a.mismatched, b.mismatched);
  EXPECT_EQ(a.worst_mismatch_index, b.worst_mismatch_index);
}

TEST(FusedPassTest, Avx2KernelGivesTheAvx512KernelsBits) {
  if (!avx2_supported() || !avx512_supported()) {
    GTEST_SKIP() << "needs a CPU with both AVX2 and AVX-512";
  }
  for (std::size_t numel : {7u, 8u, 9u, 16383u, 16385u, 50003u}) {
    SCOPED_TRACE("numel " + std::to_string(numel));
    Case c = random_case(numel, 300 + numel);
    expect_same_bits(fused_pass(float_input(c, 1e-3, 1e-2), Kernel::avx2),
                     fused_pass(float_input(c, 1e-3, 1e-2), Kernel::avx512));
    if (numel > 20000) {
      c.actual[17000] = NAN;  // A chunk both kernels hand to the portable kernel.
      c.expected[40000] = -INFINITY;
      expect_same_bits(fused_pass(float_input(c, 1e-3, 1e-2), Kernel::avx2),
                       fused_pass(float_input(c, 1e-3, 1e-2), Kernel::avx512));
    }
  }
}

// The finite |a - e| of a case, in double as the passes compute them.
std::vector<double> finite_errors(const Case& c) {
  std::vector<double> errors;
  for (std::size_t i = 0; i < c.actual.size(); ++i) {
    const double error = std::fabs(double{c.actual[i]} - double{c.expected[i]});
    if (std::isfinite(error)) errors.push_back(error);
  }
  return errors;
}

// error_distribution with every kernel equals the radix select and a full sort, quantiles and
// histogram bit for bit.
void expect_distribution_exact(const Case& c, double max_abs_error, int bins) {
  const std::vector<double> errors = finite_errors(c);
  const auto pairs = static_cast<std::int64_t>(errors.size());
  const PassInput input = float_input(c, 0.0, 0.0);
  const ErrorDistribution radix =
      radix_error_distribution(input, pairs, max_abs_error, true, bins);
  ASSERT_TRUE(radix.quantiles.has_value());
  ASSERT_TRUE(radix.histogram.has_value());
  if (pairs > 0) {
    EXPECT_EQ(radix.quantiles->p50, ttt::testing::naive_quantile(errors, 0.5));
    EXPECT_EQ(radix.quantiles->p90, ttt::testing::naive_quantile(errors, 0.9));
    EXPECT_EQ(radix.quantiles->p99, ttt::testing::naive_quantile(errors, 0.99));
  }
  for (Kernel kernel : kernels_to_test()) {
    SCOPED_TRACE(kernel_name(kernel));
    const ErrorDistribution d = error_distribution(input, pairs, max_abs_error, true, bins, kernel);
    ASSERT_TRUE(d.quantiles.has_value());
    ASSERT_TRUE(d.histogram.has_value());
    EXPECT_EQ(d.quantiles->p50, radix.quantiles->p50);
    EXPECT_EQ(d.quantiles->p90, radix.quantiles->p90);
    EXPECT_EQ(d.quantiles->p99, radix.quantiles->p99);
    EXPECT_EQ(d.histogram->edges, radix.histogram->edges);
    EXPECT_EQ(d.histogram->counts, radix.histogram->counts);
  }
}

TEST(ErrorDistributionTest, EveryKernelMatchesTheRadixSelectAcrossTails) {
  // Sizes below and above the 65536-value sample (sampled whole, then strided), with tails that
  // are not a multiple of the 4- and 8-value vectors or of the 1024-value blocks.
  for (std::size_t numel : {1u, 2u, 5u, 13u, 1023u, 1025u, 65536u, 65537u, 300007u}) {
    SCOPED_TRACE("numel " + std::to_string(numel));
    const Case c = random_case(numel, 500 + numel);
    const std::vector<double> errors = finite_errors(c);
    expect_distribution_exact(c, *std::max_element(errors.begin(), errors.end()), 10);
  }
}

TEST(ErrorDistributionTest, NonFiniteValuesAreLeftOutByEveryKernel) {
  Case c = random_case(200003, 17);
  c.actual[5] = NAN;
  c.expected[70001] = INFINITY;
  c.actual[123457] = -INFINITY;
  c.expected[123457] = -INFINITY;  // Equal infinities: still not a finite pair.
  c.actual[200002] = NAN;          // In the tail.
  const std::vector<double> errors = finite_errors(c);
  ASSERT_EQ(errors.size(), 200003u - 4u);
  expect_distribution_exact(c, *std::max_element(errors.begin(), errors.end()), 7);
}

TEST(ErrorDistributionTest, ManyEqualErrorsAndEdgesOnValues) {
  // Errors 0, 0.5 and 1 only (most of them equal), with edges of 1/8 and 1/2 that fall on values.
  Case c;
  for (int i = 0; i < 100001; ++i) {
    c.expected.push_back(0.0f);
    c.actual.push_back(i % 10 == 0 ? 1.0f : (i % 10 < 4 ? 0.5f : 0.0f));
  }
  expect_distribution_exact(c, 1.0, 3);
}

TEST(ErrorDistributionTest, ASampleUnlikeTheDataFallsBackToTheRadixSelect) {
  // 262144 values sampled every 4th position: the sampled positions hold error 0, all others
  // errors near 1, so the sample puts every bracket at 0 and the pass must fall back.
  const std::size_t numel = 262144;
  TestRandom random(23);
  Case c;
  for (std::size_t i = 0; i < numel; ++i) {
    c.expected.push_back(0.0f);
    c.actual.push_back(i % 4 == 0 ? 0.0f : static_cast<float>(random.uniform(1.0, 2.0)));
  }
  const std::vector<double> errors = finite_errors(c);
  expect_distribution_exact(c, *std::max_element(errors.begin(), errors.end()), 10);
}

TEST(ErrorDistributionTest, QuantilesMatchAFullSortThroughEveryRadixLevel) {
  // 6M errors in one first-level bucket ([1, 1.0625)), 5M of them equal: the radix select has to
  // go down all 64 bits for the bucket that never shrinks below the gather limit (4M), and
  // gathers the candidates for the others at the second level.
  const std::size_t numel = 6'000'000;
  std::vector<float> expected(numel, 0.0f);
  std::vector<float> actual(numel);
  TestRandom random(99);
  std::vector<double> errors;
  for (std::size_t i = 0; i < numel; ++i) {
    actual[i] = i % 6 == 0 ? static_cast<float>(random.uniform(1.0, 1.0625)) : 1.03125f;
    errors.push_back(actual[i]);
  }
  std::sort(errors.begin(), errors.end());
  Case c{actual, expected};
  const ErrorDistribution distribution = error_distribution(
      float_input(c, 0.0, 0.0), static_cast<std::int64_t>(numel), 1.0625, true, 0);
  ASSERT_TRUE(distribution.quantiles.has_value());
  EXPECT_FALSE(distribution.histogram.has_value());
  EXPECT_EQ(distribution.quantiles->p50, ttt::testing::naive_quantile(errors, 0.5));
  EXPECT_EQ(distribution.quantiles->p90, ttt::testing::naive_quantile(errors, 0.9));
  EXPECT_EQ(distribution.quantiles->p99, ttt::testing::naive_quantile(errors, 0.99));
  // p99 lies among the uniform values above 1.03125, p50 and p90 among the equal ones.
  EXPECT_EQ(distribution.quantiles->p50, 1.03125);
  EXPECT_GT(distribution.quantiles->p99, 1.03125);
}

TEST(ErrorDistributionTest, HistogramCountsValuesInCutBucketsOneByOne) {
  // Max error 1: the edge 1e-1 cuts the first-level bucket [0.09765625, 0.1015625); values on both
  // sides of it must land in different bins.
  Case c;
  for (float error : {0.095f, 0.0999f, 0.1001f, 0.101f, 1.0f, 0.5f, 0.0f}) {
    c.actual.push_back(error);
    c.expected.push_back(0.0f);
  }
  const ErrorDistribution distribution =
      error_distribution(float_input(c, 0.0, 0.0), 7, 1.0, false, 10);
  ASSERT_TRUE(distribution.histogram.has_value());
  EXPECT_FALSE(distribution.quantiles.has_value());
  const std::vector<std::int64_t> expected_counts = {1, 0, 0, 0, 0, 0, 0, 0, 2, 4};
  EXPECT_EQ(distribution.histogram->counts, expected_counts);
}

TEST(ErrorDistributionTest, QuantilesOfWidelySpreadErrors) {
  const Case c = random_case(200001, 5);
  std::vector<double> errors;
  for (std::size_t i = 0; i < c.actual.size(); ++i) {
    errors.push_back(std::fabs(double{c.actual[i]} - double{c.expected[i]}));
  }
  const ErrorDistribution distribution = error_distribution(
      float_input(c, 0.0, 0.0), static_cast<std::int64_t>(errors.size()), 1.0, true, 0);
  EXPECT_EQ(distribution.quantiles->p50, ttt::testing::naive_quantile(errors, 0.5));
  EXPECT_EQ(distribution.quantiles->p90, ttt::testing::naive_quantile(errors, 0.9));
  EXPECT_EQ(distribution.quantiles->p99, ttt::testing::naive_quantile(errors, 0.99));
}

TEST(UlpRuleTest, PerDtype) {
  const UlpRule f32 = ulp_rule(DType::float32, {4});
  EXPECT_EQ(f32.kind, UlpRule::Kind::ieee);
  EXPECT_EQ(f32.mantissa_bits, 23);
  EXPECT_EQ(f32.min_exponent, -126);
  const UlpRule f16 = ulp_rule(DType::float16, {4});
  EXPECT_EQ(f16.mantissa_bits, 10);
  EXPECT_EQ(f16.min_exponent, -14);
  const UlpRule bf16 = ulp_rule(DType::bfloat16, {4});
  EXPECT_EQ(bf16.mantissa_bits, 7);
  EXPECT_EQ(bf16.min_exponent, -126);
  const UlpRule bfp8 = ulp_rule(DType::bfloat8_b, {3, 40});
  EXPECT_EQ(bfp8.kind, UlpRule::Kind::block);
  EXPECT_EQ(bfp8.mantissa_bits, 7);
  EXPECT_EQ(bfp8.row_length, 40);
  EXPECT_EQ(ulp_rule(DType::bfloat4_b, {}).row_length, 1);
  EXPECT_EQ(ulp_rule(DType::bfloat4_b, {2}).mantissa_bits, 3);
  EXPECT_EQ(ulp_rule(DType::int64, {2}).kind, UlpRule::Kind::integer);
}

}  // namespace
}  // namespace ttt::metrics_internal

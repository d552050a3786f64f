// PCC follows tt-metal's comp_pcc case by case; each test is one case with a value worked out by
// hand (or by the naive two-pass Pearson in naive_metrics.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/validation/metrics/naive_metrics.h"
#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

constexpr float kNaN = NAN;
constexpr float kInf = INFINITY;

double pcc(std::vector<float> actual, std::vector<float> expected) {
  const Shape shape = {static_cast<std::int64_t>(actual.size())};
  return compute_metrics(Tensor::from_floats(shape, std::move(actual)),
                         Tensor::from_floats(shape, std::move(expected)))
      .pcc;
}

TEST(PccTest, BothAllNanIsOne) { EXPECT_EQ(pcc({kNaN, kNaN, kNaN}, {kNaN, kNaN, kNaN}), 1.0); }

TEST(PccTest, OneSideAllNanIsZero) {
  EXPECT_EQ(pcc({kNaN, kNaN}, {1.0f, 2.0f}), 0.0);
  EXPECT_EQ(pcc({1.0f, 2.0f}, {kNaN, kNaN}), 0.0);
}

TEST(PccTest, OneSideAllZeroIsZero) {
  EXPECT_EQ(pcc({0.0f, 0.0f, 0.0f}, {0.0f, 1.0f, 0.0f}), 0.0);
  EXPECT_EQ(pcc({0.0f, -2.0f}, {0.0f, 0.0f}), 0.0);
  // A NaN counts as nonzero (torch's bool()), so [0, NaN] is not all zero: still zero PCC.
  EXPECT_EQ(pcc({0.0f, 0.0f}, {0.0f, kNaN}), 0.0);
}

TEST(PccTest, BothAllZeroIsOne) { EXPECT_EQ(pcc({0.0f, -0.0f}, {0.0f, 0.0f}), 1.0); }

TEST(PccTest, EqualOnceNanAndInfAreMaskedIsOne) {
  EXPECT_EQ(pcc({1.0f, kNaN, 3.0f, -kInf}, {1.0f, kInf, 3.0f, 0.0f}), 1.0);
}

TEST(PccTest, SingleElementIsEquality) {
  EXPECT_EQ(pcc({2.5f}, {2.5f}), 1.0);
  EXPECT_EQ(pcc({2.5f}, {2.25f}), 0.0);
  EXPECT_EQ(compute_metrics(Tensor::scalar(3.0f), Tensor::scalar(3.0f)).pcc, 1.0);
  EXPECT_EQ(compute_metrics(Tensor::scalar(3.0f), Tensor::scalar(-3.0f)).pcc, 0.0);
}

TEST(PccTest, BothConstantIsIscloseOfTheValues) {
  // torch.isclose: |e - a| <= 1e-8 + 1e-5 * |a|; 2 and 2.00001 differ by 1.0014e-5 <= 2.00e-5.
  EXPECT_EQ(pcc({2.0f, 2.0f, 2.0f}, {2.00001f, 2.00001f, 2.00001f}), 1.0);
  EXPECT_EQ(pcc({2.0f, 2.0f, 2.0f}, {2.0001f, 2.0001f, 2.0001f}), 0.0);
  EXPECT_EQ(pcc({1.0f, 1.0f}, {3.0f, 3.0f}), 0.0);
}

TEST(PccTest, OneSideConstantFallsBackToAllclose) {
  // tt-metal's fix for its issue #24928: allclose(expected, actual, rtol 1e-5, atol 1e-4).
  EXPECT_EQ(pcc({1.0f, 1.00005f, 1.0f, 1.0f}, {1.0f, 1.0f, 1.0f, 1.0f}), 1.0);
  EXPECT_EQ(pcc({1.0f, 2.0f, 3.0f, 4.0f}, {1.0f, 1.0f, 1.0f, 1.0f}), 0.0);
  EXPECT_EQ(pcc({5.0f, 5.0f, 5.0f}, {4.0f, 5.0f, 6.0f}), 0.0);
}

TEST(PccTest, PearsonByHand) {
  // a = [1, 2, 3], e = [1, 2, 4]: deviations [-1, 0, 1] and [-4/3, -1/3, 5/3]; co-moment 3,
  // sums of squares 2 and 14/3, so PCC = 3 / sqrt(28 / 3) = sqrt(27 / 28).
  EXPECT_THAT(pcc({1.0f, 2.0f, 3.0f}, {1.0f, 2.0f, 4.0f}),
              ::testing::DoubleNear(std::sqrt(27.0 / 28.0), 1e-15));
  EXPECT_THAT(pcc({1.0f, 2.0f, 3.0f}, {3.0f, 2.0f, 1.0f}), ::testing::DoubleNear(-1.0, 1e-15));
  EXPECT_THAT(pcc({1.0f, 2.0f, 3.0f, 4.0f}, {2.0f, 4.0f, 6.0f, 8.0f}),
              ::testing::DoubleNear(1.0, 1e-15));
}

TEST(PccTest, PearsonOverMaskedValues) {
  // NaN and Inf become 0 before Pearson: a = [1, 2, 0, 4], e = [1, 2, 3, 0].
  // Means 7/4 and 6/4; deviations [-3/4, 1/4, -7/4, 9/4] and [-1/2, 1/2, 3/2, -3/2];
  // co-moment (3/8 + 1/8 - 21/8 - 27/8) = -44/8 = -5.5, sums of squares 140/16 = 8.75 and 5.
  EXPECT_THAT(pcc({1.0f, 2.0f, kNaN, 4.0f}, {1.0f, 2.0f, 3.0f, -kInf}),
              ::testing::DoubleNear(-5.5 / std::sqrt(8.75 * 5.0), 1e-15));
}

TEST(PccTest, EmptyTensorsAreOne) {
  // comp_pcc's first test, torch.all(isnan(x)), holds for empty tensors.
  EXPECT_EQ(compute_metrics(Tensor({0, 3}, DType::float32), Tensor({0, 3}, DType::float32)).pcc,
            1.0);
}

TEST(PccTest, RandomDataMatchesTwoPassPearson) {
  ttt::testing::TestRandom random(11);
  std::vector<float> expected = random.normals(50000, 3.0, 1.5);
  std::vector<float> actual;
  for (float e : expected) actual.push_back(e + static_cast<float>(random.normal(0.0, 0.5)));
  const std::vector<double> a(actual.begin(), actual.end());
  const std::vector<double> e(expected.begin(), expected.end());
  EXPECT_THAT(pcc(actual, expected),
              ::testing::DoubleNear(ttt::testing::naive_masked_pearson(a, e), 1e-13));
}

TEST(PccTest, HugeValuesDoNotOverflow) {
  const float big = 3e38f;
  const double value = pcc({big, -big, big, -big, 0.0f}, {big, -big, big, -big, 1e38f});
  // Means 0 and 2e37 (in doubles); the exact value from the formula, evaluated by hand in doubles:
  const double b = static_cast<double>(big);
  const double c = static_cast<double>(1e38f);
  const double mean_e = c / 5.0;
  const double co = 4.0 * b * b;  // sum a_i (e_i - mean_e), and sum a_i = 0.
  const double var_a = 4.0 * b * b;
  const double var_e = 2.0 * (b - mean_e) * (b - mean_e) + 2.0 * (b + mean_e) * (b + mean_e) +
                       (c - mean_e) * (c - mean_e);
  EXPECT_THAT(value, ::testing::DoubleNear(co / std::sqrt(var_a * var_e), 1e-12));
  EXPECT_TRUE(std::isfinite(value));
}

}  // namespace
}  // namespace ttt

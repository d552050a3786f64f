// Lin's concordance correlation (ccc) and SQNR (sqnr_db): values worked out by hand, their edge
// cases, their thresholds, their JSON, and ccc against a naive float64 loop on random data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor floats(std::vector<float> values) {
  const Shape shape = {static_cast<std::int64_t>(values.size())};
  return Tensor::from_floats(shape, std::move(values), DType::float32);
}

TEST(ConcordanceTest, ScaleErrorPassesPccButNotCcc) {
  // e = [1, 2, 3, 4]: mean 2.5, population variance 1.25. a = 2e: mean 5, variance 5,
  // covariance 2.5. CCC = 2 * 2.5 / (5 + 1.25 + (5 - 2.5)^2) = 5 / 12.5 = 0.4.
  const Metrics m = compute_metrics(floats({2, 4, 6, 8}), floats({1, 2, 3, 4}));
  EXPECT_THAT(m.pcc, DoubleNear(1.0, 1e-15));
  EXPECT_THAT(m.ccc, DoubleNear(0.4, 1e-15));
}

TEST(ConcordanceTest, OffsetErrorPassesPccButNotCcc) {
  // a = e + 1: covariance 1.25, both variances 1.25, mean gap 1: CCC = 2.5 / 3.5 = 5/7.
  const Metrics m = compute_metrics(floats({2, 3, 4, 5}), floats({1, 2, 3, 4}));
  EXPECT_THAT(m.pcc, DoubleNear(1.0, 1e-15));
  EXPECT_THAT(m.ccc, DoubleNear(5.0 / 7.0, 1e-15));
}

TEST(ConcordanceTest, ByHandOnUnequalData) {
  // a = [1, 2, 3, 4] (mean 2.5, variance 1.25), e = [1, 2.5, 2, 4] (mean 2.375, deviations
  // -1.375, 0.125, -0.375, 1.625: variance 4.6875 / 4 = 1.171875), covariance 4.25 / 4 = 1.0625:
  // CCC = 2.125 / (1.25 + 1.171875 + 0.125^2) = 2.125 / 2.4375 = 34/39.
  // SQNR: sum e^2 = 27.25, sum d^2 = 1.25: 10 log10(21.8).
  const Metrics m = compute_metrics(floats({1, 2, 3, 4}), floats({1, 2.5, 2, 4}));
  EXPECT_THAT(m.ccc, DoubleNear(34.0 / 39.0, 1e-15));
  EXPECT_THAT(m.sqnr_db, DoubleNear(10.0 * std::log10(21.8), 1e-12));
}

TEST(ConcordanceTest, Sqnr) {
  // sum e^2 = 200, sum d^2 = 2: 20 dB.
  EXPECT_THAT(compute_metrics(floats({11, -9}), floats({10, -10})).sqnr_db,
              DoubleNear(20.0, 1e-12));
  // A halved signal: nmse 0.25, 6.02 dB.
  EXPECT_THAT(compute_metrics(floats({0.5, -1}), floats({1, -2})).sqnr_db,
              DoubleNear(10.0 * std::log10(4.0), 1e-12));
  EXPECT_EQ(sqnr_db_from_nmse(0.01), 20.0);
}

TEST(ConcordanceTest, EdgeCases) {
  const Metrics same = compute_metrics(floats({-1, 0, 5}), floats({-1, 0, 5}));
  EXPECT_EQ(same.ccc, 1.0);
  EXPECT_EQ(same.sqnr_db, kInf);  // No noise.
  const Metrics constant = compute_metrics(floats({3, 3}), floats({3, 3}));
  EXPECT_EQ(constant.ccc, 1.0);
  // Two different constants: no covariance, a mean gap: 0.
  EXPECT_EQ(compute_metrics(floats({3, 3}), floats({2, 2})).ccc, 0.0);
  // Opposite signs: -1.
  EXPECT_THAT(compute_metrics(floats({-1, 1}), floats({1, -1})).ccc, DoubleNear(-1.0, 1e-15));
  const Metrics empty =
      compute_metrics(Tensor(Shape{0}, DType::float32), Tensor(Shape{0}, DType::float32));
  EXPECT_EQ(empty.ccc, 1.0);
  EXPECT_EQ(empty.sqnr_db, kInf);
  // Expected all zero, actual not: nmse +Inf, SQNR -Inf.
  const Metrics silent = compute_metrics(floats({1, 0}), floats({0, 0}));
  EXPECT_EQ(silent.sqnr_db, -kInf);
  EXPECT_EQ(sqnr_db_from_nmse(kInf), -kInf);
}

TEST(ConcordanceTest, MatchesANaiveLoopOnRandomData) {
  std::mt19937 generator(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> actual(40000);
  std::vector<float> expected(actual.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    expected[i] = normal(generator) + 3.0f;
    actual[i] = 1.1f * expected[i] + 0.2f * normal(generator) - 0.5f;
  }
  double mean_a = 0.0;
  double mean_e = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    mean_a += actual[i];
    mean_e += expected[i];
  }
  const auto n = static_cast<double>(actual.size());
  mean_a /= n;
  mean_e /= n;
  double var_a = 0.0;
  double var_e = 0.0;
  double cov = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    var_a += (actual[i] - mean_a) * (actual[i] - mean_a);
    var_e += (expected[i] - mean_e) * (expected[i] - mean_e);
    cov += (actual[i] - mean_a) * (expected[i] - mean_e);
  }
  const double naive =
      2.0 * cov / n / (var_a / n + var_e / n + (mean_a - mean_e) * (mean_a - mean_e));
  const Metrics m = compute_metrics(floats(actual), floats(expected));
  EXPECT_THAT(m.ccc, DoubleNear(naive, 1e-12));
  EXPECT_LT(m.ccc, m.pcc);  // The scale and the offset cost concordance, not correlation.
  EXPECT_THAT(m.sqnr_db, DoubleNear(-10.0 * std::log10(m.nmse), 1e-12));
}

TEST(ConcordanceTest, Thresholds) {
  const Metrics m = compute_metrics(floats({2, 4, 6, 8}), floats({1, 2, 3, 4}));
  Tolerances tolerances;
  tolerances.ccc = 0.99;
  tolerances.sqnr_db = 30.0;
  // nmse = sum e^2 / sum e^2 = 1: 0 dB.
  EXPECT_THAT(evaluate(m, tolerances).failures, ElementsAre("ccc 0.4 < 0.99", "sqnr_db 0 < 30"));
  tolerances.ccc = 0.4;
  tolerances.sqnr_db = 0.0;
  EXPECT_TRUE(evaluate(m, tolerances).passed);
  Tolerances overrides;
  overrides.ccc = 0.5;
  EXPECT_EQ(tolerances.merged(overrides).ccc, 0.5);
  EXPECT_EQ(tolerances.merged(overrides).sqnr_db, 0.0);
}

TEST(ConcordanceTest, Json) {
  const Metrics m = compute_metrics(floats({2, 4, 6, 8}), floats({1, 2, 3, 4}));
  nlohmann::json json = to_json(m);
  EXPECT_THAT(json["ccc"].get<double>(), DoubleNear(0.4, 1e-15));
  EXPECT_EQ(json["sqnr_db"].get<double>(), 0.0);
  const Metrics back = metrics_from_json(json);
  EXPECT_EQ(back.ccc, m.ccc);
  EXPECT_EQ(back.sqnr_db, m.sqnr_db);

  // A report written before the two metrics: ccc unknown, sqnr_db from nmse.
  json.erase("ccc");
  json.erase("sqnr_db");
  json["nmse"] = 0.01;
  const Metrics old = metrics_from_json(json);
  EXPECT_TRUE(std::isnan(old.ccc));
  EXPECT_THAT(old.sqnr_db, DoubleNear(20.0, 1e-12));

  // +Inf is written as null and read back from nmse 0.
  const nlohmann::json exact = to_json(compute_metrics(floats({1, 2}), floats({1, 2})));
  EXPECT_TRUE(exact["sqnr_db"].is_null());
  EXPECT_EQ(metrics_from_json(exact).sqnr_db, kInf);

  Tolerances tolerances;
  tolerances.ccc = 0.9;
  tolerances.sqnr_db = 25.0;
  const nlohmann::json t = to_json(tolerances);
  EXPECT_EQ(t["ccc"], 0.9);
  EXPECT_EQ(t["sqnr_db"], 25.0);
  EXPECT_EQ(tolerances_from_json(t).sqnr_db, 25.0);
}

}  // namespace
}  // namespace ttt

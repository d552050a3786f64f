// Tolerances, evaluate() and its failure lines, and the format_metrics() table.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Metrics that pass everything, to be spoilt one field at a time.
Metrics clean_metrics(Shape shape) {
  Metrics m;
  m.numel = shape_numel(shape);
  m.shape = std::move(shape);
  m.finite_pairs = m.numel;
  m.pcc = 1.0;
  m.cosine_similarity = 1.0;
  m.allclose = true;
  return m;
}

TEST(TolerancesTest, TtMetalDefault) {
  const Tolerances t = Tolerances::tt_metal_default();
  EXPECT_EQ(t.pcc, 0.99);
  EXPECT_EQ(t.max_abs_error, 1e-2);
  EXPECT_FALSE(t.mean_abs_error.has_value());
  EXPECT_FALSE(t.require_allclose);
  EXPECT_FALSE(t.allow_nonfinite_mismatch);
}

TEST(TolerancesTest, MergedOverlaysSetFields) {
  Tolerances overlay;
  overlay.pcc = 0.9999;
  overlay.nmse = 1e-7;
  overlay.require_allclose = true;
  const Tolerances merged = Tolerances::tt_metal_default().merged(overlay);
  EXPECT_EQ(merged.pcc, 0.9999);
  EXPECT_EQ(merged.max_abs_error, 1e-2);  // Kept: unset in the overlay.
  EXPECT_EQ(merged.nmse, 1e-7);
  EXPECT_TRUE(merged.require_allclose);
  EXPECT_FALSE(merged.allow_nonfinite_mismatch);
  EXPECT_TRUE(overlay.merged(Tolerances()).require_allclose);  // A flag stays on.
}

TEST(EvaluateTest, PassingMetricsPass) {
  const Verdict verdict = evaluate(clean_metrics({4}), Tolerances::tt_metal_default());
  EXPECT_TRUE(verdict.passed);
  EXPECT_TRUE(verdict.failures.empty());
  EXPECT_EQ(verdict.text(), "pass");
}

TEST(EvaluateTest, PccLine) {
  Metrics m = clean_metrics({4});
  m.pcc = 0.9812;
  const Verdict verdict = evaluate(m, Tolerances::tt_metal_default());
  EXPECT_FALSE(verdict.passed);
  EXPECT_THAT(verdict.failures, ElementsAre("pcc 0.9812 < 0.99"));
}

TEST(EvaluateTest, MoreDigitsWhenFourWouldHideTheFailure) {
  // With 4 digits 0.99989 would print as 0.9999 and 0.99995 as 1: neither is below its threshold.
  Metrics m = clean_metrics({4});
  m.pcc = 0.99989;
  Tolerances t;
  t.pcc = 0.9999;
  EXPECT_THAT(evaluate(m, t).failures, ElementsAre("pcc 0.99989 < 0.9999"));
  m.pcc = 0.99995;
  t.pcc = 0.99996;
  EXPECT_THAT(evaluate(m, t).failures, ElementsAre("pcc 0.99995 < 0.99996"));
  m.max_abs_error = 0.010001;
  t.max_abs_error = 0.01;
  EXPECT_THAT(evaluate(m, t).failures,
              ElementsAre("pcc 0.99995 < 0.99996", "max_abs_error 0.010001 > 0.01"));
}

TEST(EvaluateTest, ThresholdsPrintInFull) {
  // Issue 12: six significant digits printed this as "pcc 0.999997 < 1".
  Metrics m = clean_metrics({4});
  m.pcc = 0.999997;
  Tolerances t;
  t.pcc = 0.9999999;
  t.max_abs_error = 1.25e-7;
  m.max_abs_error = 1.2500001e-7;
  EXPECT_THAT(evaluate(m, t).failures,
              ElementsAre("pcc 0.999997 < 0.9999999", "max_abs_error 1.2500001e-07 > 1.25e-07"));
}

TEST(EvaluateTest, MaxAbsErrorLineGivesTheMultiIndex) {
  Metrics m = clean_metrics({3, 20, 5000});
  m.max_abs_error = 0.31;
  m.max_abs_error_index = 2 * 20 * 5000 + 17 * 5000 + 4031;
  Tolerances t;
  t.max_abs_error = 0.05;
  EXPECT_THAT(evaluate(m, t).failures, ElementsAre("max_abs_error 0.31 > 0.05 at [2, 17, 4031]"));
}

TEST(EvaluateTest, EveryThresholdHasALine) {
  Metrics m = clean_metrics({10});
  m.mean_abs_error = 0.5;
  m.rmse = 0.75;
  m.nmse = 2e-3;
  m.max_rel_error = 3.0;
  m.cosine_similarity = 0.95;
  m.max_ulp_error = 16;
  Tolerances t;
  t.mean_abs_error = 0.1;
  t.rmse = 0.2;
  t.nmse = 1e-7;
  t.max_rel_error = 1.0;
  t.cosine_similarity = 0.999;
  t.max_ulp_error = 2;
  EXPECT_THAT(
      evaluate(m, t).failures,
      ElementsAre("mean_abs_error 0.5 > 0.1", "rmse 0.75 > 0.2", "nmse 0.002 > 1e-07",
                  "max_rel_error 3 > 1", "cosine_similarity 0.95 < 0.999", "max_ulp_error 16 > 2"));
}

TEST(EvaluateTest, AllcloseAndMismatchFractionLines) {
  Metrics m = clean_metrics({64, 64});
  m.allclose = false;
  m.mismatched = 12;
  m.mismatched_fraction = 12.0 / 4096.0;
  m.worst_mismatch_index = 3;
  Tolerances t;
  t.require_allclose = true;
  t.mismatched_fraction = 0.001;
  EXPECT_THAT(evaluate(m, t).failures,
              ElementsAre("mismatched_fraction 0.00293 > 0.001 (12 of 4096 (0.29%) mismatched, "
                          "worst at [0, 3])",
                          "allclose: 12 of 4096 (0.29%) mismatched, worst at [0, 3]"));
}

TEST(EvaluateTest, NonFiniteMismatchFailsUnlessAllowed) {
  Metrics m = clean_metrics({2, 3});
  m.nan_actual = 1;
  m.inf_expected = 2;
  m.nonfinite_mismatched = 2;
  m.first_nonfinite_mismatch_index = 4;
  const Verdict verdict = evaluate(m, Tolerances());
  EXPECT_THAT(verdict.failures,
              ElementsAre("non-finite mismatch: 2 of 6, first at [1, 1] (NaN: actual 1, "
                          "expected 0; Inf: actual 0, expected 2)"));
  Tolerances allow;
  allow.allow_nonfinite_mismatch = true;
  EXPECT_TRUE(evaluate(m, allow).passed);
}

TEST(EvaluateTest, NanMetricFails) {
  Metrics m = clean_metrics({4});
  m.pcc = std::nan("");
  EXPECT_THAT(evaluate(m, Tolerances::tt_metal_default()).failures, ElementsAre("pcc nan < 0.99"));
}

TEST(EvaluateTest, TextJoinsFailures) {
  Metrics m = clean_metrics({4});
  m.pcc = 0.5;
  m.max_abs_error = 1.0;
  m.max_abs_error_index = 1;
  EXPECT_EQ(evaluate(m, Tolerances::tt_metal_default()).text(),
            "pcc 0.5 < 0.99; max_abs_error 1 > 0.01 at [1]");
}

TEST(EvaluateTest, FromRealData) {
  const Tensor expected = Tensor::from_floats({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f});
  const Tensor actual = Tensor::from_floats({2, 2}, {1.0f, 2.0f, 3.5f, 4.0f});
  const Verdict verdict =
      evaluate(compute_metrics(actual, expected), Tolerances::tt_metal_default());
  // Pearson of [1, 2, 3.5, 4] with [1, 2, 3, 4]: co-moment 5.25, sums of squares 5.6875 and 5,
  // so 5.25 / sqrt(28.4375) = 0.98449...
  EXPECT_THAT(verdict.failures,
              ElementsAre("pcc 0.9845 < 0.99", "max_abs_error 0.5 > 0.01 at [1, 0]"));
}

TEST(EvaluateTest, PercentagesStayReadable) {
  Metrics m = clean_metrics({1000});
  m.allclose = false;
  m.worst_mismatch_index = 0;
  Tolerances t;
  t.require_allclose = true;
  m.mismatched = 1000;
  EXPECT_THAT(evaluate(m, t).failures,
              ElementsAre("allclose: 1000 of 1000 (100%) mismatched, worst at [0]"));
  m.mismatched = 999;
  EXPECT_THAT(evaluate(m, t).failures,
              ElementsAre("allclose: 999 of 1000 (99.9%) mismatched, worst at [0]"));
  m.mismatched = 1;
  EXPECT_THAT(evaluate(m, t).failures,
              ElementsAre("allclose: 1 of 1000 (0.1%) mismatched, worst at [0]"));
}

TEST(FormatMetricsTest, AlignedTable) {
  const Tensor expected = Tensor::from_floats({1, 3}, {1.0f, 2.0f, 4.0f});
  const Tensor actual = Tensor::from_floats({1, 3}, {1.0f, 2.0f, 3.0f});
  MetricsOptions options;
  options.histogram_bins = 2;
  const std::string text = format_metrics(compute_metrics(actual, expected, options));
  std::istringstream lines(text);
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(lines, line)) rows.push_back(line);
  ASSERT_GE(rows.size(), 16u);
  EXPECT_EQ(rows[0], "shape                 [1, 3] (3 elements, 3 finite pairs)");
  EXPECT_EQ(rows[1], "dtypes                actual float32, expected float32");
  EXPECT_EQ(rows[2], "pcc                   0.98198051");
  EXPECT_EQ(rows[3], "max_abs_error         1 at [0, 2]");
  for (std::size_t i = 0; i < 15; ++i) {
    EXPECT_EQ(rows[i].find_first_not_of(' ', rows[i].find("  ")), 22u) << rows[i];
  }
  EXPECT_THAT(text, HasSubstr("allclose              false (rtol 1.3e-06, atol 1e-05): 1 of 3 "
                              "(33.3%) mismatched, worst at [0, 2]\n"));
  EXPECT_THAT(text, HasSubstr("quantiles |a-e|       p50 0, p90 0.8, p99 0.98\n"));
  EXPECT_THAT(text, HasSubstr("histogram |a-e|\n  [0, 0.1)  2\n  [0.1, 1]  1\n"));
}

}  // namespace
}  // namespace ttt

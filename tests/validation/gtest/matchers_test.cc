// The tensor matchers: match results and their exact descriptions and mismatch text.
#include "validation/gtest/matchers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

namespace ttt {
namespace {

using ::testing::DescribeMatcher;
using ::testing::Not;
using ::testing::StartsWith;

Tensor vec(std::vector<float> values, DType dtype = DType::float32) {
  const auto n = static_cast<std::int64_t>(values.size());
  return Tensor::from_floats({n}, std::move(values), dtype);
}

Tolerances thresholds(std::optional<double> pcc, std::optional<double> max_abs_error) {
  Tolerances tolerances;
  tolerances.pcc = pcc;
  tolerances.max_abs_error = max_abs_error;
  return tolerances;
}

template <typename M, typename T>
std::string explain(const M& matcher, const T& value) {
  ::testing::StringMatchResultListener listener;
  ::testing::ExplainMatchResult(matcher, value, &listener);
  return listener.str();
}

// Expected {1, 2, 3, 4}; actual differs at index 3 by 2: PCC ~0.9487, max abs error 2.
const Tensor kExpected = vec({1, 2, 3, 4});
const Tensor kOff = vec({1, 2, 3, 6});

TEST(PccAtLeast, MatchesAndExplains) {
  EXPECT_THAT(kExpected, PccAtLeast(kExpected, 0.999));
  EXPECT_THAT(kOff, Not(PccAtLeast(kExpected, 0.99)));
  EXPECT_THAT(kOff, PccAtLeast(kExpected, 0.9));
  EXPECT_EQ(explain(PccAtLeast(kExpected, 0.99), kOff),
            "pcc 0.9562 < 0.99 (max_abs_error 2 at [3])");
  // 8 / sqrt(70) = 0.95618..., printed with the digits that show its side of the threshold.
  EXPECT_EQ(explain(PccAtLeast(kExpected, 0.9), kOff), "pcc 0.9562");
  EXPECT_EQ(DescribeMatcher<const Tensor&>(PccAtLeast(kExpected, 0.999)),
            "has PCC >= 0.999 with " + kExpected.summary());
  EXPECT_EQ(DescribeMatcher<const Tensor&>(PccAtLeast(kExpected, 0.999), /*negation=*/true),
            "has PCC < 0.999 with " + kExpected.summary());
}

TEST(PccAtLeast, ShapeMismatchIsAMismatchWithItsReason) {
  const Tensor other = Tensor::from_floats({2, 2}, {1, 2, 3, 4});
  EXPECT_THAT(other, Not(PccAtLeast(kExpected, 0.5)));
  EXPECT_THAT(explain(PccAtLeast(kExpected, 0.5), other),
              StartsWith("[compute_metrics] shapes differ"));
}

TEST(PccAtLeast, PairsWorkWithPointwise) {
  const std::vector<Tensor> outputs = {kExpected, kOff};
  const std::vector<Tensor> references = {kExpected, kExpected};
  EXPECT_THAT(outputs, ::testing::Pointwise(PccAtLeast(0.9), references));
  EXPECT_THAT(outputs, Not(::testing::Pointwise(PccAtLeast(0.99), references)));
  EXPECT_THAT(std::tie(kOff, kExpected), Not(PccAtLeast(0.99)));
  EXPECT_EQ(explain(PccAtLeast(0.99), std::tie(kOff, kExpected)),
            "pcc 0.9562 < 0.99 (max_abs_error 2 at [3])");
  using TensorPair = std::tuple<const Tensor&, const Tensor&>;
  EXPECT_EQ(DescribeMatcher<TensorPair>(PccAtLeast(0.99)), "are two tensors with PCC >= 0.99");
}

TEST(AllClose, UsesTheExpectedDtypeDefaults) {
  // bfloat16 defaults: rtol 0.016, atol 1e-05. 100 vs 101 differs by 1 <= 1.6 + 1e-5.
  const Tensor expected = vec({100, 1}, DType::bfloat16);
  EXPECT_THAT(vec({101, 1}), AllClose(expected));
  EXPECT_THAT(vec({102, 1}), Not(AllClose(expected)));
  EXPECT_EQ(DescribeMatcher<const Tensor&>(AllClose(expected)),
            "is close to " + expected.summary() + " (rtol 0.016, atol 1e-05)");
  EXPECT_EQ(explain(AllClose(expected), vec({101, 1})),
            "all 2 elements within rtol 0.016, atol 1e-05");
}

TEST(AllClose, MismatchTextGivesCountShareAndGreatestDifferences) {
  EXPECT_EQ(explain(AllClose(kExpected, 0.0, 0.5), kOff),
            "allclose: 1 of 4 (25%) mismatched, worst at [3] with rtol 0, atol 0.5; greatest "
            "absolute difference 2 at [3], greatest relative difference 0.5");
  EXPECT_THAT(kOff, AllClose(kExpected, 0.0, 2.0));
  EXPECT_EQ(DescribeMatcher<const Tensor&>(AllClose(kExpected, 0.001, 0.5), true),
            "is not close to " + kExpected.summary() + " (rtol 0.001, atol 0.5)");
}

TEST(MetricsWithin, ListsEveryFailedThresholdAndTheMetrics) {
  EXPECT_THAT(kExpected, MetricsWithin(kExpected));
  EXPECT_THAT(kOff, Not(MetricsWithin(kExpected)));
  EXPECT_THAT(kOff, MetricsWithin(kExpected, thresholds(0.95, 2.0)));
  const std::string text = explain(MetricsWithin(kExpected), kOff);
  MetricsOptions options;
  options.histogram = false;
  // The default is float32's default_tolerances: nmse = 2^2 / (1 + 4 + 9 + 16) against 2^-32.
  EXPECT_EQ(text, "fails: nmse 0.1333 > 2.3283064365386963e-10\n" +
                      format_metrics(compute_metrics(kOff, kExpected, options)));
  EXPECT_EQ(explain(MetricsWithin(kExpected, Tolerances::tt_metal_default()), kOff),
            "fails: pcc 0.9562 < 0.99; max_abs_error 2 > 0.01 at [3]\n" +
                format_metrics(compute_metrics(kOff, kExpected, options)));
  EXPECT_THAT(explain(MetricsWithin(kExpected), kExpected), StartsWith("passes every threshold\n"));
  EXPECT_EQ(
      DescribeMatcher<const Tensor&>(MetricsWithin(kExpected, thresholds(0.999, std::nullopt))),
      "has metrics within " + to_json(thresholds(0.999, std::nullopt)).dump() + " against " +
          kExpected.summary());
}

TEST(PrintTo, PrintsTheSummary) {
  EXPECT_EQ(::testing::PrintToString(kExpected), kExpected.summary());
  EXPECT_EQ(::testing::PrintToString(Tensor()), "Tensor(undefined)");
}

}  // namespace
}  // namespace ttt

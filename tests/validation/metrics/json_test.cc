// JSON for metrics, tolerances and verdicts: the keys `ttt compare --json` promises, null for
// non-finite numbers, exact round trips, and errors naming the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Json = nlohmann::json;

Metrics sample_metrics() {
  const Tensor expected = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6}, DType::bfloat16);
  const Tensor actual = Tensor::from_floats({2, 3}, {1, 2, 3.5f, 4, NAN, 6});
  return compute_metrics(actual, expected);
}

std::string error_of(const std::function<void()>& function) {
  try {
    function();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no exception";
}

TEST(MetricsJsonTest, HasEveryPromisedKey) {
  const Json json = to_json(sample_metrics());
  for (const char* key : {"pcc",
                          "max_abs_error",
                          "max_abs_error_index",
                          "mean_abs_error",
                          "rmse",
                          "nmse",
                          "max_rel_error",
                          "cosine_similarity",
                          "max_ulp_error",
                          "ccc",
                          "sqnr_db",
                          "allclose",
                          "mismatched",
                          "mismatched_fraction",
                          "nan_actual",
                          "nan_expected",
                          "inf_actual",
                          "inf_expected",
                          "quantiles",
                          "rtol",
                          "atol",
                          "numel",
                          "shape",
                          "dtypes",
                          "histogram",
                          "finite_pairs",
                          "worst_mismatch_index",
                          "nonfinite_mismatched",
                          "first_nonfinite_mismatch_index"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  EXPECT_EQ(json["shape"], Json::array({2, 3}));
  EXPECT_EQ(json["dtypes"]["actual"], "float32");
  EXPECT_EQ(json["dtypes"]["expected"], "bfloat16");
  EXPECT_EQ(json["max_abs_error"], 0.5);
  EXPECT_EQ(json["max_abs_error_index"], 2);
  EXPECT_EQ(json["nan_actual"], 1);
  EXPECT_EQ(json["allclose"], false);
  EXPECT_EQ(json["mismatched"], 2);
  EXPECT_EQ(json["rtol"], 1.6e-2);
  EXPECT_TRUE(json["quantiles"].contains("p50"));
  EXPECT_TRUE(json["quantiles"].contains("p90"));
  EXPECT_TRUE(json["quantiles"].contains("p99"));
  EXPECT_EQ(json["histogram"]["counts"].size(), 10u);
  EXPECT_EQ(json["histogram"]["edges"].size(), 11u);
}

TEST(MetricsJsonTest, NonFiniteNumbersAreNull) {
  Metrics m = sample_metrics();
  m.nmse = std::numeric_limits<double>::infinity();
  m.pcc = std::nan("");
  const Json json = to_json(m);
  EXPECT_TRUE(json["nmse"].is_null());
  EXPECT_TRUE(json["pcc"].is_null());
  // The serialised text holds no NaN or Infinity token, which JSON does not have.
  const std::string text = json.dump();
  EXPECT_THAT(text, HasSubstr("\"nmse\":null"));
  const Metrics back = metrics_from_json(Json::parse(text));
  EXPECT_TRUE(std::isnan(back.pcc));
  EXPECT_EQ(back.nmse, std::numeric_limits<double>::infinity());
}

TEST(MetricsJsonTest, RoundTripIsExact) {
  const Metrics m = sample_metrics();
  const Metrics back = metrics_from_json(Json::parse(to_json(m).dump()));
  EXPECT_EQ(back.shape, m.shape);
  EXPECT_EQ(back.actual_dtype, m.actual_dtype);
  EXPECT_EQ(back.expected_dtype, m.expected_dtype);
  EXPECT_EQ(back.numel, m.numel);
  EXPECT_EQ(back.finite_pairs, m.finite_pairs);
  EXPECT_EQ(back.pcc, m.pcc);
  EXPECT_EQ(back.max_abs_error, m.max_abs_error);
  EXPECT_EQ(back.max_abs_error_index, m.max_abs_error_index);
  EXPECT_EQ(back.mean_abs_error, m.mean_abs_error);
  EXPECT_EQ(back.rmse, m.rmse);
  EXPECT_EQ(back.nmse, m.nmse);
  EXPECT_EQ(back.max_rel_error, m.max_rel_error);
  EXPECT_EQ(back.cosine_similarity, m.cosine_similarity);
  EXPECT_EQ(back.max_ulp_error, m.max_ulp_error);
  EXPECT_EQ(back.allclose, m.allclose);
  EXPECT_EQ(back.rtol, m.rtol);
  EXPECT_EQ(back.atol, m.atol);
  EXPECT_EQ(back.mismatched, m.mismatched);
  EXPECT_EQ(back.mismatched_fraction, m.mismatched_fraction);
  EXPECT_EQ(back.worst_mismatch_index, m.worst_mismatch_index);
  EXPECT_EQ(back.nan_actual, m.nan_actual);
  EXPECT_EQ(back.nan_expected, m.nan_expected);
  EXPECT_EQ(back.inf_actual, m.inf_actual);
  EXPECT_EQ(back.inf_expected, m.inf_expected);
  EXPECT_EQ(back.nonfinite_mismatched, m.nonfinite_mismatched);
  EXPECT_EQ(back.first_nonfinite_mismatch_index, m.first_nonfinite_mismatch_index);
  ASSERT_TRUE(back.quantiles.has_value());
  EXPECT_EQ(back.quantiles->p50, m.quantiles->p50);
  EXPECT_EQ(back.quantiles->p90, m.quantiles->p90);
  EXPECT_EQ(back.quantiles->p99, m.quantiles->p99);
  ASSERT_TRUE(back.histogram.has_value());
  EXPECT_EQ(back.histogram->edges, m.histogram->edges);
  EXPECT_EQ(back.histogram->counts, m.histogram->counts);
}

TEST(MetricsJsonTest, OptionalPartsMayBeNullOrMissing) {
  Json json = to_json(sample_metrics());
  json["quantiles"] = nullptr;
  json.erase("histogram");
  const Metrics back = metrics_from_json(json);
  EXPECT_FALSE(back.quantiles.has_value());
  EXPECT_FALSE(back.histogram.has_value());
}

TEST(MetricsJsonTest, ErrorsNameTheField) {
  Json missing = to_json(sample_metrics());
  missing.erase("rmse");
  EXPECT_EQ(error_of([&] { metrics_from_json(missing); }),
            "metrics_from_json: /: missing field 'rmse'");
  Json wrong = to_json(sample_metrics());
  wrong["mismatched"] = "twelve";
  EXPECT_EQ(error_of([&] { metrics_from_json(wrong); }),
            "metrics_from_json: /mismatched: expected an integer, got \"twelve\"");
  Json dtype = to_json(sample_metrics());
  dtype["dtypes"]["expected"] = "bfloat7";
  EXPECT_THAT(error_of([&] { metrics_from_json(dtype); }),
              AllOf(HasSubstr("metrics_from_json: /dtypes/expected: "),
                    HasSubstr("unknown dtype 'bfloat7'")));
  Json histogram = to_json(sample_metrics());
  histogram["histogram"]["counts"].push_back(1);
  EXPECT_THAT(error_of([&] { metrics_from_json(histogram); }),
              HasSubstr("metrics_from_json: /histogram: has 11 edges for 11 counts"));
  EXPECT_EQ(error_of([] { metrics_from_json(Json::array()); }),
            "metrics_from_json: /: expected an object, got []");
}

TEST(TolerancesJsonTest, RoundTripOmitsUnsetThresholds) {
  Tolerances t = Tolerances::tt_metal_default();
  t.nmse = 5e-4;
  t.require_allclose = true;
  const Json json = to_json(t);
  EXPECT_EQ(json, Json::parse(R"({"pcc": 0.99, "max_abs_error": 0.01, "nmse": 0.0005,
                                  "require_allclose": true, "allow_nonfinite_mismatch": false})"));
  const Tolerances back = tolerances_from_json(json);
  EXPECT_EQ(back.pcc, 0.99);
  EXPECT_EQ(back.max_abs_error, 0.01);
  EXPECT_EQ(back.nmse, 5e-4);
  EXPECT_FALSE(back.rmse.has_value());
  EXPECT_TRUE(back.require_allclose);
  EXPECT_FALSE(back.allow_nonfinite_mismatch);
}

TEST(TolerancesJsonTest, NullMeansUnsetAndFlagsAreOptional) {
  const Tolerances t = tolerances_from_json(Json::parse(R"({"pcc": null, "max_ulp_error": 4})"));
  EXPECT_FALSE(t.pcc.has_value());
  EXPECT_EQ(t.max_ulp_error, 4.0);
  EXPECT_FALSE(t.require_allclose);
}

TEST(TolerancesJsonTest, UnknownOrMistypedFieldsAreErrors) {
  EXPECT_THAT(error_of([] { tolerances_from_json(Json::parse(R"({"max_abs": 0.1})")); }),
              HasSubstr("tolerances_from_json: /max_abs: unknown field 'max_abs' (expected one of: "
                        "pcc, max_abs_error,"));
  EXPECT_EQ(error_of([] { tolerances_from_json(Json::parse(R"({"pcc": "high"})")); }),
            "tolerances_from_json: /pcc: expected a number, got \"high\"");
  EXPECT_EQ(error_of([] { tolerances_from_json(Json::parse(R"({"require_allclose": 1})")); }),
            "tolerances_from_json: /require_allclose: expected a boolean, got 1");
}

TEST(VerdictJsonTest, RoundTrip) {
  Verdict verdict;
  verdict.passed = false;
  verdict.failures = {"pcc 0.9812 < 0.99", "max_abs_error 0.31 > 0.05 at [2, 17, 4031]"};
  const Json json = to_json(verdict);
  EXPECT_EQ(json, Json::parse(R"({"passed": false, "failures": ["pcc 0.9812 < 0.99",
                                  "max_abs_error 0.31 > 0.05 at [2, 17, 4031]"]})"));
  const Verdict back = verdict_from_json(json);
  EXPECT_FALSE(back.passed);
  EXPECT_EQ(back.failures, verdict.failures);
  EXPECT_TRUE(verdict_from_json(to_json(Verdict())).passed);
}

TEST(VerdictJsonTest, InconsistentVerdictIsAnError) {
  EXPECT_EQ(
      error_of([] { verdict_from_json(Json::parse(R"({"passed": true, "failures": ["x"]})")); }),
      "verdict_from_json: /: 'passed' is true but 'failures' has 1 entries");
  EXPECT_EQ(error_of([] { verdict_from_json(Json::parse(R"({"passed": false})")); }),
            "verdict_from_json: /: missing field 'failures'");
}

}  // namespace
}  // namespace ttt

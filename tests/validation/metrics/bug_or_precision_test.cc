// Bug or precision: the three legs of an output judged by each metric rule, on values small
// enough to work out by hand.
#include "validation/metrics/bug_or_precision.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Tensor floats(std::vector<float> values, DType dtype = DType::float32) {
  const Shape shape = {static_cast<std::int64_t>(values.size())};
  return Tensor::from_floats(shape, std::move(values), dtype);
}

Tolerances nmse_at_most(double value) {
  Tolerances tolerances;
  tolerances.nmse = value;
  return tolerances;
}

const MetricPolicy kReduction = nmse_policy("test");

TEST(BugOrPrecisionTest, NmseBandByHand) {
  // reference r = [1, -1, 1, -1] (sum r^2 = 4); emulation [1.5, -1, 1, -1]: nmse 0.25 / 4 =
  // 0.0625, so the band is 4 x 0.0625 = 0.25 of sum emulation^2 = 5.25, i.e. a squared distance
  // of 1.3125.
  const Tensor reference = floats({1, -1, 1, -1});
  const Tensor emulation = floats({1.5, -1, 1, -1});
  // Distance 1 (nmse 1/5.25 = 0.19): explained; the device misses nmse <= 0.01 against float64.
  const PrecisionExplanation close = explain_precision(floats({1.5, -1, 1, 0}), emulation,
                                                       reference, kReduction, nmse_at_most(0.01));
  EXPECT_EQ(close.finding, PrecisionFinding::precision_limited);
  EXPECT_DOUBLE_EQ(close.band, 0.25);
  EXPECT_DOUBLE_EQ(close.device_vs_emulation.nmse, 1.0 / 5.25);
  EXPECT_THAT(close.text, StartsWith("precision-limited, as expected for this ImplConfig: "
                                     "device vs float64 nmse 0.3125 > 0.01, and device vs "
                                     "emulation nmse 0.1905 <= band 0.25"));
  // Distance 2 (nmse 0.38): not explained.
  const PrecisionExplanation far = explain_precision(floats({1.5, -1, 0, 0}), emulation, reference,
                                                     kReduction, nmse_at_most(0.01));
  EXPECT_EQ(far.finding, PrecisionFinding::not_explained);
  EXPECT_FALSE(far.within_band);
  EXPECT_THAT(far.text, StartsWith("not explained by precision: device vs emulation nmse 0.381 > "
                                   "band 0.25 (4 x emulation's nmse 0.0625"));
  EXPECT_THAT(far.text, HasSubstr("emulation vs float64: pcc"));
}

TEST(BugOrPrecisionTest, AccurateWhenTheDevicePassesItsCheck) {
  const Tensor reference = floats({1, -1, 1, -1});
  const PrecisionExplanation e =
      explain_precision(reference, reference, reference, kReduction, nmse_at_most(0.01));
  EXPECT_EQ(e.finding, PrecisionFinding::accurate);
  EXPECT_THAT(e.text, StartsWith("accurate: device vs emulation nmse 0 <= band"));
  // An emulation exact against float64 still leaves the output format's rounding: float32's
  // default nmse 2^-32.
  EXPECT_EQ(e.band, 0x1p-32);
}

TEST(BugOrPrecisionTest, WrongScaleIsABugAndCoarseFormatsArePrecision) {
  // A reference, its emulation in bfloat4_b (coarse: far from float64) and a device that
  // matches it; then a device off by a factor 1.5, as a wrong softmax scale makes it.
  std::vector<float> values;
  for (int i = 0; i < 64; ++i) values.push_back(std::sin(0.37f * static_cast<float>(i)));
  const Tensor reference = floats(values);
  const Tensor emulation = floats(values, DType::bfloat4_b);
  const PrecisionExplanation precision = explain_precision(
      emulation, emulation, reference, kReduction, default_tolerances(DType::bfloat16));
  EXPECT_EQ(precision.finding, PrecisionFinding::precision_limited);
  std::vector<float> scaled(values);
  for (float& value : scaled) value *= 1.5f;
  const PrecisionExplanation bug =
      explain_precision(floats(scaled, DType::bfloat16), floats(values, DType::bfloat16), reference,
                        kReduction, default_tolerances(DType::bfloat16));
  EXPECT_EQ(bug.finding, PrecisionFinding::not_explained);
  // PCC cannot see a scale; CCC and nmse can.
  EXPECT_GT(bug.device_vs_reference.pcc, 0.999);
  EXPECT_LT(bug.device_vs_reference.ccc, 0.95);
}

TEST(BugOrPrecisionTest, ExactRule) {
  const MetricPolicy exact = exact_policy("copies");
  const Tensor values = floats({0.5, 2, -3});
  const PrecisionExplanation same =
      explain_precision(values, values, values, exact, nmse_at_most(0.0));
  EXPECT_EQ(same.finding, PrecisionFinding::accurate);
  // One element off by 2^-8: data movement must match exactly.
  const PrecisionExplanation off =
      explain_precision(floats({0.5, 2.00390625, -3}), values, values, exact, nmse_at_most(1.0));
  EXPECT_EQ(off.finding, PrecisionFinding::not_explained);
  EXPECT_THAT(off.text, StartsWith("not explained by precision: device vs emulation "
                                   "max_abs_error 0.003906 where data movement must match "
                                   "exactly"));
  // A NaN the emulation does not have is a mismatch whatever the rule.
  const PrecisionExplanation nan = explain_precision(floats({0.5, NAN, -3}), values, values,
                                                     nmse_policy("sums"), nmse_at_most(1.0));
  EXPECT_EQ(nan.finding, PrecisionFinding::not_explained);
  EXPECT_THAT(nan.text, HasSubstr("1 non-finite mismatches"));
}

TEST(BugOrPrecisionTest, UlpRule) {
  // bfloat16 steps are 2^-7 in [1, 2): 1 + 2^-7 is one ULP from 1, 1 + 2^-6 two.
  const MetricPolicy ulp = ulp_policy(1.0, "elementwise");
  const Tensor emulation = floats({1, 2}, DType::bfloat16);
  const Tensor reference = floats({1, 2});
  EXPECT_EQ(explain_precision(floats({1.0078125, 2}, DType::bfloat16), emulation, reference, ulp,
                              nmse_at_most(1.0))
                .finding,
            PrecisionFinding::accurate);
  const PrecisionExplanation two = explain_precision(floats({1.015625, 2}, DType::bfloat16),
                                                     emulation, reference, ulp, nmse_at_most(1.0));
  EXPECT_EQ(two.finding, PrecisionFinding::not_explained);
  EXPECT_THAT(two.text, HasSubstr("device vs emulation max_ulp_error 2 > 1 ULPs of bfloat16"));
}

TEST(BugOrPrecisionTest, FindingsOrderAndJson) {
  EXPECT_EQ(worse(PrecisionFinding::accurate, PrecisionFinding::precision_limited),
            PrecisionFinding::precision_limited);
  EXPECT_EQ(worse(PrecisionFinding::not_explained, PrecisionFinding::precision_limited),
            PrecisionFinding::not_explained);
  EXPECT_EQ(precision_finding_name(PrecisionFinding::not_explained), "not explained by precision");
  EXPECT_EQ(describe(ulp_policy(4.0, "elementwise")), "ulp <= 4");
  EXPECT_EQ(describe(kReduction), "nmse <= 4 x emulation's");
  EXPECT_EQ(describe(exact_policy("copies")), "exact");
  const Tensor values = floats({1, 2});
  const nlohmann::json json =
      to_json(explain_precision(values, values, values, kReduction, nmse_at_most(0.0)));
  EXPECT_EQ(json.at("finding"), "accurate");
  EXPECT_EQ(json.at("within_band"), true);
  for (const char* key : {"text", "band", "device_accuracy", "device_vs_reference",
                          "emulation_vs_reference", "device_vs_emulation"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
}

TEST(BugOrPrecisionTest, ShapesMustAgree) {
  EXPECT_THROW(explain_precision(floats({1, 2}), floats({1, 2, 3}), floats({1, 2}), kReduction,
                                 nmse_at_most(0.0)),
               std::invalid_argument);
}

}  // namespace
}  // namespace ttt

// `ttt suite calibrate`'s library (suites/suite/calibrate.h): the faults on hand-made tensors,
// the normal quantile against published values, a calibration of a small suite file (thresholds
// never below the worst seed, the stated fit, faults far beyond rounding always caught, a 1%
// scale on a bfloat16 RMSNorm caught too), the thresholds written back into a suite file that
// still parses, and bad options.
#include "suites/suite/calibrate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "tests/common/scratch_dir.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::Pointwise;
using ::testing::HasSubstr;

std::vector<float> faulted(const std::string& name, const Tensor& y) {
  for (const OutputFault& fault : output_faults()) {
    if (fault.name == name) {
      const Tensor out = fault.apply(y);
      return {out.floats().begin(), out.floats().end()};
    }
  }
  throw std::runtime_error("no fault " + name);
}

TEST(Calibrate, FaultsOnAHandMadeTensor) {
  // Two rows of four: [1 2 3 4; 5 6 7 8]; RMS = sqrt(204 / 8) = 5.0498.
  const Tensor y = Tensor::from_floats({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}, DType::float32);
  EXPECT_THAT(faulted("scale_1pct", y),
              Pointwise(FloatNear(1e-6f), {1.01f, 2.02f, 3.03f, 4.04f, 5.05f, 6.06f, 7.07f, 8.08f}));
  EXPECT_THAT(faulted("sign_first_row", y), ElementsAre(-1, -2, -3, -4, 5, 6, 7, 8));
  EXPECT_THAT(faulted("swap_halves", y), ElementsAre(3, 4, 1, 2, 7, 8, 5, 6));
  EXPECT_THAT(faulted("zero_last_row", y), ElementsAre(1, 2, 3, 4, 0, 0, 0, 0));
  const std::vector<float> offset = faulted("offset_5pct_rms", y);
  EXPECT_NEAR(offset[0], 1.0 + 0.05 * std::sqrt(204.0 / 8.0), 1e-6);
  EXPECT_NEAR(offset[7], 8.0 + 0.05 * std::sqrt(204.0 / 8.0), 1e-6);
  ASSERT_EQ(output_faults().size(), 6u);
}

TEST(Calibrate, NormalQuantileMatchesTables) {
  EXPECT_NEAR(normal_quantile(0.999), 3.090232306167813, 1e-9);
  EXPECT_NEAR(normal_quantile(0.95), 1.6448536269514722, 1e-9);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-12);
  EXPECT_THROW(normal_quantile(1.0), std::invalid_argument);
  EXPECT_THROW(normal_quantile(0.0), std::invalid_argument);
}

// A bfloat16 RMSNorm (dim 256, 8 tokens) and a gated MLP, 10 seeds each.
class CalibrateSuite : public ::testing::Test {
 protected:
  void SetUp() override {
    definition_ = {{"suite", "calibration"},
                   {"cases",
                    {{{"block", "rms_norm"},
                      {"mode", "prefill"},
                      {"spec", {{"dim", 256}}},
                      {"shapes", {{"batch", 1}, {"seq_len", 8}}},
                      {"expect", {{"pcc", 0.99}}}},
                     {{"block", "gated_mlp"},
                      {"mode", "decode"},
                      {"spec", {{"hidden_dim", 128}, {"ffn_dim", 256}}},
                      {"shapes", {{"batch", 2}}},
                      {"expect", {{"pcc", 0.99}, {"max_abs_error", 1.0}}}}}}};
    std::ofstream(path()) << definition_.dump(2);
  }
  std::string path() const { return scratch_.file("suite.json"); }

  test_support::ScratchDir scratch_;
  nlohmann::json definition_;
};

TEST_F(CalibrateSuite, ThresholdsFollowTheFitAndCatchFaults) {
  CalibrationOptions options;
  options.seeds = 10;
  const Calibration c = calibrate_suite_file(path(), options);
  EXPECT_EQ(c.suite, "calibration");
  EXPECT_NEAR(c.z, 3.090232306167813, 1e-9);
  ASSERT_EQ(c.cases.size(), 2u);
  for (const CaseCalibration& calibrated : c.cases) {
    ASSERT_EQ(calibrated.error, "");
    ASSERT_EQ(calibrated.outputs.size(), 1u);
    const OutputCalibration& o = calibrated.outputs[0];
    EXPECT_FALSE(o.exact) << calibrated.case_id;  // bfloat16 rounding: never exact.
    for (std::size_t k = 0; k < kMetricNames.size(); ++k) {
      const MetricFit& f = o.fits[k];
      // The threshold is the fitted quantile, and never below the worst seed.
      EXPECT_GE(f.limit, f.worst);
      EXPECT_GE(f.limit, std::exp(f.log_mean + c.z * f.log_sd) * (1 - 1e-12));
      EXPECT_GT(f.log_sd, 0.0);
    }
    EXPECT_DOUBLE_EQ(o.pcc_min, 1.0 - o.fits[0].limit);
    EXPECT_DOUBLE_EQ(o.nmse_max, o.fits[2].limit);
    // Rounding errs by about 2^-9 (bfloat16) to 2^-7 (bfloat8_b weights) relative: the
    // thresholds are far tighter than the hand-set 0.99.
    EXPECT_GT(o.pcc_min, 0.999) << calibrated.case_id;
    ASSERT_EQ(o.misses.size(), 6u);
    // Every fault far beyond rounding is caught on every seed: 5% scale (CCC and NMSE), a
    // negated row, swapped halves, a zeroed row.
    for (const FaultMiss& miss : o.misses) {
      if (miss.fault == "scale_1pct" || miss.fault == "offset_5pct_rms") continue;
      EXPECT_EQ(miss.miss_rate, 0.0) << calibrated.case_id << " " << miss.fault;
    }
  }
  // RMSNorm rounds once (relative error ~2^-9 = 0.2%): a 1% scale leaves its CCC band.
  EXPECT_EQ(c.cases[0].case_id, "rms_norm.prefill.s8");
  EXPECT_EQ(c.cases[0].outputs[0].misses[0].fault, "scale_1pct");
  EXPECT_EQ(c.cases[0].outputs[0].misses[0].miss_rate, 0.0);
  const std::string table = format_calibration(c);
  EXPECT_THAT(table, HasSubstr("calibration: 10 seeds, false alarm 0.001 per case output"));
  EXPECT_THAT(table, HasSubstr("rms_norm.prefill.s8 | y | "));
}

TEST_F(CalibrateSuite, ThresholdsAreWrittenIntoTheSuiteFile) {
  CalibrationOptions options;
  options.seeds = 10;
  options.run.filter = "rms_norm*";
  const Calibration c = calibrate_suite_file(path(), options);
  ASSERT_EQ(c.cases.size(), 1u);
  const nlohmann::json written = calibrated_suite_json(definition_, c);
  const nlohmann::json& expect = written["cases"][0]["expect"];
  EXPECT_DOUBLE_EQ(expect["pcc"].get<double>(), c.cases[0].outputs[0].pcc_min);
  EXPECT_DOUBLE_EQ(expect["ccc"].get<double>(), c.cases[0].outputs[0].ccc_min);
  EXPECT_DOUBLE_EQ(expect["nmse"].get<double>(), c.cases[0].outputs[0].nmse_max);
  EXPECT_EQ(written["cases"][0]["calibration"]["seeds"], 10);
  EXPECT_EQ(written["cases"][0]["calibration"]["miss_rates"].size(), 6u);
  // The uncalibrated case is left as it was.
  EXPECT_EQ(written["cases"][1], definition_["cases"][1]);
  // The written file is a valid suite file.
  const SuiteFile reparsed = parse_suite_file(written, "written.json", ".");
  EXPECT_EQ(reparsed.cases.size(), 2u);
  // A malformed calibration member is named by its path.
  nlohmann::json bad = written;
  bad["cases"][0]["calibration"]["false_alarm"] = 2;
  EXPECT_THAT([&] { parse_suite_file(bad, "bad.json", "."); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "bad.json: /cases/0/calibration/false_alarm: expected a number in (0, 0.5)")));
}

TEST_F(CalibrateSuite, BadOptionsNameTheOption) {
  CalibrationOptions options;
  options.seeds = 5;
  EXPECT_THAT([&] { calibrate_suite_file(path(), options); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("--seeds must be >= 10, got 5")));
  options.seeds = 10;
  options.false_alarm = 0.7;
  EXPECT_THAT([&] { calibrate_suite_file(path(), options); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("--false-alarm must be in (0, 0.5), got 0.7")));
  options.false_alarm = 1e-3;
  options.run.filter = "nothing*";
  EXPECT_THAT([&] { calibrate_suite_file(path(), options); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("no case selected")));
}

}  // namespace
}  // namespace ttt

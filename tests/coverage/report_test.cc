// Coverage reports (coverage/report.h) on the hand-made data of tiny_catalog.h: every number below
// is counted by hand from the seven records.
#include "coverage/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/coverage/tiny_catalog.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_coverage::tiny_catalog;
using testing_coverage::tiny_records;

const BlockCoverage& block(const CoverageReport& report, const std::string& name) {
  for (const BlockCoverage& b : report.blocks) {
    if (b.block == name) return b;
  }
  throw std::runtime_error("no block " + name);
}

const ParameterCoverage& parameter(const BlockCoverage& b, const std::string& name) {
  for (const ParameterCoverage& p : b.parameters) {
    if (p.name == name) return p;
  }
  throw std::runtime_error("no parameter " + name);
}

class TinyReport : public ::testing::Test {
 protected:
  TinyReport()
      : catalog_(tiny_catalog()), report_(build_coverage_report(tiny_records(), catalog_)) {}
  Catalog catalog_;
  CoverageReport report_;
};

TEST_F(TinyReport, CountsRecordsAndCalls) {
  EXPECT_EQ(report_.records, 7);  // No two records are identical.
  EXPECT_EQ(report_.calls, 7);
  EXPECT_EQ(report_.passed, 6);
  EXPECT_EQ(report_.failed, 1);
  EXPECT_EQ(report_.catalog, "tiny");
  EXPECT_EQ(report_.strength, 2);
}

TEST_F(TinyReport, PerModelShares) {
  ASSERT_EQ(report_.models.size(), 2u);
  const ModelCoverage& tiny = report_.models[0];
  EXPECT_EQ(tiny.name, "Tiny");
  EXPECT_EQ(tiny.counts.configurations, 14);
  // rms_norm prefill (R1), rms_norm decode (R6), gated_mlp decode bfloat8_b (R3, failed); R2 and
  // R7 ran on T3K, a topology Tiny does not target.
  EXPECT_EQ(tiny.counts.exercised, 3);
  EXPECT_EQ(tiny.counts.passing, 2);
  EXPECT_NEAR(tiny.counts.passing_pct(), 100.0 * 2 / 14, 1e-12);
  EXPECT_NEAR(tiny.counts.exercised_pct(), 100.0 * 3 / 14, 1e-12);
  std::vector<std::string> statuses;
  for (const ConfigCoverage& config : tiny.configurations) {
    if (config.status != ConfigStatus::missing) {
      statuses.push_back(config.config.block + " " + config.config.mode + " " +
                         config_status_name(config.status) + " " + std::to_string(config.calls));
    }
  }
  EXPECT_THAT(statuses, ElementsAre("rms_norm prefill passing 1", "rms_norm decode passing 1",
                                    "gated_mlp decode failing 1"));
  // Per block family of the model: rms_norm 2 of 2 pass; gated_mlp 0 of 4 (1 exercised).
  for (const auto& [name, counts] : tiny.blocks) {
    if (name == "rms_norm") {
      EXPECT_EQ(counts.configurations, 2);
      EXPECT_EQ(counts.passing, 2);
    }
    if (name == "gated_mlp") {
      EXPECT_EQ(counts.configurations, 4);
      EXPECT_EQ(counts.exercised, 1);
      EXPECT_EQ(counts.passing, 0);
    }
  }
  EXPECT_EQ(report_.models[1].counts.exercised, 0);
  // 28 distinct configurations; 3 exercised, 2 passing.
  EXPECT_EQ(report_.summary.configurations, 28);
  EXPECT_EQ(report_.summary.exercised, 3);
  EXPECT_EQ(report_.summary.passing, 2);
  EXPECT_EQ(report_.find_model("tiny"), &report_.models[0]);
}

TEST_F(TinyReport, PerParameterValuesAgainstTheDomain) {
  const BlockCoverage& norm = block(report_, "rms_norm");
  EXPECT_EQ(norm.records, 5);  // R1, R2, R4, R6, R7.
  EXPECT_EQ(norm.calls, 5);
  const ParameterCoverage& dim = parameter(norm, "dim");
  EXPECT_THAT(dim.domain, ElementsAre(64, 128));
  EXPECT_THAT(dim.tested, ElementsAre(64));
  EXPECT_THAT(dim.missing, ElementsAre(128));
  EXPECT_THAT(dim.outside, ElementsAre(80));
  EXPECT_EQ(dim.summary,
            "dim: tested [64, 64] (1 of 2 values); missing > 64: 128; outside the domain: 80");
  const ParameterCoverage& mode = parameter(norm, "mode");
  EXPECT_THAT(mode.tested, ElementsAre("prefill", "decode"));  // The declared order.
  EXPECT_EQ(mode.summary, "mode: tested prefill, decode (2 of 2 values); all values tested");
  EXPECT_THAT(parameter(norm, "batch").tested, ElementsAre(1, 32));
}

TEST_F(TinyReport, PairwiseCoverageCountedByHand) {
  // Tests (dim, mode, device, batch): R1 (64, prefill, N150, 1), R2 (64, decode, T3K, 32),
  // R4 (-, prefill, N150, 1), R6 (64, decode, N150, 1), R7 (64, prefill, T3K, 32).
  // dim-mode 2/4, dim-device 2/4, dim-batch 2/4 (dim 128 never), mode-device 4/4,
  // mode-batch 4/4, device-batch 2/4 (N150-1, T3K-32): 16 of 24 tuples, 2 of 6 complete.
  const TwayCoverage& tway = block(report_, "rms_norm").tway;
  EXPECT_EQ(tway.strength, 2);
  EXPECT_EQ(tway.combinations, 6);
  EXPECT_EQ(tway.complete_combinations, 2);
  EXPECT_EQ(tway.tuples, 24);
  EXPECT_EQ(tway.covered_tuples, 16);
  EXPECT_NEAR(tway.total_coverage, 16.0 / 24.0, 1e-15);
  EXPECT_NEAR(tway.simple_coverage, 2.0 / 6.0, 1e-15);
  EXPECT_EQ(tway.missing.size(), 8u);
  // One-way: 7 of 8 values (dim 128 missing); three-way: 4 combinations.
  CoverageReportOptions one_way;
  one_way.strength = 1;
  const CoverageReport one_way_report = build_coverage_report(tiny_records(), catalog_, one_way);
  const TwayCoverage& first = block(one_way_report, "rms_norm").tway;
  EXPECT_EQ(first.tuples, 8);
  EXPECT_EQ(first.covered_tuples, 7);
}

TEST_F(TinyReport, UnmatchedAndUndeclaredBlocks) {
  // my.block, the dim-80 norm, and R2 and R7: Tiny's norms, but on T3K (their device's mesh).
  ASSERT_EQ(report_.unmatched.size(), 4u);
  EXPECT_EQ(report_.unmatched[0].block, "my.block");
  EXPECT_EQ(report_.unmatched[1].identity, "RMS_NORM(dim=64,eps=1e-05,offset=0)");
  EXPECT_EQ(report_.unmatched[1].mode, "decode");
  EXPECT_EQ(report_.unmatched[1].topology, "T3K");
  EXPECT_EQ(report_.unmatched[2].identity, "RMS_NORM(dim=64,eps=1e-05,offset=0)");
  EXPECT_EQ(report_.unmatched[2].mode, "prefill");
  EXPECT_EQ(report_.unmatched[2].topology, "T3K");
  EXPECT_EQ(report_.unmatched[3].identity, "RMS_NORM(dim=80,eps=1e-05,offset=0)");
  EXPECT_EQ(report_.unmatched[3].mode, "prefill");
  EXPECT_EQ(report_.unmatched[3].topology, "");
  std::vector<std::string> names;
  for (const BlockCoverage& b : report_.blocks) names.push_back(b.block);
  EXPECT_THAT(names, ElementsAre("rms_norm", "gated_mlp", "my.block"));
  EXPECT_FALSE(block(report_, "gated_mlp").has_domain);
  EXPECT_EQ(block(report_, "gated_mlp").failed, 1);
}

TEST_F(TinyReport, CheckCoverageAgainstAFloor) {
  EXPECT_TRUE(check_coverage(report_, 7.0, {}).passed);  // 2/28 = 7.14%.
  const CoverageCheck low = check_coverage(report_, 10.0, {});
  EXPECT_FALSE(low.passed);
  EXPECT_THAT(low.failures,
              ElementsAre("catalog: 7.143% (2/28) of configurations pass, below 10%"));
  EXPECT_TRUE(check_coverage(report_, 14.0, {"Tiny"}).passed);  // 2/14 = 14.3%.
  const CoverageCheck both = check_coverage(report_, 10.0, {"Tiny", "wide"});
  EXPECT_FALSE(both.passed);
  EXPECT_THAT(both.failures, ElementsAre("Wide: 0% (0/14) of configurations pass, below 10%"));
  // The floor as given, the share with the digits that show it below (2/28 = 7.142857142857143).
  EXPECT_THAT(check_coverage(report_, 7.1428572, {}).failures,
              ElementsAre("catalog: 7.142857% (2/28) of configurations pass, below 7.1428572%"));
  EXPECT_THAT([&] { check_coverage(report_, 10.0, {"Huge"}); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("no model 'Huge' in the catalog (models: Tiny, Wide)")));
}

TEST_F(TinyReport, RenderingsCarryTheNumbers) {
  const std::string console = format_coverage_console(report_);
  EXPECT_THAT(console, HasSubstr("Configurations: 2/28 passing (7.1%), 3/28 exercised (10.7%)"));
  EXPECT_THAT(console, HasSubstr("pairwise coverage: 2/6 combinations complete (33.3%), 16/24 "
                                 "value tuples covered (66.7%)"));
  EXPECT_THAT(console,
              HasSubstr("failing  gated_mlp decode GATED_MLP(hidden=64,ffn=128,act=silu)"));
  EXPECT_THAT(console, HasSubstr("missing: dim=128, mode=prefill"));

  const std::string markdown = format_coverage_markdown(report_);
  EXPECT_THAT(markdown, HasSubstr("**2/28 configurations passing (7.1%)**"));
  EXPECT_THAT(markdown, HasSubstr("| Tiny | 14 | 3 (21.4%) | 2 (14.3%) |"));
  EXPECT_THAT(markdown, HasSubstr("| rms_norm | 5 | 5 | 0 | 2/6 (33.3%) | 16/24 (66.7%) |"));

  const nlohmann::json json = to_json(report_);
  EXPECT_EQ(json.at("format"), "ttt-coverage-report");
  EXPECT_EQ(json.at("summary").at("passing"), 2);
  EXPECT_EQ(json.at("models").at(0).at("exercised"), 3);
  const nlohmann::json& norm = json.at("blocks").at(0);
  EXPECT_EQ(norm.at("tway").at("covered_tuples"), 16);
  EXPECT_EQ(norm.at("tway").at("missing").size(), 8u);
  EXPECT_EQ(norm.at("tway").at("missing").at(0),
            (nlohmann::json{{"dim", 128}, {"mode", "prefill"}}));
  EXPECT_EQ(json.at("unmatched").size(), 4u);  // R2 and R7 on T3K among them.
  EXPECT_EQ(json.at("unmatched").at(1).at("topology"), "T3K");
  EXPECT_FALSE(json.at("unmatched").at(3).contains("topology"));
}

TEST(CoverageReport, StrengthOutsideOneToSixThrows) {
  CoverageReportOptions options;
  options.strength = 7;
  EXPECT_THROW(build_coverage_report({}, tiny_catalog(), options), std::invalid_argument);
}

TEST(CoverageReport, NoRecordsIsZeroPercent) {
  const CoverageReport report = build_coverage_report({}, tiny_catalog());
  EXPECT_EQ(report.summary.passing, 0);
  EXPECT_EQ(report.summary.configurations, 28);
  EXPECT_DOUBLE_EQ(report.summary.passing_pct(), 0.0);
  EXPECT_EQ(report.blocks.at(0).tway.covered_tuples, 0);
}

}  // namespace
}  // namespace ttt

// Suite results as coverage data (coverage/gate/suite_coverage.h).
#include "coverage/gate/suite_coverage.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/coverage/tiny_catalog.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

CaseResult norm_case(const std::string& id, const std::string& mode, CaseStatus status) {
  CaseResult result;
  result.id = id;
  result.kind = "rms_norm";
  result.mode = mode;
  result.spec = {{"dim", 64}, {"eps", 1e-5}, {"add_unit_offset", false}};
  result.device = "T3K";
  result.inputs = {{"x", {1, 64}, DType::bfloat16}, {"weight", {64}, DType::float32}};
  result.status = status;
  return result;
}

RunResults results_of(std::vector<CaseResult> cases) {
  RunResults results;
  SuiteResult suite;
  suite.name = "tiny";
  suite.fingerprint = "f";
  suite.cases = std::move(cases);
  results.suites.push_back(std::move(suite));
  return results;
}

TEST(SuiteCoverage, OneRecordPerCaseThatRan) {
  CaseResult wrapped = norm_case("wrapped", "decode", CaseStatus::pass);
  wrapped.kind = "wrapped";
  const std::vector<CoverageRecord> records = coverage_records(results_of(
      {norm_case("a", "decode", CaseStatus::pass), norm_case("b", "prefill", CaseStatus::fail),
       norm_case("c", "decode", CaseStatus::error), norm_case("d", "decode", CaseStatus::not_run),
       wrapped}));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].source, "suite");
  EXPECT_EQ(records[0].origin, "tiny");
  EXPECT_EQ(records[0].mode, "decode");
  EXPECT_EQ(records[0].device, "T3K");
  EXPECT_EQ(records[0].passed, 1);
  EXPECT_EQ(records[1].mode, "prefill");
  EXPECT_EQ(records[1].failed, 1);
  EXPECT_EQ(records[2].failed, 1);  // An error counts as a failure.
}

TEST(SuiteCoverage, ReportOfSuiteResults) {
  const CoverageReport report =
      coverage_report(results_of({norm_case("a", "decode", CaseStatus::pass),
                                  norm_case("b", "prefill", CaseStatus::fail)}),
                      testing_coverage::tiny_catalog());
  const ModelCoverage* tiny = report.find_model("Tiny");
  ASSERT_NE(tiny, nullptr);
  EXPECT_EQ(tiny->counts.exercised, 2);
  EXPECT_EQ(tiny->counts.passing, 1);
}

TEST(SuiteCoverage, ReadsResultsJsonOrCoverageLines) {
  const fs::path dir =
      fs::temp_directory_path() / ("ttt_suite_coverage_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string results = (dir / "R.json").string();
  write_run_results(results, results_of({norm_case("a", "decode", CaseStatus::pass)}));
  const std::string lines = (dir / "c.jsonl").string();
  write_coverage_file(lines,
                      coverage_records(results_of({norm_case("b", "prefill", CaseStatus::pass)})));
  const std::vector<CoverageRecord> records = read_coverage_data({results, lines});
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].mode, "decode");
  EXPECT_EQ(records[1].mode, "prefill");
  const std::string other = (dir / "other.json").string();
  std::ofstream(other) << R"({"format": "ttt-gate-decision"})";
  EXPECT_THAT([&] { read_coverage_data(other); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr(other + ":1: not a coverage record")));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ttt

// Issue 12, run for real: the Llama-3.2-1B suite (suites/llama-3.2-1b.json) runs, and its coverage
// records pass every configuration the catalog's Llama-3.2-1B needs — the fast check
// (tests/coverage/suite_coverage_test.cc) only shows the cases plan them; this one shows they
// pass. About 40 s, so labelled `model` (run by CI, not by the unit tier).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;

TEST(ModelSuiteCoverage, Llama32OneBPassesEveryCatalogConfiguration) {
  const test_support::ScratchDir scratch;
  const std::filesystem::path& directory = scratch.path();
  const std::string coverage = (directory / "coverage.jsonl").string();
  const std::string suite =
      (std::filesystem::path(TTT_SOURCE_DIR) / "suites" / "llama-3.2-1b.json").string();

  const cli_test::RunResult run = cli_test::run_ttt(
      directory, {"suite", "run", suite, "--coverage", coverage, "--warmup", "0", "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;

  const cli_test::RunResult report = cli_test::run_ttt(
      directory,
      {"coverage", "report", coverage, "--require-model", "llama-3.2-1b", "--fail-under", "100"});
  EXPECT_EQ(report.exit_code, 0) << report.out << report.err;
  EXPECT_THAT(report.out, HasSubstr("Llama-3.2-1B"));
}

}  // namespace
}  // namespace ttt

// `ttt select` (docs/cli.md "ttt select"): the summary, the plan and the filter of a change in a
// scratch git repository, and the errors of a --base that is not a commit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

namespace fs = std::filesystem;
using cli_test::read_text;
using cli_test::run_ttt;
using ::testing::HasSubstr;

class SelectCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_ / "repo";
    fs::create_directories(repo_ / "suites");
    git("init -q");
    git("config user.email t@example.com");
    git("config user.name test");
    write("suites/tiny.json", R"({"suite": "tiny", "defaults": {"expect": {"pcc": 0.99}}, "cases": [
        {"name": "norm", "block": "rms_norm", "mode": "decode", "spec": {"dim": 64}},
        {"name": "ffn", "block": "gated_mlp", "mode": "decode", "spec": {"hidden_dim": 64, "ffn_dim": 128}}]})");
    write("docs/a.md", "a\n");
    git("add -A");
    git("commit -q -m base");
    git("tag base");
    write("blocks/ffn/gated_mlp.cc", "// changed\n");
    write("docs/a.md", "b\n");
    git("add -A");
    git("commit -q -m head");
  }
  void git(const std::string& args) {
    const std::string command = "git -C " + cli_test::shell_quote(repo_.string()) + " " + args;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  void write(const std::string& path, const std::string& text) {
    fs::create_directories((repo_ / path).parent_path());
    std::ofstream(repo_ / path) << text;
  }
  // Each test its own directory: CTest runs the tests of this file as parallel processes.
  test_support::ScratchDir scratch_;
  fs::path dir_ = scratch_.path();
  fs::path repo_;
};

TEST_F(SelectCommand, ABlockChangeSelectsItsKindsCasesWithoutARegistry) {
  const std::string plan = (dir_ / "plan.json").string();
  const std::string filter = (dir_ / "filter.txt").string();
  const auto run = run_ttt(dir_, {"select", "--repo", repo_.string(), "--base", "base", "--head",
                                  "HEAD", "--json", plan, "-o", filter});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // No registry: no case has evidence, so both run; the FFN case counts under its first reason.
  EXPECT_THAT(run.err, HasSubstr("ttt: note: no registry at"));
  EXPECT_THAT(run.out, HasSubstr("2 of 2 cases: 1 of tiny without evidence (1 new fingerprint), "
                                 "1 touched by blocks/ffn\n"));
  EXPECT_THAT(run.out, HasSubstr("run: ttt suite run suites/tiny.json\n"));
  EXPECT_EQ(read_text(filter), "*\n");
  const nlohmann::json json = nlohmann::json::parse(read_text(plan));
  EXPECT_EQ(json["format"], "ttt-selection-plan");
  EXPECT_EQ(json["paths"].size(), 2u);
  EXPECT_EQ(json["paths"][0]["path"], "blocks/ffn/gated_mlp.cc");
  EXPECT_EQ(json["paths"][0]["effect"], "kinds");
  EXPECT_EQ(json["paths"][1]["effect"], "none");
  EXPECT_EQ(json["cases"][1]["reasons"][0]["detail"], "blocks/ffn");
}

TEST_F(SelectCommand, ABaseThatIsNotACommitExitsTwoNamingIt) {
  const auto run = run_ttt(dir_, {"select", "--repo", repo_.string(), "--base", "nope"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err,
              HasSubstr("ttt: error: [select] --base 'nope' is not a commit of " + repo_.string()));
  const auto missing = run_ttt(dir_, {"select", "--repo", repo_.string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("--base"));
}

TEST_F(SelectCommand, AnExplicitRegistryThatCannotBeReadIsAnError) {
  const auto run = run_ttt(dir_, {"select", "--repo", repo_.string(), "--base", "base",
                                  "--registry", (dir_ / "none.json").string()});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("none.json"));
}

TEST_F(SelectCommand, TheGateBlocksWhenASelectedCaseDidNotRun) {
  // Select (no registry: both cases), run only the norm, gate with the plan: the FFN is missing.
  const std::string plan = (dir_ / "plan.json").string();
  ASSERT_EQ(run_ttt(dir_, {"select", "--repo", repo_.string(), "--base", "base", "--json", plan})
                .exit_code,
            0);
  const std::string results = (dir_ / "results.json").string();
  const auto suite = run_ttt(dir_, {"suite", "run", (repo_ / "suites/tiny.json").string(),
                                    "--filter", "tiny/norm", "--json", results, "--quiet"});
  ASSERT_EQ(suite.exit_code, 0) << suite.err;
  const auto gate = run_ttt(dir_, {"gate", "--results", results, "--selection", plan});
  EXPECT_EQ(gate.exit_code, 1) << gate.err;
  EXPECT_THAT(gate.out, HasSubstr("BLOCK selection tiny/ffn (selected): ttt select chose this case "
                                  "(block_folder blocks/ffn) but the results do not hold it"));

  // A file that is not a plan is bad input, named.
  const std::string not_plan = (dir_ / "not_plan.json").string();
  std::ofstream(not_plan) << R"({"format": "ttt-suite-results"})";
  const auto bad = run_ttt(dir_, {"gate", "--results", results, "--selection", not_plan});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("ttt: error: " + not_plan + ": "));
}

}  // namespace
}  // namespace ttt

// `ttt suite check --coverage FILE --require-model NAME`: the coverage a suite file plans, checked
// without running a case (docs/coverage.md "Planned coverage"). Exit 0 when every configuration of
// each named catalog model is planned, 1 listing the ones that are not, 2 for an unknown model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::RunResult;
using ::testing::HasSubstr;
using ::testing::Not;

class SuiteCheckCoverage : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_.file(name); }
  RunResult ttt(const std::vector<std::string>& args) const {
    return cli_test::run_ttt(scratch_.path(), args);
  }
  static std::string shipped(const std::string& suite) {
    return (std::filesystem::path(TTT_SOURCE_DIR) / "suites" / (suite + ".json")).string();
  }

  test_support::ScratchDir scratch_;
};

TEST_F(SuiteCheckCoverage, ShippedSuitePlansItsWholeModel) {
  const RunResult result = ttt({"suite", "check", shipped("gpt2"), "--require-model", "GPT-2"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("GPT-2: the cases plan 14/14 configurations"));
}

// GPT-2 targets N150 and N300 (models/catalog/catalog.json): its single-device suite plans none
// of its configurations on the 1x2 mesh.
TEST_F(SuiteCheckCoverage, AModelOnATopologyIsItsOwnRequirement) {
  const RunResult result = ttt({"suite", "check", shipped("gpt2"), "--require-model", "GPT-2",
                                "--require-model", "gpt-2@n300"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(result.out, HasSubstr("GPT-2: the cases plan 14/14 configurations"));
  EXPECT_THAT(result.err, HasSubstr("GPT-2@N300: the cases plan 0/14 configurations"));
  EXPECT_THAT(result.err, HasSubstr("not planned: mlp decode bfloat4_b MLP("));
}

// The mesh suites run the tensor-parallel kinds, which count as the single-device blocks they run
// on every device (tp_gated_mlp as gated_mlp, the tp_embedding's and tp_lm_head's vocabulary
// shards scaled inside their Spec): each plans all 14 configurations of its model's mesh row.
TEST_F(SuiteCheckCoverage, MeshSuitesPlanTheirModelOnTheirMesh) {
  const RunResult result =
      ttt({"suite", "check", shipped("llama-3.1-70b-t3k"), shipped("llama-3.1-70b-tg"),
           shipped("mixtral-8x7b-t3k"), "--require-model", "Llama-3.1-70B@T3K", "--require-model",
           "Llama-3.1-70B@TG", "--require-model", "Mixtral-8x7B-v0.1@T3K"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("Llama-3.1-70B@T3K: the cases plan 14/14 configurations"));
  EXPECT_THAT(result.out, HasSubstr("Llama-3.1-70B@TG: the cases plan 14/14 configurations"));
  EXPECT_THAT(result.out, HasSubstr("Mixtral-8x7B-v0.1@T3K: the cases plan 14/14 configurations"));
  EXPECT_EQ(result.err, "");
}

TEST_F(SuiteCheckCoverage, ListsTheConfigurationsNotPlanned) {
  // Llama-3.2-1B's final norm in both modes under the default preset: 2 of its 14
  // configurations (the norm's Spec and its bfloat16 weights are the same in every preset).
  std::ofstream(path("norms.json")) << R"({
    "suite": "norms", "model": "llama-3.2-1b",
    "defaults": {"shapes": {"batch": 1, "seq_len": 8}, "expect": {"pcc": 0.99}},
    "cases": [{"module": "norm", "mode": "prefill"}, {"module": "norm", "mode": "decode"}]})";
  const RunResult result =
      ttt({"suite", "check", path("norms.json"), "--require-model", "llama-3.2-1b"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(result.err, HasSubstr("Llama-3.2-1B: the cases plan 2/14 configurations"));
  EXPECT_THAT(result.err, HasSubstr("not planned: gated_mlp decode bfloat4_b GATED_MLP("
                                    "hidden=2048,ffn=8192,act=silu)"));
  EXPECT_THAT(result.err, Not(HasSubstr("not planned: rms_norm")));
}

TEST_F(SuiteCheckCoverage, WritesThePlannedRecords) {
  const RunResult result =
      ttt({"suite", "check", shipped("llama-3.2-1b"), "--coverage", path("plan.jsonl")});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  // 22 cases: 14 modules x modes at the default preset, 4 attention and FFN cases at the other
  // presets and 4 edge regimes. Cases of one configuration and shape bucket aggregate: the
  // attention_norm, ffn_norm and final norm of a mode (and the two norm regimes, prefill), the
  // full-KV-cache regime with decode attention; the batch-4 regime of decode attention is a
  // bucket of its own. 14 configurations + 1 = 15 records.
  std::istringstream lines(read_text(path("plan.jsonl")));
  std::string line;
  std::vector<nlohmann::json> records;
  while (std::getline(lines, line)) records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 15u);
  std::uint64_t calls = 0;
  for (const nlohmann::json& record : records) {
    EXPECT_EQ(record.at("source"), "plan");
    EXPECT_EQ(record.at("passed"), 0);
    EXPECT_EQ(record.at("failed"), 0);
    calls += record.at("calls").get<std::uint64_t>();
  }
  EXPECT_EQ(calls, 22u);
  // The report sees every configuration exercised, none with a verdict.
  const RunResult report = ttt({"coverage", "report", path("plan.jsonl"), "--json", "-"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const nlohmann::json json = nlohmann::json::parse(report.out);
  int found = 0;
  for (const nlohmann::json& model : json.at("models")) {
    if (model.at("name") != "Llama-3.2-1B") continue;
    ++found;
    EXPECT_EQ(model.at("exercised"), 14);
    EXPECT_EQ(model.at("passing"), 0);
  }
  EXPECT_EQ(found, 1);
}

TEST_F(SuiteCheckCoverage, RecordsToStandardOutputKeepItClean) {
  const RunResult result =
      ttt({"suite", "check", shipped("gpt2"), "--coverage", "-", "--require-model", "GPT-2"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_EQ(nlohmann::json::parse(line).at("source"), "plan") << line;
  }
  EXPECT_THAT(result.err, HasSubstr("ok (19 cases)"));  // 18 and the dc_offset regime.
  EXPECT_THAT(result.err, HasSubstr("GPT-2: the cases plan 14/14"));
}

TEST_F(SuiteCheckCoverage, UnknownModelIsAUsageError) {
  const RunResult result = ttt({"suite", "check", shipped("gpt2"), "--require-model", "gpt-3",
                                "--coverage", path("plan.jsonl")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("no model 'gpt-3'"));
  EXPECT_THAT(result.err, HasSubstr("GPT-2"));  // The models the catalog has.
  EXPECT_FALSE(std::filesystem::exists(path("plan.jsonl")));
}

}  // namespace
}  // namespace ttt

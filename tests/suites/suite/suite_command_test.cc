// `ttt suite` and `ttt compose`, run as subprocesses: exit codes, outputs, sharding (flag and
// GoogleTest's environment), merging and its refusals, and bad input naming the file and path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "models/model.h"
#include "tests/common/scratch_dir.h"
#include "tests/suites/suite/tiny_llama.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::run_shell;
using cli_test::RunResult;
using cli_test::shell_quote;

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class SuiteCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    nlohmann::json config = suites_test::tiny_llama_config(256);
    std::ofstream(scratch_.path() / "config.json") << config.dump();
    nlohmann::json cases = nlohmann::json::array();
    for (const char* mode : {"prefill", "decode"}) {
      for (const char* module : {"embedding", "layers.*.attention_norm", "layers.*.attention",
                                 "layers.*.ffn_norm", "layers.*.ffn", "norm", "lm_head"}) {
        cases.push_back({{"module", module}, {"mode", mode}});
      }
    }
    suite_ = {{"suite", "tiny"},
              {"model", {{"config", "config.json"}}},
              {"seed", 5},
              {"defaults",
               {{"shapes", {{"batch", 1}, {"seq_len", 16}, {"context_len", 15}}},
                {"expect", {{"pcc", 0.98}}}}},
              {"cases", cases}};
    write_suite(suite_);
  }

  std::string path(const std::string& name) const { return scratch_.file(name); }
  void write_suite(const nlohmann::json& json, const std::string& name = "tiny.json") const {
    std::ofstream(scratch_.path() / name) << json.dump(2);
  }

  RunResult run(const std::string& arguments, const std::string& environment = "") const {
    return run_shell(scratch_.path(), cli_test::ttt_command({}, environment) + " " + arguments);
  }

  test_support::ScratchDir scratch_;
  nlohmann::json suite_;
};

TEST_F(SuiteCommand, RunWritesJsonAndJunitAndExitsZeroWhenEveryCasePasses) {
  const RunResult result =
      run("suite run " + shell_quote(path("tiny.json")) + " --json " + shell_quote(path("r.json")) +
          " --junit " + shell_quote(path("r.xml")));
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, AllOf(HasSubstr("suite tiny (model "), HasSubstr("config.json)")));
  EXPECT_THAT(result.out, HasSubstr("14 cases: 14 passed, 0 failed, 0 errors"));
  // Standard error is not a terminal here: one progress line per finished case.
  EXPECT_THAT(result.err, StartsWith("[suite 1/14] pass embedding.prefill.s16 ("));
  EXPECT_THAT(result.err, HasSubstr("\n[suite 14/14] pass lm_head.decode ("));
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 14);
  const nlohmann::json json = nlohmann::json::parse(read_text(path("r.json")));
  EXPECT_EQ(json.at("format"), "ttt-suite-results");
  EXPECT_EQ(json.at("summary").at("passed"), 14);
  const nlohmann::json& first = json.at("suites").at(0).at("cases").at(0);
  EXPECT_EQ(first.at("id"), "embedding.prefill.s16");
  EXPECT_EQ(first.at("timing").at("wall_ns").size(), 9u);
  EXPECT_THAT(read_text(path("r.xml")), HasSubstr("<testsuite name=\"tiny\" tests=\"14\""));
}

// `ttt suite calibrate` on the tiny model's decode norms: the table, the JSON, the suite file
// with the thresholds written in (which `ttt suite check` accepts), and bad options (exit 2).
TEST_F(SuiteCommand, CalibrateWritesThresholdsWithTheirRates) {
  const std::string filter = " --filter 'ffn_norm.decode,norm.decode' --seeds 10";
  RunResult result = run("suite calibrate " + shell_quote(path("tiny.json")) + filter + " --json " +
                         shell_quote(path("cal.json")) + " -o " + shell_quote(path("out.json")));
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("tiny: 10 seeds, false alarm 0.001 per case output"));
  EXPECT_THAT(result.out, HasSubstr("| miss scale_1pct | miss scale_5pct |"));
  const nlohmann::json calibration = nlohmann::json::parse(cli_test::read_text(path("cal.json")));
  EXPECT_EQ(calibration.at("format"), "ttt-calibration");
  ASSERT_EQ(calibration.at("cases").size(), 2u);
  const nlohmann::json& norm = calibration.at("cases").at(1);
  EXPECT_EQ(norm.at("case"), "norm.decode");
  // RMSNorm in bfloat16: a 5% scale is never missed.
  EXPECT_EQ(norm.at("outputs").at(0).at("miss_rates").at("scale_5pct"), 0.0);
  const nlohmann::json written = nlohmann::json::parse(cli_test::read_text(path("out.json")));
  const nlohmann::json& expect = written.at("cases").at(12).at("expect");
  EXPECT_EQ(expect.at("pcc"), norm.at("outputs").at(0).at("pcc_min"));
  EXPECT_EQ(written.at("cases").at(12).at("calibration").at("seeds"), 10);
  result = run("suite check " + shell_quote(path("out.json")));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  result = run("suite calibrate " + shell_quote(path("tiny.json")) + " --seeds 5");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--seeds must be >= 10, got 5"));
  result = run("suite calibrate " + shell_quote(path("tiny.json")) + " --false-alarm 0.9");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--false-alarm must be in (0, 0.5), got 0.9"));
}

TEST_F(SuiteCommand, AFailedExpectationExitsOne) {
  suite_["cases"][4]["expect"] = {{"nmse", 1e-12}};
  write_suite(suite_);
  const RunResult result = run("suite run " + shell_quote(path("tiny.json")) + " --filter 'ffn.*'");
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("fail ffn.prefill.s16: accuracy:y: nmse"));
  EXPECT_THAT(result.out, HasSubstr("2 cases: 1 passed, 1 failed"));
  EXPECT_THAT(result.err, StartsWith("[suite 1/2] fail ffn.prefill.s16 ("));
  const RunResult quiet =
      run("suite run " + shell_quote(path("tiny.json")) + " --filter 'ffn.*' --quiet");
  EXPECT_EQ(quiet.exit_code, 1);
  EXPECT_EQ(quiet.err, "") << "--quiet: no progress lines";
}

TEST_F(SuiteCommand, ShardsByFlagOrEnvironmentAndMerges) {
  const std::string suite = shell_quote(path("tiny.json"));
  ASSERT_EQ(run("suite run " + suite + " --shard 0/2 --quiet --json " + shell_quote(path("a.json")))
                .exit_code,
            0);
  const RunResult second =
      run("suite run " + suite + " --quiet --json " + shell_quote(path("b.json")),
          "GTEST_SHARD_INDEX=1 GTEST_TOTAL_SHARDS=2");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const nlohmann::json a = nlohmann::json::parse(read_text(path("a.json")));
  const nlohmann::json b = nlohmann::json::parse(read_text(path("b.json")));
  EXPECT_EQ(a.at("suites")[0].at("cases").size(), 7u);
  EXPECT_EQ(b.at("suites")[0].at("shard").at("indices"), nlohmann::json::array({1}));
  EXPECT_EQ(b.at("suites")[0].at("cases")[0].at("index"), 1);

  const RunResult merged =
      run("suite merge " + shell_quote(path("a.json")) + " " + shell_quote(path("b.json")) +
          " --json " + shell_quote(path("m.json")));
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const nlohmann::json m = nlohmann::json::parse(read_text(path("m.json")));
  EXPECT_EQ(m.at("suites")[0].at("cases").size(), 14u);
  EXPECT_EQ(m.at("suites")[0].at("complete"), true);
  EXPECT_EQ(m.at("suites")[0].at("cases")[1].at("index"), 1);

  const RunResult incomplete = run("suite merge " + shell_quote(path("a.json")) +
                                   " --require-complete --json " + shell_quote(path("x.json")));
  EXPECT_EQ(incomplete.exit_code, 2);
  EXPECT_THAT(incomplete.err, HasSubstr("has 1 of 2 shards"));

  // Another definition of the suite cannot be merged with these shards.
  suite_["seed"] = 6;
  write_suite(suite_);
  ASSERT_EQ(run("suite run " + suite + " --shard 1/2 --quiet --json " + shell_quote(path("c.json")))
                .exit_code,
            0);
  const RunResult refused =
      run("suite merge " + shell_quote(path("a.json")) + " " + shell_quote(path("c.json")));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, AllOf(HasSubstr("ttt: error: [suite merge] suite 'tiny'"),
                                 HasSubstr("does not match")));
}

TEST_F(SuiteCommand, ComposePredictsAndMeasures) {
  ASSERT_EQ(run("suite run " + shell_quote(path("tiny.json")) + " --quiet --json " +
                shell_quote(path("r.json")))
                .exit_code,
            0);
  const RunResult composed =
      run("compose " + shell_quote(path("tiny.json")) + " --results " +
          shell_quote(path("r.json")) + " --json " + shell_quote(path("c.json")));
  ASSERT_EQ(composed.exit_code, 0) << composed.err;
  EXPECT_THAT(composed.out, HasSubstr("composition of suite tiny"));
  EXPECT_THAT(composed.out, HasSubstr("prefill: batch 1, 16 tokens"));
  EXPECT_THAT(composed.out, HasSubstr("decode: batch 1, context 15"));
  EXPECT_THAT(composed.out, Not(HasSubstr("INCOMPLETE")));
  const nlohmann::json json = nlohmann::json::parse(read_text(path("c.json")));
  EXPECT_EQ(json.at("composition").at("prefill").at("complete"), true);
  EXPECT_EQ(json.at("composition").at("prefill").at("blocks").size(), 7u);

  // --measure runs the model; whether the timing lands within 10% depends on the machine's
  // load, so this checks the plumbing (compose_measure_test checks the figures).
  const RunResult measured = run("compose " + shell_quote(path("tiny.json")) + " --results " +
                                 shell_quote(path("r.json")) + " --layers 1 --measure --json " +
                                 shell_quote(path("m.json")));
  EXPECT_TRUE(measured.exit_code == 0 || measured.exit_code == 1) << measured.err;
  EXPECT_THAT(measured.out, HasSubstr("measured latency"));
  const nlohmann::json m = nlohmann::json::parse(read_text(path("m.json")));
  EXPECT_EQ(m.at("comparison").at("modes").size(), 2u);
  EXPECT_EQ(m.at("composition").at("layers"), 1);
}

// `ttt compose --targets`: a miss exits 1 naming the target, a pass exits 0, a mode with no
// results prints no numbers, and targets for another model are refused naming both models.
TEST_F(SuiteCommand, ComposeJudgesModelTargets) {
  ASSERT_EQ(run("suite run " + shell_quote(path("tiny.json")) + " --quiet --json " +
                shell_quote(path("r.json")))
                .exit_code,
            0);
  const std::string model = scratch_.file("config.json");
  const auto write_targets = [&](const std::string& name, const std::string& target_model,
                                 double pcc_min) {
    std::ofstream(scratch_.path() / name) << nlohmann::json{
        {"format", "ttt-model-targets"},
        {"format_version", 1},
        {"model", target_model},
        {"device", "N150"},
        {"source", "test"},
        {"logits", {{"pcc_min", pcc_min}}}}.dump();
  };
  const std::string compose =
      "compose " + shell_quote(path("tiny.json")) + " --results " + shell_quote(path("r.json"));
  // The tiny model's bfloat16 logits cannot reach a PCC of 0.999999.
  write_targets("strict.json", model, 0.999999);
  RunResult result = run(compose + " --targets " + shell_quote(path("strict.json")));
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("targets " + path("strict.json") + " (" + model +
                                    " on N150):\n  MISS prefill logits PCC 0."));
  EXPECT_THAT(result.out, HasSubstr("< minimum 0.999999"));
  EXPECT_THAT(result.out, HasSubstr("targets: 2 of 2 missed"));

  write_targets("loose.json", model, 0.5);
  result = run(compose + " --targets " + shell_quote(path("loose.json")) + " --json " +
               shell_quote(path("c.json")));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("  pass decode logits PCC 0."));
  EXPECT_THAT(result.out, HasSubstr("targets: met"));
  EXPECT_EQ(nlohmann::json::parse(read_text(path("c.json"))).at("targets").at("ok"), true);

  // Results of the prefill cases only: decode is not predicted, and says so without a number.
  ASSERT_EQ(run("suite run " + shell_quote(path("tiny.json")) +
                " --filter '*.prefill*' --quiet "
                "--json " +
                shell_quote(path("prefill.json")))
                .exit_code,
            0);
  result = run("compose " + shell_quote(path("tiny.json")) + " --results " +
               shell_quote(path("prefill.json")) + " --targets " + shell_quote(path("loose.json")) +
               " --json " + shell_quote(path("p.json")));
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("\nno cases for decode: not predicted\n"));
  EXPECT_THAT(result.out, HasSubstr("  MISS decode logits PCC not judged: no cases for decode: "
                                    "not predicted"));
  EXPECT_THAT(result.out, Not(HasSubstr("0.000 ms")));
  EXPECT_THAT(result.out, Not(HasSubstr("PCC 1.000000")));
  EXPECT_THAT(result.out, Not(HasSubstr("decode: batch")));
  EXPECT_TRUE(
      nlohmann::json::parse(read_text(path("p.json"))).at("composition").at("decode").is_null());

  // Targets of another model.
  write_targets("gpt2.json", "gpt2", 0.9);
  result = run(compose + " --targets " + shell_quote(path("gpt2.json")));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("are for model 'gpt2', the suite's model is '" + model + "'"));
  // A slice is not the model the targets are for.
  result = run(compose + " --layers 1 --targets " + shell_quote(path("loose.json")));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("the prediction is a slice (1 of 2 layers"));
  // A bad targets file names itself and the field.
  std::ofstream(scratch_.path() / "bad.json")
      << R"({"format": "ttt-model-targets", "format_version": 1,
      "model": "m", "device": "N150", "source": "s", "logits": {"pcc": 0.9}})";
  result = run(compose + " --targets " + shell_quote(path("bad.json")));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr(path("bad.json") + ": /logits/pcc: unknown field 'pcc'"));
}

TEST_F(SuiteCommand, ListAndCheck) {
  const RunResult list = run("suite list " + shell_quote(path("tiny.json")));
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("tiny ("));
  EXPECT_THAT(list.out, HasSubstr("ffn.decode  gated_mlp decode  module layers.*.ffn x2"));
  const RunResult check = run("suite check " + shell_quote(path("tiny.json")));
  EXPECT_EQ(check.exit_code, 0);
  EXPECT_THAT(check.out, HasSubstr(": ok (14 cases)"));
}

TEST_F(SuiteCommand, BadInputExitsTwoWithOneLineNamingTheFileAndPath) {
  suite_["cases"][2]["spec"] = {{"num_heads", "four"}};
  write_suite(suite_, "bad.json");
  for (const char* command : {"suite run", "suite check", "suite list"}) {
    const RunResult result = run(std::string(command) + " " + shell_quote(path("bad.json")));
    EXPECT_EQ(result.exit_code, 2) << command;
    EXPECT_THAT(result.err, HasSubstr("bad.json: /cases/2/spec/num_heads: expected an integer"))
        << command;
  }
  EXPECT_EQ(run("suite run " + shell_quote(path("tiny.json")) + " --shard 2/2").exit_code, 2);
  EXPECT_EQ(run("suite run").exit_code, 2);
  EXPECT_EQ(run("suite run " + shell_quote(path("missing.json"))).exit_code, 2);
  EXPECT_EQ(run("suite run " + shell_quote(path("tiny.json")) + " --filter 'nothing*'").exit_code,
            2);
  EXPECT_EQ(run("suite run " + shell_quote(path("tiny.json")) + " --repetitions 3").exit_code, 2);
  const RunResult results = run("compose " + shell_quote(path("tiny.json")) + " --results " +
                                shell_quote(path("missing.json")));
  EXPECT_EQ(results.exit_code, 2);
  EXPECT_THAT(results.err, HasSubstr("missing.json: cannot open the results file"));
  const RunResult env = run("suite run " + shell_quote(path("tiny.json")),
                            "GTEST_SHARD_INDEX=3 GTEST_TOTAL_SHARDS=2");
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_THAT(env.err, HasSubstr("GTEST_SHARD_INDEX=3"));
}

}  // namespace
}  // namespace ttt

// `ttt gate`, run as a subprocess on hand-written suite results: exit 0 / 1 / 2, the Markdown,
// JUnit and JSON outputs, --write-baseline, coverage, and bad inputs (missing baseline,
// mismatched suites, corrupt JSON).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::RunResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::int64_t> samples(std::int64_t first, std::size_t count) {
  std::vector<std::int64_t> values(count);
  std::iota(values.begin(), values.end(), first);
  return values;
}

// One case of a Llama-3.1-8B-shaped gated MLP in decode with its PCC and wall times (ns).
nlohmann::json make_case(const std::string& id, double pcc, const std::vector<std::int64_t>& wall,
                         const std::string& status = "pass") {
  Metrics metrics;
  metrics.shape = {1, 4096};
  metrics.numel = 4096;
  metrics.pcc = pcc;
  metrics.max_abs_error = 0.01;
  nlohmann::json verdicts = nlohmann::json::array();
  if (status == "fail") {
    verdicts.push_back(
        {{"expectation", "accuracy:y"}, {"passed", false}, {"message", "pcc 0.98 < 0.99"}});
  }
  return {{"id", id},
          {"index", 0},
          {"kind", "gated_mlp"},
          {"mode", "decode"},
          {"identity", "GATED_MLP(hidden=4096,ffn=14336,act=silu)"},
          {"spec", {{"hidden_dim", 4096}, {"ffn_dim", 14336}, {"activation", "silu"}}},
          {"impl_config", nlohmann::json::object()},
          {"device", "N150"},
          {"shapes", {{"batch", 1}}},
          {"inputs", {{{"name", "x"}, {"shape", {1, 4096}}, {"dtype", "bfloat16"}}}},
          {"status", status},
          {"verdicts", verdicts},
          {"outputs", {{{"name", "y"}, {"metrics", to_json(metrics)}}}},
          {"timing", {{"warmup", 2}, {"wall_ns", wall}, {"cpu_ns", wall}}}};
}

nlohmann::json make_results(const std::vector<nlohmann::json>& cases,
                            const std::string& suite = "llama-3.1-8b",
                            std::vector<int> shards = {0}, int total = 1) {
  return {{"format", "ttt-suite-results"},
          {"format_version", 1},
          {"created_utc", "2026-01-01T00:00:00Z"},
          {"machine",
           {{"cpu_model", "Test CPU"}, {"cores", 2}, {"build_type", "Release"}, {"commit", "c1"}}},
          {"suites",
           {{{"name", suite},
             {"fingerprint", "f1"},
             {"total_cases", cases.size()},
             {"shard", {{"indices", shards}, {"total", total}}},
             {"cases", cases}}}}};
}

class GateCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    write("base.json", make_results({make_case("ffn", 0.9995, samples(100, 9)),
                                     make_case("norm", 0.9999, samples(50, 9))}));
    // This machine's A/A noise floor, measured by `ttt noise-floor` from two runs of commit c1
    // whose medians moved by 1 ns of 104 and 0 of 54: far below the 10% threshold, so latency
    // may block when a test passes it (--noise-floor).
    write("aa.json", make_results({make_case("ffn", 0.9995, samples(101, 9)),
                                   make_case("norm", 0.9999, samples(50, 9))}));
    const RunResult floor = cli_test::run_ttt(
        scratch_.path(), {"noise-floor", path("base.json"), path("aa.json"), "-o", path("floor.json")});
    ASSERT_EQ(floor.exit_code, 0) << floor.out << floor.err;
  }

  std::string path(const std::string& name) const { return scratch_.file(name); }
  void write(const std::string& name, const nlohmann::json& json) const {
    std::ofstream(path(name)) << json.dump(2);
  }
  RunResult gate(std::vector<std::string> args) const {
    args.insert(args.begin(), "gate");
    return cli_test::run_ttt(scratch_.path(), args);
  }

  test_support::ScratchDir scratch_;
};

TEST_F(GateCommand, UnchangedResultsMayMerge) {
  write("head.json", make_results({make_case("ffn", 0.9995, samples(101, 9)),
                                   make_case("norm", 0.9999, samples(50, 9))}));
  const RunResult run = gate({"--results", path("head.json"), "--baseline", path("base.json")});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("may merge: 2 cases, 0 blocking findings"));
}

TEST_F(GateCommand, SignificantSlowdownBlocksWithEveryOutput) {
  write("head.json", make_results({make_case("ffn", 0.9995, samples(130, 9)),
                                   make_case("norm", 0.9999, samples(50, 9))}));
  const RunResult run = gate({"--results", path("head.json"), "--baseline", path("base.json"),
                              "--noise-floor", path("floor.json"), "--markdown",
                              path("comment.md"), "--junit", path("gate.xml"), "--json",
                              path("gate.json")});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("BLOCK latency llama-3.1-8b/ffn (p50 wall)"));
  const std::string markdown = read_text(path("comment.md"));
  EXPECT_THAT(markdown, StartsWith("## ttt gate: **blocked**"));
  // p = 1/C(18, 9) = 2.06e-5, times 2 by Holm over the run's two cases.
  EXPECT_THAT(markdown, HasSubstr("| llama-3.1-8b/ffn (p50 wall) | 104 ns | 134 ns | +28.8% | "
                                  "**regression (p=4.1e-05)** |"));
  EXPECT_THAT(read_text(path("gate.xml")), HasSubstr("failures=\"1\""));
  const nlohmann::json decision = nlohmann::json::parse(read_text(path("gate.json")));
  EXPECT_EQ(decision.at("may_merge"), false);
  EXPECT_EQ(decision.at("findings").at(0).at("case"), "ffn");
}

TEST_F(GateCommand, NoisyChangeAndTooFewRepetitionsDoNotBlock) {
  write("head.json",
        make_results({make_case("ffn", 0.9995, {95, 96, 97, 98, 120, 121, 122, 123, 124}),
                      make_case("norm", 0.9999, samples(50, 9))}));
  RunResult run = gate({"--results", path("head.json"), "--baseline", path("base.json")});
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_THAT(run.out, HasSubstr("noise llama-3.1-8b/ffn (p50 wall)"));
  write("few_base.json", make_results({make_case("ffn", 0.9995, {100, 101, 102})}));
  write("few_head.json", make_results({make_case("ffn", 0.9995, {300, 301, 302})}));
  run = gate({"--results", path("few_head.json"), "--baseline", path("few_base.json")});
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_THAT(run.out, HasSubstr("too_few_repetitions llama-3.1-8b/ffn"));
  EXPECT_THAT(run.out, HasSubstr("too few repetitions to judge (3 baseline and 3 head"));
}

TEST_F(GateCommand, FailedExpectationAndAccuracyDropBlock) {
  write("head.json", make_results({make_case("ffn", 0.9970, samples(100, 9)),
                                   make_case("norm", 0.98, samples(50, 9), "fail")}));
  const RunResult run = gate({"--results", path("head.json"), "--baseline", path("base.json")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("BLOCK expectation llama-3.1-8b/norm (expectations): fail: "
                                 "accuracy:y: pcc 0.98 < 0.99"));
  EXPECT_THAT(run.out, HasSubstr("BLOCK accuracy llama-3.1-8b/ffn (pcc y): pcc 0.997 dropped "
                                 "0.0025 below the baseline 0.9995 (allowed 0.001)"));
}

TEST_F(GateCommand, PolicyFileChangesTheThresholds) {
  write("head.json", make_results({make_case("ffn", 0.9995, samples(112, 9)),
                                   make_case("norm", 0.9999, samples(50, 9))}));
  EXPECT_EQ(gate({"--results", path("head.json"), "--baseline", path("base.json"),
                  "--noise-floor", path("floor.json")})
                .exit_code,
            1);
  write("policy.json", {{"latency", {{"threshold", 0.2}}}});
  EXPECT_EQ(gate({"--results", path("head.json"), "--baseline", path("base.json"), "--policy",
                  path("policy.json"), "--noise-floor", path("floor.json")})
                .exit_code,
            0);
  write("bad_policy.json", {{"latency", {{"alpha", 2}}}});
  const RunResult bad = gate({"--results", path("head.json"), "--policy", path("bad_policy.json")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("bad_policy.json: /latency/alpha: expected a number in (0, 1)"));
}

TEST_F(GateCommand, WriteBaselineThenGateAgainstIt) {
  const std::string baseline = path("new_baseline.json");
  std::ofstream(path("cov.jsonl")) << nlohmann::json{{"ttt_coverage", 1},
                                                     {"source", "suite"},
                                                     {"origin", ""},
                                                     {"kind", "rms_norm"},
                                                     {"block", "rms_norm"},
                                                     {"mode", "decode"},
                                                     {"identity", ""},
                                                     {"spec", {{"dim", 4096}, {"eps", 1e-5}}},
                                                     {"impl_config", nlohmann::json::object()},
                                                     {"device", "N150"},
                                                     {"inputs", nlohmann::json::array()},
                                                     {"batch", 1},
                                                     {"seq_len", 1},
                                                     {"calls", 1},
                                                     {"passed", 1},
                                                     {"failed", 0}}
                                          .dump()
                                   << "\n";
  RunResult run = gate({"--results", path("base.json"), "--baseline", baseline, "--coverage",
                        path("cov.jsonl"), "--write-baseline"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("wrote the baseline"));
  const nlohmann::json written = nlohmann::json::parse(read_text(baseline));
  EXPECT_EQ(written.at("format"), "ttt-gate-baseline");
  EXPECT_EQ(written.at("coverage").at("models").at("Llama-3.1-8B").at("passing"), 1);
  // Same results, coverage now lower (nothing): blocks as a decrease.
  std::ofstream(path("empty.jsonl")) << "";
  run = gate(
      {"--results", path("base.json"), "--baseline", baseline, "--coverage", path("empty.jsonl")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("BLOCK coverage passing catalog"));
  // Without coverage data against a baseline that has it: blocks too.
  run = gate({"--results", path("base.json"), "--baseline", baseline});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("no coverage data was given"));
  // A blocked run leaves the baseline alone.
  write("failing.json", make_results({make_case("ffn", 0.5, samples(100, 9), "fail")}));
  run = gate({"--results", path("failing.json"), "--baseline", baseline, "--coverage",
              path("cov.jsonl"), "--write-baseline"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("left unchanged"));
  EXPECT_EQ(nlohmann::json::parse(read_text(baseline)), written);
}

TEST_F(GateCommand, ShardsAreMergedOrRefused) {
  write("shard0.json",
        make_results({make_case("ffn", 0.9995, samples(100, 9))}, "llama-3.1-8b", {0}, 2));
  nlohmann::json second =
      make_results({make_case("norm", 0.9999, samples(50, 9))}, "llama-3.1-8b", {1}, 2);
  second["suites"][0]["cases"][0]["index"] = 1;
  write("shard1.json", second);
  RunResult run = gate({"--results", path("shard0.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("holds shard(s) 0 of 2: merge every shard"));
  run = gate(
      {"--results", path("shard0.json"), path("shard1.json"), "--baseline", path("base.json")});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("may merge: 2 cases"));
}

// The real pipeline: `ttt suite run` writes results and coverage, the coverage report reads both,
// and the gate judges the results against themselves as the baseline.
TEST_F(GateCommand, SuiteRunCoverageAndGateEndToEnd) {
  write("tiny.json", nlohmann::json::parse(R"({
    "suite": "tiny",
    "seed": 7,
    "defaults": {"shapes": {"batch": 1, "seq_len": 16, "context_len": 15},
                 "expect": {"pcc": 0.99}},
    "cases": [
      {"block": "gated_mlp", "mode": "decode", "spec": {"hidden_dim": 64, "ffn_dim": 128}},
      {"block": "rms_norm", "mode": "prefill", "spec": {"dim": 64}}
    ]})"));
  RunResult run = cli_test::run_ttt(
      scratch_.path(), {"suite", "run", path("tiny.json"), "--json", path("R.json"), "--coverage",
                        path("suite.jsonl"), "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::ifstream lines(path("suite.jsonl"));
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(lines, line);) records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 2u);
  for (const nlohmann::json& record : records) {
    EXPECT_EQ(record.at("source"), "suite");
    EXPECT_EQ(record.at("origin"), "tiny");
    EXPECT_EQ(record.at("passed"), 1);
  }
  run = cli_test::run_ttt(
      scratch_.path(), {"coverage", "report", path("suite.jsonl"), path("R.json"), "--json", "-"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(nlohmann::json::parse(run.out).at("calls"), 4);  // Each case from both files.
  run = gate({"--results", path("R.json"), "--baseline", path("R.json"), "--coverage",
              path("suite.jsonl"), "--json", "-"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  const nlohmann::json decision = nlohmann::json::parse(run.out);
  EXPECT_EQ(decision.at("may_merge"), true);
  EXPECT_EQ(decision.at("cases"), 2);
}

// Nonsense times are an error naming the file and the JSON path (exit 2), as results and as
// baseline: a -5 ns baseline would otherwise make any slowdown look like an improvement.
TEST_F(GateCommand, NegativeOrNonFiniteTimesAreExitTwoNamingThePath) {
  write("negative.json",
        make_results({make_case("ffn", 0.9995, {-5, 101, 102, 103, 104, 105, 106, 107, 108})}));
  RunResult run = gate({"--results", path("base.json"), "--baseline", path("negative.json")});
  EXPECT_EQ(run.exit_code, 2) << run.out;
  EXPECT_THAT(run.err, HasSubstr(path("negative.json")));
  EXPECT_THAT(run.err,
              HasSubstr("/suites/0/cases/0/timing/wall_ns/0: expected an integer >= 1, got -5"));
  run = gate({"--results", path("negative.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr(path("negative.json") +
                                 ": /suites/0/cases/0/timing/wall_ns/0: expected an integer >= 1"));
  // JSON has no NaN or infinity: a time that is not an integer is named, and a number that
  // overflows a double is refused naming the file.
  std::string text = make_results({make_case("ffn", 0.9995, samples(100, 9))}).dump();
  const std::string first = "\"wall_ns\":[100,";
  const std::size_t at = text.find(first);
  std::ofstream(path("fraction.json"))
      << std::string(text).replace(at, first.size(), "\"wall_ns\":[100.5,");
  run = gate({"--results", path("fraction.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("/suites/0/cases/0/timing/wall_ns/0: expected an integer"));
  std::ofstream(path("huge.json"))
      << std::string(text).replace(at, first.size(), "\"wall_ns\":[1e400,");
  run = gate({"--results", path("huge.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr(path("huge.json") + ": not JSON: "));
  EXPECT_THAT(run.err, HasSubstr("number overflow parsing '1e400'"));
}

// A case without outputs or with `timing: null` was not checked: it blocks (exit 1) with a
// message saying what is missing, instead of "may merge".
TEST_F(GateCommand, MissingOutputsOrTimingBlock) {
  nlohmann::json no_outputs = make_case("ffn", 0.9995, samples(100, 9));
  no_outputs.erase("outputs");
  nlohmann::json no_timing = make_case("norm", 0.9999, samples(50, 9));
  no_timing["timing"] = nullptr;
  write("head.json", make_results({no_outputs, no_timing}));
  RunResult run = gate({"--results", path("head.json"), "--baseline", path("base.json")});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("BLOCK accuracy llama-3.1-8b/ffn (outputs): the case has no "
                                 "outputs: its accuracy was not checked (missing data blocks)"));
  EXPECT_THAT(run.out, HasSubstr("BLOCK latency llama-3.1-8b/norm (timing): the case has no "
                                 "timing (timing: null or no repetitions)"));
  EXPECT_THAT(run.out, HasSubstr("BLOCKED: 2 cases, 2 blocking findings"));
  // Without a baseline too.
  run = gate({"--results", path("head.json")});
  EXPECT_EQ(run.exit_code, 1);
  // The baseline missing them blocks as well.
  run = gate({"--results", path("base.json"), "--baseline", path("head.json")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("BLOCK latency llama-3.1-8b/norm (baseline timing): the "
                                 "baseline has no timing for this case"));
}

// The issue-12 run: two runs of the same commit, the head beside a build (+25%, p = 2e-5). The
// gate shows both runs' machine state, names the same commit, and warns instead of blocking.
TEST_F(GateCommand, NoisyMachineWarnsAndSameCommitIsNamed) {
  nlohmann::json base = make_results(
      {make_case("ffn", 0.9995, samples(100, 9)), make_case("norm", 0.9999, samples(50, 9))});
  base["machine"]["load"] = {{"load_average", {0.4, 0.5, 0.6}}, {"cpu_steal", 0.0}};
  write("base.json", base);
  nlohmann::json head = make_results(
      {make_case("ffn", 0.9995, samples(130, 9)), make_case("norm", 0.9999, samples(50, 9))});
  head["machine"]["load"] = {{"load_average", {3.2, 2.4, 1.1}}, {"cpu_steal", 0.001}};
  write("head.json", head);
  const std::string policy = std::string(TTT_SOURCE_DIR) + "/.ci/gate-policy.json";
  RunResult run = gate({"--results", path("head.json"), "--baseline", path("base.json"), "--policy",
                        policy, "--markdown", path("comment.md")});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("warning: noisy machine: latency not judged (head ran at a "
                                 "1-minute load of 3.20 on 2 cores (1.6 per core > 1))"));
  EXPECT_THAT(run.out, HasSubstr("note: machine state: base load 0.40/0.50/0.60 on 2 cores, CPU "
                                 "steal 0.0%; head load 3.20/2.40/1.10 on 2 cores, CPU steal "
                                 "0.1%"));
  EXPECT_THAT(run.out, HasSubstr("note: base and head are the same commit (c1)"));
  EXPECT_THAT(run.out, HasSubstr("may merge"));
  EXPECT_THAT(read_text(path("comment.md")), HasSubstr("**Warning:** noisy machine"));
  // The same runs on a quiet machine: the slowdown blocks.
  head["machine"]["load"] = {{"load_average", {1.0, 1.0, 1.0}}, {"cpu_steal", 0.0}};
  write("head.json", head);
  run = gate({"--results", path("head.json"), "--baseline", path("base.json"), "--policy", policy,
              "--noise-floor", path("floor.json")});
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_THAT(run.out, HasSubstr("BLOCK latency llama-3.1-8b/ffn (p50 wall)"));
  // Without the floor the machine is not known to tell: reported, not blocking.
  run = gate({"--results", path("head.json"), "--baseline", path("base.json"), "--policy", policy});
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_THAT(run.out, HasSubstr("unverified llama-3.1-8b/ffn (p50 wall)"));
  EXPECT_THAT(run.out, HasSubstr("note: latency reported, not judged: no A/A noise floor"));
}

// `ttt noise-floor`: the figures, the JSON, and what is not an A/A pair (exit 2).
TEST_F(GateCommand, NoiseFloorCommand) {
  RunResult run = cli_test::run_ttt(scratch_.path(),
                                    {"noise-floor", path("base.json"), path("aa.json")});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // |changes| 1/104 and 0/54: the 95th percentile is 0.95/104 = 0.9%.
  EXPECT_THAT(run.out, HasSubstr(": 0.9% (95th percentile of |median change| over 2 cases), "
                                 "largest 1.0%, 0 false alarms"));
  EXPECT_THAT(run.out, HasSubstr("a latency threshold of 10.0% can be trusted on this machine"));
  const nlohmann::json floor = nlohmann::json::parse(read_text(path("floor.json")));
  EXPECT_EQ(floor.at("format"), "ttt-noise-floor");
  EXPECT_NEAR(floor.at("floor").get<double>(), 0.95 / 104.0, 1e-12);
  nlohmann::json other = make_results({make_case("ffn", 0.9995, samples(100, 9))});
  other["machine"]["commit"] = "c2";
  write("other.json", other);
  run = cli_test::run_ttt(scratch_.path(), {"noise-floor", path("base.json"), path("other.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("not an A/A pair: run A is commit c1, run B commit c2"));
  run = gate({"--results", path("base.json"), "--baseline", path("base.json"), "--noise-floor",
              path("missing.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("missing.json"));
}

TEST_F(GateCommand, BadInputsAreExitTwo) {
  // Missing baseline.
  RunResult run = gate({"--results", path("base.json"), "--baseline", path("missing.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("missing.json: cannot open the baseline"));
  // Mismatched suites.
  write("gemma.json", make_results({make_case("ffn", 0.9995, samples(100, 9))}, "gemma-2-9b"));
  run = gate({"--results", path("gemma.json"), "--baseline", path("base.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("mismatched suites"));
  // Corrupt JSON, as results and as baseline.
  std::ofstream(path("corrupt.json")) << "{\"format\": \"ttt-suite-results\", \"suites\": [";
  run = gate({"--results", path("corrupt.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("corrupt.json: not JSON"));
  run = gate({"--results", path("base.json"), "--baseline", path("corrupt.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("corrupt.json: not JSON"));
  // Not suite results at all.
  write("other.json", {{"format", "something"}});
  run = gate({"--results", path("other.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("other.json"));
  // Usage errors.
  EXPECT_EQ(gate({}).exit_code, 2);
  run = gate({"--results", path("base.json"), "--write-baseline"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("--write-baseline needs --baseline"));
  write("policy.json", {{"coverage", {{"floor_pct", 50}}}});
  run = gate({"--results", path("base.json"), "--policy", path("policy.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("no coverage data was given"));
}

// A case of `make_case` with its predicted device time (ns), as suite runs record it.
nlohmann::json with_cost(nlohmann::json c, double total_ns) {
  c["device_cost"] = {{"device", "N150"},
                      {"cost", {{"dram_bytes", {{"weights", 26112}}}, {"ops", 4}}},
                      {"time", {{"total_ns", total_ns}, {"bound", "memory"}}}};
  return c;
}

// The device-cost rule through the command line: a suite run twice (the same commit) never
// blocks on it, even when asked to require it; a grown prediction blocks (exit 1); a case without
// one, asked to gate on it, is exit 2 naming the case.
TEST_F(GateCommand, DeviceCostIsJudgedWithoutStatistics) {
  write("tiny.json", nlohmann::json::parse(R"({
    "suite": "tiny",
    "seed": 7,
    "defaults": {"shapes": {"batch": 1, "seq_len": 16}, "expect": {"pcc": 0.99}, "warmup": 0},
    "cases": [
      {"block": "gated_mlp", "mode": "decode", "spec": {"hidden_dim": 64, "ffn_dim": 128}},
      {"block": "rms_norm", "mode": "prefill", "spec": {"dim": 64}}
    ]})"));
  for (const std::string name : {"A.json", "B.json"}) {
    const RunResult run = cli_test::run_ttt(
        scratch_.path(), {"suite", "run", path("tiny.json"), "--json", path(name), "--quiet"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  }
  RunResult run = gate({"--results", path("B.json"), "--baseline", path("A.json"),
                        "--require-device-cost", "--json", "-"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  int judged = 0;
  const nlohmann::json decision = nlohmann::json::parse(run.out);
  for (const nlohmann::json& f : decision.at("findings")) {
    if (f.at("rule") != "device_cost") continue;
    ++judged;
    EXPECT_EQ(f.at("verdict"), "ok");
    EXPECT_EQ(f.at("change"), 0.0);
  }
  EXPECT_EQ(judged, 2);

  write("cost_base.json", make_results({with_cost(make_case("ffn", 0.9995, samples(100, 9)), 2000),
                                        make_case("norm", 0.9999, samples(50, 9))}));
  write("cost_head.json", make_results({with_cost(make_case("ffn", 0.9995, samples(100, 9)), 2500),
                                        make_case("norm", 0.9999, samples(50, 9))}));
  run = gate({"--results", path("cost_head.json"), "--baseline", path("cost_base.json")});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("BLOCK device_cost llama-3.1-8b/ffn (device time N150): "
                                 "predicted 2.5 us vs 2 us on N150 (+25%, memory bound): "
                                 "slower beyond the 0% allowed"));
  // The norm carries no device cost: asked to require one, the gate names it.
  run = gate({"--results", path("cost_head.json"), "--baseline", path("cost_base.json"),
              "--require-device-cost"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("case 'llama-3.1-8b/norm' has no device cost to gate on"));
  // A policy allowing 30% lets the +25% through as an increase.
  write("loose.json", {{"device_cost", {{"max_increase", 0.3}}}});
  run = gate({"--results", path("cost_head.json"), "--baseline", path("cost_base.json"), "--policy",
              path("loose.json")});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("increase llama-3.1-8b/ffn (device time N150)"));
}

// `ttt history`: 16 stored runs in a directory, the FFN 48% slower from commit c8 on: exit 1
// naming the commit; without the step exit 0; bad input exit 2.
TEST_F(GateCommand, HistoryFindsTheCommitOfAStep) {
  std::filesystem::create_directories(path("history"));
  std::filesystem::create_directories(path("flat"));
  for (int i = 0; i < 16; ++i) {
    // Medians 104 and 105 ns alternating, then 154 and 155.
    const std::int64_t ffn = i < 8 ? 100 + i % 2 : 150 + i % 2;
    nlohmann::json results = make_results({make_case("ffn", 0.9995, samples(ffn, 9)),
                                           make_case("norm", 0.9999, samples(50 + i % 2, 9))});
    results["machine"]["commit"] = "c" + std::to_string(i);
    results["created_utc"] =
        "2026-03-" + std::string(i < 9 ? "0" : "") + std::to_string(i + 1) + "T00:00:00Z";
    write("history/run" + std::to_string(i) + ".json", results);
    results["suites"][0]["cases"][0] = make_case("ffn", 0.9995, samples(100 + i % 2, 9));
    write("flat/run" + std::to_string(i) + ".json", results);
  }
  RunResult run = cli_test::run_ttt(scratch_.path(), {"history", path("history")});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  // 154.5 / 104.5 - 1: the medians of the two levels.
  EXPECT_THAT(run.out, HasSubstr("REGRESSION llama-3.1-8b/ffn: +47.8% from commit c8"));
  EXPECT_THAT(run.out, HasSubstr("the previous run: c7"));
  run = cli_test::run_ttt(scratch_.path(), {"history", path("flat"), "--json", "-"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  const nlohmann::json json = nlohmann::json::parse(run.out);
  EXPECT_EQ(json.at("ok"), true);
  EXPECT_TRUE(json.at("change_points").empty());
  EXPECT_EQ(json.at("runs").size(), 16u);
  // Bad input.
  run = cli_test::run_ttt(scratch_.path(), {"history", path("nowhere")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("nowhere: no such file or directory"));
  run = cli_test::run_ttt(scratch_.path(),
                          {"history", path("history/run0.json"), path("history/run1.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("2 stored run(s): a change point needs 3 runs on each side"));
  run = cli_test::run_ttt(scratch_.path(), {"history", path("history"), "--min-segment", "0"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("min_segment must be >= 1"));
  run = cli_test::run_ttt(scratch_.path(), {"history", path("history"), "--permutations", "x"});
  EXPECT_EQ(run.exit_code, 2);
  std::ofstream(path("corrupt.json")) << "{\"format\": \"ttt-suite-results\", \"suites\": [";
  run = cli_test::run_ttt(scratch_.path(), {"history", path("history"), path("corrupt.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("corrupt.json: not JSON"));
  EXPECT_EQ(cli_test::run_ttt(scratch_.path(), {"history"}).exit_code, 2);
}

}  // namespace
}  // namespace ttt

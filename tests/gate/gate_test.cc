// The gate's rules (gate/gate.h) on synthetic results: each rule blocking and not, a
// significant regression, one within noise, too few repetitions, and bad inputs.
#include "gate/gate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "suites/suite/suite.h"
#include "suites/suite/targets.h"
#include "tests/common/scratch_dir.h"
#include "tests/coverage/tiny_catalog.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
namespace fs = std::filesystem;

std::vector<std::int64_t> samples(std::int64_t first, std::size_t count) {
  std::vector<std::int64_t> values(count);
  std::iota(values.begin(), values.end(), first);
  return values;
}

CaseResult make_case(const std::string& id, double pcc, std::vector<std::int64_t> wall_ns,
                     CaseStatus status = CaseStatus::pass) {
  CaseResult result;
  result.id = id;
  result.kind = "gated_mlp";
  result.mode = "decode";
  result.identity = "GATED_MLP(hidden=64,ffn=128,act=silu)";
  result.spec = {{"hidden_dim", 64}, {"ffn_dim", 128}, {"activation", "silu"}};
  result.device = "N150";
  result.shapes = {{"batch", 1}};
  result.status = status;
  OutputResult output;
  output.name = "y";
  output.metrics.pcc = pcc;
  output.metrics.max_abs_error = 0.01;
  result.outputs.push_back(output);
  if (status == CaseStatus::fail) {
    result.verdicts.push_back({"accuracy:y", false, "pcc 0.9812 < 0.99"});
  }
  if (!wall_ns.empty()) {
    TimingSamples timing;
    timing.warmup = 2;
    timing.cpu_ns = wall_ns;
    timing.wall_ns = std::move(wall_ns);
    result.timing = timing;
  }
  return result;
}

RunResults make_results(std::vector<CaseResult> cases, const std::string& suite = "llama") {
  RunResults results;
  results.machine.cpu_model = "Test CPU";
  results.machine.cores = 2;
  results.machine.build_type = "Release";
  results.machine.commit = "abc";
  SuiteResult suite_result;
  suite_result.name = suite;
  suite_result.fingerprint = "f1";
  suite_result.total_cases = static_cast<std::int64_t>(cases.size());
  suite_result.cases = std::move(cases);
  results.suites.push_back(std::move(suite_result));
  return results;
}

GateInputs inputs_for(RunResults head, std::optional<RunResults> base = std::nullopt) {
  GateInputs inputs;
  // These tests judge the rules themselves; the noise floor a latency verdict needs by default
  // is tested in error_rates_test.cc.
  inputs.policy.latency.require_noise_floor = false;
  inputs.results = std::move(head);
  inputs.results_path = "R.json";
  if (base.has_value()) {
    GateBaseline baseline;
    baseline.path = "B.json";
    baseline.results = std::move(*base);
    inputs.baseline = std::move(baseline);
  }
  return inputs;
}

const GateFinding& finding(const GateDecision& decision, const std::string& rule,
                           const std::string& case_id) {
  for (const GateFinding& f : decision.findings) {
    if (f.rule == rule && f.case_id == case_id) return f;
  }
  throw std::runtime_error("no " + rule + " finding for " + case_id);
}

// Base: 9 repetitions at 100..108 ns (median 104).
const std::vector<std::int64_t> kBase = samples(100, 9);

TEST(Gate, PassingResultsWithoutBaselineMayMerge) {
  const GateDecision decision =
      decide_gate(inputs_for(make_results({make_case("a", 0.999, kBase)})));
  EXPECT_TRUE(decision.may_merge);
  EXPECT_EQ(gate_exit_code(decision), 0);
  EXPECT_EQ(decision.cases, 1);
  EXPECT_TRUE(decision.findings.empty());
  EXPECT_THAT(decision.notes, ::testing::Contains(HasSubstr("no baseline")));
}

TEST(Gate, AFailedExpectationBlocks) {
  const GateDecision decision = decide_gate(inputs_for(
      make_results({make_case("ok", 0.999, kBase), make_case("bad", 0.98, kBase, CaseStatus::fail),
                    make_case("broken", 0.0, {}, CaseStatus::error)})));
  EXPECT_FALSE(decision.may_merge);
  EXPECT_EQ(gate_exit_code(decision), 1);
  EXPECT_EQ(decision.blocking, 2);
  const GateFinding& bad = finding(decision, "expectation", "bad");
  EXPECT_TRUE(bad.blocks);
  EXPECT_EQ(bad.message, "fail: accuracy:y: pcc 0.9812 < 0.99");
  EXPECT_THAT(finding(decision, "expectation", "broken").message, HasSubstr("error"));
}

TEST(Gate, AccuracyRegressionBeyondEpsilonBlocks) {
  const RunResults base =
      make_results({make_case("drop", 0.9995, kBase), make_case("small", 0.9995, kBase)});
  const RunResults head =
      make_results({make_case("drop", 0.9980, kBase), make_case("small", 0.9991, kBase)});
  const GateDecision decision = decide_gate(inputs_for(head, base));
  const GateFinding& drop = finding(decision, "accuracy", "drop");
  EXPECT_EQ(drop.verdict, "regression");
  EXPECT_TRUE(drop.blocks);
  EXPECT_NEAR(*drop.change, -0.0015, 1e-12);
  // The head beside the baseline, the drop beside the limit, the baseline and the limit in full.
  EXPECT_EQ(drop.message, "pcc 0.998 dropped 0.0015 below the baseline 0.9995 (allowed 0.001)");
  const GateFinding& small = finding(decision, "accuracy", "small");
  EXPECT_EQ(small.verdict, "ok");  // 0.0004 <= 0.001.
  EXPECT_FALSE(small.blocks);
  EXPECT_FALSE(decision.may_merge);
  // A looser policy lets both pass.
  GateInputs loose = inputs_for(head, base);
  loose.policy.accuracy.pcc_drop = 0.002;
  EXPECT_TRUE(decide_gate(loose).may_merge);
}

TEST(Gate, MaxAbsErrorIncreaseWhenThePolicyAsksForIt) {
  RunResults base = make_results({make_case("a", 0.999, kBase)});
  RunResults head = make_results({make_case("a", 0.999, kBase)});
  head.suites[0].cases[0].outputs[0].metrics.max_abs_error = 0.02;
  GateInputs inputs = inputs_for(head, base);
  EXPECT_TRUE(decide_gate(inputs).may_merge);  // Off by default.
  inputs.policy.accuracy.max_abs_error_increase = 0.5;
  const GateDecision decision = decide_gate(inputs);
  EXPECT_EQ(finding(decision, "accuracy", "a").metric, "max_abs_error y");
  EXPECT_TRUE(finding(decision, "accuracy", "a").blocks);
}

// Every policy limit prints as the policy gave it (shortest round trip), never rounded to six
// significant digits ("allowed 0.00123457"); the measured value beside it gets the digits that
// show on which side of the limit it is (docs/report-format.md "Numbers").
TEST(Gate, PolicyLimitsPrintAsGiven) {
  GateInputs accuracy = inputs_for(make_results({make_case("a", 0.9980, kBase)}),
                                   make_results({make_case("a", 0.9995, kBase)}));
  accuracy.policy.accuracy.pcc_drop = 0.0012345678;
  EXPECT_EQ(finding(decide_gate(accuracy), "accuracy", "a").message,
            "pcc 0.998 dropped 0.0015 below the baseline 0.9995 (allowed 0.0012345678)");

  RunResults head = make_results({make_case("a", 0.999, kBase)});
  head.suites[0].cases[0].outputs[0].metrics.max_abs_error = 0.02;
  GateInputs error = inputs_for(head, make_results({make_case("a", 0.999, kBase)}));
  error.policy.accuracy.max_abs_error_increase = 0.0123456789;
  EXPECT_EQ(finding(decide_gate(error), "accuracy", "a").message,
            "max_abs_error 0.02 > baseline 0.01 + 1.23456789%");

  // p = 1 / C(18, 9) = 2.0567667626e-05.
  GateInputs latency = inputs_for(make_results({make_case("slow", 0.999, samples(120, 9))}),
                                  make_results({make_case("slow", 0.999, kBase)}));
  latency.policy.latency.threshold = 0.1234567;
  latency.policy.latency.alpha = 0.0123456789;
  EXPECT_EQ(finding(decide_gate(latency), "latency", "slow").message,
            "median 124 ns vs 104 ns (+19.2%, 9 baseline and 9 head repetitions): slower beyond "
            "12.34567% and significant (Mann-Whitney U p = 2.057e-05 < 0.0123456789)");

  RunResults loaded = make_results({make_case("slow", 0.999, samples(120, 9))});
  loaded.machine.load = MachineLoad{3.10, 2.05, 1.20, 0.12};
  GateInputs noisy = inputs_for(loaded, make_results({make_case("slow", 0.999, kBase)}));
  noisy.policy.latency.max_load_per_core = 1.2345678;
  noisy.policy.latency.max_cpu_steal = 0.0123456789;
  EXPECT_EQ(decide_gate(noisy).findings.front().message,
            "noisy machine: latency not judged (head ran at a 1-minute load of 3.10 on 2 cores "
            "(1.55 per core > 1.2345678); head lost 12% of its CPU time to steal (> 1.23456789%))");

  // 2/28 = 7.142857142857143%: seven digits show it below a 7.1428572% floor (six: 7.14286).
  GateInputs coverage = inputs_for(make_results({make_case("a", 0.999, kBase)}));
  coverage.coverage =
      build_coverage_report(testing_coverage::tiny_records(), testing_coverage::tiny_catalog());
  coverage.policy.coverage.floor_pct = 7.1428572;
  EXPECT_EQ(finding(decide_gate(coverage), "coverage", "").message,
            "catalog: 7.142857% (2/28) of configurations pass, below the floor 7.1428572%");
}

TEST(Gate, SignificantLatencyRegressionBlocks) {
  // Head 120..128: median +19.2%, every head repetition slower: p = 1 / C(18, 9) = 2.06e-5.
  const GateDecision decision =
      decide_gate(inputs_for(make_results({make_case("slow", 0.999, samples(120, 9))}),
                             make_results({make_case("slow", 0.999, kBase)})));
  const GateFinding& slow = finding(decision, "latency", "slow");
  EXPECT_EQ(slow.verdict, "regression");
  EXPECT_TRUE(slow.blocks);
  EXPECT_NEAR(*slow.change, 124.0 / 104.0 - 1.0, 1e-12);
  EXPECT_NEAR(*slow.p_value, 1.0 / 48620.0, 1e-12);
  EXPECT_THAT(slow.message, HasSubstr("significant"));
  EXPECT_FALSE(decision.may_merge);
}

TEST(Gate, LatencyChangeWithinNoiseDoesNotBlock) {
  // Head: four fast outliers and five slow repetitions: median 120 (+15.4%) but the samples
  // overlap: one-sided p = 0.36, not significant.
  const GateDecision noisy = decide_gate(inputs_for(
      make_results({make_case("noisy", 0.999, {95, 96, 97, 98, 120, 121, 122, 123, 124})}),
      make_results({make_case("noisy", 0.999, kBase)})));
  const GateFinding& finding_noisy = finding(noisy, "latency", "noisy");
  EXPECT_EQ(finding_noisy.verdict, "noise");
  EXPECT_FALSE(finding_noisy.blocks);
  EXPECT_GT(*finding_noisy.p_value, 0.3);
  EXPECT_TRUE(noisy.may_merge);
  // Significant but small: 105..113 is +4.8%, within the 10% threshold.
  const GateDecision small =
      decide_gate(inputs_for(make_results({make_case("small", 0.999, samples(105, 9))}),
                             make_results({make_case("small", 0.999, kBase)})));
  EXPECT_EQ(finding(small, "latency", "small").verdict, "ok");
  EXPECT_TRUE(small.may_merge);
  // Faster and significant: an improvement, which never blocks.
  const GateDecision faster =
      decide_gate(inputs_for(make_results({make_case("fast", 0.999, samples(80, 9))}),
                             make_results({make_case("fast", 0.999, kBase)})));
  EXPECT_EQ(finding(faster, "latency", "fast").verdict, "improvement");
  EXPECT_TRUE(faster.may_merge);
}

TEST(Gate, TooFewRepetitionsSaysSoInsteadOfGuessing) {
  // 3 and 3 repetitions, head twice as slow: the smallest reachable p is 0.05 >= 0.01.
  GateInputs inputs = inputs_for(make_results({make_case("few", 0.999, {200, 201, 202})}),
                                 make_results({make_case("few", 0.999, {100, 101, 102})}));
  inputs.policy.latency.min_repetitions = 3;
  const GateDecision decision = decide_gate(inputs);
  const GateFinding& few = finding(decision, "latency", "few");
  EXPECT_EQ(few.verdict, "too_few_repetitions");
  EXPECT_FALSE(few.blocks);
  EXPECT_THAT(few.message, HasSubstr("the smallest is 0.05"));
  EXPECT_TRUE(decision.may_merge);
  // Below the policy's minimum (default 9): also not judged.
  const GateDecision five =
      decide_gate(inputs_for(make_results({make_case("five", 0.999, samples(200, 5))}),
                             make_results({make_case("five", 0.999, samples(100, 5))})));
  EXPECT_EQ(finding(five, "latency", "five").verdict, "too_few_repetitions");
  EXPECT_THAT(finding(five, "latency", "five").message, HasSubstr("the policy needs 9"));
  // With the minimum at 5, 5 and 5 can reach p = 1/252 < 0.01: judged, and it is a regression.
  GateInputs judged = inputs_for(make_results({make_case("five", 0.999, samples(200, 5))}),
                                 make_results({make_case("five", 0.999, samples(100, 5))}));
  judged.policy.latency.min_repetitions = 5;
  EXPECT_EQ(finding(decide_gate(judged), "latency", "five").verdict, "regression");
}

TEST(Gate, CpuClockIsComparedWhenThePolicySaysSo) {
  RunResults head = make_results({make_case("c", 0.999, kBase)});
  head.suites[0].cases[0].timing->cpu_ns = samples(150, 9);
  GateInputs inputs = inputs_for(head, make_results({make_case("c", 0.999, kBase)}));
  EXPECT_TRUE(decide_gate(inputs).may_merge);
  inputs.policy.latency.clock = TimingClock::cpu;
  EXPECT_EQ(finding(decide_gate(inputs), "latency", "c").metric, "p50 cpu");
  EXPECT_FALSE(decide_gate(inputs).may_merge);
}

TEST(Gate, NewAndChangedCasesAreReportedNotJudged) {
  CaseResult changed = make_case("changed", 0.5, samples(500, 9));
  changed.spec["ffn_dim"] = 256;
  const GateDecision decision = decide_gate(inputs_for(
      make_results({make_case("new", 0.5, samples(500, 9)), changed}),
      make_results({make_case("changed", 0.999, kBase), make_case("gone", 0.999, kBase)})));
  EXPECT_TRUE(decision.may_merge);
  EXPECT_EQ(finding(decision, "accuracy", "new").verdict, "new");
  EXPECT_EQ(finding(decision, "accuracy", "changed").verdict, "not_compared");
  EXPECT_THAT(decision.notes, ::testing::Contains(HasSubstr("'llama/gone' is not in the results")));
}

TEST(Gate, MachineMismatchFollowsThePolicy) {
  RunResults base = make_results({make_case("a", 0.999, kBase)});
  base.machine.cpu_model = "Other CPU";
  const RunResults head = make_results({make_case("a", 0.999, samples(200, 9))});
  GateInputs inputs = inputs_for(head, base);
  const GateDecision skipped = decide_gate(inputs);
  EXPECT_TRUE(skipped.may_merge);
  EXPECT_THAT(skipped.notes, ::testing::Contains(HasSubstr("latency not compared")));
  inputs.policy.latency.on_machine_mismatch = MachineMismatch::compare;
  EXPECT_FALSE(decide_gate(inputs).may_merge);
  inputs.policy.latency.on_machine_mismatch = MachineMismatch::block;
  const GateDecision blocked = decide_gate(inputs);
  EXPECT_FALSE(blocked.may_merge);
  EXPECT_EQ(blocked.findings.front().metric, "machine");
}

// The issue-12 run: the same commit gated against itself while a build shared the two cores
// (+19%, p = 2e-5). The gate names the same commit, shows both runs' machine state and warns
// instead of blocking; on a quiet machine the same samples block.
TEST(Gate, NoisyMachineWarnsInsteadOfJudgingLatency) {
  RunResults base = make_results({make_case("slow", 0.999, kBase)});
  RunResults head = make_results({make_case("slow", 0.999, samples(120, 9))});
  base.machine.load = MachineLoad{0.50, 0.40, 0.30, 0.0};
  head.machine.load = MachineLoad{3.10, 2.05, 1.20, 0.002};
  const GateDecision noisy = decide_gate(inputs_for(head, base));
  EXPECT_TRUE(noisy.may_merge);
  const GateFinding& warning = noisy.findings.front();
  EXPECT_EQ(warning.verdict, "noisy_machine");
  EXPECT_FALSE(warning.blocks);
  EXPECT_EQ(warning.message,
            "noisy machine: latency not judged (head ran at a 1-minute load of 3.10 on 2 cores "
            "(1.55 per core > 1))");
  for (const GateFinding& f : noisy.findings) EXPECT_NE(f.verdict, "regression");
  EXPECT_THAT(noisy.notes, ::testing::Contains(std::string(
                               "machine state: base load 0.50/0.40/0.30 on 2 cores, CPU steal "
                               "0.0%; head load 3.10/2.05/1.20 on 2 cores, CPU steal 0.2%")));
  EXPECT_THAT(noisy.notes,
              ::testing::Contains(std::string("base and head are the same commit (abc)")));
  EXPECT_THAT(format_gate_console(noisy),
              HasSubstr("warning: noisy machine: latency not judged (head ran at"));

  // Steal counts as noise too, on either side.
  head.machine.load = MachineLoad{0.9, 0.9, 0.9, 0.0};
  base.machine.load = MachineLoad{0.9, 0.9, 0.9, 0.12};
  EXPECT_EQ(decide_gate(inputs_for(head, base)).findings.front().message,
            "noisy machine: latency not judged (base lost 12% of its CPU time to steal (> 5%))");

  // Quiet on both sides (0.9 / 2 cores = 0.45 per core): the slowdown is judged and blocks.
  base.machine.load = MachineLoad{0.9, 0.9, 0.9, 0.0};
  const GateDecision quiet = decide_gate(inputs_for(head, base));
  EXPECT_FALSE(quiet.may_merge);
  EXPECT_EQ(finding(quiet, "latency", "slow").verdict, "regression");
  // A stricter policy makes the same load noisy.
  GateInputs strict = inputs_for(head, base);
  strict.policy.latency.max_load_per_core = 0.4;
  EXPECT_TRUE(decide_gate(strict).may_merge);
}

TEST(Gate, DifferentCommitsAreNotedAsSuch) {
  RunResults base = make_results({make_case("a", 0.999, kBase)});
  base.machine.commit = "def";
  const GateDecision decision =
      decide_gate(inputs_for(make_results({make_case("a", 0.999, kBase)}), base));
  EXPECT_THAT(decision.notes,
              ::testing::Contains(std::string("baseline commit def, head commit abc")));
  EXPECT_THAT(decision.notes, ::testing::Contains(HasSubstr("load not recorded")));
}

// Missing data never passes silently: a case that ran without outputs or timing blocks, in the
// head and in the baseline.
TEST(Gate, MissingOutputsOrTimingBlock) {
  CaseResult no_outputs = make_case("no_outputs", 0.999, kBase);
  no_outputs.outputs.clear();
  CaseResult no_timing = make_case("no_timing", 0.999, {});
  const GateDecision head_only = decide_gate(inputs_for(make_results({no_outputs, no_timing})));
  EXPECT_FALSE(head_only.may_merge);
  EXPECT_EQ(head_only.blocking, 2);
  const GateFinding& outputs = finding(head_only, "accuracy", "no_outputs");
  EXPECT_EQ(outputs.verdict, "missing");
  EXPECT_EQ(outputs.message,
            "the case has no outputs: its accuracy was not checked (missing data blocks)");
  EXPECT_EQ(finding(head_only, "latency", "no_timing").metric, "timing");

  // The baseline lacks them: the comparison cannot be made, which blocks too.
  CaseResult base_no_timing = make_case("a", 0.999, {});
  CaseResult base_no_outputs = make_case("b", 0.999, kBase);
  base_no_outputs.outputs.clear();
  const GateDecision against = decide_gate(
      inputs_for(make_results({make_case("a", 0.999, kBase), make_case("b", 0.999, kBase)}),
                 make_results({base_no_timing, base_no_outputs})));
  EXPECT_FALSE(against.may_merge);
  EXPECT_EQ(finding(against, "latency", "a").metric, "baseline timing");
  EXPECT_EQ(finding(against, "accuracy", "b").metric, "baseline output y");
  EXPECT_EQ(against.blocking, 2);
}

TEST(Gate, CoverageFloorAndBaseline) {
  const CoverageReport report =
      build_coverage_report(testing_coverage::tiny_records(), testing_coverage::tiny_catalog());
  GateInputs inputs = inputs_for(make_results({make_case("a", 0.999, kBase)}),
                                 make_results({make_case("a", 0.999, kBase)}));
  inputs.coverage = report;  // 2/28 = 7.1% passing.
  inputs.policy.coverage.floor_pct = 5.0;
  EXPECT_TRUE(decide_gate(inputs).may_merge);
  inputs.policy.coverage.floor_pct = 10.0;
  GateDecision decision = decide_gate(inputs);
  EXPECT_FALSE(decision.may_merge);
  const GateFinding& floor = finding(decision, "coverage", "");
  EXPECT_EQ(floor.verdict, "below_floor");
  EXPECT_THAT(floor.message,
              HasSubstr("catalog: 7.143% (2/28) of configurations pass, below the floor 10%"));
  // Lower than the baseline's: blocks; within the tolerance: does not.
  inputs.policy.coverage.floor_pct = 0.0;
  CoverageFigures better = coverage_figures(report);
  better.summary.passing = 3;  // 10.7% recorded.
  inputs.baseline->coverage = better;
  decision = decide_gate(inputs);
  EXPECT_EQ(finding(decision, "coverage", "").verdict, "decreased");
  EXPECT_NEAR(*finding(decision, "coverage", "").change, 100.0 * (2.0 - 3.0) / 28.0, 1e-9);
  inputs.policy.coverage.tolerance_pct = 4.0;
  EXPECT_TRUE(decide_gate(inputs).may_merge);
  // Per model: Tiny 2/14 against a floor of 20%.
  inputs.policy.coverage.models = {"Tiny"};
  inputs.policy.coverage.floor_pct = 20.0;
  decision = decide_gate(inputs);
  EXPECT_EQ(finding(decision, "coverage", "").metric, "passing Tiny");
  EXPECT_EQ(finding(decision, "coverage", "").verdict, "below_floor");
  inputs.policy.coverage.models = {"Nope"};
  EXPECT_THROW(decide_gate(inputs), GateInputError);
}

TEST(Gate, CoverageTheBaselineHadButTheHeadLacksBlocks) {
  GateInputs inputs = inputs_for(make_results({make_case("a", 0.999, kBase)}),
                                 make_results({make_case("a", 0.999, kBase)}));
  inputs.baseline->coverage = CoverageFigures{};
  const GateDecision decision = decide_gate(inputs);
  EXPECT_EQ(finding(decision, "coverage", "").verdict, "not_measured");
  EXPECT_FALSE(decision.may_merge);
  inputs.policy.coverage.floor_pct = 50;
  EXPECT_THAT([&] { decide_gate(inputs); },
              ThrowsMessage<GateInputError>(HasSubstr("no coverage data was given")));
}

TEST(Gate, BadInputs) {
  // Mismatched suites: nothing in common with the baseline.
  EXPECT_THAT(
      [] {
        decide_gate(inputs_for(make_results({make_case("a", 0.999, kBase)}, "llama"),
                               make_results({make_case("a", 0.999, kBase)}, "gemma")));
      },
      ThrowsMessage<GateInputError>(
          HasSubstr("mismatched suites: the baseline B.json holds gemma, the results R.json hold "
                    "llama")));
  // Results missing a shard.
  RunResults partial = make_results({make_case("a", 0.999, kBase)});
  partial.suites[0].shard_total = 2;
  EXPECT_THAT([&] { decide_gate(inputs_for(partial)); },
              ThrowsMessage<GateInputError>(HasSubstr("holds shard(s) 0 of 2")));
  // No case at all.
  EXPECT_THAT([] { decide_gate(inputs_for(make_results({}))); },
              ThrowsMessage<GateInputError>(HasSubstr("hold no case")));
}

class GateFiles : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_.file(name); }
  test_support::ScratchDir scratch_;
};

TEST_F(GateFiles, BaselineRoundTripsAndAcceptsPlainResults) {
  GateBaseline baseline;
  baseline.results = make_results({make_case("a", 0.999, kBase)});
  CoverageFigures figures;
  figures.summary = {28, 3, 2};
  figures.models["Tiny"] = {14, 3, 2};
  baseline.coverage = figures;
  write_gate_baseline(path("B.json"), baseline);
  const GateBaseline read = load_gate_baseline(path("B.json"));
  EXPECT_EQ(read.path, path("B.json"));
  ASSERT_EQ(read.results.suites.size(), 1u);
  EXPECT_EQ(read.results.suites[0].cases[0].timing->wall_ns, kBase);
  ASSERT_TRUE(read.coverage.has_value());
  EXPECT_EQ(read.coverage->summary.passing, 2);
  EXPECT_EQ(read.coverage->models.at("Tiny").configurations, 14);
  // Suite results are a baseline without coverage.
  write_run_results(path("R.json"), baseline.results);
  const GateBaseline plain = load_gate_baseline(path("R.json"));
  EXPECT_FALSE(plain.coverage.has_value());
  EXPECT_EQ(plain.results.suites[0].cases[0].id, "a");
}

TEST_F(GateFiles, BadBaselineFilesNameTheFile) {
  EXPECT_THAT([&] { load_gate_baseline(path("missing.json")); },
              ThrowsMessage<GateInputError>(HasSubstr("missing.json: cannot open the baseline")));
  std::ofstream(path("corrupt.json")) << "{\"format\": \"ttt-gate-baseline\", ";
  EXPECT_THAT([&] { load_gate_baseline(path("corrupt.json")); },
              ThrowsMessage<GateInputError>(HasSubstr("corrupt.json: not JSON")));
  std::ofstream(path("other.json")) << R"({"format": "something-else"})";
  EXPECT_THAT(
      [&] { load_gate_baseline(path("other.json")); },
      ThrowsMessage<GateInputError>(HasSubstr("other.json: not a gate baseline or suite results")));
  std::ofstream(path("counts.json"))
      << R"({"format": "ttt-gate-baseline", "version": 1, "results": )"
      << to_json(make_results({make_case("a", 0.999, kBase)})).dump()
      << R"(, "coverage": {"summary": {"configurations": -1, "exercised": 0, "passing": 0}}})";
  EXPECT_THAT([&] { load_gate_baseline(path("counts.json")); },
              ThrowsMessage<GateInputError>(
                  HasSubstr("counts.json: /coverage/summary/configurations: expected an integer")));
  // The baseline is read strictly: a misspelt field is an error naming its JSON path.
  std::ofstream(path("typo.json"))
      << R"({"format": "ttt-gate-baseline", "version": 1, "results": )"
      << to_json(make_results({make_case("a", 0.999, kBase)})).dump()
      << R"(, "coverage": {"summary": {"configurations": 1, "exercised": 1, "pasing": 1}}})";
  EXPECT_THAT([&] { load_gate_baseline(path("typo.json")); },
              ThrowsMessage<GateInputError>(
                  HasSubstr("typo.json: /coverage/summary/pasing: unknown field 'pasing' "
                            "(expected one of: configurations, exercised, passing, passing_pct)")));
}

TEST(GateOutput, MarkdownPutsRegressionsFirst) {
  const GateDecision decision = decide_gate(inputs_for(
      make_results({make_case("fine", 0.999, kBase), make_case("slow", 0.999, samples(120, 9))}),
      make_results({make_case("fine", 0.999, kBase), make_case("slow", 0.999, kBase)})));
  const std::string markdown = format_gate_markdown(decision);
  EXPECT_THAT(markdown, HasSubstr("## ttt gate: **blocked**"));
  EXPECT_THAT(markdown, HasSubstr("| case | base | head | change | verdict |"));
  const std::size_t table = markdown.find("|---|");
  const std::size_t first_row = markdown.find("\n| ", table) + 1;
  // p = 1/C(18, 9) = 2.06e-5, doubled by Holm over the run's two cases.
  EXPECT_EQ(markdown.substr(first_row, markdown.find('\n', first_row) - first_row),
            "| llama/slow (p50 wall) | 104 ns | 124 ns | +19.2% | **regression (p=4.1e-05)** |");
  const std::string console = format_gate_console(decision);
  EXPECT_THAT(console, HasSubstr("BLOCK latency llama/slow (p50 wall)"));
  EXPECT_THAT(console, HasSubstr("BLOCKED: 2 cases, 1 blocking finding"));
  const std::string junit = format_gate_junit(decision);
  EXPECT_THAT(junit, HasSubstr("<testsuite name=\"ttt gate\" tests=\"4\" failures=\"1\""));
  EXPECT_THAT(junit, HasSubstr("<failure message=\"regression: median"));
  const nlohmann::json json = to_json(decision);
  EXPECT_EQ(json.at("format"), "ttt-gate-decision");
  EXPECT_EQ(json.at("may_merge"), false);
  EXPECT_EQ(json.at("exit_code"), 1);
  EXPECT_EQ(json.at("findings").at(0).at("verdict"), "regression");
  EXPECT_EQ(json.at("policy").at("latency").at("alpha"), 0.01);
}

// The device-cost rule (docs/gate.md "Device cost"): a case's recorded prediction, as suite runs
// write it (suites/suite/results.h: device_cost).
CaseResult with_cost(CaseResult result, double total_ns, std::int64_t weight_bytes = 26112) {
  result.device_cost = nlohmann::json{
      {"device", "N150"},
      {"cost", {{"dram_bytes", {{"weights", weight_bytes}, {"activations", 8192}}}, {"ops", 4}}},
      {"time", {{"total_ns", total_ns}, {"bound", "memory"}}}};
  return result;
}

// Two runs of one commit: the cost model gives the same figure, so the rule never blocks them,
// whatever the machine did to their timings. A real suite run, twice.
TEST(GateDeviceCost, TwoRunsOfTheSameCommitNeverBlockOnDeviceCost) {
  const auto run = [] {
    Suite suite("twice", {.seed = 9, .warmup = 0});
    suite
        .add_case(block_case({.kind = "gated_mlp",
                              .spec = {{"hidden_dim", 64}, {"ffn_dim", 128}},
                              .mode = Mode::decode}))
        .with_seeded_inputs({.batch = 1})
        .expect_pcc(0.99);
    suite.add_case(block_case({.kind = "rms_norm", .spec = {{"dim", 64}}, .mode = Mode::prefill}))
        .with_seeded_inputs({.batch = 1, .seq_len = 8})
        .expect_pcc(0.99);
    return suite.run();
  };
  const RunResults first = run();
  const RunResults second = run();
  GateInputs inputs = inputs_for(second, first);
  // The default latency rule: without a measured noise floor a slowdown is only "unverified".
  inputs.policy.latency.require_noise_floor = true;
  inputs.policy.device_cost.require = true;
  const GateDecision decision = decide_gate(inputs);
  EXPECT_TRUE(decision.may_merge) << format_gate_console(decision);
  for (const std::string id : {"gated_mlp.decode", "rms_norm.prefill"}) {
    const GateFinding& cost = finding(decision, "device_cost", id);
    EXPECT_EQ(cost.verdict, "ok") << cost.message;
    EXPECT_FALSE(cost.blocks);
    EXPECT_EQ(*cost.change, 0.0);
    EXPECT_EQ(*cost.base, *cost.head);
    EXPECT_GT(*cost.head, 0.0);
    EXPECT_THAT(cost.message, HasSubstr("on N150, unchanged"));
  }
}

TEST(GateDeviceCost, AnIncreaseBlocksADecreaseIsReported) {
  const RunResults base = make_results({with_cost(make_case("slower", 0.999, kBase), 1000.0),
                                        with_cost(make_case("faster", 0.999, kBase), 1000.0),
                                        with_cost(make_case("rounded", 0.999, kBase), 1000.0)});
  const RunResults head =
      make_results({with_cost(make_case("slower", 0.999, kBase), 1010.0, 27200),
                    with_cost(make_case("faster", 0.999, kBase), 800.0, 20000),
                    with_cost(make_case("rounded", 0.999, kBase), 1000.0 * (1.0 + 1e-13))});
  GateDecision decision = decide_gate(inputs_for(head, base));
  EXPECT_FALSE(decision.may_merge);
  EXPECT_EQ(decision.blocking, 1);
  // Default max_increase 0: +1% blocks, with what changed in the work.
  const GateFinding& slower = finding(decision, "device_cost", "slower");
  EXPECT_EQ(slower.verdict, "regression");
  EXPECT_TRUE(slower.blocks);
  EXPECT_EQ(slower.metric, "device time N150");
  EXPECT_NEAR(*slower.change, 0.01, 1e-12);
  EXPECT_EQ(slower.message,
            "predicted 1.01 us vs 1 us on N150 (+1%, memory bound): slower beyond the 0% "
            "allowed (device_cost.max_increase); changed: dram_bytes/weights 26112 -> 27200");
  const GateFinding& faster = finding(decision, "device_cost", "faster");
  EXPECT_EQ(faster.verdict, "improvement");
  EXPECT_FALSE(faster.blocks);
  EXPECT_NEAR(*faster.change, -0.2, 1e-12);
  // A last-bit difference between compilers is the same figure.
  EXPECT_EQ(finding(decision, "device_cost", "rounded").verdict, "ok");
  EXPECT_THAT(format_gate_console(decision),
              HasSubstr("BLOCK device_cost llama/slower (device time N150): predicted 1.01 us"));
  EXPECT_THAT(format_gate_console(decision),
              HasSubstr("improvement llama/faster (device time N150): predicted 800 ns"));
  EXPECT_THAT(format_gate_markdown(decision),
              HasSubstr("| llama/slower (device time N150) | 1 us | 1.01 us | +1.0% | "
                        "**regression** |"));

  // A policy allowing 5%: the +1% is an increase, reported, not blocking.
  GateInputs loose = inputs_for(head, base);
  loose.policy.device_cost.max_increase = 0.05;
  decision = decide_gate(loose);
  EXPECT_TRUE(decision.may_merge);
  const GateFinding& within = finding(decision, "device_cost", "slower");
  EXPECT_EQ(within.verdict, "increase");
  EXPECT_THAT(within.message, HasSubstr("slower, within the 5% allowed"));
  EXPECT_THAT(format_gate_console(decision), HasSubstr("increase llama/slower"));
}

// The same work at another time: the device model's constants changed, which the message says.
TEST(GateDeviceCost, ChangedConstantsAreNamedAsSuch) {
  const GateDecision decision =
      decide_gate(inputs_for(make_results({with_cost(make_case("a", 0.999, kBase), 1200.0)}),
                             make_results({with_cost(make_case("a", 0.999, kBase), 1000.0)})));
  EXPECT_THAT(finding(decision, "device_cost", "a").message,
              HasSubstr("the call's work is unchanged: a constant of the device model changed"));
}

// A cost that disappeared blocks as missing data; one the baseline lacks is new. Asked to gate
// on the cost (device_cost.require), a case without one is an input error naming it: never a
// cost of zero.
TEST(GateDeviceCost, MissingCostsBlockOrAreErrorsNamingTheCase) {
  CaseResult refused = make_case("refused", 0.999, kBase);
  refused.device_cost = nlohmann::json{
      {"device", "N150"}, {"error", "[device cost] block kind 'x' declares no device cost"}};
  CaseResult zero = with_cost(make_case("zero", 0.999, kBase), 0.0);
  const RunResults base = make_results(
      {with_cost(make_case("gone", 0.999, kBase), 1000.0), make_case("fresh", 0.999, kBase),
       make_case("never", 0.999, kBase), with_cost(make_case("zero", 0.999, kBase), 1000.0)});
  const RunResults head = make_results({make_case("gone", 0.999, kBase),
                                        with_cost(make_case("fresh", 0.999, kBase), 1000.0),
                                        make_case("never", 0.999, kBase), zero});
  const GateDecision decision = decide_gate(inputs_for(head, base));
  const GateFinding& gone = finding(decision, "device_cost", "gone");
  EXPECT_EQ(gone.verdict, "missing");
  EXPECT_TRUE(gone.blocks);
  EXPECT_THAT(gone.message, HasSubstr("the case has no device cost (no device_cost"));
  const GateFinding& zero_finding = finding(decision, "device_cost", "zero");
  EXPECT_EQ(zero_finding.verdict, "missing");
  EXPECT_THAT(zero_finding.message, HasSubstr("device_cost has no time.total_ns > 0"));
  const GateFinding& fresh = finding(decision, "device_cost", "fresh");
  EXPECT_EQ(fresh.verdict, "new");
  EXPECT_FALSE(fresh.blocks);
  EXPECT_THROW(finding(decision, "device_cost", "never"), std::runtime_error);
  EXPECT_EQ(decision.blocking, 2);

  GateInputs strict = inputs_for(
      make_results({refused}), make_results({with_cost(make_case("refused", 0.999, kBase), 1.0)}));
  strict.policy.device_cost.require = true;
  EXPECT_THAT([&] { decide_gate(strict); },
              ThrowsMessage<GateInputError>(HasSubstr(
                  "R.json: case 'llama/refused' has no device cost to gate on (the cost model "
                  "refused the call: [device cost] block kind 'x' declares no device cost); the "
                  "policy requires one (device_cost.require)")));
  strict = inputs_for(make_results({with_cost(make_case("old", 0.999, kBase), 1.0)}),
                      make_results({make_case("old", 0.999, kBase)}));
  strict.policy.device_cost.require = true;
  EXPECT_THAT([&] { decide_gate(strict); },
              ThrowsMessage<GateInputError>(
                  HasSubstr("B.json: case 'llama/old' has no device cost in the baseline")));
}

}  // namespace
}  // namespace ttt

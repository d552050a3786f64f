// The latency rule's error rates (gate/error_rates.h): Holm and Benjamini-Hochberg adjusted
// p-values against hand-computed values, the family-wise correction inside the gate, the A/A
// noise floor (measured, written, read back, bad inputs), and the gate trusting latency only on
// a machine whose floor says it can tell.
#include "gate/error_rates.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>

#include "gate/gate.h"
#include "tests/common/scratch_dir.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::int64_t> samples(std::int64_t first, std::size_t count) {
  std::vector<std::int64_t> values(count);
  std::iota(values.begin(), values.end(), first);
  return values;
}

CaseResult timed_case(const std::string& id, std::vector<std::int64_t> wall_ns) {
  CaseResult result;
  result.id = id;
  result.kind = "rms_norm";
  result.mode = "prefill";
  result.identity = "RMS_NORM(dim=64)";
  result.spec = {{"dim", 64}};
  result.device = "N150";
  result.status = CaseStatus::pass;
  OutputResult output;
  output.name = "y";
  output.metrics.pcc = 0.9999;
  output.metrics.max_abs_error = 0.01;
  result.outputs.push_back(output);
  TimingSamples timing;
  timing.warmup = 1;
  timing.cpu_ns = wall_ns;
  timing.wall_ns = std::move(wall_ns);
  result.timing = timing;
  return result;
}

RunResults run(std::vector<CaseResult> cases, const std::string& commit = "abc",
               const std::string& cpu = "Test CPU") {
  RunResults results;
  results.machine.cpu_model = cpu;
  results.machine.cores = 2;
  results.machine.build_type = "Release";
  results.machine.commit = commit;
  SuiteResult suite;
  suite.name = "s";
  suite.fingerprint = "f";
  suite.total_cases = static_cast<std::int64_t>(cases.size());
  suite.cases = std::move(cases);
  results.suites.push_back(std::move(suite));
  return results;
}

const GateFinding& latency_of(const GateDecision& decision, const std::string& id) {
  for (const GateFinding& f : decision.findings) {
    if (f.rule == "latency" && f.case_id == id) return f;
  }
  throw std::runtime_error("no latency finding for " + id);
}

TEST(AdjustPValues, HolmAndBenjaminiHochbergByHand) {
  const std::vector<double> p = {0.01, 0.04, 0.03, 0.005};
  // Holm, sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04; the running
  // maximum makes the last 0.06.
  const std::vector<double> holm = adjust_p_values(p, Correction::holm);
  ASSERT_EQ(holm.size(), 4u);
  EXPECT_NEAR(holm[0], 0.03, 1e-15);
  EXPECT_NEAR(holm[1], 0.06, 1e-15);
  EXPECT_NEAR(holm[2], 0.06, 1e-15);
  EXPECT_NEAR(holm[3], 0.02, 1e-15);
  // Benjamini-Hochberg, sorted times 4/1, 4/2, 4/3, 4/4: 0.02, 0.02, 0.04, 0.04; the running
  // minimum from the top changes nothing.
  const std::vector<double> bh = adjust_p_values(p, Correction::benjamini_hochberg);
  EXPECT_NEAR(bh[0], 0.02, 1e-15);
  EXPECT_NEAR(bh[1], 0.04, 1e-15);
  EXPECT_NEAR(bh[2], 0.04, 1e-15);
  EXPECT_NEAR(bh[3], 0.02, 1e-15);
  EXPECT_THAT(adjust_p_values(p, Correction::none), ElementsAre(0.01, 0.04, 0.03, 0.005));
  // Adjusted values are capped at 1.
  EXPECT_THAT(adjust_p_values({0.6, 0.7}, Correction::holm), ElementsAre(1.0, 1.0));
  EXPECT_TRUE(adjust_p_values({}, Correction::holm).empty());
}

TEST(AdjustPValues, RejectsValuesOutsideTheUnitInterval) {
  EXPECT_THROW(adjust_p_values({0.5, 1.5}, Correction::holm), std::invalid_argument);
  EXPECT_THROW(adjust_p_values({std::numeric_limits<double>::quiet_NaN()}, Correction::none),
               std::invalid_argument);
}

TEST(Policy, CorrectionNamesRoundTrip) {
  for (const Correction c : {Correction::holm, Correction::benjamini_hochberg, Correction::none}) {
    EXPECT_EQ(parse_correction(correction_name(c)), c);
  }
  EXPECT_THROW(parse_correction("bonferroni"), std::invalid_argument);
  const GatePolicy policy = gate_policy_from_json(
      {{"latency", {{"correction", "none"}, {"require_noise_floor", false}}}}, "p.json");
  EXPECT_EQ(policy.latency.correction, Correction::none);
  EXPECT_FALSE(policy.latency.require_noise_floor);
  EXPECT_THAT([] { gate_policy_from_json({{"latency", {{"correction", 3}}}}, "p.json"); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("p.json: /latency/correction: expected a string")));
}

// Three cases, each 5 repetitions fully above 5 baseline ones (+20%): one-sided p = 1/C(10, 5)
// = 1/252 = 0.00397 each. On its own each is significant at 0.01; as a family of three, Holm
// multiplies the smallest by 3 (0.0119 >= 0.01): none blocks. Benjamini-Hochberg keeps them
// (3/3 x 0.00397).
GateInputs three_marginal_regressions(Correction correction) {
  std::vector<CaseResult> base;
  std::vector<CaseResult> head;
  for (const std::string id : {"a", "b", "c"}) {
    base.push_back(timed_case(id, samples(100, 5)));
    head.push_back(timed_case(id, samples(120, 5)));
  }
  GateInputs inputs;
  inputs.results = run(head);
  inputs.baseline = GateBaseline{"B.json", run(base), std::nullopt};
  inputs.policy.latency.min_repetitions = 5;
  inputs.policy.latency.require_noise_floor = false;
  inputs.policy.latency.correction = correction;
  return inputs;
}

TEST(GateErrorRates, HolmKeepsAFamilyOfMarginalSlowdownsFromBlocking) {
  const GateDecision none = decide_gate(three_marginal_regressions(Correction::none));
  EXPECT_EQ(none.blocking, 3);
  EXPECT_NEAR(*latency_of(none, "a").p_value, 1.0 / 252.0, 1e-15);

  const GateDecision holm = decide_gate(three_marginal_regressions(Correction::holm));
  EXPECT_TRUE(holm.may_merge);
  const GateFinding& a = latency_of(holm, "a");
  EXPECT_EQ(a.verdict, "noise");
  EXPECT_NEAR(*a.p_value, 3.0 / 252.0, 1e-15);
  EXPECT_THAT(a.message, HasSubstr("p = 0.0119 (holm over 3 cases; raw 0.003968) >= 0.01"));

  const GateDecision bh = decide_gate(three_marginal_regressions(Correction::benjamini_hochberg));
  EXPECT_EQ(bh.blocking, 3);
  EXPECT_NEAR(*latency_of(bh, "c").p_value, 1.0 / 252.0, 1e-15);
}

// An A/A pair: the same commit twice, the cases' medians moved by 0, 1, 2 and 4 ns of 104.
std::pair<RunResults, RunResults> quiet_pair() {
  std::vector<CaseResult> a;
  std::vector<CaseResult> b;
  const std::vector<std::int64_t> shifts = {0, 1, 2, 4};
  for (std::size_t i = 0; i < shifts.size(); ++i) {
    const std::string id = "case" + std::to_string(i);
    a.push_back(timed_case(id, samples(100, 9)));
    b.push_back(timed_case(id, samples(100 + shifts[i], 9)));
  }
  return {run(a), run(b)};
}

TEST(NoiseFloor, MeasuredFromAnAAPair) {
  const auto [a, b] = quiet_pair();
  const NoiseFloor floor = measure_noise_floor(a, b, LatencyPolicy{});
  ASSERT_EQ(floor.cases.size(), 4u);
  EXPECT_EQ(floor.commit, "abc");
  // |changes| 0, 1/104, 2/104, 4/104; the 95th percentile interpolates at 0.95 x 3 = 2.85:
  // 2/104 + 0.85 x 2/104 = 3.7/104.
  EXPECT_NEAR(floor.floor, 3.7 / 104.0, 1e-12);
  EXPECT_NEAR(floor.max_abs_change, 4.0 / 104.0, 1e-12);
  EXPECT_EQ(floor.false_alarms, 0);
  EXPECT_EQ(latency_distrust(floor, b.machine, LatencyPolicy{}), "");
  EXPECT_THAT(format_noise_floor(floor),
              HasSubstr("3.6% (95th percentile of |median change| over 4 cases)"));
}

TEST(NoiseFloor, RoundTripsThroughItsFile) {
  const test_support::ScratchDir scratch;
  const auto [a, b] = quiet_pair();
  NoiseFloor floor = measure_noise_floor(a, b, LatencyPolicy{});
  write_noise_floor(scratch.file("floor.json"), floor);
  const NoiseFloor back = load_noise_floor(scratch.file("floor.json"));
  EXPECT_EQ(back.path, scratch.file("floor.json"));
  EXPECT_DOUBLE_EQ(back.floor, floor.floor);
  EXPECT_EQ(back.cases.size(), 4u);
  EXPECT_EQ(back.machine.cpu_model, "Test CPU");
  EXPECT_EQ(back.policy.correction, Correction::holm);
  // A hand-edited file: the error names the file and the field.
  nlohmann::json json = to_json(floor);
  json["floor"] = -0.5;
  std::ofstream(scratch.file("bad.json")) << json.dump();
  EXPECT_THAT([&] { load_noise_floor(scratch.file("bad.json")); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("bad.json: /floor: expected a number in [0, 1e+300], got -0.5")));
  json = to_json(floor);
  json["format"] = "ttt-suite-results";
  std::ofstream(scratch.file("other.json")) << json.dump();
  EXPECT_THAT([&] { load_noise_floor(scratch.file("other.json")); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("/format")));
  EXPECT_THROW(load_noise_floor(scratch.file("missing.json")), std::invalid_argument);
}

TEST(NoiseFloor, RefusesWhatIsNotAnAAPair) {
  const auto [a, b] = quiet_pair();
  const auto message = [](const RunResults& x, const RunResults& y) {
    try {
      measure_noise_floor(x, y, LatencyPolicy{});
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  RunResults other_commit = b;
  other_commit.machine.commit = "def";
  EXPECT_THAT(message(a, other_commit),
              HasSubstr("not an A/A pair: run A is commit abc, run B commit def"));
  RunResults unknown = b;
  unknown.machine.commit = "unknown";
  EXPECT_THAT(message(a, unknown), HasSubstr("a run's commit is unknown"));
  RunResults other_machine = b;
  other_machine.machine.cpu_model = "Other CPU";
  EXPECT_THAT(message(a, other_machine), HasSubstr("run B on Other CPU, 2 cores, Release"));
  const RunResults few_a = run({timed_case("x", samples(100, 3))});
  const RunResults few_b = run({timed_case("x", samples(100, 3))});
  EXPECT_THAT(message(few_a, few_b), HasSubstr("no case of the two runs could be compared"));
}

// The complaint: two runs of the same commit, the second beside a build (+19%,
// p = 2e-5). Measured as an A/A pair the machine shows a false alarm, so the gate trusts no
// latency threshold there: the same pair never blocks.
TEST(GateErrorRates, SameCommitNeverBlocksOnAMachineThatCannotTell) {
  const RunResults a = run({timed_case("ffn", samples(100, 9)), timed_case("norm", samples(50, 9))});
  const RunResults b = run({timed_case("ffn", samples(120, 9)), timed_case("norm", samples(50, 9))});
  const NoiseFloor floor = measure_noise_floor(a, b, LatencyPolicy{});
  EXPECT_EQ(floor.false_alarms, 1);
  GateInputs inputs;
  inputs.results = b;
  inputs.baseline = GateBaseline{"B.json", a, std::nullopt};
  inputs.noise_floor = floor;
  const GateDecision decision = decide_gate(inputs);
  EXPECT_TRUE(decision.may_merge);
  EXPECT_EQ(latency_of(decision, "ffn").verdict, "unverified");
  EXPECT_THAT(latency_of(decision, "ffn").message,
              HasSubstr("not judged: the A/A pair of the noise floor raised 1 false alarm"));
}

TEST(GateErrorRates, LatencyBlocksOnlyWithATrustedFloor) {
  const RunResults base = run({timed_case("slow", samples(100, 9))});
  const RunResults head = run({timed_case("slow", samples(120, 9))}, "def");
  GateInputs inputs;
  inputs.results = head;
  inputs.baseline = GateBaseline{"B.json", base, std::nullopt};
  // No floor: reported, not blocking, and the note says how to measure one.
  GateDecision decision = decide_gate(inputs);
  EXPECT_TRUE(decision.may_merge);
  EXPECT_EQ(latency_of(decision, "slow").verdict, "unverified");
  EXPECT_THAT(decision.notes, ::testing::Contains(HasSubstr(
                                  "latency reported, not judged: no A/A noise floor was given")));
  // A trusted floor (3.6% < 10%, no false alarm, this machine): the regression blocks.
  const auto [a, b] = quiet_pair();
  inputs.noise_floor = measure_noise_floor(a, b, LatencyPolicy{});
  decision = decide_gate(inputs);
  EXPECT_FALSE(decision.may_merge);
  EXPECT_EQ(latency_of(decision, "slow").verdict, "regression");
  EXPECT_THAT(decision.notes,
              ::testing::Contains(HasSubstr("latency judged: this machine's A/A noise floor is "
                                            "3.6%")));
  // The floor of another machine is not this one's.
  NoiseFloor elsewhere = *inputs.noise_floor;
  elsewhere.machine.cpu_model = "Other CPU";
  inputs.noise_floor = elsewhere;
  decision = decide_gate(inputs);
  EXPECT_EQ(latency_of(decision, "slow").verdict, "unverified");
  EXPECT_THAT(latency_of(decision, "slow").message,
              HasSubstr("was measured on Other CPU, 2 cores, Release, the results ran on Test "
                        "CPU, 2 cores, Release"));
  // A floor at or above the threshold: the machine cannot tell a 10% change.
  NoiseFloor wide = elsewhere;
  wide.machine = head.machine;
  wide.floor = 0.15;
  inputs.noise_floor = wide;
  decision = decide_gate(inputs);
  EXPECT_TRUE(decision.may_merge);
  EXPECT_THAT(latency_of(decision, "slow").message,
              HasSubstr("noise floor is 15.0% (95th percentile of |change| over 4 cases, the "
                        "noise floor), not below the 10.0% threshold"));
  // Measured on CPU time while the policy compares wall time.
  NoiseFloor cpu = wide;
  cpu.floor = 0.01;
  cpu.clock = TimingClock::cpu;
  inputs.noise_floor = cpu;
  EXPECT_THAT(latency_of(decide_gate(inputs), "slow").message,
              HasSubstr("was measured on cpu time, the policy compares wall"));
}

}  // namespace
}  // namespace ttt

// The gate on a selected subset (GateInputs::selection, docs/gate.md "Selected cases"): every
// case `ttt select` chose must be in the results; the others keep their registry evidence.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gate/gate.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;

// A passing case with outputs and timing: nothing for the other rules to find.
CaseResult passing_case(const std::string& id) {
  CaseResult result;
  result.id = id;
  result.kind = "rms_norm";
  result.mode = "decode";
  result.device = "N150";
  result.status = CaseStatus::pass;
  OutputResult output;
  output.name = "y";
  output.metrics.pcc = 0.9999;
  result.outputs.push_back(output);
  TimingSamples timing;
  timing.wall_ns = {100, 101, 102, 103, 104, 105, 106, 107, 108};
  timing.cpu_ns = timing.wall_ns;
  result.timing = timing;
  return result;
}

GateInputs inputs_with(std::vector<CaseResult> cases, SelectionPlan plan) {
  GateInputs inputs;
  inputs.policy.latency.require_noise_floor = false;
  SuiteResult suite;
  suite.name = "tiny";
  suite.fingerprint = "f";
  suite.total_cases = static_cast<std::int64_t>(cases.size());
  suite.cases = std::move(cases);
  inputs.results.suites.push_back(std::move(suite));
  inputs.results_path = "R.json";
  inputs.selection = std::move(plan);
  return inputs;
}

SelectionPlan plan_of_three() {
  SelectionPlan plan;
  plan.cases = {{.suite = "tiny",
                 .id = "norm",
                 .reasons = {{SelectReason::block_folder, "blocks/normalization"}}},
                {.suite = "tiny", .id = "ffn", .reasons = {{SelectReason::no_evidence, ""}}},
                {.suite = "tiny", .id = "mlp"}};  // Not selected: keeps its evidence.
  return plan;
}

TEST(GateSelection, EverySelectedCaseRanSoTheChangeMayMerge) {
  const GateDecision decision =
      decide_gate(inputs_with({passing_case("norm"), passing_case("ffn")}, plan_of_three()));
  EXPECT_TRUE(decision.may_merge);
  EXPECT_THAT(decision.notes,
              ::testing::Contains("selection: 2 of 3 cases: 1 touched by blocks/normalization, 1 "
                                  "of tiny without evidence (1 new fingerprint); not selected, "
                                  "keeping the registry's evidence: 1"));
}

TEST(GateSelection, ASelectedCaseMissingFromTheResultsBlocks) {
  const GateDecision decision = decide_gate(inputs_with({passing_case("norm")}, plan_of_three()));
  EXPECT_FALSE(decision.may_merge);
  ASSERT_EQ(decision.blocking, 1);
  const GateFinding& finding = decision.findings.front();
  EXPECT_EQ(finding.rule, "selection");
  EXPECT_EQ(finding.case_id, "ffn");
  EXPECT_EQ(finding.verdict, "missing");
  EXPECT_EQ(finding.message,
            "ttt select chose this case (no_evidence) but the results do not hold it");
  EXPECT_THAT(format_gate_console(decision), HasSubstr("BLOCK selection tiny/ffn"));
}

}  // namespace
}  // namespace ttt

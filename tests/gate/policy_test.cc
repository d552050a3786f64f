// The gate policy file (gate/policy.h): defaults, every field, and errors naming the
// JSON path.
#include "gate/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(GatePolicy, EmptyPolicyGivesTheDefaults) {
  const GatePolicy policy = gate_policy_from_json(nlohmann::json::object(), "p.json");
  EXPECT_DOUBLE_EQ(policy.accuracy.pcc_drop, 0.001);
  EXPECT_FALSE(policy.accuracy.max_abs_error_increase.has_value());
  EXPECT_DOUBLE_EQ(policy.latency.threshold, 0.10);
  EXPECT_DOUBLE_EQ(policy.latency.alpha, 0.01);
  EXPECT_EQ(policy.latency.min_repetitions, 9);
  EXPECT_EQ(policy.latency.clock, TimingClock::wall);
  EXPECT_EQ(policy.latency.on_machine_mismatch, MachineMismatch::skip);
  EXPECT_DOUBLE_EQ(policy.latency.max_load_per_core, 1.0);
  EXPECT_DOUBLE_EQ(policy.latency.max_cpu_steal, 0.05);
  EXPECT_DOUBLE_EQ(policy.coverage.floor_pct, 0.0);
  EXPECT_TRUE(policy.coverage.models.empty());
  EXPECT_TRUE(policy.coverage.no_decrease);
  EXPECT_EQ(policy.coverage.strength, 2);
  EXPECT_DOUBLE_EQ(policy.device_cost.max_increase, 0.0);
  EXPECT_FALSE(policy.device_cost.require);
}

TEST(GatePolicy, EveryFieldIsRead) {
  const nlohmann::json json = nlohmann::json::parse(R"({
    "format": "ttt-gate-policy",
    "accuracy": {"pcc_drop": 0.0005, "max_abs_error_increase": 0.25},
    "latency": {"threshold": 0.05, "alpha": 0.001, "min_repetitions": 15, "clock": "cpu",
                "on_machine_mismatch": "block", "max_load_per_core": 2.0, "max_cpu_steal": 0.1},
    "coverage": {"floor_pct": 60, "models": ["Llama-3.1-8B"], "no_decrease": false,
                 "tolerance_pct": 0.5, "strength": 3, "catalog": "my/catalog"},
    "device_cost": {"max_increase": 0.02, "require": true}})");
  const GatePolicy policy = gate_policy_from_json(json, "p.json");
  EXPECT_DOUBLE_EQ(policy.accuracy.pcc_drop, 0.0005);
  EXPECT_DOUBLE_EQ(*policy.accuracy.max_abs_error_increase, 0.25);
  EXPECT_DOUBLE_EQ(policy.latency.threshold, 0.05);
  EXPECT_DOUBLE_EQ(policy.latency.alpha, 0.001);
  EXPECT_EQ(policy.latency.min_repetitions, 15);
  EXPECT_EQ(policy.latency.clock, TimingClock::cpu);
  EXPECT_EQ(policy.latency.on_machine_mismatch, MachineMismatch::block);
  EXPECT_DOUBLE_EQ(policy.latency.max_load_per_core, 2.0);
  EXPECT_DOUBLE_EQ(policy.latency.max_cpu_steal, 0.1);
  EXPECT_DOUBLE_EQ(policy.coverage.floor_pct, 60.0);
  EXPECT_THAT(policy.coverage.models, ::testing::ElementsAre("Llama-3.1-8B"));
  EXPECT_FALSE(policy.coverage.no_decrease);
  EXPECT_DOUBLE_EQ(policy.coverage.tolerance_pct, 0.5);
  EXPECT_EQ(policy.coverage.strength, 3);
  EXPECT_EQ(policy.coverage.catalog, "my/catalog");
  EXPECT_DOUBLE_EQ(policy.device_cost.max_increase, 0.02);
  EXPECT_TRUE(policy.device_cost.require);
  // The JSON form reads back to the same policy.
  const GatePolicy again = gate_policy_from_json(to_json(policy), "again");
  EXPECT_EQ(to_json(again), to_json(policy));
}

TEST(GatePolicy, BadFieldsNameTheirPath) {
  const auto error_of = [](const char* text) {
    return [text] { gate_policy_from_json(nlohmann::json::parse(text), "policy.json"); };
  };
  EXPECT_THAT(error_of(R"({"latency": {"alpha": 1.5}})"),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("policy.json: /latency/alpha: expected a number in (0, 1), got 1.5")));
  EXPECT_THAT(error_of(R"({"latency": {"treshold": 0.1}})"),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("policy.json: /latency/treshold: unknown field 'treshold' "
                            "(expected one of: threshold, alpha, min_repetitions, clock, "
                            "on_machine_mismatch, max_load_per_core, max_cpu_steal, "
                            "correction, require_noise_floor)")));
  EXPECT_THAT(
      error_of(R"({"accuracy": {"pcc_drop": "small"}})"),
      ThrowsMessage<std::invalid_argument>(HasSubstr("/accuracy/pcc_drop: expected a number")));
  EXPECT_THAT(error_of(R"({"latency": {"clock": "sundial"}})"),
              ThrowsMessage<std::invalid_argument>(HasSubstr("/latency/clock")));
  EXPECT_THAT(error_of(R"({"latency": {"min_repetitions": 1}})"),
              ThrowsMessage<std::invalid_argument>(HasSubstr("/latency/min_repetitions")));
  EXPECT_THAT(error_of(R"({"coverage": {"floor_pct": 120}})"),
              ThrowsMessage<std::invalid_argument>(HasSubstr("/coverage/floor_pct")));
  EXPECT_THAT(error_of(R"({"coverage": {"models": "Llama"}})"),
              ThrowsMessage<std::invalid_argument>(HasSubstr("/coverage/models")));
  EXPECT_THAT(error_of(R"({"format": "something"})"),
              ThrowsMessage<std::invalid_argument>(HasSubstr("/format")));
  EXPECT_THAT(error_of(R"({"latency": {"max_load_per_core": 0}})"),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("/latency/max_load_per_core: expected a number in (0, inf), got 0")));
  EXPECT_THAT(error_of(R"({"latency": {"max_cpu_steal": 1.5}})"),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("/latency/max_cpu_steal: expected a number in [0, 1], got 1.5")));
  EXPECT_THAT(error_of(R"({"device_cost": {"max_increase": -0.1}})"),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("/device_cost/max_increase: expected a number in [0, inf), got -0.1")));
  EXPECT_THAT(error_of(R"({"device_cost": {"require": "yes"}})"),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("/device_cost/require: expected true or false")));
  EXPECT_THAT(error_of(R"({"device_cost": {"threshold": 0.1}})"),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("/device_cost/threshold: unknown field 'threshold' (expected one of: "
                            "max_increase, require)")));
  EXPECT_THAT(error_of(R"([1, 2])"), ThrowsMessage<std::invalid_argument>(
                                         HasSubstr("policy.json: /: expected an object")));
  EXPECT_THAT([] { load_gate_policy("/nonexistent/policy.json"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("cannot open the policy file")));
}

// The policy docs/gate.md and docs/cli.md pass as `--policy .ci/gate-policy.json` is in the
// repository and reads, with the noise thresholds it documents.
TEST(GatePolicy, TheShippedCiPolicyReads) {
  const GatePolicy policy = load_gate_policy(std::string(TTT_SOURCE_DIR) + "/.ci/gate-policy.json");
  EXPECT_DOUBLE_EQ(policy.latency.threshold, 0.10);
  EXPECT_DOUBLE_EQ(policy.latency.max_load_per_core, 1.0);
  EXPECT_DOUBLE_EQ(policy.latency.max_cpu_steal, 0.05);
}

}  // namespace
}  // namespace ttt

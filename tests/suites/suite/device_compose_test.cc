// Composition on the device (suites/suite/device_compose.h) and `ttt compose --device-cost`:
// the forward's module calls costed from the model's config alone, hand-derived weight traffic
// of a tiny Llama, and bad input (unknown device, no model, a mesh the model does not fit).
// Budgets in device time (expect device_us): judged per topology by the suite, in C++ and from
// suite files, and their bad input.
#include "suites/suite/device_compose.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "models/model.h"
#include "suites/suite/suite.h"
#include "suites/suite/targets.h"
#include "tests/common/scratch_dir.h"
#include "tests/suites/suite/tiny_llama.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::run_shell;
using cli_test::RunResult;
using cli_test::shell_quote;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

ModelDefinition tiny_model() {
  return model_from_config(suites_test::tiny_llama_config(128), "tiny.json");
}

std::vector<std::string> modules(const DeviceModePrediction& prediction) {
  std::vector<std::string> names;
  for (const DeviceBlockCost& block : prediction.blocks) {
    names.push_back(block.module + ":" + block.kind + " x" + std::to_string(block.instances));
  }
  return names;
}

TEST(DeviceCompose, EveryModuleCallOfTheForwardIsCosted) {
  const DeviceComposition c = compose_device_cost(tiny_model(), find_device_model("N150"));
  EXPECT_THAT(
      modules(c.prefill),
      ElementsAre("embedding:embedding x1", "layers.*.attention_norm:rms_norm x2",
                  "layers.*.attention:attention.prefill x2", "layers.*.ffn_norm:rms_norm x2",
                  "layers.*.ffn:gated_mlp x2", "norm:rms_norm x1", "lm_head:lm_head x1"));
  EXPECT_EQ(c.decode.blocks.at(2).kind, "attention.decode");
  EXPECT_EQ(c.prefill.shapes.seq_len, 128);
  EXPECT_EQ(c.decode.shapes.context_len, 128);
  double sum = 0.0;
  double shares = 0.0;
  for (const DeviceBlockCost& block : c.decode.blocks) {
    sum += static_cast<double>(block.instances) * block.time.total_ns;
    shares += block.share;
  }
  EXPECT_DOUBLE_EQ(c.decode.latency_ns, sum);
  EXPECT_NEAR(shares, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(c.decode_tokens_per_s_user, 1e9 / c.decode.latency_ns);
  EXPECT_DOUBLE_EQ(c.ttft_ms, c.prefill.latency_ns / 1e6);
}

// TTTv1's decode defaults on N150: attention and MLP weights bfloat8_b, norm scales and the
// token table bfloat16, LM head bfloat8_b. Per layer: W_qkv [64, 128] 8 tiles and W_o [64, 64]
// 4 tiles of 1088 bytes (13056); W_gate, W_up, W_down 8 tiles each (3 x 8704); two norm scales
// [1, 64] of 2 bfloat16 tiles (2 x 4096). Then the final norm (4096), the LM head [64, 128]
// (8704) and one embedding row as a [1, 64] tile row (4096).
TEST(DeviceCompose, DecodeWeightTrafficOfATinyLlama) {
  const DeviceComposition c = compose_device_cost(tiny_model(), find_device_model("N150"));
  std::int64_t weights = 0;
  for (const DeviceBlockCost& block : c.decode.blocks) {
    weights += block.instances * block.cost.dram_weight_bytes;
  }
  EXPECT_EQ(weights, 2 * (13056 + 3 * 8704 + 2 * 4096) + 4096 + 8704 + 4096);
}

TEST(DeviceCompose, AMeshRunsTheTensorParallelKinds) {
  const DeviceComposition c = compose_device_cost(tiny_model(), find_device_model("N300"));
  EXPECT_EQ(c.decode.blocks.at(2).kind, "tp_attention");
  EXPECT_EQ(c.decode.blocks.at(4).kind, "tp_gated_mlp");
  EXPECT_EQ(c.decode.blocks.back().kind, "tp_lm_head");
  EXPECT_GT(c.decode.eth_bytes, 0);
}

TEST(DeviceCompose, BadOptionsAreErrors) {
  EXPECT_THAT([] { compose_device_cost(tiny_model(), find_device_model("N150"), {.seq_len = 0}); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("seq_len must be >= 1")));
}

class DeviceComposeCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(scratch_.path() / "config.json") << suites_test::tiny_llama_config(128).dump();
  }
  RunResult run(const std::string& arguments) const {
    return run_shell(scratch_.path(), cli_test::ttt_command({}) + " " + arguments);
  }
  std::string path(const std::string& name) const { return scratch_.file(name); }

  test_support::ScratchDir scratch_;
};

TEST_F(DeviceComposeCommand, PrintsTtftAndDecodeSpeedPerDevice) {
  const RunResult result = run("compose --device-cost --model " + shell_quote(path("config.json")) +
                               " --device N150,N300 --json " + shell_quote(path("c.json")));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("on N150 (Wormhole n150"));
  EXPECT_THAT(result.out, HasSubstr("on N300 (Wormhole n300"));
  EXPECT_THAT(result.out, HasSubstr("TTFT: "));
  EXPECT_THAT(result.out, HasSubstr("tokens/s/user"));
  const nlohmann::json json = nlohmann::json::parse(read_text(path("c.json")));
  ASSERT_EQ(json.at("device_cost").size(), 2u);
  EXPECT_EQ(json["device_cost"][1]["device"]["name"], "N300");
  EXPECT_GT(json["device_cost"][0]["decode_tokens_per_s_user"].get<double>(), 0.0);
}

TEST_F(DeviceComposeCommand, BadInputExitsTwoNamingIt) {
  const std::string model = " --model " + shell_quote(path("config.json"));
  RunResult result = run("compose --device-cost" + model + " --device N151");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("unknown device 'N151' (known: N150, N300, T3K, TG, P100, "
                                    "P150)"));
  result = run("compose --device-cost --device N150");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--device-cost needs a model"));
  result = run("compose --device-cost" + model);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--device-cost needs --device"));
  // 4 query heads cannot be split over the 8 devices of a T3K.
  result = run("compose --device-cost" + model + " --device T3K");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("does not divide"));
  result = run("compose " + shell_quote(path("config.json")));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--results are required"));
}

// `ttt suite run` records each seeded case's device cost beside its CPU timing, and the results
// read back with it.
TEST_F(DeviceComposeCommand, SuiteResultsCarryTheDeviceCost) {
  const nlohmann::json suite = {
      {"suite", "tiny"},
      {"model", {{"config", "config.json"}}},
      {"seed", 5},
      {"defaults",
       {{"shapes", {{"batch", 1}, {"seq_len", 16}, {"context_len", 15}}},
        {"expect", {{"pcc", 0.98}}}}},
      {"cases", {{{"module", "layers.*.ffn"}, {"mode", "decode"}}}}};
  std::ofstream(scratch_.path() / "tiny.json") << suite.dump();
  const RunResult result = run("suite run " + shell_quote(path("tiny.json")) + " --json " +
                               shell_quote(path("r.json")));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json json = nlohmann::json::parse(read_text(path("r.json")));
  const nlohmann::json& cost = json.at("suites").at(0).at("cases").at(0).at("device_cost");
  EXPECT_EQ(cost.at("device"), "N150");
  // TTTv1's decode defaults: W_gate, W_up, W_down [64, 128] / [128, 64] in bfloat8_b, 8 tiles
  // of 1088 bytes each.
  EXPECT_EQ(cost.at("cost").at("dram_bytes").at("weights"), 3 * 8 * 1088);
  EXPECT_EQ(cost.at("time").at("bound"), "memory");
  EXPECT_GT(cost.at("time").at("total_ns").get<double>(), 0.0);
  // The results read back (ttt suite merge) keep it.
  const RunResult merged = run("suite merge " + shell_quote(path("r.json")) + " --json " +
                               shell_quote(path("m.json")));
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(nlohmann::json::parse(read_text(path("m.json")))
                .at("suites")
                .at(0)
                .at("cases")
                .at(0)
                .at("device_cost"),
            cost);
}

// A seeded gated MLP in decode, costed: the budget is judged on the predicted time of each named
// topology. The call is memory bound on both, so P150 (512 GB/s) is 512/288 times as fast as N150
// (288 GB/s) on the same bytes.
TEST(DeviceTimeBudget, JudgedPerTopologyOnThePredictedTime) {
  const auto run_with = [](DeviceTimeBudget budget) {
    Suite suite("budget", {.seed = 3, .timing = false});
    suite
        .add_case(block_case({.kind = "gated_mlp",
                              .spec = {{"hidden_dim", 64}, {"ffn_dim", 128}},
                              .mode = Mode::decode}))
        .with_seeded_inputs({.batch = 1})
        .expect_device_time(std::move(budget));
    return suite.run_cases().cases.at(0);
  };
  const CaseResult probe = run_with({{"N150", 1e6}});
  ASSERT_EQ(probe.status, CaseStatus::pass) << probe.error;
  const double n150_us = probe.device_cost->at("time").at("total_ns").get<double>() / 1e3;
  EXPECT_EQ(probe.device_cost->at("time").at("bound"), "memory");
  // A budget alone is an expectation: no accuracy verdict is added for it.
  ASSERT_EQ(probe.verdicts.size(), 1u);
  EXPECT_EQ(probe.verdicts[0].expectation, "device_time");
  EXPECT_TRUE(probe.verdicts[0].passed);

  const double p150_us = n150_us * 288.0 / 512.0;
  const CaseResult both = run_with({{"N150", n150_us * 1.001}, {"P150", p150_us * 0.999}});
  EXPECT_EQ(both.status, CaseStatus::fail);
  ASSERT_EQ(both.verdicts.size(), 1u);
  EXPECT_FALSE(both.verdicts[0].passed);
  EXPECT_THAT(both.verdicts[0].message, HasSubstr(" us <= "));
  EXPECT_THAT(both.verdicts[0].message, HasSubstr(" us > "));
  EXPECT_THAT(both.verdicts[0].message, HasSubstr("P150 "));
  EXPECT_THAT(both.verdicts[0].message, HasSubstr("(memory bound)"));
  const CaseResult within = run_with({{"N150", n150_us * 1.001}, {"P150", p150_us * 1.001}});
  EXPECT_EQ(within.status, CaseStatus::pass) << within.verdicts.at(0).message;
}

// A budget on a case the cost model cannot cost, or on a topology that cannot run the call, is a
// definition problem naming the case: the suite does not run, no budget is judged against zero.
TEST(DeviceTimeBudget, UncostableCasesAreProblemsNamingThem) {
  Suite suite("budget");
  suite
      .add_case(block_case({.kind = "gated_mlp",
                            .spec = {{"hidden_dim", 64}, {"ffn_dim", 128}},
                            .mode = Mode::decode}))
      .named("given")
      .with_inputs({{"x", Tensor::from_floats({1, 64}, std::vector<float>(64, 0.0f))}})
      .expect_device_time({{"N150", 10.0}});
  EXPECT_THAT(suite.problems(),
              ElementsAre(HasSubstr("case 0 'given': a device-time budget needs a seeded case of "
                                    "a block kind in prefill or decode")));
}

TEST_F(DeviceComposeCommand, SuiteFileDeviceTimeBudget) {
  const auto write_suite = [&](const nlohmann::json& expect, const nlohmann::json& inputs) {
    const nlohmann::json suite = {{"suite", "tiny"},
                                  {"seed", 5},
                                  {"defaults", {{"shapes", {{"batch", 1}}}, {"repetitions", 9}}},
                                  {"cases",
                                   {{{"block", "rms_norm"},
                                     {"mode", "decode"},
                                     {"spec", {{"dim", 64}}},
                                     {"inputs", inputs},
                                     {"expect", expect}}}}};
    std::ofstream(scratch_.path() / "tiny.json") << suite.dump();
  };
  const nlohmann::json seeded = {{"source", "seeded"}};
  const std::string suite_run =
      "suite run " + shell_quote(path("tiny.json")) + " --json " + shell_quote(path("r.json"));
  write_suite({{"device_us", {{"N150", 1000.0}, {"P100", 1000.0}}}}, seeded);
  RunResult result = run(suite_run);
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  nlohmann::json json = nlohmann::json::parse(read_text(path("r.json")));
  const nlohmann::json& c = json.at("suites").at(0).at("cases").at(0);
  EXPECT_EQ(c.at("expectations").at("device_us"),
            (nlohmann::json{{"N150", 1000.0}, {"P100", 1000.0}}));
  EXPECT_EQ(c.at("verdicts").at(0).at("expectation"), "device_time");
  EXPECT_THAT(c.at("verdicts").at(0).at("message").get<std::string>(),
              HasSubstr("device time N150 "));
  // 1 ns is below any call's predicted time: the case fails, exit 1, with the figures.
  write_suite({{"pcc", 0.99}, {"device_us", {{"N150", 0.001}}}}, seeded);
  result = run(suite_run);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("us > 0.001 us (memory bound)"));
  // Bad budgets are errors naming the file and the JSON path.
  write_suite({{"device_us", {{"N151", 5.0}}}}, seeded);
  result = run(suite_run);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("/cases/0/expect/device_us/N151: [device cost] unknown device "
                                    "'N151' (known: N150, N300, T3K, TG, P100, P150)"));
  write_suite({{"device_us", {{"N150", -1.0}}}}, seeded);
  result = run(suite_run);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("/cases/0/expect/device_us/N150: expected a number > 0"));
  write_suite({{"device_us", nlohmann::json::object()}}, seeded);
  result = run(suite_run);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("/cases/0/expect/device_us: expected an object of topology"));
  write_suite({{"device_us", 5.0}}, seeded);
  result = run(suite_run);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("/cases/0/expect/device_us: expected an object"));
  write_suite({{"device_time", {{"N150", 5.0}}}}, seeded);
  result = run(suite_run);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("unknown field 'device_time'"));
  // Trace inputs: the cost model has no shapes to cost the call from.
  write_suite({{"device_us", {{"N150", 5.0}}}},
              {{"source", "trace"}, {"file", "t.h5"}, {"call", "norm.decode"}});
  result = run(suite_run);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("a device-time budget needs a seeded case"));
}

}  // namespace
}  // namespace ttt

// Composition on the device (suites/suite/device_compose.h) and `ttt compose --device-cost`:
// the forward's module calls costed from the model's config alone, hand-derived weight traffic
// of a tiny Llama, and bad input (unknown device, no model, a mesh the model does not fit).
#include "suites/suite/device_compose.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
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

}  // namespace
}  // namespace ttt

// `ttt demo`, run as a subprocess: a small model end to end (report, files, trace, replay), the
// default configuration (the README's first command), the presets, and bad input (exit 2).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/tools/cli_run.h"
#include "tests/tools/small_llama.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::run_ttt;
using cli_test::RunResult;

using ::testing::AllOf;
using ::testing::HasSubstr;

class DemoCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = std::filesystem::path(::testing::TempDir()) /
                 ("ttt_demo_" + std::to_string(::getpid()) + "_" + info->name());
    std::filesystem::create_directories(directory_);
    config_ = (directory_ / "config.json").string();
    std::ofstream(config_) << cli_test::small_llama_config().dump(2);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  RunResult demo(const std::vector<std::string>& args) { return ttt("demo", args); }

  // Runs `ttt <subcommand> <args>`.
  RunResult ttt(const std::string& subcommand, std::vector<std::string> args) {
    args.insert(args.begin(), subcommand);
    return run_ttt(directory_, args);
  }

  std::string out_dir() const { return (directory_ / "out").string(); }

  std::filesystem::path directory_;
  std::string config_;
};

TEST_F(DemoCommand, SmallModelPassesAndWritesReportsAndTrace) {
  const RunResult run = demo(
      {"--out", out_dir(), "--config", config_, "--prompt-tokens", "8", "--decode-steps", "3"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(
      run.out,
      AllOf(HasSubstr("2 layers, hidden 128, ffn 256, 4 query / 2 key-value heads of 32"),
            HasSubstr("prompt 8 tokens, 3 decode steps"), HasSubstr("generated tokens: "),
            HasSubstr("== Validation report"), HasSubstr("layers.1.attention.decode"),
            HasSubstr("lm_head.prefill"), HasSubstr("== Offline replay of"),
            HasSubstr("(device now against the captured outputs)"), HasSubstr("PASS: 44/44")));
  EXPECT_EQ(run.err, "");

  // 4 forward passes (prefill and 3 steps) of 1 + 2 * 4 + 2 calls each.
  const nlohmann::json report = nlohmann::json::parse(read_text(out_dir() + "/report.json"));
  EXPECT_EQ(report.at("format"), "ttt-validation-report");
  EXPECT_EQ(report.at("summary").at("calls"), 44);
  EXPECT_EQ(report.at("summary").at("failed"), 0);
  EXPECT_THAT(read_text(out_dir() + "/report.xml"),
              AllOf(HasSubstr("<testsuites"), HasSubstr("layers.0.ffn.decode")));

  const TraceReader trace = TraceReader::open(out_dir() + "/trace.h5");
  EXPECT_EQ(trace.sequence_numbers().size(), 44u);
  EXPECT_THAT(trace.header().meta_json, HasSubstr("ttt demo"));
  EXPECT_EQ(trace.call(trace.sequence_numbers().front()).name, "embedding.prefill");
  EXPECT_EQ(trace.call(trace.sequence_numbers().back()).name, "lm_head.decode");

  // `ttt replay` rebuilds every call through the block registry (against the reference re-run
  // and the captured outputs), without the model.
  const RunResult replay = ttt("replay", {out_dir() + "/trace.h5"});
  EXPECT_EQ(replay.exit_code, 0) << replay.out << replay.err;
  EXPECT_THAT(replay.out, HasSubstr("44 calls: 44 passed, 0 failed, 0 skipped"));
}

// The record of `name` in DIR/report.json.
nlohmann::json record_of(const nlohmann::json& report, const std::string& name) {
  for (const nlohmann::json& record : report.at("records")) {
    if (record.at("name") == name) return record;
  }
  ADD_FAILURE() << "no record " << name;
  return nlohmann::json::object();
}

TEST_F(DemoCommand, PresetsChangeTheRecordedConfigs) {
  RunResult run =
      demo({"--out", out_dir(), "--config", config_, "--prompt-tokens", "4", "--decode-steps", "1",
            "--preset", "accuracy", "--device", "N300", "--replay-against", "both"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, AllOf(HasSubstr("device N300, preset accuracy"),
                             HasSubstr("(device now against the reference run now and the captured "
                                       "outputs)")));
  nlohmann::json report = nlohmann::json::parse(read_text(out_dir() + "/report.json"));
  const nlohmann::json attention = record_of(report, "layers.1.attention.decode");
  EXPECT_EQ(attention.at("device"), "N300");
  EXPECT_EQ(attention.at("impl_config").at("qkv").at("weight_dtype"), "bfloat16");
  EXPECT_EQ(attention.at("impl_config").at("qkv").at("fidelity"), "HiFi4");

  // TTTv1's performance preset: FF1/FF3 weights in bfloat4_b with LoFi. Whether its FFN calls meet
  // the gated MLP's PCC floor is the blocks' business; the exit code must say what the report says.
  run = demo({"--out", out_dir(), "--config", config_, "--prompt-tokens", "4", "--decode-steps",
              "1", "--preset", "performance"});
  report = nlohmann::json::parse(read_text(out_dir() + "/report.json"));
  const nlohmann::json ffn = record_of(report, "layers.0.ffn.prefill").at("impl_config");
  EXPECT_EQ(ffn.at("ff1_ff3").at("weight_dtype"), "bfloat4_b") << ffn.dump();
  EXPECT_EQ(ffn.at("ff1_ff3").at("fidelity"), "LoFi");
  const bool all_passed = report.at("summary").at("failed") == 0;
  EXPECT_EQ(run.exit_code, all_passed ? 0 : 1) << run.out;
  EXPECT_EQ(run.out.find("\nFAIL: ") != std::string::npos, !all_passed) << run.out;
}

TEST_F(DemoCommand, BadInputExitsTwoWithOneClearLine) {
  RunResult run = demo({"--out", out_dir(), "--config", (directory_ / "nowhere.json").string()});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("nowhere.json: cannot read the file"));

  nlohmann::json config = cli_test::small_llama_config();
  config["num_key_value_heads"] = 3;
  std::ofstream(config_) << config.dump();
  run = demo({"--out", out_dir(), "--config", config_});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, AllOf(HasSubstr(config_), HasSubstr("field 'num_key_value_heads'")));

  std::ofstream(config_) << cli_test::small_llama_config().dump();
  run = demo(
      {"--out", out_dir(), "--config", config_, "--prompt-tokens", "60", "--decode-steps", "16"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("exceed max_position_embeddings 64"));

  EXPECT_EQ(demo({"--preset", "fast"}).exit_code, 2);
  EXPECT_EQ(demo({"--device", "N999"}).exit_code, 2);
  EXPECT_EQ(demo({"--prompt-tokens", "0"}).exit_code, 2);
  EXPECT_EQ(demo({"--decode-steps", "-1"}).exit_code, 2);
  EXPECT_EQ(demo({"--replay-against", "golden"}).exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(out_dir() + "/trace.h5"));
}

// The README's first command: the default model (Llama-3.2-1B's shapes, 2 layers), 32 prompt
// tokens and 16 decode steps.
TEST_F(DemoCommand, DefaultConfigurationPasses) {
  const RunResult run = demo({"--out", out_dir()});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(
      run.out,
      AllOf(HasSubstr("2 layers, hidden 2048, ffn 4096, 32 query / 8 key-value heads of 64, "
                      "rope theta 500000 (llama3), vocab 8192"),
            HasSubstr("prompt 32 tokens, 16 decode steps"), HasSubstr("PASS: 187/187")));
}

}  // namespace
}  // namespace ttt

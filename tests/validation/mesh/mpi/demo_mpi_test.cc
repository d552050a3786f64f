// `ttt demo --mesh T3K` in one process and under `mpirun -n 8` (one rank per device, the MPI
// transport) on a tiny Llama (8 heads, so that T3K divides them): the same tokens and the same
// report.json records (every metric, per-device metrics included; timings excluded), and the MPI
// run's trace replays; a launch with the wrong rank count fails on every rank, naming both counts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;

constexpr const char* kLauncher = TTT_MPIEXEC
    " " TTT_MPIEXEC_NUMPROC_FLAG " %d " TTT_MPIEXEC_PREFLAGS " --oversubscribe --allow-run-as-root";

// hidden 128, 8 query and 2 KV heads of 16, ffn 256, vocab 512: every size T3K divides.
constexpr const char* kConfig = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
  "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 512, "rms_norm_eps": 1e-5,
  "rope_theta": 500000.0, "max_position_embeddings": 64, "tie_word_embeddings": true})";

// run_shell runs in the test's working directory: every path is absolute.
std::string demo_command(const std::filesystem::path& directory, const std::string& out_dir) {
  return cli_test::shell_quote(TTT_CLI_PATH) + " demo --config " +
         cli_test::shell_quote((directory / "config.json").string()) + " --mesh T3K " +
         "--prompt-tokens 4 --decode-steps 2 --quiet --out-dir " +
         cli_test::shell_quote((directory / out_dir).string());
}

std::string launcher(int ranks) {
  char text[512];
  std::snprintf(text, sizeof text, kLauncher, ranks);
  return text;
}

// report.json's records without what differs from run to run (times).
nlohmann::json records_without_timings(const std::filesystem::path& report) {
  std::ifstream in(report);
  nlohmann::json json = nlohmann::json::parse(in);
  nlohmann::json records = json.at("records");
  for (nlohmann::json& record : records) {
    for (const char* key : {"device_ns", "reference_ns"}) record.erase(key);
  }
  return records;
}

std::string generated_tokens(const std::string& out) {
  const std::size_t at = out.find("generated tokens:");
  return at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
}

TEST(DemoMpiTest, EightRanksGiveTheInProcessTokensAndMetricsAndReplay) {
  const test_support::ScratchDir directory;
  std::ofstream(directory.path() / "config.json") << kConfig;

  const cli_test::RunResult in_process =
      cli_test::run_shell(directory.path(), demo_command(directory.path(), "in-process"));
  ASSERT_EQ(in_process.exit_code, 0) << in_process.out << in_process.err;
  const cli_test::RunResult mpi = cli_test::run_shell(
      directory.path(), launcher(8) + " " + demo_command(directory.path(), "mpi"));
  ASSERT_EQ(mpi.exit_code, 0) << mpi.out << mpi.err;

  // Rank 0 alone prints and writes.
  EXPECT_THAT(mpi.out, HasSubstr("mpi transport"));
  EXPECT_EQ(generated_tokens(mpi.out), generated_tokens(in_process.out));
  EXPECT_THAT(generated_tokens(mpi.out), HasSubstr("generated tokens: "));
  const nlohmann::json records = records_without_timings(directory.path() / "mpi/report.json");
  EXPECT_EQ(records, records_without_timings(directory.path() / "in-process/report.json"));
  // The sharded calls carry every device's metrics.
  bool per_device = false;
  for (const nlohmann::json& record : records) {
    if (record.value("name", "") == "layers.0.ffn.prefill") {
      per_device = record.at("outputs").at(0).at("devices").size() == 8;
    }
  }
  EXPECT_TRUE(per_device);

  const cli_test::RunResult replay = cli_test::run_shell(
      directory.path(), cli_test::shell_quote(TTT_CLI_PATH) + " replay " +
                            cli_test::shell_quote((directory.path() / "mpi/trace.h5").string()));
  EXPECT_EQ(replay.exit_code, 0) << replay.out << replay.err;
}

TEST(DemoMpiTest, WrongRankCountFailsOnEveryRankNamingBoth) {
  const test_support::ScratchDir directory;
  std::ofstream(directory.path() / "config.json") << kConfig;
  const cli_test::RunResult run = cli_test::run_shell(
      directory.path(), launcher(2) + " " + demo_command(directory.path(), "out"));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.err, HasSubstr("mesh T3K has 8 devices but the MPI launch has 2 ranks"));
  EXPECT_FALSE(std::filesystem::exists(directory.path() / "out/report.json"));
}

}  // namespace
}  // namespace ttt

// `ttt demo`, run as a subprocess: a small model end to end (report, files, trace, replay), the
// default configuration (the README's first command), the presets, and bad input (exit 2).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "tests/tools/small_llama.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::run_ttt;
using cli_test::RunResult;

using ::testing::AllOf;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class DemoCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = scratch_.file("config.json");
    std::ofstream(config_) << cli_test::small_llama_config().dump(2);
  }

  RunResult demo(const std::vector<std::string>& args) { return ttt("demo", args); }

  // Runs `ttt <subcommand> <args>`.
  RunResult ttt(const std::string& subcommand, std::vector<std::string> args) {
    args.insert(args.begin(), subcommand);
    return run_ttt(scratch_.path(), args);
  }

  std::string out_dir() const { return scratch_.file("out"); }

  test_support::ScratchDir scratch_;
  std::string config_;
};

TEST_F(DemoCommand, SmallModelPassesAndWritesReportsAndTrace) {
  const RunResult run = demo(
      {"--out-dir", out_dir(), "--config", config_, "--prompt-tokens", "8", "--decode-steps", "3"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(
      run.out,
      AllOf(HasSubstr("2 layers, hidden 128, ffn 256, 4 query / 2 key-value heads of 32"),
            HasSubstr("prompt 8 tokens, 3 decode steps"), HasSubstr("generated tokens: "),
            HasSubstr("== Validation report"), HasSubstr("layers.1.attention.decode"),
            HasSubstr("lm_head.prefill"), HasSubstr("== Offline replay of"),
            HasSubstr("(device now against the captured outputs)"), HasSubstr("PASS: 44/44")));
  // Standard error is not a terminal here: one progress line per step, 4 forward passes and 44
  // replayed calls.
  EXPECT_THAT(run.err, StartsWith("[model run 1/4] prefill of 8 tokens\n"
                                  "[model run 2/4] decode step 1\n"
                                  "[model run 3/4] decode step 2\n"
                                  "[model run 4/4] decode step 3\n"
                                  "[replay 1/44] embedding.prefill\n"
                                  "[replay 2/44] layers.0.attention_norm.prefill\n"));
  EXPECT_THAT(run.err, EndsWith("[replay 44/44] lm_head.decode\n"));
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 48);

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
  RunResult run = demo({"--out-dir", out_dir(), "--config", config_, "--prompt-tokens", "4",
                        "--decode-steps", "1", "--preset", "accuracy", "--device", "N300",
                        "--replay-against", "both", "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(run.err, "") << "--quiet: no progress lines";
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
  run = demo({"--out-dir", out_dir(), "--config", config_, "--prompt-tokens", "4", "--decode-steps",
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
  RunResult run = demo({"--out-dir", out_dir(), "--config", scratch_.file("nowhere.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("nowhere.json: cannot open the file (No such file or directory)"));

  nlohmann::json config = cli_test::small_llama_config();
  config["num_key_value_heads"] = 3;
  std::ofstream(config_) << config.dump();
  run = demo({"--out-dir", out_dir(), "--config", config_});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, AllOf(HasSubstr(config_), HasSubstr(": /num_key_value_heads: 3 does not divide num_attention_heads 4")));

  std::ofstream(config_) << cli_test::small_llama_config().dump();
  run = demo({"--out-dir", out_dir(), "--config", config_, "--prompt-tokens", "60",
              "--decode-steps", "16"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("exceed max_position_embeddings 64"));

  EXPECT_EQ(demo({"--preset", "fast"}).exit_code, 2);
  EXPECT_EQ(demo({"--device", "N999"}).exit_code, 2);
  EXPECT_EQ(demo({"--prompt-tokens", "0"}).exit_code, 2);
  EXPECT_EQ(demo({"--decode-steps", "-1"}).exit_code, 2);
  EXPECT_EQ(demo({"--replay-against", "golden"}).exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(out_dir() + "/trace.h5"));
}

// An output directory is `--out-dir` (docs/cli.md); the old `--out` is rejected, not aliased.
TEST_F(DemoCommand, TheOutputDirectoryIsOutDir) {
  const RunResult old_flag = demo({"--out", out_dir()});
  EXPECT_EQ(old_flag.exit_code, 2);
  EXPECT_THAT(old_flag.err, AllOf(StartsWith("ttt: error: "), HasSubstr("--out")));
  EXPECT_FALSE(std::filesystem::exists(out_dir()));

  const RunResult help = demo({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, AllOf(HasSubstr("--out-dir"), HasSubstr("Examples:\n"),
                              HasSubstr("  ttt demo --out-dir build/default/demo\n")));
}

// A `ttt ARGS...` running in the background, its standard error on a pipe the test reads.
class BackgroundTtt {
 public:
  explicit BackgroundTtt(std::vector<std::string> args) {
    args.insert(args.begin(), TTT_CLI_PATH);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int pipe_ends[2];
    EXPECT_EQ(::pipe(pipe_ends), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, STDOUT_FILENO);
      ::dup2(pipe_ends[1], STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(pipe_ends[1]);
    err_ = pipe_ends[0];
  }
  ~BackgroundTtt() {
    ::close(err_);
    if (!waited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  // The next line of its standard error, without the newline ("" at the end).
  std::string read_line() {
    std::string line;
    char c = 0;
    while (::read(err_, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }

  // The rest of its standard error, up to its end.
  std::string read_rest() {
    std::string rest;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(err_, buffer, sizeof buffer)) > 0) rest.append(buffer, n);
    return rest;
  }

  // Reads its standard error to the end and returns its exit code (-1: killed).
  int wait() {
    read_rest();
    int status = 0;
    ::waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  bool waited_ = false;
};

TEST_F(DemoCommand, ASecondDemoOnTheSameDirectoryFailsAtOnceNamingTheFirst) {
  BackgroundTtt first({"demo", "--out-dir", out_dir(), "--config", config_, "--prompt-tokens", "8",
                       "--decode-steps", "3"});
  // Its first progress line: it holds the directory and is capturing. Stopped there, it is
  // certain to still hold the directory while the second runs.
  ASSERT_EQ(first.read_line(), "[model run 1/4] prefill of 8 tokens");
  ::kill(first.pid(), SIGSTOP);
  const RunResult second = demo({"--out-dir", out_dir(), "--config", config_});
  ::kill(first.pid(), SIGCONT);
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_EQ(second.err, "ttt: error: [demo] the output directory " + out_dir() +
                            " is in use by another ttt demo (process " +
                            std::to_string(first.pid()) + " holds " + out_dir() +
                            "/.ttt-demo.lock); wait for it to finish or choose another output "
                            "directory\n");
  EXPECT_EQ(second.out, "") << "it fails before it starts";
  // The first finishes undisturbed, with its whole trace.
  EXPECT_EQ(first.wait(), 0);
  EXPECT_EQ(TraceReader::open(out_dir() + "/trace.h5").sequence_numbers().size(), 44u);
  // Once it has ended, the directory is free again.
  EXPECT_EQ(demo({"--out-dir", out_dir(), "--config", config_, "--prompt-tokens", "2",
                  "--decode-steps", "0", "--quiet"})
                .exit_code,
            0);
}

// The two ways of losing a live capture: `ttt trace recover` while the demo captures is
// refused, and a trace deleted while the model runs fails the demo naming the file (it used to
// exit 0 with part of the calls on disk).
TEST_F(DemoCommand, ATraceTakenAwayDuringTheRunFailsItLoudly) {
  BackgroundTtt demo_run({"demo", "--out-dir", out_dir(), "--config", config_, "--prompt-tokens",
                          "8", "--decode-steps", "3"});
  ASSERT_EQ(demo_run.read_line(), "[model run 1/4] prefill of 8 tokens");
  ::kill(demo_run.pid(), SIGSTOP);
  const std::string trace = out_dir() + "/trace.h5";
  const RunResult recover = ttt("trace", {"recover", trace});
  EXPECT_EQ(recover.exit_code, 2);
  EXPECT_THAT(recover.err,
              HasSubstr("(process " + std::to_string(demo_run.pid()) + ") is still running"));
  ASSERT_TRUE(std::filesystem::remove(trace));
  ::kill(demo_run.pid(), SIGCONT);
  const std::string err = demo_run.read_rest();
  EXPECT_EQ(demo_run.wait(), 2) << err;
  EXPECT_THAT(err, EndsWith("ttt: error: " + trace +
                            ": the trace was deleted (or moved away) while this process was "
                            "writing it\n"));
}

// A disk that fills during the capture (a file-size limit stands in for it: writes past it fail
// with EFBIG as they would with ENOSPC). HDF5 1.10 used to crash at exit after the failed close
// (exit 139); now the error is the last word and the exit code 2, and the journal stays for
// `ttt trace recover` once there is room again.
TEST_F(DemoCommand, ADiskThatFillsDuringCaptureFailsWithTheErrorNotACrash) {
  const std::string limited =
      "trap '' XFSZ; ulimit -f 1000; " +
      cli_test::ttt_command({"demo", "--out-dir", out_dir(), "--config", config_, "--prompt-tokens",
                             "4", "--decode-steps", "1"});
  const RunResult run = cli_test::run_shell(scratch_.path(), limited);
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("ttt: error: " + out_dir() + "/trace.h5:"));
  EXPECT_THAT(run.err, EndsWith(": File too large\n"));
  EXPECT_TRUE(std::filesystem::exists(out_dir() + "/trace.h5.journal"));
}

// The README's first command: the default model (Llama-3.2-1B's shapes, 2 layers), 32 prompt
// tokens and 16 decode steps.
TEST_F(DemoCommand, DefaultConfigurationPasses) {
  const RunResult run = demo({"--out-dir", out_dir()});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(
      run.out,
      AllOf(HasSubstr("2 layers, hidden 2048, ffn 4096, 32 query / 8 key-value heads of 64, "
                      "rope theta 500000 (llama3), vocab 8192"),
            HasSubstr("prompt 32 tokens, 16 decode steps"), HasSubstr("PASS: 187/187")));
}

}  // namespace
}  // namespace ttt

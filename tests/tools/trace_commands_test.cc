// `ttt inspect`, `ttt replay` and `ttt trace recover`, run as subprocesses: exit codes, text and
// JSON/JUnit output, and bad input (exit 2, one line naming the file and the path inside it).
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
#include "validation/tensor/random.h"
#include "validation/trace/capture.h"
#include "validation/trace/recover.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::run_ttt;
using cli_test::RunResult;

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kInterop = std::string(TTT_TEST_DATA_DIR) + "/interop_trace.h5";

// A ttt.scale call whose captured device output is x * scale rounded to bfloat16, or its negation
// when `changed` (an implementation that has changed since: pcc -1).
CapturedCall scale_call(const std::string& name, std::uint64_t seed, float scale, bool changed) {
  CapturedCall call;
  call.name = name;
  call.block = "ttt.scale";
  call.scalars_json = "{\"scale\": " + std::to_string(scale) + "}";
  call.impl_config_json = R"({"output_dtype": "bfloat16"})";
  const Tensor x = random_normal({4, 16}, seed);
  std::vector<float> y(x.floats().begin(), x.floats().end());
  for (float& value : y) value = value * scale;
  const Tensor device = Tensor::from_floats({4, 16}, y, DType::bfloat16);
  std::vector<float> drifted(device.floats().begin(), device.floats().end());
  for (float& value : drifted) value = changed ? -value : value;
  call.inputs = {{"x", x}};
  call.outputs = {{"y", Tensor::from_floats({4, 16}, drifted)}};
  return call;
}

class TraceCommands : public ::testing::Test {
 protected:
  RunResult ttt(const std::vector<std::string>& args) { return run_ttt(scratch_.path(), args); }

  std::string path(const std::string& name) const { return scratch_.file(name); }

  // A trace of four ttt.scale calls; those with index in `drifted` were captured from an
  // implementation that has changed since (their device output is negated).
  std::string trace(const std::vector<int>& drifted = {}) {
    const std::string file = path("t.h5");
    TraceSession session(file);
    for (int i = 0; i < 4; ++i) {
      const bool drift = std::find(drifted.begin(), drifted.end(), i) != drifted.end();
      session.capture(scale_call("layers." + std::to_string(i) + ".scale", i, 1.5f, drift));
    }
    return file;
  }

  test_support::ScratchDir scratch_;
};

TEST_F(TraceCommands, InspectSummaryTextAndJson) {
  const RunResult text = ttt({"inspect", kInterop});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr(kInterop + ": ttt-trace v1, tools/make_interop_trace.py"));
  EXPECT_THAT(text.out, HasSubstr("5 calls, 5 names, 1 shared tensors"));
  EXPECT_THAT(text.out, HasSubstr("verdicts: pass 3 unchecked 2"));
  EXPECT_THAT(text.out, HasSubstr("/tensors/x_shared [2, 4] float32, 32 B, used by 1 call"));
  const RunResult json = ttt({"inspect", kInterop, "--json", "-"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json summary = nlohmann::json::parse(json.out);
  EXPECT_EQ(summary.at("calls"), 5);
  EXPECT_EQ(summary.at("blocks").at("ttt.scale"), 4);
  EXPECT_EQ(summary.at("names").at(3).at("name"), "model.embedding");
}

TEST_F(TraceCommands, InspectOneCall) {
  const RunResult text = ttt({"inspect", kInterop, "--call", "0"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("call 0 (/calls/000000): model.scale.000000"));
  EXPECT_THAT(text.out, HasSubstr("  block        ttt.scale"));
  // x = [[1, -2.5, 3.25], [0, 4, -0.125]] in tools/make_interop_trace.py.
  EXPECT_THAT(text.out, HasSubstr("min -2.5"));
  EXPECT_THAT(text.out, HasSubstr("max 4"));
  const RunResult json = ttt({"inspect", kInterop, "--call", "0", "--json", "-"});
  const nlohmann::json call = nlohmann::json::parse(json.out);
  EXPECT_EQ(call.at("inputs").at(0).at("min"), -2.5);
  EXPECT_EQ(call.at("inputs").at(0).at("max"), 4.0);
  EXPECT_DOUBLE_EQ(call.at("inputs").at(0).at("mean").get<double>(), 5.625 / 6.0);
  const RunResult missing = ttt({"inspect", kInterop, "--call", "9"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err,
            "ttt: error: " + kInterop + ":/calls/000009: no such call (the trace has 5 calls)\n");
}

TEST_F(TraceCommands, ReplayPassesAndSkips) {
  const RunResult result = ttt({"replay", kInterop});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("skipped 1 call: the call names no block kind\n"));
  EXPECT_THAT(result.out, HasSubstr(kInterop + ": 5 calls: 4 passed, 0 failed, 1 skipped\n"));
  // Standard error is a pipe here, not a terminal: one progress line per replayed call (the
  // trace holds 5, the skipped one included), in capture order.
  EXPECT_EQ(result.err,
            "[replay 1/5] model.scale.000000\n"
            "[replay 2/5] model.scale.000001\n"
            "[replay 3/5] model.scale.000002\n"
            "[replay 4/5] model.embedding\n"
            "[replay 5/5] model.scale.000004\n");
  const RunResult quiet = ttt({"replay", kInterop, "--quiet"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(quiet.out, result.out);
  const RunResult strict = ttt({"replay", kInterop, "--strict"});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_THAT(strict.out, HasSubstr("FAIL 3 model.embedding (no block): the call names no block"));
}

TEST_F(TraceCommands, ReplayNamesTheFirstFailingCallAndWritesReports) {
  const std::string file = trace({2, 3});
  const std::string json_path = path("report.json");
  const std::string junit_path = path("report.xml");
  const RunResult result = ttt({"replay", file, "--json", json_path, "--junit", junit_path});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("FAIL 2 layers.2.scale (ttt.scale): captured_device y: "));
  EXPECT_THAT(result.out, HasSubstr("first failing call: 2 layers.2.scale (/calls/000002): "
                                    "captured_device y:"));
  const nlohmann::json report = nlohmann::json::parse(read_text(json_path));
  EXPECT_EQ(report.at("summary").at("total"), 4);
  EXPECT_EQ(report.at("summary").at("passed"), 2);
  EXPECT_EQ(report.at("summary").at("failed"), 2);
  EXPECT_EQ(report.at("summary").at("skipped"), 0);
  EXPECT_EQ(report.at("summary").at("first_failure").at("seq"), 2);
  EXPECT_EQ(report.at("calls").at(2).at("status"), "fail");
  EXPECT_EQ(report.at("calls").at(2).at("comparisons").at(1).at("against"), "captured_device");
  EXPECT_THAT(read_text(junit_path), HasSubstr("<testcase classname=\"ttt_scale\" name=\"2 "
                                               "layers.2.scale\" time=\""));

  // --against reference ignores the captured outputs: accuracy alone passes.
  EXPECT_EQ(ttt({"replay", file, "--against", "reference"}).exit_code, 0);
  // --filter selects calls; --fail-fast stops at the first failure.
  EXPECT_EQ(ttt({"replay", file, "--filter", "layers.[01].*"}).exit_code, 0);
  const RunResult fast = ttt({"replay", file, "--fail-fast", "--json", "-"});
  EXPECT_EQ(fast.exit_code, 1);
  // Progress counts the selected calls; the replay stopped after the third (the first failure).
  EXPECT_EQ(fast.err,
            "[replay 1/4] layers.0.scale\n"
            "[replay 2/4] layers.1.scale\n"
            "[replay 3/4] layers.2.scale\n");
  const nlohmann::json stopped = nlohmann::json::parse(fast.out);
  EXPECT_EQ(stopped.at("summary").at("not_run"), 1);
  EXPECT_EQ(stopped.at("calls").size(), 3u);
  // A threshold flag replaces the block's: no bfloat16 output is within 1e-9 of the reference.
  const RunResult tight = ttt({"replay", file, "--filter", "layers.0.*", "--max-abs", "1e-9"});
  EXPECT_EQ(tight.exit_code, 1);
  EXPECT_THAT(tight.out, HasSubstr("reference_now y: max_abs_error"));
}

TEST_F(TraceCommands, ReplayBadInputExitsTwoWithOneLine) {
  const std::string text_file = path("notes.txt");
  std::ofstream(text_file) << "not hdf5";
  RunResult result = ttt({"replay", text_file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err,
            "ttt: error: " + text_file + ": not an HDF5 file (no HDF5 signature found)\n");
  result = ttt({"replay", trace(), "--filter", "nothing.*"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("nothing to replay: no call matches --filter 'nothing.*'"));
  result = ttt({"replay", kInterop, "--against", "everything"});
  EXPECT_EQ(result.exit_code, 2);
  result = ttt({"inspect", path("absent.h5")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "ttt: error: " + path("absent.h5") +
                            ": cannot open the file: No such file or directory\n");
}

TEST_F(TraceCommands, RecoverAKilledCapture) {
  const std::string file = path("killed.h5");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    TraceSession session(file);
    for (int i = 0;; ++i) {
      session.capture(scale_call("layers." + std::to_string(i), i, 1.0f, false));
      if (i == 2) {
        const char byte = 1;
        if (write(ready[1], &byte, 1) != 1) _exit(3);
      }
    }
  }
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);  // Three calls are complete.
  // While the capture runs, recovery refuses (it would replace the file under the writer) and
  // touches nothing.
  RunResult result = ttt({"trace", "recover", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "ttt: error: " + trace_journal_path(file) +
                            ": the capture journal is locked: the capture writing this trace "
                            "(process " +
                            std::to_string(child) +
                            ") is still running, or a recovery of it is in progress; wait until "
                            "it has finished (recover only a capture whose process has ended)\n");
  EXPECT_TRUE(std::filesystem::exists(trace_journal_path(file)));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  // A disk too full for the recovered trace (a file-size limit stands in for it): the error names
  // the output, which is removed; the trace and its journal stay for a later attempt.
  result =
      cli_test::run_shell(scratch_.path(), "trap '' XFSZ; ulimit -f 1; " +
                                               cli_test::ttt_command({"trace", "recover", file}));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, StartsWith("ttt: error: " + file + ".recovering"));
  EXPECT_THAT(result.err, HasSubstr("File too large"));
  EXPECT_FALSE(std::filesystem::exists(file + ".recovering"));
  EXPECT_TRUE(std::filesystem::exists(trace_journal_path(file)));

  result = ttt({"inspect", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("run `ttt trace recover " + file + "`"));
  result = ttt({"trace", "recover", file, "-o", path("fixed.h5")});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith(path("fixed.h5") + ": recovered "));
  EXPECT_TRUE(std::filesystem::exists(trace_journal_path(file)));
  result = ttt({"trace", "recover", file});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_FALSE(std::filesystem::exists(trace_journal_path(file)));
  result = ttt({"replay", file, "--filter", "layers.[012]"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr(": 3 calls: 3 passed, 0 failed, 0 skipped"));
  result = ttt({"trace", "recover", file});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("nothing to recover"));
}

}  // namespace
}  // namespace ttt

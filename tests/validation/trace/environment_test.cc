// TTT_TRACE=path.h5 turns capture on for a whole process; TTT_TRACE_* variables set its options.
// Each case runs in a child process: the environment is consulted once per process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>

#include "tests/validation/trace/trace_test_util.h"
#include "validation/trace/capture.h"
#include "validation/trace/recover.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using testing::scale_call;

// Runs `body` in a child process that exits normally with its return value; returns it.
int in_child(const std::function<int()>& body) {
  const pid_t child = fork();
  if (child == 0) std::exit(body());
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(TraceEnvironment, TttTraceCapturesAndClosesAtExit) {
  test_support::ScratchDir dir;
  const std::string path = dir.file("env.h5");
  const int code = in_child([&] {
    setenv("TTT_TRACE", path.c_str(), 1);
    setenv("TTT_TRACE_FILTER", "keep.*", 1);
    setenv("TTT_TRACE_MAX_CALLS_PER_NAME", "2", 1);
    setenv("TTT_TRACE_REFERENCE", "0", 1);
    TraceSession* session = active_trace_session();
    if (session == nullptr || active_trace_session() != session) return 10;
    if (session->capture_reference_outputs()) return 11;
    for (int i = 0; i < 3; ++i) {
      session->capture(scale_call("keep.a", i, {2}, 1.0f));
      session->capture(scale_call("drop.b", i, {2}, 1.0f));
    }
    return 0;  // Exit without closing: the process-wide session closes at exit.
  });
  ASSERT_EQ(code, 0);
  EXPECT_FALSE(std::filesystem::exists(trace_journal_path(path)));
  const TraceReader trace = TraceReader::open(path);
  EXPECT_THAT(trace.sequence_numbers(), ElementsAre(0, 1));
  EXPECT_EQ(trace.call(1).name, "keep.a");
  EXPECT_TRUE(trace.call(1).reference_outputs.empty());
}

TEST(TraceEnvironment, CompressionFromTheEnvironment) {
  test_support::ScratchDir dir;
  const std::string path = dir.file("env.h5");
  ASSERT_EQ(in_child([&] {
              setenv("TTT_TRACE", path.c_str(), 1);
              setenv("TTT_TRACE_COMPRESSION", "4", 1);
              active_trace_session()->capture(scale_call("a", 1, {64, 64}, 1.0f, DType::bfloat4_b));
              return 0;
            }),
            0);
  const TraceReader trace = TraceReader::open(path);
  EXPECT_LT(trace.call(0).outputs[0].stored_bytes, 64 * 64 * 4 / 2);
}

TEST(TraceEnvironment, UnsetOrInvalidMeansNoCapture) {
  EXPECT_EQ(in_child([] {
              unsetenv("TTT_TRACE");
              return active_trace_session() == nullptr ? 0 : 1;
            }),
            0);
  test_support::ScratchDir dir;
  const std::string path = dir.file("env.h5");
  EXPECT_EQ(in_child([&] {
              setenv("TTT_TRACE", path.c_str(), 1);
              setenv("TTT_TRACE_COMPRESSION", "12", 1);
              return active_trace_session() == nullptr ? 0 : 1;
            }),
            0);
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace ttt

// A capture's hold on its files: recovery refuses while the capturing process lives (its session
// locks the journal) and works once it was killed; a session whose trace or journal was deleted or
// replaced under it fails loudly, naming the file, instead of writing into a file nobody sees.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/validation/trace/trace_test_util.h"
#include "validation/trace/capture.h"
#include "validation/trace/recover.h"
#include "validation/trace/trace_error.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using test_support::ScratchDir;
using ::testing::HasSubstr;
using testing::scale_call;

// The message of the TraceError `action` throws ("" when it throws nothing).
template <typename Action>
std::string trace_error_of(Action action) {
  try {
    action();
  } catch (const TraceError& error) {
    return error.what();
  }
  return "";
}

// A child process that captures two calls to `path`, says so on a pipe, then waits (for the kill)
// with its session open.
struct CapturingChild {
  pid_t pid = -1;

  explicit CapturingChild(const std::string& path) {
    int ready[2];
    EXPECT_EQ(::pipe(ready), 0);
    pid = ::fork();
    if (pid == 0) {
      ::close(ready[0]);
      TraceSession session(path);
      session.capture(scale_call("layers.0.scale", 1, {4, 8}, 2.0f));
      session.capture(scale_call("layers.1.scale", 2, {4, 8}, 3.0f));
      const char done = session.calls_written() == 2 ? 'y' : 'n';
      if (::write(ready[1], &done, 1) != 1) ::_exit(4);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    char done = 0;
    EXPECT_EQ(::read(ready[0], &done, 1), 1);
    EXPECT_EQ(done, 'y');
    ::close(ready[0]);
  }

  void kill() {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status));
    pid = -1;
  }

  ~CapturingChild() {
    if (pid > 0) kill();
  }
};

ino_t inode_of(const std::string& path) {
  struct stat status {};
  EXPECT_EQ(::stat(path.c_str(), &status), 0) << path;
  return status.st_ino;
}

TEST(SessionLock, RecoveryRefusesWhileTheCapturingProcessLivesAndWorksAfterItIsKilled) {
  ScratchDir dir;
  const std::string path = dir.file("live.h5");
  const std::string journal = trace_journal_path(path);
  CapturingChild child(path);
  const ino_t trace_inode = inode_of(path);
  const auto journal_bytes = std::filesystem::file_size(journal);

  const std::string refused = trace_error_of([&] { recover_trace(path); });
  EXPECT_THAT(refused, HasSubstr(journal + ": the capture journal is locked"));
  EXPECT_THAT(refused, HasSubstr("(process " + std::to_string(child.pid) + ") is still running"));
  // Nothing was touched: the same trace file, the whole journal, no partial output.
  EXPECT_EQ(inode_of(path), trace_inode);
  EXPECT_EQ(std::filesystem::file_size(journal), journal_bytes);
  EXPECT_FALSE(std::filesystem::exists(path + ".recovering"));
  // Nor to another path, and a second capture of the same trace is refused the same way.
  EXPECT_THAT(trace_error_of([&] { recover_trace(path, dir.file("copy.h5")); }),
              HasSubstr("is still running"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("copy.h5")));
  EXPECT_THAT(trace_error_of([&] { TraceSession second(path); }),
              HasSubstr("(process " + std::to_string(child.pid) + ") is still running"));

  child.kill();  // The kernel releases the lock with the process.
  const RecoveryReport report = recover_trace(path);
  EXPECT_EQ(report.calls, 2);
  EXPECT_FALSE(std::filesystem::exists(journal));
  EXPECT_EQ(TraceReader::open(path).sequence_numbers(), (std::vector<std::int64_t>{0, 1}));
}

TEST(SessionLock, ASessionWhoseTraceWasDeletedFailsNamingIt) {
  ScratchDir dir;
  const std::string path = dir.file("deleted.h5");
  TraceSession session(path);
  session.capture(scale_call("layers.0.scale", 1, {4, 8}, 2.0f));
  ASSERT_EQ(::unlink(path.c_str()), 0);
  session.capture(scale_call("layers.1.scale", 2, {4, 8}, 3.0f));
  EXPECT_EQ(session.calls_written(), 1);
  EXPECT_EQ(session.calls_dropped(), 1);
  ASSERT_TRUE(session.error().has_value());
  EXPECT_THAT(*session.error(),
              HasSubstr(path + ": the trace was deleted (or moved away) while this process was "
                               "writing it"));
  EXPECT_EQ(trace_error_of([&] { session.close(); }),
            path + ": the trace was deleted (or moved away) while this process was writing it");
  // Its journal described the deleted file: it is gone too, so the path can be captured again.
  EXPECT_FALSE(std::filesystem::exists(trace_journal_path(path)));
  EXPECT_EQ(trace_error_of([&] { TraceSession again(path); }), "");
}

TEST(SessionLock, ATraceReplacedAfterTheLastCallFailsTheClose) {
  ScratchDir dir;
  const std::string path = dir.file("replaced.h5");
  TraceSession session(path);
  session.capture(scale_call("layers.0.scale", 1, {4, 8}, 2.0f));
  { std::ofstream(dir.file("other.h5")) << "another file"; }
  ASSERT_EQ(std::rename(dir.file("other.h5").c_str(), path.c_str()), 0);
  EXPECT_EQ(trace_error_of([&] { session.close(); }),
            path + ": the trace was replaced by another file while this process was writing it");
  EXPECT_EQ(session.error(), path +
                                 ": the trace was replaced by another file while this process "
                                 "was writing it");
}

TEST(SessionLock, ASessionWhoseJournalWasDeletedFailsNamingItAndKeepsTheTrace) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  const std::string journal = trace_journal_path(path);
  TraceSession session(path);
  session.capture(scale_call("layers.0.scale", 1, {4, 8}, 2.0f));
  ASSERT_EQ(::unlink(journal.c_str()), 0);
  session.capture(scale_call("layers.1.scale", 2, {4, 8}, 3.0f));
  EXPECT_EQ(session.calls_written(), 1);
  EXPECT_EQ(trace_error_of([&] { session.close(); }),
            journal +
                ": the capture journal was deleted (or moved away) while this process was "
                "writing it");
  // The trace itself was closed properly and holds the call written before.
  EXPECT_EQ(TraceReader::open(path).sequence_numbers(), (std::vector<std::int64_t>{0}));
}

}  // namespace
}  // namespace ttt

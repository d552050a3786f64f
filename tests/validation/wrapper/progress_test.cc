// ProgressReporter: one line per step off a terminal, one live line on a terminal, and
// stderr_progress() choosing between them by whether standard error is a terminal (a
// pseudo-terminal stands in for one).
#include "validation/wrapper/progress.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

namespace ttt {
namespace {

TEST(ProgressReporter, OffATerminalPrintsOneLinePerStep) {
  std::ostringstream out;
  ProgressReporter progress(out, /*live=*/false);
  progress.step("replay", 1, 3, "layers.0.attention.prefill");
  progress.step("replay", 2, 3, "layers.0.mlp");
  progress.step("replay", 3, 3, "lm_head");
  EXPECT_EQ(out.str(),
            "[replay 1/3] layers.0.attention.prefill\n"
            "[replay 2/3] layers.0.mlp\n"
            "[replay 3/3] lm_head\n");
}

TEST(ProgressReporter, OnATerminalRewritesOneLineAndEndsItAfterTheLastStep) {
  std::ostringstream out;
  ProgressReporter progress(out, /*live=*/true);
  progress.step("model run", 1, 2, "prefill of 32 tokens");
  progress.step("model run", 2, 2, "decode step 1");
  EXPECT_EQ(out.str(),
            "\r[model run 1/2] prefill of 32 tokens\x1b[K"
            "\r[model run 2/2] decode step 1\x1b[K\n");
}

// A replay stopped by --fail-fast (or an error) never reaches its last step: the live line is
// ended when the reporter goes, so that the next output does not continue it.
TEST(ProgressReporter, AnUnfinishedLiveLineIsEndedByTheDestructor) {
  std::ostringstream out;
  {
    ProgressReporter progress(out, /*live=*/true);
    progress.step("replay", 1, 3, "layers.0.mlp");
    EXPECT_EQ(out.str(), "\r[replay 1/3] layers.0.mlp\x1b[K");
  }
  EXPECT_EQ(out.str(), "\r[replay 1/3] layers.0.mlp\x1b[K\n");

  std::ostringstream finished;
  {
    ProgressReporter progress(finished, /*live=*/true);
    progress.step("replay", 1, 1, "lm_head");
  }
  EXPECT_EQ(finished.str(), "\r[replay 1/1] lm_head\x1b[K\n") << "ended once, not twice";

  std::ostringstream log;
  {
    ProgressReporter progress(log, /*live=*/false);
    progress.step("replay", 1, 3, "layers.0.mlp");
  }
  EXPECT_EQ(log.str(), "[replay 1/3] layers.0.mlp\n");
}

// Reads what is available on `fd` within a second.
std::string read_available(int fd) {
  std::string text;
  pollfd poll_fd{fd, POLLIN, 0};
  char buffer[256];
  while (::poll(&poll_fd, 1, 1000) > 0) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.find('\n') != std::string::npos) break;
  }
  return text;
}

TEST(ProgressReporter, StandardErrorOnAPseudoTerminalGetsTheLiveLine) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const int terminal = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  ASSERT_GE(terminal, 0);
  const int saved_stderr = ::dup(STDERR_FILENO);
  ASSERT_EQ(::dup2(terminal, STDERR_FILENO), STDERR_FILENO);
  stderr_progress().step("suite", 1, 1, "rms_norm");
  ::dup2(saved_stderr, STDERR_FILENO);
  ::close(saved_stderr);
  ::close(terminal);
  // The terminal turns "\n" into "\r\n" (onlcr).
  EXPECT_EQ(read_available(master), "\r[suite 1/1] rms_norm\x1b[K\r\n");
  ::close(master);
}

}  // namespace
}  // namespace ttt

// Crash safety: a capturing child process is killed with SIGKILL at seeded pseudo-random moments;
// every call it reported complete must then be readable and replay after recovery.
//
// The kill moment varies (a seeded delay after a seeded number of reported calls), so kills land
// inside HDF5 writes, flushes and journal appends alike; what is asserted holds wherever the kill
// lands, so the test cannot be flaky: the child reports a call only after capture() returned.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <random>
#include <thread>

#include "tests/validation/trace/trace_test_util.h"
#include "validation/tensor/random.h"
#include "validation/trace/capture.h"
#include "validation/trace/recover.h"
#include "validation/trace/replay.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using test_support::ScratchDir;
using testing::scale_call;

constexpr int kIterations = 8;

// The weight every call of the child passes (registered as a shared tensor).
Tensor shared_weight() { return random_normal({32, 32}, 77, 0.0, 1.0, DType::bfloat16); }

// Call `index` of the child: sizes vary so kills land in small and large writes; every fifth
// call's tensors (128 KiB) are large enough that capture allocates their file range before
// writing (internal/raw_file.h), so kills land between an allocation and its write too.
CapturedCall child_call(std::int64_t index, const Tensor& weight) {
  const std::int64_t rows = index % 5 == 4 ? 128 : 1 + (index * 7) % 48;
  CapturedCall call = scale_call("layers." + std::to_string(index % 4) + ".scale",
                                 static_cast<std::uint64_t>(index), {rows, 256},
                                 0.5f + static_cast<float>(index % 3));
  call.inputs.push_back({"weight", weight});
  return call;
}

// The child: captures calls until it is killed, writing each completed call's index to `out`.
[[noreturn]] void run_child(const std::string& path, int compression, int out) {
  TraceOptions options;
  options.compression_level = compression;
  options.chunk_bytes = 8192;
  TraceSession session(path, options);
  const Tensor weight = shared_weight();
  session.register_shared_tensor("weight", weight);
  for (std::int64_t index = 0;; ++index) {
    session.capture(child_call(index, weight));
    if (session.calls_written() != index + 1) _exit(3);
    if (write(out, &index, sizeof index) != sizeof index) _exit(4);
  }
}

struct KillResult {
  std::int64_t reported = 0;  // Calls the child reported complete.
  int status = 0;
};

KillResult capture_and_kill(const std::string& path, int compression, std::mt19937_64& random) {
  int pipe_ends[2];
  EXPECT_EQ(pipe(pipe_ends), 0);
  const pid_t child = fork();
  if (child == 0) {
    close(pipe_ends[0]);
    run_child(path, compression, pipe_ends[1]);
  }
  close(pipe_ends[1]);
  KillResult result;
  const std::int64_t wait_for = 1 + static_cast<std::int64_t>(random() % 6);
  const auto delay = std::chrono::microseconds(random() % 4000);
  std::int64_t index = -1;
  while (result.reported < wait_for && read(pipe_ends[0], &index, sizeof index) == sizeof index) {
    EXPECT_EQ(index, result.reported);
    ++result.reported;
  }
  std::this_thread::sleep_for(delay);
  kill(child, SIGKILL);
  waitpid(child, &result.status, 0);
  while (read(pipe_ends[0], &index, sizeof index) == sizeof index) {
    EXPECT_EQ(index, result.reported);
    ++result.reported;
  }
  close(pipe_ends[0]);
  return result;
}

TEST(CrashSafety, EveryReportedCallSurvivesSigkillAndReplays) {
  std::mt19937_64 random(20240611);
  const Tensor weight = shared_weight();
  std::int64_t total_reported = 0;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    SCOPED_TRACE("iteration " + std::to_string(iteration));
    ScratchDir dir;
    const std::string path = dir.file("killed.h5");
    const int compression = iteration % 2 == 0 ? 0 : 1;
    const KillResult killed = capture_and_kill(path, compression, random);
    ASSERT_TRUE(WIFSIGNALED(killed.status))
        << "the child must die by the kill, not exit " << WEXITSTATUS(killed.status);
    ASSERT_EQ(WTERMSIG(killed.status), SIGKILL);
    ASSERT_GE(killed.reported, 1);
    total_reported += killed.reported;

    ASSERT_TRUE(std::filesystem::exists(trace_journal_path(path)));
    const RecoveryReport recovered = recover_trace(path);
    EXPECT_FALSE(std::filesystem::exists(trace_journal_path(path)));
    EXPECT_GE(recovered.calls, killed.reported);
    EXPECT_EQ(recovered.shared_tensors, 1);

    const TraceReader reader = TraceReader::open(path);
    const std::vector<std::int64_t>& sequence = reader.sequence_numbers();
    ASSERT_GE(static_cast<std::int64_t>(sequence.size()), killed.reported);
    ASSERT_EQ(static_cast<std::int64_t>(sequence.size()), recovered.calls);
    for (std::int64_t seq = 0; seq < static_cast<std::int64_t>(sequence.size()); ++seq) {
      ASSERT_EQ(sequence[seq], seq);
      const TraceCall call = reader.call(seq);
      const CapturedCall expected = child_call(seq, weight);
      ASSERT_EQ(call.name, expected.name);
      const Tensor x = reader.read(call.inputs[1]);
      ASSERT_EQ(call.inputs[1].name, "x");
      ASSERT_EQ(x.shape(), expected.inputs[0].tensor.shape());
      for (std::int64_t i = 0; i < x.numel(); i += 97) {
        ASSERT_EQ(x.at_flat(i), expected.inputs[0].tensor.at_flat(i)) << "call " << seq;
      }
      EXPECT_EQ(call.inputs[0].shared_key, "weight");
    }
    // Every recovered call replays: device-now equals the captured device output exactly and
    // meets the tolerances against the reference, now and captured.
    const ReplayReport report = replay_trace(reader);
    EXPECT_EQ(report.summary.passed, recovered.calls);
    EXPECT_EQ(report.summary.failed, 0);
    for (const ReplayedCall& call : report.calls) {
      EXPECT_EQ(call.status, ReplayStatus::pass) << call.seq << ": " << call.message;
      for (const ReplayComparison& comparison : call.comparisons) {
        if (comparison.against == "captured_device") {
          EXPECT_EQ(comparison.metrics.max_abs_error, 0.0) << call.seq;
        }
      }
    }
  }
  EXPECT_GE(total_reported, kIterations);
}

TEST(CrashSafety, RecoveryThatWasInterruptedAfterItsRenameFinishesCleanly) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  std::mt19937_64 random(7);
  const KillResult killed = capture_and_kill(path, 0, random);
  ASSERT_GE(killed.reported, 1);
  const std::string journal = trace_journal_path(path);
  const std::string saved = dir.file("journal.copy");
  std::filesystem::copy_file(journal, saved);
  const RecoveryReport first = recover_trace(path);
  EXPECT_FALSE(first.already_recovered);
  // As if killed between moving the recovered trace in place and removing the journal.
  std::filesystem::copy_file(saved, journal);
  const RecoveryReport second = recover_trace(path);
  EXPECT_TRUE(second.already_recovered);
  EXPECT_FALSE(std::filesystem::exists(journal));
  EXPECT_EQ(static_cast<std::int64_t>(TraceReader::open(path).sequence_numbers().size()),
            first.calls);
}

TEST(Recovery, ToAnotherPathLeavesTheDamagedTraceAndJournal) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  std::mt19937_64 random(8);
  const KillResult killed = capture_and_kill(path, 0, random);
  ASSERT_GE(killed.reported, 1);
  const RecoveryReport report = recover_trace(path, dir.file("fixed.h5"));
  EXPECT_EQ(report.output, dir.file("fixed.h5"));
  EXPECT_TRUE(std::filesystem::exists(trace_journal_path(path)));
  EXPECT_GE(
      static_cast<std::int64_t>(TraceReader::open(dir.file("fixed.h5")).sequence_numbers().size()),
      killed.reported);
  EXPECT_EQ(TraceReader::open(dir.file("fixed.h5")).header().producer, "tttv2 2.0.0");
}

TEST(Recovery, NothingToRecoverIsAClearError) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  { TraceSession session(path); }
  try {
    recover_trace(path);
    FAIL() << "expected a TraceError";
  } catch (const TraceError& error) {
    EXPECT_THAT(error.what(), ::testing::HasSubstr("nothing to recover"));
  }
}

}  // namespace
}  // namespace ttt

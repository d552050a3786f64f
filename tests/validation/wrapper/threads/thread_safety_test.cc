// Wrapped callables called from many threads while switches change and the registry is read.
// Run under ThreadSanitizer by the tsan preset (label `threads`).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "validation/wrapper/compare_to_reference.h"
#include "validation/wrapper/report.h"
#include "tests/validation/wrapper/wrapper_state.h"

namespace ttt {
namespace {

Tensor twice(const Tensor& x) {
  Tensor y = x.clone();
  for (float& v : y.mutable_floats()) v *= 2.0f;
  return y;
}

Tensor twice_rounded(const Tensor& x) { return twice(x).to(DType::bfloat16); }

constexpr int kThreads = 8;
constexpr int kCallsPerThread = 150;

class ThreadSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_wrapper_state();
  }
  void TearDown() override { SetUp(); }
};

TEST_F(ThreadSafetyTest, ManyThreadsCallOneCallableAndEveryCallIsRecordedOnce) {
  // One callable and copies of it (std::function), shared by every thread.
  auto wrapped = compare_to_reference("threads.shared", twice_rounded, twice,
                                      {.input_names = {"x"}, .return_reference_output = true});
  std::atomic<bool> stop = false;
  // A reader thread renders reports and re-sets the same filter (invalidating the name caches)
  // while calls are being recorded.
  std::thread reader([&] {
    while (!stop.load()) {
      set_validation_filter("threads.*");
      const auto summary = validation_registry().summary();
      (void)render_console_report(validation_registry().records());
      EXPECT_LE(summary.calls, kThreads * kCallsPerThread);
    }
  });
  std::vector<std::thread> workers;
  std::atomic<int> wrong_outputs = 0;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::function<Tensor(const Tensor&)> copy = wrapped;
      for (int i = 0; i < kCallsPerThread; ++i) {
        // Below 0.3: the bfloat16 rounding of 2 * value stays within the 1e-2 default.
        const float value = static_cast<float>(t * kCallsPerThread + i) / 4096.0f;
        const Tensor out = (i % 2 == 0 ? copy : wrapped)(Tensor::from_floats({3}, {value, 1, 2}));
        // Teacher forcing: the (float32) reference value, rounded to the device's bfloat16.
        const float expected =
            Tensor::from_floats({1}, {value * 2.0f}, DType::bfloat16).floats()[0];
        if (out.floats()[0] != expected) ++wrong_outputs;
      }
    });
  }
  for (auto& worker : workers) worker.join();
  stop = true;
  reader.join();

  EXPECT_EQ(wrong_outputs, 0);
  const auto records = validation_registry().records();
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kCallsPerThread));
  std::set<std::int64_t> call_indices;
  std::set<std::int64_t> sequences;
  int first_calls = 0;
  for (const auto& record : records) {
    call_indices.insert(record.call_index);
    sequences.insert(record.sequence);
    first_calls += record.first_call ? 1 : 0;
    EXPECT_TRUE(record.passed) << record.verdict_text();
    EXPECT_TRUE(record.teacher_forced);
  }
  // Every call got its own index 0..N-1 and its own sequence number; one first call.
  EXPECT_EQ(call_indices.size(), records.size());
  EXPECT_EQ(*call_indices.rbegin(), kThreads * kCallsPerThread - 1);
  EXPECT_EQ(sequences.size(), records.size());
  EXPECT_EQ(first_calls, 1);
}

TEST_F(ThreadSafetyTest, SwitchesFlipWhileThreadsCall) {
  // Calls race with on/off and sampling changes: every call returns the device output, and every
  // record that exists is complete.
  auto wrapped = compare_to_reference("threads.flipping", twice, twice);
  std::atomic<bool> stop = false;
  std::thread flipper([&] {
    bool on = false;
    while (!stop.load()) {
      set_validation_enabled(on);
      set_validation_sampling({.every = on ? 1 : 2});
      on = !on;
    }
  });
  std::vector<std::thread> workers;
  std::atomic<int> wrong_outputs = 0;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        const Tensor out = wrapped(Tensor::from_floats({2}, {1.5f, static_cast<float>(i)}));
        if (out.floats()[0] != 3.0f || out.floats()[1] != 2.0f * static_cast<float>(i)) {
          ++wrong_outputs;
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  stop = true;
  flipper.join();
  EXPECT_EQ(wrong_outputs, 0);
  for (const auto& record : validation_registry().records()) {
    EXPECT_TRUE(record.passed);
    ASSERT_EQ(record.outputs.size(), 1u);
    EXPECT_EQ(record.outputs[0].metrics->max_abs_error, 0.0);
  }
}

}  // namespace
}  // namespace ttt

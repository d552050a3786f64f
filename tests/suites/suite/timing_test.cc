// Repetition statistics: quantiles as numpy computes them, the spread statistics, the clocks.
#include "suites/suite/timing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

namespace ttt {
namespace {

using ::testing::HasSubstr;

TEST(Percentile, InterpolatesLinearlyBetweenOrderStatisticsAsNumpy) {
  // numpy.percentile([1, 2, 3, 4, 10], [0, 50, 90, 100]) = [1, 3, 7.6, 10].
  const std::vector<double> samples{10, 1, 4, 2, 3};
  EXPECT_DOUBLE_EQ(percentile(samples, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(samples, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(percentile(samples, 0.9), 7.6);
  EXPECT_DOUBLE_EQ(percentile(samples, 1.0), 10.0);
  // numpy.percentile([5, 7], 25) = 5.5.
  EXPECT_DOUBLE_EQ(percentile({7, 5}, 0.25), 5.5);
  EXPECT_DOUBLE_EQ(percentile({42}, 0.9), 42.0);
}

TEST(Percentile, RejectsEmptySamplesAndQuantilesOutsideZeroOne) {
  EXPECT_THROW(percentile({}, 0.5), std::invalid_argument);
  EXPECT_THROW(percentile({1.0}, 1.5), std::invalid_argument);
  EXPECT_THROW(percentile({1.0}, -0.1), std::invalid_argument);
}

TEST(TimingStats, SummarizesNineRepetitions) {
  // Sorted: 100 101 102 103 104 105 106 107 200.
  const std::vector<std::int64_t> samples{104, 100, 200, 101, 107, 102, 106, 103, 105};
  const TimingStats stats = compute_timing_stats(samples);
  EXPECT_EQ(stats.count, 9);
  EXPECT_DOUBLE_EQ(stats.min, 100.0);
  EXPECT_DOUBLE_EQ(stats.p50, 104.0);
  EXPECT_DOUBLE_EQ(stats.p90, 125.6);  // Position 0.9 * 8 = 7.2: 107 + 0.2 * (200 - 107).
  EXPECT_DOUBLE_EQ(stats.mean, 1028.0 / 9.0);
  // Sample standard deviation (n - 1), as numpy.std(ddof=1) and statistics.stdev.
  EXPECT_NEAR(stats.stddev, 32.248170, 1e-6);
  // |x - 104| sorted: 0 1 1 2 2 3 3 4 96 -> median 2.
  EXPECT_DOUBLE_EQ(stats.mad, 2.0);
}

TEST(TimingStats, OneRepetitionHasNoSpreadAndEmptyIsAnError) {
  const TimingStats stats = compute_timing_stats({5});
  EXPECT_DOUBLE_EQ(stats.stddev, 0.0);
  EXPECT_DOUBLE_EQ(stats.mad, 0.0);
  EXPECT_DOUBLE_EQ(stats.p90, 5.0);
  EXPECT_THROW(compute_timing_stats({}), std::invalid_argument);
}

TEST(TimingStats, WritesEveryStatisticToJson) {
  const TimingStats stats = compute_timing_stats({3, 1, 2, 9, 4, 4, 5, 6, 7});
  const nlohmann::json json = to_json(stats);
  EXPECT_EQ(json.at("count"), 9);
  EXPECT_EQ(json.at("min"), 1.0);
  EXPECT_DOUBLE_EQ(json.at("p90").get<double>(), stats.p90);
  EXPECT_DOUBLE_EQ(json.at("mad").get<double>(), stats.mad);
  EXPECT_EQ(json.size(), 7u);
}

TEST(TimeRepetitions, RunsWarmupThenTimesEachRepetitionWithBothClocks) {
  int calls = 0;
  const TimingSamples samples = time_repetitions([&calls] { ++calls; }, 2, 9);
  EXPECT_EQ(calls, 11);
  EXPECT_EQ(samples.warmup, 2);
  ASSERT_EQ(samples.wall_ns.size(), 9u);
  ASSERT_EQ(samples.cpu_ns.size(), 9u);
  for (std::int64_t ns : samples.wall_ns) EXPECT_GE(ns, 0);
  for (std::int64_t ns : samples.cpu_ns) EXPECT_GE(ns, 0);
  EXPECT_EQ(&samples.of(TimingClock::wall), &samples.wall_ns);
  EXPECT_EQ(&samples.of(TimingClock::cpu), &samples.cpu_ns);
}

TEST(TimeRepetitions, CpuClockCountsBusyWork) {
  volatile double sink = 0.0;
  const TimingSamples samples = time_repetitions(
      [&sink] {
        for (int i = 0; i < 2000000; ++i) sink = sink + 1e-9 * i;
      },
      0, 1);
  // Two million dependent additions take well over 100 microseconds of CPU on any machine.
  EXPECT_GT(samples.cpu_ns.front(), 100000);
}

TEST(TimeRepetitions, RejectsBadCountsAndPropagatesExceptions) {
  EXPECT_THROW(time_repetitions([] {}, -1, 9), std::invalid_argument);
  EXPECT_THROW(time_repetitions([] {}, 0, 0), std::invalid_argument);
  EXPECT_THROW(time_repetitions([] { throw std::runtime_error("boom"); }, 0, 9),
               std::runtime_error);
}

TEST(TimingClock, ParsesNamesAndNamesTheAcceptedOnes) {
  EXPECT_EQ(parse_timing_clock("wall"), TimingClock::wall);
  EXPECT_EQ(parse_timing_clock("cpu"), TimingClock::cpu);
  EXPECT_EQ(timing_clock_name(TimingClock::cpu), "cpu");
  try {
    parse_timing_clock("gpu");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("'gpu'"));
    EXPECT_THAT(error.what(), HasSubstr("wall, cpu"));
  }
}

}  // namespace
}  // namespace ttt

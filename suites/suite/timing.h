// Repetition timing of a suite case: the statistics a budget is judged by and a gate compares.
//
// A case runs warm-up repetitions (not timed: they prepare device weights and warm caches), then
// at least kMinRepetitions timed ones. Each repetition is timed twice: wall time (steady clock)
// and CPU time of the whole process (every thread, so OpenBLAS's workers count). The raw times
// are kept in the results, so a gate can run a Mann-Whitney U test on them (docs/suites.md).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string_view>
#include <vector>

namespace ttt {

// The fewest timed repetitions a case may ask for: Google Benchmark's compare.py warns below 9
// repetitions for its Mann-Whitney U test.
inline constexpr int kMinRepetitions = 9;

// Summary statistics of one clock's repetition times, in nanoseconds.
struct TimingStats {
  std::int64_t count = 0;  // Repetitions summarized.
  double min = 0.0;
  double p50 = 0.0;
  double p90 = 0.0;
  double mean = 0.0;
  double stddev = 0.0;  // Sample standard deviation (n - 1); 0 for a single repetition.
  double mad = 0.0;     // Median absolute deviation from p50, unscaled.
};

// The quantile `p` (0 <= p <= 1) of `samples` with linear interpolation between order
// statistics (numpy's default). Throws std::invalid_argument for empty samples or p outside
// [0, 1], naming the operation.
double percentile(std::vector<double> samples, double p);

// Statistics of `samples_ns`. REQUIRES: not empty (throws std::invalid_argument otherwise).
TimingStats compute_timing_stats(const std::vector<std::int64_t>& samples_ns);

// Which clock a budget or a comparison reads. JSON names: "wall", "cpu".
enum class TimingClock : std::uint8_t {
  wall,  // Steady-clock time: what a user waits for.
  cpu,   // Process CPU time: less sensitive to other programs on a shared machine.
};
std::string_view timing_clock_name(TimingClock clock);
// Throws std::invalid_argument naming the text and the accepted names.
TimingClock parse_timing_clock(std::string_view name);

// The raw times of one case's timed repetitions.
struct TimingSamples {
  std::int64_t warmup = 0;            // Untimed repetitions run first.
  std::vector<std::int64_t> wall_ns;  // One per timed repetition, in run order.
  std::vector<std::int64_t> cpu_ns;   // Same repetitions, process CPU time.

  // The samples of `clock`.
  const std::vector<std::int64_t>& of(TimingClock clock) const {
    return clock == TimingClock::wall ? wall_ns : cpu_ns;
  }
};

// Runs `body` `warmup` times, then `repetitions` times timing each run with both clocks. With
// flush_bytes > 0, flush_caches(flush_bytes) runs (untimed) before every run, so that each run
// finds its data in memory rather than in the caches, as a block in a model finds its weights
// after the other blocks evicted them. Exceptions from `body` propagate.
// REQUIRES: warmup >= 0, repetitions >= 1, flush_bytes >= 0.
TimingSamples time_repetitions(const std::function<void()>& body, int warmup, int repetitions,
                               std::int64_t flush_bytes = 0);

// Evicts the caches by writing and reading `bytes` bytes of a buffer kept for the purpose.
void flush_caches(std::int64_t bytes);

// Twice the largest cache of CPU 0 (/sys/devices/system/cpu/cpu0/cache), or 64 MiB when the
// system does not say: what flush_caches needs to evict everything.
std::int64_t default_flush_bytes();

// CPU time consumed by the process so far (all threads), in nanoseconds.
std::int64_t process_cpu_time_ns();

// {"min": .., "p50": .., "p90": .., "mean": .., "stddev": .., "mad": .., "count": n} (ns).
nlohmann::json to_json(const TimingStats& stats);

}  // namespace ttt

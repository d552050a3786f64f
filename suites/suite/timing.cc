#include "suites/suite/timing.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace ttt {

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) throw std::invalid_argument("[percentile] no samples");
  if (!(p >= 0.0 && p <= 1.0)) {
    throw std::invalid_argument("[percentile] p must be in [0, 1], got " + std::to_string(p));
  }
  std::sort(samples.begin(), samples.end());
  const double position = p * static_cast<double>(samples.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, samples.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return samples[below] + (samples[above] - samples[below]) * fraction;
}

TimingStats compute_timing_stats(const std::vector<std::int64_t>& samples_ns) {
  if (samples_ns.empty()) throw std::invalid_argument("[compute_timing_stats] no samples");
  std::vector<double> values(samples_ns.begin(), samples_ns.end());
  TimingStats stats;
  stats.count = static_cast<std::int64_t>(values.size());
  stats.min = *std::min_element(values.begin(), values.end());
  stats.p50 = percentile(values, 0.5);
  stats.p90 = percentile(values, 0.9);
  double sum = 0.0;
  for (double value : values) sum += value;
  stats.mean = sum / static_cast<double>(values.size());
  if (values.size() > 1) {
    double squares = 0.0;
    for (double value : values) squares += (value - stats.mean) * (value - stats.mean);
    stats.stddev = std::sqrt(squares / static_cast<double>(values.size() - 1));
  }
  std::vector<double> deviations;
  deviations.reserve(values.size());
  for (double value : values) deviations.push_back(std::abs(value - stats.p50));
  stats.mad = percentile(std::move(deviations), 0.5);
  return stats;
}

std::string_view timing_clock_name(TimingClock clock) {
  return clock == TimingClock::wall ? "wall" : "cpu";
}

TimingClock parse_timing_clock(std::string_view name) {
  if (name == "wall") return TimingClock::wall;
  if (name == "cpu") return TimingClock::cpu;
  throw std::invalid_argument("unknown clock '" + std::string(name) +
                              "' (expected one of: wall, cpu)");
}

std::int64_t process_cpu_time_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

void flush_caches(std::int64_t bytes) {
  if (bytes <= 0) return;
  static std::vector<std::uint64_t> buffer;
  const auto words = static_cast<std::size_t>(bytes) / sizeof(std::uint64_t);
  if (buffer.size() < words) buffer.resize(words);
  // Writing evicts every line the caches held; the sum keeps the compiler from dropping it.
  static volatile std::uint64_t sink = 0;
  std::uint64_t sum = sink;
  for (std::size_t i = 0; i < words; ++i) {
    buffer[i] += sum + i;
    sum += buffer[i];
  }
  sink = sum;
}

std::int64_t default_flush_bytes() {
  // Read once: every timed case asks, and the caches do not change while the process runs.
  static const std::int64_t bytes = [] {
    std::int64_t largest = 0;
    for (int index = 0; index < 8; ++index) {
      std::ifstream file("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) +
                         "/size");
      std::string text;
      if (!(file >> text) || text.empty()) continue;
      std::int64_t value = 0;
      std::size_t used = 0;
      try {
        value = std::stoll(text, &used);
      } catch (const std::logic_error&) {
        continue;
      }
      const char unit = used < text.size() ? text[used] : ' ';
      if (unit == 'K') value <<= 10;
      if (unit == 'M') value <<= 20;
      largest = std::max(largest, value);
    }
    return largest > 0 ? 2 * largest : std::int64_t{64} << 20;
  }();
  return bytes;
}

TimingSamples time_repetitions(const std::function<void()>& body, int warmup, int repetitions,
                               std::int64_t flush_bytes) {
  if (warmup < 0 || repetitions < 1 || flush_bytes < 0) {
    throw std::invalid_argument(
        "[time_repetitions] need warmup >= 0, repetitions >= 1 and flush_bytes >= 0, got " +
        std::to_string(warmup) + ", " + std::to_string(repetitions) + " and " +
        std::to_string(flush_bytes));
  }
  TimingSamples samples;
  samples.warmup = warmup;
  for (int i = 0; i < warmup; ++i) {
    flush_caches(flush_bytes);
    body();
  }
  samples.wall_ns.reserve(static_cast<std::size_t>(repetitions));
  samples.cpu_ns.reserve(static_cast<std::size_t>(repetitions));
  for (int i = 0; i < repetitions; ++i) {
    flush_caches(flush_bytes);
    const std::int64_t cpu_start = process_cpu_time_ns();
    const auto wall_start = std::chrono::steady_clock::now();
    body();
    const auto wall_end = std::chrono::steady_clock::now();
    const std::int64_t cpu_end = process_cpu_time_ns();
    samples.wall_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(wall_end - wall_start).count());
    samples.cpu_ns.push_back(cpu_end - cpu_start);
  }
  return samples;
}

nlohmann::json to_json(const TimingStats& stats) {
  return {{"count", stats.count}, {"min", stats.min},       {"p50", stats.p50}, {"p90", stats.p90},
          {"mean", stats.mean},   {"stddev", stats.stddev}, {"mad", stats.mad}};
}

}  // namespace ttt

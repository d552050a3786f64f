#include "gate/history.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <queue>
#include <random>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "gate/error_rates.h"
#include "gate/gate.h"
#include "suites/suite/timing.h"
#include "validation/markup/number.h"
#include "validation/tensor/fnv.h"

namespace ttt {
namespace {

namespace fs = std::filesystem;

// cost[j]: the sum of absolute deviations of values[0, j) from their median (cost[0] = 0), for
// every prefix at once: two heaps hold the lower and upper halves with their sums.
std::vector<double> prefix_l1_costs(const std::vector<double>& values) {
  std::priority_queue<double> lower;
  std::priority_queue<double, std::vector<double>, std::greater<>> upper;
  double lower_sum = 0.0;
  double upper_sum = 0.0;
  std::vector<double> cost(values.size() + 1, 0.0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double x = values[i];
    if (lower.empty() || x <= lower.top()) {
      lower.push(x);
      lower_sum += x;
    } else {
      upper.push(x);
      upper_sum += x;
    }
    if (lower.size() > upper.size() + 1) {
      upper.push(lower.top());
      upper_sum += lower.top();
      lower_sum -= lower.top();
      lower.pop();
    } else if (upper.size() > lower.size()) {
      lower.push(upper.top());
      lower_sum += upper.top();
      upper_sum -= upper.top();
      upper.pop();
    }
    const double median = lower.top();
    cost[i + 1] = median * static_cast<double>(lower.size()) - lower_sum + upper_sum -
                  median * static_cast<double>(upper.size());
  }
  return cost;
}

// The split k (values[0, k) and values[k, n), each at least `min_segment` long) that most reduces
// the L1 cost, and that reduction.
std::pair<std::size_t, double> best_reduction(const std::vector<double>& values,
                                              std::size_t min_segment) {
  const std::size_t n = values.size();
  const std::vector<double> prefix = prefix_l1_costs(values);
  const std::vector<double> suffix =
      prefix_l1_costs(std::vector<double>(values.rbegin(), values.rend()));
  std::size_t best = min_segment;
  double reduction = -1.0;
  for (std::size_t k = min_segment; k + min_segment <= n; ++k) {
    const double gain = prefix[n] - prefix[k] - suffix[n - k];
    if (gain > reduction) {
      reduction = gain;
      best = k;
    }
  }
  return {best, reduction};
}

constexpr int kMaxPermutations = 10000000;
// Sequential Monte Carlo (Besag and Clifford 1991): a test stops once this many shuffles reached
// the observed reduction, with p = hits / shuffles; a series without a change stops after a few
// dozen shuffles, so only changed series pay for the full count.
constexpr int kStopAfterHits = 10;

void check_options(const HistoryOptions& options) {
  if (options.min_segment < 1) {
    throw std::invalid_argument("[history] min_segment must be >= 1, got " +
                                std::to_string(options.min_segment));
  }
  if (options.permutations != 0 &&
      (options.permutations < 19 || options.permutations > kMaxPermutations)) {
    throw std::invalid_argument("[history] permutations must be 0 (automatic) or in [19, " +
                                std::to_string(kMaxPermutations) + "], got " +
                                std::to_string(options.permutations));
  }
  if (!(options.latency.alpha > 0.0 && options.latency.alpha < 1.0)) {
    throw std::invalid_argument("[history] alpha must be in (0, 1), got " +
                                format_number(options.latency.alpha));
  }
}

// Splits values[lo, hi) by binary segmentation at alpha, appending kept splits (global indices).
void split_segment(const std::vector<double>& values, std::size_t lo, std::size_t hi,
                   const HistoryOptions& options, std::uint64_t seed,
                   std::vector<SeriesSplit>& kept) {
  const std::vector<double> part(values.begin() + static_cast<std::ptrdiff_t>(lo),
                                 values.begin() + static_cast<std::ptrdiff_t>(hi));
  // Each segment draws its own shuffles, fixed by where it lies.
  const std::uint64_t segment_seed = seed ^ (0x9e3779b97f4a7c15ULL * (lo + 1)) ^ (hi << 32);
  const SeriesSplit split = best_split(part, options, segment_seed);
  if (!(split.p_value < options.latency.alpha)) return;
  kept.push_back({lo + split.index, split.p_value});
  split_segment(values, lo, lo + split.index, options, seed, kept);
  split_segment(values, lo + split.index, hi, options, seed, kept);
}

double median_of(const std::vector<double>& values, std::size_t lo, std::size_t hi) {
  return percentile(std::vector<double>(values.begin() + static_cast<std::ptrdiff_t>(lo),
                                        values.begin() + static_cast<std::ptrdiff_t>(hi)),
                    0.5);
}

// A figure in a fixed printf format: "%+.1f%%" for a change, "%.2g" for a p-value.
std::string formatted(const char* format, double value) {
  char text[32];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

bool timed(const CaseResult& result) {
  return (result.status == CaseStatus::pass || result.status == CaseStatus::fail) &&
         result.timing.has_value() && !result.timing->wall_ns.empty();
}

}  // namespace

std::vector<HistoryRun> load_history(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code error;
    if (fs::is_directory(path, error)) {
      std::vector<std::string> found;
      for (const fs::directory_entry& entry : fs::directory_iterator(path)) {
        if (entry.is_regular_file() && entry.path().extension() == ".json") {
          found.push_back(entry.path().string());
        }
      }
      if (found.empty()) throw std::invalid_argument(path + ": no *.json results in the directory");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(path, error)) {
      files.push_back(path);
    } else {
      throw std::invalid_argument(path + ": no such file or directory (stored results)");
    }
  }
  if (files.empty()) throw std::invalid_argument("[history] no stored results given");
  std::vector<HistoryRun> runs;
  for (const std::string& file : files) runs.push_back({file, load_gate_baseline(file).results});
  std::stable_sort(runs.begin(), runs.end(), [](const HistoryRun& a, const HistoryRun& b) {
    return std::tie(a.results.created_utc, a.path) < std::tie(b.results.created_utc, b.path);
  });
  return runs;
}

SeriesSplit best_split(const std::vector<double>& values, const HistoryOptions& options,
                       std::uint64_t seed) {
  check_options(options);
  const auto min_segment = static_cast<std::size_t>(options.min_segment);
  if (values.size() < 2 * min_segment) return {0, 1.0};
  std::vector<double> logs;
  for (double value : values) {
    if (!(value > 0.0) || !std::isfinite(value)) {
      throw std::invalid_argument("[history] a median time must be > 0, got " +
                                  format_number(value));
    }
    logs.push_back(std::log(value));
  }
  const auto [index, observed] = best_reduction(logs, min_segment);
  if (!(observed > 0.0)) return {index, 1.0};
  // Reductions equal up to rounding count as reaching the observed one (a conservative p).
  const double reached = observed * (1.0 - 1e-12);
  const int permutations = options.permutations > 0 ? options.permutations : 999;
  std::mt19937_64 rng(seed);
  std::vector<double> shuffled = logs;
  int at_least = 0;
  for (int b = 1; b <= permutations; ++b) {
    // Fisher-Yates with the generator's raw output, so the shuffles are the same everywhere.
    for (std::size_t i = shuffled.size() - 1; i > 0; --i) {
      std::swap(shuffled[i], shuffled[rng() % (i + 1)]);
    }
    if (best_reduction(shuffled, min_segment).second >= reached && ++at_least == kStopAfterHits) {
      return {index, static_cast<double>(at_least) / b};
    }
  }
  return {index, (1.0 + at_least) / (1.0 + permutations)};
}

std::vector<SeriesSplit> find_splits(const std::vector<double>& values,
                                     const HistoryOptions& options, std::uint64_t seed) {
  std::vector<SeriesSplit> kept;
  split_segment(values, 0, values.size(), options, seed, kept);
  std::sort(kept.begin(), kept.end(),
            [](const SeriesSplit& a, const SeriesSplit& b) { return a.index < b.index; });
  return kept;
}

bool HistoryReport::ok() const {
  return std::none_of(change_points.begin(), change_points.end(),
                      [](const ChangePoint& point) { return point.verdict == "regression"; });
}

HistoryReport detect_change_points(const std::vector<HistoryRun>& runs,
                                   const HistoryOptions& options) {
  check_options(options);
  const auto min_segment = static_cast<std::size_t>(options.min_segment);
  if (runs.size() < 2 * min_segment) {
    throw std::invalid_argument(
        "[history] " + std::to_string(runs.size()) + " stored run(s): a change point needs " +
        std::to_string(min_segment) + " runs on each side (min_segment), so at least " +
        std::to_string(2 * min_segment) + " runs");
  }
  HistoryReport report;
  report.options = options;
  for (const HistoryRun& run : runs) {
    report.paths.push_back(run.path);
    report.commits.push_back(run.results.machine.commit);
  }
  // Every case, with the last run that timed it: its definition and machine define the series.
  std::map<std::pair<std::string, std::string>, std::pair<std::size_t, const CaseResult*>> last;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    for (const SuiteResult& suite : runs[r].results.suites) {
      for (const CaseResult& result : suite.cases) {
        if (timed(result)) last[{suite.name, result.id}] = {r, &result};
      }
    }
  }
  for (const auto& [key, reference] : last) {
    HistorySeries series;
    series.suite = key.first;
    series.case_id = key.second;
    const MachineInfo& machine = runs[reference.first].results.machine;
    std::size_t left_out = 0;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      for (const SuiteResult& suite : runs[r].results.suites) {
        if (suite.name != series.suite) continue;
        for (const CaseResult& result : suite.cases) {
          if (result.id != series.case_id || !timed(result)) continue;
          if (!same_definition(result, *reference.second) ||
              !same_machine(runs[r].results.machine, machine)) {
            ++left_out;
            continue;
          }
          const std::vector<std::int64_t>& samples = result.timing->of(options.latency.clock);
          series.medians_ns.push_back(
              percentile(std::vector<double>(samples.begin(), samples.end()), 0.5));
          series.runs.push_back(r);
        }
      }
    }
    if (left_out > 0) {
      report.notes.push_back(series.suite + "/" + series.case_id + ": " + std::to_string(left_out) +
                             " run(s) left out: another definition or machine than its last "
                             "run's (" +
                             machine_text(machine) + ")");
    }
    if (series.medians_ns.size() < 2 * min_segment) {
      series.skipped = std::to_string(series.medians_ns.size()) +
                       " timed run(s): too few for a change point (needs " +
                       std::to_string(2 * min_segment) + ")";
    }
    report.series.push_back(std::move(series));
  }
  // The first split of every tested case, corrected as one family: automatic permutations let the
  // smallest p-value reach a twentieth of alpha / cases, so Holm can keep a split at all.
  std::size_t testable = 0;
  for (const HistorySeries& series : report.series) testable += series.skipped.empty() ? 1 : 0;
  HistoryOptions tests = options;
  if (tests.permutations == 0) {
    tests.permutations = static_cast<int>(
        std::clamp(std::ceil(20.0 * static_cast<double>(testable) / options.latency.alpha), 999.0,
                   static_cast<double>(kMaxPermutations)));
  }
  report.options.permutations = tests.permutations;
  std::vector<std::size_t> tested;
  std::vector<SeriesSplit> first;
  std::vector<double> raw;
  for (std::size_t i = 0; i < report.series.size(); ++i) {
    const HistorySeries& series = report.series[i];
    if (!series.skipped.empty()) continue;
    const std::uint64_t seed = options.seed ^ fnv1a64(series.suite + "/" + series.case_id);
    tested.push_back(i);
    first.push_back(best_split(series.medians_ns, tests, seed));
    raw.push_back(first.back().p_value);
  }
  const std::vector<double> adjusted = adjust_p_values(raw, options.latency.correction);
  for (std::size_t t = 0; t < tested.size(); ++t) {
    if (!(adjusted[t] < options.latency.alpha)) continue;
    const HistorySeries& series = report.series[tested[t]];
    const std::vector<double>& values = series.medians_ns;
    const std::uint64_t seed = options.seed ^ fnv1a64(series.suite + "/" + series.case_id);
    std::vector<SeriesSplit> splits = {{first[t].index, adjusted[t]}};
    split_segment(values, 0, first[t].index, tests, seed, splits);
    split_segment(values, first[t].index, values.size(), tests, seed, splits);
    std::sort(splits.begin(), splits.end(),
              [](const SeriesSplit& a, const SeriesSplit& b) { return a.index < b.index; });
    for (std::size_t s = 0; s < splits.size(); ++s) {
      const std::size_t begin = s == 0 ? 0 : splits[s - 1].index;
      const std::size_t end = s + 1 < splits.size() ? splits[s + 1].index : values.size();
      ChangePoint point;
      point.suite = series.suite;
      point.case_id = series.case_id;
      point.index = splits[s].index;
      const std::size_t run = series.runs[point.index];
      point.path = runs[run].path;
      point.commit = runs[run].results.machine.commit;
      point.previous_commit = runs[series.runs[point.index - 1]].results.machine.commit;
      point.before_ns = median_of(values, begin, point.index);
      point.after_ns = median_of(values, point.index, end);
      point.change = point.after_ns / point.before_ns - 1.0;
      point.p_value = splits[s].p_value;
      point.verdict = point.change > options.latency.threshold    ? "regression"
                      : point.change < -options.latency.threshold ? "improvement"
                                                                  : "step";
      report.change_points.push_back(std::move(point));
    }
  }
  return report;
}

std::string format_history(const HistoryReport& report) {
  std::ostringstream out;
  std::size_t tested = 0;
  for (const HistorySeries& series : report.series) tested += series.skipped.empty() ? 1 : 0;
  std::size_t regressions = 0;
  for (const ChangePoint& point : report.change_points) {
    if (point.verdict == "regression") ++regressions;
    out << (point.verdict == "regression" ? "REGRESSION" : point.verdict) << " " << point.suite
        << "/" << point.case_id << ": " << formatted("%+.1f%%", 100.0 * point.change)
        << " from commit " << point.commit << " (run " << point.index + 1
        << " of the case's series, " << point.path
        << "; the previous run: " << point.previous_commit << "): median "
        << format_ns(point.after_ns) << " vs " << format_ns(point.before_ns)
        << ", p = " << formatted("%.2g", point.p_value) << "\n";
  }
  for (const HistorySeries& series : report.series) {
    if (!series.skipped.empty()) {
      out << "not tested " << series.suite << "/" << series.case_id << ": " << series.skipped
          << "\n";
    }
  }
  for (const std::string& note : report.notes) out << "note: " << note << "\n";
  out << (regressions == 0 ? "no regression" : "REGRESSED") << ": " << report.paths.size()
      << " runs, " << tested << " case(s) tested, " << report.change_points.size()
      << " change point(s), " << regressions << " regression(s) (permutation test, alpha "
      << format_number(report.options.latency.alpha) << ", "
      << correction_name(report.options.latency.correction) << " over the cases, threshold "
      << format_scaled(100.0 * report.options.latency.threshold) << "%, "
      << timing_clock_name(report.options.latency.clock) << " time)\n";
  return out.str();
}

nlohmann::json to_json(const HistoryReport& report) {
  nlohmann::json runs = nlohmann::json::array();
  for (std::size_t i = 0; i < report.paths.size(); ++i) {
    runs.push_back({{"path", report.paths[i]}, {"commit", report.commits[i]}});
  }
  nlohmann::json points = nlohmann::json::array();
  for (const ChangePoint& point : report.change_points) {
    points.push_back({{"suite", point.suite},
                      {"case", point.case_id},
                      {"index", point.index},
                      {"path", point.path},
                      {"commit", point.commit},
                      {"previous_commit", point.previous_commit},
                      {"before_ns", point.before_ns},
                      {"after_ns", point.after_ns},
                      {"change", point.change},
                      {"p_value", point.p_value},
                      {"verdict", point.verdict}});
  }
  nlohmann::json series = nlohmann::json::array();
  for (const HistorySeries& s : report.series) {
    series.push_back(
        {{"suite", s.suite},
         {"case", s.case_id},
         {"medians_ns", s.medians_ns},
         {"skipped", s.skipped.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.skipped)}});
  }
  const HistoryOptions& options = report.options;
  return {{"format", "ttt-gate-history"},
          {"version", 1},
          {"ok", report.ok()},
          {"runs", std::move(runs)},
          {"change_points", std::move(points)},
          {"series", std::move(series)},
          {"notes", report.notes},
          {"options",
           {{"threshold", options.latency.threshold},
            {"alpha", options.latency.alpha},
            {"correction", std::string(correction_name(options.latency.correction))},
            {"clock", std::string(timing_clock_name(options.latency.clock))},
            {"min_segment", options.min_segment},
            {"permutations", options.permutations},
            {"seed", options.seed}}}};
}

}  // namespace ttt

// Change points in stored results (docs/gate.md "History"): given the suite results of a series of
// runs in commit order, finds the runs where a case's latency stepped to another level and stayed
// there, as asv's regression detection does, and names the commit that moved it.
//
//   std::vector<HistoryRun> runs = load_history({"results/"});   // ordered by created_utc
//   HistoryReport report = detect_change_points(runs, HistoryOptions{});
//   // report.change_points: suite, case, the run where the new level starts, its commit, size
//
// The method, per case: the series of its per-run medians, on a log scale (a step is a factor);
// binary segmentation, each split the one that most reduces the sum of absolute deviations from
// the segments' medians (an L1 piecewise-constant fit, robust to a single noisy run), kept when a
// permutation test of the segment says so: p = (1 + #{shuffles with a reduction >= the observed})
// / (1 + permutations), from seeded shuffles, stopping early at 10 such shuffles with p = 10 /
// shuffles (Besag and Clifford's sequential test). On a series without a change whose runs are
// exchangeable (noise that does not depend on the order), the first split is kept with
// probability at most alpha; the first splits of all cases are corrected as one family (Holm by
// default, gate/error_rates.h), so with Holm the chance that any case of a flat history reports a
// change point is at most alpha. Splits inside a case already found to change are tested at alpha
// each. A change point needs min_segment runs on each side. Known limit: a change that reverts
// inside the history (a bump) lowers no single split's cost and is not found.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gate/policy.h"
#include "suites/suite/results.h"

namespace ttt {

// One stored run: the file it came from and its results.
struct HistoryRun {
  std::string path;
  RunResults results;
};

// Reads runs from `paths`: result files (ttt suite run --json, or gate baselines) and directories,
// whose *.json files are all read. Ordered by created_utc, then path. Throws std::invalid_argument
// naming the path when one is missing or a file is not suite results, or when no file is found.
std::vector<HistoryRun> load_history(const std::vector<std::string>& paths);

struct HistoryOptions {
  // threshold (a step slower by more than this is a regression), alpha, correction and clock.
  LatencyPolicy latency;
  // Runs on each side of a change point: a step must last this long. Default: 3 (one noisy run is
  // not a level). REQUIRES: >= 1.
  int min_segment = 3;
  // Most shuffles per permutation test (p-values down to 1 / (1 + permutations)). 0: automatic,
  // 20 x cases / alpha (at least 999), so that after the family-wise correction a change can
  // still be kept (Holm over 200 cases at 0.01 needs p < 5e-5). Default: 0. REQUIRES: 0 or in
  // [19, 10000000].
  int permutations = 0;
  // Seeds the shuffles: the same runs and seed give the same report.
  std::uint64_t seed = 0;
};

// One step in one case's series.
struct ChangePoint {
  std::string suite;
  std::string case_id;
  std::size_t index = 0;        // The first run at the new level, in the case's series.
  std::string path;             // That run's file.
  std::string commit;           // That run's commit: the change is between it and the previous.
  std::string previous_commit;  // The commit of the last run at the old level.
  double before_ns = 0.0;       // Median of the per-run medians of the segment before.
  double after_ns = 0.0;        // Likewise after.
  double change = 0.0;          // after / before - 1.
  double p_value = 1.0;         // The permutation p-value (after the family-wise correction for
                                // a case's first split).
  // "regression" (slower by more than latency.threshold), "improvement" (faster by more) or
  // "step" (a real change within the threshold).
  std::string verdict;
};

// One case's series.
struct HistorySeries {
  std::string suite;
  std::string case_id;
  std::vector<double> medians_ns;  // Per run, in order.
  std::vector<std::size_t> runs;   // Index of each point's run in the report's runs.
  // Set when the series was not tested: too few runs.
  std::string skipped;
};

struct HistoryReport {
  std::vector<std::string> paths;    // The runs, in order.
  std::vector<std::string> commits;  // Their commits.
  std::vector<HistorySeries> series;
  std::vector<ChangePoint> change_points;  // By suite, case and index.
  std::vector<std::string> notes;          // Runs left out (another machine or definition).
  HistoryOptions options;

  // True when no change point is a regression.
  bool ok() const;
};

// Detects the change points of every case of the runs (in the given order). A case's series holds
// the runs where it passed or failed with timing and the definition (same_definition) and the
// machine (same_machine) of its last run; other runs are left out with a note. Throws
// std::invalid_argument when the options are out of range or fewer than 2 * min_segment runs are
// given.
HistoryReport detect_change_points(const std::vector<HistoryRun>& runs,
                                   const HistoryOptions& options);

// One kept split of a series.
struct SeriesSplit {
  std::size_t index = 0;  // The first value of the new level.
  double p_value = 1.0;   // Raw permutation p-value.
};
// The split of `values` (log-scaled inside) that most reduces the sum of absolute deviations from
// the segments' medians, with min_segment values on each side, and its permutation p-value
// (permutations 0: 999); p = 1 when the series is shorter than 2 * min_segment. Deterministic for
// a given seed.
SeriesSplit best_split(const std::vector<double>& values, const HistoryOptions& options,
                       std::uint64_t seed);
// Binary segmentation: best_split, kept when p < latency.alpha, then again on both sides.
// Returns the kept splits by index. Exposed for tests of one series; detect_change_points
// corrects the first split across cases.
std::vector<SeriesSplit> find_splits(const std::vector<double>& values,
                                     const HistoryOptions& options, std::uint64_t seed);

// Console lines: each change point with its commit and size, then counts.
std::string format_history(const HistoryReport& report);
// {"format": "ttt-gate-history", "version": 1, "runs": [{path, commit}], "change_points":
//  [{suite, case, index, path, commit, previous_commit, before_ns, after_ns, change, p_value,
//  verdict}], "series": [{suite, case, medians_ns, skipped}], "notes", "options"}.
nlohmann::json to_json(const HistoryReport& report);

}  // namespace ttt

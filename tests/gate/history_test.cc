// Change points over stored results (gate/history.h): a step of known size at a known run is
// found with its commit; flat noisy series (Gaussian and with an outlier run) give none at the
// stated false-alarm rate; the L1 costs against brute force; ordering and bad input.
#include "gate/history.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "tests/common/scratch_dir.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// `count` values around `level` with log-normal noise of relative spread `sigma`, and from index
// `step_at` on multiplied by `factor`.
std::vector<double> series(std::size_t count, double level, double sigma, std::size_t step_at,
                           double factor, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, sigma);
  std::vector<double> values;
  for (std::size_t i = 0; i < count; ++i) {
    values.push_back(level * (i >= step_at ? factor : 1.0) * std::exp(noise(rng)));
  }
  return values;
}

HistoryOptions options_with(double alpha, int permutations = 999) {
  HistoryOptions options;
  options.latency.alpha = alpha;
  options.permutations = permutations;
  return options;
}

TEST(HistorySplits, AStepOfKnownSizeIsFoundWhereItIs) {
  // 30 runs with 3% noise, +30% from run 18 on.
  const std::vector<double> values = series(30, 100e3, 0.03, 18, 1.3, 1);
  const std::vector<SeriesSplit> splits = find_splits(values, options_with(0.01), 7);
  ASSERT_EQ(splits.size(), 1u);
  EXPECT_EQ(splits[0].index, 18u);
  // No shuffle of 999 reaches a step of 10 noise widths: the smallest p-value there is.
  EXPECT_DOUBLE_EQ(splits[0].p_value, 0.001);
  // Two steps up, at 10 and at 20, are both found: the first split, then the other inside one
  // side.
  std::vector<double> twice = series(30, 100e3, 0.02, 10, 1.25, 2);
  for (std::size_t i = 20; i < 30; ++i) twice[i] *= 1.25;
  const std::vector<SeriesSplit> both = find_splits(twice, options_with(0.01), 7);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].index, 10u);
  EXPECT_EQ(both[1].index, 20u);
  // The known limit of binary segmentation with this cost: a change that reverts (up at 10, back
  // at 20) leaves no single split that lowers the L1 cost, so it is not found.
  std::vector<double> bump = series(30, 100e3, 0.02, 10, 1.25, 2);
  for (std::size_t i = 20; i < 30; ++i) bump[i] /= 1.25;
  EXPECT_TRUE(find_splits(bump, options_with(0.01), 7).empty());
}

// The stated false-alarm behaviour: on a flat series of exchangeable runs the first split is kept
// with probability at most alpha. 400 seeded series of 20 runs at alpha 0.05: 20 expected; the
// count is checked against the binomial's 99.9% bound (0.05 x 400 + 3.1 sd = 33.5).
TEST(HistorySplits, FlatSeriesRaiseFalseAlarmsAtMostAtAlpha) {
  const HistoryOptions options = options_with(0.05, 199);
  int alarms = 0;
  for (std::uint64_t s = 0; s < 400; ++s) {
    const std::vector<double> values = series(20, 50e3, 0.05, 20, 1.0, 1000 + s);
    if (best_split(values, options, s).p_value < options.latency.alpha) ++alarms;
  }
  EXPECT_LE(alarms, 33);
  EXPECT_GE(alarms, 5);  // The test is not vacuous: alarms do happen at about the rate alpha.
}

// One run beside a build (3x slower) is not a level: each side needs min_segment runs, and the L1
// fit is not pulled by one value.
TEST(HistorySplits, OneNoisyRunIsNotAChangePoint) {
  std::vector<double> values = series(16, 80e3, 0.02, 16, 1.0, 5);
  values[8] *= 3.0;
  EXPECT_TRUE(find_splits(values, options_with(0.01), 1).empty());
}

TEST(HistorySplits, TooShortOrConstantSeriesHaveNoSplit) {
  EXPECT_EQ(best_split({1.0, 2.0, 3.0, 4.0, 5.0}, options_with(0.01), 0).p_value, 1.0);
  EXPECT_EQ(best_split(std::vector<double>(8, 7.0), options_with(0.01), 0).p_value, 1.0);
  HistoryOptions bad = options_with(0.01);
  bad.min_segment = 0;
  EXPECT_THAT([&] { best_split({1.0}, bad, 0); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("min_segment must be >= 1, got 0")));
  bad = options_with(0.01, 5);
  EXPECT_THAT([&] { best_split({1.0}, bad, 0); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("permutations must be 0 (automatic) or in [19, 10000000], got 5")));
  EXPECT_THAT(
      [] {
        best_split({1.0, 2.0, 0.0, 1.0, 2.0, 3.0}, HistoryOptions{}, 0);
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("a median time must be > 0")));
}

// Results of one run: cases with nine repetitions around their medians (ns).
RunResults run_of(const std::string& commit, const std::string& created,
                  const std::vector<std::pair<std::string, double>>& medians, std::uint64_t seed) {
  RunResults results;
  results.machine.cpu_model = "Test CPU";
  results.machine.cores = 2;
  results.machine.build_type = "Release";
  results.machine.commit = commit;
  results.created_utc = created;
  SuiteResult suite;
  suite.name = "llama";
  suite.fingerprint = "f1";
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.01);
  for (const auto& [id, median] : medians) {
    CaseResult result;
    result.id = id;
    result.kind = "gated_mlp";
    result.mode = "decode";
    result.status = CaseStatus::pass;
    TimingSamples timing;
    for (int i = 0; i < 9; ++i) {
      timing.wall_ns.push_back(std::llround(median * std::exp(noise(rng))));
    }
    timing.cpu_ns = timing.wall_ns;
    result.timing = timing;
    suite.cases.push_back(std::move(result));
  }
  suite.total_cases = static_cast<std::int64_t>(suite.cases.size());
  results.suites.push_back(std::move(suite));
  return results;
}

// 16 runs, commits c0..c15: the FFN slows by 40% from c9 on, the norm is flat; run-to-run noise
// of 4% on top of the repetitions'.
std::vector<HistoryRun> sixteen_runs() {
  const std::vector<double> ffn = series(16, 100e3, 0.04, 9, 1.4, 11);
  const std::vector<double> norm = series(16, 20e3, 0.04, 16, 1.0, 12);
  std::vector<HistoryRun> runs;
  for (std::size_t i = 0; i < 16; ++i) {
    char created[32];
    std::snprintf(created, sizeof(created), "2026-01-%02zuT00:00:00Z", i + 1);
    runs.push_back(
        {"run" + std::to_string(i) + ".json",
         run_of("c" + std::to_string(i), created, {{"ffn", ffn[i]}, {"norm", norm[i]}}, 100 + i)});
  }
  return runs;
}

TEST(History, FindsTheCommitThatMovedACase) {
  const HistoryReport report = detect_change_points(sixteen_runs(), HistoryOptions{});
  ASSERT_EQ(report.change_points.size(), 1u) << format_history(report);
  const ChangePoint& point = report.change_points[0];
  EXPECT_EQ(point.suite, "llama");
  EXPECT_EQ(point.case_id, "ffn");
  EXPECT_EQ(point.index, 9u);
  EXPECT_EQ(point.commit, "c9");
  EXPECT_EQ(point.previous_commit, "c8");
  EXPECT_EQ(point.path, "run9.json");
  EXPECT_NEAR(point.change, 0.4, 0.06);
  EXPECT_EQ(point.verdict, "regression");
  // Automatic permutations for 2 cases at 0.01: 4000. Only the shuffles putting the 7 slow runs
  // at either end reach the observed split (2 of C(16, 7) = 11440 arrangements), so p is near
  // its floor 1/4001, doubled by Holm.
  EXPECT_EQ(report.options.permutations, 4000);
  EXPECT_LE(point.p_value, 0.002);
  EXPECT_FALSE(report.ok());
  const std::string text = format_history(report);
  EXPECT_THAT(text, HasSubstr("REGRESSION llama/ffn: +"));
  EXPECT_THAT(text, HasSubstr("from commit c9 (run 10 of the case's series, run9.json; the "
                              "previous run: c8)"));
  EXPECT_THAT(text, HasSubstr("REGRESSED: 16 runs, 2 case(s) tested, 1 change point(s), 1 "
                              "regression(s) (permutation test, alpha 0.01, holm over the cases, "
                              "threshold 10%, wall time)"));
  const nlohmann::json json = to_json(report);
  EXPECT_EQ(json.at("format"), "ttt-gate-history");
  EXPECT_EQ(json.at("ok"), false);
  EXPECT_EQ(json.at("change_points").at(0).at("commit"), "c9");
  EXPECT_EQ(json.at("series").size(), 2u);
  EXPECT_EQ(json.at("series").at(1).at("medians_ns").size(), 16u);
  // The same runs and seed give the same report.
  EXPECT_EQ(to_json(detect_change_points(sixteen_runs(), HistoryOptions{})), json);
  // A looser threshold makes the same step a "step", not a regression.
  HistoryOptions loose;
  loose.latency.threshold = 0.5;
  const HistoryReport step = detect_change_points(sixteen_runs(), loose);
  ASSERT_EQ(step.change_points.size(), 1u);
  EXPECT_EQ(step.change_points[0].verdict, "step");
  EXPECT_TRUE(step.ok());
}

// 25 flat cases over 12 runs, corrected as one family by Holm (with 50000 shuffles at most, so a
// change could be kept): no change point at all.
TEST(History, AFlatHistoryOfManyCasesHasNoChangePoint) {
  std::vector<std::vector<double>> cases;
  for (std::uint64_t c = 0; c < 25; ++c) cases.push_back(series(12, 30e3, 0.05, 12, 1.0, 300 + c));
  std::vector<HistoryRun> runs;
  for (std::size_t i = 0; i < 12; ++i) {
    std::vector<std::pair<std::string, double>> medians;
    for (std::size_t c = 0; c < cases.size(); ++c) {
      medians.emplace_back("case" + std::to_string(c), cases[c][i]);
    }
    runs.push_back(
        {"r" + std::to_string(i),
         run_of("c" + std::to_string(i),
                "2026-02-" + std::string(i < 9 ? "0" : "") + std::to_string(i + 1), medians, i)});
  }
  const HistoryReport report = detect_change_points(runs, HistoryOptions{});
  EXPECT_TRUE(report.change_points.empty()) << format_history(report);
  EXPECT_EQ(report.options.permutations, 50000);
  EXPECT_TRUE(report.ok());
  EXPECT_THAT(format_history(report), HasSubstr("no regression: 12 runs, 25 case(s) tested"));
}

TEST(History, RunsOfAnotherMachineOrTooFewAreLeftOut) {
  std::vector<HistoryRun> runs = sixteen_runs();
  runs[3].results.machine.cpu_model = "Other CPU";
  runs[5].results.suites[0].cases.pop_back();  // The norm did not run there.
  const HistoryReport report = detect_change_points(runs, HistoryOptions{});
  EXPECT_THAT(report.notes,
              ElementsAre(HasSubstr("llama/ffn: 1 run(s) left out: another definition or "
                                    "machine"),
                          HasSubstr("llama/norm: 1 run(s) left out")));
  EXPECT_EQ(report.series[0].medians_ns.size(), 15u);
  EXPECT_EQ(report.series[1].medians_ns.size(), 14u);
  HistoryOptions long_segments;
  long_segments.min_segment = 8;
  const HistoryReport skipped = detect_change_points(runs, long_segments);
  EXPECT_EQ(skipped.series[1].skipped, "14 timed run(s): too few for a change point (needs 16)");
  EXPECT_THAT(format_history(skipped), HasSubstr("not tested llama/norm: 14 timed run(s)"));
  EXPECT_THAT(
      [] {
        std::vector<HistoryRun> five = sixteen_runs();
        five.resize(5);
        detect_change_points(five, HistoryOptions{});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("5 stored run(s): a change point needs 3 runs on each side (min_segment), "
                    "so at least 6 runs")));
}

class HistoryFiles : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_.file(name); }
  test_support::ScratchDir scratch_;
};

TEST_F(HistoryFiles, RunsAreOrderedByCreationTime) {
  std::filesystem::create_directories(path("runs"));
  // File names in the opposite order of the runs.
  const std::vector<HistoryRun> runs = sixteen_runs();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    write_run_results(path("runs/z" + std::to_string(100 - i) + ".json"), runs[i].results);
  }
  const std::vector<HistoryRun> loaded = load_history({path("runs")});
  ASSERT_EQ(loaded.size(), 16u);
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    EXPECT_EQ(loaded[i].results.machine.commit, "c" + std::to_string(i));
  }
  EXPECT_THAT([&] { load_history({path("nothing")}); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("nothing: no such file or directory (stored results)")));
  std::filesystem::create_directories(path("empty"));
  EXPECT_THAT([&] { load_history({path("empty")}); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("no *.json results")));
  std::ofstream(path("runs/bad.json")) << R"({"format": "something"})";
  EXPECT_THAT([&] { load_history({path("runs")}); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("bad.json")));
}

}  // namespace
}  // namespace ttt

// Composition proven on a real model: block results of a suite, composed, against the causal LM
// they stand for (docs/PERFORMANCE.md "Composition: predicted vs measured").
//
// Built twice. With TTT_COMPOSE_CHECK_LATENCY=0 (label pattern: CI runs it) the test checks what
// does not depend on the machine's load: both compositions are complete and the measured model's
// accuracy lies inside the predicted band. With 1 (labels pattern and slow: a timed test belongs
// on an idle machine, `ctest --preset ci -L slow -R ComposeLatency`) it also checks the latency
// prediction: OpenBLAS runs one thread, the figures are the fastest CPU time of the process over
// 41 repetitions with the caches evicted before each (CPU time does not count the time other
// programs hold the cores; the minimum drops repetitions they slowed down through shared caches
// and memory bandwidth), CTest runs it alone (RUN_SERIAL), and a latency miss is measured again,
// up to 3 attempts in all: a build running beside it can hold memory bandwidth through a whole
// decode measurement (+22% seen once in 5 runs), while a wrong composition misses every time.
// Quiet, the measured latency stays within 7% of the prediction; the test allows 15%, and
// docs/PERFORMANCE.md records the measured errors against the 10% goal.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "blocks/common/matmul.h"
#include "models/model.h"
#include "suites/suite/compose.h"
#include "tests/common/scratch_dir.h"

namespace ttt {
namespace {

constexpr bool kCheckLatency = TTT_COMPOSE_CHECK_LATENCY;
constexpr double kLatencyTolerance = 0.15;
constexpr int kRepetitions = kCheckLatency ? 41 : 9;  // 9: the fewest a suite accepts.
constexpr int kAttempts = kCheckLatency ? 3 : 1;

// A Llama-3.2-shaped model that runs in seconds yet whose weights (31 M values, about 370 MB in
// device form) do not fit in the caches, as a real model's: hidden 1024, 16 query and 4 key/value
// heads of 64, SwiGLU 2816, vocabulary 4096, 2 layers; prefill of 64 tokens, decode at 63.
SuiteFile small_llama_suite() {
  static const test_support::ScratchDir scratch;
  const std::filesystem::path& dir = scratch.path();
  nlohmann::json config = catalog_config("llama-3.2-1b");
  config["hidden_size"] = 1024;
  config["intermediate_size"] = 2816;
  config["num_attention_heads"] = 16;
  config["num_key_value_heads"] = 4;
  config["head_dim"] = 64;
  config["num_hidden_layers"] = 2;
  config["vocab_size"] = 4096;
  config["tie_word_embeddings"] = false;
  std::ofstream(dir / "config.json") << config.dump();
  nlohmann::json cases = nlohmann::json::array();
  for (const char* mode : {"prefill", "decode"}) {
    for (const char* module : {"embedding", "layers.*.attention_norm", "layers.*.attention",
                               "layers.*.ffn_norm", "layers.*.ffn", "norm", "lm_head"}) {
      cases.push_back({{"module", module}, {"mode", mode}});
    }
  }
  const nlohmann::json suite = {{"suite", "small-llama"},
                                {"model", {{"config", "config.json"}}},
                                {"seed", 11},
                                {"defaults",
                                 {{"repetitions", kRepetitions},
                                  {"shapes", {{"batch", 1}, {"seq_len", 64}, {"context_len", 63}}},
                                  {"expect", {{"pcc", 0.99}}}}},
                                {"cases", cases}};
  std::ofstream(dir / "suite.json") << suite.dump(2);
  return load_suite_file((dir / "suite.json").string());
}

// One attempt: the suite's block results, composed, against the model measured right after.
struct Attempt {
  Composition composition;
  Comparison comparison;
  bool latency_within = false;
};

Attempt attempt(const SuiteFile& suite) {
  const RunResults results = run_suite_files({suite.file});
  EXPECT_TRUE(results.summary().ok()) << format_run_summary(results);
  ComposeOptions options;
  options.clock = TimingClock::cpu;
  options.statistic = "min";
  Attempt result;
  result.composition = compose(suite, results, options);
  const Measurement measurement =
      measure_model(suite, result.composition, {.warmup = 2, .repetitions = kRepetitions});
  result.comparison = compare(result.composition, measurement, kLatencyTolerance);
  result.latency_within = !result.comparison.modes.empty();
  for (const ModeComparison& mode : result.comparison.modes) {
    result.latency_within = result.latency_within && mode.latency_within;
  }
  return result;
}

// The two builds name their test apart, so that CTest (which names tests by GoogleTest's names)
// holds both.
#if TTT_COMPOSE_CHECK_LATENCY
#define TTT_COMPOSE_SUITE ComposeLatency
#else
#define TTT_COMPOSE_SUITE ComposeMeasure
#endif

TEST(TTT_COMPOSE_SUITE, BlockResultsPredictTheSmallModel) {
  const int threads = blas_threads();
  set_blas_threads(1);
  const SuiteFile suite = small_llama_suite();
  // Another program that takes memory bandwidth while either side is timed moves the latencies
  // apart (decode is memory-bound); a composition that is wrong misses on every attempt.
  std::string reports;
  Attempt last = attempt(suite);
  for (int tries = 1; tries < kAttempts && !last.latency_within; ++tries) {
    reports += format_composition(last.composition, &last.comparison);
    last = attempt(suite);
  }
  set_blas_threads(threads);
  const std::string report = format_composition(last.composition, &last.comparison);
  ASSERT_TRUE(last.composition.prefill && last.composition.decode);
  EXPECT_TRUE(last.composition.prefill->complete());
  EXPECT_TRUE(last.composition.decode->complete());
  ASSERT_EQ(last.comparison.modes.size(), 2u) << report;
  for (const ModeComparison& mode : last.comparison.modes) {
    SCOPED_TRACE(std::string(mode_name(mode.mode)));
    if (kCheckLatency) {
      EXPECT_TRUE(mode.latency_within) << reports << report;
    }
    EXPECT_TRUE(mode.accuracy_within) << report;
    // The model is accurate and its error is visible: the check is not vacuous.
    EXPECT_GT(mode.measured_nmse, 0.0);
    EXPECT_GT(mode.measured_pcc, 0.99);
  }
  std::cout << report;
}

}  // namespace
}  // namespace ttt

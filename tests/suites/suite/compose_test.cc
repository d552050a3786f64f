// Composition from block results: latency sums, slices and scaling, the error model of
// docs/suites.md computed by hand for a two-layer model, uncovered and ambiguous modules, and the
// checks that results belong to the suite.
#include "suites/suite/compose.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>

#include "tests/common/scratch_dir.h"
#include "tests/suites/suite/tiny_llama.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A two-layer Llama-shaped model: hidden 64, 4 heads of 16 (2 key/value heads), SwiGLU 128,
// vocabulary 96.
// In this process's scratch directory (CTest runs each test of this file in its own process).
std::string tiny_config_path() {
  static const test_support::ScratchDir scratch;
  nlohmann::json config = suites_test::tiny_llama_config(96);
  const std::string path = scratch.file("config.json");
  std::ofstream(path) << config.dump();
  return path;
}

nlohmann::json tiny_suite(const std::vector<std::string>& modules) {
  nlohmann::json cases = nlohmann::json::array();
  for (const std::string& module : modules) {
    cases.push_back({{"module", module}, {"mode", "prefill"}});
  }
  return {{"suite", "tiny"},
          {"model", {{"config", tiny_config_path()}}},
          {"defaults", {{"shapes", {{"batch", 1}, {"seq_len", 8}}}, {"expect", {{"pcc", 0.9}}}}},
          {"cases", cases}};
}

const std::vector<std::string> kAllModules = {"embedding",
                                              "layers.*.attention_norm",
                                              "layers.*.attention",
                                              "layers.*.ffn_norm",
                                              "layers.*.ffn",
                                              "norm",
                                              "lm_head"};

// Per module: latency (every repetition), NMSE and reference RMS of its output.
struct Figures {
  double ns;
  double nmse;
  double rms;
};
const std::map<std::string, Figures> kFigures = {
    {"embedding", {1000, 1e-5, 0.02}}, {"attention_norm", {100, 1e-6, 1.0}},
    {"attention", {2000, 2e-4, 1.0}},  {"ffn_norm", {100, 1e-6, 1.0}},
    {"ffn", {3000, 3e-4, 2.0}},        {"norm", {100, 1e-6, 1.0}},
    {"lm_head", {5000, 1e-4, 0.5}},    {"embedding_norm", {100, 2e-6, 1.0}},
};

RunResults results_for(const SuiteFile& file) {
  SuiteResult suite;
  suite.name = file.name;
  suite.fingerprint = make_suite(file).fingerprint();
  for (std::size_t i = 0; i < file.cases.size(); ++i) {
    const SuiteFileCase& c = file.cases[i];
    const Figures& figures = kFigures.at(c.module->slot);
    CaseResult result;
    result.id = c.id;
    result.index = static_cast<std::int64_t>(i);
    result.status = CaseStatus::pass;
    OutputResult output;
    output.name = "y";
    output.metrics.nmse = figures.nmse;
    output.reference_rms = figures.rms;
    result.outputs.push_back(output);
    const auto ns = static_cast<std::int64_t>(figures.ns);
    result.timing =
        TimingSamples{2, std::vector<std::int64_t>(9, ns), std::vector<std::int64_t>(9, ns / 2)};
    suite.cases.push_back(result);
  }
  RunResults results;
  results.suites.push_back(suite);
  return results;
}

const BlockContribution& row(const ModePrediction& prediction, const std::string& module) {
  for (const BlockContribution& block : prediction.blocks) {
    if (block.module == module) return block;
  }
  throw std::runtime_error("no row " + module);
}

TEST(Compose, AddsOccurrencesTimesBlockLatency) {
  const SuiteFile file = parse_suite_file(tiny_suite(kAllModules), "tiny.json", "");
  const Composition composition = compose(file, results_for(file));
  EXPECT_EQ(composition.layers, 2);
  EXPECT_EQ(composition.vocab_size, 96);
  ASSERT_TRUE(composition.prefill.has_value());
  EXPECT_FALSE(composition.decode.has_value());
  const ModePrediction& prefill = *composition.prefill;
  EXPECT_TRUE(prefill.complete());
  EXPECT_EQ(prefill.seq_len, 8);
  // 1000 + 2 x (100 + 2000 + 100 + 3000) + 100 + 5000.
  EXPECT_DOUBLE_EQ(prefill.latency_ns, 16500.0);
  EXPECT_EQ(row(prefill, "layers.*.ffn").instances, 2);
  EXPECT_DOUBLE_EQ(row(prefill, "layers.*.ffn").latency_ns, 6000.0);
  EXPECT_DOUBLE_EQ(row(prefill, "lm_head").latency_share, 5000.0 / 16500.0);

  ComposeOptions cpu;
  cpu.clock = TimingClock::cpu;
  EXPECT_DOUBLE_EQ(compose(file, results_for(file), cpu).prefill->latency_ns, 16500.0 / 2);
}

TEST(Compose, ErrorModelWeighsEachBlockByTheEnergyItAddsToTheStream) {
  const SuiteFile file = parse_suite_file(tiny_suite(kAllModules), "tiny.json", "");
  const ModePrediction prediction = *compose(file, results_for(file)).prefill;
  // Rounding to bfloat16 (8 significant bits) leaves an error uniform within +-ulp/2, ulp =
  // 2^(e-7) in the binade [2^e, 2^(e+1)): relative to x^2 that is between 2^-14 / 28 (values
  // spread evenly over the binade) and 2^-14 / 12 (every value at its binade's bottom).
  const double u = prediction.residual_rounding_nmse;
  EXPECT_GT(u, std::ldexp(1.0, -14) / 28.0);
  EXPECT_LT(u, std::ldexp(1.0, -14) / 12.0);

  // docs/suites.md: the stream starts with the embedding's energy; each branch adds its output
  // energy E and its blocks' fresh error sum(nmse) * E, each residual addition rounding u * S; an
  // earlier error grows by (S + g E) / S when a branch adds E. The band's edges take every
  // branch's g at 0, at its central value (attention 1; SwiGLU 1 + E[silu'(z)^2] / E[silu(z)^2]
  // = 2.0666342 for z ~ N(0, 1), by numpy quadrature) and one above.
  constexpr double kSwigluGain = 2.0666342;
  const auto walk = [&](double attention_gain, double ffn_gain) {
    double stream = 0.02 * 0.02;
    double error = 1e-5 * stream;
    for (int layer = 0; layer < 2; ++layer) {
      for (const auto& [nmse_sum, energy, g] :
           {std::tuple{1e-6 + 2e-4, 1.0, attention_gain}, std::tuple{1e-6 + 3e-4, 4.0, ffn_gain}}) {
        const double before = stream;
        stream += energy;
        error = error * (before + g * energy) / before + nmse_sum * energy + u * stream;
      }
    }
    return error / stream + 1e-6 + 1e-4;  // The final norm and the LM head see the whole signal.
  };
  EXPECT_NEAR(prediction.nmse, walk(1.0, kSwigluGain), 1e-6 * prediction.nmse);
  EXPECT_NEAR(prediction.nmse_low, walk(0.0, 0.0), 1e-15);
  EXPECT_NEAR(prediction.nmse_high, walk(2.0, kSwigluGain + 1.0), 1e-6 * prediction.nmse_high);
  // A gain of 1 everywhere (relative error preserved) would predict less than the gated MLP does.
  EXPECT_LT(walk(1.0, 1.0), prediction.nmse);
  EXPECT_LT(prediction.nmse_low, prediction.nmse);
  EXPECT_LT(prediction.nmse, prediction.nmse_high);
  EXPECT_DOUBLE_EQ(prediction.pcc, 1.0 / std::sqrt(1.0 + prediction.nmse));
  EXPECT_DOUBLE_EQ(prediction.pcc_low, 1.0 / std::sqrt(1.0 + prediction.nmse_high));
  // The FFN's share (central estimate): 3e-4 x 4 / 5.0004 + 3e-4 x 4 / 10.0004.
  EXPECT_NEAR(row(prediction, "layers.*.ffn").nmse_contribution,
              3e-4 * 4.0 / 5.0004 + 3e-4 * 4.0 / 10.0004, 1e-15);
  EXPECT_NEAR(row(prediction, "lm_head").nmse_contribution, 1e-4, 1e-18);
  EXPECT_DOUBLE_EQ(row(prediction, "layers.*.ffn").output_energy, 4.0);
}

// BLOOM's embedding norm renormalizes the stream: the embedding's relative error passes through it,
// its own adds, and the stream's energy becomes the norm's output energy (docs/suites.md).
TEST(Compose, AnEmbeddingNormRestartsTheStreamAtItsOutputEnergy) {
  static const test_support::ScratchDir scratch;
  nlohmann::json config = catalog_config("bloom-560m");
  config["hidden_size"] = 64;
  config["n_head"] = 4;
  config["n_layer"] = 2;
  config["vocab_size"] = 96;
  const std::string path = scratch.file("bloom.json");
  std::ofstream(path) << config.dump();
  nlohmann::json suite = tiny_suite(kAllModules);
  suite["model"] = {{"config", path}};
  suite["cases"].push_back({{"module", "embedding_norm"}, {"mode", "prefill"}});
  const SuiteFile file = parse_suite_file(suite, "tiny.json", "");
  const ModePrediction prediction = *compose(file, results_for(file)).prefill;
  ASSERT_TRUE(prediction.complete());
  // The low edge (every gain 0), walked by hand: the embedding (energy 0.02^2, NMSE 1e-5), then
  // the norm (NMSE 2e-6, energy 1): error energy (1e-5 + 2e-6) x 1, stream 1; each layer adds the
  // attention branch (energy 1, NMSE 1e-6 + 2e-4) and the MLP branch (energy 4, 1e-6 + 3e-4),
  // each addition rounding u x S; the final norm and LM head add 1e-6 + 1e-4.
  const double u = prediction.residual_rounding_nmse;
  double stream = 1.0;
  double error = 1e-5 + 2e-6;
  for (int layer = 0; layer < 2; ++layer) {
    for (const auto& [nmse_sum, energy] :
         {std::pair{1e-6 + 2e-4, 1.0}, std::pair{1e-6 + 3e-4, 4.0}}) {
      stream += energy;
      error += nmse_sum * energy + u * stream;
    }
  }
  EXPECT_NEAR(prediction.nmse_low, error / stream + 1e-6 + 1e-4, 1e-15);
  EXPECT_NEAR(row(prediction, "embedding_norm").nmse_contribution, 2e-6, 1e-18);
  EXPECT_DOUBLE_EQ(row(prediction, "embedding_norm").latency_ns, 100.0);
}

TEST(Compose, PredictsASliceWithFewerLayersAndAScaledVocabulary) {
  const SuiteFile file = parse_suite_file(tiny_suite(kAllModules), "tiny.json", "");
  ComposeOptions options;
  options.layers = 1;
  options.vocab_size = 48;
  const Composition composition = compose(file, results_for(file), options);
  EXPECT_EQ(composition.layers, 1);
  EXPECT_EQ(composition.model_layers, 2);
  // 1000 + (100 + 2000 + 100 + 3000) + 100 + 5000 x 48 / 96.
  EXPECT_DOUBLE_EQ(composition.prefill->latency_ns, 1000 + 5200 + 100 + 2500);
  EXPECT_EQ(row(*composition.prefill, "lm_head").scaling, "vocab 96 x 0.5");
}

// A suite file that slices its model (num_layers / vocab_size in "model") predicts a slice: the
// composition names the whole model's layers and vocabulary, so model targets are not judged
// against it as if it were the model.
TEST(Compose, ASuiteThatSlicesItsModelPredictsASlice) {
  nlohmann::json json = tiny_suite(kAllModules);
  json["model"]["num_layers"] = 1;
  json["model"]["vocab_size"] = 48;
  const SuiteFile file = parse_suite_file(json, "tiny.json", "");
  const Composition composition = compose(file, results_for(file));
  EXPECT_EQ(composition.layers, 1);
  EXPECT_EQ(composition.model_layers, 2);
  EXPECT_EQ(composition.vocab_size, 48);
  EXPECT_EQ(composition.model_vocab_size, 96);
}

TEST(Compose, ScalesPositionwiseBlocksLinearlyToAnotherSequenceLength) {
  const SuiteFile file = parse_suite_file(tiny_suite(kAllModules), "tiny.json", "");
  ComposeOptions options;
  options.seq_len = 16;
  const ModePrediction prediction = *compose(file, results_for(file), options).prefill;
  // Every block but the embedding lookup doubles: 1000 + 2 x (10400 + 5100).
  EXPECT_DOUBLE_EQ(prediction.latency_ns, 1000 + 2 * (10400.0 + 5100.0));
  EXPECT_EQ(row(prediction, "layers.*.ffn").scaling, "seq_len 8 -> 16 (linear)");
  EXPECT_EQ(row(prediction, "embedding").scaling, "");
}

TEST(Compose, ListsUncoveredModuleInstances) {
  const SuiteFile file =
      parse_suite_file(tiny_suite({"embedding", "layers.*.attention_norm", "layers.*.attention",
                                   "layers.*.ffn", "norm", "lm_head"}),
                       "tiny.json", "");
  const ModePrediction prediction = *compose(file, results_for(file)).prefill;
  EXPECT_FALSE(prediction.complete());
  EXPECT_THAT(prediction.uncovered, ElementsAre("layers.0.ffn_norm", "layers.1.ffn_norm"));
  EXPECT_DOUBLE_EQ(prediction.latency_ns, 16500.0 - 200.0);
  EXPECT_THAT(format_composition(compose(file, results_for(file))),
              HasSubstr("INCOMPLETE: no case for 2 module instance(s): layers.0.ffn_norm"));
}

TEST(Compose, RefusesAmbiguousCasesAndForeignResults) {
  nlohmann::json json = tiny_suite(kAllModules);
  json["cases"].push_back({{"module", "layers.*.ffn"}, {"mode", "prefill"}, {"name", "ffn2"}});
  const SuiteFile twice = parse_suite_file(json, "tiny.json", "");
  try {
    compose(twice, results_for(twice));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("cases 'ffn.prefill.s8' and 'ffn2' both stand for "
                                        "layers.0.ffn in prefill"));
  }
  json["cases"].back()["occurrences"] = 0;  // Left out of the composition.
  const SuiteFile kept = parse_suite_file(json, "tiny.json", "");
  EXPECT_NO_THROW(compose(kept, results_for(kept)));

  const SuiteFile file = parse_suite_file(tiny_suite(kAllModules), "tiny.json", "");
  RunResults foreign = results_for(file);
  foreign.suites[0].fingerprint = "0000000000000000";
  EXPECT_THROW(compose(file, foreign), std::invalid_argument);
  RunResults other = results_for(file);
  other.suites[0].name = "other";
  EXPECT_THROW(compose(file, other), std::invalid_argument);
  nlohmann::json no_model = tiny_suite(kAllModules);
  no_model.erase("model");
  no_model["cases"] = {{{"block", "rms_norm"}, {"mode", "prefill"}, {"spec", {{"dim", 8}}}}};
  EXPECT_THROW(compose(parse_suite_file(no_model, "x.json", ""), results_for(file)),
               std::invalid_argument);
}

TEST(Compose, ComparesAMeasurementWithThePrediction) {
  const SuiteFile file = parse_suite_file(tiny_suite(kAllModules), "tiny.json", "");
  const Composition composition = compose(file, results_for(file));
  Measurement measurement;
  measurement.prefill = ModeMeasurement{};
  measurement.prefill->timing.wall_ns = std::vector<std::int64_t>(9, 17500);
  measurement.prefill->timing.cpu_ns = std::vector<std::int64_t>(9, 17500);
  measurement.prefill->logits.nmse = composition.prefill->nmse;
  measurement.prefill->logits.pcc = 0.9999;
  const Comparison within = compare(composition, measurement, 0.10);
  ASSERT_EQ(within.modes.size(), 1u);
  EXPECT_NEAR(within.modes[0].latency_error, 17500.0 / 16500.0 - 1.0, 1e-12);
  EXPECT_TRUE(within.modes[0].latency_within);
  EXPECT_TRUE(within.modes[0].accuracy_within);
  EXPECT_TRUE(within.ok());
  const Comparison tight = compare(composition, measurement, 0.05);
  EXPECT_FALSE(tight.modes[0].latency_within);
  EXPECT_FALSE(tight.ok());
  measurement.prefill->logits.nmse = composition.prefill->nmse_high * 2;
  EXPECT_FALSE(compare(composition, measurement, 0.10).modes[0].accuracy_within);
  const std::string text = format_composition(composition, &within);
  EXPECT_THAT(text, HasSubstr("measured latency 0.018 ms (+6.1% vs predicted, within tolerance)"));
  EXPECT_THROW(compare(composition, measurement, -1.0), std::invalid_argument);
}

TEST(PccFromNmse, IsOneOverSqrtOnePlusNmse) {
  EXPECT_DOUBLE_EQ(pcc_from_nmse(0.0), 1.0);
  EXPECT_DOUBLE_EQ(pcc_from_nmse(0.02), 1.0 / std::sqrt(1.02));
  EXPECT_NEAR(pcc_from_nmse(1e-4), 1.0 - 0.5e-4, 1e-8);
}

}  // namespace
}  // namespace ttt

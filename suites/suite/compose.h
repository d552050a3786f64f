// Composition: model expectations predicted from block results alone, and the real model run to
// check them (docs/suites.md "Composition", docs/PERFORMANCE.md "Composition: predicted vs
// measured").
//
// A suite file names its model and, per case, the model module the case stands for
// ("layers.*.ffn", "lm_head"). compose() walks one forward of the model (or of a slice: fewer
// layers, a smaller vocabulary), finds the case of every module instance in each mode, and adds:
//   latency  = sum over instances of the case's latency (its p50 by default), the LM head scaled
//              by its vocabulary split; prefill for seq_len tokens, decode for one token per user;
//   accuracy = the first-order error model of docs/suites.md: each block's NMSE (measured against
//              its reference on the case's inputs) weighted by the energy its output carries into
//              the residual stream, propagated to the logits, with a band from how much later
//              layers amplify earlier errors; PCC ~= 1 / sqrt(1 + NMSE).
// Every module instance without a case is listed; the per-block contributions show which block
// dominates time and error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "blocks/common/device.h"
#include "suites/suite/results.h"
#include "suites/suite/suite_file.h"
#include "suites/suite/timing.h"

namespace ttt {

// What to predict. Every field has a default.
struct ComposeOptions {
  // Prefill tokens per user. 0: the seq_len of the suite's prefill cases (they must agree).
  std::int64_t seq_len = 0;
  // Decode: past positions per user. -1: the context_len of the suite's decode attention cases.
  std::int64_t context_len = -1;
  // Users. Default: 1.
  std::int64_t batch = 1;
  // Layers of the model to predict (a shaped slice); 0: all of the model's.
  std::int64_t layers = 0;
  // Vocabulary of the slice; 0: the model's. The LM head's latency scales linearly with it.
  std::int64_t vocab_size = 0;
  // Cases of this preset only (unset: cases without a preset).
  std::optional<Preset> preset = std::nullopt;
  // The clock and statistic of the block timings added up: "p50" (default), "min" or "mean".
  TimingClock clock = TimingClock::wall;
  std::string statistic = "p50";
};

// One module instance group of the forward and what its case contributes.
struct BlockContribution {
  std::string module;   // "layers.*.ffn" (every covered layer) or "lm_head".
  std::string case_id;  // The case that stands for it.
  std::string kind;
  std::int64_t instances = 0;  // Instances of the module in the (sliced) forward.
  double latency_count = 0.0;  // How many times the case's latency is counted.
  double case_latency_ns = 0.0;
  double latency_ns = 0.0;     // latency_count * case_latency_ns.
  double latency_share = 0.0;  // Of the mode's predicted latency.
  // The block's NMSE in the model: the case's (its worst output), or for decode attention the
  // larger of it and the prefill case's of the same module (docs/suites.md "Error model").
  double nmse = 0.0;
  std::string nmse_note;           // Where nmse came from when it is not the case's own.
  double output_energy = 0.0;      // Mean square of the case's reference output.
  double nmse_contribution = 0.0;  // Its part of the predicted logits NMSE (central estimate).
  double error_share = 0.0;        // Of the predicted logits NMSE.
  // Why the latency was scaled: "seq_len 64 -> 128 (linear)", "vocab 16032 x 8"; "" when not.
  std::string scaling;
};

// A prediction for one mode.
struct ModePrediction {
  Mode mode = Mode::prefill;
  std::int64_t batch = 1;
  std::int64_t seq_len = 0;      // Prefill tokens per user.
  std::int64_t context_len = 0;  // Decode past positions.
  double latency_ns = 0.0;       // Sum of the contributions.
  std::vector<BlockContribution> blocks;
  // Module instances no case stands for ("layers.3.ffn_norm"); the prediction leaves them out.
  std::vector<std::string> uncovered;
  // The logits' NMSE: central estimate and band (docs/suites.md "Error model").
  double nmse = 0.0;
  double nmse_low = 0.0;
  double nmse_high = 0.0;
  // PCC ~= 1 / sqrt(1 + NMSE): at nmse, nmse_high (pcc_low) and nmse_low (pcc_high).
  double pcc = 1.0;
  double pcc_low = 1.0;
  double pcc_high = 1.0;
  // The NMSE of rounding the residual stream to its format once (measured, not assumed).
  double residual_rounding_nmse = 0.0;

  bool complete() const { return uncovered.empty(); }
};

struct Composition {
  std::string suite;
  std::string model;
  std::string device;       // The suite's device ("N150").
  std::string mesh;         // The suite's mesh, which its cases ran on ("N150" for 1x1, "T3K").
  std::int64_t layers = 0;  // Layers predicted for.
  // The whole model's layers and vocabulary (before the suite file's num_layers / vocab_size).
  std::int64_t model_layers = 0;
  std::int64_t vocab_size = 0;  // Vocabulary predicted for.
  std::int64_t model_vocab_size = 0;
  std::string preset;           // "" when none.
  std::string clock;
  std::string statistic;
  // Unset when no case of the mode has a result to predict from: nothing is printed for it but
  // "no cases for decode: not predicted".
  std::optional<ModePrediction> prefill;
  std::optional<ModePrediction> decode;
};

// Predicts from `results` of `suite` (the suite's result in `results` must have the suite's
// fingerprint). Throws std::invalid_argument naming what is missing or inconsistent: the suite has
// no model, the results hold no run of the suite, two cases stand for the same instance, ...
Composition compose(const SuiteFile& suite, const RunResults& results,
                    const ComposeOptions& options = {});

// The PCC of signals whose NMSE is `nmse`, for zero-mean signals with uncorrelated error:
// 1 / sqrt(1 + nmse).
double pcc_from_nmse(double nmse);

// How the real model is run to check a composition.
struct MeasureOptions {
  int warmup = 2;  // Untimed forwards first.
  int repetitions = kMinRepetitions;
  // Evict the caches before every forward, as the suite does before every block repetition.
  bool cold_caches = true;
  // Selects the seeded weights and tokens. Default: the suite's seed.
  std::optional<std::uint64_t> seed = std::nullopt;
};

// The real model's figures in one mode.
struct ModeMeasurement {
  Mode mode = Mode::prefill;
  TimingSamples timing;  // One prefill of seq_len tokens, or one decode step, per repetition.
  Metrics logits;        // Device logits against the reference model's (composed module
                         // references in float64, float32 between modules).
};

struct Measurement {
  std::optional<ModeMeasurement> prefill;
  std::optional<ModeMeasurement> decode;
};

// Runs the causal LM of the suite's model with the composition's slice, device and preset,
// seeded weights drawn as the suite's seeded inputs are (same standard deviation), validation
// off; times prefill and decode and compares the logits with the reference model's.
Measurement measure_model(const SuiteFile& suite, const Composition& composition,
                          const MeasureOptions& options = {});

// Predicted against measured, per mode.
struct ModeComparison {
  Mode mode = Mode::prefill;
  double predicted_ns = 0.0;
  double measured_ns = 0.0;     // The measurement's statistic (as the composition's).
  double latency_error = 0.0;   // measured / predicted - 1.
  bool latency_within = false;  // |latency_error| <= latency_tolerance.
  double measured_nmse = 0.0;
  double measured_pcc = 0.0;
  bool accuracy_within = false;  // nmse_low <= measured NMSE <= nmse_high.
};

struct Comparison {
  double latency_tolerance = 0.10;
  std::vector<ModeComparison> modes;
  bool ok() const;
};

// Compares `measurement` with `composition`. REQUIRES: latency_tolerance >= 0.
Comparison compare(const Composition& composition, const Measurement& measurement,
                   double latency_tolerance = 0.10);

// JSON and text.
nlohmann::json to_json(const Composition& composition);
nlohmann::json to_json(const Measurement& measurement);
nlohmann::json to_json(const Comparison& comparison);
// A table per mode: contributions sorted by latency, the totals, the accuracy band; with a
// measurement, predicted against measured.
std::string format_composition(const Composition& composition,
                               const Comparison* comparison = nullptr);

}  // namespace ttt

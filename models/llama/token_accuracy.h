// Token accuracy: how often a device run predicts the tokens TTTv2's float64 reference predicts,
// the way the field judges a model (docs/debugging.md "Token accuracy"; `ttt accuracy` is the
// thin command around it).
//
// A token golden (validation/trace/token_golden.h) holds a prompt, the reference model's greedy
// continuation and its top-k next tokens at every position. The device run is teacher forced: it
// prefills the prompt and decodes the golden's continuation token by token, whatever it would
// have predicted itself, so one early miss does not derail the rest. At each position:
//   top-1: the device's most likely next token is the reference's most likely one;
//   top-5: the device's most likely next token is among the reference's five most likely.
// The golden's self-check runs the reference again on the golden's tokens: it must reproduce
// every top-k list, or the golden (or the reference) changed since it was made.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/degenerate_output.h"
#include "models/llama/model.h"
#include "validation/trace/token_golden.h"

namespace ttt::llama {

// The reference of `model` (patterns/reference_model.h) continues `prompt` greedily for
// `continuation` tokens; the golden keeps the top_k most likely next tokens at every position
// with their log-probabilities. REQUIRES: prompt non-empty, continuation >= 0, top_k >= 5.
// `provenance` is completed with the reference and numerics; its model, vocab_size and
// weights_hash are the caller's.
TokenGolden make_token_golden(const CausalLm& model, const std::vector<std::int64_t>& prompt,
                              std::int64_t continuation, std::int64_t top_k,
                              TokenGoldenProvenance provenance);

// The golden's provenance for the model of `directory` (name, vocabulary, weights hash).
TokenGoldenProvenance golden_provenance(const ModelDirectory& directory);

// Throws std::invalid_argument when `golden` (read from `golden_path`) was not made from the
// model of `directory`: its model name, vocabulary size or weights hash differ, each named with
// both values. Nothing may be judged against a golden of another model.
void check_golden_fits(const TokenGolden& golden, const std::string& golden_path,
                       const ModelDirectory& directory);

// Position-by-position agreement of predictions with a golden.
struct TokenAccuracy {
  std::int64_t positions = 0;
  std::int64_t top1_matches = 0;
  std::int64_t top5_matches = 0;
  std::int64_t first_top1_miss = -1;  // The first position whose top-1 differs; -1: none.
  // The near-tie rule of vLLM's model tests at the first top-1 miss: the device's token is in the
  // reference's top-5 and the reference's token in the device's top-5 (its logit exceeded by
  // fewer than 5 others). A near tie is a flip of almost equal candidates, not a bug by itself.
  // false when there is no miss.
  bool first_miss_near_tie = false;
  std::vector<std::int64_t> predicted;  // The most likely next token at each position.

  double top1() const { return positions == 0 ? 0.0 : double(top1_matches) / double(positions); }
  double top5() const { return positions == 0 ? 0.0 : double(top5_matches) / double(positions); }
};

// Scores logits [positions, vocab] (or [1, positions, vocab]) against `golden`. Throws
// std::invalid_argument when the shape is not the golden's positions and vocabulary.
TokenAccuracy score_token_accuracy(const TokenGolden& golden, const Tensor& logits);

// The logits [positions, vocab] of `model` teacher forced through the golden's tokens: a prefill
// of the prompt, then one decode step per continuation token.
Tensor teacher_forced_logits(const CausalLm& model, const TokenGolden& golden);

// The golden's self-check: the reference of `model` run again on the golden's tokens.
struct GoldenSelfCheck {
  TokenAccuracy accuracy;                // The reference now against the golden.
  std::int64_t differing_top_ids = 0;    // Positions whose top-k lists differ.
  double max_log_prob_difference = 0.0;  // Over every kept log-probability.
  // Every top-k list identical and the log-probabilities within 1e-9.
  bool passed() const {
    return differing_top_ids == 0 && max_log_prob_difference <= 1e-9 &&
           accuracy.top1_matches == accuracy.positions;
  }
};
GoldenSelfCheck self_check_token_golden(const CausalLm& model, const TokenGolden& golden);

// Targets per model and device: a JSON file
//   {"targets": [{"model": "tiny-llama-bytes", "device": "N150", "top1": 0.97, "top5": 1.0,
//                 "tolerance": 0.01}, ...]}
// A run passes when top-1 >= top1 - tolerance and top-5 >= top5 - tolerance.
struct AccuracyTarget {
  std::string model;
  std::string device;  // N150, N300, T3K or TG.
  double top1 = 0.0;
  double top5 = 0.0;
  double tolerance = 0.0;
};

// Reads a targets file through the strict JSON reader: unknown fields, a device TTTv2 does not
// know, fractions outside [0, 1] and a (model, device) pair listed twice are errors naming the file
// and the JSON Pointer.
std::vector<AccuracyTarget> read_accuracy_targets(const std::string& path);

// The target of `model` on `device`. Throws std::invalid_argument naming the file and listing the
// pairs it has when there is none.
const AccuracyTarget& find_accuracy_target(const std::vector<AccuracyTarget>& targets,
                                           const std::string& model, const std::string& device,
                                           const std::string& path);

// What `ttt accuracy` and `ttt demo --model` run: the device model teacher forced through the
// golden, the golden's self-check and the degenerate-output check of the device's predictions
// of the continuation, judged against a target when one is given.
struct TokenAccuracyOptions {
  Device device = Device::N150;
  std::optional<Preset> preset = std::nullopt;
  // Validate every call of the device run (slower; records go to the validation registry).
  // Default: off (token accuracy is the measure here).
  bool validate = false;
  std::optional<AccuracyTarget> target = std::nullopt;
};

struct TokenAccuracyReport {
  std::string model;
  std::string device;
  std::string preset;
  TokenAccuracy accuracy;
  GoldenSelfCheck self_check;
  DegenerateOutputVerdict device_output;     // The device's predictions of the continuation.
  DegenerateOutputVerdict reference_output;  // The golden's continuation.
  std::optional<AccuracyTarget> target;
  bool target_met = true;  // Without a target: true.

  // Self-check passed, the target (if any) met, and the device output not degenerate unless the
  // reference's is too.
  bool passed() const;
};

// REQUIRES: check_golden_fits(golden, ..., directory) passed.
TokenAccuracyReport run_token_accuracy(const ModelDirectory& directory, const TokenGolden& golden,
                                       const TokenAccuracyOptions& options = {});

// The report as lines of text (what `ttt accuracy` prints): accuracies, first miss, self-check,
// degenerate-output verdicts, target verdict; with decoded text when a tokenizer is given.
std::string format_token_accuracy(const TokenAccuracyReport& report, const TokenGolden& golden,
                                  const std::optional<ByteTokenizer>& tokenizer);

// JSON: {"model", "device", "preset", "positions", "top1", "top5", "top1_matches",
// "top5_matches", "first_top1_miss", "self_check": {...}, "degenerate": {...}, "target": {...}
// or null, "passed"}.
void to_json(nlohmann::json& json, const TokenAccuracyReport& report);

}  // namespace ttt::llama

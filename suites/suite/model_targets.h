// Model targets: what a model must achieve on a device, judged against a composition
// (docs/suites.md "Model targets"). One JSON file per model and device, e.g.
// suites/targets/llama-3.2-1b.N150.json:
//
//   {"format": "ttt-model-targets", "format_version": 1,
//    "model": "llama-3.2-1b", "device": "N150",
//    "source": "where the values come from",
//    "logits": {"pcc_min": 0.99},
//    "latency": {"prefill_ms": 250.0, "decode_ms": 20.0}}
//
// Sections are objects so that later targets (token accuracy) join as new sections; every
// unknown field is an error naming the file and the JSON path.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "suites/suite/compose.h"

namespace ttt {

// The targets file's "format" and "format_version".
inline constexpr std::string_view kModelTargetsFormat = "ttt-model-targets";
inline constexpr int kModelTargetsFormatVersion = 1;

struct ModelTargets {
  std::string file;    // Where it was read from ("" when built in code).
  std::string model;   // As a suite names it: a catalog name ("llama-3.2-1b") or a config path.
  std::string device;  // "N150", "N300", ...
  std::string source;  // Where the values come from (free text, required: a target says why).
  // The minimum PCC of the logits, judged on each predicted mode's central estimate.
  std::optional<double> logits_pcc_min;
  // Latency budgets of one prefill (the suite's seq_len) and one decode step, in milliseconds.
  std::optional<double> prefill_latency_ms;
  std::optional<double> decode_latency_ms;
};

// Parses targets. `source` names the file in errors. Throws std::invalid_argument
// "<source>: <JSON path>: <what>" for an unknown field, a wrong type, a value out of range
// (pcc_min outside (0, 1], a budget <= 0), another format or a newer version, or a file that
// sets no target.
ModelTargets model_targets_from_json(const nlohmann::json& json, const std::string& source);
// Reads and parses a targets file. Throws std::invalid_argument naming the file when it cannot be
// read or is not JSON.
ModelTargets load_model_targets(const std::string& path);

// Where a suite's targets live by convention: <directory of the suite file>/targets/
// <model>.<device>.json, for a suite naming a catalog model; "" for a model given by config path.
std::string default_targets_path(const std::string& suite_file, const std::string& model,
                                 const std::string& device);

// One target judged in one mode.
struct TargetVerdict {
  std::string mode;    // "prefill" or "decode".
  std::string target;  // "logits PCC" or "latency".
  bool judged = false;  // False when the mode was not predicted or the prediction is incomplete.
  bool passed = false;  // A target that could not be judged does not pass.
  std::optional<double> required;   // pcc_min, or the budget in ns.
  std::optional<double> predicted;  // The central PCC, or the predicted latency in ns.
  // "prefill logits PCC 0.984312 [0.979, 0.988] < minimum 0.99", "no cases for decode: not
  // predicted".
  std::string message;
};

struct TargetsJudgement {
  std::string file;
  std::string model;
  std::string device;
  std::vector<TargetVerdict> verdicts;
  // Every target passed.
  bool ok() const;
};

// True when `composition` predicts fewer layers or a smaller vocabulary than its model has.
bool is_slice(const Composition& composition);

// Judges `composition` (of a suite on `device`) against `targets`. Throws std::invalid_argument
// when the targets are for another model or device (naming both) or when the composition is a
// slice (fewer layers or a smaller vocabulary than the model's): targets are for whole models.
TargetsJudgement judge_targets(const Composition& composition, const ModelTargets& targets);

nlohmann::json to_json(const TargetsJudgement& judgement);
// "targets FILE (MODEL on DEVICE):" and one line per verdict ("  MISS prefill ...", "  pass ..."),
// then "targets: met" or "targets: N of M missed".
std::string format_targets(const TargetsJudgement& judgement);

}  // namespace ttt

#include "suites/suite/model_targets.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "models/model.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/markup/number.h"

namespace ttt {
namespace {

double positive_number(const JsonNode& node) {
  const double value = node.number();
  if (!std::isfinite(value) || value <= 0.0) node.fail("expected a finite number > 0");
  return value;
}

// The verdicts of one mode: every target that concerns it.
void judge_mode(Mode mode, const std::optional<ModePrediction>& prediction,
                const ModelTargets& targets, std::vector<TargetVerdict>& verdicts) {
  const std::string name(mode_name(mode));
  const std::optional<double> budget_ms =
      mode == Mode::prefill ? targets.prefill_latency_ms : targets.decode_latency_ms;
  std::vector<TargetVerdict> rows;
  if (targets.logits_pcc_min) {
    TargetVerdict row;
    row.target = "logits PCC";
    row.required = *targets.logits_pcc_min;
    rows.push_back(row);
  }
  if (budget_ms) {
    TargetVerdict row;
    row.target = "latency";
    row.required = *budget_ms * 1e6;
    rows.push_back(row);
  }
  for (TargetVerdict& row : rows) {
    row.mode = name;
    const std::string what = name + " " + row.target;
    if (!prediction) {
      row.message = what + " not judged: no cases for " + name + ": not predicted";
    } else if (!prediction->complete()) {
      row.message = what + " not judged: the prediction is incomplete (" +
                    std::to_string(prediction->uncovered.size()) +
                    " module instance(s) without a case)";
    } else if (row.target == "logits PCC") {
      row.judged = true;
      row.predicted = prediction->pcc;
      row.passed = prediction->pcc >= *row.required;
      // The minimum prints in full and the prediction beside it (docs/report-format.md).
      row.message = what + " " + format_beside(prediction->pcc, *row.required) + " [band " +
                    format_significant(prediction->pcc_low, 6) + ", " +
                    format_significant(prediction->pcc_high, 6) + "] " + (row.passed ? ">=" : "<") +
                    " minimum " + format_number(*row.required);
    } else {
      row.judged = true;
      row.predicted = prediction->latency_ns;
      row.passed = prediction->latency_ns <= *row.required;
      const double budget = *row.required / 1e6;
      row.message = what + " " + format_beside(prediction->latency_ns / 1e6, budget) + " ms" +
                    (row.passed ? " <= " : " > ") + "budget " + format_scaled(budget) + " ms";
    }
    verdicts.push_back(row);
  }
}

}  // namespace

ModelTargets model_targets_from_json(const nlohmann::json& json, const std::string& source) {
  const JsonNode root(json, source);
  root.allow_only({"format", "format_version", "model", "device", "source", "logits", "latency"});
  const std::string format = root.at("format").string();
  if (format != kModelTargetsFormat) {
    root.at("format").fail("is '" + format + "', expected '" + std::string(kModelTargetsFormat) +
                           "'");
  }
  const std::int64_t version = root.at("format_version").integer();
  if (version < 1 || version > kModelTargetsFormatVersion) {
    root.at("format_version")
        .fail("version " + std::to_string(version) + " is not supported (this build reads up to " +
              std::to_string(kModelTargetsFormatVersion) + ")");
  }
  ModelTargets targets;
  targets.file = source;
  targets.model = root.at("model").string();
  if (targets.model.empty()) root.at("model").fail("expected a model name, got \"\"");
  targets.device = root.at("device").string();
  try {
    parse_device(targets.device);
  } catch (const std::invalid_argument& error) {
    root.at("device").fail(error.what());
  }
  targets.source = root.at("source").string();
  if (targets.source.empty()) root.at("source").fail("say where the values come from");
  if (const auto logits = root.find("logits")) {
    logits->allow_only({"pcc_min"});
    if (const auto pcc = logits->find("pcc_min")) {
      const double value = pcc->number();
      if (!(value > 0.0 && value <= 1.0)) pcc->fail("expected a PCC in (0, 1]");
      targets.logits_pcc_min = value;
    }
  }
  if (const auto latency = root.find("latency")) {
    latency->allow_only({"prefill_ms", "decode_ms"});
    if (const auto value = latency->find("prefill_ms")) {
      targets.prefill_latency_ms = positive_number(*value);
    }
    if (const auto value = latency->find("decode_ms")) {
      targets.decode_latency_ms = positive_number(*value);
    }
  }
  if (!targets.logits_pcc_min && !targets.prefill_latency_ms && !targets.decode_latency_ms) {
    root.fail("sets no target (expected logits.pcc_min, latency.prefill_ms or latency.decode_ms)");
  }
  return targets;
}

ModelTargets load_model_targets(const std::string& path) {
  return model_targets_from_json(read_json_file(path, "the targets file"), path);
}

std::string default_targets_path(const std::string& suite_file, const std::string& model,
                                 const std::string& device) {
  if (!is_catalog_model(model)) return "";
  const std::filesystem::path directory = std::filesystem::path(suite_file).parent_path();
  return (directory / "targets" / (model + "." + device + ".json")).string();
}

bool TargetsJudgement::ok() const {
  for (const TargetVerdict& verdict : verdicts) {
    if (!verdict.passed) return false;
  }
  return true;
}

bool is_slice(const Composition& composition) {
  return composition.layers != composition.model_layers ||
         composition.vocab_size != composition.model_vocab_size;
}

TargetsJudgement judge_targets(const Composition& composition, const ModelTargets& targets) {
  const std::string where = targets.file.empty() ? "the targets" : targets.file;
  if (targets.model != composition.model) {
    throw std::invalid_argument("[compose] " + where + " are for model '" + targets.model +
                                "', the suite's model is '" + composition.model + "'");
  }
  if (targets.device != composition.device) {
    throw std::invalid_argument("[compose] " + where + " are for device " + targets.device +
                                ", the suite runs on " + composition.device);
  }
  if (is_slice(composition)) {
    throw std::invalid_argument(
        "[compose] " + where + " are for the whole model; the prediction is a slice (" +
        std::to_string(composition.layers) + " of " + std::to_string(composition.model_layers) +
        " layers, vocabulary " + std::to_string(composition.vocab_size) + " of " +
        std::to_string(composition.model_vocab_size) + ")");
  }
  TargetsJudgement judgement;
  judgement.file = targets.file;
  judgement.model = targets.model;
  judgement.device = targets.device;
  judge_mode(Mode::prefill, composition.prefill, targets, judgement.verdicts);
  judge_mode(Mode::decode, composition.decode, targets, judgement.verdicts);
  return judgement;
}

nlohmann::json to_json(const TargetsJudgement& judgement) {
  const auto optional_number = [](const std::optional<double>& value) -> nlohmann::json {
    if (!value) return nullptr;
    return *value;
  };
  nlohmann::json verdicts = nlohmann::json::array();
  for (const TargetVerdict& verdict : judgement.verdicts) {
    verdicts.push_back({{"mode", verdict.mode},
                        {"target", verdict.target},
                        {"judged", verdict.judged},
                        {"passed", verdict.passed},
                        {"required", optional_number(verdict.required)},
                        {"predicted", optional_number(verdict.predicted)},
                        {"message", verdict.message}});
  }
  return {{"file", judgement.file},
          {"model", judgement.model},
          {"device", judgement.device},
          {"ok", judgement.ok()},
          {"verdicts", verdicts}};
}

std::string format_targets(const TargetsJudgement& judgement) {
  std::ostringstream out;
  out << "\ntargets " << judgement.file << " (" << judgement.model << " on " << judgement.device
      << "):\n";
  std::size_t missed = 0;
  for (const TargetVerdict& verdict : judgement.verdicts) {
    out << "  " << (verdict.passed ? "pass " : "MISS ") << verdict.message << "\n";
    if (!verdict.passed) ++missed;
  }
  if (missed == 0) {
    out << "targets: met\n";
  } else {
    out << "targets: " << missed << " of " << judgement.verdicts.size() << " missed\n";
  }
  return out.str();
}

}  // namespace ttt

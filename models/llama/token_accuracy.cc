#include "models/llama/token_accuracy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "patterns/reference_model.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"

namespace ttt::llama {
namespace {

constexpr std::int64_t kTop5 = 5;

// The values of logits [..., vocab] as doubles, whatever their floating dtype.
std::vector<double> logit_values(const Tensor& logits) {
  if (logits.dtype() == DType::float64) {
    return {logits.doubles().begin(), logits.doubles().end()};
  }
  return {logits.floats().begin(), logits.floats().end()};
}

// The reference model's logits of `tokens`, [tokens, vocab].
std::vector<double> reference_logits(const CausalLm& reference,
                                     const std::vector<std::int64_t>& tokens) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  CausalLmCache cache = reference.make_cache(1, n);
  return logit_values(reference.prefill(Tensor::from_int64({1, n}, tokens), cache));
}

// The `k` largest logits of `row` (most likely first; equal logits: the lower id first) and their
// log-softmax, appended to `ids` and `log_probs`.
void append_top_k(std::span<const double> row, std::int64_t k, std::vector<std::int64_t>& ids,
                  std::vector<double>& log_probs) {
  const double max = *std::max_element(row.begin(), row.end());
  double sum = 0.0;
  for (const double value : row) sum += std::exp(value - max);
  const double log_sum = max + std::log(sum);
  std::vector<std::int64_t> order(row.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](std::int64_t a, std::int64_t b) {
                      const double x = row[static_cast<std::size_t>(a)];
                      const double y = row[static_cast<std::size_t>(b)];
                      return x > y || (x == y && a < b);
                    });
  for (std::int64_t rank = 0; rank < k; ++rank) {
    const std::int64_t id = order[static_cast<std::size_t>(rank)];
    ids.push_back(id);
    log_probs.push_back(row[static_cast<std::size_t>(id)] - log_sum);
  }
}

std::int64_t argmax(std::span<const double> row) {
  return std::max_element(row.begin(), row.end()) - row.begin();
}

std::string fixed(double value, int digits) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

std::string percent(std::int64_t part, std::int64_t whole) {
  return fixed(whole == 0 ? 0.0 : 100.0 * double(part) / double(whole), 1) + "% (" +
         std::to_string(part) + "/" + std::to_string(whole) + ")";
}

}  // namespace

TokenGolden make_token_golden(const CausalLm& model, const std::vector<std::int64_t>& prompt,
                              std::int64_t continuation, std::int64_t top_k,
                              TokenGoldenProvenance provenance) {
  if (prompt.empty() || continuation < 0 || top_k < kTop5) {
    throw std::invalid_argument(
        "[make_token_golden] needs a prompt, continuation >= 0 and top_k "
        ">= 5; got " +
        std::to_string(prompt.size()) +
        " prompt tokens, "
        "continuation " +
        std::to_string(continuation) + ", top_k " + std::to_string(top_k));
  }
  const CausalLm reference = reference_model(model);
  std::vector<std::int64_t> tokens = prompt;
  for (std::int64_t step = 0; step < continuation; ++step) {
    const std::vector<double> logits = reference_logits(reference, tokens);
    const std::size_t vocab = logits.size() / tokens.size();
    tokens.push_back(argmax(std::span<const double>(logits).last(vocab)));
  }
  // The top-k lists from one prefill of the whole sequence: the computation the self-check
  // repeats.
  const std::vector<double> logits = reference_logits(reference, tokens);
  const std::size_t vocab = logits.size() / tokens.size();
  TokenGolden golden;
  golden.prompt = prompt;
  golden.continuation.assign(tokens.begin() + static_cast<std::ptrdiff_t>(prompt.size()),
                             tokens.end());
  golden.top_k = top_k;
  for (std::size_t position = 0; position < tokens.size(); ++position) {
    append_top_k(std::span<const double>(logits).subspan(position * vocab, vocab), top_k,
                 golden.top_ids, golden.top_log_probs);
  }
  provenance.reference =
      "TTTv2's block references chained as the model (patterns/reference_model.h), greedy";
  provenance.numerics =
      "float64 inside every block, float32 between modules and in the residual sums";
  golden.provenance = std::move(provenance);
  validate_token_golden(golden, "make_token_golden");
  return golden;
}

TokenGoldenProvenance golden_provenance(const ModelDirectory& directory) {
  TokenGoldenProvenance provenance;
  provenance.model = directory.name;
  provenance.vocab_size = directory.config.spec.embedding.vocab_size;
  provenance.weights_hash = directory.weights_hash;
  return provenance;
}

void check_golden_fits(const TokenGolden& golden, const std::string& golden_path,
                       const ModelDirectory& directory) {
  const TokenGoldenProvenance& made = golden.provenance;
  const TokenGoldenProvenance run = golden_provenance(directory);
  std::vector<std::string> differences;
  if (made.model != run.model) {
    differences.push_back("model '" + made.model + "' vs '" + run.model + "'");
  }
  if (made.vocab_size != run.vocab_size) {
    differences.push_back("vocab_size " + std::to_string(made.vocab_size) + " vs " +
                          std::to_string(run.vocab_size));
  }
  if (made.weights_hash != run.weights_hash) {
    differences.push_back("weights " + made.weights_hash + " vs " + run.weights_hash);
  }
  if (differences.empty()) return;
  std::string message = "[accuracy] the golden " + golden_path +
                        " was made from another model than " + directory.path + " (golden vs run: ";
  for (std::size_t i = 0; i < differences.size(); ++i) {
    message += (i > 0 ? "; " : "") + differences[i];
  }
  throw std::invalid_argument(message + "); make one for this model with ttt accuracy --model " +
                              directory.path + " --make-golden FILE");
}

TokenAccuracy score_token_accuracy(const TokenGolden& golden, const Tensor& logits) {
  const std::int64_t positions = golden.positions();
  const std::int64_t vocab = golden.provenance.vocab_size;
  if (logits.numel() != positions * vocab || logits.dim(-1) != vocab) {
    throw std::invalid_argument("[accuracy] logits of shape " + shape_to_string(logits.shape()) +
                                " do not hold the golden's " + std::to_string(positions) +
                                " positions of vocabulary " + std::to_string(vocab));
  }
  const std::vector<double> values = logit_values(logits);
  TokenAccuracy accuracy;
  accuracy.positions = positions;
  for (std::int64_t position = 0; position < positions; ++position) {
    const std::int64_t predicted = argmax(std::span<const double>(values).subspan(
        static_cast<std::size_t>(position * vocab), static_cast<std::size_t>(vocab)));
    accuracy.predicted.push_back(predicted);
    if (predicted == golden.top_id(position, 0)) {
      ++accuracy.top1_matches;
    } else if (accuracy.first_top1_miss < 0) {
      accuracy.first_top1_miss = position;
      const std::span<const double> row = std::span<const double>(values).subspan(
          static_cast<std::size_t>(position * vocab), static_cast<std::size_t>(vocab));
      const double reference_logit = row[static_cast<std::size_t>(golden.top_id(position, 0))];
      const auto above = std::count_if(row.begin(), row.end(),
                                       [&](double logit) { return logit > reference_logit; });
      bool device_in_reference = false;
      for (std::int64_t rank = 0; rank < kTop5; ++rank) {
        device_in_reference = device_in_reference || predicted == golden.top_id(position, rank);
      }
      accuracy.first_miss_near_tie = device_in_reference && above < kTop5;
    }
    for (std::int64_t rank = 0; rank < kTop5; ++rank) {
      if (predicted == golden.top_id(position, rank)) {
        ++accuracy.top5_matches;
        break;
      }
    }
  }
  return accuracy;
}

Tensor teacher_forced_logits(const CausalLm& model, const TokenGolden& golden) {
  const auto prompt = static_cast<std::int64_t>(golden.prompt.size());
  const std::int64_t positions = golden.positions();
  const std::int64_t vocab = golden.provenance.vocab_size;
  CausalLmCache cache = model.make_cache(1, positions);
  std::vector<double> rows =
      logit_values(model.prefill(Tensor::from_int64({1, prompt}, golden.prompt), cache));
  for (std::int64_t step = 0; step < positions - prompt; ++step) {
    const Tensor logits =
        model.decode(Tensor::from_int64({1}, {golden.continuation[static_cast<std::size_t>(step)]}),
                     Tensor::from_int64({1}, {prompt + step}), cache);
    const std::vector<double> row = logit_values(logits);
    rows.insert(rows.end(), row.begin(), row.end());
  }
  return Tensor::from_doubles({positions, vocab}, std::move(rows));
}

GoldenSelfCheck self_check_token_golden(const CausalLm& model, const TokenGolden& golden) {
  const std::vector<double> logits = reference_logits(reference_model(model), golden.tokens());
  const std::int64_t vocab = golden.provenance.vocab_size;
  GoldenSelfCheck check;
  check.accuracy =
      score_token_accuracy(golden, Tensor::from_doubles({golden.positions(), vocab}, logits));
  for (std::int64_t position = 0; position < golden.positions(); ++position) {
    std::vector<std::int64_t> ids;
    std::vector<double> log_probs;
    append_top_k(std::span<const double>(logits).subspan(static_cast<std::size_t>(position * vocab),
                                                         static_cast<std::size_t>(vocab)),
                 golden.top_k, ids, log_probs);
    bool same = true;
    for (std::int64_t rank = 0; rank < golden.top_k; ++rank) {
      const auto flat = static_cast<std::size_t>(position * golden.top_k + rank);
      same = same && ids[static_cast<std::size_t>(rank)] == golden.top_ids[flat];
      check.max_log_prob_difference = std::max(
          check.max_log_prob_difference,
          std::abs(log_probs[static_cast<std::size_t>(rank)] - golden.top_log_probs[flat]));
    }
    check.differing_top_ids += same ? 0 : 1;
  }
  return check;
}

std::vector<AccuracyTarget> read_accuracy_targets(const std::string& path) {
  const nlohmann::json json = read_json_file(path, "the targets file");
  const JsonNode root(json, path);
  root.allow_only({"targets"});
  const JsonNode list = root.at("targets");
  std::vector<AccuracyTarget> targets;
  const auto fraction = [](const JsonNode& node) {
    const double value = node.number();
    if (!(value >= 0.0 && value <= 1.0))
      node.fail("expected a fraction in [0, 1], got " + node.json().dump());
    return value;
  };
  for (std::size_t i = 0; i < list.size(); ++i) {
    const JsonNode entry = list.at(i);
    entry.allow_only({"model", "device", "top1", "top5", "tolerance"});
    AccuracyTarget target;
    target.model = entry.at("model").string();
    target.device = entry.at("device").string();
    try {
      parse_device(target.device);
    } catch (const std::invalid_argument&) {
      entry.at("device").fail("unknown device '" + target.device +
                              "' (expected one of: N150, N300, T3K, TG)");
    }
    target.top1 = fraction(entry.at("top1"));
    target.top5 = fraction(entry.at("top5"));
    target.tolerance = fraction(entry.at("tolerance"));
    for (const AccuracyTarget& earlier : targets) {
      if (earlier.model == target.model && earlier.device == target.device) {
        entry.fail("model '" + target.model + "' on " + target.device + " is listed twice");
      }
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

const AccuracyTarget& find_accuracy_target(const std::vector<AccuracyTarget>& targets,
                                           const std::string& model, const std::string& device,
                                           const std::string& path) {
  std::string known;
  for (const AccuracyTarget& target : targets) {
    if (target.model == model && target.device == device) return target;
    known += (known.empty() ? "" : ", ") + target.model + " on " + target.device;
  }
  throw std::invalid_argument("[accuracy] " + path + " has no target for model '" + model +
                              "' on " + device +
                              " (it has: " + (known.empty() ? std::string("none") : known) + ")");
}

bool TokenAccuracyReport::passed() const {
  return self_check.passed() && target_met &&
         (!device_output.degenerate || reference_output.degenerate);
}

TokenAccuracyReport run_token_accuracy(const ModelDirectory& directory, const TokenGolden& golden,
                                       const TokenAccuracyOptions& options) {
  LlamaModelOptions model_options;
  model_options.device = options.device;
  model_options.preset = options.preset;
  model_options.validate = options.validate;
  const LlamaModel built = build_llama_model(directory, model_options);
  TokenAccuracyReport report;
  report.model = directory.name;
  report.device = std::string(device_name(options.device));
  report.preset =
      options.preset.has_value() ? std::string(preset_name(*options.preset)) : "default";
  report.accuracy = score_token_accuracy(golden, teacher_forced_logits(built.model, golden));
  report.self_check = self_check_token_golden(built.model, golden);
  // The device's predictions of the continuation's tokens: positions prompt - 1 .. end - 1.
  const auto first = static_cast<std::ptrdiff_t>(golden.prompt.size()) - 1;
  const std::vector<std::int64_t> predicted(
      report.accuracy.predicted.begin() + first,
      report.accuracy.predicted.begin() + first +
          static_cast<std::ptrdiff_t>(golden.continuation.size()));
  report.device_output = check_degenerate_output(predicted);
  report.reference_output = check_degenerate_output(golden.continuation);
  report.target = options.target;
  if (report.target.has_value()) {
    report.target_met = report.accuracy.top1() >= report.target->top1 - report.target->tolerance &&
                        report.accuracy.top5() >= report.target->top5 - report.target->tolerance;
  }
  return report;
}

std::string format_token_accuracy(const TokenAccuracyReport& report, const TokenGolden& golden,
                                  const std::optional<ByteTokenizer>& tokenizer) {
  std::ostringstream out;
  const TokenAccuracy& accuracy = report.accuracy;
  out << "token accuracy of " << report.model << " on " << report.device << " (preset "
      << report.preset << "), teacher forced through " << golden.prompt.size() << " prompt and "
      << golden.continuation.size() << " continuation tokens:\n"
      << "  top-1 " << percent(accuracy.top1_matches, accuracy.positions) << ", top-5 "
      << percent(accuracy.top5_matches, accuracy.positions) << "\n";
  if (accuracy.first_top1_miss >= 0) {
    const std::int64_t position = accuracy.first_top1_miss;
    out << "  first top-1 miss at position " << position << ": device "
        << accuracy.predicted[static_cast<std::size_t>(position)] << ", reference "
        << golden.top_id(position, 0)
        << (accuracy.first_miss_near_tie
                ? " (a near tie: each token in the other's top-5)\n"
                : " (not a near tie: a token outside the other's top-5)\n");
  }
  if (tokenizer.has_value()) {
    const auto first = static_cast<std::ptrdiff_t>(golden.prompt.size()) - 1;
    const std::vector<std::int64_t> predicted(
        accuracy.predicted.begin() + first,
        accuracy.predicted.begin() + first +
            static_cast<std::ptrdiff_t>(golden.continuation.size()));
    out << "  prompt:    " << quoted_text(tokenizer->decode(golden.prompt)) << "\n"
        << "  reference: " << quoted_text(tokenizer->decode(golden.continuation)) << "\n"
        << "  device:    " << quoted_text(tokenizer->decode(predicted)) << "\n";
  }
  const GoldenSelfCheck& check = report.self_check;
  out << "golden self-check (the reference run again): " << (check.passed() ? "PASS" : "FAIL")
      << ", top-1 " << percent(check.accuracy.top1_matches, check.accuracy.positions) << ", "
      << check.differing_top_ids << " positions with other top-" << golden.top_k
      << " lists, log-probabilities within " << check.max_log_prob_difference << "\n"
      << "device output: " << report.device_output.summary << "\n"
      << "reference output: " << report.reference_output.summary << "\n";
  if (report.target.has_value()) {
    const AccuracyTarget& target = *report.target;
    out << "target (" << target.model << " on " << target.device
        << "): top-1 >= " << fixed(target.top1, 3) << ", top-5 >= " << fixed(target.top5, 3)
        << " (tolerance " << fixed(target.tolerance, 3)
        << "): " << (report.target_met ? "met" : "NOT met") << "\n";
  } else {
    out << "target: none given (not judged)\n";
  }
  out << "token accuracy: " << (report.passed() ? "PASS" : "FAIL") << "\n";
  return out.str();
}

void to_json(nlohmann::json& json, const TokenAccuracyReport& report) {
  const auto degenerate = [](const DegenerateOutputVerdict& verdict) {
    return nlohmann::json{{"degenerate", verdict.degenerate},
                          {"adjacent_repetition", verdict.adjacent_repetition},
                          {"loop_period", verdict.loop_period},
                          {"loop_tokens", verdict.loop_tokens},
                          {"summary", verdict.summary}};
  };
  json = {{"model", report.model},
          {"device", report.device},
          {"preset", report.preset},
          {"positions", report.accuracy.positions},
          {"top1", report.accuracy.top1()},
          {"top5", report.accuracy.top5()},
          {"top1_matches", report.accuracy.top1_matches},
          {"top5_matches", report.accuracy.top5_matches},
          {"first_top1_miss", report.accuracy.first_top1_miss},
          {"first_miss_near_tie", report.accuracy.first_miss_near_tie},
          {"self_check",
           {{"passed", report.self_check.passed()},
            {"top1", report.self_check.accuracy.top1()},
            {"differing_top_ids", report.self_check.differing_top_ids},
            {"max_log_prob_difference", report.self_check.max_log_prob_difference}}},
          {"degenerate",
           {{"device", degenerate(report.device_output)},
            {"reference", degenerate(report.reference_output)}}},
          {"target", nullptr},
          {"passed", report.passed()}};
  if (report.target.has_value()) {
    const AccuracyTarget& target = *report.target;
    json["target"] = {{"model", target.model},         {"device", target.device},
                      {"top1", target.top1},           {"top5", target.top5},
                      {"tolerance", target.tolerance}, {"met", report.target_met}};
  }
}

}  // namespace ttt::llama

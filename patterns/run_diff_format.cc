// The text and JSON forms of a run diff (run_diff.h): what `ttt diff` prints and writes.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "patterns/run_diff.h"
#include "validation/markup/number.h"

namespace ttt {
namespace {

// "0-28, 30, 32-33".
std::string ranges(const std::vector<std::int64_t>& positions) {
  std::string text;
  for (std::size_t i = 0; i < positions.size();) {
    std::size_t j = i;
    while (j + 1 < positions.size() && positions[j + 1] == positions[j] + 1) ++j;
    if (!text.empty()) text += ", ";
    text += std::to_string(positions[i]);
    if (j > i) text += "-" + std::to_string(positions[j]);
    i = j + 1;
  }
  return text;
}

std::string token_line(const std::vector<std::int64_t>& tokens) {
  std::string text;
  for (const std::int64_t token : tokens) text += " " + std::to_string(token);
  return text;
}

std::string step_name(std::int64_t step) {
  return step == 0 ? "the prefill" : "decode step " + std::to_string(step - 1);
}

// How far an input or output pair is apart: "identical" or "pcc 0.98, nmse 0.012".
std::string distance(const Metrics& metrics) {
  if (metrics.max_abs_error == 0.0 && metrics.nonfinite_mismatched == 0) return "identical";
  return "pcc " + format_significant(metrics.pcc, 6) + ", nmse " +
         format_significant(metrics.nmse, 4) + ", max abs error " +
         format_significant(metrics.max_abs_error, 4);
}

std::string describe_call(const CallDiff& call) {
  std::string text = std::to_string(call.seq) + " " + call.name + " (" +
                     (call.block.empty() ? std::string("no block kind") : call.block) +
                     (call.layer ? ", layer " + std::to_string(*call.layer) : std::string()) + ")";
  for (const OutputDiff& output : call.outputs) {
    text += ": " + output.name + ": " +
            (output.verdict.passed ? distance(output.metrics) + ", within its band"
                                   : output.verdict.text());
  }
  if (call.input_x) {
    text += "; its input x: " + distance(*call.input_x) +
            (call.input_x->max_abs_error == 0.0 ? " (the divergence starts in this call)"
                                                : " (received)");
  }
  return text;
}

// The worst output of a call: its largest nmse.
const OutputDiff* worst_output(const CallDiff& call) {
  const OutputDiff* worst = nullptr;
  for (const OutputDiff& output : call.outputs) {
    if (worst == nullptr || output.metrics.nmse > worst->metrics.nmse) worst = &output;
  }
  return worst;
}

void format_layers_at_step(const RunDiff& diff, std::int64_t step, std::string& text) {
  std::map<std::int64_t, const CallDiff*> worst;
  for (const CallDiff& call : diff.calls) {
    if (call.step != step || !call.layer || call.outputs.empty()) continue;
    const CallDiff*& current = worst[*call.layer];
    if (current == nullptr ||
        worst_output(call)->metrics.nmse > worst_output(*current)->metrics.nmse) {
      current = &call;
    }
  }
  text += "per layer at " + step_name(step) + " (its call farthest apart):\n";
  for (const auto& [layer, call] : worst) {
    const OutputDiff& output = *worst_output(*call);
    text += "  layer " + std::to_string(layer) + ": " + call->name + " " + output.name + ": " +
            distance(output.metrics) +
            (call->within_band() ? ": within its band" : ": beyond its band") + "\n";
  }
}

void format_kv(const RunDiff& diff, std::string& text) {
  if (diff.kv.empty()) {
    text += "KV cache: not compared (no decode call holds a cache)\n";
    return;
  }
  text += "KV cache (each layer's last decode call's input cache";
  if (diff.divergence) {
    text += "; from position " + std::to_string(diff.divergence->position) +
            " on, written after the tokens diverged, not judged";
  }
  text += "):\n";
  for (const KvLayerDiff& layer : diff.kv) {
    text += "  layer " + std::to_string(layer.layer) + " (positions 0-" +
            std::to_string(layer.positions - 1) + " of call " + std::to_string(layer.seq) + " " +
            layer.call + ", " + layer.dtype + "): ";
    if (layer.differing.empty()) {
      text += "K and V identical at every position\n";
      continue;
    }
    std::vector<std::int64_t> k_before, v_before, after, beyond;
    const KvPositionDiff* worst = nullptr;
    for (const KvPositionDiff& position : layer.differing) {
      if (!position.judged) {
        after.push_back(position.position);
        continue;
      }
      if (position.k.max_abs_error > 0.0 || position.k.nonfinite_mismatched > 0) {
        k_before.push_back(position.position);
      }
      if (position.v.max_abs_error > 0.0 || position.v.nonfinite_mismatched > 0) {
        v_before.push_back(position.position);
      }
      if (!position.within_band) beyond.push_back(position.position);
      const double error = std::max(position.k.max_abs_error, position.v.max_abs_error);
      if (worst == nullptr || error > std::max(worst->k.max_abs_error, worst->v.max_abs_error)) {
        worst = &position;
      }
    }
    std::vector<std::string> parts;
    if (!k_before.empty()) parts.push_back("K differs at " + ranges(k_before));
    if (!v_before.empty()) parts.push_back("V differs at " + ranges(v_before));
    if (worst != nullptr) {
      parts.push_back("largest at position " + std::to_string(worst->position) + ": K " +
                      distance(worst->k) + "; V " + distance(worst->v));
      parts.push_back(beyond.empty() ? "within the " + layer.dtype + " band"
                                     : "beyond the " + layer.dtype + " band at " + ranges(beyond));
    } else {
      parts.push_back("K and V identical before the divergence");
    }
    if (!after.empty()) parts.push_back("after the divergence they differ at " + ranges(after));
    for (std::size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? "" : "; ") + parts[i];
    text += "\n";
  }
}

nlohmann::json call_json(const CallDiff& call) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const OutputDiff& output : call.outputs) {
    outputs.push_back({{"name", output.name},
                       {"band", to_json(output.band)},
                       {"metrics", to_json(output.metrics)},
                       {"verdict", to_json(output.verdict)}});
  }
  return {{"seq", call.seq},
          {"name", call.name},
          {"block", call.block},
          {"layer", call.layer ? nlohmann::json(*call.layer) : nlohmann::json(nullptr)},
          {"step", call.step},
          {"within_band", call.within_band()},
          {"outputs", std::move(outputs)},
          {"input_x", call.input_x ? to_json(*call.input_x) : nlohmann::json(nullptr)}};
}

}  // namespace

std::string format_run_diff(const RunDiff& diff) {
  std::string text = "A: " + diff.trace_a + "\nB: " + diff.trace_b + "\n" + "prompt of " +
                     std::to_string(diff.prompt.size()) + " tokens; " + std::to_string(diff.steps) +
                     " steps (the prefill and " + std::to_string(diff.steps - 1) +
                     " decode steps); " + std::to_string(diff.layers) + " layers\n";
  text += "tokens from position " + std::to_string(diff.prompt.size()) +
          ":\n  A:" + token_line(diff.tokens_a) + "\n  B:" + token_line(diff.tokens_b) + "\n";
  const std::string k = std::to_string(diff.logits.top_k);
  if (diff.divergence) {
    const TokenDivergence& at = *diff.divergence;
    const LogitsRow& row = diff.logits.rows.back();
    text += "first divergent token: position " + std::to_string(at.position) + " (" +
            step_name(at.step) + "): A " + std::to_string(at.token_a) + ", B " +
            std::to_string(at.token_b) + ", logits pcc " + format_significant(row.pcc, 6) + ": ";
    if (at.near_tie) {
      text += "a near tie, each in the other's top-" + k + "\n";
    } else {
      std::vector<std::string> misses;
      if (!row.device_top1_in_reference_top_k) {
        misses.push_back("A's " + std::to_string(at.token_a) + " not in B's top-" + k);
      }
      if (!row.reference_top1_in_device_top_k) {
        misses.push_back("B's " + std::to_string(at.token_b) + " not in A's top-" + k);
      }
      for (std::size_t i = 0; i < misses.size(); ++i) text += (i == 0 ? "" : "; ") + misses[i];
      text += "\n";
    }
  } else {
    text += "tokens: no divergence: top-1 agrees at all " + std::to_string(diff.steps) + " steps\n";
  }

  const auto beyond = std::count_if(diff.calls.begin(), diff.calls.end(),
                                    [](const CallDiff& call) { return !call.within_band(); });
  text += "calls compared: " + std::to_string(diff.calls.size()) +
          (diff.divergence ? " (through " + step_name(diff.divergence->step) + ")" : "") + ", " +
          std::to_string(beyond) + " beyond their band\n";
  if (diff.first_difference) {
    text +=
        "first call whose outputs differ: " + describe_call(diff.calls[*diff.first_difference]) +
        "\n";
  }
  if (diff.divergence) {
    text += "first call beyond its band at the divergent token: " +
            (diff.first_out_of_band_at_divergence
                 ? describe_call(diff.calls[*diff.first_out_of_band_at_divergence])
                 : std::string("none")) +
            "\n";
  }
  if (diff.first_out_of_band) {
    text += "first call beyond its band in the run: " +
            describe_call(diff.calls[*diff.first_out_of_band]) + "\n";
  }
  if (diff.divergence) format_layers_at_step(diff, diff.divergence->step, text);
  format_kv(diff, text);

  if (diff.agree()) {
    text += diff.divergence ? "verdict: the runs agree within their bands (the tokens diverge "
                              "at a near tie)\n"
                            : "verdict: no divergence: the runs agree within their bands\n";
  } else {
    std::vector<std::string> reasons;
    if (!diff.logits.passed) reasons.push_back("a token diverges that is no near tie");
    if (beyond > 0) reasons.push_back(std::to_string(beyond) + " calls beyond their band");
    const auto kv_layers =
        std::count_if(diff.kv.begin(), diff.kv.end(),
                      [](const KvLayerDiff& layer) { return !layer.within_band(); });
    if (kv_layers > 0) {
      reasons.push_back("the KV cache beyond its band in " + std::to_string(kv_layers) + " layers");
    }
    text += "verdict: the runs diverge:";
    for (std::size_t i = 0; i < reasons.size(); ++i) text += (i == 0 ? " " : "; ") + reasons[i];
    text += "\n";
  }
  return text;
}

nlohmann::json to_json(const RunDiff& diff) {
  nlohmann::json divergence = nullptr;
  if (diff.divergence) {
    divergence = {{"step", diff.divergence->step},
                  {"position", diff.divergence->position},
                  {"token_a", diff.divergence->token_a},
                  {"token_b", diff.divergence->token_b},
                  {"near_tie", diff.divergence->near_tie}};
  }
  nlohmann::json calls = nlohmann::json::array();
  for (const CallDiff& call : diff.calls) calls.push_back(call_json(call));
  const auto indexed = [&](const std::optional<std::size_t>& index) {
    return index ? call_json(diff.calls[*index]) : nlohmann::json(nullptr);
  };
  nlohmann::json kv = nlohmann::json::array();
  for (const KvLayerDiff& layer : diff.kv) {
    nlohmann::json differing = nlohmann::json::array();
    for (const KvPositionDiff& position : layer.differing) {
      differing.push_back({{"position", position.position},
                           {"judged", position.judged},
                           {"within_band", position.within_band},
                           {"k", to_json(position.k)},
                           {"v", to_json(position.v)}});
    }
    kv.push_back({{"layer", layer.layer},
                  {"seq", layer.seq},
                  {"call", layer.call},
                  {"positions", layer.positions},
                  {"judged_positions", layer.judged_positions},
                  {"dtype", layer.dtype},
                  {"within_band", layer.within_band()},
                  {"differing", std::move(differing)}});
  }
  return {{"trace_a", diff.trace_a},
          {"trace_b", diff.trace_b},
          {"prompt", diff.prompt},
          {"steps", diff.steps},
          {"tokens_a", diff.tokens_a},
          {"tokens_b", diff.tokens_b},
          {"logits", to_json(diff.logits)},
          {"divergence", std::move(divergence)},
          {"calls", std::move(calls)},
          {"first_difference", indexed(diff.first_difference)},
          {"first_out_of_band", indexed(diff.first_out_of_band)},
          {"first_out_of_band_at_divergence", indexed(diff.first_out_of_band_at_divergence)},
          {"kv", std::move(kv)},
          {"agree", diff.agree()}};
}

}  // namespace ttt

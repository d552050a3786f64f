#include "patterns/run_diff.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "blocks/registration.h"
#include "patterns/causal_lm.h"
#include "validation/registry/block_registry.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/error_propagation.h"

namespace ttt {
namespace {

// The call names of causal_lm.h the diff reads.
constexpr const char* kEmbeddingPrefill = "embedding.prefill";
constexpr const char* kEmbeddingDecode = "embedding.decode";
constexpr const char* kLmHeadPrefill = "lm_head.prefill";
constexpr const char* kLmHeadDecode = "lm_head.decode";

[[noreturn]] void refuse(const std::string& message) {
  throw std::invalid_argument("[diff] " + message);
}

// One run's calls (attributes and tensor listings) with the step of each, the embedding prefill
// and the LM head call of each step.
struct RunCalls {
  const TraceReader* trace = nullptr;
  std::string file;  // The trace's path, for messages.
  std::vector<TraceCall> calls;
  std::vector<std::int64_t> step_of;  // Per call.
  std::size_t embedding_prefill = 0;
  std::vector<std::size_t> lm_head;  // Per step.
};

RunCalls list_calls(const TraceReader& trace) {
  RunCalls run;
  run.trace = &trace;
  run.file = trace.path();
  std::int64_t step = 0;
  std::int64_t prefills = 0;
  std::map<std::int64_t, std::size_t> lm_head;
  for (const std::int64_t seq : trace.sequence_numbers()) {
    TraceCall call = trace.call(seq);
    const std::size_t index = run.calls.size();
    if (call.name == kEmbeddingPrefill) {
      if (++prefills > 1) {
        refuse(run.file + " holds more than one " + kEmbeddingPrefill +
               " call: ttt diff compares runs of one prompt");
      }
      run.embedding_prefill = index;
    } else if (call.name == kEmbeddingDecode) {
      if (prefills == 0) refuse(run.file + ": " + kEmbeddingDecode + " before any prefill");
      ++step;
    }
    if (call.name == kLmHeadPrefill || call.name == kLmHeadDecode) {
      if (!lm_head.emplace(step, index).second) {
        refuse(run.file + ": step " + std::to_string(step) + " has two LM head calls");
      }
    }
    run.step_of.push_back(step);
    run.calls.push_back(std::move(call));
  }
  if (prefills == 0 || lm_head.empty()) {
    refuse(run.file + " has no " + (prefills == 0 ? kEmbeddingPrefill : "lm_head.*") +
           " call: ttt diff reads the prompt and each step's logits from a causal LM's trace "
           "captured without a filter (or one keeping embedding.* and lm_head.*)");
  }
  for (std::int64_t s = 0; s <= step; ++s) {
    const auto found = lm_head.find(s);
    if (found == lm_head.end()) {
      refuse(run.file + ": step " + std::to_string(s) + " has no LM head call (its logits)");
    }
    run.lm_head.push_back(found->second);
  }
  return run;
}

const TraceTensor* find_tensor(const std::vector<TraceTensor>& tensors, const std::string& name) {
  for (const TraceTensor& tensor : tensors) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

std::string call_label(const TraceCall& call, std::size_t index) {
  return "call " + std::to_string(index) + " " + call.name;
}

// The first JSON Pointer at which two Specs differ, with both values.
std::string spec_difference(const std::string& a, const std::string& b, const RunCalls& run_a,
                            const RunCalls& run_b) {
  const nlohmann::json json_a = nlohmann::json::parse(a);
  const nlohmann::json json_b = nlohmann::json::parse(b);
  if (json_a == json_b) return "";
  const std::string pointer = nlohmann::json::diff(json_a, json_b).at(0).at("path");
  const nlohmann::json::json_pointer at(pointer);
  const auto value = [&](const nlohmann::json& json) {
    return json.contains(at) ? json.at(at).dump() : std::string("absent");
  };
  return "its Spec differs at " + (pointer.empty() ? std::string("/") : pointer) + " (" +
         value(json_a) + " in " + run_a.file + ", " + value(json_b) + " in " + run_b.file + ")";
}

// Same calls in the same order, of the same kinds and Specs.
void check_same_calls(const RunCalls& a, const RunCalls& b) {
  const std::size_t common = std::min(a.calls.size(), b.calls.size());
  for (std::size_t i = 0; i < common; ++i) {
    const TraceCall& call_a = a.calls[i];
    const TraceCall& call_b = b.calls[i];
    if (call_a.name != call_b.name) {
      refuse("the runs made different calls: call " + std::to_string(i) + " is " + call_a.name +
             " in " + a.file + ", " + call_b.name + " in " + b.file);
    }
    if (call_a.block != call_b.block) {
      refuse(call_label(call_a, i) + ": block kind '" + call_a.block + "' in " + a.file + ", '" +
             call_b.block + "' in " + b.file);
    }
    const std::string spec = spec_difference(call_a.spec_json, call_b.spec_json, a, b);
    if (!spec.empty()) refuse(call_label(call_a, i) + ": " + spec);
  }
  if (a.calls.size() != b.calls.size()) {
    const RunCalls& longer = a.calls.size() > b.calls.size() ? a : b;
    refuse("the runs made different calls: " + a.file + " has " + std::to_string(a.calls.size()) +
           " calls, " + b.file + " " + std::to_string(b.calls.size()) + "; call " +
           std::to_string(common) + " (" + longer.calls[common].name + ") is only in " +
           longer.file);
  }
}

std::vector<std::int64_t> prompt_of(const RunCalls& run) {
  const TraceCall& call = run.calls[run.embedding_prefill];
  const TraceTensor* ids = find_tensor(call.inputs, "ids");
  if (ids == nullptr) refuse(run.file + ":" + call.path + " " + call.name + " has no input ids");
  if (ids->shape.size() != 2 || ids->shape[0] != 1) {
    refuse(run.file + ":" + call.path + " " + call.name + ": ids has shape " +
           shape_to_string(ids->shape) + ": ttt diff compares runs of one user ([1, tokens])");
  }
  const Tensor values = run.trace->read(*ids);
  std::vector<std::int64_t> prompt;
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    prompt.push_back(static_cast<std::int64_t>(values.at_flat(i)));
  }
  return prompt;
}

void check_same_prompt(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b,
                       const RunCalls& run_a, const RunCalls& run_b) {
  if (a.size() != b.size()) {
    refuse("the runs have different prompts: " + std::to_string(a.size()) + " tokens in " +
           run_a.file + ", " + std::to_string(b.size()) + " in " + run_b.file);
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) {
      refuse("the runs have different prompts: token " + std::to_string(i) + " is " +
             std::to_string(a[i]) + " in " + run_a.file + ", " + std::to_string(b[i]) + " in " +
             run_b.file);
    }
  }
}

void check_same_tensors(const std::vector<TraceTensor>& a, const std::vector<TraceTensor>& b,
                        const char* what, const std::string& label, const RunCalls& run_a,
                        const RunCalls& run_b) {
  for (const TraceTensor& tensor : a) {
    const TraceTensor* other = find_tensor(b, tensor.name);
    if (other == nullptr) {
      refuse(label + ": " + what + " " + tensor.name + " is only in " + run_a.file);
    }
    if (other->shape != tensor.shape) {
      refuse(label + ": " + what + " " + tensor.name + " has shape " +
             shape_to_string(tensor.shape) + " in " + run_a.file + ", " +
             shape_to_string(other->shape) + " in " + run_b.file);
    }
  }
  if (b.size() != a.size()) {
    for (const TraceTensor& tensor : b) {
      if (find_tensor(a, tensor.name) == nullptr) {
        refuse(label + ": " + what + " " + tensor.name + " is only in " + run_b.file);
      }
    }
  }
}

// The last row of each step's LM head output: logits [steps, vocab] in float64.
Tensor step_logits(const RunCalls& run) {
  std::vector<double> values;
  std::int64_t vocab = 0;
  for (const std::size_t index : run.lm_head) {
    const TraceCall& call = run.calls[index];
    if (call.outputs.empty())
      refuse(run.file + ":" + call.path + " " + call.name + " has no output");
    const Tensor logits = run.trace->read(call.outputs.front());
    if (logits.rank() == 0 || logits.dim(-1) == 0) {
      refuse(run.file + ":" + call.path + " " + call.name + ": logits of shape " +
             shape_to_string(logits.shape()));
    }
    vocab = logits.dim(-1);
    for (std::int64_t i = logits.numel() - vocab; i < logits.numel(); ++i) {
      values.push_back(logits.at_flat(i));
    }
  }
  return Tensor::from_doubles({static_cast<std::int64_t>(run.lm_head.size()), vocab},
                              std::move(values));
}

MetricsOptions quick_metrics() {
  MetricsOptions options;
  options.quantiles = false;
  options.histogram = false;
  return options;
}

CallDiff diff_call(const RunCalls& a, const RunCalls& b, std::size_t index) {
  const TraceCall& call_a = a.calls[index];
  const TraceCall& call_b = b.calls[index];
  CallDiff diff;
  diff.seq = call_a.seq;
  diff.name = call_a.name;
  diff.block = call_a.block;
  std::string module;
  diff.layer = call_layer(call_a.name, module);
  diff.step = a.step_of[index];
  const BlockReplayer* replayer = BlockRegistry::global().find(call_a.block);
  for (const TraceTensor& output : call_a.outputs) {
    const Tensor value_a = a.trace->read(output);
    const Tensor value_b = b.trace->read(*find_tensor(call_b.outputs, output.name));
    OutputDiff& out = diff.outputs.emplace_back();
    out.name = output.name;
    out.band = replayer != nullptr && replayer->tolerances.has_value()
                   ? *replayer->tolerances
                   : default_tolerances(value_a.dtype(), value_b.dtype());
    out.metrics = compute_metrics(value_a, value_b, quick_metrics());
    out.verdict = evaluate(out.metrics, out.band);
  }
  if (const TraceTensor* x = find_tensor(call_a.inputs, "x")) {
    diff.input_x = compute_metrics(
        a.trace->read(*x), b.trace->read(*find_tensor(call_b.inputs, "x")), quick_metrics());
  }
  return diff;
}

// The values of `cache` [batch, kv_heads, max_seq_len, head_dim] at (user 0, `position`), every
// head, in float64.
Tensor cache_position(const Tensor& cache, std::int64_t position) {
  const std::int64_t heads = cache.dim(1);
  const std::int64_t length = cache.dim(2);
  const std::int64_t head_dim = cache.dim(3);
  std::vector<double> values;
  values.reserve(static_cast<std::size_t>(heads * head_dim));
  for (std::int64_t h = 0; h < heads; ++h) {
    for (std::int64_t d = 0; d < head_dim; ++d) {
      values.push_back(cache.at_flat((h * length + position) * head_dim + d));
    }
  }
  return Tensor::from_doubles({heads, head_dim}, std::move(values));
}

bool identical(const Tensor& a, const Tensor& b) {
  const auto x = a.doubles();
  const auto y = b.doubles();
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] == y[i]) && !(std::isnan(x[i]) && std::isnan(y[i]))) return false;
  }
  return true;
}

// Each layer's last decode call with a cache: its input cache, positions [0, positions[0]).
std::vector<KvLayerDiff> diff_kv(const RunCalls& a, const RunCalls& b, std::int64_t judged_until) {
  std::map<std::int64_t, std::size_t> last_decode;
  for (std::size_t i = 0; i < a.calls.size(); ++i) {
    const TraceCall& call = a.calls[i];
    std::string module;
    const std::optional<std::int64_t> layer = call_layer(call.name, module);
    if (layer && find_tensor(call.inputs, "k_cache") && find_tensor(call.inputs, "v_cache") &&
        find_tensor(call.inputs, "positions")) {
      last_decode[*layer] = i;
    }
  }
  std::vector<KvLayerDiff> layers;
  for (const auto& [layer, index] : last_decode) {
    const TraceCall& call_a = a.calls[index];
    const TraceCall& call_b = b.calls[index];
    const auto read = [&](const RunCalls& run, const TraceCall& call, const char* name) {
      return run.trace->read(*find_tensor(call.inputs, name));
    };
    const Tensor k_a = read(a, call_a, "k_cache");
    const Tensor k_b = read(b, call_b, "k_cache");
    const Tensor v_a = read(a, call_a, "v_cache");
    const Tensor v_b = read(b, call_b, "v_cache");
    const Tensor positions = read(a, call_a, "positions");
    if (k_a.rank() != 4 || v_a.rank() != 4 || positions.numel() < 1) {
      refuse(a.file + ":" + call_a.path + " " + call_a.name +
             ": expected caches [batch, kv_heads, max_seq_len, head_dim] and positions [batch], "
             "got k_cache " +
             shape_to_string(k_a.shape()) + ", positions " + shape_to_string(positions.shape()));
    }
    KvLayerDiff diff;
    diff.layer = layer;
    diff.seq = call_a.seq;
    diff.call = call_a.name;
    diff.positions =
        std::clamp(static_cast<std::int64_t>(positions.at_flat(0)), std::int64_t{0}, k_a.dim(2));
    diff.judged_positions = std::min(diff.positions, judged_until);
    diff.dtype = std::string(dtype_name(k_a.dtype()));
    const Tolerances k_band = default_tolerances(k_a.dtype(), k_b.dtype());
    const Tolerances v_band = default_tolerances(v_a.dtype(), v_b.dtype());
    for (std::int64_t p = 0; p < diff.positions; ++p) {
      const Tensor ka = cache_position(k_a, p);
      const Tensor kb = cache_position(k_b, p);
      const Tensor va = cache_position(v_a, p);
      const Tensor vb = cache_position(v_b, p);
      if (identical(ka, kb) && identical(va, vb)) continue;
      KvPositionDiff& position = diff.differing.emplace_back();
      position.position = p;
      position.k = compute_metrics(ka, kb, quick_metrics());
      position.v = compute_metrics(va, vb, quick_metrics());
      position.judged = p < diff.judged_positions;
      position.within_band = !position.judged || (evaluate(position.k, k_band).passed &&
                                                  evaluate(position.v, v_band).passed);
    }
    layers.push_back(std::move(diff));
  }
  return layers;
}

}  // namespace

bool CallDiff::within_band() const {
  return std::all_of(outputs.begin(), outputs.end(),
                     [](const OutputDiff& output) { return output.verdict.passed; });
}

bool CallDiff::differs() const {
  return std::any_of(outputs.begin(), outputs.end(), [](const OutputDiff& output) {
    return output.metrics.max_abs_error > 0.0 || output.metrics.nonfinite_mismatched > 0;
  });
}

bool KvLayerDiff::within_band() const {
  return std::all_of(differing.begin(), differing.end(),
                     [](const KvPositionDiff& position) { return position.within_band; });
}

bool RunDiff::agree() const {
  return logits.passed &&
         std::all_of(calls.begin(), calls.end(),
                     [](const CallDiff& call) { return call.within_band(); }) &&
         std::all_of(kv.begin(), kv.end(),
                     [](const KvLayerDiff& layer) { return layer.within_band(); });
}

RunDiff diff_runs(const TraceReader& a, const TraceReader& b, const RunDiffOptions& options) {
  register_builtin_blocks();  // The block kinds' tolerances.
  const RunCalls run_a = list_calls(a);
  const RunCalls run_b = list_calls(b);
  check_same_calls(run_a, run_b);
  RunDiff diff;
  diff.trace_a = a.path();
  diff.trace_b = b.path();
  diff.prompt = prompt_of(run_a);
  check_same_prompt(diff.prompt, prompt_of(run_b), run_a, run_b);
  for (std::size_t i = 0; i < run_a.calls.size(); ++i) {
    const std::string label = call_label(run_a.calls[i], i);
    check_same_tensors(run_a.calls[i].inputs, run_b.calls[i].inputs, "input", label, run_a, run_b);
    check_same_tensors(run_a.calls[i].outputs, run_b.calls[i].outputs, "output", label, run_a,
                       run_b);
  }

  // 1. Tokens: the oracle over the steps' logits, A as the device, B as the reference.
  const Tensor logits_a = step_logits(run_a);
  const Tensor logits_b = step_logits(run_b);
  diff.steps = logits_a.dim(0);
  // argmax_tokens reads float32: exact for the float32-held dtypes logits have on a device.
  const Tensor tokens_a = argmax_tokens(logits_a.to(DType::float32));
  const Tensor tokens_b = argmax_tokens(logits_b.to(DType::float32));
  diff.tokens_a.assign(tokens_a.data<std::int64_t>(), tokens_a.data<std::int64_t>() + diff.steps);
  diff.tokens_b.assign(tokens_b.data<std::int64_t>(), tokens_b.data<std::int64_t>() + diff.steps);
  diff.logits = compare_logits(logits_a, logits_b, {.top_k = options.top_k});
  std::int64_t last_step = diff.steps - 1;
  const auto prompt_length = static_cast<std::int64_t>(diff.prompt.size());
  if (diff.logits.first_divergent_row) {
    const LogitsRow& row = diff.logits.rows.back();
    last_step = row.row;
    diff.divergence = TokenDivergence{.step = row.row,
                                      .position = prompt_length + row.row,
                                      .token_a = row.device_top1,
                                      .token_b = row.reference_top1,
                                      .near_tie = diff.logits.passed};
  }

  // 2. The calls through the divergent step.
  std::map<std::int64_t, bool> layers;
  for (std::size_t i = 0; i < run_a.calls.size(); ++i) {
    std::string module;
    if (const auto layer = call_layer(run_a.calls[i].name, module)) layers[*layer] = true;
    if (run_a.step_of[i] > last_step) continue;
    diff.calls.push_back(diff_call(run_a, run_b, i));
    const CallDiff& call = diff.calls.back();
    if (!diff.first_difference && call.differs()) diff.first_difference = diff.calls.size() - 1;
    if (call.within_band()) continue;
    if (!diff.first_out_of_band) diff.first_out_of_band = diff.calls.size() - 1;
    if (diff.divergence && call.step == diff.divergence->step &&
        !diff.first_out_of_band_at_divergence) {
      diff.first_out_of_band_at_divergence = diff.calls.size() - 1;
    }
  }
  diff.layers = static_cast<std::int64_t>(layers.size());

  // 3. The KV cache, judged before the divergent token's position.
  diff.kv = diff_kv(
      run_a, run_b,
      diff.divergence ? diff.divergence->position : std::numeric_limits<std::int64_t>::max());
  return diff;
}

}  // namespace ttt

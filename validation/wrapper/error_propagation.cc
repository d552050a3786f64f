#include "validation/wrapper/error_propagation.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "validation/markup/number.h"
#include "validation/wrapper/call_sink.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"

namespace ttt {
namespace {

using CallKey = std::pair<std::string, std::int64_t>;  // Name and call index.

// What one run leaves of each call: its first device output and, with `keep_reference`, the
// matching reference output.
struct KeptCall {
  Tensor device;
  Tensor reference;
};

class OutputKeeper final : public CallSink {
 public:
  OutputKeeper(std::string filter, bool keep_reference)
      : filter_(std::move(filter)), keep_reference_(keep_reference) {}

  bool wants(std::string_view name, bool validated) override {
    return validated && filter_matches(filter_, name);
  }
  bool wants_reference_outputs() const override { return keep_reference_; }

  void on_call(const CheckedCall& call) override {
    if (!call.device_returned || call.outputs.empty() || !call.outputs.front().tensor.defined()) {
      return;
    }
    KeptCall kept;
    kept.device = call.outputs.front().tensor.clone();
    if (keep_reference_) {
      const std::string& output = call.outputs.front().name;
      for (const NamedTensor& reference : call.reference_outputs) {
        if (reference.name == output && reference.tensor.defined()) {
          kept.reference = reference.tensor.clone();
        }
      }
      if (!kept.reference.defined()) return;
    }
    const std::lock_guard<std::mutex> lock(mutex_);
    order_.emplace_back(call.record.name, call.record.call_index);
    calls_[order_.back()] = std::move(kept);
  }

  std::vector<CallKey> order_;
  std::map<CallKey, KeptCall> calls_;

 private:
  std::string filter_;
  bool keep_reference_;
  std::mutex mutex_;
};

// Runs the model once with a keeper installed.
std::shared_ptr<OutputKeeper> run_once(const std::function<void(bool)>& run_model,
                                       bool teacher_forcing, const std::string& filter) {
  auto keeper = std::make_shared<OutputKeeper>(filter, /*keep_reference=*/teacher_forcing);
  validation_registry().reset();  // Call indices from 0 in both runs.
  const ScopedCallSink scope(keeper);
  run_model(teacher_forcing);
  return keeper;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// Bands per module, flags per call, and the per-layer curve.
void judge(ErrorPropagation& result, double band_factor) {
  std::map<std::string, std::vector<double>> by_module;
  for (const PropagationCall& call : result.calls) {
    if (call.layer) by_module[call.module].push_back(call.local.nmse);
  }
  std::map<std::int64_t, LayerError> layers;
  for (PropagationCall& call : result.calls) {
    if (!call.layer) continue;
    const double floor =
        default_tolerances(call.local.actual_dtype, call.local.expected_dtype).nmse.value_or(0.0);
    call.band = std::max(band_factor * median(by_module[call.module]), floor);
    call.out_of_band = !(call.local.nmse <= call.band);
    LayerError& layer = layers[*call.layer];
    layer.layer = *call.layer;
    const std::string label = call.name + " #" + std::to_string(call.call_index);
    if (layer.local_call.empty() || call.local.nmse > layer.local_nmse) {
      layer.local_nmse = call.local.nmse;
      layer.local_call = label;
    }
    layer.accumulated_nmse = std::max(layer.accumulated_nmse, call.accumulated.nmse);
    layer.accumulated_pcc = std::min(layer.accumulated_pcc, call.accumulated.pcc);
    layer.flagged = layer.flagged || call.out_of_band;
  }
  for (auto& [index, layer] : layers) result.layers.push_back(layer);
  // The first flagged layer in model order, and its first call out of band in call order.
  for (const LayerError& layer : result.layers) {
    if (!layer.flagged) continue;
    result.flagged_layer = layer.layer;
    for (const PropagationCall& call : result.calls) {
      if (call.layer == layer.layer && call.out_of_band) {
        result.flagged_call = call.name + " #" + std::to_string(call.call_index);
        break;
      }
    }
    break;
  }
}

}  // namespace

std::optional<std::int64_t> call_layer(const std::string& name, std::string& module) {
  module = name;
  const std::string prefix = "layers.";
  if (name.rfind(prefix, 0) != 0) return std::nullopt;
  const std::size_t end = name.find('.', prefix.size());
  if (end == std::string::npos || end == prefix.size()) return std::nullopt;
  const std::string digits = name.substr(prefix.size(), end - prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  module = prefix + "*" + name.substr(end);
  return std::stoll(digits);
}

ErrorPropagation measure_error_propagation(const std::function<void(bool)>& run_model,
                                           const ErrorPropagationOptions& options) {
  const bool was_enabled = validation_enabled();
  set_validation_enabled(true);
  std::shared_ptr<OutputKeeper> forced;
  std::shared_ptr<OutputKeeper> free_running;
  try {
    forced = run_once(run_model, true, options.filter);
    free_running = run_once(run_model, false, options.filter);
  } catch (...) {
    set_validation_enabled(was_enabled);
    throw;
  }
  set_validation_enabled(was_enabled);

  MetricsOptions metrics_options;
  metrics_options.quantiles = false;
  metrics_options.histogram = false;
  ErrorPropagation result;
  for (const CallKey& key : forced->order_) {
    const auto found = free_running->calls_.find(key);
    if (found == free_running->calls_.end()) {
      throw std::runtime_error("[error_propagation] the free-running run made no call " +
                               key.first + " #" + std::to_string(key.second) +
                               " that the teacher-forced run made: the runs must make the same "
                               "calls");
    }
    const KeptCall& exact = forced->calls_.at(key);
    const Tensor& received = found->second.device;
    if (received.shape() != exact.reference.shape()) {
      throw std::runtime_error("[error_propagation] " + key.first + " #" +
                               std::to_string(key.second) + ": output shape " +
                               shape_to_string(received.shape()) + " free running, " +
                               shape_to_string(exact.reference.shape()) + " teacher forced");
    }
    PropagationCall& call = result.calls.emplace_back();
    call.name = key.first;
    call.call_index = key.second;
    call.layer = call_layer(call.name, call.module);
    call.local = compute_metrics(exact.device, exact.reference, metrics_options);
    call.accumulated = compute_metrics(received, exact.reference, metrics_options);
  }
  judge(result, options.band_factor);
  return result;
}

std::string format_error_propagation(const ErrorPropagation& propagation) {
  std::vector<std::vector<std::string>> rows = {
      {"layer", "local nmse", "worst local call", "accumulated nmse", "accumulated pcc", ""}};
  for (const LayerError& layer : propagation.layers) {
    rows.push_back({std::to_string(layer.layer), format_significant(layer.local_nmse, 4),
                    layer.local_call, format_significant(layer.accumulated_nmse, 4),
                    format_significant(layer.accumulated_pcc, 6),
                    layer.flagged ? "isolated error out of its band" : ""});
  }
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string text;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i] + (i + 1 < row.size() ? std::string(widths[i] - row[i].size() + 2, ' ') : "");
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + "\n";
  }
  if (propagation.flagged_layer) {
    text += "layer " + std::to_string(*propagation.flagged_layer) +
            ": isolated error out of its band at " + propagation.flagged_call + "\n";
  } else {
    text += "no layer's isolated error leaves its band\n";
  }
  return text;
}

nlohmann::json to_json(const ErrorPropagation& propagation) {
  nlohmann::json calls = nlohmann::json::array();
  for (const PropagationCall& call : propagation.calls) {
    calls.push_back({{"name", call.name},
                     {"call_index", call.call_index},
                     {"layer", call.layer ? nlohmann::json(*call.layer) : nlohmann::json(nullptr)},
                     {"module", call.module},
                     {"band", call.band},
                     {"out_of_band", call.out_of_band},
                     {"local", to_json(call.local)},
                     {"accumulated", to_json(call.accumulated)}});
  }
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerError& layer : propagation.layers) {
    layers.push_back({{"layer", layer.layer},
                      {"local_nmse", layer.local_nmse},
                      {"local_call", layer.local_call},
                      {"accumulated_nmse", layer.accumulated_nmse},
                      {"accumulated_pcc", layer.accumulated_pcc},
                      {"flagged", layer.flagged}});
  }
  nlohmann::json flagged = nullptr;
  if (propagation.flagged_layer) flagged = *propagation.flagged_layer;
  return {{"calls", std::move(calls)},
          {"layers", std::move(layers)},
          {"flagged_layer", std::move(flagged)},
          {"flagged_call", propagation.flagged_call}};
}

}  // namespace ttt

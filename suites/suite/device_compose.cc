#include "suites/suite/device_compose.h"

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "blocks/common/block_kind.h"
#include "models/weights.h"
#include "patterns/causal_lm.h"

namespace ttt {
namespace {

constexpr const char* kWhat = "[compose --device-cost] ";

// One module call of a forward: the module's name (layers as "layers.*.<module>") and what the
// module says about its calls.
struct ModuleCall {
  std::string module;
  ModuleInfo info;
};

template <typename Module>
void add_call(std::vector<ModuleCall>& calls, std::string module,
              const std::shared_ptr<const Module>& instance, Mode mode) {
  if (instance) calls.push_back({std::move(module), instance->info(mode)});
}

// Every module call of one forward in `mode`, in model order.
std::vector<ModuleCall> forward_calls(const CausalLmModules& modules, Mode mode) {
  std::vector<ModuleCall> calls;
  add_call(calls, "embedding", modules.embedding, mode);
  add_call(calls, "embedding_norm", modules.embedding_norm, mode);
  for (const DecoderLayerModules& layer : modules.layers) {
    add_call(calls, "layers.*.attention_norm", layer.attention_norm, mode);
    add_call(calls, "layers.*.attention", layer.attention, mode);
    add_call(calls, "layers.*.post_attention_norm", layer.post_attention_norm, mode);
    add_call(calls, "layers.*.ffn_norm", layer.ffn_norm, mode);
    add_call(calls, "layers.*.ffn", layer.ffn, mode);
    add_call(calls, "layers.*.post_ffn_norm", layer.post_ffn_norm, mode);
  }
  add_call(calls, "norm", modules.norm, mode);
  add_call(calls, "lm_head", modules.lm_head, mode);
  return calls;
}

DeviceCost call_cost(const ModuleCall& call, Mode mode, const CallShapes& shapes) {
  if (call.info.block.empty()) {
    throw std::invalid_argument(std::string(kWhat) + "module " + call.module +
                                " has no block kind to cost");
  }
  const BlockKind* kind = find_block_kind(call.info.block);
  if (kind == nullptr) {
    throw std::invalid_argument(std::string(kWhat) + "module " + call.module +
                                " runs the unknown block kind '" + call.info.block + "'");
  }
  const ConfiguredBlock block{nlohmann::json::parse(call.info.spec_json),
                              nlohmann::json::parse(call.info.impl_config_json), ""};
  try {
    return device_cost(*kind, block, mode, shapes);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(std::string(kWhat) + "module " + call.module + ": " + error.what());
  }
}

// Groups the calls of one module name with one configuration (every layer of a uniform model)
// and costs each group once.
DeviceModePrediction predict_mode(const CausalLmModules& modules, Mode mode,
                                  const CallShapes& shapes, const DeviceModel& device,
                                  const CostOverheads& overheads) {
  DeviceModePrediction prediction;
  prediction.mode = mode;
  prediction.shapes = shapes;
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::size_t> groups;
  for (const ModuleCall& call : forward_calls(modules, mode)) {
    const auto key = std::make_tuple(call.module, call.info.block, call.info.spec_json,
                                     call.info.impl_config_json);
    const auto found = groups.find(key);
    if (found != groups.end()) {
      ++prediction.blocks[found->second].instances;
      continue;
    }
    DeviceBlockCost block;
    block.module = call.module;
    block.kind = call.info.block;
    block.instances = 1;
    block.cost = call_cost(call, mode, shapes);
    block.time = predict_time(block.cost, device, overheads);
    groups.emplace(key, prediction.blocks.size());
    prediction.blocks.push_back(std::move(block));
  }
  for (DeviceBlockCost& block : prediction.blocks) {
    block.latency_ns = static_cast<double>(block.instances) * block.time.total_ns;
    prediction.latency_ns += block.latency_ns;
    prediction.dram_bytes += block.instances * block.cost.dram_bytes();
    prediction.eth_bytes += block.instances * block.cost.eth_bytes;
  }
  for (DeviceBlockCost& block : prediction.blocks) {
    block.share = prediction.latency_ns > 0.0 ? block.latency_ns / prediction.latency_ns : 0.0;
  }
  return prediction;
}

nlohmann::json mode_json(const DeviceModePrediction& prediction) {
  nlohmann::json blocks = nlohmann::json::array();
  for (const DeviceBlockCost& block : prediction.blocks) {
    blocks.push_back({{"module", block.module},
                      {"kind", block.kind},
                      {"instances", block.instances},
                      {"cost", block.cost},
                      {"time", block.time},
                      {"latency_ns", block.latency_ns},
                      {"share", block.share}});
  }
  return {{"mode", mode_name(prediction.mode)},   {"batch", prediction.shapes.batch},
          {"seq_len", prediction.shapes.seq_len}, {"context_len", prediction.shapes.context_len},
          {"latency_ns", prediction.latency_ns},  {"dram_bytes", prediction.dram_bytes},
          {"eth_bytes", prediction.eth_bytes},    {"blocks", blocks}};
}

std::string format_bytes(double bytes) {
  char text[32];
  if (bytes >= 1e9) {
    std::snprintf(text, sizeof text, "%.2f GB", bytes / 1e9);
  } else if (bytes >= 1e6) {
    std::snprintf(text, sizeof text, "%.2f MB", bytes / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.1f kB", bytes / 1e3);
  }
  return text;
}

std::string format_mode(const DeviceModePrediction& prediction) {
  std::string out;
  char line[320];
  std::snprintf(line, sizeof line, "%-30s %-16s %5s %11s %11s %6s  %-7s %10s %10s %10s\n", "module",
                "kind", "calls", "per call", "total", "share", "bound", "DRAM/call", "TFLOP/call",
                "eth/call");
  out += line;
  for (const DeviceBlockCost& block : prediction.blocks) {
    std::snprintf(line, sizeof line,
                  "%-30s %-16s %5lld %8.1f us %8.3f ms %5.1f%%  %-7s %10s %10.4f %10s\n",
                  block.module.c_str(), block.kind.c_str(), static_cast<long long>(block.instances),
                  block.time.total_ns / 1e3, block.latency_ns / 1e6, 100.0 * block.share,
                  std::string(cost_bound_name(block.time.bound)).c_str(),
                  format_bytes(static_cast<double>(block.cost.dram_bytes())).c_str(),
                  static_cast<double>(block.cost.total_matmul_ops()) / 1e12,
                  format_bytes(static_cast<double>(block.cost.eth_bytes)).c_str());
    out += line;
  }
  return out;
}

}  // namespace

DeviceComposition compose_device_cost(const ModelDefinition& model, const DeviceModel& device,
                                      const DeviceComposeOptions& options) {
  if (options.seq_len < 1) throw std::invalid_argument(std::string(kWhat) + "seq_len must be >= 1");
  if (options.context_len < 0) {
    throw std::invalid_argument(std::string(kWhat) + "context_len must be >= 0");
  }
  if (options.batch < 1) throw std::invalid_argument(std::string(kWhat) + "batch must be >= 1");
  const PerMode<CausalLmImplConfig> configs =
      default_impl_configs(model.spec, device.block_defaults, options.preset, device.mesh);
  // Seeded weights are drawn lazily: building the modules loads none.
  const CausalLmModules modules = make_causal_lm_modules(
      model.spec, configs, seeded_model_weights(model.spec, model.initializer_range, 0));
  DeviceComposition composition;
  composition.model = model.name;
  composition.device = device;
  composition.preset = options.preset ? std::string(preset_name(*options.preset)) : "";
  composition.overheads = options.overheads;
  composition.prefill = predict_mode(modules, Mode::prefill,
                                     CallShapes{.batch = options.batch, .seq_len = options.seq_len},
                                     device, options.overheads);
  composition.decode = predict_mode(
      modules, Mode::decode, CallShapes{.batch = options.batch, .context_len = options.context_len},
      device, options.overheads);
  composition.ttft_ms = composition.prefill.latency_ns / 1e6;
  composition.decode_tokens_per_s_user = 1e9 / composition.decode.latency_ns;
  return composition;
}

nlohmann::json to_json(const DeviceComposition& composition) {
  return {{"model", composition.model},
          {"device", composition.device},
          {"preset",
           composition.preset.empty() ? nlohmann::json() : nlohmann::json(composition.preset)},
          {"overheads",
           {{"op_dispatch_ns", composition.overheads.op_dispatch_ns},
            {"eth_hop_ns", composition.overheads.eth_hop_ns}}},
          {"prefill", mode_json(composition.prefill)},
          {"decode", mode_json(composition.decode)},
          {"ttft_ms", composition.ttft_ms},
          {"decode_tokens_per_s_user", composition.decode_tokens_per_s_user}};
}

std::string format_device_composition(const DeviceComposition& composition) {
  const DeviceComposition& c = composition;
  char line[400];
  std::string out;
  std::snprintf(line, sizeof line,
                "%s on %s (%s), preset %s; overheads: %.0f ns per op, %.0f ns per Ethernet hop\n",
                c.model.c_str(), c.device.name.c_str(), c.device.description.c_str(),
                c.preset.empty() ? "none" : c.preset.c_str(), c.overheads.op_dispatch_ns,
                c.overheads.eth_hop_ns);
  out += line;
  std::snprintf(line, sizeof line, "\nprefill: batch %lld, seq_len %lld\n",
                static_cast<long long>(c.prefill.shapes.batch),
                static_cast<long long>(c.prefill.shapes.seq_len));
  out += line + format_mode(c.prefill);
  std::snprintf(line, sizeof line, "TTFT: %.2f ms\n", c.ttft_ms);
  out += line;
  std::snprintf(line, sizeof line, "\ndecode: batch %lld, context_len %lld\n",
                static_cast<long long>(c.decode.shapes.batch),
                static_cast<long long>(c.decode.shapes.context_len));
  out += line + format_mode(c.decode);
  std::snprintf(line, sizeof line, "decode: %.2f ms per token, %.1f tokens/s/user\n",
                c.decode.latency_ns / 1e6, c.decode_tokens_per_s_user);
  out += line;
  return out;
}

}  // namespace ttt

#include "tests/goldens/golden_runner.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include "blocks/attention/attention.h"
#include "blocks/common/device.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"
#include "blocks/lm_head/lm_head.h"
#include "blocks/registration.h"
#include "validation/tensor/dtype.h"
#include "validation/trace/trace_reader.h"

namespace ttt::goldens {
namespace {

bool is_attention(const std::string& kind) { return kind.rfind("attention.", 0) == 0; }

// The weight matmuls of a kind as a JSON overlay setting `matmul` on each, or null when the kind
// has none.
nlohmann::json matmul_overlay(const std::string& kind, const nlohmann::json& matmul) {
  if (is_attention(kind)) return {{"qkv", matmul}, {"output", matmul}};
  if (kind == "mlp") return {{"ff1", matmul}, {"ff2", matmul}};
  if (kind == "gated_mlp") return {{"ff1_ff3", matmul}, {"ff2", matmul}};
  if (kind == "moe") return {{"expert", {{"ff1_ff3", matmul}, {"ff2", matmul}}}};
  if (kind == "lm_head") return {{"matmul", matmul}};
  return nullptr;
}

Mode call_mode(const BlockCall& call) {
  if (call.kind == "attention.decode") return Mode::decode;
  if (call.kind == "attention.prefill") return Mode::prefill;
  return call.scalars.contains("mode") ? call.scalars.at("mode").get<Mode>() : Mode::prefill;
}

// The complete ImplConfig of the call's block, device and mode: default_impl_config (with
// `preset`, when given) overlaid with `overlay`, as the registry builds it, written back to JSON.
template <typename Spec>
nlohmann::json complete_config(const BlockCall& call, std::optional<Preset> preset,
                               const nlohmann::json& overlay) {
  const Spec spec = call.spec.get<Spec>();
  const Device device = parse_device(call.device);
  const Mode mode = call_mode(call);
  auto config = preset ? default_impl_config(spec, device, mode, *preset)
                       : default_impl_config(spec, device, mode);
  nlohmann::json merged = config;
  merged.merge_patch(overlay);
  config = merged.get<decltype(config)>();
  return config;
}

// complete_config for the kinds with precision variants; null for the others.
nlohmann::json complete_config_of_kind(const BlockCall& call, std::optional<Preset> preset,
                                       const nlohmann::json& overlay) {
  if (is_attention(call.kind)) return complete_config<AttentionSpec>(call, preset, overlay);
  if (call.kind == "mlp") return complete_config<MlpSpec>(call, preset, overlay);
  if (call.kind == "gated_mlp") return complete_config<GatedMlpSpec>(call, preset, overlay);
  if (call.kind == "moe") return complete_config<MoeSpec>(call, preset, overlay);
  if (call.kind == "lm_head") return complete_config<LmHeadSpec>(call, preset, overlay);
  return nullptr;
}

// The tensor the call names `name`, or nullptr.
Tensor* find_input(std::vector<NamedTensor>& inputs, const std::string& name) {
  for (NamedTensor& input : inputs) {
    if (input.name == name) return &input.tensor;
  }
  return nullptr;
}

const Tensor& single_output(const std::vector<NamedTensor>& outputs, const GoldenCall& golden) {
  if (outputs.size() != 1 || outputs[0].name != "y") {
    throw std::runtime_error(golden.file + " " + golden.name + ": the block returned " +
                             std::to_string(outputs.size()) + " outputs, expected only y");
  }
  return outputs[0].tensor;
}

MetricsOptions metrics_options() {
  MetricsOptions options;
  options.quantiles = false;
  options.histogram = false;
  return options;
}

}  // namespace

const std::vector<std::string>& required_goldens() {
  // "collectives": the collective blocks (tools/goldens/make_ccl_goldens.py), and
  // "tensor_parallel": the mesh blocks built on them (tools/goldens/make_tp_goldens.py); not
  // models.
  static const std::vector<std::string> stems{"collectives",  "gemma-2-9b",   "gpt-2",
                                              "llama-3.1-8b", "llama-3.2-1b", "mistral-7b",
                                              "mixtral-8x7b", "qwen2.5-7b",   "tensor_parallel"};
  return stems;
}

std::string goldens_directory() { return std::string(TTT_SOURCE_DIR) + "/goldens"; }

std::vector<std::string> golden_stems() {
  std::vector<std::string> stems;
  for (const auto& entry : std::filesystem::directory_iterator(goldens_directory())) {
    if (entry.path().extension() == ".h5") stems.push_back(entry.path().stem().string());
  }
  std::sort(stems.begin(), stems.end());
  return stems;
}

std::vector<GoldenCall> load_golden(const std::string& stem) {
  const std::string file = stem + ".h5";
  const TraceReader reader = TraceReader::open(goldens_directory() + "/" + file);
  std::map<std::string, Tensor> shared;  // Tensors under /tensors, by key.
  std::vector<GoldenCall> calls;
  for (const std::int64_t seq : reader.sequence_numbers()) {
    const TraceCall call = reader.call(seq);
    if (call.block.empty()) throw std::runtime_error(file + " " + call.path + ": no block kind");
    GoldenCall golden;
    golden.file = file;
    golden.seq = seq;
    golden.name = call.name;
    golden.call.kind = call.block;
    golden.call.spec = nlohmann::json::parse(call.spec_json);
    golden.call.impl_config = nlohmann::json::parse(call.impl_config_json);
    golden.call.device = call.device;
    golden.call.scalars = nlohmann::json::parse(call.scalars_json);
    for (const TraceTensor& input : call.inputs) {
      if (input.shared_key.empty()) {
        golden.call.inputs.push_back({input.name, reader.read(input)});
        continue;
      }
      auto [it, inserted] = shared.try_emplace(input.shared_key);
      if (inserted) it->second = reader.read(input);
      golden.call.inputs.push_back({input.name, it->second});
    }
    const auto reference =
        std::find_if(call.reference_outputs.begin(), call.reference_outputs.end(),
                     [](const TraceTensor& output) { return output.name == "y"; });
    if (reference == call.reference_outputs.end()) {
      throw std::runtime_error(file + " " + call.path + ": no reference/y");
    }
    golden.pytorch = reader.read(*reference);
    calls.push_back(std::move(golden));
  }
  return calls;
}

std::vector<Variant> variants(const GoldenCall& golden) {
  const BlockCall& call = golden.call;
  std::vector<Variant> result{{"default", call.impl_config, ""}};
  if (matmul_overlay(call.kind, nlohmann::json::object()).is_null()) return result;
  for (const char* dtype : {"bfloat16", "bfloat8_b", "bfloat4_b"}) {
    for (const char* fidelity : {"LoFi", "HiFi2", "HiFi4"}) {
      nlohmann::json config = call.impl_config;
      config.merge_patch(
          matmul_overlay(call.kind, {{"weight_dtype", dtype}, {"fidelity", fidelity}}));
      result.push_back({std::string(dtype) + " " + fidelity, std::move(config), ""});
    }
  }
  // Presets change only some kinds (the MLPs' accuracy preset is TTTv1's default); the LM head
  // has none.
  if (call.kind != "lm_head") {
    for (const Preset preset : {Preset::accuracy, Preset::performance}) {
      result.push_back({std::string(preset_name(preset)),
                        complete_config_of_kind(call, preset, nlohmann::json::object()), ""});
    }
  }
  std::vector<nlohmann::json> complete;
  for (Variant& variant : result) {
    complete.push_back(complete_config_of_kind(call, std::nullopt, variant.impl_config));
    for (std::size_t earlier = 0; earlier + 1 < complete.size(); ++earlier) {
      if (complete[earlier] == complete.back()) {
        variant.same_as = result[earlier].label;
        break;
      }
    }
  }
  return result;
}

const BlockReplayer& replayer(const std::string& kind) {
  register_builtin_blocks();
  const BlockReplayer* found = BlockRegistry::global().find(kind);
  if (found == nullptr) throw std::runtime_error("no replayer registered for block kind " + kind);
  return *found;
}

Metrics reference_vs_pytorch(const GoldenCall& golden) {
  const BoundCall bound = replayer(golden.call.kind).bind(golden.call);
  return compute_metrics(single_output(bound.run_reference(), golden), golden.pytorch,
                         metrics_options());
}

Metrics device_vs_pytorch(const GoldenCall& golden, const Variant& variant) {
  BlockCall call = golden.call;
  call.impl_config = variant.impl_config;
  if (call.kind == "attention.decode" && variant.impl_config.contains("kv_cache_dtype")) {
    const DType cache_dtype =
        parse_dtype(variant.impl_config.at("kv_cache_dtype").get<std::string>());
    for (const char* name : {"k_cache", "v_cache"}) {
      Tensor* cache = find_input(call.inputs, name);
      if (cache != nullptr && cache->dtype() != cache_dtype) *cache = cache->to(cache_dtype);
    }
  }
  const BoundCall bound = replayer(call.kind).bind(call);
  return compute_metrics(single_output(bound.run_device(), golden), golden.pytorch,
                         metrics_options());
}

namespace {

// `value` rounded up to two significant digits (0.001352 -> 0.0014).
double round_up_two_digits(double value) {
  if (value <= 0.0) return 0.0;
  const double unit = std::pow(10.0, std::floor(std::log10(value)) - 1.0);
  return std::ceil(value / unit - 1e-9) * unit;
}

}  // namespace

double pcc_threshold(double worst_pcc) {
  return 1.0 - round_up_two_digits(2.0 * (1.0 - worst_pcc));
}

double relative_error_threshold(double worst_relative_error) {
  return round_up_two_digits(2.0 * worst_relative_error);
}

double output_scale(const GoldenCall& golden) {
  double scale = 0.0;
  for (std::int64_t i = 0; i < golden.pytorch.numel(); ++i) {
    scale = std::max(scale, std::fabs(golden.pytorch.at_flat(i)));
  }
  return scale;
}

}  // namespace ttt::goldens

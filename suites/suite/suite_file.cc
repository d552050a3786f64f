// GCC 12 misreports -Wmaybe-uninitialized inside libstdc++'s <regex> (a std::function moved out
// of a regex automaton state) once the code is instrumented by -fsanitize=address; it must be
// silenced before the standard headers are read, since the warning points into them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "suites/suite/suite_file.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "suites/suite/internal/block_kinds.h"
#include "suites/suite/targets.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"

namespace ttt {
namespace {

using Json = nlohmann::json;

// Warm-up and repetition counts are ints: larger values would wrap when narrowed.
constexpr std::int64_t kMaxCount = std::numeric_limits<int>::max();

// The mesh axis the tensor-parallel module kinds split along: the columns, as TTTv1 splits heads
// and FFN on N300, T3K and TG (8x4: the rows hold copies; docs/multi-device.md).
constexpr int kTensorParallelAxis = 1;

constexpr const char* kLayerSlots[] = {"attention_norm", "attention", "post_attention_norm",
                                       "ffn_norm",       "ffn",       "post_ffn_norm"};

std::string join(const std::vector<std::string>& items) {
  std::string list;
  for (const std::string& item : items) list += (list.empty() ? "" : ", ") + item;
  return list;
}

bool is_layer_slot(const std::string& slot) {
  for (const char* known : kLayerSlots) {
    if (slot == known) return true;
  }
  return false;
}

// A block's message at its place in the suite file. Reading errors already name the file and the
// JSON path (the Spec and ImplConfig are read from the file's nodes) and pass through; a
// validation message naming "spec.<field>" or "config.<field>" points at that field.
[[noreturn]] void fail_with_block_message(const JsonNode& spec_node, const JsonNode& config_node,
                                          const std::string& message) {
  const std::string located = spec_node.source().empty() ? "/" : spec_node.source() + ": ";
  if (message.rfind(located, 0) == 0) throw std::invalid_argument(message);
  static const std::regex spec_field(R"(\bspec\.([a-z_]+))");
  static const std::regex config_field(R"(\bconfig\.([a-z_]+))");
  std::string path = spec_node.path();
  std::smatch match;
  if (std::regex_search(message, match, spec_field)) {
    path = json_child_path(spec_node.path(), match[1].str());
  } else if (std::regex_search(message, match, config_field)) {
    path = json_child_path(config_node.path(), match[1].str());
  }
  JsonNode(spec_node.json(), spec_node.source(), path).fail(message);
}

// The first leaf where two JSON values differ, as "/field: a vs b".
std::string first_difference(const Json& mine, const Json& theirs, const std::string& path) {
  if (mine.is_object() && theirs.is_object()) {
    for (const auto& [key, value] : theirs.items()) {
      if (!mine.contains(key)) return json_child_path(path, key) + " is missing";
      const std::string found = first_difference(mine.at(key), value, json_child_path(path, key));
      if (!found.empty()) return found;
    }
    for (const auto& [key, value] : mine.items()) {
      if (!theirs.contains(key)) return json_child_path(path, key) + " is extra";
    }
    return "";
  }
  if (mine == theirs) return "";
  return (path.empty() ? "/" : path) + ": " + mine.dump() + " here, " + theirs.dump() +
         " in the model";
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute() || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

Mode parse_mode_at(const JsonNode& node) {
  try {
    return parse_mode(node.string());
  } catch (const std::invalid_argument& error) {
    node.fail(error.what());
  }
}

Preset parse_preset_at(const JsonNode& node) {
  try {
    return parse_preset(node.string());
  } catch (const std::invalid_argument& error) {
    node.fail(error.what());
  }
}

// What the `defaults` object of a file sets for every case.
struct Defaults {
  Json shapes = Json::object();
  Json inputs = Json::object();
  Json expect = Json::object();
};

// The model module a case names, with the layers it covers.
struct ResolvedModule {
  ModuleBinding binding;
  std::string kind;
  Json spec;  // Normalized Spec of the covered instances (after a split).
};

// "layers.*.ffn" -> slot "ffn", every layer; "layers.3.ffn" -> layer 3; "lm_head".
ModuleBinding parse_module(const JsonNode& node, const ModelDefinition& model) {
  ModuleBinding binding;
  binding.module = node.string();
  const std::string& text = binding.module;
  const std::int64_t layer_count = static_cast<std::int64_t>(model.spec.layers.size());
  if (text == "embedding" || text == "norm" || text == "lm_head") {
    binding.slot = text;
    return binding;
  }
  if (text == "embedding_norm") {
    if (!model.spec.embedding_norm) node.fail("the model has no embedding_norm");
    binding.slot = text;
    return binding;
  }
  static const std::regex layer_module(R"(^layers\.(\*|[0-9]+)\.([a-z_]+)$)");
  std::smatch match;
  if (!std::regex_match(text, match, layer_module) || !is_layer_slot(match[2].str())) {
    node.fail("unknown module '" + text +
              "' (expected embedding, embedding_norm, norm, lm_head or layers.<N or "
              "*>.<attention_norm, attention, post_attention_norm, ffn_norm, ffn, post_ffn_norm>)");
  }
  binding.slot = match[2].str();
  binding.per_layer = true;
  if (match[1].str() == "*") {
    for (std::int64_t i = 0; i < layer_count; ++i) binding.layers.push_back(i);
  } else {
    const std::int64_t layer = std::stoll(match[1].str());
    if (layer >= layer_count) {
      node.fail("layer " + std::to_string(layer) + " is beyond the model's " +
                std::to_string(layer_count) + " layers");
    }
    binding.layers.push_back(layer);
  }
  return binding;
}

// Resolves the case's module against the model: kind, covered layers and the Spec.
ResolvedModule resolve_module(const JsonNode& case_node, const JsonNode& module_node,
                              const ModelDefinition& model, Mode mode, Device device,
                              const std::optional<Preset>& preset) {
  ResolvedModule resolved;
  resolved.binding = parse_module(module_node, model);
  ModuleBinding& binding = resolved.binding;
  const std::int64_t first = binding.per_layer ? binding.layers.front() : 0;
  resolved.kind = module_block_kind(model.spec, binding.slot, first, mode);
  if (resolved.kind.empty()) {
    module_node.fail(model.name + " has no " + binding.slot);
  }
  if (const auto block = case_node.find("block"); block && block->string() != resolved.kind) {
    block->fail("the model's " + binding.module + " is " + resolved.kind + " in " +
                std::string(mode_name(mode)) + ", not " + block->string());
  }
  if (const auto split = case_node.find("split")) {
    if (binding.slot != "lm_head" && binding.slot != "embedding") {
      split->fail("only lm_head and embedding can be split (over the vocabulary)");
    }
    split->allow_only({"vocab_size"});
    binding.split = split->at("vocab_size").integer_at_least(2);
  }
  const suite_detail::KnownKind* known = suite_detail::find_known_kind(resolved.kind);
  const Json no_overrides = Json::object();
  const auto normalized = [&](const JsonNode& spec) {
    return suite_detail::parse_block(*known, spec, device, mode, preset,
                                     JsonNode(no_overrides, spec.source()))
        .spec;
  };
  // The model's Spec of every layer the module names (one entry for model-level modules).
  std::vector<std::int64_t> candidates =
      binding.per_layer ? binding.layers : std::vector<std::int64_t>{0};
  std::vector<Json> model_specs;
  for (std::int64_t layer : candidates) {
    Json spec = module_spec_json(model.spec, binding.slot, layer);
    if (module_block_kind(model.spec, binding.slot, layer, mode).empty()) {
      module_node.fail(model.name + " layer " + std::to_string(layer) + " has no " + binding.slot);
    }
    if (binding.split > 1) {
      const std::int64_t vocab = spec.at("vocab_size").get<std::int64_t>();
      if (vocab % binding.split != 0) {
        case_node.at("split")
            .at("vocab_size")
            .fail("does not divide the vocabulary of " + std::to_string(vocab));
      }
      spec["vocab_size"] = vocab / binding.split;
    }
    model_specs.push_back(normalized(JsonNode(spec, model.name + " " + binding.module)));
  }
  const auto spec_node = case_node.find("spec");
  if (spec_node) {
    spec_node->object();
    Json merged = model_specs.front();
    merged.merge_patch(spec_node->json());
    try {
      resolved.spec = normalized(JsonNode(merged, spec_node->source(), spec_node->path()));
    } catch (const std::invalid_argument& error) {
      fail_with_block_message(*spec_node, *spec_node, error.what());
    }
  } else {
    resolved.spec = model_specs.front();
  }
  std::vector<std::int64_t> covered;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (model_specs[i] == resolved.spec) covered.push_back(candidates[i]);
  }
  if (covered.empty()) {
    const std::string difference = first_difference(resolved.spec, model_specs.front(), "");
    spec_node->fail("no " + binding.module + " of " + model.name + " has this spec (" + difference +
                    ")");
  }
  if (!spec_node && covered.size() != candidates.size()) {
    module_node.fail("the layers of " + model.name + " have different " + binding.slot +
                     " specs; give a \"spec\" (its fields are merged over layer " +
                     std::to_string(candidates.front()) +
                     "'s) to choose the layers this case stands for");
  }
  if (binding.per_layer) binding.layers = covered;
  return resolved;
}

CaseShapes parse_shapes(const JsonNode& case_node, const Json& default_shapes,
                        const suite_detail::KnownKind& known, const std::string& kind, Mode mode) {
  CaseShapes shapes;
  const std::vector<std::string> used = suite_detail::shape_fields(known, mode);
  const auto uses = [&used](const std::string& field) {
    return std::find(used.begin(), used.end(), field) != used.end();
  };
  Json merged = default_shapes;
  std::optional<JsonNode> own = case_node.find("shapes");
  if (own) {
    own->allow_only({"batch", "seq_len", "context_len"});
    for (const auto& [key, value] : own->json().items()) {
      if (!uses(key)) {
        own->at(key).fail("is not used by " + kind + " in " + std::string(mode_name(mode)) +
                          " (it reads: " + join(used) + ")");
      }
      merged[key] = value;
    }
  }
  const JsonNode node =
      own ? *own
          : JsonNode(merged, case_node.source(), json_child_path(case_node.path(), "shapes"));
  const JsonNode values(merged, node.source(), node.path());
  if (const auto batch = values.find("batch")) shapes.batch = batch->integer_at_least(1);
  if (uses("seq_len")) {
    const auto seq_len = values.find("seq_len");
    if (!seq_len) values.fail("missing field 'seq_len' (prefill needs the tokens per user)");
    shapes.seq_len = seq_len->integer_at_least(1);
  }
  if (uses("context_len")) {
    const auto context = values.find("context_len");
    if (!context) values.fail("missing field 'context_len' (decode needs the past positions)");
    shapes.context_len = context->integer_at_least(0);
  }
  return shapes;
}

SuiteFileCase parse_case(const JsonNode& node, const SuiteFile& file, const Defaults& defaults,
                         const std::optional<Preset>& file_preset, const std::string& base_dir) {
  node.allow_only({"name", "block", "module", "spec", "mode", "preset", "impl_config", "shapes",
                   "inputs", "expect", "occurrences", "split", "tags", "warmup", "repetitions",
                   "calibration"});
  // Written by `ttt suite calibrate` beside the thresholds it set: the rates they were set for.
  // Read by people, not by the run; checked for its form only.
  if (const auto calibration = node.find("calibration")) {
    calibration->allow_only({"seeds", "false_alarm", "miss_rates"});
    calibration->at("seeds").integer_at_least(10);
    const double false_alarm = calibration->at("false_alarm").number();
    if (!(false_alarm > 0.0 && false_alarm < 0.5)) {
      calibration->at("false_alarm").fail("expected a number in (0, 0.5)");
    }
    if (!calibration->at("miss_rates").json().is_object()) {
      calibration->at("miss_rates").fail("expected an object of fault names and rates");
    }
  }
  SuiteFileCase c;
  c.path = node.path();
  c.mode = parse_mode_at(node.at("mode"));
  c.preset = file_preset;
  if (const auto preset = node.find("preset")) {
    if (preset->json().is_null()) {
      c.preset.reset();
    } else {
      c.preset = parse_preset_at(*preset);
    }
  }
  const auto config_node = node.find("impl_config");
  if (config_node) c.impl_config = config_node->object();
  const JsonNode config_at = config_node ? *config_node
                                         : JsonNode(c.impl_config, node.source(),
                                                    json_child_path(node.path(), "impl_config"));

  if (const auto module = node.find("module")) {
    if (!file.model) module->fail("a module needs the suite's \"model\"");
    try {
      const ResolvedModule resolved =
          resolve_module(node, *module, *file.model, c.mode, file.device, c.preset);
      c.block = resolved.kind;
      c.spec = resolved.spec;
      c.module = resolved.binding;
      c.module_spec = resolved.spec;
      if (file.mesh.size() > 1) {
        if (const auto parallel = mesh_module_kind(c.block)) {
          c.block = parallel->kind;
          c.spec = Json{{parallel->spec_field, resolved.spec},
                        {"mesh", mesh_name(file.mesh)},
                        {"axis", kTensorParallelAxis}};
          const BlockKind& kind = *find_block_kind(c.block);
          c.spec = kind.configure(JsonNode(c.spec, node.source(), module->path()), file.device,
                                  c.mode, c.preset, JsonNode(Json::object(), node.source()))
                       .spec;
        }
      }
    } catch (const std::invalid_argument& error) {
      const std::string text = error.what();
      if (text.rfind(node.source() + ": ", 0) == 0) throw;
      module->fail(text);
    }
  } else {
    if (node.find("split")) node.at("split").fail("needs a \"module\" (lm_head or embedding)");
    c.block = node.at("block").string();
    c.spec = node.at("spec").object();
  }
  const suite_detail::KnownKind* known = suite_detail::find_known_kind(c.block);
  const BlockKind* registered = find_block_kind(c.block);
  const JsonNode spec_at =
      node.find("spec") ? node.at("spec")
                        : JsonNode(c.spec, node.source(), json_child_path(node.path(), "spec"));
  std::optional<suite_detail::ParsedBlock> parsed;
  if (registered != nullptr && registered->configure) {
    try {
      const auto configure = [&] {
        parsed = suite_detail::parse_block(*registered,
                                           JsonNode(c.spec, spec_at.source(), spec_at.path()),
                                           file.device, c.mode, c.preset, config_at);
      };
      // A mesh kind's Spec (one that reads "mesh") takes the suite's mesh unless it names one,
      // which must be the suite's.
      const bool names_mesh = c.spec.contains("mesh");
      try {
        configure();
      } catch (const std::invalid_argument& error) {
        if (names_mesh || !std::string_view(error.what()).ends_with("missing field 'mesh'")) {
          throw;
        }
        c.spec["mesh"] = mesh_name(file.mesh);
        configure();
      }
      if (parsed->spec.contains("mesh")) {
        if (!c.spec.contains("mesh")) {
          c.spec["mesh"] = mesh_name(file.mesh);
          configure();
        } else if (names_mesh &&
                   parse_mesh(parsed->spec.at("mesh").get<std::string>()) != file.mesh) {
          spec_at.at("mesh").fail("mesh " + parsed->spec.at("mesh").get<std::string>() +
                                  " is not the suite's mesh " + mesh_name(file.mesh) +
                                  " (the top-level \"mesh\")");
        }
      }
      c.spec = parsed->spec;
    } catch (const suite_detail::ImplConfigError& error) {
      fail_with_block_message(config_at, config_at, error.what());
    } catch (const std::invalid_argument& error) {
      fail_with_block_message(spec_at, config_at, error.what());
    }
    if ((c.block == "attention.prefill" && c.mode != Mode::prefill) ||
        (c.block == "attention.decode" && c.mode != Mode::decode)) {
      node.at("mode").fail(c.block + " runs in " +
                           std::string(c.block == "attention.prefill" ? "prefill" : "decode") +
                           " mode only");
    }
  }

  // Inputs: the defaults' fields, then the case's.
  Json inputs = defaults.inputs;
  if (const auto own = node.find("inputs")) {
    own->object();
    for (const auto& [key, value] : own->json().items()) inputs[key] = value;
  }
  const JsonNode inputs_at(
      inputs, node.source(),
      node.find("inputs") ? node.at("inputs").path() : json_child_path(node.path(), "inputs"));
  const std::string source = inputs_at.find("source") ? inputs_at.at("source").string() : "seeded";
  if (source == "seeded") {
    inputs_at.allow_only({"source", "activation_std", "weight_std", "regime"});
    if (const auto value = inputs_at.find("activation_std"))
      c.seeded.activation_std = value->number();
    if (const auto value = inputs_at.find("weight_std")) c.seeded.weight_std = value->number();
    if (!(c.seeded.activation_std > 0.0)) inputs_at.at("activation_std").fail("must be > 0");
    if (!(c.seeded.weight_std > 0.0)) inputs_at.at("weight_std").fail("must be > 0");
    if (known == nullptr) {
      node.at("block").fail("'" + c.block +
                            "' has no seeded inputs (known kinds: " + join(known_block_kinds()) +
                            "); give \"inputs\": {\"source\": \"trace\", ...}");
    }
    c.shapes = parse_shapes(node, defaults.shapes, *known, c.block, c.mode);
    try {
      suite_detail::check_seeded_input_bytes(*known, *parsed, c.mode, c.shapes);
    } catch (const std::invalid_argument& error) {
      node.fail(error.what());
    }
    if (const auto regime = inputs_at.find("regime")) {
      c.seeded.regime = regime->string();
      try {
        find_edge_regime(c.block, known->edge_regimes, c.seeded.regime);
      } catch (const std::invalid_argument& error) {
        regime->fail(error.what());
      }
    }
  } else if (source == "trace") {
    inputs_at.allow_only({"source", "file", "call", "index"});
    TraceInputs trace;
    trace.file = resolve_path(base_dir, inputs_at.at("file").string());
    trace.call = inputs_at.at("call").string();
    if (const auto index = inputs_at.find("index")) trace.call_index = index->integer_at_least(0);
    c.trace = trace;
  } else {
    inputs_at.at("source").fail("unknown input source '" + source + "' (expected seeded or trace)");
  }

  // Expectations: the defaults' fields, then the case's.
  Json expect = defaults.expect;
  if (const auto own = node.find("expect")) {
    own->object();
    for (const auto& [key, value] : own->json().items()) expect[key] = value;
  }
  const std::string expect_path =
      node.find("expect") ? node.at("expect").path() : json_child_path(node.path(), "expect");
  try {
    c.expectations = expectations_from_json(expect, expect_path);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(node.source() + ": " + error.what());
  }
  if (c.expectations.empty()) {
    node.fail(
        "no expectation: give \"expect\" (pcc, max_abs_error, nmse, latency, device_us, ...) "
        "here or in \"defaults\"");
  }

  c.occurrences =
      c.module ? c.module->instances() * (c.module->slot == "lm_head" ? c.module->split : 1) : 0;
  if (const auto occurrences = node.find("occurrences")) {
    c.occurrences = occurrences->integer_at_least(0);
  }
  if (const auto tags = node.find("tags")) {
    for (std::size_t i = 0; i < tags->size(); ++i) c.tags.push_back(tags->at(i).string());
  }
  if (const auto warmup = node.find("warmup")) {
    c.warmup = static_cast<int>(warmup->integer_in(0, kMaxCount));
  }
  if (const auto repetitions = node.find("repetitions")) {
    c.repetitions = static_cast<int>(repetitions->integer_in(kMinRepetitions, kMaxCount));
  }

  if (const auto name = node.find("name")) {
    c.id = name->string();
    if (c.id.empty()) name->fail("must not be empty");
  } else {
    const std::string base = c.module ? c.module->slot : c.block;
    c.id = base.find('.') == std::string::npos ? base + "." + std::string(mode_name(c.mode)) : base;
    if (c.module && c.module->per_layer && c.module->module.find('*') == std::string::npos) {
      c.id = c.module->module + "." + std::string(mode_name(c.mode));
    }
    if (c.trace) {
      c.id += ".trace";
    } else {
      if (c.shapes.batch != 1) c.id += ".b" + std::to_string(c.shapes.batch);
      if (c.mode == Mode::prefill) c.id += ".s" + std::to_string(c.shapes.seq_len);
      if (is_decode_attention_kind(c.block, c.mode)) {
        c.id += ".ctx" + std::to_string(c.shapes.context_len);
      }
    }
    if (c.preset) c.id += "." + std::string(preset_name(*c.preset));
    if (!c.seeded.regime.empty()) c.id += "." + c.seeded.regime;
  }
  return c;
}

}  // namespace

std::optional<MeshModuleKind> mesh_module_kind(const std::string& single_device_kind) {
  // Single-device kind -> its mesh kind and the field holding the whole Spec. tp_attention runs
  // both modes (a decode call's per-device KV caches are cut from the single-device cache).
  static const std::map<std::string, MeshModuleKind> kParallel = {
      {"gated_mlp", {"tp_gated_mlp", "mlp"}},
      {"moe", {"ep_moe", "moe"}},
      {"lm_head", {"tp_lm_head", "lm_head"}},
      {"attention.prefill", {"tp_attention", "attention"}},
      {"attention.decode", {"tp_attention", "attention"}},
      {"embedding", {"tp_embedding", "embedding"}},
  };
  const auto found = kParallel.find(single_device_kind);
  if (found == kParallel.end() || find_block_kind(found->second.kind) == nullptr) {
    return std::nullopt;
  }
  return found->second;
}

bool is_decode_attention_kind(const std::string& kind, Mode mode) {
  return mode == Mode::decode && (kind == "attention.decode" || kind == "tp_attention");
}

nlohmann::json module_spec_json(const CausalLmSpec& spec, const std::string& slot,
                                std::int64_t layer) {
  const auto inner = [](const Json& variant) { return variant.begin().value(); };
  if (slot == "embedding") return Json(spec.embedding);
  if (slot == "norm") return inner(Json(spec.norm));
  if (slot == "embedding_norm") {
    return spec.embedding_norm ? inner(Json(*spec.embedding_norm)) : Json();
  }
  if (slot == "lm_head") return Json(spec.lm_head);
  const DecoderLayerSpec& layer_spec = spec.layers.at(static_cast<std::size_t>(layer));
  if (slot == "attention") return Json(layer_spec.attention);
  if (slot == "attention_norm") return inner(Json(layer_spec.attention_norm));
  if (slot == "ffn_norm") return inner(Json(layer_spec.ffn_norm));
  if (slot == "ffn") return inner(Json(layer_spec.ffn));
  if (slot == "post_attention_norm" && layer_spec.post_attention_norm) {
    return inner(Json(*layer_spec.post_attention_norm));
  }
  if (slot == "post_ffn_norm" && layer_spec.post_ffn_norm) {
    return inner(Json(*layer_spec.post_ffn_norm));
  }
  return Json();
}

std::string module_block_kind(const CausalLmSpec& spec, const std::string& slot, std::int64_t layer,
                              Mode mode) {
  if (slot == "embedding") return "embedding";
  if (slot == "lm_head") return "lm_head";
  if (slot == "norm") return std::string(block_kind(spec.norm));
  if (slot == "embedding_norm") {
    return spec.embedding_norm ? std::string(block_kind(*spec.embedding_norm)) : "";
  }
  if (layer < 0 || layer >= static_cast<std::int64_t>(spec.layers.size())) return "";
  const DecoderLayerSpec& layer_spec = spec.layers[static_cast<std::size_t>(layer)];
  if (slot == "attention") {
    return mode == Mode::prefill ? "attention.prefill" : "attention.decode";
  }
  if (slot == "attention_norm") return std::string(block_kind(layer_spec.attention_norm));
  if (slot == "ffn_norm") return std::string(block_kind(layer_spec.ffn_norm));
  if (slot == "ffn") return std::string(block_kind(layer_spec.ffn));
  if (slot == "post_attention_norm" && layer_spec.post_attention_norm) {
    return std::string(block_kind(*layer_spec.post_attention_norm));
  }
  if (slot == "post_ffn_norm" && layer_spec.post_ffn_norm) {
    return std::string(block_kind(*layer_spec.post_ffn_norm));
  }
  return "";
}

SuiteFile parse_suite_file(const nlohmann::json& json, const std::string& source,
                           const std::string& base_dir) {
  const JsonNode root(json, source);
  root.allow_only({"suite", "description", "model", "mesh", "device", "seed", "preset", "defaults",
                   "cases"});
  SuiteFile file;
  file.file = source;
  file.definition = json;
  file.name = root.at("suite").string();
  if (file.name.empty()) root.at("suite").fail("must not be empty");
  if (const auto description = root.find("description")) file.description = description->string();
  const auto mesh = root.find("mesh");
  if (mesh) {
    try {
      file.mesh = parse_mesh(mesh->string());
    } catch (const std::invalid_argument& error) {
      mesh->fail(error.what());
    }
  }
  // A named mesh (N150, N300, T3K, TG) is also the device whose defaults configure the blocks.
  std::optional<Device> mesh_device;
  try {
    mesh_device = parse_device(mesh_name(file.mesh));
  } catch (const std::invalid_argument&) {
    mesh_device.reset();
  }
  if (mesh && mesh_device) file.device = *mesh_device;
  if (const auto device = root.find("device")) {
    try {
      file.device = parse_device(device->string());
    } catch (const std::invalid_argument& error) {
      device->fail(error.what());
    }
    if (mesh && mesh_device && *mesh_device != file.device) {
      device->fail("device " + device->string() + " does not match the mesh " +
                   mesh_name(file.mesh) + " (whose device is " +
                   std::string(device_name(*mesh_device)) + "); drop \"device\"");
    }
  }
  if (const auto seed = root.find("seed")) {
    if (!seed->json().is_number_unsigned()) seed->fail("expected an integer >= 0");
    file.seed = seed->json().get<std::uint64_t>();
  }
  if (const auto model = root.find("model")) {
    std::string name;
    std::int64_t layers = 0;
    std::int64_t vocab = 0;
    if (model->json().is_string()) {
      name = model->string();
    } else {
      model->allow_only({"name", "config", "num_layers", "vocab_size"});
      if (model->has("name") == model->has("config")) {
        model->fail("give exactly one of \"name\" (a catalog model) or \"config\" (a config.json)");
      }
      name = model->has("name") ? model->at("name").string()
                                : resolve_path(base_dir, model->at("config").string());
      if (const auto value = model->find("num_layers")) layers = value->integer_at_least(1);
      if (const auto value = model->find("vocab_size")) vocab = value->integer_at_least(1);
    }
    if (model->json().is_string() && !is_catalog_model(name)) name = resolve_path(base_dir, name);
    file.model_name = model->json().is_string() ? model->string() : name;
    try {
      file.model = load_model(name);
      if (layers > 0 || vocab > 0) {
        const std::int64_t keep =
            layers > 0 ? layers : static_cast<std::int64_t>(file.model->spec.layers.size());
        file.model->spec = slice_spec(file.model->spec, keep, vocab);
      }
    } catch (const std::invalid_argument& error) {
      model->fail(error.what());
    }
  }
  std::optional<Preset> preset;
  if (const auto value = root.find("preset"); value && !value->json().is_null()) {
    preset = parse_preset_at(*value);
  }
  Defaults defaults;
  if (const auto node = root.find("defaults")) {
    node->allow_only({"warmup", "repetitions", "shapes", "inputs", "expect"});
    if (const auto value = node->find("warmup")) {
      file.warmup = static_cast<int>(value->integer_in(0, kMaxCount));
    }
    if (const auto value = node->find("repetitions")) {
      file.repetitions = static_cast<int>(value->integer_in(kMinRepetitions, kMaxCount));
    }
    if (const auto value = node->find("shapes")) {
      value->allow_only({"batch", "seq_len", "context_len"});
      defaults.shapes = value->object();
    }
    if (const auto value = node->find("inputs")) defaults.inputs = value->object();
    if (const auto value = node->find("expect")) {
      defaults.expect = value->object();
      try {
        expectations_from_json(defaults.expect, value->path());
      } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(source + ": " + error.what());
      }
    }
  }
  const JsonNode cases = root.at("cases");
  if (cases.size() == 0) cases.fail("a suite needs at least one case");
  std::map<std::string, std::string> ids;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SuiteFileCase c = parse_case(cases.at(i), file, defaults, preset, base_dir);
    const auto [found, inserted] = ids.emplace(c.id, c.path);
    if (!inserted) {
      cases.at(i).fail("its id '" + c.id + "' is also the id of " + found->second +
                       "; give one of them a \"name\"");
    }
    file.cases.push_back(std::move(c));
  }
  return file;
}

SuiteFile load_suite_file(const std::string& path) {
  const Json json = read_json_file(path, "the suite file");
  const std::string base_dir = std::filesystem::path(path).parent_path().string();
  return parse_suite_file(json, path, base_dir);
}

Suite make_suite(const SuiteFile& file, const SuiteRunOptions& options) {
  SuiteOptions suite_options;
  suite_options.seed = file.seed;
  suite_options.fail_fast = options.fail_fast;
  suite_options.warmup = options.warmup >= 0 ? options.warmup : file.warmup;
  suite_options.repetitions = options.repetitions > 0 ? options.repetitions : file.repetitions;
  suite_options.filter = options.filter;
  suite_options.require_tags = options.require_tags;
  suite_options.exclude_tags = options.exclude_tags;
  suite_options.shard = options.shard;
  suite_options.cold_caches = options.cold_caches;
  suite_options.on_case_done = options.on_case_done;
  Suite suite(file.name, suite_options);
  suite.set_source(file.file, file.model_name);
  suite.set_mesh(mesh_name(file.mesh));
  suite.set_definition(file.definition);
  for (const SuiteFileCase& c : file.cases) {
    BlockCaseDefinition definition;
    definition.kind = c.block;
    definition.spec = c.spec;
    definition.mode = c.mode;
    definition.device = file.device;
    definition.preset = c.preset;
    definition.impl_config = c.impl_config;
    definition.module = c.module ? c.module->module : "";
    SuiteCase& added = suite.add_case(block_case(std::move(definition))).named(c.id);
    if (c.trace) {
      added.with_inputs_from_trace(*c.trace);
    } else {
      added.with_seeded_inputs(c.shapes, c.seeded);
    }
    added.expect_accuracy(c.expectations.accuracy);
    if (c.expectations.latency) added.expect_perf(*c.expectations.latency);
    if (!c.expectations.device_us.empty()) added.expect_device_time(c.expectations.device_us);
    added.occurs(c.occurrences).tagged(c.tags).vocab_shard_of(c.module ? c.module->split : 1);
    if (c.warmup || c.repetitions) {
      added.timing(c.warmup.value_or(suite_options.warmup),
                   c.repetitions.value_or(suite_options.repetitions));
    }
  }
  return suite;
}

RunResults run_suite_files(const std::vector<std::string>& paths, const SuiteRunOptions& options) {
  std::vector<Suite> suites;
  suites.reserve(paths.size());
  for (const std::string& path : paths)
    suites.push_back(make_suite(load_suite_file(path), options));
  std::vector<const Suite*> pointers;
  for (const Suite& suite : suites) {
    suite.validate();
    pointers.push_back(&suite);
  }
  return run_suites(pointers);
}

Shard parse_shard(const std::string& text) {
  const std::size_t slash = text.find('/');
  const auto fail = [&text]() -> Shard {
    throw std::invalid_argument("shard '" + text +
                                "' is not INDEX/TOTAL with 0 <= INDEX < TOTAL (e.g. 0/4)");
  };
  if (slash == std::string::npos) return fail();
  try {
    std::size_t used_index = 0;
    std::size_t used_total = 0;
    const std::string index_text = text.substr(0, slash);
    const std::string total_text = text.substr(slash + 1);
    Shard shard{std::stoll(index_text, &used_index), std::stoll(total_text, &used_total)};
    if (used_index != index_text.size() || used_total != total_text.size() || shard.total < 1 ||
        shard.index < 0 || shard.index >= shard.total) {
      return fail();
    }
    return shard;
  } catch (const std::logic_error&) {
    return fail();
  }
}

std::optional<Shard> shard_from_environment() {
  const char* index = std::getenv("GTEST_SHARD_INDEX");
  const char* total = std::getenv("GTEST_TOTAL_SHARDS");
  if (index == nullptr || total == nullptr) return std::nullopt;
  Shard shard;
  try {
    shard = parse_shard(std::string(index) + "/" + total);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("GTEST_SHARD_INDEX=" + std::string(index) +
                                " and GTEST_TOTAL_SHARDS=" + total +
                                " are not a shard (need 0 <= index < total)");
  }
  // GoogleTest creates this file to tell the runner that the program understands sharding.
  if (const char* status = std::getenv("GTEST_SHARD_STATUS_FILE"); status != nullptr && *status) {
    std::ofstream touch(status, std::ios::app);
  }
  return shard;
}

}  // namespace ttt

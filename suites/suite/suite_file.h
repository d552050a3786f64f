// Declarative suites: a JSON file naming a model and its block cases (docs/suites.md "Suite
// files"). Every field error names the file and the JSON path:
//   suites/llama-3.1-8b.json: /cases/3/spec/num_heads: expected an integer, got "32"
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "blocks/common/device.h"
#include "models/model.h"
#include "suites/suite/suite.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// Which instances of a model module a case stands for.
struct ModuleBinding {
  std::string module;  // As written: "layers.*.ffn", "layers.3.attention", "lm_head".
  // The module's name inside a layer ("ffn", "attention", ...) or at the model level
  // ("embedding", "embedding_norm", "norm", "lm_head").
  std::string slot;
  bool per_layer = false;            // A module of the layers.
  std::vector<std::int64_t> layers;  // The layers whose module has the case's Spec.
  std::int64_t split = 1;            // The case holds 1/split of the vocabulary (lm_head,
                                     // embedding): "split": {"vocab_size": 8}.
  // Instances in one forward of the whole model: layers.size(), or 1.
  std::int64_t instances() const {
    return per_layer ? static_cast<std::int64_t>(layers.size()) : 1;
  }
};

// One case of a suite file.
struct SuiteFileCase {
  std::string path;  // JSON path of the case: "/cases/3".
  std::string id;
  std::string block;  // Block kind.
  nlohmann::json spec = nlohmann::json::object();
  Mode mode = Mode::prefill;
  std::optional<Preset> preset;
  nlohmann::json impl_config = nlohmann::json::object();
  CaseShapes shapes;
  // Inputs: seeded (the default) or a call of a trace file.
  SeededInputs seeded;
  std::optional<TraceInputs> trace;
  Expectations expectations;
  std::optional<ModuleBinding> module;
  // The module's single-device Spec (as the model has it, after a split): `spec` itself, or the
  // Spec a mesh kind's `spec` wraps ({"mlp": ...} of tp_gated_mlp). Null without a module.
  nlohmann::json module_spec;
  // Times the case runs in one forward of the model the file names, recorded in the results.
  // Default: the module's instances (times the split for the LM head), or 0 without a module.
  // `ttt compose` counts instances from the model itself; 0 leaves the case out of it.
  std::int64_t occurrences = 0;
  std::vector<std::string> tags;
  std::optional<int> warmup;
  std::optional<int> repetitions;
};

// A parsed suite file.
struct SuiteFile {
  std::string file;  // The path it was read from.
  std::string name;
  std::string description;
  std::string model_name;  // As written ("llama-3.1-8b", a config path); "" when none.
  std::optional<ModelDefinition> model;  // With the file's num_layers / vocab_size overrides.
  // The devices the cases run on ("mesh": "T3K"; default 1x1). On a mesh of more than one device
  // the modules with a tensor-parallel kind run it (mesh_module_kind), and the Spec of every
  // mesh kind takes this mesh; the results and the composition name it (docs/suites.md).
  Mesh mesh{};
  // Whose TTTv1 defaults configure the blocks: "device", else the mesh's name when it is one
  // (N150, N300, T3K, TG), else N150.
  Device device = Device::N150;
  std::uint64_t seed = 0;
  int warmup = 2;
  int repetitions = kMinRepetitions;
  std::vector<SuiteFileCase> cases;
  nlohmann::json definition;  // The file's JSON (mixed into the fingerprint).
};

// Parses a suite. `source` names it in errors; relative paths in it (model config, trace files)
// are resolved against `base_dir`. Throws std::invalid_argument "<source>: <JSON path>: <what>"
// for the first bad field.
SuiteFile parse_suite_file(const nlohmann::json& json, const std::string& source,
                           const std::string& base_dir);
// Reads and parses the suite file at `path`.
SuiteFile load_suite_file(const std::string& path);

// How `ttt suite run` runs suite files.
struct SuiteRunOptions {
  std::string filter = "*";  // Globs on case ids (SuiteOptions::filter).
  Shard shard{};
  bool fail_fast = false;
  // Only cases carrying every one of these tags ("quick"). Default: every case.
  std::vector<std::string> require_tags{};
  // Only cases carrying none of these tags. Default: none excluded.
  std::vector<std::string> exclude_tags{};
  // Overrides of the file's repetitions and warm-up (0: the file's).
  int repetitions = 0;
  int warmup = -1;
  // Evict the caches before every repetition (SuiteOptions::cold_caches). Default: on.
  bool cold_caches = true;
  // SuiteOptions::on_case_done, for the cases of each file.
  std::function<void(std::size_t, std::size_t, const CaseResult&)> on_case_done = nullptr;
};

// The Suite of a suite file: one block_case per case with its seeded or traced inputs,
// expectations, occurrences and tags; the options select cases by filter, tags and shard.
Suite make_suite(const SuiteFile& file, const SuiteRunOptions& options = {});

// Loads, builds and runs every file, one suite each, into one RunResults.
RunResults run_suite_files(const std::vector<std::string>& paths,
                           const SuiteRunOptions& options = {});

// Sharding from GoogleTest's environment: GTEST_SHARD_INDEX and GTEST_TOTAL_SHARDS when both are
// set (and touches GTEST_SHARD_STATUS_FILE when set, as GoogleTest does), else nullopt. Throws
// std::invalid_argument naming a variable that is not a valid shard.
std::optional<Shard> shard_from_environment();
// "I/N" -> {I, N}. Throws std::invalid_argument naming the text.
Shard parse_shard(const std::string& text);

// The Spec of a model module as JSON, as its block writes it: the module "layers.3.ffn" of a
// Llama is its gated_mlp spec. `slot` as ModuleBinding::slot; `layer` for layer modules.
nlohmann::json module_spec_json(const CausalLmSpec& spec, const std::string& slot,
                                std::int64_t layer);
// The tensor-parallel kind a module's single-device kind runs as on a mesh of more than one
// device, and the field of its Spec holding the single-device Spec: "gated_mlp" ->
// {"tp_gated_mlp", "mlp"}. nullopt when the kind has none registered (norms, and whatever has no
// tensor-parallel kind yet): the module then runs its single-device kind, replicated on every
// device, which is numerically what each device computes.
struct MeshModuleKind {
  std::string kind;
  std::string spec_field;
};
std::optional<MeshModuleKind> mesh_module_kind(const std::string& single_device_kind);

// Whether `kind` in `mode` is a decode attention ("attention.decode", or tp_attention in decode):
// the cases keyed by context_len (case ids, composition).
bool is_decode_attention_kind(const std::string& kind, Mode mode);

// The block kind of a model module in `mode` ("attention.decode", "rms_norm", ...), or "" when
// the model has no such module (a Llama's post_ffn_norm).
std::string module_block_kind(const CausalLmSpec& spec, const std::string& slot, std::int64_t layer,
                              Mode mode);

}  // namespace ttt

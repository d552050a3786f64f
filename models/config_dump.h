// Configuration dumps: the complete configuration a model run uses, as one JSON document
// (docs/fingerprints.md "Configuration dumps"; `ttt config dump|diff`).
//
// A dump lists the model's Spec, every module's block kind, Spec and ImplConfig (after defaults,
// preset and overrides) in both modes under its module path, the fingerprints of the calls the
// run makes, the device, mesh and preset, and TTTv2's version. `ttt demo` writes its dump to
// <out-dir>/config.json and into its trace (root attribute "config"); diff_config_dumps names every
// field that differs between two runs' dumps, to tell which side of a serving stack changed.
//
//   {"ttt_config_dump": 1, "tttv2_version": "2.0.0", "fingerprint_version": "2.0",
//    "model": {"source": "...", "spec": {...}}, "device": "N150", "mesh": "1x1",
//    "preset": "none", "shapes": {"batch": 1, "prompt_tokens": 32, "decode_steps": 16},
//    "modules": [{"module": "layers.0.ffn", "mode": "decode", "kind": "gated_mlp",
//                 "identity": "...", "spec": {...}, "impl_config": {...},
//                 "fingerprints": [{"id": "...", "summary": "..."}]}, ...]}
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "blocks/common/device.h"
#include "patterns/causal_lm.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// The value of the "ttt_config_dump" key: the format version.
inline constexpr int kConfigDumpFormatVersion = 1;

// What a run is besides its modules.
struct ConfigDumpRun {
  std::string source;         // Where the model's config came from (a path, "built-in").
  nlohmann::json model_spec;  // The model's Spec (CausalLmSpec as JSON).
  Device device = Device::N150;
  std::optional<Preset> preset = std::nullopt;
  Mesh mesh{};
  // The calls the run makes: a prefill of prompt_tokens for `batch` users, then decode_steps
  // decode calls at context prompt_tokens, prompt_tokens + 1, ... (fingerprints per bucket).
  std::int64_t batch = 1;
  std::int64_t prompt_tokens = 1;
  std::int64_t decode_steps = 0;
};

// The dump of `model` run as `run` says. A module whose block kind is not registered lists no
// fingerprints.
nlohmann::json make_config_dump(const CausalLm& model, const ConfigDumpRun& run);

// Reads a dump: a JSON file make_config_dump wrote, or a trace that carries one (root attribute
// "config"). Checks the structure with the strict reader. Throws std::invalid_argument naming the
// file (and JSON path): a missing file, "not a configuration dump (no ttt_config_dump key)", a
// newer format version, a trace without a dump, an unknown or mistyped field.
nlohmann::json read_config_dump(const std::string& path);

// One field that differs between two dumps.
struct ConfigDifference {
  // Where: the module and mode ("layers.0.ffn decode") or "" for a run-level field.
  std::string module;
  // The field's path inside the module entry or the dump: "impl_config.ff1.fidelity",
  // "model.spec.layers[1].ffn.ffn_dim", "mesh". For a module only one dump has: "".
  std::string field;
  // The values; null when the field (or module) is absent on that side.
  nlohmann::json a;
  nlohmann::json b;
};

// Every field that differs between dumps `a` and `b`, run-level fields first, then modules in
// `a`'s order followed by those only `b` has. Numbers compare by value (1 and 1.0 are equal).
// REQUIRES: both were read by read_config_dump (or made by make_config_dump).
std::vector<ConfigDifference> diff_config_dumps(const nlohmann::json& a, const nlohmann::json& b);

// "layers.0.ffn decode: impl_config.ff1.fidelity: \"HiFi2\" -> \"HiFi4\"", "mesh: \"1x1\" ->
// \"1x8\"", "layers.2.ffn decode: only in A".
std::string describe(const ConfigDifference& difference);

}  // namespace ttt

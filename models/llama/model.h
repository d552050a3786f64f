// A Llama-family causal LM built from a config.json, with checkpoint or seeded weights and every
// module call validated (patterns/causal_lm.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "blocks/common/device.h"
#include "models/llama/config.h"
#include "models/tokenizer.h"
#include "patterns/causal_lm.h"
#include "validation/mesh/mesh.h"

namespace ttt::llama {

// How to build the model. Every field has a default.
struct LlamaModelOptions {
  // A .safetensors file or a directory of them; "" draws seeded weights instead. Default: "".
  std::string checkpoint = "";
  // Selects the seeded model (seeded_model_weights, initializer_range as stddev). Default: 0.
  std::uint64_t seed = 0;
  // The device whose defaults configure every block, and that records and traces name.
  Device device = Device::N150;
  // TTTv1's precision preset; unset: TTTv1's default settings.
  std::optional<Preset> preset = std::nullopt;
  // The mesh the model runs on, tensor parallel (patterns/tensor_parallel.h: attention, MLP and
  // LM head split over its devices, norms and embedding replicated). Default: 1x1, one device.
  Mesh mesh{};
  // Teacher forcing and validation switches of the pattern (PatternOptions; its device is set
  // from `device`).
  bool teacher_forcing = false;
  bool validate = true;
};

// The model and what it was built from.
struct LlamaModel {
  LlamaConfig config;
  PerMode<CausalLmImplConfig> impl_configs;
  CausalLm model;
};

// Builds the model: default_impl_configs(config.spec, device, preset), weights from the checkpoint
// (shapes checked now, values loaded when first used) or seeded. Throws std::invalid_argument
// naming the file and field or tensor for bad input.
LlamaModel build_llama_model(const LlamaConfig& config, const LlamaModelOptions& options = {});

// A Hugging Face model directory (models/trained/tiny-llama-bytes): config.json, the .safetensors
// checkpoint, and optionally tokenizer_config.json (a byte-level tokenizer).
struct ModelDirectory {
  std::string path;
  std::string name;  // The directory's own name: "tiny-llama-bytes".
  LlamaConfig config;
  // FNV-1a 64 of the bytes of the .safetensors files in path order: "fnv1a64:<16 hex digits>".
  // What token goldens record as their weights.
  std::string weights_hash;
  std::optional<ByteTokenizer> tokenizer;
};

// Opens the model directory `path`: reads config.json (load_llama_config), checks the checkpoint
// holds every weight the config implies with its shape (checkpoint_weights; values are loaded
// later), hashes the weights and reads the tokenizer. Throws std::invalid_argument naming the
// file (and field or tensor) for a missing or bad config.json or checkpoint.
ModelDirectory open_model_directory(const std::string& path);

// The model of `directory` (build_llama_model with its checkpoint; options.checkpoint is set).
LlamaModel build_llama_model(const ModelDirectory& directory, LlamaModelOptions options = {});

}  // namespace ttt::llama

// The flags that say which model run a command means: the model (--config or --model), its
// configuration (--preset, --device, --mesh) and the run's shapes (--prompt-tokens,
// --decode-steps). `ttt demo` and `ttt config dump` take the same flags, so that the dump is the
// demo's.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "blocks/common/device.h"
#include "models/llama/demo.h"
#include "validation/mesh/mesh.h"

namespace ttt::cli {

struct ModelFlags {
  std::string config_path;
  std::string model_dir;
  std::string preset;
  std::string device;  // Default: the mesh's device when it is a named one, else N150.
  std::string mesh = "N150";
  std::int64_t prompt_tokens = 32;
  std::int64_t decode_steps = 16;
};

// The device of a named mesh (T3K for 1x8); N150 for any other.
inline Device mesh_device(const Mesh& mesh) {
  for (const Device device : {Device::N150, Device::N300, Device::T3K, Device::TG}) {
    if (parse_mesh(device_name(device)) == mesh) return device;
  }
  return Device::N150;
}

inline void add_model_flags(CLI::App* command, ModelFlags& flags) {
  command->add_option("--config", flags.config_path,
                      "A Hugging Face config.json of the Llama family (default: ttt demo's "
                      "built-in config)");
  command->add_option("--model", flags.model_dir,
                      "A model directory with learned weights (config.json, model.safetensors; "
                      "e.g. models/trained/tiny-llama-bytes) instead of seeded weights; `ttt "
                      "demo` also prints the token accuracy against its reference_tokens.h5");
  command->add_option("--preset", flags.preset, "TTTv1 precision preset (default: none)")
      ->check(CLI::IsMember({"accuracy", "performance"}));
  command
      ->add_option("--device", flags.device,
                   "Device whose defaults configure the blocks (default: the mesh's, N150)")
      ->check(CLI::IsMember({"N150", "N300", "T3K", "TG"}));
  command->add_option(
      "--mesh", flags.mesh,
      "The mesh the model runs on, tensor parallel: N150 (default, one device), N300, T3K, TG "
      "or RxC; under mpirun one rank per device");
  command->add_option("--prompt-tokens", flags.prompt_tokens, "Prompt length (default 32)")
      ->check(CLI::PositiveNumber);
  command->add_option("--decode-steps", flags.decode_steps, "Decode steps (default 16)")
      ->check(CLI::NonNegativeNumber);
}

// `options` with the model, configuration and shapes the flags describe (its other fields kept).
// Throws std::invalid_argument for a bad mesh.
inline llama::DemoOptions demo_options(const ModelFlags& flags, llama::DemoOptions options = {}) {
  options.config_path = flags.config_path;
  options.model_dir = flags.model_dir;
  if (!flags.preset.empty()) options.preset = parse_preset(flags.preset);
  options.mesh = parse_mesh(flags.mesh);
  options.device = flags.device.empty() ? mesh_device(options.mesh) : parse_device(flags.device);
  options.prompt_tokens = flags.prompt_tokens;
  options.decode_steps = flags.decode_steps;
  return options;
}

}  // namespace ttt::cli

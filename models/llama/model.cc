#include "models/llama/model.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>

#include "models/safetensors.h"
#include "models/weights.h"
#include "validation/tensor/fnv.h"

namespace ttt::llama {

LlamaModel build_llama_model(const LlamaConfig& config, const LlamaModelOptions& options) {
  PerMode<CausalLmImplConfig> configs =
      default_impl_configs(config.spec, options.device, options.preset, options.mesh);
  CausalLmWeights weights =
      options.checkpoint.empty()
          ? seeded_model_weights(config.spec, config.initializer_range, options.seed)
          : checkpoint_weights(config.spec, config.model_type,
                               SafetensorsCheckpoint::open(options.checkpoint));
  PatternOptions pattern;
  pattern.device = std::string(device_name(options.device));
  pattern.teacher_forcing = options.teacher_forcing;
  pattern.validate = options.validate;
  CausalLm model(make_causal_lm_modules(config.spec, configs, std::move(weights)), pattern);
  return LlamaModel{config, std::move(configs), std::move(model)};
}

namespace {

std::string hash_files(const SafetensorsCheckpoint& checkpoint) {
  std::uint64_t hash = kFnvOffsetBasis;
  std::string buffer(1 << 20, '\0');
  for (const SafetensorsFile& file : checkpoint.files()) {
    std::ifstream in(file.path(), std::ios::binary);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      hash = fnv1a64(std::string_view(buffer.data(), static_cast<std::size_t>(in.gcount())), hash);
    }
    if (!in.eof()) throw std::invalid_argument("[model] cannot read " + file.path());
  }
  return "fnv1a64:" + hex64(hash);
}

}  // namespace

ModelDirectory open_model_directory(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(path)) {
    throw std::invalid_argument("[model] " + path +
                                " is not a directory (a model directory holds config.json and "
                                "model.safetensors)");
  }
  ModelDirectory directory;
  directory.path = path;
  fs::path normal = fs::absolute(path).lexically_normal();  // "dir/", "dir/." name "dir".
  if (!normal.has_filename()) normal = normal.parent_path();
  directory.name = normal.filename().string();
  directory.config = load_llama_config((fs::path(path) / "config.json").string());
  const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(path);
  checkpoint_weights(directory.config.spec, directory.config.model_type, checkpoint);
  directory.weights_hash = hash_files(checkpoint);
  directory.tokenizer = read_byte_tokenizer(path);
  return directory;
}

LlamaModel build_llama_model(const ModelDirectory& directory, LlamaModelOptions options) {
  options.checkpoint = directory.path;
  return build_llama_model(directory.config, options);
}

}  // namespace ttt::llama

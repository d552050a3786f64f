#include "models/llama/model.h"

#include <utility>

#include "models/safetensors.h"
#include "models/weights.h"

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

}  // namespace ttt::llama

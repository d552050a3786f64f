// Every module a causal LM calls, by module path, with the configuration its calls carry: what a
// configuration dump lists (models/config_dump.h, `ttt config dump`).
#pragma once

#include <string>
#include <vector>

#include "patterns/causal_lm.h"

namespace ttt {

// Calls f(path, module) for every module of `modules` in model order: "embedding",
// "embedding_norm" (when set), then per layer i "layers.<i>.attention_norm",
// "layers.<i>.attention", "layers.<i>.post_attention_norm" (when set), "layers.<i>.ffn_norm",
// "layers.<i>.ffn", "layers.<i>.post_ffn_norm" (when set), then "norm" and "lm_head". `module` is
// an EmbeddingModule, AttentionModule or PositionwiseModule: each has info(Mode) and weights().
// The paths are the module call names without their mode ("layers.3.ffn.decode").
template <typename F>
void for_each_module(const CausalLmModules& modules, F&& f) {
  f(std::string("embedding"), *modules.embedding);
  if (modules.embedding_norm) f(std::string("embedding_norm"), *modules.embedding_norm);
  for (std::size_t i = 0; i < modules.layers.size(); ++i) {
    const DecoderLayerModules& layer = modules.layers[i];
    const std::string path = "layers." + std::to_string(i);
    f(path + ".attention_norm", *layer.attention_norm);
    f(path + ".attention", *layer.attention);
    if (layer.post_attention_norm) f(path + ".post_attention_norm", *layer.post_attention_norm);
    f(path + ".ffn_norm", *layer.ffn_norm);
    f(path + ".ffn", *layer.ffn);
    if (layer.post_ffn_norm) f(path + ".post_ffn_norm", *layer.post_ffn_norm);
  }
  f(std::string("norm"), *modules.norm);
  f(std::string("lm_head"), *modules.lm_head);
}

// One module in one mode: its path and what its calls carry (block kind, Spec and ImplConfig
// after defaults, preset and overrides).
struct ModuleConfig {
  std::string path;  // "layers.3.ffn".
  Mode mode = Mode::prefill;
  ModuleInfo info;
};

// Every module of `model` in model order (for_each_module), prefill then decode for each.
std::vector<ModuleConfig> module_configs(const CausalLm& model);

}  // namespace ttt

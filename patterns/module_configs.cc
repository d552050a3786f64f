#include "patterns/module_configs.h"

namespace ttt {

std::vector<ModuleConfig> module_configs(const CausalLm& model) {
  std::vector<ModuleConfig> configs;
  for_each_module(model.modules(), [&](const std::string& path, const auto& module) {
    for (const Mode mode : {Mode::prefill, Mode::decode}) {
      configs.push_back({path, mode, module.info(mode)});
    }
  });
  return configs;
}

}  // namespace ttt

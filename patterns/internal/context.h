// Error context for the patterns (internal): a block's message prefixed with the module it came
// from, "[decoder_layer] ffn: [gated_mlp] w_down has shape [...], expected [...]".
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace ttt::pattern_detail {

// Runs `body`; a std::invalid_argument it throws is rethrown as "[<operation>] <what>: <message>".
template <typename Body>
auto with_context(std::string_view operation, std::string_view what, Body&& body)
    -> decltype(body()) {
  try {
    return body();
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[" + std::string(operation) + "] " + std::string(what) + ": " +
                                error.what());
  }
}

// What every make_*_modules checks first: the spec, then the prefill and decode configs (a
// PerMode) against it, a config's error naming its mode: "[decoder_layer] decode config: ...".
template <typename Spec, typename PerModeConfigs>
void validate_spec_and_configs(std::string_view operation, const Spec& spec,
                               const PerModeConfigs& configs) {
  spec.validate();
  with_context(operation, "prefill config", [&] { configs.prefill.validate(spec); });
  with_context(operation, "decode config", [&] { configs.decode.validate(spec); });
}

}  // namespace ttt::pattern_detail

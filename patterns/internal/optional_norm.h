// Optional norms (internal): a norm a pattern's Spec may leave unset (a decoder layer's
// post_attention_norm and post_ffn_norm, the causal LM's embedding_norm). Its ImplConfig and
// weights must then be unset too, and it has no module and no calls.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "patterns/block_modules.h"

namespace ttt::pattern_detail {

// Checks that `config` is set exactly when `spec` is, then the config against the spec. Throws
// std::invalid_argument "[<operation>] <field> is configured but the spec has no <field>", or the
// norm's own error prefixed "[<operation>] <field>: ".
void validate_optional_norm(std::string_view operation, const std::optional<NormSpec>& spec,
                            const std::optional<NormImplConfig>& config, std::string_view field);

// The norm's module, or nullptr when `spec` is unset (then `weights` must be empty: "[<operation>]
// weights were given for <field>, but the spec has no <field>"). REQUIRES: the configs were
// checked with validate_optional_norm.
std::shared_ptr<const PositionwiseModule> make_optional_norm_module(
    std::string_view operation, const std::optional<NormSpec>& spec,
    const std::optional<NormImplConfig>& prefill, const std::optional<NormImplConfig>& decode,
    NormWeights weights, std::string_view field);

}  // namespace ttt::pattern_detail

#include "patterns/internal/optional_norm.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "patterns/internal/context.h"

namespace ttt::pattern_detail {

void validate_optional_norm(std::string_view operation, const std::optional<NormSpec>& spec,
                            const std::optional<NormImplConfig>& config, std::string_view field) {
  const std::string name(field);
  if (spec.has_value() != config.has_value()) {
    throw std::invalid_argument("[" + std::string(operation) + "] " + name + " is " +
                                (config.has_value() ? "configured" : "not configured") +
                                " but the spec " + (spec.has_value() ? "has" : "has no") + " " +
                                name);
  }
  if (spec.has_value()) {
    with_context(operation, field, [&] { ttt::validate(*spec, *config, field); });
  }
}

std::shared_ptr<const PositionwiseModule> make_optional_norm_module(
    std::string_view operation, const std::optional<NormSpec>& spec,
    const std::optional<NormImplConfig>& prefill, const std::optional<NormImplConfig>& decode,
    NormWeights weights, std::string_view field) {
  const std::string name(field);
  if (!spec.has_value()) {
    if (weights.weight.defined() || weights.bias.defined()) {
      throw std::invalid_argument("[" + std::string(operation) + "] weights were given for " +
                                  name + ", but the spec has no " + name);
    }
    return nullptr;
  }
  return with_context(operation, field, [&] {
    return make_norm_module(*spec, {*prefill, *decode}, std::move(weights));
  });
}

}  // namespace ttt::pattern_detail

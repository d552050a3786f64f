// Edge-regime inputs of a block kind (docs/testing.md "Edge regimes"): the seeded inputs are
// unit-scale, centred, with every user at one position, and some parameters only matter outside
// that (an epsilon on a near-zero row, a softcap on large logits, a cache index at its last
// slot). A kind declares the regimes that matter to it in BlockKind::edge_regimes, each with its
// reason; a suite case names one ("inputs": {"regime": "near_zero_rows"}, docs/suites.md) and
// tests/suites/suite/edge_regime_test.cc runs every declared regime device against reference with
// the kind's tolerances.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/common/device.h"
#include "validation/tensor/tensor.h"

namespace ttt {

struct ConfiguredBlock;
struct CallShapes;

// One regime: what it is, why it matters, and how it changes a call's seeded inputs.
struct EdgeRegime {
  std::string name;    // "near_zero_rows": what suite files and reports call it.
  std::string reason;  // The fault it exposes that unit-scale inputs hide.
  // Changes the inputs drawn for `block` (BlockKind::seeded_inputs with `shapes`) in place.
  // Throws std::invalid_argument when the Spec or the shapes cannot show the regime ("needs
  // spec.logit_softcap > 0", "needs shapes.batch >= 2"), naming the regime.
  std::function<void(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes,
                     std::vector<NamedTensor>& inputs)>
      apply = nullptr;
};

// The regime called `name` among `regimes`. Throws std::invalid_argument naming `kind` and the
// regimes it declares: "[rms_norm] unknown edge regime 'x' (declared: near_zero_rows, ...)".
const EdgeRegime& find_edge_regime(std::string_view kind, const std::vector<EdgeRegime>& regimes,
                                   std::string_view name);

// The regimes the kinds share (blocks/common/edge_regime.cc holds their reasons).
namespace edge_regimes {

// x: rows 0, 4, 8, ... zero (padding tokens), rows 1, 5, 9, ... scaled by 2^-9 (mean square
// about 4e-6 at unit scale: of the order of a norm's eps), the rest unchanged.
EdgeRegime near_zero_rows();
// x + 32, rounded back to x's format: a DC offset 32 times the spread.
EdgeRegime dc_offset();
// x * 2^16: massive activations (LLM residual streams reach 1e3-1e4), far from unit scale.
EdgeRegime large_magnitude();
// x * factor when the Spec has a softcap (`cap_of` reads it from the Spec JSON, 0 = none), so
// most capped values sit on the tanh's flat part.
EdgeRegime saturated_softcap(std::function<double(const nlohmann::json& spec)> cap_of,
                             double factor);
// Decode: user b at position context_len - 3 b (at least 0). REQUIRES shapes.batch >= 2.
EdgeRegime users_at_different_positions();
// Decode with a KV cache: every user at the cache's last position (its earlier positions past
// context_len hold zeros, as the seeded cache leaves them).
EdgeRegime full_kv_cache();
// Decode with RoPE scaling: requires shapes.context_len at or past the scaling's original
// context (`original_of` reads it from the Spec JSON, 0 = no scaling); changes no input.
EdgeRegime past_original_context(
    std::function<std::int64_t(const nlohmann::json& spec)> original_of);

}  // namespace edge_regimes
}  // namespace ttt

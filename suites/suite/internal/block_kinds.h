// What the suites know about TTTv2's block kinds (internal to suites/suite): how to build the
// ImplConfig of a Spec with a preset, the identity string, and the inputs (names, shapes, how to
// draw them). The registry replays any kind; this table only adds seeded inputs and presets.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/common/device.h"
#include "suites/suite/suite.h"

namespace ttt::suite_detail {

// A Spec parsed and validated, with its full ImplConfig.
struct ParsedBlock {
  nlohmann::json spec;         // The Spec as the block writes it (every field).
  nlohmann::json impl_config;  // default_impl_config(spec, device, mode, preset) + overrides.
  std::string identity;        // The Spec's identity string.
};

// A known kind ("gated_mlp", "attention.decode", ...) or nullptr.
struct KnownKind;
const KnownKind* find_known_kind(std::string_view kind);
std::vector<std::string> known_kind_names();

// What parse_block throws when the ImplConfig overrides are at fault (not the Spec): the block's
// messages name a field without saying whether it is the Spec's or the ImplConfig's.
class ImplConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Parses `spec`, validates it and builds the ImplConfig. Throws std::invalid_argument with the
// block's message (ImplConfigError when the ImplConfig overrides are invalid).
ParsedBlock parse_block(const KnownKind& kind, const nlohmann::json& spec, Device device, Mode mode,
                        const std::optional<Preset>& preset,
                        const nlohmann::json& impl_config_overrides);

// The identity string of a Spec of a known kind (throws like parse_block).
std::string block_identity(const KnownKind& kind, const nlohmann::json& spec);

// Which shape fields the kind reads in `mode`: "batch" always, "seq_len" in prefill,
// "context_len" for attention.decode and a learned-position embedding in decode.
std::vector<std::string> shape_fields(const KnownKind& kind, Mode mode);

// Seeded inputs of the kind's replayer for `block` (docs/suites.md "Seeded inputs"). Throws
// std::invalid_argument naming a shape field that is missing or out of range.
CaseInputs seeded_block_inputs(const KnownKind& kind, const ParsedBlock& block, Mode mode,
                               const CaseShapes& shapes, const SeededInputs& seeded,
                               std::uint64_t seed);

// Throws std::invalid_argument when the seeded inputs of `block` with `shapes` would need more
// bytes than allocation_limit() ("seeded input 'w_up' (shape [...]), with the inputs before it, needs ..."), without
// drawing them: `ttt suite check` refuses such a case before `ttt suite run` would allocate.
void check_seeded_input_bytes(const KnownKind& kind, const ParsedBlock& block, Mode mode,
                              const CaseShapes& shapes);

// Draws a KV cache of `shape` [batch, kv_heads, max_seq, head_dim] in `dtype`: positions
// [0, filled) normal(0, 1), the rest zero.
Tensor seeded_cache(const Shape& shape, DType dtype, std::int64_t filled, std::uint64_t seed);
// An activation: normal(0, std) rounded to bfloat16, the format blocks pass between them.
Tensor seeded_activation(const Shape& shape, double std, std::uint64_t seed);
// Positions [batch], every user at `position`.
Tensor uniform_positions(std::int64_t batch, std::int64_t position);
// Cache length for a prefill of `seq_len` or a decode at `context_len`: the positions needed,
// rounded up to whole 32-position tiles.
std::int64_t cache_length(std::int64_t positions_needed);

}  // namespace ttt::suite_detail

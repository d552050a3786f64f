// How the suites read TTTv2's block kinds (internal to suites/suite): each kind's descriptor
// (blocks/common/block_kind.h, defined beside its block) configures a Spec with a preset, names
// its identity and lists its inputs with their shapes and distributions; the Drawer here draws
// them with the suite's seeds and standard deviations.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/common/block_kind.h"
#include "blocks/common/device.h"
#include "suites/suite/suite.h"
#include "validation/input/json_reader.h"

namespace ttt::suite_detail {

// A Spec parsed and validated, with its full ImplConfig and identity.
using ParsedBlock = ConfiguredBlock;

// A kind the suites can seed: a BlockKind with seeded inputs.
using KnownKind = BlockKind;
// The kind called `kind` ("gated_mlp", "attention.decode", ...) when it has seeded inputs, or
// nullptr.
const KnownKind* find_known_kind(std::string_view kind);
// The kinds the suites can seed, sorted.
std::vector<std::string> known_kind_names();

// What parse_block throws when the ImplConfig overrides are at fault (not the Spec).
using ImplConfigError = ttt::ImplConfigError;

// Parses `spec`, validates it and builds the ImplConfig (BlockKind::configure). Throws
// std::invalid_argument with the block's message (ImplConfigError when the ImplConfig overrides
// are invalid); a field of the wrong type or unknown is named by the node's source and JSON path.
ParsedBlock parse_block(const KnownKind& kind, const JsonNode& spec, Device device, Mode mode,
                        const std::optional<Preset>& preset, const JsonNode& impl_config_overrides);

// The identity string of a Spec of a known kind (throws like parse_block).
std::string block_identity(const KnownKind& kind, const nlohmann::json& spec);

// Which shape fields the kind reads in `mode` (BlockKind::shape_fields): "batch" always,
// "seq_len" in prefill, "context_len" in decode for attention.decode and the embedding.
std::vector<std::string> shape_fields(const KnownKind& kind, Mode mode);

// Seeded inputs of the kind's replayer for `block` (docs/suites.md "Seeded inputs"). Throws
// std::invalid_argument naming a shape field that is missing or out of range.
CaseInputs seeded_block_inputs(const KnownKind& kind, const ParsedBlock& block, Mode mode,
                               const CaseShapes& shapes, const SeededInputs& seeded,
                               std::uint64_t seed);

// Throws std::invalid_argument when the seeded inputs of `block` with `shapes` would need more
// bytes than allocation_limit() ("seeded input 'w_up' (shape [...]), with the inputs before it,
// needs ..."), without drawing them: `ttt suite check` refuses such a case before `ttt suite run`
// would allocate.
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
// rounded up to whole 32-position tiles (the blocks' rule, blocks/common/block_kind.h).
using ttt::cache_length;

}  // namespace ttt::suite_detail

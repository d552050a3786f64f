// A block kind's descriptor: the one place that tells the rest of TTTv2 everything about a kind
// ("rms_norm", "attention.decode") that is not the block's own mathematics.
//
// Each block family defines its kinds beside its blocks, in blocks/<family>/kinds.cc (the function
// `add_<family>_block_kinds`, found by the build: blocks/CMakeLists.txt). Replay
// (blocks/registration.h feeds BlockRegistry from them), the suites (seeded inputs, presets,
// identities), coverage (facts per configuration) and patterns read the descriptors; none of them
// spells a kind's input names again. docs/blocks.md "Adding a block" is the checklist.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "blocks/common/device.h"
#include "blocks/common/device_cost.h"
#include "blocks/common/edge_regime.h"
#include "validation/fingerprint/fingerprint.h"
#include "validation/input/json_reader.h"
#include "validation/mesh/mesh.h"
#include "validation/metrics/metric_policy.h"
#include "validation/metrics/metrics.h"
#include "validation/registry/block_registry.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The shapes of one call, beside the Spec's dims (suites' CaseShapes carries the same numbers).
struct CallShapes {
  std::int64_t batch = 1;        // Users. REQUIRES: >= 1.
  std::int64_t seq_len = 0;      // Prefill: tokens per user. REQUIRES: >= 1 in prefill.
  std::int64_t context_len = 0;  // Decode: past positions per user (the new token sits there).
  // Values per token of the call's x, for the device cost of kinds whose Spec holds no width
  // (the collectives: the whole tensor's last dimension; rope: heads * head_dim). 0: unknown.
  std::int64_t width = 0;
};

// How a seeded input is drawn (docs/suites.md "Seeded inputs"). The suites own the random
// streams and the standard deviations; a kind only says which distribution each input takes.
enum class Seeding : std::uint8_t {
  activation,    // normal(0, activation_std), rounded to bfloat16.
  matrix,        // normal(0, weight_std): weight matrices and biases.
  norm_scale,    // normal(1, weight_std): a norm's scale.
  offset_scale,  // normal(0, weight_std): a norm scale applied as 1 + weight (Gemma).
  ids,           // int64 token ids, uniform in [0, vocab).
  positions,     // int64 [batch], every user at `position` (not random).
  kv_cache,      // A KV cache in `dtype`: positions [0, filled) normal(0, 1), the rest zero.
};

// Where an input of a mesh kind lies on the Spec's mesh (docs/multi-device.md "Seeded mesh
// inputs"). The suites draw it with the same seeds as a single-device input, so that a mesh case
// and its single-device twin see the same numbers.
struct MeshInputRule {
  Mesh mesh{};
  // The placement per mesh axis (rows, columns). A whole input is distribute()d with it; a
  // per-device input carries it as the call's scalar "placements" (the container form
  // kind_support::mesh_input reads).
  std::array<Placement, 2> placements{};
  // false: one whole tensor of the rule's shape, seeded from the input's name, then distributed
  // (the call's input is that whole tensor with its MeshTensor: NamedTensor::mesh).
  // true: one tensor of the rule's shape per device, seeded from "<name>/<device>" and passed as
  // the container <name>/0, <name>/1, ... (a reduce collective's partials, which differ per
  // device). REQUIRES: at most one per-device input per call (one "placements" scalar).
  bool per_device = false;
  // Set when distribute() cannot say how a whole input lies on the mesh: every device's shard of
  // the whole draw, placed as `placements` say (tp_attention's KV caches, whose KV heads are
  // replicated over devices when there are fewer heads than devices). The allocation check
  // counts one whole copy per device (an upper bound). Unset: distribute(whole, mesh, placements).
  std::function<MeshTensor(const Tensor& whole)> layout = nullptr;
};

// One input of a call: its name, its shape (from the Spec and the call's shapes) and how a suite
// draws it.
struct InputRule {
  std::string name;
  Shape shape;  // The whole tensor's; a per-device mesh input's: each device's.
  Seeding seeding = Seeding::matrix;
  std::int64_t vocab = 0;        // ids: the exclusive upper bound.
  std::int64_t position = 0;     // positions: where every user is.
  DType dtype = DType::float32;  // kv_cache: the cache's format.
  std::int64_t filled = 0;       // kv_cache: positions already written.
  // Set for an input that lies on a mesh (the mesh kinds' x); unset: a plain tensor.
  std::optional<MeshInputRule> mesh = std::nullopt;
};

// `count` groups of inputs, group i naming its inputs "<name>/<i>" (an MoE's experts, in the
// order w_gate/0, w_up/0, w_down/0, w_gate/1, ...). Kept as one entry so that a reader can check
// the bytes of all groups at once instead of looping `count` times.
struct RepeatedInputs {
  std::string what;  // The group in messages: "seeded inputs w_gate, w_up ... of 8 experts".
  std::int64_t count = 0;
  std::vector<InputRule> each;  // float32 inputs.
};

// Inputs in order: single inputs and repeated groups.
using InputRules = std::vector<std::variant<InputRule, RepeatedInputs>>;

// The inputs of one call of a kind, in the order they are drawn (a seed depends on the name
// only, so the order is what a report lists), and its scalar arguments.
struct InputPlan {
  InputRules inputs;
  nlohmann::json scalars = nlohmann::json::object();
};

// A Spec parsed and validated, with its complete ImplConfig.
struct ConfiguredBlock {
  nlohmann::json spec;         // The Spec as the block writes it (every field).
  nlohmann::json impl_config;  // default_impl_config(spec, device, mode[, preset]) + overrides.
  std::string identity;        // The Spec's identity string.
};

// What BlockKind::configure throws when the ImplConfig overrides are at fault, not the Spec: the
// blocks' messages name a field without saying whose it is.
class ImplConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// What coverage compares of one configuration (coverage/internal/block_facts.h).
struct KindFacts {
  std::string identity;
  nlohmann::json spec;
  nlohmann::json impl_config;
  // The format of the block's main weight (docs/coverage.md), "" when it has none.
  std::string weight_dtype;
  // Parameters computed from the Spec for coverage domains: {"head_dim": 128, ...}.
  nlohmann::json derived = nlohmann::json::object();
};

// The single-device block a mesh kind runs on every device, on its part of the work
// (tp_gated_mlp runs a gated_mlp on its FFN slices): what a model needs on a mesh is that
// block's configuration there, so coverage counts the mesh kind's calls as that block's.
struct SingleDeviceBlock {
  std::string family;       // "gated_mlp".
  std::string spec_member;  // The member of the kind's Spec JSON holding its Spec: "mlp".
};

// Everything about one block kind.
struct BlockKind {
  // The kind traces and suites name: "rms_norm", "attention.decode".
  std::string name = "";
  // The family coverage groups it under: the name without ".prefill"/".decode".
  std::string family = "";

  // Replay (a BlockReplayer is made of these): the inputs every call must hold, the outputs, the
  // tolerances (unset: the dtype default) and bind.
  std::vector<std::string> replay_inputs = {};
  std::vector<std::string> outputs = {"y"};
  std::optional<Tolerances> tolerances = std::nullopt;
  // How the device output may differ from its emulation (validation/metrics/metric_policy.h):
  // exact for data movement, ulp for elementwise kinds, nmse for reductions, with the reason.
  MetricPolicy metric_policy = {};
  std::function<BoundCall(const BlockCall&)> bind = nullptr;

  // Parses and validates `spec`, builds the ImplConfig (the device and mode's defaults, with the
  // preset when given, overlaid with `overrides` as a JSON merge patch) and validates it. Throws
  // std::invalid_argument with the block's message, ImplConfigError for the overrides.
  // Errors name the nodes' source and JSON path: "suites/x.json: /cases/3/spec/dim: ...".
  std::function<ConfiguredBlock(const JsonNode& spec, Device device, Mode mode,
                                const std::optional<Preset>& preset, const JsonNode& overrides)>
      configure = nullptr;
  // The identity string of a Spec (throws as configure).
  std::function<std::string(const nlohmann::json& spec)> identity = nullptr;

  // Coverage: the input that carries the call's tokens (its shape gives batch and seq_len), and
  // the facts of a configuration: the Spec parsed, the ImplConfig's fields laid over the device
  // and mode's defaults (not validated: coverage describes what was run). nullptr: coverage does
  // not know the kind's family.
  std::string activation_input = "x";
  std::function<KindFacts(const nlohmann::json& spec, const nlohmann::json& impl_config,
                          Device device, Mode mode)>
      facts = nullptr;
  // Set for a mesh kind that runs one single-device block on every device: coverage counts its
  // configurations as that family's on the Spec's mesh, `facts` then describe the single-device
  // block (its identity, Spec and ImplConfig; the mesh in `derived`: kind_support::sharded_facts),
  // and a call on a vocabulary shard scales the member's vocab_size. Unset: the kind's own family.
  std::optional<SingleDeviceBlock> single_device = std::nullopt;

  // Test selection (docs/fingerprints.md "Selection"): the code the kind's numbers depend on,
  // besides the framework every case depends on (blocks/common, validation/, suites/suite). A
  // change under `folder` or in a `depends_on` entry selects the suite cases of the kind.
  // `folder` is the folder whose kinds.cc defines the kind ("blocks/ffn"): block_kinds() sets it,
  // kinds.cc leaves it empty. `depends_on` lists, sorted, the code of other kind folders the kind
  // uses: a folder ("blocks/ccl/") or one source by its stem ("blocks/ffn/projection": its .h and
  // .cc). tests/gate/select_sources_test.cc checks it against the include graph of
  // blocks/<folder>/<family>.h and the sources that implement what it includes.
  std::string folder = "";
  std::vector<std::string> depends_on = {};

  // The weights a call of `spec` carries, after its activations, positions and caches: names,
  // shapes and seeding. Module weights are named from it (patterns), and seeded_inputs ends with
  // it. REQUIRES: a valid Spec (as configure writes it).
  std::function<InputRules(const nlohmann::json& spec)> weights = nullptr;

  // Seeded inputs: whether a decode call reads shapes.context_len (besides batch, and seq_len in
  // prefill), and the inputs of a call. Throws std::invalid_argument naming a shape field that is
  // missing or out of range. nullptr: the suites cannot seed the kind.
  bool decode_reads_context = false;
  std::function<InputPlan(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes)>
      seeded_inputs = nullptr;
  // Edge-regime inputs (blocks/common/edge_regime.h, docs/testing.md "Edge regimes"): the input
  // regimes in which this kind's parameters (epsilons, softcaps, positions, cache bounds) show,
  // each with its reason. A suite case names one ("inputs": {"regime": ...});
  // tests/suites/suite/edge_regime_test.cc runs every declared regime against the reference.
  std::vector<EdgeRegime> edge_regimes = {};

  // The work of one call on the device (blocks/common/device_cost.h, docs/cost-model.md): bytes
  // per memory level, matrix operations per fidelity, Ethernet traffic, device operations. Throws
  // std::invalid_argument naming a missing shape field. nullptr: the kind declares no cost, and
  // device_cost() refuses it by name (never a cost of zero).
  std::function<DeviceCost(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes)>
      cost = nullptr;

  // The shape fields a call in `mode` reads: "batch", "seq_len" in prefill, "context_len" in
  // decode when decode_reads_context.
  std::vector<std::string> shape_fields(Mode mode) const;
  // The replayer `ttt replay` registers for this kind.
  BlockReplayer replayer() const;
};

// The block kinds of every family under blocks/, sorted by name.
const std::vector<BlockKind>& block_kinds();
// The kind called `name`, or nullptr.
const BlockKind* find_block_kind(std::string_view name);
// The folders under blocks/ that define kinds (each has a kinds.cc), sorted.
const std::vector<std::string>& block_kind_folders();

// Throws std::invalid_argument unless shapes.batch >= 1, shapes.seq_len >= 1 in prefill and, when
// `uses_context`, shapes.context_len >= 0 (messages name the field: "shapes.batch must be >= 1").
void require_call_shapes(const CallShapes& shapes, Mode mode, bool uses_context);
// [batch, seq_len, width] in prefill, [batch, width] in decode.
Shape activation_shape(Mode mode, const CallShapes& shapes, std::int64_t width);
// The device cost of a call of `kind` (BlockKind::cost). Throws std::invalid_argument when the
// kind declares none: "[device cost] block kind 'x' declares no device cost
// (BlockKind::cost in blocks/<family>/kinds.cc)".
DeviceCost device_cost(const BlockKind& kind, const ConfiguredBlock& block, Mode mode,
                       const CallShapes& shapes);
// KV cache length for `positions_needed` positions, rounded up to whole 32-position tiles.
std::int64_t cache_length(std::int64_t positions_needed);

// The fingerprint of a call of `block` (docs/fingerprints.md): kind, mode, the configured Spec and
// ImplConfig, the batch and token buckets, and the mesh, read from the Spec's "mesh" field
// ("T3K" -> "1x8"; "1x1" when absent). The tokens are seq_len in prefill; in decode context_len
// when the kind reads it (decode_reads_context), else 1, so that a decode block blind to the
// context has one fingerprint at every context length. Throws std::invalid_argument for a Spec
// whose "mesh" is not a mesh.
Fingerprint fingerprint_of(const BlockKind& kind, const ConfiguredBlock& block, Mode mode,
                           const CallShapes& shapes);
// The parts fingerprint_of hashes, batch and tokens already bucketed (the registry records them).
FingerprintParts fingerprint_parts(const BlockKind& kind, const ConfiguredBlock& block, Mode mode,
                                   const CallShapes& shapes);

}  // namespace ttt

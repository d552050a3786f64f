// What coverage knows about one block configuration, from its kind, Spec and ImplConfig JSON
// (internal to coverage/).
//
// Records and catalog entries both go through describe_block(), so a configuration a model needs
// and a call that exercised it are described by the same code: the Spec is parsed by the block's
// own from_json (so omitted fields take the block's defaults), its identity string is the block's
// identity(), and the ImplConfig is the block's default_impl_config() for the device and mode with
// the given fields laid over it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ttt::coverage_detail {

// A block configuration as coverage compares it.
struct BlockFacts {
  // The family: the kind without a ".prefill"/".decode" suffix ("attention", "gated_mlp"); for a
  // mesh kind that runs a single-device block on every device (BlockKind::single_device), that
  // block's family (tp_gated_mlp: "gated_mlp"), and `identity`, `spec` and `impl_config` are that
  // block's; the mesh is `topology`, its devices are in `derived`.
  std::string block;
  // True when `block` is a TTTv2 block family and the Spec parsed; then `identity`, `spec` and
  // `impl_config` are canonical. Otherwise they are the given JSON and `problem` says why.
  bool known = false;
  std::string problem;
  // The Spec's identity string ("GATED_MLP(hidden=4096,ffn=14336,act=silu)"); for another block,
  // "<block>" followed by the Spec's compact JSON.
  std::string identity;
  nlohmann::json spec = nlohmann::json::object();
  nlohmann::json impl_config = nlohmann::json::object();
  // The format of the block's main weight (norms and embeddings: their weight; attention: the QKV
  // projection; gated MLP and MoE experts: FF1/FF3; MLP: FF1; LM head: its matmul), "" when the
  // block has none or it is unknown.
  std::string weight_dtype;
  // Parameters computed from the Spec for coverage domains (docs/coverage.md "Fields"):
  // attention: head_dim, kv_heads, group_size, windowed, softcapped; feed-forward blocks: dims
  // ("4096x14336"); moe: routing ("8/top2"); lm_head and embedding: scaled/softcapped.
  nlohmann::json derived = nlohmann::json::object();
  // The mesh the configuration runs on, by mesh_name() ("T3K", "TG", "2x4"): the Spec's "mesh"
  // (the mesh kinds write it), else the mesh of the call's device (a single-device call with
  // T3K's configuration runs replicated on a T3K: TTTv1's norms); "" for one device (1x1: N150,
  // no device). Part of what a record must match (CatalogConfig::topology).
  std::string topology;
};

// The topology of a call (see BlockFacts::topology) from its Spec's JSON and device. A "mesh" or
// device that is not a mesh name counts as none (the block's own reader reports a bad "mesh").
std::string call_topology(const nlohmann::json& spec, const std::string& device);

// Splits a kind into (family, mode suffix): "attention.decode" -> ("attention", "decode"),
// "gated_mlp" -> ("gated_mlp", "").
std::pair<std::string, std::string> split_kind(std::string_view kind);

// The member of a call's Spec JSON that holds the Spec of the single-device block a kind of
// family `block` runs (BlockKind::single_device: tp_embedding's "embedding"); "" when the Spec is
// the block's own.
std::string single_device_member(std::string_view block);

// Describes a configuration of `block` (a family, see split_kind) run in `mode` ("prefill",
// "decode" or "": prefill's defaults) on `device` ("" or unknown: N150's defaults). Never throws:
// a Spec the block rejects gives known = false with the block's message in `problem`.
BlockFacts describe_block(const std::string& block, const nlohmann::json& spec,
                          const nlohmann::json& impl_config, const std::string& device,
                          const std::string& mode);

// The TTTv2 block families describe_block() knows, sorted.
const std::vector<std::string>& known_block_families();

// The input of a call of `block` (a family) that carries its tokens: "x", or "ids" for the
// embedding; "" for a family describe_block() does not know. The call's batch and seq_len come
// from this input's shape, whatever order the inputs arrive in (a trace lists them by name).
std::string activation_input(std::string_view block);

// Where a domain parameter's value comes from: the block's facts and the call's circumstances
// (docs/coverage.md "Fields").
struct FieldContext {
  const BlockFacts* facts = nullptr;
  std::string mode;
  std::string device;
  std::int64_t batch = 0;    // 0: unknown.
  std::int64_t seq_len = 0;  // 0: unknown.
};

// Whether `field` has a valid form: "mode", "device", "batch", "seq_len", "weight_dtype",
// "identity", "topology" (the mesh's name: "N150" for one device, "T3K", "2x4"), or "spec.",
// "impl." or "derived." followed by a dot-separated path.
bool valid_field(std::string_view field);

// The value of `field` in `context`, or null when the configuration has none (an unknown device,
// a Spec without that field, an unknown batch).
nlohmann::json field_value(std::string_view field, const FieldContext& context);

// Total order on domain values: booleans (false first), then numbers ascending, then strings,
// then anything else by its JSON text.
bool value_less(const nlohmann::json& a, const nlohmann::json& b);
// Equality of domain values: numbers within a relative 1e-9 (1e-5 == 1e-05, 4096 == 4096.0).
bool same_value(const nlohmann::json& a, const nlohmann::json& b);
// A value as reports print it: 4096, 1e-05, bfloat8_b, true.
std::string value_text(const nlohmann::json& value);

}  // namespace ttt::coverage_detail

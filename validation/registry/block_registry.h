// The block registry: how a trace replays a call without the model.
//
// A trace call names its block kind ("rms_norm", "attention.decode") and holds the block's Spec and
// ImplConfig as JSON, its scalar arguments and its input tensors. A BlockReplayer registered under
// that kind rebuilds the block from them and runs the device implementation and the reference;
// `ttt replay` compares the two and the captured outputs (docs/replay.md).
//
// The registry depends only on tensors, metrics and JSON, so blocks register themselves without
// ever seeing HDF5 or traces. A user's own block takes a few lines:
//
//   ttt::BlockRegistry::global().add({
//       .kind = "my_model.gate",
//       .inputs = {"x"},
//       .outputs = {"y"},
//       .bind = [](const ttt::BlockCall& call) {
//         const ttt::Tensor x = call.input("x");
//         const float alpha = call.scalars.at("alpha").get<float>();
//         return ttt::BoundCall{[=] { return ttt::named({{"y", gate_device(x, alpha)}}); },
//                               [=] { return ttt::named({{"y", gate_reference(x, alpha)}}); }};
//       }});
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "validation/metrics/metric_policy.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// What a replay keeps between the calls it binds: objects (typically built blocks, with their
// prepared weights) stored by a key that says everything they depend on, so that the calls of one
// module build it once rather than once per call. Holds at most `capacity` objects; the least
// recently used goes first. Thread-safe.
class BindCache {
 public:
  // REQUIRES: capacity >= 1. Default: room for the distinct blocks of a few dozen layers.
  explicit BindCache(std::size_t capacity = 256);
  BindCache(const BindCache&) = delete;
  BindCache& operator=(const BindCache&) = delete;

  // The object stored under `key`, or else the one `make` returns, stored under `key`.
  template <typename T, typename Make>
  std::shared_ptr<const T> get_or_make(const std::string& key, Make make) {
    if (std::shared_ptr<const void> found = find(key)) {
      return std::static_pointer_cast<const T>(found);
    }
    std::shared_ptr<const T> made = make();
    put(key, made);
    return made;
  }

  // Objects stored now.
  std::size_t size() const;
  // How many get_or_make calls found their object.
  std::int64_t hits() const;

 private:
  std::shared_ptr<const void> find(const std::string& key);
  void put(const std::string& key, std::shared_ptr<const void> value);

  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::int64_t hits_ = 0;
  std::list<std::pair<std::string, std::shared_ptr<const void>>> entries_;  // Most recent first.
};

// A key part naming the values of `tensor` while the tensor lives: its storage, offset, shape and
// dtype ("-" for an undefined tensor). Objects stored in a BindCache under such a key must keep
// the tensor (so that its storage cannot be reused for other values while they are stored).
std::string tensor_cache_key(const Tensor& tensor);

// Everything a trace holds about one call, as a replayer receives it.
struct BlockCall {
  std::string kind = "";                                  // The block kind, for error messages.
  nlohmann::json spec = nlohmann::json::object();         // The block's Spec.
  nlohmann::json impl_config = nlohmann::json::object();  // The block's ImplConfig.
  std::string device = "";                                // E.g. "N150"; "" when unknown.
  nlohmann::json scalars = nlohmann::json::object();      // Scalar arguments by name.
  std::vector<NamedTensor> inputs = {};  // By name; containers as "kv/0", "kv/1", ...
  // Where `bind` may keep what later calls can reuse; nullptr: build everything anew.
  BindCache* cache = nullptr;

  // The input called `name`. Throws std::invalid_argument "[<kind>] missing input 'x'".
  const Tensor& input(std::string_view name) const;
  // The elements of container input `name` ("kv/0", "kv/1", ...) in index order; empty when
  // there are none. Throws std::invalid_argument when the indices are not 0, 1, ..., n-1.
  std::vector<Tensor> container(std::string_view name) const;
  // The shards and placements of input `name` when the trace stored it as a mesh tensor
  // (docs/trace-format.md "Mesh tensors"); nullptr when there is no such input or it is a plain
  // tensor (a block taking a mesh tensor may then read the older container form "x/0", ...).
  std::shared_ptr<const MeshTensor> mesh(std::string_view name) const;
};

// A call bound to its inputs: runs the device implementation or the reference, each returning
// the outputs named as BlockReplayer::outputs.
struct BoundCall {
  std::function<std::vector<NamedTensor>()> run_device = nullptr;
  std::function<std::vector<NamedTensor>()> run_reference = nullptr;
};

// How to replay one block kind.
struct BlockReplayer {
  // The kind traces name in their `block` attribute, e.g. "rms_norm" or "attention.decode".
  std::string kind = "";
  // Inputs every call must hold (container elements are checked by `bind`).
  std::vector<std::string> inputs = {};
  // Outputs run_device and run_reference return, in this order.
  std::vector<std::string> outputs = {};
  // What device-now must meet against reference-now and captured outputs. Default (unset):
  // default_tolerances of the two outputs' dtypes, the dtype-aware policy of docs/metrics.md.
  std::optional<Tolerances> tolerances = std::nullopt;
  // How the device output may differ from its emulation, the bound run_device (`ttt explain`,
  // validation/metrics/bug_or_precision.h). Default: nmse, the rule of reductions.
  MetricPolicy metric_policy = {};
  // Rebuilds the block from the call's Spec/ImplConfig JSON, checks the inputs against the spec
  // and binds them. Throws std::invalid_argument, with the kind as prefix, for anything that
  // contradicts the spec: "[ttt.scale] input x has shape [4], spec says [2, 3]".
  std::function<BoundCall(const BlockCall&)> bind = nullptr;
};

// A set of replayers by kind. Thread-safe.
class BlockRegistry {
 public:
  // An empty registry (tests build their own).
  BlockRegistry() = default;
  BlockRegistry(const BlockRegistry&) = delete;
  BlockRegistry& operator=(const BlockRegistry&) = delete;

  // Adds a replayer. Throws std::invalid_argument for an empty kind, a kind already registered
  // or a missing bind function.
  void add(BlockReplayer replayer);

  // The replayer for `kind`, or nullptr. The pointer stays valid as long as the registry.
  const BlockReplayer* find(std::string_view kind) const;

  // Registered kinds, sorted.
  std::vector<std::string> kinds() const;

  // The process-wide registry that `ttt replay` and replay_trace() use by default. It starts with
  // the builtin kinds (builtin_blocks.h); blocks and users add theirs.
  static BlockRegistry& global();

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<BlockReplayer>, std::less<>> replayers_;
};

// Adds `replayer` to the global registry when constructed, for registration at static
// initialisation: `static ttt::BlockRegistration gate{{.kind = "my_model.gate", ...}};`.
// (A static object in a static library is linked only if something references its file.)
class BlockRegistration {
 public:
  explicit BlockRegistration(BlockReplayer replayer);
};

// Convenience for bind functions: outputs as a vector of NamedTensor.
std::vector<NamedTensor> named(std::vector<NamedTensor> outputs);

}  // namespace ttt

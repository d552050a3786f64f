// The small interfaces the patterns call, so a model can mix TTTv2's blocks with its own
// (constructor injection: docs/patterns.md).
//
// A decoder layer and a causal LM never call a block directly: they call a module through one of
// these interfaces, and wrap every call with ttt::compare_to_reference. block_modules.h makes
// modules from TTTv2's blocks; a model passes its own implementation of any module instead, e.g.
// an attention kernel it is bringing up, and keeps TTTv2's for the rest.
//
// A module gives the pattern, for each call: the device computation, the reference computation
// (float32 in and out, in whatever precision the module chooses), and what records and traces say
// about it (ModuleInfo: the block kind `ttt replay` rebuilds it with, its Spec and ImplConfig as
// JSON, its tolerances) together with the weights the call reads, under the input names of that
// block kind's replayer. Modules are immutable once built and may be shared between threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blocks/attention/attention.h"
#include "blocks/common/device.h"
#include "validation/mesh/mesh.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// One value per execution mode: the prefill and the decode ImplConfig of a module, for example
// (TTTv1 configures the two modes separately: prefill SDPA in HiFi4, decode in HiFi2).
template <typename T>
struct PerMode {
  T prefill{};
  T decode{};

  const T& operator[](Mode mode) const { return mode == Mode::prefill ? prefill : decode; }
  T& operator[](Mode mode) { return mode == Mode::prefill ? prefill : decode; }
};

// What the validation records and the trace say about a module's calls in one mode.
struct ModuleInfo {
  // The registered block kind `ttt replay` rebuilds the call with ("rms_norm", "gated_mlp",
  // "attention.decode"); "" when there is none (replay then skips the call).
  std::string block = "";
  // The block's Spec and ImplConfig as JSON objects (text), as the replayer of `block` reads them.
  std::string spec_json = "{}";
  std::string impl_config_json = "{}";
  // Thresholds the call's output must meet against the reference. Unset: the tolerances of the
  // replayer registered for `block`, else default_tolerances of the output's dtypes
  // (docs/metrics.md).
  std::optional<Tolerances> tolerances = std::nullopt;
};

// A module that transforms every token independently: norms, feed-forward networks (dense or
// mixture of experts), the LM head.
class PositionwiseModule {
 public:
  virtual ~PositionwiseModule() = default;

  // The device computation: x [..., in] -> [..., out]. Prefill passes [batch, seq, hidden] (or
  // [seq, hidden]), decode passes [batch, hidden] (one token per user).
  virtual Tensor forward(const Tensor& x, Mode mode) const = 0;
  // The reference computation of the same call, on float32 values of x; returns float32.
  virtual Tensor reference(const Tensor& x) const = 0;

  // Provenance of the calls in `mode`.
  virtual ModuleInfo info(Mode mode) const = 0;
  // The weights every call reads, named as the replayer of info(mode).block expects ("weight";
  // "w_gate", "w_up", "w_down"; "w_gate/0", "w_gate/1", ... for a list). Traces store them with
  // each call (written once and hard-linked). Default: none.
  virtual std::vector<NamedTensor> weights() const { return {}; }

  // A tensor-parallel module runs on the devices of a mesh (docs/multi-device.md "Patterns on a
  // mesh"): it returns its mesh, and the pattern then calls mesh_forward with x replicated on
  // every device, so that records and traces keep x and the output as the devices hold them (the
  // output compared whole and device by device). forward() stays its composed result. Default:
  // unset, one device.
  virtual std::optional<Mesh> mesh() const { return std::nullopt; }
  // The device computation on mesh(): x replicated -> the output on the mesh (the shards of the
  // devices this process holds). Only called when mesh() is set; the default throws.
  virtual MeshTensor mesh_forward(const MeshTensor& x, Mode mode) const;
};

// Self-attention with a KV cache the caller owns (the pattern keeps one per layer and user slot).
class AttentionModule {
 public:
  virtual ~AttentionModule() = default;

  // A zero-filled cache for `max_batch` users of up to `max_seq_len` positions.
  virtual KVCache make_cache(std::int64_t max_batch, std::int64_t max_seq_len) const = 0;

  // Causal prefill of x [batch, seq, hidden]: user b's tokens sit at positions 0..seq-1 and their
  // keys and values go to cache slot first_slot + b. Returns [batch, seq, hidden].
  virtual Tensor prefill(const Tensor& x, KVCache& cache, std::int64_t first_slot) const = 0;
  // One token per user: x [batch, hidden], user b at positions[b] in cache slot b. Writes the new
  // key and value at positions[b] and returns [batch, hidden].
  virtual Tensor decode(const Tensor& x, const Tensor& positions, KVCache& cache) const = 0;

  // The references: prefill of x alone, and decode of x against the keys and values of positions
  // [0, positions[b]) of `cache` as it was before the call.
  virtual Tensor prefill_reference(const Tensor& x) const = 0;
  virtual Tensor decode_reference(const Tensor& x, const Tensor& positions,
                                  const KVCache& cache) const = 0;

  // Provenance of the calls in `mode`.
  virtual ModuleInfo info(Mode mode) const = 0;
  // The weights every call reads, named as the replayer of info(mode).block expects ("wq", "wk",
  // "wv", "wo", ...). Default: none.
  virtual std::vector<NamedTensor> weights() const { return {}; }

  // On a mesh (tensor-parallel attention), as PositionwiseModule::mesh(). The cache is then every
  // device's cache in one KVCache, concatenated along the KV heads in device order (make_cache),
  // which cache_layout() lays out on the mesh for records and traces. Default: unset.
  virtual std::optional<Mesh> mesh() const { return std::nullopt; }
  // The placements of that concatenated cache on mesh(): split along the KV heads (dim 1) over
  // the devices holding different caches. Only called when mesh() is set; the default throws.
  virtual std::array<Placement, 2> cache_layout() const;
  // prefill and decode on mesh(): x replicated -> the output on the mesh. Only called when mesh()
  // is set; the defaults throw.
  virtual MeshTensor mesh_prefill(const MeshTensor& x, KVCache& cache,
                                  std::int64_t first_slot) const;
  virtual MeshTensor mesh_decode(const MeshTensor& x, const Tensor& positions,
                                 KVCache& cache) const;
};

// The token embedding at the bottom of a causal LM (with its optional absolute positions).
class EmbeddingModule {
 public:
  virtual ~EmbeddingModule() = default;

  // ids [batch, seq] (int32 or int64), token t of each user at position t -> [batch, seq, hidden].
  virtual Tensor prefill(const Tensor& ids) const = 0;
  // ids [batch] at positions [batch] -> [batch, hidden].
  virtual Tensor decode(const Tensor& ids, const Tensor& positions) const = 0;
  virtual Tensor prefill_reference(const Tensor& ids) const = 0;
  virtual Tensor decode_reference(const Tensor& ids, const Tensor& positions) const = 0;

  virtual ModuleInfo info(Mode mode) const = 0;
  // The tables every call reads ("token_weight", "position_weight"). Default: none.
  virtual std::vector<NamedTensor> weights() const { return {}; }
};

}  // namespace ttt

// Tensor-parallel attention on a mesh, as TTTv1 (tt-transformers attention.py) runs it on N300
// and T3K: x replicated along the mesh axis; the n devices of the axis each hold num_heads / n
// query heads (device i: heads i * H / n ...) with their columns of Wq (and bq) and their rows of
// Wo; each device holds the key/value heads its query heads read: num_kv_heads / n of them when
// n divides num_kv_heads, else the one KV head its query group uses (replicated on the n /
// num_kv_heads devices sharing it; num_kv_heads must then divide n). Each device runs the
// single-device Attention on its heads with its own KV cache, and one collective of blocks/ccl
// sums the row-parallel Wo partials: a reduce-scatter along hidden (TTTv1 on N300/T3K) or an
// all-reduce (output replicated).
//
//   const ttt::TpAttentionSpec spec{attention_spec, ttt::parse_mesh("T3K")};
//   const ttt::TpAttention attention(spec, ttt::default_impl_config(spec, ttt::Device::T3K,
//                                                                   ttt::Mode::prefill), weights);
//   std::vector<ttt::KVCache> caches = ttt::make_kv_caches(spec, attention.config(), 1, 2048);
//   ttt::MeshTensor y = attention.prefill_forward(ttt::distribute(x, spec.mesh, {}), &caches);
//
// Positions alibi are not supported (BLOOM's slopes depend on the global head index, which the
// per-device block does not know): the spec is rejected.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/attention/attention.h"
#include "blocks/ccl/ccl_common.h"
#include "blocks/common/device.h"
#include "blocks/ffn/tp_gated_mlp.h"  // TpReduction
#include "validation/mesh/mesh.h"

namespace ttt {

// The mathematics of the block: attention, and the devices its heads are split over.
struct TpAttentionSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "tp_attention";

  AttentionSpec attention{};  // The whole attention.
  Mesh mesh{};                // The devices.
  int axis = 1;               // The mesh axis the heads are split along (0: rows, 1: columns).

  // attention.validate(), the axis, n dividing num_heads and hidden_dim (the collective chunks
  // hidden), n dividing num_kv_heads or num_kv_heads dividing n, positions not alibi:
  // "[tp_attention] mesh T3K axis 1 (8 devices) does not divide spec.attention.num_heads 12".
  void validate() const;
  // "TP_ATTENTION(hidden=4096,heads=32,kv_heads=8,head_dim=128,mesh=T3K,axis=1)".
  std::string identity() const;
  // The attention device `position` of the axis runs: num_heads / n query heads, its KV heads,
  // the whole head_dim; the output bias on position 0 only (the collective adds it once).
  AttentionSpec device_spec(int position) const;
  // The first KV head device `position` holds (its count is device_spec(position).kv_heads()).
  std::int64_t first_kv_head(int position) const;
  bool operator==(const TpAttentionSpec&) const = default;
};

// The device knobs.
struct TpAttentionImplConfig {
  // Every device's attention on its heads. Default: the attention's defaults with output_shards 1
  // (the mesh splits the heads now).
  AttentionImplConfig device{};
  // Default: reduce_scatter on N150, N300 and T3K, all_reduce on TG.
  TpReduction reduction = TpReduction::reduce_scatter;
  // The collective's knobs. Default: ccl_common.h's default_reduce_config.
  CclReduceImplConfig ccl{};

  // Throws "[attention] ..." for the device config, "[tp_attention] config.ccl..." for the
  // collective's.
  void validate(const TpAttentionSpec& spec) const;
  bool operator==(const TpAttentionImplConfig&) const = default;
};

// TTTv1's choices (attention.py on N300/T3K: the dense output's partials reduce-scattered along
// hidden in bfloat16; on TG all-reduced): the attention's defaults and presets for the device,
// output_shards 1.
TpAttentionImplConfig default_impl_config(const TpAttentionSpec& spec, Device device, Mode mode);
TpAttentionImplConfig default_impl_config(const TpAttentionSpec& spec, Device device, Mode mode,
                                          Preset preset);

// JSON: {"attention": {attention spec}, "mesh": "T3K", "axis": 1}; ImplConfig {"device":
// {attention impl_config}, "reduction": "reduce_scatter", "ccl": {...}}. Reading is strict.
void to_json(nlohmann::json& json, const TpAttentionSpec& spec);
void from_json(const nlohmann::json& json, TpAttentionSpec& spec);
void read_json(const JsonNode& node, TpAttentionSpec& spec);
void to_json(nlohmann::json& json, const TpAttentionImplConfig& config);
void from_json(const nlohmann::json& json, TpAttentionImplConfig& config);
void read_json(const JsonNode& node, TpAttentionImplConfig& config);

// The KV caches of a tensor-parallel attention: one KVCache per device of the mesh (device
// order), each holding that device's KV heads ([max_batch, its KV heads, max_seq_len,
// head_dim]); the caches of devices this process does not hold stay empty (undefined tensors).
std::vector<KVCache> make_kv_caches(const TpAttentionSpec& spec,
                                    const TpAttentionImplConfig& config, std::int64_t max_batch,
                                    std::int64_t max_seq_len);

class TpAttention {
 public:
  // Validates the three. The weights are the whole reference weights; each device's slices are
  // cut when its block first prepares them.
  TpAttention(TpAttentionSpec spec, TpAttentionImplConfig config, AttentionWeights weights);

  const TpAttentionSpec& spec() const { return spec_; }
  const TpAttentionImplConfig& config() const { return config_; }

  // x on spec.mesh replicated along spec.axis, shards [batch, seq, hidden] or [seq, hidden] ->
  // shards split along hidden (reduce_scatter) or whole (all_reduce). With caches (from
  // make_kv_caches, one per device), each device writes its KV heads to its own cache as
  // Attention::prefill_forward does. Throws std::invalid_argument for caches of the wrong count.
  MeshTensor prefill_forward(const MeshTensor& x, std::vector<KVCache>* caches = nullptr,
                             std::int64_t first_slot = 0) const;
  // x shards [batch, hidden], positions as Attention::decode_forward (the same on every device).
  MeshTensor decode_forward(const MeshTensor& x, const Tensor& positions,
                            std::vector<KVCache>& caches) const;

 private:
  void check_caches(const std::vector<KVCache>& caches) const;

  TpAttentionSpec spec_;
  TpAttentionImplConfig config_;
  std::vector<Attention> devices_;  // One per device of the mesh (device order).
  // The collective, chosen once: partials (sharded dim) -> the reduced mesh tensor.
  std::function<MeshTensor(const MeshTensor&, int dim)> reduce_;
};

// The float64 reference of a causal prefill: attention_prefill_reference of the composed x.
Tensor tp_attention_prefill_reference(const TpAttentionSpec& spec, const AttentionWeights& weights,
                                      const MeshTensor& x);

// Every device's KV caches as one mesh tensor per cache (a trace's k_cache or v_cache, as the
// patterns record them): one shard per device, its cache from make_kv_caches, placed shard(1)
// (the KV heads) along spec.axis and replicated along the other axis. Returns copies of the shards
// as make_kv_caches holds them (a decode writes into them). Throws std::invalid_argument naming
// the input for another mesh or placement: "[tp_attention] k_cache is placed [replicated,
// replicated], expected [replicated, shard(1)] (each device's KV heads along axis 1)".
std::vector<KVCache> tp_attention_device_caches(const TpAttentionSpec& spec,
                                                const MeshTensor& k_caches,
                                                const MeshTensor& v_caches);

// The inverse: every device's cache cut from the single-device cache `whole` [batch,
// num_kv_heads, seq, head_dim] (device position p: KV heads first_kv_head(p) .. as
// device_spec(p) counts them, so a KV head shared by n / num_kv_heads devices is copied to each),
// laid out as tp_attention_device_caches reads it. The suites seed a decode call's caches this
// way: the mesh case sees the single-device cache's numbers. Throws std::invalid_argument naming
// the shape when `whole` is not [batch, num_kv_heads, seq, head_dim].
MeshTensor tp_attention_split_cache(const TpAttentionSpec& spec, const Tensor& whole);

// The single-device cache [batch, num_kv_heads, seq, head_dim] of every device's caches
// concatenated along the KV heads in axis order (device position p at p * kv .. (p + 1) * kv -
// 1, kv the heads one device holds; the compose() of the mesh tensors above): KV head h from
// the first device position holding it.
Tensor tp_attention_whole_cache(const TpAttentionSpec& spec, const Tensor& concatenated);

// The float64 reference of a decode step: attention_decode_reference of the composed x on the
// whole caches (tp_attention_whole_cache of the devices' caches, checked as above).
Tensor tp_attention_decode_reference(const TpAttentionSpec& spec, const AttentionWeights& weights,
                                     const MeshTensor& x, const Tensor& positions,
                                     const MeshTensor& k_caches, const MeshTensor& v_caches);

}  // namespace ttt

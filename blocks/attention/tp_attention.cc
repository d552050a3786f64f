#include "blocks/attention/tp_attention.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "blocks/ccl/tensor_parallel.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "validation/mesh/transport.h"

namespace ttt {
namespace {

constexpr std::string_view kBlock = TpAttentionSpec::kind;

// TTTv1's per-topology choices on top of the attention's (possibly preset) defaults.
TpAttentionImplConfig tp_defaults(AttentionImplConfig device_config, const TpAttentionSpec& spec,
                                  Device device) {
  TpAttentionImplConfig config;
  config.device = device_config;
  config.device.output_shards = 1;  // The mesh splits the heads; no emulated all-reduce inside.
  if (device == Device::TG) config.reduction = TpReduction::all_reduce;
  config.ccl = ccl_detail::default_reduce_config(spec.mesh, device);
  return config;
}

}  // namespace

void TpAttentionSpec::validate() const {
  attention.validate();
  const ccl_detail::MeshAxis mesh_axis{mesh, axis};
  ccl_detail::validate_mesh_axis(kBlock, mesh_axis);
  tp_detail::check_divides(kBlock, mesh_axis, attention.num_heads, "spec.attention.num_heads");
  tp_detail::check_divides(kBlock, mesh_axis, attention.hidden_dim, "spec.attention.hidden_dim");
  const int n = mesh.axis_size(axis);
  const std::int64_t kv = attention.kv_heads();
  if (kv % n != 0 && n % kv != 0) {
    ccl_detail::fail(kBlock, "mesh " + mesh_name(mesh) + " axis " + std::to_string(axis) + " (" +
                                 std::to_string(n) + " devices) and spec.attention.num_kv_heads " +
                                 std::to_string(kv) +
                                 ": one must divide the other (KV heads split or replicated)");
  }
  if (attention.positions == AttentionPositions::alibi) {
    ccl_detail::fail(kBlock,
                     "spec.attention.positions alibi is not supported (the slopes depend on the "
                     "global head index)");
  }
}

std::string TpAttentionSpec::identity() const {
  return Identity("TP_ATTENTION")
      .add("hidden", attention.hidden_dim)
      .add("heads", attention.num_heads)
      .add("kv_heads", attention.kv_heads())
      .add("head_dim", attention.dim_per_head())
      .add("mesh", mesh_name(mesh))
      .add("axis", axis)
      .str();
}

AttentionSpec TpAttentionSpec::device_spec(int position) const {
  const int n = mesh.axis_size(axis);
  AttentionSpec device = attention;
  device.head_dim = attention.dim_per_head();
  device.num_heads = attention.num_heads / n;
  device.num_kv_heads = std::max<std::int64_t>(attention.kv_heads() / n, 1);
  device.output_bias = attention.output_bias && position == 0;
  return device;
}

std::int64_t TpAttentionSpec::first_kv_head(int position) const {
  // Query head h reads KV head h / (H / KV); the device's first query head is position * H / n.
  return position * attention.kv_heads() / mesh.axis_size(axis);
}

void TpAttentionImplConfig::validate(const TpAttentionSpec& spec) const {
  device.validate(spec.device_spec(0));
  ccl.validate(kBlock);
}

TpAttentionImplConfig default_impl_config(const TpAttentionSpec& spec, Device device, Mode mode) {
  return tp_defaults(default_impl_config(spec.attention, device, mode), spec, device);
}

TpAttentionImplConfig default_impl_config(const TpAttentionSpec& spec, Device device, Mode mode,
                                          Preset preset) {
  return tp_defaults(default_impl_config(spec.attention, device, mode, preset), spec, device);
}

void to_json(nlohmann::json& json, const TpAttentionSpec& spec) {
  tp_detail::spec_to_json(json, spec, "attention", &TpAttentionSpec::attention);
}

void read_json(const JsonNode& node, TpAttentionSpec& spec) {
  tp_detail::read_spec_json(node, spec, "attention", &TpAttentionSpec::attention);
}

void from_json(const nlohmann::json& json, TpAttentionSpec& spec) {
  read_json(JsonNode(json, "tp_attention spec"), spec);
}

namespace {

constexpr auto kConfigFields = std::tuple{json_optional("device", &TpAttentionImplConfig::device),
                                          json_named("reduction", &TpAttentionImplConfig::reduction,
                                                     tp_reduction_name, parse_tp_reduction),
                                          json_optional("ccl", &TpAttentionImplConfig::ccl)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(TpAttentionImplConfig, "tp_attention impl_config", kConfigFields)

namespace {

// Every device's position along the spec's axis (device order).
std::vector<int> axis_positions(const TpAttentionSpec& spec) {
  std::vector<int> positions(static_cast<std::size_t>(spec.mesh.size()));
  for (int group = 0; group < ccl_detail::group_count(spec.mesh, spec.axis); ++group) {
    const std::vector<int> devices = ccl_detail::group_devices(spec.mesh, spec.axis, group);
    for (std::size_t position = 0; position < devices.size(); ++position) {
      positions[devices[position]] = static_cast<int>(position);
    }
  }
  return positions;
}

}  // namespace

std::vector<KVCache> make_kv_caches(const TpAttentionSpec& spec,
                                    const TpAttentionImplConfig& config, std::int64_t max_batch,
                                    std::int64_t max_seq_len) {
  spec.validate();
  std::vector<KVCache> caches(static_cast<std::size_t>(spec.mesh.size()));
  const MeshTransport& transport = mesh_transport();
  const std::vector<int> positions = axis_positions(spec);
  for (int device = 0; device < spec.mesh.size(); ++device) {
    if (!transport.holds(spec.mesh, device)) continue;
    caches[device] =
        make_kv_cache(spec.device_spec(positions[device]), config.device, max_batch, max_seq_len);
  }
  return caches;
}

namespace {

// Device `position`'s slices: query heads [position * H / n, ...) of Wq, bq and the rows of Wo;
// its KV heads (kv_count from first_kv) of Wk, Wv, bk, bv; bo and the norms whole.
AttentionWeights device_weights(const TpAttentionSpec& spec, const AttentionWeights& weights,
                                int position) {
  const int n = spec.mesh.axis_size(spec.axis);
  const std::int64_t kv_count = spec.device_spec(position).kv_heads();
  const int kv_position = static_cast<int>(spec.first_kv_head(position) / kv_count);
  const int kv_parts = static_cast<int>(spec.attention.kv_heads() / kv_count);
  const auto kv_slice = [&](const WeightSource& w, int dim) {
    return w.defined() ? tp_detail::slice_weight(w, dim, kv_position, kv_parts) : w;
  };
  const auto q_slice = [&](const WeightSource& w, int dim) {
    return w.defined() ? tp_detail::slice_weight(w, dim, position, n) : w;
  };
  AttentionWeights device{q_slice(weights.wq, 1), kv_slice(weights.wk, 1), kv_slice(weights.wv, 1),
                          q_slice(weights.wo, 0)};
  device.bq = q_slice(weights.bq, 0);
  device.bk = kv_slice(weights.bk, 0);
  device.bv = kv_slice(weights.bv, 0);
  if (position == 0) device.bo = weights.bo;
  device.q_norm = weights.q_norm;
  device.k_norm = weights.k_norm;
  return device;
}

}  // namespace

TpAttention::TpAttention(TpAttentionSpec spec, TpAttentionImplConfig config,
                         AttentionWeights weights)
    : spec_(std::move(spec)), config_(std::move(config)) {
  spec_.validate();
  config_.validate(spec_);
  validate(spec_.attention, weights);
  const ccl_detail::MeshAxis mesh_axis{spec_.mesh, spec_.axis};
  for (const int position : axis_positions(spec_)) {
    devices_.emplace_back(spec_.device_spec(position), config_.device,
                          device_weights(spec_, weights, position));
  }
  reduce_ =
      tp_detail::partial_sum(mesh_axis, config_.reduction == TpReduction::all_reduce, config_.ccl);
}

void TpAttention::check_caches(const std::vector<KVCache>& caches) const {
  if (static_cast<int>(caches.size()) != spec_.mesh.size()) {
    ccl_detail::fail(kBlock, "caches has " + std::to_string(caches.size()) + " KV caches, mesh " +
                                 mesh_name(spec_.mesh) + " has " +
                                 std::to_string(spec_.mesh.size()) +
                                 " devices (one cache per device: make_kv_caches)");
  }
}

MeshTensor TpAttention::prefill_forward(const MeshTensor& x, std::vector<KVCache>* caches,
                                        std::int64_t first_slot) const {
  tp_detail::check_replicated_input(kBlock, {spec_.mesh, spec_.axis}, x);
  if (caches != nullptr) check_caches(*caches);
  return reduce_(tp_detail::map_held_shards(
                     x,
                     [&](int device, const Tensor& shard) {
                       KVCache* cache = caches == nullptr ? nullptr : &(*caches)[device];
                       return devices_[device].prefill_forward(shard, cache, first_slot);
                     }),
                 tp_detail::feature_dim(x));
}

MeshTensor TpAttention::decode_forward(const MeshTensor& x, const Tensor& positions,
                                       std::vector<KVCache>& caches) const {
  tp_detail::check_replicated_input(kBlock, {spec_.mesh, spec_.axis}, x);
  check_caches(caches);
  return reduce_(tp_detail::map_held_shards(x,
                                            [&](int device, const Tensor& shard) {
                                              return devices_[device].decode_forward(
                                                  shard, positions, caches[device]);
                                            }),
                 tp_detail::feature_dim(x));
}

Tensor tp_attention_prefill_reference(const TpAttentionSpec& spec, const AttentionWeights& weights,
                                      const MeshTensor& x) {
  spec.validate();
  return attention_prefill_reference(spec.attention, weights,
                                     tp_detail::composed_input(kBlock, {spec.mesh, spec.axis}, x));
}

namespace {

// The devices' caches of a call laid out as make_kv_caches holds them (see the header).
void check_cache_layout(const TpAttentionSpec& spec, const MeshTensor& caches,
                        std::string_view name) {
  std::array<Placement, 2> expected{};
  expected[static_cast<std::size_t>(spec.axis)] = Placement::shard(1);
  const auto text = [](const std::array<Placement, 2>& placements) {
    return "[" + placement_name(placements[0]) + ", " + placement_name(placements[1]) + "]";
  };
  if (caches.mesh != spec.mesh) {
    ccl_detail::fail(kBlock, std::string(name) + " is on mesh " + mesh_name(caches.mesh) +
                                 ", spec.mesh is " + mesh_name(spec.mesh));
  }
  if (caches.placements != expected) {
    ccl_detail::fail(kBlock, std::string(name) + " is placed " + text(caches.placements) +
                                 ", expected " + text(expected) +
                                 " (each device's KV heads along "
                                 "axis " +
                                 std::to_string(spec.axis) + ")");
  }
}

}  // namespace

std::vector<KVCache> tp_attention_device_caches(const TpAttentionSpec& spec,
                                                const MeshTensor& k_caches,
                                                const MeshTensor& v_caches) {
  check_cache_layout(spec, k_caches, "k_cache");
  check_cache_layout(spec, v_caches, "v_cache");
  std::vector<KVCache> caches;
  for (std::size_t device = 0; device < k_caches.shards.size(); ++device) {
    const Tensor& k = k_caches.shards[device];
    const Tensor& v = v_caches.shards.at(device);
    caches.push_back({k.defined() ? k.clone() : Tensor(), v.defined() ? v.clone() : Tensor()});
  }
  return caches;
}

MeshTensor tp_attention_split_cache(const TpAttentionSpec& spec, const Tensor& whole) {
  spec.validate();
  const AttentionSpec& attention = spec.attention;
  if (whole.rank() != 4 || whole.shape()[1] != attention.kv_heads() ||
      whole.shape()[3] != attention.dim_per_head()) {
    ccl_detail::fail(kBlock, "a whole KV cache must be [batch, " +
                                 std::to_string(attention.kv_heads()) + ", seq, " +
                                 std::to_string(attention.dim_per_head()) + "], got " +
                                 shape_to_string(whole.shape()));
  }
  MeshTensor caches{spec.mesh, {}, {}};
  caches.placements[static_cast<std::size_t>(spec.axis)] = Placement::shard(1);
  for (const int position : axis_positions(spec)) {
    // Whole heads keep whole rows of head_dim, so a block format's blocks come back intact.
    caches.shards.push_back(ccl_detail::slice(whole, 1, spec.first_kv_head(position),
                                              spec.device_spec(position).kv_heads())
                                .to(whole.dtype()));
  }
  return caches;
}

Tensor tp_attention_whole_cache(const TpAttentionSpec& spec, const Tensor& concatenated) {
  const std::int64_t kv = spec.device_spec(0).kv_heads();
  std::vector<Tensor> heads;
  for (std::int64_t head = 0; head < spec.attention.kv_heads(); ++head) {
    int p = 0;
    while (spec.first_kv_head(p) + kv <= head) ++p;
    heads.push_back(ccl_detail::slice(concatenated, 1, p * kv + head - spec.first_kv_head(p), 1));
  }
  return ccl_detail::concat(heads, 1);
}

Tensor tp_attention_decode_reference(const TpAttentionSpec& spec, const AttentionWeights& weights,
                                     const MeshTensor& x, const Tensor& positions,
                                     const MeshTensor& k_caches, const MeshTensor& v_caches) {
  spec.validate();
  check_cache_layout(spec, k_caches, "k_cache");
  check_cache_layout(spec, v_caches, "v_cache");
  return attention_decode_reference(spec.attention, weights,
                                    tp_detail::composed_input(kBlock, {spec.mesh, spec.axis}, x),
                                    positions, tp_attention_whole_cache(spec, compose(k_caches)),
                                    tp_attention_whole_cache(spec, compose(v_caches)));
}

}  // namespace ttt

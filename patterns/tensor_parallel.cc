#include "patterns/tensor_parallel.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "blocks/attention/tp_attention.h"
#include "blocks/common/json_fields.h"
#include "blocks/ffn/ep_moe.h"
#include "blocks/lm_head/tp_lm_head.h"
#include "patterns/internal/block_module_support.h"
#include "patterns/internal/context.h"
#include "validation/input/json_reader.h"
#include "validation/mesh/transport.h"
#include "validation/wrapper/tensor_visit.h"

namespace ttt {

using pattern_detail::block_infos;
using pattern_detail::make_blocks;
using pattern_detail::named_weights;
using pattern_detail::with_context;

int default_tp_axis(const Mesh& mesh) { return mesh.cols > 1 ? 1 : 0; }

namespace {

constexpr auto kPartialSumFields =
    std::tuple{json_named("reduction", &TpPartialSumConfig::reduction, &tp_reduction_name,
                          &parse_tp_reduction),
               json_optional("ccl", &TpPartialSumConfig::ccl)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(TpPartialSumConfig, "tensor_parallel partial sum config", kPartialSumFields)

void to_json(nlohmann::json& json, const DecoderLayerTpConfig& config) {
  json = ccl_detail::mesh_axis_json({config.mesh, config.axis});
  json["attention"] = config.attention;
  json["ffn"] = config.ffn;
}
void read_json(const JsonNode& node, DecoderLayerTpConfig& config) {
  node.allow_only({"mesh", "axis", "attention", "ffn"});
  ccl_detail::read_mesh_axis(node, config.mesh, config.axis);
  read_json(node.at("attention"), config.attention);
  read_json(node.at("ffn"), config.ffn);
}
void from_json(const nlohmann::json& json, DecoderLayerTpConfig& config) {
  read_json(JsonNode(json, "decoder_layer tensor_parallel config"), config);
}

void to_json(nlohmann::json& json, const CausalLmTpConfig& config) {
  json = ccl_detail::mesh_axis_json({config.mesh, config.axis});
  json["lm_head"] = config.lm_head;
}
void read_json(const JsonNode& node, CausalLmTpConfig& config) {
  node.allow_only({"mesh", "axis", "lm_head"});
  ccl_detail::read_mesh_axis(node, config.mesh, config.axis);
  read_json(node.at("lm_head"), config.lm_head);
}
void from_json(const nlohmann::json& json, CausalLmTpConfig& config) {
  read_json(JsonNode(json, "causal_lm tensor_parallel config"), config);
}

namespace {

// A plain MLP has no tensor-parallel block: refused naming the mesh (the gated MLP runs as
// tp_gated_mlp, the MoE as ep_moe).
void check_tp_ffn(const FfnSpec& ffn, const Mesh& mesh) {
  if (std::holds_alternative<MlpSpec>(ffn)) {
    throw std::invalid_argument("[tensor_parallel] mesh " + mesh_name(mesh) + ": the ffn is " +
                                std::string(block_kind(ffn)) +
                                ", which has no tensor-parallel block (gated_mlp runs on a mesh "
                                "as tp_gated_mlp, moe as ep_moe)");
  }
}

}  // namespace

void validate(const DecoderLayerTpConfig& config, const AttentionSpec& attention,
              const AttentionImplConfig& attention_config, const FfnSpec& ffn,
              const FfnImplConfig& ffn_config) {
  const TpAttentionSpec tp_attention{attention, config.mesh, config.axis};
  tp_attention.validate();
  check_tp_ffn(ffn, config.mesh);
  const auto* gated = std::get_if<GatedMlpSpec>(&ffn);
  const auto* moe = std::get_if<MoeSpec>(&ffn);
  const std::optional<TpGatedMlpSpec> tp_mlp =
      gated != nullptr ? std::optional(TpGatedMlpSpec{*gated, config.mesh, config.axis})
                       : std::nullopt;
  const std::optional<EpMoeSpec> ep_moe =
      moe != nullptr ? std::optional(EpMoeSpec{*moe, config.mesh, config.axis}) : std::nullopt;
  if (tp_mlp.has_value()) tp_mlp->validate();
  if (ep_moe.has_value()) ep_moe->validate();
  // Each device's block on its slice (its heads, its FFN columns or experts), and the
  // collectives.
  const std::string devices = "mesh " + mesh_name(config.mesh) + " axis " +
                              std::to_string(config.axis) + " (" +
                              std::to_string(config.mesh.axis_size(config.axis)) + " devices)";
  with_context("tensor_parallel", devices, [&] {
    TpAttentionImplConfig{attention_config, config.attention.reduction, config.attention.ccl}
        .validate(tp_attention);
    const auto* gated_config = std::get_if<GatedMlpImplConfig>(&ffn_config);
    const auto* moe_config = std::get_if<MoeImplConfig>(&ffn_config);
    if (tp_mlp.has_value() && gated_config != nullptr) {
      TpGatedMlpImplConfig{*gated_config, config.ffn.reduction, config.ffn.ccl}.validate(*tp_mlp);
    }
    if (ep_moe.has_value() && moe_config != nullptr) {
      EpMoeImplConfig{*moe_config, config.ffn.reduction, config.ffn.ccl}.validate(*ep_moe);
    }
  });
}

namespace {

// The mesh and axis both modes share; throws naming the module when the modes disagree.
template <typename TpConfig>
const TpConfig& common_mesh(const PerMode<TpConfig>& mesh, std::string_view block) {
  if (mesh.prefill.mesh != mesh.decode.mesh || mesh.prefill.axis != mesh.decode.axis) {
    throw std::invalid_argument(
        "[" + std::string(block) + "] the prefill and decode configs run on mesh " +
        mesh_name(mesh.prefill.mesh) + " axis " + std::to_string(mesh.prefill.axis) + " and mesh " +
        mesh_name(mesh.decode.mesh) + " axis " + std::to_string(mesh.decode.axis) +
        ": both modes must run on one mesh");
  }
  return mesh.prefill;
}

// Both modes' configs of a tensor-parallel block (TpAttentionImplConfig, TpGatedMlpImplConfig,
// EpMoeImplConfig: {device config, reduction, ccl}) from each mode's single-device config and the
// layer's partial-sum config of that module (`sum`: &DecoderLayerTpConfig::attention or ::ffn).
template <typename TpImplConfig, typename DeviceConfig>
PerMode<TpImplConfig> tp_configs(const PerMode<DeviceConfig>& configs,
                                 const PerMode<DecoderLayerTpConfig>& mesh,
                                 TpPartialSumConfig DecoderLayerTpConfig::*sum) {
  return {{configs.prefill, (mesh.prefill.*sum).reduction, (mesh.prefill.*sum).ccl},
          {configs.decode, (mesh.decode.*sum).reduction, (mesh.decode.*sum).ccl}};
}

// x as every device receives it: replicated on the whole mesh.
MeshTensor replicated(const Tensor& x, const Mesh& mesh) {
  return distribute(x, mesh, {Placement::replicate(), Placement::replicate()});
}

// The whole value of a mesh output, on every process (gathered from the others under MPI).
Tensor composed(const MeshTensor& y) { return compose(*detail::gathered_mesh_tensor(y)); }

// A positionwise tensor-parallel block (TpGatedMlp, TpLmHead): the block per mode on the mesh,
// the single-device reference on the whole x.
template <typename TpBlock>
class TpPositionwiseModule : public PositionwiseModule {
 public:
  Tensor forward(const Tensor& x, Mode mode) const override {
    return composed(mesh_forward(replicated(x, mesh_), mode));
  }
  std::optional<Mesh> mesh() const override { return mesh_; }
  MeshTensor mesh_forward(const MeshTensor& x, Mode mode) const override {
    return mode == Mode::prefill ? blocks_.prefill->prefill_forward(x)
                                 : blocks_.decode->decode_forward(x);
  }
  ModuleInfo info(Mode mode) const override { return infos_[mode]; }

 protected:
  Mesh mesh_;
  PerMode<std::shared_ptr<const TpBlock>> blocks_;
  PerMode<ModuleInfo> infos_;
};

class TpGatedMlpModule final : public TpPositionwiseModule<TpGatedMlp> {
 public:
  TpGatedMlpModule(const GatedMlpSpec& spec, const PerMode<GatedMlpImplConfig>& configs,
                   const PerMode<DecoderLayerTpConfig>& mesh, GatedMlpWeights weights)
      : weights_{load_once(std::move(weights.w_gate)), load_once(std::move(weights.w_up)),
                 load_once(std::move(weights.w_down))} {
    const DecoderLayerTpConfig& common = common_mesh(mesh, TpGatedMlpSpec::kind);
    spec_ = TpGatedMlpSpec{spec, common.mesh, common.axis};
    mesh_ = common.mesh;
    const auto configs_on_mesh =
        tp_configs<TpGatedMlpImplConfig>(configs, mesh, &DecoderLayerTpConfig::ffn);
    blocks_ = make_blocks<TpGatedMlp>(configs_on_mesh, [&](const TpGatedMlpImplConfig& config) {
      return std::make_shared<const TpGatedMlp>(spec_, config, weights_);
    });
    infos_ = block_infos(TpGatedMlpSpec::kind, TpGatedMlpSpec::kind, spec_, configs_on_mesh);
  }
  Tensor reference(const Tensor& x) const override {
    return gated_mlp_reference(spec_.mlp, weights_, x);
  }
  std::vector<NamedTensor> weights() const override {
    return named_weights(TpGatedMlpSpec::kind, spec_,
                         {&weights_.w_gate, &weights_.w_up, &weights_.w_down});
  }

 private:
  TpGatedMlpSpec spec_;
  GatedMlpWeights weights_;
};

// The MoE on a mesh: its experts spread along the layer's axis (EpMoe), the devices' partial
// outputs summed as the layer's TpPartialSumConfig ffn says.
class EpMoeModule final : public TpPositionwiseModule<EpMoe> {
 public:
  EpMoeModule(const MoeSpec& spec, const PerMode<MoeImplConfig>& configs,
              const PerMode<DecoderLayerTpConfig>& mesh, MoeWeights weights)
      : weights_(pattern_detail::load_once(std::move(weights))) {
    const DecoderLayerTpConfig& common = common_mesh(mesh, EpMoeSpec::kind);
    spec_ = EpMoeSpec{spec, common.mesh, common.axis};
    mesh_ = common.mesh;
    const auto ep_configs = tp_configs<EpMoeImplConfig>(configs, mesh, &DecoderLayerTpConfig::ffn);
    blocks_ = make_blocks<EpMoe>(ep_configs, [&](const EpMoeImplConfig& config) {
      return std::make_shared<const EpMoe>(spec_, config, weights_);
    });
    infos_ = block_infos(EpMoeSpec::kind, EpMoeSpec::kind, spec_, ep_configs);
  }
  Tensor reference(const Tensor& x) const override { return moe_reference(spec_.moe, weights_, x); }
  std::vector<NamedTensor> weights() const override {
    return named_weights(EpMoeSpec::kind, spec_, pattern_detail::moe_weight_sources(weights_));
  }

 private:
  EpMoeSpec spec_;
  MoeWeights weights_;
};

class TpLmHeadModule final : public TpPositionwiseModule<TpLmHead> {
 public:
  TpLmHeadModule(const LmHeadSpec& spec, const PerMode<LmHeadImplConfig>& configs,
                 const PerMode<CausalLmTpConfig>& mesh, WeightSource weight)
      : weights_{load_once(std::move(weight))} {
    const CausalLmTpConfig& common = common_mesh(mesh, TpLmHeadSpec::kind);
    spec_ = TpLmHeadSpec{spec, common.mesh, common.axis};
    mesh_ = common.mesh;
    const PerMode<TpLmHeadImplConfig> configs_on_mesh{{configs.prefill, mesh.prefill.lm_head},
                                                      {configs.decode, mesh.decode.lm_head}};
    blocks_ = make_blocks<TpLmHead>(configs_on_mesh, [&](const TpLmHeadImplConfig& config) {
      return std::make_shared<const TpLmHead>(spec_, config, weights_);
    });
    infos_ = block_infos(TpLmHeadSpec::kind, TpLmHeadSpec::kind, spec_, configs_on_mesh);
  }
  Tensor reference(const Tensor& x) const override {
    return lm_head_reference(spec_.lm_head, weights_, x);
  }
  std::vector<NamedTensor> weights() const override {
    return named_weights(TpLmHeadSpec::kind, spec_, {&weights_.weight});
  }

 private:
  TpLmHeadSpec spec_;
  LmHeadWeights weights_;
};

// Tensor-parallel attention. The layer's KVCache holds every device's cache, concatenated along
// the KV heads in axis order (device position p at heads p * kv .. (p + 1) * kv - 1, kv the
// heads one device holds); on the other axis the copies are alike. Each call cuts the caches of
// the devices this process holds out of it, runs TpAttention, gathers every device's cache back
// (through the transport: under MPI every rank keeps the whole concatenated cache) and writes it
// in place.
class TpAttentionModule final : public AttentionModule {
 public:
  TpAttentionModule(const AttentionSpec& spec, const PerMode<AttentionImplConfig>& configs,
                    const PerMode<DecoderLayerTpConfig>& mesh, AttentionWeights weights)
      : cache_config_(configs.decode) {
    const DecoderLayerTpConfig& common = common_mesh(mesh, TpAttentionSpec::kind);
    spec_ = TpAttentionSpec{spec, common.mesh, common.axis};
    weights_ = pattern_detail::shared_attention_weights(TpAttentionSpec::kind, configs,
                                                        std::move(weights));
    const auto configs_on_mesh =
        tp_configs<TpAttentionImplConfig>(configs, mesh, &DecoderLayerTpConfig::attention);
    blocks_ = make_blocks<TpAttention>(configs_on_mesh, [&](const TpAttentionImplConfig& config) {
      return std::make_shared<const TpAttention>(spec_, config, weights_);
    });
    // Both modes' calls are tp_attention's (replay tells a decode call by its positions); the
    // records carry its Spec and ImplConfig, x and the per-device caches as mesh tensors.
    infos_ = block_infos(TpAttentionSpec::kind, TpAttentionSpec::kind, spec_, configs_on_mesh);
  }

  KVCache make_cache(std::int64_t max_batch, std::int64_t max_seq_len) const override {
    const KVCache one = make_kv_cache(spec_.device_spec(0), cache_config_, max_batch, max_seq_len);
    Shape shape = one.k.shape();
    shape[1] *= axis_size();
    return KVCache{Tensor(shape, cache_config_.kv_cache_dtype),
                   Tensor(shape, cache_config_.kv_cache_dtype)};
  }
  Tensor prefill(const Tensor& x, KVCache& cache, std::int64_t first_slot) const override {
    return composed(mesh_prefill(replicated(x, spec_.mesh), cache, first_slot));
  }
  Tensor decode(const Tensor& x, const Tensor& positions, KVCache& cache) const override {
    return composed(mesh_decode(replicated(x, spec_.mesh), positions, cache));
  }
  Tensor prefill_reference(const Tensor& x) const override {
    return attention_prefill_reference(spec_.attention, weights_, x);
  }
  Tensor decode_reference(const Tensor& x, const Tensor& positions,
                          const KVCache& cache) const override {
    return attention_decode_reference(spec_.attention, weights_, x, positions,
                                      tp_attention_whole_cache(spec_, cache.k),
                                      tp_attention_whole_cache(spec_, cache.v));
  }
  ModuleInfo info(Mode mode) const override { return infos_[mode]; }
  std::vector<NamedTensor> weights() const override {
    return named_weights(
        TpAttentionSpec::kind, spec_,
        {&weights_.wq, &weights_.wk, &weights_.wv, &weights_.wo, &weights_.bq, &weights_.bk,
         &weights_.bv, &weights_.bo, &weights_.q_norm, &weights_.k_norm});
  }

  std::optional<Mesh> mesh() const override { return spec_.mesh; }
  std::array<Placement, 2> cache_layout() const override {
    std::array<Placement, 2> placements{};
    placements[static_cast<std::size_t>(spec_.axis)] = Placement::shard(1);
    return placements;
  }
  MeshTensor mesh_prefill(const MeshTensor& x, KVCache& cache,
                          std::int64_t first_slot) const override {
    std::vector<KVCache> caches = device_caches(cache);
    MeshTensor y = blocks_.prefill->prefill_forward(x, &caches, first_slot);
    store(caches, cache);
    return y;
  }
  MeshTensor mesh_decode(const MeshTensor& x, const Tensor& positions,
                         KVCache& cache) const override {
    std::vector<KVCache> caches = device_caches(cache);
    MeshTensor y = blocks_.decode->decode_forward(x, positions, caches);
    store(caches, cache);
    return y;
  }

 private:
  int axis_size() const { return spec_.mesh.axis_size(spec_.axis); }
  int position(int device) const {
    return spec_.axis == 1 ? device % spec_.mesh.cols : device / spec_.mesh.cols;
  }
  std::int64_t device_kv_heads() const { return spec_.device_spec(0).kv_heads(); }

  void check(const KVCache& cache) const {
    const KVCache expected = make_cache(1, 1);
    const auto ok = [&](const Tensor& t) {
      return t.defined() && t.rank() == 4 && t.dim(1) == expected.k.dim(1) &&
             t.dim(3) == expected.k.dim(3) && t.dtype() == cache_config_.kv_cache_dtype;
    };
    if (!ok(cache.k) || !ok(cache.v) || cache.k.shape() != cache.v.shape()) {
      throw std::invalid_argument(
          "[tp_attention] the KV cache must hold every device's cache on mesh " +
          mesh_name(spec_.mesh) + " ([batch, " + std::to_string(expected.k.dim(1)) + ", seq, " +
          std::to_string(expected.k.dim(3)) + "] in " +
          std::string(dtype_name(cache_config_.kv_cache_dtype)) + "), got k " +
          (cache.k.defined() ? shape_to_string(cache.k.shape()) : "(undefined)") +
          " (use the module's make_cache)");
    }
  }

  // The caches of the devices this process holds, cut out of the concatenated cache in its dtype.
  std::vector<KVCache> device_caches(const KVCache& cache) const {
    check(cache);
    const std::int64_t kv = device_kv_heads();
    std::vector<KVCache> caches(static_cast<std::size_t>(spec_.mesh.size()));
    const MeshTransport& transport = mesh_transport();
    for (int device = 0; device < spec_.mesh.size(); ++device) {
      if (!transport.holds(spec_.mesh, device)) continue;
      const std::int64_t begin = position(device) * kv;
      caches[device] = {ccl_detail::slice(cache.k, 1, begin, kv).to(cache.k.dtype()),
                        ccl_detail::slice(cache.v, 1, begin, kv).to(cache.v.dtype())};
    }
    return caches;
  }

  // Every device's cache gathered and written back into the concatenated cache.
  void store(const std::vector<KVCache>& caches, KVCache& cache) const {
    const auto write = [&](Tensor KVCache::*member) {
      MeshTensor parts{spec_.mesh, cache_layout(), {}};
      for (const KVCache& device : caches) parts.shards.push_back(device.*member);
      const Tensor whole = composed(parts);
      const std::span<const float> values = whole.floats();
      std::copy(values.begin(), values.end(), (cache.*member).mutable_floats().begin());
    };
    write(&KVCache::k);
    write(&KVCache::v);
  }

  TpAttentionSpec spec_;
  AttentionImplConfig cache_config_;
  AttentionWeights weights_;
  PerMode<std::shared_ptr<const TpAttention>> blocks_;
  PerMode<ModuleInfo> infos_;
};

}  // namespace

std::shared_ptr<const AttentionModule> make_tp_attention_module(
    const AttentionSpec& spec, const PerMode<AttentionImplConfig>& configs,
    const PerMode<DecoderLayerTpConfig>& mesh, AttentionWeights weights) {
  return std::make_shared<const TpAttentionModule>(spec, configs, mesh, std::move(weights));
}

std::shared_ptr<const PositionwiseModule> make_tp_ffn_module(
    const FfnSpec& spec, const PerMode<FfnImplConfig>& configs,
    const PerMode<DecoderLayerTpConfig>& mesh, FfnWeights weights) {
  validate(spec, configs.prefill, block_kind(spec));
  validate(spec, configs.decode, block_kind(spec));
  check_tp_ffn(spec, mesh.prefill.mesh);
  if (spec.index() != weights.index()) {
    constexpr const char* kWeightKinds[] = {"gated_mlp", "mlp", "moe"};  // FfnWeights' order.
    throw std::invalid_argument("[" + std::string(block_kind(spec)) + "] weights are for " +
                                kWeightKinds[weights.index()] + ", spec is " +
                                std::string(block_kind(spec)));
  }
  if (const auto* moe = std::get_if<MoeSpec>(&spec)) {
    return std::make_shared<const EpMoeModule>(
        *moe,
        PerMode<MoeImplConfig>{std::get<MoeImplConfig>(configs.prefill),
                               std::get<MoeImplConfig>(configs.decode)},
        mesh, std::get<MoeWeights>(std::move(weights)));
  }
  return std::make_shared<const TpGatedMlpModule>(
      std::get<GatedMlpSpec>(spec),
      PerMode<GatedMlpImplConfig>{std::get<GatedMlpImplConfig>(configs.prefill),
                                  std::get<GatedMlpImplConfig>(configs.decode)},
      mesh, std::get<GatedMlpWeights>(std::move(weights)));
}

std::shared_ptr<const PositionwiseModule> make_tp_lm_head_module(
    const LmHeadSpec& spec, const PerMode<LmHeadImplConfig>& configs,
    const PerMode<CausalLmTpConfig>& mesh, WeightSource weight) {
  return std::make_shared<const TpLmHeadModule>(spec, configs, mesh, std::move(weight));
}

}  // namespace ttt

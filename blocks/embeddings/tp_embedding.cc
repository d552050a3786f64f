#include "blocks/embeddings/tp_embedding.h"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "blocks/ccl/all_gather.h"
#include "blocks/ccl/tensor_parallel.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"

namespace ttt {
namespace {

constexpr std::string_view kBlock = TpEmbeddingSpec::kind;

}  // namespace

void TpEmbeddingSpec::validate() const {
  embedding.validate();
  const ccl_detail::MeshAxis mesh_axis{mesh, axis};
  ccl_detail::validate_mesh_axis(kBlock, mesh_axis);
  tp_detail::check_divides(kBlock, mesh_axis, embedding.hidden_dim, "spec.embedding.hidden_dim");
  if (embedding.positions == PositionEmbedding::sinusoidal) {
    throw std::invalid_argument(
        "[tp_embedding] spec.embedding.positions sinusoidal is not supported: its wavelengths "
        "depend on the whole hidden width, which a device's columns do not know");
  }
}

std::string TpEmbeddingSpec::identity() const {
  Identity id("TP_EMBEDDING");
  id.add("vocab", embedding.vocab_size)
      .add("hidden", embedding.hidden_dim)
      .add("scale", embedding.scale)
      .add("positions", position_embedding_name(embedding.positions));
  if (embedding.positions == PositionEmbedding::learned) {
    id.add("max_positions", embedding.max_positions);
  }
  return id.add("mesh", mesh_name(mesh)).add("axis", axis).str();
}

EmbeddingSpec TpEmbeddingSpec::device_spec() const {
  EmbeddingSpec device = embedding;
  device.hidden_dim = embedding.hidden_dim / mesh.axis_size(axis);
  return device;
}

void TpEmbeddingImplConfig::validate() const {
  device.validate();
  ccl.validate(kBlock);
}

TpEmbeddingImplConfig default_impl_config(const TpEmbeddingSpec& spec, Device device, Mode mode) {
  TpEmbeddingImplConfig config;
  config.device = default_impl_config(spec.device_spec(), device, mode);
  config.ccl = ccl_detail::default_move_config(spec.mesh, device);
  return config;
}

TpEmbeddingImplConfig default_impl_config(const TpEmbeddingSpec& spec, Device device, Mode mode,
                                          Preset) {
  return default_impl_config(spec, device, mode);
}

void to_json(nlohmann::json& json, const TpEmbeddingSpec& spec) {
  tp_detail::spec_to_json(json, spec, "embedding", &TpEmbeddingSpec::embedding);
}

void read_json(const JsonNode& node, TpEmbeddingSpec& spec) {
  tp_detail::read_spec_json(node, spec, "embedding", &TpEmbeddingSpec::embedding);
}

void from_json(const nlohmann::json& json, TpEmbeddingSpec& spec) {
  read_json(JsonNode(json, "tp_embedding spec"), spec);
}

namespace {

constexpr auto kConfigFields =
    std::tuple{json_optional("device", &TpEmbeddingImplConfig::device),
               json_optional("all_gather", &TpEmbeddingImplConfig::all_gather),
               json_optional("ccl", &TpEmbeddingImplConfig::ccl)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(TpEmbeddingImplConfig, "tp_embedding impl_config", kConfigFields)

TpEmbedding::TpEmbedding(TpEmbeddingSpec spec, TpEmbeddingImplConfig config,
                         EmbeddingWeights weights)
    : spec_(std::move(spec)), config_(std::move(config)) {
  spec_.validate();
  config_.validate();
  validate(spec_.embedding, weights);
  const ccl_detail::MeshAxis mesh_axis{spec_.mesh, spec_.axis};
  // Both tables are [rows, hidden]: each device holds its hidden columns of every row.
  const auto columns = [&mesh_axis](const WeightSource& table, int device) {
    return table.defined() ? tp_detail::slice_weight(table, 1, mesh_axis, device) : table;
  };
  for (int device = 0; device < spec_.mesh.size(); ++device) {
    devices_.emplace_back(spec_.device_spec(), config_.device,
                          EmbeddingWeights{columns(weights.token_weight, device),
                                           columns(weights.position_weight, device)});
  }
}

MeshTensor TpEmbedding::place(MeshTensor columns) const {
  // The lookups' last dimension is hidden: split along the axis, as TTTv1's sharded table leaves
  // it.
  columns.placements[spec_.axis] = Placement::shard(tp_detail::feature_dim(columns));
  if (!config_.all_gather) return columns;
  return AllGather({spec_.mesh, spec_.axis, tp_detail::feature_dim(columns)}, config_.ccl)
      .forward(columns);
}

MeshTensor TpEmbedding::prefill_forward(const MeshTensor& ids) const {
  return place(tp_detail::run_devices(kBlock, {spec_.mesh, spec_.axis}, devices_, ids,
                                      &Embedding::prefill_forward));
}

MeshTensor TpEmbedding::decode_forward(const MeshTensor& ids, const Tensor& positions) const {
  tp_detail::check_replicated_input(kBlock, {spec_.mesh, spec_.axis}, ids);
  return place(tp_detail::map_held_shards(ids, [this, &positions](int device, const Tensor& shard) {
    return devices_[device].decode_forward(shard, positions);
  }));
}

Tensor tp_embedding_reference(const TpEmbeddingSpec& spec, const EmbeddingWeights& weights,
                              const MeshTensor& ids, const Tensor& positions) {
  spec.validate();
  return embedding_reference(spec.embedding, weights,
                             tp_detail::composed_input(kBlock, {spec.mesh, spec.axis}, ids),
                             positions);
}

}  // namespace ttt

#include "blocks/ccl/reduce_scatter.h"

#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>
#include <vector>

namespace ttt {
namespace {

constexpr std::string_view kBlock = ReduceScatterSpec::kind;

// Each chunk in `dtype` (the output dtype of the device, float64 for the reference).
std::vector<Tensor> chunks_in(std::vector<Tensor> chunks, DType dtype) {
  for (Tensor& chunk : chunks) chunk = ccl_detail::in_dtype(chunk, dtype);
  return chunks;
}

}  // namespace

void ReduceScatterSpec::validate() const {
  ccl_detail::validate_mesh_axis(kBlock, {mesh, axis});
  ccl_detail::validate_width(kBlock, width);
  if (dim < 0) ccl_detail::fail(kBlock, "spec.dim must be >= 0, got " + std::to_string(dim));
}

std::string ReduceScatterSpec::identity() const {
  return ccl_detail::collective_identity("REDUCE_SCATTER", {mesh, axis}, "dim", dim, width);
}

CclReduceImplConfig default_impl_config(const ReduceScatterSpec& spec, Device device, Mode) {
  return ccl_detail::default_reduce_config(spec.mesh, device);
}

CclReduceImplConfig default_impl_config(const ReduceScatterSpec& spec, Device device, Mode mode,
                                        Preset) {
  return default_impl_config(spec, device, mode);
}

void to_json(nlohmann::json& json, const ReduceScatterSpec& spec) {
  json = ccl_detail::collective_json({spec.mesh, spec.axis}, "dim", spec.dim, spec.width);
}

void read_json(const JsonNode& node, ReduceScatterSpec& spec) {
  node.allow_only({"mesh", "axis", "dim", "width"});
  ccl_detail::read_mesh_axis(node, spec.mesh, spec.axis);
  spec.width = ccl_detail::read_width(node);
  spec.dim = static_cast<int>(node.at("dim").integer_in(0, kMaxRank - 1));
}

void from_json(const nlohmann::json& json, ReduceScatterSpec& spec) {
  read_json(JsonNode(json, "reduce_scatter spec"), spec);
}

ReduceScatter::ReduceScatter(ReduceScatterSpec spec, CclReduceImplConfig config)
    : spec_(std::move(spec)), config_(config) {
  spec_.validate();
  config_.validate(kBlock);
  order_ = ccl_detail::hop_order(config_.topology);
}

MeshTensor ReduceScatter::forward(const MeshTensor& x) const {
  const ccl_detail::MeshAxis mesh_axis{spec_.mesh, spec_.axis};
  const std::vector<Tensor> gathered =
      ccl_detail::gather_checked(kBlock, mesh_axis, x, spec_.dim, true);
  return ccl_detail::per_group(
      mesh_axis, x, gathered, Placement::shard(spec_.dim), true,
      [this](const std::vector<Tensor>& inputs) {
        return chunks_in(
            ccl_detail::reduce_scatter_group(inputs, spec_.dim, config_.reduce_dtype, order_),
            config_.output_dtype);
      });
}

Tensor reduce_scatter_reference(const ReduceScatterSpec& spec, const MeshTensor& x) {
  spec.validate();
  const ccl_detail::MeshAxis mesh_axis{spec.mesh, spec.axis};
  const std::vector<Tensor> gathered =
      ccl_detail::gather_checked(kBlock, mesh_axis, x, spec.dim, true);
  return compose(ccl_detail::per_group(mesh_axis, x, gathered, Placement::shard(spec.dim), false,
                                       [&spec](const std::vector<Tensor>& inputs) {
                                         return ccl_detail::reduce_scatter_group_reference(
                                             inputs, spec.dim);
                                       }));
}

}  // namespace ttt

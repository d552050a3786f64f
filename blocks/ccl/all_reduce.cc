#include "blocks/ccl/all_reduce.h"

#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>
#include <vector>

namespace ttt {
namespace {

constexpr std::string_view kBlock = AllReduceSpec::kind;

// The reduce-scatter's chunks gathered back: every position of the group gets the same tensor.
std::vector<Tensor> gathered_sum(const std::vector<Tensor>& chunks, int dim, DType dtype) {
  const Tensor sum = ccl_detail::in_dtype(ccl_detail::concat(chunks, dim), dtype);
  return std::vector<Tensor>(chunks.size(), sum);
}

}  // namespace

void AllReduceSpec::validate() const {
  ccl_detail::validate_mesh_axis(kBlock, {mesh, axis});
  ccl_detail::validate_width(kBlock, width);
  if (dim < 0) ccl_detail::fail(kBlock, "spec.dim must be >= 0, got " + std::to_string(dim));
}

std::string AllReduceSpec::identity() const {
  return ccl_detail::collective_identity("ALL_REDUCE", {mesh, axis}, "dim", dim, width);
}

CclReduceImplConfig default_impl_config(const AllReduceSpec& spec, Device device, Mode) {
  return ccl_detail::default_reduce_config(spec.mesh, device);
}

CclReduceImplConfig default_impl_config(const AllReduceSpec& spec, Device device, Mode mode,
                                        Preset) {
  return default_impl_config(spec, device, mode);
}

void to_json(nlohmann::json& json, const AllReduceSpec& spec) {
  json = ccl_detail::collective_json({spec.mesh, spec.axis}, "dim", spec.dim, spec.width);
}

void read_json(const JsonNode& node, AllReduceSpec& spec) {
  node.allow_only({"mesh", "axis", "dim", "width"});
  ccl_detail::read_mesh_axis(node, spec.mesh, spec.axis);
  spec.width = ccl_detail::read_width(node);
  spec.dim = static_cast<int>(node.at("dim").integer_in(0, kMaxRank - 1));
}

void from_json(const nlohmann::json& json, AllReduceSpec& spec) {
  read_json(JsonNode(json, "all_reduce spec"), spec);
}

AllReduce::AllReduce(AllReduceSpec spec, CclReduceImplConfig config)
    : spec_(std::move(spec)), config_(config) {
  spec_.validate();
  config_.validate(kBlock);
  order_ = ccl_detail::hop_order(config_.topology);
}

MeshTensor AllReduce::forward(const MeshTensor& x) const {
  const ccl_detail::MeshAxis mesh_axis{spec_.mesh, spec_.axis};
  const std::vector<Tensor> gathered =
      ccl_detail::gather_checked(kBlock, mesh_axis, x, spec_.dim, true);
  return ccl_detail::per_group(
      mesh_axis, x, gathered, Placement::replicate(), true,
      [this](const std::vector<Tensor>& inputs) {
        return gathered_sum(
            ccl_detail::reduce_scatter_group(inputs, spec_.dim, config_.reduce_dtype, order_),
            spec_.dim, config_.output_dtype);
      });
}

Tensor all_reduce_reference(const AllReduceSpec& spec, const MeshTensor& x) {
  spec.validate();
  const ccl_detail::MeshAxis mesh_axis{spec.mesh, spec.axis};
  const std::vector<Tensor> gathered =
      ccl_detail::gather_checked(kBlock, mesh_axis, x, spec.dim, true);
  return compose(ccl_detail::per_group(
      mesh_axis, x, gathered, Placement::replicate(), false,
      [&spec](const std::vector<Tensor>& inputs) {
        return gathered_sum(ccl_detail::reduce_scatter_group_reference(inputs, spec.dim), spec.dim,
                            DType::float64);
      }));
}

}  // namespace ttt

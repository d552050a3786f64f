#include "blocks/ccl/all_gather.h"

#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>
#include <vector>

namespace ttt {
namespace {

constexpr std::string_view kBlock = AllGatherSpec::kind;

// Every position of a group gets the concatenation of the group's shards.
std::vector<Tensor> gather_group(const std::vector<Tensor>& inputs, int dim, DType dtype) {
  const Tensor whole = ccl_detail::in_dtype(ccl_detail::concat(inputs, dim), dtype);
  return std::vector<Tensor>(inputs.size(), whole);
}

}  // namespace

void AllGatherSpec::validate() const {
  ccl_detail::validate_mesh_axis(kBlock, {mesh, axis});
  ccl_detail::validate_width(kBlock, width);
  if (dim < 0) ccl_detail::fail(kBlock, "spec.dim must be >= 0, got " + std::to_string(dim));
}

std::string AllGatherSpec::identity() const {
  return ccl_detail::collective_identity("ALL_GATHER", {mesh, axis}, "dim", dim, width);
}

CclImplConfig default_impl_config(const AllGatherSpec& spec, Device device, Mode) {
  return ccl_detail::default_move_config(spec.mesh, device);
}

CclImplConfig default_impl_config(const AllGatherSpec& spec, Device device, Mode mode, Preset) {
  return default_impl_config(spec, device, mode);
}

void to_json(nlohmann::json& json, const AllGatherSpec& spec) {
  json = ccl_detail::collective_json({spec.mesh, spec.axis}, "dim", spec.dim, spec.width);
}

void read_json(const JsonNode& node, AllGatherSpec& spec) {
  node.allow_only({"mesh", "axis", "dim", "width"});
  ccl_detail::read_mesh_axis(node, spec.mesh, spec.axis);
  spec.width = ccl_detail::read_width(node);
  spec.dim = static_cast<int>(node.at("dim").integer_in(0, kMaxRank - 1));
}

void from_json(const nlohmann::json& json, AllGatherSpec& spec) {
  read_json(JsonNode(json, "all_gather spec"), spec);
}

AllGather::AllGather(AllGatherSpec spec, CclImplConfig config)
    : spec_(std::move(spec)), config_(config) {
  spec_.validate();
  config_.validate(kBlock);
}

MeshTensor AllGather::forward(const MeshTensor& x) const {
  const ccl_detail::MeshAxis mesh_axis{spec_.mesh, spec_.axis};
  const std::vector<Tensor> gathered =
      ccl_detail::gather_checked(kBlock, mesh_axis, x, spec_.dim, false);
  return ccl_detail::per_group(mesh_axis, x, gathered, Placement::replicate(), true,
                               [this](const std::vector<Tensor>& inputs) {
                                 return gather_group(inputs, spec_.dim, config_.output_dtype);
                               });
}

Tensor all_gather_reference(const AllGatherSpec& spec, const MeshTensor& x) {
  spec.validate();
  const ccl_detail::MeshAxis mesh_axis{spec.mesh, spec.axis};
  const std::vector<Tensor> gathered =
      ccl_detail::gather_checked(kBlock, mesh_axis, x, spec.dim, false);
  return compose(ccl_detail::per_group(mesh_axis, x, gathered, Placement::replicate(), false,
                                       [&spec](const std::vector<Tensor>& inputs) {
                                         return gather_group(inputs, spec.dim, DType::float64);
                                       }));
}

}  // namespace ttt

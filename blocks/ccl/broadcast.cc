#include "blocks/ccl/broadcast.h"

#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>
#include <vector>

namespace ttt {
namespace {

constexpr std::string_view kBlock = BroadcastSpec::kind;

std::vector<Tensor> broadcast_group(const std::vector<Tensor>& inputs, int root, DType dtype) {
  return std::vector<Tensor>(inputs.size(), inputs[root].to(dtype));
}

}  // namespace

void BroadcastSpec::validate() const {
  ccl_detail::validate_mesh_axis(kBlock, {mesh, axis});
  ccl_detail::validate_width(kBlock, width);
  const int n = mesh.axis_size(axis);
  if (root < 0 || root >= n) {
    ccl_detail::fail(kBlock, "spec.root " + std::to_string(root) + " is not a position on mesh " +
                                 mesh_name(mesh) + " axis " + std::to_string(axis) + " (" +
                                 std::to_string(n) + " devices)");
  }
}

std::string BroadcastSpec::identity() const {
  return ccl_detail::collective_identity("BROADCAST", {mesh, axis}, "root", root, width);
}

CclImplConfig default_impl_config(const BroadcastSpec& spec, Device device, Mode) {
  return ccl_detail::default_move_config(spec.mesh, device);
}

CclImplConfig default_impl_config(const BroadcastSpec& spec, Device device, Mode mode, Preset) {
  return default_impl_config(spec, device, mode);
}

void to_json(nlohmann::json& json, const BroadcastSpec& spec) {
  json = ccl_detail::collective_json({spec.mesh, spec.axis}, "root", spec.root, spec.width);
}

void read_json(const JsonNode& node, BroadcastSpec& spec) {
  node.allow_only({"mesh", "axis", "root", "width"});
  ccl_detail::read_mesh_axis(node, spec.mesh, spec.axis);
  spec.width = ccl_detail::read_width(node);
  if (const auto root = node.find("root")) spec.root = static_cast<int>(root->integer_in(0, 1023));
}

void from_json(const nlohmann::json& json, BroadcastSpec& spec) {
  read_json(JsonNode(json, "broadcast spec"), spec);
}

Broadcast::Broadcast(BroadcastSpec spec, CclImplConfig config)
    : spec_(std::move(spec)), config_(config) {
  spec_.validate();
  config_.validate(kBlock);
}

MeshTensor Broadcast::forward(const MeshTensor& x) const {
  const ccl_detail::MeshAxis mesh_axis{spec_.mesh, spec_.axis};
  const std::vector<Tensor> gathered = ccl_detail::gather_checked(kBlock, mesh_axis, x, -1, false);
  return ccl_detail::per_group(mesh_axis, x, gathered, Placement::replicate(), true,
                               [this](const std::vector<Tensor>& inputs) {
                                 return broadcast_group(inputs, spec_.root, config_.output_dtype);
                               });
}

Tensor broadcast_reference(const BroadcastSpec& spec, const MeshTensor& x) {
  spec.validate();
  const ccl_detail::MeshAxis mesh_axis{spec.mesh, spec.axis};
  const std::vector<Tensor> gathered = ccl_detail::gather_checked(kBlock, mesh_axis, x, -1, false);
  return compose(ccl_detail::per_group(mesh_axis, x, gathered, Placement::replicate(), false,
                                       [&spec](const std::vector<Tensor>& inputs) {
                                         return broadcast_group(inputs, spec.root, DType::float64);
                                       }));
}

}  // namespace ttt

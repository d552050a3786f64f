#include "blocks/ccl/tensor_parallel.h"

#include <stdexcept>
#include <utility>

#include "blocks/ccl/all_reduce.h"
#include "blocks/ccl/reduce_scatter.h"
#include "validation/mesh/transport.h"

namespace ttt::tp_detail {
namespace {

std::string axis_text(const MeshAxis& spec) {
  return "mesh " + mesh_name(spec.mesh) + " axis " + std::to_string(spec.axis) + " (" +
         std::to_string(spec.mesh.axis_size(spec.axis)) + " devices)";
}

}  // namespace

void check_divides(std::string_view block, const MeshAxis& spec, std::int64_t size,
                   std::string_view field) {
  if (size % spec.mesh.axis_size(spec.axis) != 0) {
    ccl_detail::fail(block, axis_text(spec) + " does not divide " + std::string(field) + " " +
                                std::to_string(size));
  }
}

int axis_position(const MeshAxis& spec, int device) {
  return spec.axis == 1 ? device % spec.mesh.cols : device / spec.mesh.cols;
}

WeightSource slice_weight(const WeightSource& weight, int dim, int position, int n) {
  Shape shape = weight.shape();
  const std::int64_t count = shape[dim] / n;
  shape[dim] = count;
  return WeightSource(shape, [weight, dim, begin = position * count, count] {
    return ccl_detail::slice(weight.load(), dim, begin, count);
  });
}

WeightSource slice_weight(const WeightSource& weight, int dim, const MeshAxis& spec, int device) {
  return slice_weight(weight, dim, axis_position(spec, device), spec.mesh.axis_size(spec.axis));
}

void check_input_shards(std::string_view block, const Mesh& mesh, const MeshTensor& x) {
  if (!(x.mesh == mesh)) {
    ccl_detail::fail(
        block, "input x is on mesh " + mesh_name(x.mesh) + ", spec.mesh is " + mesh_name(mesh));
  }
  if (static_cast<int>(x.shards.size()) != mesh.size()) {
    ccl_detail::fail(block, "input x has " + std::to_string(x.shards.size()) + " shards, mesh " +
                                mesh_name(mesh) + " has " + std::to_string(mesh.size()) +
                                " devices");
  }
  const MeshTransport& transport = mesh_transport();
  for (int device = 0; device < mesh.size(); ++device) {
    if (transport.holds(mesh, device) && !x.shards[device].defined()) {
      ccl_detail::fail(block, "input x on mesh " + mesh_name(mesh) + ": the shard of device " +
                                  std::to_string(device) + " is missing");
    }
  }
}

void check_replicated_input(std::string_view block, const MeshAxis& spec, const MeshTensor& x) {
  check_input_shards(block, spec.mesh, x);
  const Placement along = x.placements[spec.axis];
  if (along.kind != Placement::Kind::replicated) {
    ccl_detail::fail(block, "input x must be replicated along mesh " + mesh_name(spec.mesh) +
                                " axis " + std::to_string(spec.axis) +
                                " (the weights are split along it), got " + placement_name(along));
  }
  const Placement other = x.placements[1 - spec.axis];
  for (const Tensor& shard : x.shards) {
    if (shard.defined() && other.kind == Placement::Kind::sharded &&
        other.dim == shard.rank() - 1) {
      ccl_detail::fail(block, "input x is split along its features (dimension " +
                                  std::to_string(other.dim) + ") on mesh " + mesh_name(spec.mesh) +
                                  " axis " + std::to_string(1 - spec.axis) +
                                  ": every device needs whole feature rows");
    }
  }
}

int feature_dim(const MeshTensor& x) {
  for (const Tensor& shard : x.shards) {
    if (shard.defined()) return static_cast<int>(shard.rank()) - 1;
  }
  throw std::logic_error("[tensor_parallel] no shard on this process");
}

MeshTensor map_held_shards(const MeshTensor& x,
                           const std::function<Tensor(int device, const Tensor& shard)>& run) {
  MeshTensor result{x.mesh, x.placements, std::vector<Tensor>(x.shards.size())};
  const MeshTransport& transport = mesh_transport();
  for (int device = 0; device < x.mesh.size(); ++device) {
    if (!transport.holds(x.mesh, device)) continue;
    result.shards[device] = run(device, x.shards[device]);
  }
  return result;
}

std::function<MeshTensor(const MeshTensor& partials, int dim)> partial_sum(
    const MeshAxis& spec, bool all_reduce, const CclReduceImplConfig& ccl) {
  if (all_reduce) {
    return [spec, ccl](const MeshTensor& partials, int dim) {
      return AllReduce({spec.mesh, spec.axis, dim}, ccl).forward(partials);
    };
  }
  return [spec, ccl](const MeshTensor& partials, int dim) {
    return ReduceScatter({spec.mesh, spec.axis, dim}, ccl).forward(partials);
  };
}

Tensor composed_input(std::string_view block, const MeshAxis& spec, const MeshTensor& x) {
  check_replicated_input(block, spec, x);
  return compose_gathered(x);
}

Tensor compose_gathered(const MeshTensor& x) {
  return compose(MeshTensor{x.mesh, x.placements, mesh_transport().all_gather_shards(x)});
}

}  // namespace ttt::tp_detail

#include "blocks/ccl/mesh_kind_support.h"

#include <stdexcept>
#include <string>

namespace ttt::kind_support {

MeshTensor mesh_input(const BlockCall& call, const Mesh& mesh, std::string_view name) {
  const std::string input(name);
  if (const std::shared_ptr<const MeshTensor> stored = call.mesh(name)) {
    if (stored->mesh != mesh) {
      throw std::invalid_argument("[" + call.kind + "] input " + input + " is on mesh " +
                                  mesh_name(stored->mesh) + ", spec.mesh is " + mesh_name(mesh));
    }
    return *stored;
  }
  MeshTensor x{mesh, {}, call.container(name)};
  if (static_cast<int>(x.shards.size()) != mesh.size()) {
    throw std::invalid_argument("[" + call.kind + "] input " + input + " has " +
                                std::to_string(x.shards.size()) + " shards (" + input + "/0, " +
                                input + "/1, ...), mesh " + mesh_name(mesh) + " has " +
                                std::to_string(mesh.size()) + " devices");
  }
  if (const auto found = call.scalars.find("placements"); found != call.scalars.end()) {
    if (!found->is_array() || found->size() != 2) {
      throw std::invalid_argument("[" + call.kind +
                                  "] scalar placements must be an array of 2 "
                                  "placements (rows, columns), got " +
                                  found->dump());
    }
    for (int axis = 0; axis < 2; ++axis) {
      if (!(*found)[axis].is_string()) {
        throw std::invalid_argument("[" + call.kind + "] scalar placements[" +
                                    std::to_string(axis) + "] must be a string, got " +
                                    (*found)[axis].dump());
      }
      x.placements[axis] = parse_placement((*found)[axis].get<std::string>());
    }
  }
  return x;
}

InputRule mesh_activation(const Mesh& mesh, std::array<Placement, 2> placements, Mode mode,
                          const CallShapes& shapes, std::int64_t width) {
  const Shape shape = activation_shape(mode, shapes, width);
  for (Placement& placement : placements) {
    if (placement.kind == Placement::Kind::sharded && placement.dim < 0) {
      placement.dim += static_cast<int>(shape.size());
    }
  }
  return InputRule{.name = "x",
                   .shape = shape,
                   .seeding = Seeding::activation,
                   .mesh = MeshInputRule{.mesh = mesh, .placements = placements}};
}

}  // namespace ttt::kind_support

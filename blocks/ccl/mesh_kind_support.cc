#include "blocks/ccl/mesh_kind_support.h"

#include <stdexcept>
#include <string>

namespace ttt::kind_support {

MeshTensor mesh_input(const BlockCall& call, const Mesh& mesh) {
  if (const std::shared_ptr<const MeshTensor> stored = call.mesh("x")) {
    if (stored->mesh != mesh) {
      throw std::invalid_argument("[" + call.kind + "] input x is on mesh " +
                                  mesh_name(stored->mesh) + ", spec.mesh is " + mesh_name(mesh));
    }
    return *stored;
  }
  MeshTensor x{mesh, {}, call.container("x")};
  if (static_cast<int>(x.shards.size()) != mesh.size()) {
    throw std::invalid_argument("[" + call.kind + "] input x has " +
                                std::to_string(x.shards.size()) + " shards (x/0, x/1, ...), mesh " +
                                mesh_name(mesh) + " has " + std::to_string(mesh.size()) +
                                " devices");
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

}  // namespace ttt::kind_support

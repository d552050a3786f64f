#include "patterns/module.h"

#include <stdexcept>
#include <string>

namespace ttt {
namespace {

[[noreturn]] void not_on_a_mesh(const char* function) {
  throw std::logic_error(std::string("[module] ") + function +
                         " called on a module without a mesh (mesh() is unset)");
}

}  // namespace

MeshTensor PositionwiseModule::mesh_forward(const MeshTensor& /*x*/, Mode /*mode*/) const {
  not_on_a_mesh("mesh_forward");
}

std::array<Placement, 2> AttentionModule::cache_layout() const { not_on_a_mesh("cache_layout"); }

MeshTensor AttentionModule::mesh_prefill(const MeshTensor& /*x*/, KVCache& /*cache*/,
                                         std::int64_t /*first_slot*/) const {
  not_on_a_mesh("mesh_prefill");
}

MeshTensor AttentionModule::mesh_decode(const MeshTensor& /*x*/, const Tensor& /*positions*/,
                                        KVCache& /*cache*/) const {
  not_on_a_mesh("mesh_decode");
}

}  // namespace ttt

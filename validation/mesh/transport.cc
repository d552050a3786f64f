#include "validation/mesh/transport.h"

#include <mutex>
#include <stdexcept>
#include <utility>

namespace ttt {
namespace {

// One process holds every device: gathering hands back the shards it already has.
class InProcessTransport final : public MeshTransport {
 public:
  std::string name() const override { return "in-process"; }
  bool holds(const Mesh& mesh, int device) const override {
    if (device < 0 || device >= mesh.size()) {
      throw std::invalid_argument("[mesh_transport] device " + std::to_string(device) +
                                  " is not on mesh " + mesh_name(mesh) + " (" +
                                  std::to_string(mesh.size()) + " devices)");
    }
    return true;
  }
  std::vector<Tensor> all_gather_shards(const MeshTensor& tensor) const override {
    validate(tensor);
    return tensor.shards;
  }
};

struct Current {
  std::mutex mutex;
  std::shared_ptr<const MeshTransport> transport = in_process_transport();
};

Current& current() {
  static Current instance;
  return instance;
}

// Swaps the process's transport and returns the previous one.
std::shared_ptr<const MeshTransport> exchange(std::shared_ptr<const MeshTransport> transport) {
  Current& state = current();
  const std::lock_guard lock(state.mutex);
  return std::exchange(state.transport, std::move(transport));
}

}  // namespace

std::shared_ptr<const MeshTransport> in_process_transport() {
  static const std::shared_ptr<const MeshTransport> transport =
      std::make_shared<InProcessTransport>();
  return transport;
}

const MeshTransport& mesh_transport() {
  Current& state = current();
  const std::lock_guard lock(state.mutex);
  return *state.transport;
}

ScopedMeshTransport::ScopedMeshTransport(std::shared_ptr<const MeshTransport> transport) {
  if (transport == nullptr) {
    throw std::invalid_argument("[ScopedMeshTransport] the transport is null");
  }
  previous_ = exchange(std::move(transport));
}

ScopedMeshTransport::~ScopedMeshTransport() { exchange(std::move(previous_)); }

}  // namespace ttt

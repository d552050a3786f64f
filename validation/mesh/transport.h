// How the shards of a mesh reach each other: one interface, two transports.
//
// In-process (the default): one process holds every device's shard; gathering is a copy.
// MPI (validation/mesh/mpi, optional at build time): one rank per device, rank d holds device d;
// gathering is an MPI all-gather with a timeout. Collectives (blocks/ccl) move data only through
// all_gather_shards() and then do their arithmetic locally, in the same order on every process,
// so that both transports give bit-identical results (docs/multi-device.md).
//
//   ttt::ScopedMeshTransport use(ttt::make_mpi_transport());   // one rank per device (mpi_transport.h)
//   const std::vector<ttt::Tensor> all = ttt::mesh_transport().all_gather_shards(tensor);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "validation/mesh/mesh.h"

namespace ttt {

class MeshTransport {
 public:
  virtual ~MeshTransport() = default;

  // "in-process" or "mpi".
  virtual std::string name() const = 0;
  // Whether this process holds the shard of `device` on `mesh`. Throws std::invalid_argument
  // naming the mesh and the process count when this transport cannot run `mesh` (an MPI launch
  // with another rank count than the mesh has devices).
  virtual bool holds(const Mesh& mesh, int device) const = 0;
  // Every device's shard, in device order, on every process: the shards this process holds are
  // sent, the others received. REQUIRES: every process calls it for the same tensor (a
  // collective). Throws std::invalid_argument naming the device when shards disagree in shape or
  // dtype. A peer that fails or does not answer within the transport's timeout ends the whole
  // run with a message naming the rank (the MPI transport aborts every rank: a collective left
  // half done cannot be resumed); it never hangs.
  virtual std::vector<Tensor> all_gather_shards(const MeshTensor& tensor) const = 0;
};

// The transport of this process: the in-process one unless a ScopedMeshTransport is alive.
const MeshTransport& mesh_transport();
// The in-process transport (holds every device).
std::shared_ptr<const MeshTransport> in_process_transport();

// Makes `transport` the process's transport for its lifetime, then restores the previous one.
class ScopedMeshTransport {
 public:
  explicit ScopedMeshTransport(std::shared_ptr<const MeshTransport> transport);
  ~ScopedMeshTransport();
  ScopedMeshTransport(const ScopedMeshTransport&) = delete;
  ScopedMeshTransport& operator=(const ScopedMeshTransport&) = delete;

 private:
  std::shared_ptr<const MeshTransport> previous_;
};

}  // namespace ttt

// The program every rank runs in the MPI transport's tests (mpi_launch_test.cc launches it with
// mpirun): `mesh_mpi_worker MODE MESH`, one rank per device of MESH.
//
//   gather    all_gather_shards on every layout of seeded tensors in several dtypes; each rank
//             starts with only its own shard and checks every gathered shard bit for bit against
//             the in-process distribute(), an iota tensor's shards against hand-derived values,
//             and compose() of the gathered shards against the in-process compose().
//   die       rank 1 kills itself while the others are in all_gather_shards.
//   stall     rank 1 sleeps 60 s instead of joining; the others must time out.
//   shape     rank 1 holds a shard of another shape; every rank must refuse it.
//
// Prints "rank R of N: MODE ok" when its checks pass (exit 0), "rank R of N: error: ..." on stderr
// and exit 2 for an exception, exit 1 for a wrong value.
#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "validation/mesh/mesh.h"
#include "validation/mesh/mpi/mpi_transport.h"
#include "validation/mesh/transport.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

struct Process {
  int rank = 0;
  int size = 0;
};

// This process's rank and the launch's size, from the transport: the device it holds.
Process process_on(const MeshTransport& transport, const Mesh& mesh) {
  Process process{-1, mesh.size()};
  for (int device = 0; device < mesh.size(); ++device) {
    if (transport.holds(mesh, device)) process.rank = device;
  }
  return process;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0;
}

// `whole` as this rank holds it: its own shard, every other device's shard undefined.
MeshTensor local_part(const MeshTensor& whole, int rank) {
  MeshTensor local{whole.mesh, whole.placements, std::vector<Tensor>(whole.shards.size())};
  local.shards[rank] = whole.shards[rank];
  return local;
}

// The layouts every mesh shape can take with a [4 * rows, 6 * rows * cols] tensor.
std::vector<std::array<Placement, 2>> layouts() {
  const Placement rep = Placement::replicate();
  return {{rep, rep},
          {rep, Placement::shard(1)},
          {Placement::shard(0), Placement::shard(1)},
          {Placement::shard(1), Placement::replicate()},
          {Placement::shard(1), Placement::shard(1)}};
}

int fail(const Process& process, const std::string& what) {
  std::fprintf(stderr, "rank %d of %d: wrong value: %s\n", process.rank, process.size,
               what.c_str());
  return 1;
}

// Every layout and dtype: gathered shards and their composition equal the in-process ones.
int check_gather(const Mesh& mesh, const Process& process) {
  const Shape shape{4 * mesh.rows, 6 * mesh.rows * mesh.cols};
  const std::vector<Tensor> tensors{
      random_normal(shape, 11, 0.0, 1.0, DType::float32),
      random_normal(shape, 12, 0.0, 1.0, DType::bfloat16),
      random_normal(shape, 13, 0.0, 1.0, DType::bfloat8_b),
      random_normal(shape, 14, 0.0, 1.0, DType::float64),
      random_integers(shape, 15, -1000, 1000, DType::int32),
  };
  int checked = 0;
  for (const Tensor& tensor : tensors) {
    for (const auto& placements : layouts()) {
      const MeshTensor in_process = distribute(tensor, mesh, placements);
      const std::string layout = std::string(dtype_name(tensor.dtype())) + " " +
                                 placement_name(placements[0]) + "," +
                                 placement_name(placements[1]);
      const std::vector<Tensor> gathered =
          mesh_transport().all_gather_shards(local_part(in_process, process.rank));
      if (gathered.size() != in_process.shards.size()) return fail(process, layout + ": count");
      for (std::size_t device = 0; device < gathered.size(); ++device) {
        if (!same_bits(gathered[device], in_process.shards[device])) {
          return fail(process, layout + ": shard of device " + std::to_string(device));
        }
      }
      const Tensor composed = compose(MeshTensor{mesh, placements, gathered});
      if (!same_bits(composed, compose(in_process)) || !same_bits(composed, tensor)) {
        return fail(process, layout + ": composed tensor");
      }
      ++checked;
    }
  }
  // Hand-derived contents: iota [2, 3 * cols] split along the columns gives device (r, c) the
  // values i * 3 * cols + 3 * c + j at (i, j), whatever rank gathered it.
  Tensor iota({2, 3 * mesh.cols}, DType::float32);
  for (std::int64_t i = 0; i < iota.numel(); ++i) iota.set_flat(i, static_cast<double>(i));
  const MeshTensor split = distribute(iota, mesh, {Placement::replicate(), Placement::shard(1)});
  const std::vector<Tensor> gathered =
      mesh_transport().all_gather_shards(local_part(split, process.rank));
  for (int device = 0; device < mesh.size(); ++device) {
    const int col = device % mesh.cols;
    for (std::int64_t i = 0; i < 2; ++i) {
      for (std::int64_t j = 0; j < 3; ++j) {
        if (gathered[device].at({i, j}) != static_cast<double>(i * 3 * mesh.cols + 3 * col + j)) {
          return fail(process, "iota shard of device " + std::to_string(device));
        }
      }
    }
  }
  std::printf("rank %d of %d: gather ok (%d layouts and dtypes, iota)\n", process.rank,
              process.size, checked);
  return 0;
}

// Rank 1 misbehaves (`mode`) while every other rank gathers a small tensor.
int misbehave(std::string_view mode, const Mesh& mesh, const Process& process) {
  const Tensor tensor = random_normal({2, 4 * mesh.size()}, 21);
  MeshTensor whole = distribute(tensor, mesh, {Placement::replicate(), Placement::shard(1)});
  if (process.rank == 1) {
    if (mode == "die") std::raise(SIGKILL);
    if (mode == "stall") std::this_thread::sleep_for(std::chrono::seconds(60));
    if (mode == "shape") whole.shards[1] = random_normal({2, 5}, 22);
  }
  mesh_transport().all_gather_shards(local_part(whole, process.rank));
  std::printf("rank %d of %d: %s ok\n", process.rank, process.size, std::string(mode).c_str());
  return 0;
}

int run(std::string_view mode, const Mesh& mesh) {
  const ScopedMeshTransport use(make_mpi_transport());
  const Process process = process_on(mesh_transport(), mesh);
  if (mode == "gather") return check_gather(mesh, process);
  return misbehave(mode, mesh, process);
}

}  // namespace
}  // namespace ttt

int main(int argc, char** argv) {
  const std::vector<std::string_view> modes{"gather", "die", "stall", "shape"};
  if (argc != 3 || std::find(modes.begin(), modes.end(), argv[1]) == modes.end()) {
    std::fprintf(stderr, "usage: mesh_mpi_worker gather|die|stall|shape MESH\n");
    return 2;
  }
  try {
    return ttt::run(argv[1], ttt::parse_mesh(argv[2]));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mesh_mpi_worker: error: %s\n", error.what());
    return 2;
  }
}

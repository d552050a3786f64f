// The program every rank runs in the MPI transport's tests (mpi_launch_test.cc launches it with
// mpirun): `mesh_mpi_worker MODE MESH`, one rank per device of MESH.
//
//   gather    all_gather_shards on every layout of seeded tensors in several dtypes; each rank
//             starts with only its own shard and checks every gathered shard bit for bit against
//             the in-process distribute(), an iota tensor's shards against hand-derived values,
//             and compose() of the gathered shards against the in-process compose().
//   ccl       the collective blocks (blocks/ccl: all_reduce, reduce_scatter, all_gather,
//             broadcast) in ring and line order and several partial-sum dtypes, along every mesh
//             axis: each rank's result, and every rank's result gathered, bit for bit equal to
//             the in-process run of the same block on the same inputs.
//   ep_moe    the expert-parallel MoE (blocks/ffn/ep_moe.h: 8 experts spread over the ranks)
//             in prefill and decode, all-reduced and reduce-scattered, bfloat16 and float32
//             partial sums: each rank's result and every rank's result gathered bit for bit
//             equal to the in-process run.
//   tp2d_gated_mlp  TG's 2-D MLP (blocks/ffn/tp2d_gated_mlp.h) on a 2x2 mesh, hidden split along
//             either axis, prefill and decode, TTTv1's TG defaults (bfloat8_b partial sums) and
//             float32 ring partial sums: each rank's result and every rank's result gathered bit
//             for bit equal to the in-process run.
//   die       rank 1 kills itself while the others are in all_gather_shards.
//   stall     rank 1 sleeps 60 s instead of joining; the others must time out.
//   shape     rank 1 holds a shard of another shape; every rank must refuse it.
//   noshard   rank 1 holds no shard of its device; every rank must refuse it.
//   othermesh rank 1 gathers a tensor on another mesh of as many devices (2 x n/2).
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
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "blocks/ccl/all_gather.h"
#include "blocks/ccl/all_reduce.h"
#include "blocks/ccl/broadcast.h"
#include "blocks/ccl/reduce_scatter.h"
#include "blocks/ffn/ep_moe.h"
#include "blocks/ffn/tp2d_gated_mlp.h"
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

// `block` run on this rank's part of `x` under MPI equals its in-process run on the whole of `x`,
// for this rank's shard and for every rank's (gathered).
template <typename Block>
bool same_as_in_process(const Block& block, const MeshTensor& x, const Process& process) {
  MeshTensor in_process;
  {
    const ScopedMeshTransport use(in_process_transport());
    in_process = block.forward(x);
  }
  const MeshTensor distributed = block.forward(local_part(x, process.rank));
  if (distributed.placements != in_process.placements ||
      !same_bits(distributed.shards[process.rank], in_process.shards[process.rank])) {
    return false;
  }
  const std::vector<Tensor> every_rank = mesh_transport().all_gather_shards(distributed);
  for (std::size_t device = 0; device < every_rank.size(); ++device) {
    if (!same_bits(every_rank[device], in_process.shards[device])) return false;
  }
  return true;
}

// Every collective, topology and partial-sum dtype along every axis of `mesh`, on partial inputs
// that differ per device (seeded per device).
int check_collectives(const Mesh& mesh, const Process& process) {
  MeshTensor x{mesh, {}, {}};
  for (int device = 0; device < mesh.size(); ++device) {
    x.shards.push_back(random_normal({2, 8 * mesh.size()}, 100 + static_cast<std::uint64_t>(device),
                                     0.0, 1.0, DType::bfloat16));
  }
  int checked = 0;
  const auto check = [&](const auto& block) {
    if (!same_as_in_process(block, x, process)) {
      fail(process, block.spec().identity() + " differs from the in-process run");
      return false;
    }
    ++checked;
    return true;
  };
  for (int axis = 0; axis < 2; ++axis) {
    if (mesh.axis_size(axis) == 1) continue;
    for (const Topology topology : {Topology::ring, Topology::line}) {
      for (const DType reduce_dtype : {DType::bfloat16, DType::float32, DType::bfloat8_b}) {
        const CclReduceImplConfig config{topology, 1, reduce_dtype, DType::bfloat16};
        if (!check(AllReduce({mesh, axis, 1}, config)) ||
            !check(ReduceScatter({mesh, axis, 1}, config))) {
          return 1;
        }
      }
      const CclImplConfig config{topology, 1, DType::bfloat16};
      if (!check(AllGather({mesh, axis, 1}, config)) ||
          !check(Broadcast({mesh, axis, mesh.axis_size(axis) - 1}, config))) {
        return 1;
      }
    }
  }
  std::printf("rank %d of %d: ccl ok (%d collectives)\n", process.rank, process.size, checked);
  return 0;
}

// A block's prefill or decode forward as the forward() same_as_in_process calls.
template <typename Block>
struct ModeForward {
  const Block& block;
  Mode mode;
  MeshTensor forward(const MeshTensor& x) const {
    return mode == Mode::decode ? block.decode_forward(x) : block.prefill_forward(x);
  }
};

// Mixtral's routing (8 experts, top 2) at a small width, the experts spread over the ranks.
int check_ep_moe(const Mesh& mesh, const Process& process) {
  const EpMoeSpec spec{{64, 32, 8, 2, Activation::silu}, mesh};
  MoeWeights weights{random_normal({64, 8}, 200, 0.0, 0.5), {}};
  for (std::uint64_t e = 0; e < 8; ++e) {
    weights.experts.push_back({random_normal({64, 32}, 201 + 3 * e, 0.0, 0.2),
                               random_normal({64, 32}, 202 + 3 * e, 0.0, 0.2),
                               random_normal({32, 64}, 203 + 3 * e, 0.0, 0.2)});
  }
  const Tensor tokens = random_normal({6, 64}, 230);
  const Tensor prompt = random_normal({2, 5, 64}, 231);
  int checked = 0;
  for (const TpReduction reduction : {TpReduction::all_reduce, TpReduction::reduce_scatter}) {
    for (const DType reduce_dtype : {DType::bfloat16, DType::float32}) {
      EpMoeImplConfig config = default_impl_config(spec, Device::T3K, Mode::decode);
      config.reduction = reduction;
      config.ccl.reduce_dtype = reduce_dtype;
      const EpMoe block(spec, config, weights);
      if (!same_as_in_process(ModeForward<EpMoe>{block, Mode::decode},
                              distribute(tokens, mesh, {}), process) ||
          !same_as_in_process(ModeForward<EpMoe>{block, Mode::prefill},
                              distribute(prompt, mesh, {}), process)) {
        return fail(process, spec.identity() + " " + std::string(tp_reduction_name(reduction)) +
                                 " " + std::string(dtype_name(reduce_dtype)) +
                                 " differs from the in-process run");
      }
      checked += 2;
    }
  }
  std::printf("rank %d of %d: ep_moe ok (%d forwards)\n", process.rank, process.size, checked);
  return 0;
}

// The 2-D MLP with hidden split along either mesh axis and ffn along the other: the FF1/FF3
// partials all-reduced along the hidden axis, FF2's along the ffn axis.
int check_tp2d_gated_mlp(const Mesh& mesh, const Process& process) {
  const GatedMlpWeights weights{random_normal({64, 128}, 300, 0.0, 0.2),
                                random_normal({64, 128}, 301, 0.0, 0.2),
                                random_normal({128, 64}, 302, 0.0, 0.2)};
  const Tensor tokens = random_normal({6, 64}, 330);
  const Tensor prompt = random_normal({2, 5, 64}, 331);
  int checked = 0;
  for (const int hidden_axis : {0, 1}) {
    const Tp2dGatedMlpSpec spec{{64, 128, Activation::silu}, mesh, hidden_axis};
    for (const Mode mode : {Mode::decode, Mode::prefill}) {
      Tp2dGatedMlpImplConfig tg = default_impl_config(spec, Device::TG, mode);
      Tp2dGatedMlpImplConfig float32 = tg;
      for (CclReduceImplConfig* ccl : {&float32.ff1_ccl, &float32.ff2_ccl}) {
        ccl->topology = Topology::ring;
        ccl->reduce_dtype = DType::float32;
        ccl->output_dtype = DType::float32;
      }
      const Tensor& whole = mode == Mode::decode ? tokens : prompt;
      // x split along its last (hidden) dimension on the hidden axis, replicated on the other.
      std::array<Placement, 2> placements{};
      placements[static_cast<std::size_t>(hidden_axis)] = Placement::shard(whole.rank() - 1);
      for (const Tp2dGatedMlpImplConfig& config : {tg, float32}) {
        const Tp2dGatedMlp block(spec, config, weights);
        if (!same_as_in_process(ModeForward<Tp2dGatedMlp>{block, mode},
                                distribute(whole, mesh, placements), process)) {
          return fail(process, spec.identity() + " " + std::string(mode_name(mode)) +
                                   " differs from the in-process run");
        }
        ++checked;
      }
    }
  }
  std::printf("rank %d of %d: tp2d_gated_mlp ok (%d forwards)\n", process.rank, process.size,
              checked);
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
    if (mode == "othermesh") whole.mesh = Mesh{2, mesh.size() / 2};
  }
  MeshTensor local = local_part(whole, process.rank);
  if (process.rank == 1 && mode == "noshard") local.shards[1] = Tensor();
  mesh_transport().all_gather_shards(local);
  std::printf("rank %d of %d: %s ok\n", process.rank, process.size, std::string(mode).c_str());
  return 0;
}

int run(std::string_view mode, const Mesh& mesh) {
  if (!launched_under_mpi()) {
    throw std::runtime_error("launched_under_mpi() is false under mpirun");
  }
  const ScopedMeshTransport use(make_mpi_transport());
  const Process process = process_on(mesh_transport(), mesh);
  if (mode == "gather") return check_gather(mesh, process);
  if (mode == "ccl") return check_collectives(mesh, process);
  if (mode == "ep_moe") return check_ep_moe(mesh, process);
  if (mode == "tp2d_gated_mlp") return check_tp2d_gated_mlp(mesh, process);
  return misbehave(mode, mesh, process);
}

}  // namespace
}  // namespace ttt

int main(int argc, char** argv) {
  const std::vector<std::string_view> modes{"gather", "ccl",   "ep_moe",  "tp2d_gated_mlp", "die",
                                            "stall",  "shape", "noshard", "othermesh"};
  if (argc != 3 || std::find(modes.begin(), modes.end(), argv[1]) == modes.end()) {
    std::fprintf(
        stderr,
        "usage: mesh_mpi_worker gather|ccl|ep_moe|tp2d_gated_mlp|die|stall|shape|noshard|"
        "othermesh MESH\n");
    return 2;
  }
  try {
    return ttt::run(argv[1], ttt::parse_mesh(argv[2]));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mesh_mpi_worker: error: %s\n", error.what());
    return 2;
  }
}

// Meshes of devices and tensors laid out on them, as TTNN's mesh mappers lay them out.
//
// A mesh is rows x cols devices, numbered row-major (device d sits at row d / cols, column
// d % cols). A MeshTensor holds one shard per device and, for each mesh axis, a placement: the
// axis replicates the tensor, or splits one of its dimensions across the axis's devices.
//
//   const ttt::Mesh mesh = ttt::parse_mesh("T3K");                       // 1x8
//   ttt::MeshTensor w = ttt::distribute(weight, mesh, {ttt::Placement::replicate(),
//                                                      ttt::Placement::shard(1)});
//   ttt::Tensor whole = ttt::compose(w);                                 // == weight
//
// compose() is tt-metal's auto_compose: it concatenates the shards of sharded axes and checks
// that the copies of replicated axes agree bit for bit (a silent pick of one copy would hide the
// chip that diverged). compare_to_reference composes a MeshTensor output to compare it whole and
// also keeps per-device metrics (docs/multi-device.md).
//
// Under a distributed transport (transport.h) a process holds only the shards of its own devices;
// the others are undefined tensors until a collective or compose() gathers them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "validation/tensor/tensor.h"

namespace ttt {

// rows x cols devices. The named meshes are TTTv1's targets: N150 1x1, N300 1x2, T3K 1x8 and TG
// (Galaxy) 8x4.
struct Mesh {
  int rows = 1;
  int cols = 1;
  int size() const { return rows * cols; }
  // The device count along `axis` (0: rows, 1: cols). REQUIRES: axis is 0 or 1.
  int axis_size(int axis) const { return axis == 0 ? rows : cols; }
  bool operator==(const Mesh&) const = default;
};

// "N150", "N300", "T3K", "TG" or "RxC" ("2x4"). Throws std::invalid_argument naming the text and
// the accepted forms; a mesh needs 1..1024 devices.
Mesh parse_mesh(std::string_view text);
// The name of a named mesh ("T3K" for 1x8), else "RxC".
std::string mesh_name(const Mesh& mesh);

// How a tensor lies along one mesh axis.
struct Placement {
  enum class Kind : std::uint8_t { replicated, sharded };
  Kind kind = Kind::replicated;
  int dim = -1;  // The tensor dimension split across the axis; -1 when replicated.

  static Placement replicate() { return {}; }
  static Placement shard(int dim) { return {Kind::sharded, dim}; }
  bool operator==(const Placement&) const = default;
};
// "replicated" or "shard(1)"; parse_placement reads the same and throws std::invalid_argument.
std::string placement_name(const Placement& placement);
Placement parse_placement(std::string_view text);

// A tensor on a mesh: shards[d] lives on device d (row-major); placements[0] is the row axis,
// placements[1] the column axis. Both axes may shard different tensor dimensions (TG's 2D layout);
// two axes sharding the same dimension split it rows-major (row index outer).
struct MeshTensor {
  Mesh mesh{};
  std::array<Placement, 2> placements{};
  std::vector<Tensor> shards{};

  // The shape compose() returns, from the shape of shard 0 and the placements.
  Shape global_shape() const;
  // The device at (row, col).
  const Tensor& shard(int row, int col) const { return shards[row * mesh.cols + col]; }
};

// Splits (sharded axes) or copies (replicated axes) `tensor` onto `mesh`: every device gets its
// shard, in device order. Throws std::invalid_argument naming the mesh, the axis and the dimension
// when a placement names a dimension the tensor does not have or a mesh axis that does not divide
// it evenly.
MeshTensor distribute(const Tensor& tensor, const Mesh& mesh, std::array<Placement, 2> placements);

// The whole tensor back (tt-metal's auto_compose). Throws std::invalid_argument naming the device
// when a shard is missing or has another shape or dtype than shard 0, and naming both devices
// when two copies of a replicated axis differ.
Tensor compose(const MeshTensor& tensor);

// Checks the structure: shards.size() == mesh.size(), placements name dimensions of the shards,
// every shard has one shape and dtype. Throws std::invalid_argument naming what is wrong.
void validate(const MeshTensor& tensor);

}  // namespace ttt

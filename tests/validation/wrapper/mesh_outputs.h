// The mesh outputs the wrapper's mesh tests compare and capture: a small whole reference and a
// device output that differs from it in one element of one device's shard, so a test knows which
// chip and which element the wrapper must name.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>

#include "validation/mesh/mesh.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// [2, 8] holding 0, 0.25, 0.5, ... row-major (exact in every float dtype).
inline Tensor reference_values() {
  Tensor tensor({2, 8}, DType::float32);
  for (std::int64_t i = 0; i < tensor.numel(); ++i)
    tensor.set_flat(i, 0.25 * static_cast<double>(i));
  return tensor;
}

// The reference distributed on `mesh`, with device `device`'s element `index` moved by `delta`.
inline MeshTensor perturbed(const Mesh& mesh, std::array<Placement, 2> placements, int device,
                            std::initializer_list<std::int64_t> index, double delta) {
  MeshTensor out = distribute(reference_values(), mesh, placements);
  out.shards[device] = out.shards[device].clone();
  out.shards[device].set(index, out.shards[device].at(index) + delta);
  return out;
}

}  // namespace ttt

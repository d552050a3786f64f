#include "validation/mesh/mesh.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace ttt {
namespace {

// The one table of named meshes (blocks/common/device.h reads it through parse_mesh).
constexpr std::array<std::pair<std::string_view, Mesh>, 4> kNamedMeshes{{
    {"N150", {1, 1}},
    {"N300", {1, 2}},
    {"T3K", {1, 8}},
    {"TG", {8, 4}},
}};
constexpr int kMaxDevices = 1024;

std::string dims_name(const Mesh& mesh) {
  return std::to_string(mesh.rows) + "x" + std::to_string(mesh.cols);
}

// Parses a whole positive decimal number, or returns 0.
int parse_count(std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value <= 0) return 0;
  return value;
}

std::string format_value(double value) {
  std::ostringstream out;
  out << std::setprecision(9) << value;
  return out.str();
}

std::string device_name(const Mesh& mesh, int device) {
  return "device " + std::to_string(device) + " (row " + std::to_string(device / mesh.cols) +
         ", col " + std::to_string(device % mesh.cols) + ")";
}

// How a MeshTensor cuts the global tensor: for each tensor dimension, into how many pieces, and
// which piece a device holds. Two axes sharding one dimension split it row index outer.
struct Tiling {
  Shape pieces;  // Per tensor dimension.
  Shape piece_of(const Mesh& mesh, const std::array<Placement, 2>& placements, int device) const {
    Shape index(pieces.size(), 0);
    const std::array<int, 2> coords{device / mesh.cols, device % mesh.cols};
    for (int axis = 0; axis < 2; ++axis) {
      if (placements[axis].kind != Placement::Kind::sharded) continue;
      auto& i = index[placements[axis].dim];
      i = i * mesh.axis_size(axis) + coords[axis];
    }
    return index;
  }
};

// Checks the placements against a tensor of rank `rank` and returns the tiling; errors name
// `operation`.
Tiling tiling_of(const Mesh& mesh, const std::array<Placement, 2>& placements, int rank,
                 const char* operation) {
  Tiling tiling{Shape(rank, 1)};
  for (int axis = 0; axis < 2; ++axis) {
    const Placement& placement = placements[axis];
    if (placement.kind == Placement::Kind::replicated) {
      if (placement.dim != -1) {
        throw std::invalid_argument(std::string("[") + operation + "] mesh " + dims_name(mesh) +
                                    " axis " + std::to_string(axis) +
                                    ": a replicated placement has dim -1, got " +
                                    std::to_string(placement.dim));
      }
      continue;
    }
    if (placement.dim < 0 || placement.dim >= rank) {
      throw std::invalid_argument(std::string("[") + operation + "] mesh " + dims_name(mesh) +
                                  " axis " + std::to_string(axis) + " shards dimension " +
                                  std::to_string(placement.dim) + ", but the tensor has rank " +
                                  std::to_string(rank));
    }
    tiling.pieces[placement.dim] *= mesh.axis_size(axis);
  }
  return tiling;
}

void check_mesh(const Mesh& mesh, const char* operation) {
  if (mesh.rows < 1 || mesh.cols < 1 || mesh.size() > kMaxDevices) {
    throw std::invalid_argument(std::string("[") + operation + "] invalid mesh " +
                                dims_name(mesh) + " (1.." + std::to_string(kMaxDevices) +
                                " devices)");
  }
}

// Calls copy(offset in whole, offset in box, count) for every contiguous run (an innermost row)
// of the box of shape `box` starting at `origin` (per-dimension element offsets) in a row-major
// tensor of shape `whole`. Offsets and counts are in elements.
template <typename Copy>
void for_each_run(const Shape& whole, const Shape& box, const Shape& origin, Copy copy) {
  const int rank = static_cast<int>(box.size());
  const std::int64_t numel = shape_numel(box);
  if (numel == 0) return;
  const std::int64_t run = rank == 0 ? 1 : box[rank - 1];
  Shape strides(rank, 1);
  for (int d = rank - 2; d >= 0; --d) strides[d] = strides[d + 1] * whole[d + 1];
  for (std::int64_t r = 0; r < numel / run; ++r) {
    std::int64_t rest = r;
    std::int64_t offset = rank == 0 ? 0 : origin[rank - 1];
    for (int d = rank - 2; d >= 0; --d) {
      offset += (origin[d] + rest % box[d]) * strides[d];
      rest /= box[d];
    }
    copy(offset, r * run, run);
  }
}

}  // namespace

Mesh parse_mesh(std::string_view text) {
  for (const auto& [name, mesh] : kNamedMeshes) {
    if (name == text) return mesh;
  }
  const std::size_t x = text.find('x');
  if (x != std::string_view::npos) {
    const Mesh mesh{parse_count(text.substr(0, x)), parse_count(text.substr(x + 1))};
    if (mesh.rows > 0 && mesh.cols > 0 && mesh.rows <= kMaxDevices && mesh.cols <= kMaxDevices &&
        mesh.size() <= kMaxDevices) {
      return mesh;
    }
  }
  throw std::invalid_argument("[parse_mesh] unknown mesh '" + std::string(text) +
                              "' (expected N150, N300, T3K, TG or ROWSxCOLS such as 2x4, with 1.." +
                              std::to_string(kMaxDevices) + " devices)");
}

std::string mesh_name(const Mesh& mesh) {
  for (const auto& [name, named] : kNamedMeshes) {
    if (named == mesh) return std::string(name);
  }
  return dims_name(mesh);
}

std::string placement_name(const Placement& placement) {
  if (placement.kind == Placement::Kind::replicated) return "replicated";
  return "shard(" + std::to_string(placement.dim) + ")";
}

Placement parse_placement(std::string_view text) {
  if (text == "replicated") return Placement::replicate();
  constexpr std::string_view kPrefix = "shard(";
  if (text.starts_with(kPrefix) && text.ends_with(")")) {
    std::string_view digits = text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1);
    int dim = -1;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), dim);
    if (error == std::errc() && end == digits.data() + digits.size() && dim >= 0 &&
        dim < kMaxRank) {
      return Placement::shard(dim);
    }
  }
  throw std::invalid_argument("[parse_placement] unknown placement '" + std::string(text) +
                              "' (expected replicated or shard(DIM) with DIM 0.." +
                              std::to_string(kMaxRank - 1) + ")");
}

Shape MeshTensor::global_shape() const {
  validate(*this);
  Shape shape = shards[0].shape();
  const Tiling tiling = tiling_of(mesh, placements, static_cast<int>(shape.size()), "compose");
  for (std::size_t d = 0; d < shape.size(); ++d) shape[d] *= tiling.pieces[d];
  return shape;
}

void validate(const MeshTensor& tensor) {
  check_mesh(tensor.mesh, "mesh_tensor");
  const std::string mesh = dims_name(tensor.mesh);
  if (static_cast<int>(tensor.shards.size()) != tensor.mesh.size()) {
    throw std::invalid_argument("[mesh_tensor] mesh " + mesh + " has " +
                                std::to_string(tensor.mesh.size()) + " devices but " +
                                std::to_string(tensor.shards.size()) + " shards");
  }
  for (int device = 0; device < tensor.mesh.size(); ++device) {
    if (!tensor.shards[device].defined()) {
      throw std::invalid_argument("[mesh_tensor] mesh " + mesh + ": the shard of " +
                                  device_name(tensor.mesh, device) + " is missing");
    }
  }
  const Tensor& first = tensor.shards[0];
  for (int device = 1; device < tensor.mesh.size(); ++device) {
    const Tensor& shard = tensor.shards[device];
    if (shard.shape() != first.shape() || shard.dtype() != first.dtype()) {
      throw std::invalid_argument(
          "[mesh_tensor] mesh " + mesh + ": the shard of " + device_name(tensor.mesh, device) +
          " is " + shape_to_string(shard.shape()) + " " + std::string(dtype_name(shard.dtype())) +
          ", the shard of device 0 is " + shape_to_string(first.shape()) + " " +
          std::string(dtype_name(first.dtype())));
    }
  }
  tiling_of(tensor.mesh, tensor.placements, first.rank(), "mesh_tensor");
}

MeshTensor distribute(const Tensor& tensor, const Mesh& mesh, std::array<Placement, 2> placements) {
  check_mesh(mesh, "distribute");
  const Tiling tiling = tiling_of(mesh, placements, tensor.rank(), "distribute");
  Shape shard_shape = tensor.shape();
  for (int d = 0; d < tensor.rank(); ++d) {
    if (shard_shape[d] % tiling.pieces[d] != 0) {
      std::string axes;
      for (int axis = 0; axis < 2; ++axis) {
        if (placements[axis].kind == Placement::Kind::sharded && placements[axis].dim == d) {
          axes += (axes.empty() ? "" : " and ") + std::to_string(axis) + " (" +
                  std::to_string(mesh.axis_size(axis)) + " devices)";
        }
      }
      throw std::invalid_argument("[distribute] mesh " + dims_name(mesh) + " axis " + axes +
                                  " does not divide dimension " + std::to_string(d) + " (size " +
                                  std::to_string(shard_shape[d]) + ") of a tensor of shape " +
                                  shape_to_string(tensor.shape()));
    }
    shard_shape[d] /= tiling.pieces[d];
  }
  MeshTensor result{mesh, placements, {}};
  result.shards.reserve(mesh.size());
  for (int device = 0; device < mesh.size(); ++device) {
    Shape origin = tiling.piece_of(mesh, placements, device);
    for (int d = 0; d < tensor.rank(); ++d) origin[d] *= shard_shape[d];
    Tensor shard(shard_shape, tensor.dtype());
    const auto* from = static_cast<const unsigned char*>(tensor.bytes());
    auto* to = static_cast<unsigned char*>(shard.mutable_bytes());
    const std::size_t element = element_size(tensor.dtype());
    for_each_run(tensor.shape(), shard_shape, origin,
                 [&](std::int64_t whole_offset, std::int64_t box_offset, std::int64_t count) {
                   std::memcpy(to + box_offset * element, from + whole_offset * element,
                               count * element);
                 });
    result.shards.push_back(std::move(shard));
  }
  return result;
}

Tensor compose(const MeshTensor& tensor) {
  validate(tensor);
  const Mesh& mesh = tensor.mesh;
  const Shape& shard_shape = tensor.shards[0].shape();
  const int rank = static_cast<int>(shard_shape.size());
  const Tiling tiling = tiling_of(mesh, tensor.placements, rank, "compose");
  Tensor whole(tensor.global_shape(), tensor.shards[0].dtype());
  const std::size_t element = element_size(whole.dtype());
  // The first device holding each piece writes it; every other holder must agree bit for bit.
  std::vector<int> holder(static_cast<std::size_t>(shape_numel(tiling.pieces)), -1);
  for (int device = 0; device < mesh.size(); ++device) {
    const Shape piece = tiling.piece_of(mesh, tensor.placements, device);
    const std::int64_t piece_index = flat_index(tiling.pieces, piece, "compose");
    const Tensor& shard = tensor.shards[device];
    int& first = holder[static_cast<std::size_t>(piece_index)];
    if (first < 0) {
      first = device;
      Shape origin = piece;
      for (int d = 0; d < rank; ++d) origin[d] *= shard_shape[d];
      const auto* from = static_cast<const unsigned char*>(shard.bytes());
      auto* to = static_cast<unsigned char*>(whole.mutable_bytes());
      for_each_run(whole.shape(), shard_shape, origin,
                   [&](std::int64_t whole_offset, std::int64_t box_offset, std::int64_t count) {
                     std::memcpy(to + whole_offset * element, from + box_offset * element,
                                 count * element);
                   });
      continue;
    }
    const Tensor& copy = tensor.shards[first];
    if (std::memcmp(copy.bytes(), shard.bytes(), copy.nbytes()) == 0) continue;
    const auto* a = static_cast<const unsigned char*>(copy.bytes());
    const auto* b = static_cast<const unsigned char*>(shard.bytes());
    std::int64_t at = 0;
    while (std::memcmp(a + at * element, b + at * element, element) == 0) ++at;
    throw std::invalid_argument("[compose] mesh " + dims_name(mesh) + ": " +
                                device_name(mesh, first) + " and " + device_name(mesh, device) +
                                " hold different copies of a replicated axis (first at element " +
                                std::to_string(at) + ": " + format_value(copy.at_flat(at)) +
                                " vs " + format_value(shard.at_flat(at)) + ")");
  }
  return whole;
}

}  // namespace ttt

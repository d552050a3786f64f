#include "validation/wrapper/tensor_visit.h"

#include "validation/mesh/transport.h"

namespace ttt {

void TensorVisitor::on_scalar(const ScalarValue&) {}

void TensorVisitor::on_mesh_tensor(const MeshTensor& value, MeshTensor* writable) {
  for (std::size_t device = 0; device < value.shards.size(); ++device) {
    if (writable != nullptr) {
      (*this)(std::to_string(device), writable->shards[device]);
    } else {
      (*this)(std::to_string(device), value.shards[device]);
    }
  }
}

namespace detail {

void push_path(std::string& path, std::string_view name) {
  if (name.empty()) return;
  if (!path.empty()) path += '/';
  path += name;
}

std::shared_ptr<const MeshTensor> gathered_mesh_tensor(const MeshTensor& tensor) {
  const MeshTransport& transport = mesh_transport();
  bool holds_all = true;
  for (int device = 0; device < tensor.mesh.size(); ++device) {
    holds_all = holds_all && transport.holds(tensor.mesh, device);
  }
  if (holds_all) return std::make_shared<const MeshTensor>(tensor);
  return std::make_shared<const MeshTensor>(
      MeshTensor{tensor.mesh, tensor.placements, transport.all_gather_shards(tensor)});
}

void TensorCollector::on_read_only_tensor(const Tensor& tensor) {
  tensors.push_back({path(), tensor});
}

void TensorCollector::on_scalar(const ScalarValue& value) { scalars.emplace_back(path(), value); }

void TensorCollector::on_mesh_tensor(const MeshTensor& value, MeshTensor*) {
  std::shared_ptr<const MeshTensor> gathered = gathered_mesh_tensor(value);
  tensors.push_back({path(), compose(*gathered), std::move(gathered)});
}

}  // namespace detail
}  // namespace ttt

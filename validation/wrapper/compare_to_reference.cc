#include "validation/wrapper/compare_to_reference.h"

namespace ttt {
namespace detail {

void OutputCollector::on_read_only_tensor(const Tensor& tensor) {
  tensors.push_back({path(), tensor});
}

void OutputCollector::on_scalar(const ScalarValue& value) {
  Tensor tensor = std::visit(
      [](auto v) {
        if constexpr (std::is_same_v<decltype(v), double>) {
          return Tensor::scalar(static_cast<float>(v));
        } else {
          return Tensor::from_int64({}, {static_cast<std::int64_t>(v)});
        }
      },
      value);
  tensors.push_back({path(), std::move(tensor)});
}

void OutputCollector::on_mesh_tensor(const MeshTensor& value, MeshTensor*) {
  tensors.push_back({path(), Tensor(), gathered_mesh_tensor(value)});
}

void CloneVisitor::on_tensor(Tensor& tensor) {
  if (tensor.defined()) tensor = tensor.clone();
}

const NamedTensor& ReplaceVisitor::replacement() const {
  const NamedTensor* found = find_named(replacements_, path());
  if (found == nullptr) {
    throw std::invalid_argument("[teacher forcing] the reference output has no tensor \"" + path() +
                                "\"");
  }
  return *found;
}

void ReplaceVisitor::on_mesh_tensor(const MeshTensor& value, MeshTensor* writable) {
  if (writable == nullptr) {
    on_read_only_tensor(Tensor());
    return;
  }
  const Tensor& expected = replacement().tensor;
  const DType dtype = value.shards.at(0).dtype();
  *writable = distribute(expected.dtype() == dtype ? expected : expected.to(dtype), value.mesh,
                         value.placements);
}

void ReplaceVisitor::on_tensor(Tensor& tensor) {
  const Tensor& expected = replacement().tensor;
  if (!tensor.defined() || !expected.defined()) {
    tensor = expected;
    return;
  }
  if (expected.shape() != tensor.shape()) {
    throw std::invalid_argument("[teacher forcing] " + path() + ": reference shape " +
                                shape_to_string(expected.shape()) + " differs from device shape " +
                                shape_to_string(tensor.shape()));
  }
  tensor = expected.dtype() == tensor.dtype() ? expected : expected.to(tensor.dtype());
}

void ReplaceVisitor::on_read_only_tensor(const Tensor&) {
  throw std::invalid_argument(
      "[teacher forcing] " + path() +
      " is read-only (its type's ttt_visit_tensors takes a const reference or visits a "
      "temporary); give ttt::mappers().with_to_device_output(...)");
}

}  // namespace detail
}  // namespace ttt

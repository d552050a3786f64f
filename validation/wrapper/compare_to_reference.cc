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

void CloneVisitor::on_tensor(Tensor& tensor) {
  if (tensor.defined()) tensor = tensor.clone();
}

void ReplaceVisitor::on_tensor(Tensor& tensor) {
  const NamedTensor* replacement = find_named(replacements_, path());
  if (replacement == nullptr) {
    throw std::invalid_argument("[teacher forcing] the reference output has no tensor \"" + path() +
                                "\"");
  }
  const Tensor& expected = replacement->tensor;
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

#include "validation/wrapper/tensor_visit.h"

namespace ttt {

void TensorVisitor::on_scalar(const ScalarValue&) {}

namespace detail {

void push_path(std::string& path, std::string_view name) {
  if (name.empty()) return;
  if (!path.empty()) path += '/';
  path += name;
}

void TensorCollector::on_read_only_tensor(const Tensor& tensor) {
  tensors.push_back({path(), tensor});
}

void TensorCollector::on_scalar(const ScalarValue& value) { scalars.emplace_back(path(), value); }

}  // namespace detail
}  // namespace ttt

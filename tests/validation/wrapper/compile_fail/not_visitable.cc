// Must NOT compile: device_fn takes a type without ttt_visit_tensors. The CTest
// wrapper_not_visitable_compile_error checks that the compiler's message names the customization
// point.
#include "validation/wrapper/compare_to_reference.h"

namespace model {
struct Opaque {
  int* handle = nullptr;
};
}  // namespace model

int main() {
  const auto device = [](const model::Opaque&) { return ttt::Tensor::scalar(1.0f); };
  auto wrapped = ttt::compare_to_reference("opaque", device, device);
  wrapped(model::Opaque{});
}

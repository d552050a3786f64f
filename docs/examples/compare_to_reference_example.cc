// The README's example: wrap the two calls of a toy model, run it, print the validation report.
// Built and run by CTest (wrapper_readme_example), so it always compiles and works.
#include <algorithm>

#include "validation/tensor/random.h"
#include "validation/wrapper/compare_to_reference.h"
#include "validation/wrapper/report.h"

using ttt::Tensor;

// The toy model's reference math in float32, and "device" versions that round to bfloat16.
Tensor scale_reference(const Tensor& x) {
  Tensor y = x.clone();
  for (float& v : y.mutable_floats()) v *= 2.0f;
  return y;
}
Tensor relu_reference(const Tensor& x) {
  Tensor y = x.clone();
  for (float& v : y.mutable_floats()) v = std::max(v, 0.0f);
  return y;
}
Tensor scale_device(const Tensor& x) { return scale_reference(x).to(ttt::DType::bfloat16); }
Tensor relu_device(const Tensor& x) { return relu_reference(x).to(ttt::DType::bfloat16); }

int main() {
  auto scale = ttt::compare_to_reference("toy.scale", scale_device, scale_reference);
  auto relu = ttt::compare_to_reference("toy.relu", relu_device, relu_reference,
                                        {.input_names = {"x"}, .output_names = {"y"}});

  const Tensor x = ttt::random_uniform({4, 64}, /*seed=*/1, -1.0, 1.0);
  const Tensor y = relu(scale(x));  // Each call runs the device and the reference, and compares.

  ttt::print_validation_report();
  return ttt::validation_registry().first_failure().has_value() ? 1 : 0;
}

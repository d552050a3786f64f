// Run by collector_test.cc with TTT_COVERAGE set: makes three validated calls of a wrapped
// "rms_norm" (two pass, one fails) and one call with validation off, and calls nothing from the
// coverage library, which must still collect (coverage/collector.h).
#include <cstdio>

#include "validation/tensor/tensor.h"
#include "validation/wrapper/compare_to_reference.h"

int main() {
  ttt::CompareOptions options;
  options.block = "rms_norm";
  options.spec_json = R"({"dim": 4, "eps": 1e-05, "add_unit_offset": false})";
  options.device = "N150";
  options.input_names = {"x"};
  ttt::Tolerances tolerances;
  tolerances.pcc = 0.99;
  options.tolerances = tolerances;
  const auto identity = [](const ttt::Tensor& x) { return x.clone(); };
  const auto negated = [](const ttt::Tensor& x) {
    ttt::Tensor y = x.clone();
    for (float& v : y.mutable_floats()) v = -v;
    return y;
  };
  auto passing =
      ttt::compare_to_reference("layers.0.attention_norm.decode", identity, identity, options);
  auto failing = ttt::compare_to_reference("layers.0.ffn_norm.decode", identity, negated, options);
  const ttt::Tensor x = ttt::Tensor::from_floats({2, 4}, {1, 2, 3, 4, 5, 6, 7, 9});
  passing(x);
  passing(x);
  failing(x);
  ttt::set_validation_enabled(false);
  passing(x);
  std::printf("done\n");
  return 0;
}

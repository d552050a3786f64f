#include "validation/registry/builtin_blocks.h"

#include <stdexcept>

namespace ttt {
namespace {

BoundCall bind_scale(const BlockCall& call) {
  const Tensor& x = call.input("x");
  if (!is_floating(x.dtype())) {
    throw std::invalid_argument("[ttt.scale] input x has dtype " +
                                std::string(dtype_name(x.dtype())) + ", expected a floating dtype");
  }
  if (!call.scalars.contains("scale") || !call.scalars.at("scale").is_number()) {
    throw std::invalid_argument("[ttt.scale] scalar 'scale' is missing or not a number");
  }
  const double scale = call.scalars.at("scale").get<double>();
  if (call.spec.contains("shape")) {
    const Shape expected = call.spec.at("shape").get<Shape>();
    if (expected != x.shape()) {
      throw std::invalid_argument("[ttt.scale] input x has shape " + shape_to_string(x.shape()) +
                                  ", spec says " + shape_to_string(expected));
    }
  }
  const DType output_dtype =
      call.impl_config.contains("output_dtype")
          ? parse_dtype(call.impl_config.at("output_dtype").get<std::string>())
          : x.dtype();
  if (!is_floating(output_dtype)) {
    throw std::invalid_argument("[ttt.scale] impl_config output_dtype must be a floating dtype");
  }
  BoundCall bound;
  bound.run_device = [x, scale, output_dtype] {
    std::vector<float> values(x.floats().begin(), x.floats().end());
    const float factor = static_cast<float>(scale);
    for (float& value : values) value *= factor;
    return named({{"y", Tensor::from_floats(x.shape(), std::move(values), output_dtype)}});
  };
  bound.run_reference = [x, scale] {
    std::vector<float> values(x.floats().size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      values[i] = static_cast<float>(static_cast<double>(x.floats()[i]) * scale);
    }
    return named({{"y", Tensor::from_floats(x.shape(), std::move(values))}});
  };
  return bound;
}

}  // namespace

void add_builtin_blocks(BlockRegistry& registry) {
  // Rounding to the output dtype bounds the relative error (2^-9 for bfloat16) but not the
  // absolute one, which grows with |x * scale|: PCC is the threshold that holds for every scale.
  Tolerances scale_tolerances;
  scale_tolerances.pcc = 0.999;
  registry.add({.kind = "ttt.scale",
                .inputs = {"x"},
                .outputs = {"y"},
                .tolerances = scale_tolerances,
                // Elementwise: one product rounded to output_dtype; a device that rounds the
                // float32 product once more, or not at all, lands within one ULP of it.
                .metric_policy = ulp_policy(1.0, "elementwise: one rounded product"),
                .bind = bind_scale});
}

}  // namespace ttt

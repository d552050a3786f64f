// Helpers shared by the trace tests: small seeded calls (their directories are
// tests/common/scratch_dir.h's).
#pragma once

#include <string>

#include "tests/common/scratch_dir.h"
#include "validation/tensor/random.h"
#include "validation/trace/capture.h"

namespace ttt::testing {

// A call of the builtin kind ttt.scale (y = x * scale) with seeded x, its device output rounded to
// `output_dtype` and its float32 reference.
inline CapturedCall scale_call(const std::string& name, std::uint64_t seed, Shape shape,
                               float scale, DType output_dtype = DType::bfloat16) {
  CapturedCall call;
  call.name = name;
  call.block = "ttt.scale";
  call.spec_json = "{\"shape\": " + shape_to_string(shape) + "}";
  call.impl_config_json = "{\"output_dtype\": \"" + std::string(dtype_name(output_dtype)) + "\"}";
  call.device = "N150";
  call.scalars_json = "{\"scale\": " + std::to_string(scale) + "}";
  call.device_ns = 1000 + static_cast<std::int64_t>(seed);
  call.reference_ns = 2000;
  call.verdict = "pass";
  call.metrics_json = "{\"y\": {\"pcc\": 0.9999}}";
  const Tensor x = random_normal(shape, seed);
  std::vector<float> device(x.floats().begin(), x.floats().end());
  std::vector<float> reference(device.size());
  for (std::size_t i = 0; i < device.size(); ++i) {
    reference[i] = static_cast<float>(static_cast<double>(device[i]) * scale);
    device[i] *= scale;
  }
  call.inputs = {{"x", x}};
  call.outputs = {{"y", Tensor::from_floats(shape, device, output_dtype)}};
  call.reference_outputs = {{"y", Tensor::from_floats(shape, reference)}};
  return call;
}

}  // namespace ttt::testing

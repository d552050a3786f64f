// Seeded random tensors from a counter-based generator, reproducible bit for bit in Python.
//
// Element i of a tensor drawn with seed s depends only on (s, i, distribution, parameters): the
// generator is SplitMix64 evaluated at counter i (docs/random.md writes the algorithm down).
// tools/ttt_random.py is the numpy twin; it produces bit-identical float32 values, which is what
// goldens and replays rely on.
#pragma once

#include <cstdint>
#include <string>

#include "validation/tensor/tensor.h"

namespace ttt {

enum class Distribution : std::uint8_t { uniform, normal };

// How to draw a tensor; also what a golden trace stores instead of a large weight.
struct RandomSpec {
  Distribution distribution = Distribution::normal;
  std::uint64_t seed = 0;
  double a = 0.0;  // uniform: low;  normal: mean.
  double b = 1.0;  // uniform: high; normal: standard deviation.
};

// The raw 64-bit draw for counter `index` (exposed for tests and the twin's test vectors).
std::uint64_t splitmix64_at(std::uint64_t seed, std::uint64_t index);

// Values uniform in [low, high), as float32, then quantized to `dtype` (a floating dtype).
Tensor random_uniform(Shape shape, std::uint64_t seed, double low = 0.0, double high = 1.0,
                      DType dtype = DType::float32);

// Values normal(mean, std), as float32, then quantized to `dtype` (a floating dtype).
Tensor random_normal(Shape shape, std::uint64_t seed, double mean = 0.0, double std = 1.0,
                     DType dtype = DType::float32);

// Draws according to `spec`.
Tensor random_tensor(Shape shape, const RandomSpec& spec, DType dtype = DType::float32);

// Integers uniform in [low, high) (token ids, positions), as int32 or int64.
Tensor random_integers(Shape shape, std::uint64_t seed, std::int64_t low, std::int64_t high,
                       DType dtype = DType::int64);

}  // namespace ttt

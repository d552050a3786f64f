// Seeded random tensors from a counter-based generator, reproducible bit for bit in Python.
//
// Element i of a tensor drawn with seed s depends only on (s, i, distribution, parameters): the
// generator is SplitMix64 evaluated at counter i (docs/random.md writes the algorithm down).
// Quantizing to a block format afterwards (bfloat8_b, bfloat4_b) makes each value also depend on
// the 15 others of its block, as on the device.
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

// The raw 64-bit draw for counter `index` (exposed for tests and the twin's test vectors):
// z = seed + (index + 1) * 0x9E3779B97F4A7C15 (mod 2^64), then the SplitMix64 finalizer.
std::uint64_t splitmix64_at(std::uint64_t seed, std::uint64_t index);

// The standard normal value (as float64, before scaling and rounding to float32) that the
// generator derives from one 64-bit draw: bit 63 is the sign, bits 11..62 give the probability
// p = (k + 0.5) * 2^-53 in (0, 0.5), and the value is Acklam's quantile of p, negated when the
// sign bit is set. Exposed so tests can reach the extreme tails (|z| up to 8.29).
double standard_normal_from_bits(std::uint64_t bits);

// Values uniform in [low, high), as float32, then quantized to `dtype` (a floating dtype):
// float32(low + (high - low) * u), u = (draw >> 11) * 2^-53; a value that rounds up to high or
// above becomes the next float32 below it. Throws std::invalid_argument unless low < high, both
// finite, or when `dtype` is not floating.
Tensor random_uniform(Shape shape, std::uint64_t seed, double low = 0.0, double high = 1.0,
                      DType dtype = DType::float32);

// Values normal(mean, std), as float32, then quantized to `dtype` (a floating dtype):
// float32(mean + std * standard_normal_from_bits(draw)). Throws std::invalid_argument unless mean
// and std are finite and std >= 0, or when `dtype` is not floating.
Tensor random_normal(Shape shape, std::uint64_t seed, double mean = 0.0, double std = 1.0,
                     DType dtype = DType::float32);

// Draws according to `spec`.
Tensor random_tensor(Shape shape, const RandomSpec& spec, DType dtype = DType::float32);

// Integers uniform in [low, high) (token ids, positions), as int32 or int64:
// low + floor(draw * (high - low) / 2^64), the multiply-shift map (bias below (high - low) / 2^64).
// Throws std::invalid_argument unless low < high and both fit `dtype` (high may be one past its
// largest value), or when `dtype` is not int32 or int64.
Tensor random_integers(Shape shape, std::uint64_t seed, std::int64_t low, std::int64_t high,
                       DType dtype = DType::int64);

}  // namespace ttt

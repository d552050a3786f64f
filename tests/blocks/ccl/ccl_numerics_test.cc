// The order of rounding of the reducing collectives, hand-computed: ring order, line order and
// float32 partial sums, and the error bound of docs/numerics.md "Collectives".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "blocks/ccl/all_reduce.h"
#include "blocks/ccl/reduce_scatter.h"
#include "tests/common/tensor_values.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;

using test_support::values_of;

// Four devices of a 1x4 mesh each hold a [4] partial; all_reduce along the row, chunked on dim 0
// (chunk c is element c). Device k holds x[k][c] = w[(k - c) mod 4] with w = {1, 256, 0.5, -2}:
// chunk c's ring starts at device c + 1 and ends at its owner c, so every chunk's ring adds
// w[1], w[2], w[3], w[0] = 256, 0.5, -2, 1 in that order.
//
// bfloat16 keeps 8 significant bits: the spacing is 1 in [128, 256) and 2 in [256, 512).
//   ring: 256 + 0.5 = 256.5 -> 256 (nearest);  256 - 2 = 254 (exact);  254 + 1 = 255 (exact).
//   exact sum: 255.5; rounded once to bfloat16 it is a tie between 255 and 256 -> 256 (even).
// Line order adds device 0, 1, 2, 3: chunk c sees w[-c], w[1-c], w[2-c], w[3-c] (mod 4):
//   c = 0: 1 + 256 = 257 -> 256 (tie, even); + 0.5 = 256.5 -> 256; - 2 = 254.        -> 254
//   c = 1: -2 + 1 = -1; -1 + 256 = 255; 255 + 0.5 = 255.5 -> 256 (tie, even).         -> 256
//   c = 2: 0.5 - 2 = -1.5; -1.5 + 1 = -0.5; -0.5 + 256 = 255.5 -> 256.                -> 256
//   c = 3: 256 + 0.5 -> 256; 256 - 2 = 254; 254 + 1 = 255.                             -> 255
// So ring (255) differs from the exact sum (255.5), from one rounding of it (256) and from line
// order (254 on chunk 0); float32 partial sums give 255.5 exactly.
MeshTensor order_case() {
  const std::vector<float> w{1.0f, 256.0f, 0.5f, -2.0f};
  MeshTensor x{parse_mesh("1x4"), {}, {}};
  for (int k = 0; k < 4; ++k) {
    std::vector<float> shard;
    for (int c = 0; c < 4; ++c) shard.push_back(w[((k - c) % 4 + 4) % 4]);
    x.shards.push_back(Tensor::from_floats({4}, shard, DType::bfloat16));
  }
  return x;
}

AllReduceSpec all_reduce_1x4() { return {parse_mesh("1x4"), 1, 0}; }

CclReduceImplConfig config(Topology topology, DType reduce_dtype, DType output_dtype) {
  CclReduceImplConfig result;
  result.topology = topology;
  result.reduce_dtype = reduce_dtype;
  result.output_dtype = output_dtype;
  return result;
}

TEST(CclNumerics, RingReduceRoundsAtEveryHopInRingOrder) {
  const AllReduce block(all_reduce_1x4(), config(Topology::ring, DType::bfloat16, DType::bfloat16));
  const MeshTensor y = block.forward(order_case());
  ASSERT_EQ(y.shards.size(), 4u);
  for (const Tensor& shard : y.shards) {
    EXPECT_EQ(shard.dtype(), DType::bfloat16);
    EXPECT_THAT(values_of(shard), ElementsAre(255.0, 255.0, 255.0, 255.0));
  }
  EXPECT_EQ(y.placements[1], Placement::replicate());
  EXPECT_THAT(values_of(all_reduce_reference(all_reduce_1x4(), order_case())),
              ElementsAre(255.5, 255.5, 255.5, 255.5));
}

TEST(CclNumerics, LineReduceAccumulatesInDeviceOrder) {
  const AllReduce block(all_reduce_1x4(), config(Topology::line, DType::bfloat16, DType::bfloat16));
  const MeshTensor y = block.forward(order_case());
  for (const Tensor& shard : y.shards) {
    EXPECT_THAT(values_of(shard), ElementsAre(254.0, 256.0, 256.0, 255.0));
  }
}

TEST(CclNumerics, ReduceScatterLeavesChunkCOnDeviceC) {
  const ReduceScatterSpec spec{parse_mesh("1x4"), 1, 0};
  const ReduceScatter ring(spec, config(Topology::ring, DType::bfloat16, DType::bfloat16));
  const ReduceScatter line(spec, config(Topology::line, DType::bfloat16, DType::bfloat16));
  const MeshTensor ring_y = ring.forward(order_case());
  const MeshTensor line_y = line.forward(order_case());
  const std::vector<double> line_expected{254.0, 256.0, 256.0, 255.0};
  for (int c = 0; c < 4; ++c) {
    EXPECT_THAT(ring_y.shards[c].shape(), ElementsAre(1));
    EXPECT_EQ(ring_y.shards[c].at_flat(0), 255.0) << "device " << c;
    EXPECT_EQ(line_y.shards[c].at_flat(0), line_expected[c]) << "device " << c;
  }
  EXPECT_EQ(ring_y.placements[1], Placement::shard(0));
  // Composed, the chunks are the whole sum.
  EXPECT_THAT(values_of(compose(line_y)), ElementsAre(254.0, 256.0, 256.0, 255.0));
  EXPECT_THAT(values_of(reduce_scatter_reference(spec, order_case())),
              ElementsAre(255.5, 255.5, 255.5, 255.5));
}

TEST(CclNumerics, Float32PartialSumsKeepTheExactSumHere) {
  const AllReduce block(all_reduce_1x4(), config(Topology::ring, DType::float32, DType::float32));
  for (const Tensor& shard : block.forward(order_case()).shards) {
    EXPECT_THAT(values_of(shard), ElementsAre(255.5, 255.5, 255.5, 255.5));
  }
}

// x[k] ~ normal(0, 1) in `dtype` on 1xN meshes, N up to 32 (as many as a TG has chips).
MeshTensor random_partials(int n, std::int64_t length, std::uint64_t seed,
                           DType dtype = DType::bfloat16) {
  MeshTensor x{Mesh{1, n}, {}, {}};
  for (int k = 0; k < n; ++k) x.shards.push_back(random_normal({length}, seed + k).to(dtype));
  return x;
}

// docs/numerics.md: each hop computes fl_T(fl_32(acc + x)) = (acc + x)(1 + d) with
// |d| <= u' = u + u32 + u * u32 (u = 2^-8 for bfloat16, u32 = 2^-24); the first two inputs pass
// n - 1 roundings, so |ring sum - exact| <= gamma(n - 1) * sum |x_i| with
// gamma(k) = k u' / (1 - k u') (Higham, Accuracy and Stability, 4.2), for inputs already in T
// (bfloat16 inputs for a bfloat16 reduce, float32 inputs for a float32 one).
double gamma_bound(int hops, double u) {
  const double u_prime = u + std::ldexp(1.0, -24) + u * std::ldexp(1.0, -24);
  return hops * u_prime / (1.0 - hops * u_prime);
}

void expect_within_bound(int n, DType reduce_dtype, double u) {
  SCOPED_TRACE("n = " + std::to_string(n) + ", " + std::string(dtype_name(reduce_dtype)));
  constexpr std::int64_t kLength = 256;
  const MeshTensor x = random_partials(n, kLength, 1000 + n, reduce_dtype);
  const AllReduceSpec spec{Mesh{1, n}, 1, 0};
  const Tensor y =
      compose(AllReduce(spec, config(Topology::ring, reduce_dtype, DType::float32)).forward(x));
  ASSERT_EQ(y.numel(), kLength);
  double worst_ratio = 0.0;
  for (std::int64_t i = 0; i < kLength; ++i) {
    double exact = 0.0;
    double magnitude = 0.0;
    for (const Tensor& shard : x.shards) {
      exact += shard.at_flat(i);
      magnitude += std::fabs(shard.at_flat(i));
    }
    const double error = std::fabs(y.at_flat(i) - exact);
    EXPECT_LE(error, gamma_bound(n - 1, u) * magnitude) << "element " << i;
    worst_ratio = std::max(worst_ratio, error / magnitude);
  }
  // The test is not vacuous: rounding does happen (bfloat16 and float32 both lose bits here).
  EXPECT_GT(worst_ratio, 0.0);
}

TEST(CclNumerics, RingReduceErrorStaysWithinTheDerivedBound) {
  for (const int n : {2, 4, 8, 32}) {
    expect_within_bound(n, DType::bfloat16, std::ldexp(1.0, -8));
    expect_within_bound(n, DType::float32, std::ldexp(1.0, -24));
  }
}

// With float32 partial sums the all-reduce agrees with the float64 reference to float32 rounding
// (the bound above with u = 2^-24), and the result rounded to bfloat16 is within one bfloat16
// rounding of the exact sum's (at most 2^-8 relative, plus the float32 bound).
TEST(CclNumerics, Float32ReduceAgreesWithTheReferenceToFloat32Rounding) {
  const MeshTensor x = random_partials(8, 512, 77, DType::float32);
  const AllReduceSpec spec{parse_mesh("T3K"), 1, 0};
  const Tensor device =
      compose(AllReduce(spec, config(Topology::ring, DType::float32, DType::float32)).forward(x));
  const Tensor reference = all_reduce_reference(spec, x);
  ASSERT_EQ(reference.dtype(), DType::float64);
  for (std::int64_t i = 0; i < device.numel(); ++i) {
    double magnitude = 0.0;
    for (const Tensor& shard : x.shards) magnitude += std::fabs(shard.at_flat(i));
    EXPECT_LE(std::fabs(device.at_flat(i) - reference.at_flat(i)),
              gamma_bound(7, std::ldexp(1.0, -24)) * magnitude);
  }
}

// Every device of the group ends with identical bits (all_reduce = reduce-scatter + all-gather),
// so compose() accepts the replicated copies.
TEST(CclNumerics, AllReduceLeavesIdenticalBitsOnEveryDevice) {
  const MeshTensor x = random_partials(8, 64, 5);
  const MeshTensor y = AllReduce({parse_mesh("T3K"), 1, 0},
                                 default_impl_config(AllReduceSpec{parse_mesh("T3K"), 1, 0},
                                                     Device::T3K, Mode::decode))
                           .forward(x);
  for (int d = 1; d < 8; ++d) {
    EXPECT_EQ(0, std::memcmp(y.shards[0].bytes(), y.shards[d].bytes(), y.shards[0].nbytes()));
  }
  EXPECT_NO_THROW(compose(y));
}

}  // namespace
}  // namespace ttt

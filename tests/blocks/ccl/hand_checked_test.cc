// Hand-checked device cases of the collective kinds (all_gather, broadcast, reduce_scatter,
// all_reduce, distributed_rms_norm): a 1x4 (or 1x2) mesh, values worked out by hand below. The
// reductions use bfloat16 partial sums on values where every order rounds differently, so the
// order of the hops is visible; the data-moving kinds move distinct values. Each case names the
// fault it catches.
#include "tests/blocks/common/hand_checked.h"

#include <gtest/gtest.h>

#include <vector>

#include "blocks/ccl/all_gather.h"
#include "blocks/ccl/all_reduce.h"
#include "blocks/ccl/broadcast.h"
#include "blocks/ccl/distributed_rms_norm.h"
#include "blocks/ccl/reduce_scatter.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

using testing_blocks::expect_values;

// Device d of a 1x4 mesh holds [1, 4] of value [256, 1, 1, -256][d] (every element).
MeshTensor partials() {
  MeshTensor x{parse_mesh("1x4"), {}, {}};
  for (float value : {256.0f, 1.0f, 1.0f, -256.0f}) {
    x.shards.push_back(Tensor::from_floats({1, 4}, std::vector<float>(4, value), DType::bfloat16));
  }
  return x;
}

CclReduceImplConfig bf16_reduce(Topology topology) {
  CclReduceImplConfig config;
  config.topology = topology;
  config.reduce_dtype = DType::bfloat16;
  config.output_dtype = DType::bfloat16;
  return config;
}

// The exact sum of every element is 256 + 1 + 1 - 256 = 2. bfloat16 holds 8 significant bits, so
// 256 + 1 = 257 rounds to 256 (a tie, to even) while -255, -254 and 2 are exact.
// Ring: chunk c starts at device (c + 1) % 4 and ends at c:
//   c = 0: devices 1, 2, 3, 0: 1 + 1 = 2, 2 - 256 = -254, -254 + 256 = 2   -> 2
//   c = 1: devices 2, 3, 0, 1: 1 - 256 = -255, -255 + 256 = 1, 1 + 1 = 2   -> 2
//   c = 2: devices 3, 0, 1, 2: -256 + 256 = 0, 0 + 1 = 1, 1 + 1 = 2        -> 2
//   c = 3: devices 0, 1, 2, 3: 256 + 1 = 256, 256 + 1 = 256, 256 - 256 = 0 -> 0
// Line: every chunk devices 0, 1, 2, 3 -> 0.
TEST(CclHandChecked, ReduceScatterHopOrderPerTopology) {
  // Catches: the ring starting at device c instead of c + 1 ([0, 2, 2, 2]), rounding only once
  // at the end ([2, 2, 2, 2]), the line order reversed ([2, 2, 2, 2]: -256 + 1 + 1 + 256), the
  // chunks scattered to the wrong devices.
  const ReduceScatterSpec spec{parse_mesh("1x4"), 1, 1};
  expect_values(compose(ReduceScatter(spec, bf16_reduce(Topology::ring)).forward(partials())),
                {2, 2, 2, 0}, 0.0, "reduce_scatter ring hop order, rounding after every hop");
  expect_values(compose(ReduceScatter(spec, bf16_reduce(Topology::line)).forward(partials())),
                {0, 0, 0, 0}, 0.0, "reduce_scatter line hop order");
}

TEST(CclHandChecked, AllReduceIsTheRingReduceScatterThenAGather) {
  // Every device holds the ring's [2, 2, 2, 0]. Catches: the gather of another order, a device
  // keeping its own partial, an exact (float32) sum ([2, 2, 2, 2]).
  const AllReduceSpec spec{parse_mesh("1x4"), 1, 1};
  const MeshTensor y = AllReduce(spec, bf16_reduce(Topology::ring)).forward(partials());
  for (const Tensor& shard : y.shards) {
    expect_values(shard, {2, 2, 2, 0}, 0.0, "all_reduce order and replication");
  }
}

TEST(CclHandChecked, AllGatherAndBroadcastMoveTheRightShards) {
  // all_gather along dim 1: [256 x4, 1 x4, 1 x4, -256 x4] on every device; broadcast from root 3:
  // -256 everywhere. Catches: shards concatenated in reverse order, the root's position taken as
  // device 0.
  const AllGatherSpec gather{parse_mesh("1x4"), 1, 1};
  std::vector<double> gathered;
  for (double value : {256.0, 1.0, 1.0, -256.0}) gathered.insert(gathered.end(), 4, value);
  for (const Tensor& shard : AllGather(gather, {}).forward(partials()).shards) {
    expect_values(shard, gathered, 0.0, "all_gather device order");
  }
  const BroadcastSpec broadcast{parse_mesh("1x4"), 1, 3};
  for (const Tensor& shard : Broadcast(broadcast, {}).forward(partials()).shards) {
    expect_values(shard, {-256, -256, -256, -256}, 0.0, "broadcast root");
  }
}

TEST(CclHandChecked, DistributedRmsNormEpsilonOnANearZeroRow) {
  // The rows of the single-device case (tests/blocks/normalization/hand_checked_test.cc), split
  // 2 + 2 over a 1x2 mesh with float32 statistics: the same values. Row 0's mean square (2^-16)
  // is comparable to eps. Catches: eps added per device before the gather (twice), eps after
  // the square root, the mean over a device's 2 values instead of all 4, a device normalising
  // with its own sum only.
  const DistributedRmsNormSpec spec{4, 1e-5, false, parse_mesh("1x2"), 1};
  DistributedRmsNormImplConfig config;
  config.activation_dtype = DType::float32;
  config.weight_dtype = DType::float32;
  config.output_dtype = DType::float32;
  config.stats_dtype = DType::float32;
  config.all_gather.output_dtype = DType::float32;
  const DistributedRmsNorm norm(spec, config, {Tensor::from_floats({4}, {0.5f, 1.0f, 1.5f, 2.0f})});
  const Tensor x =
      Tensor::from_floats({2, 4}, {0x1p-8f, -0x1p-8f, 0x1p-8f, -0x1p-8f, 1.0f, -2.0f, 3.0f, -4.0f});
  const MeshTensor y =
      norm.prefill_forward(distribute(x, spec.mesh, {Placement::replicate(), Placement::shard(1)}));
  expect_values(compose(y),
                {0.388618773, -0.777237546, 1.16585632, -1.55447509, 0.182574064, -0.730296256,
                 1.64316658, -2.92118503},
                1e-6, "distributed rms_norm eps placement and global mean");
}

}  // namespace
}  // namespace ttt

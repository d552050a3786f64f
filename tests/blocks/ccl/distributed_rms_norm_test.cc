// Distributed RMSNorm: a hand-checked case, the rounding of the exchanged statistics, bit for bit
// agreement with RmsNorm on 1x1 and with RmsNorm's stat_shards emulation on 1x8 and TG, float32
// statistics against the float64 reference, TTTv1 defaults, JSON, bad input and replay.
#include "blocks/ccl/distributed_rms_norm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "blocks/common/block_kind.h"
#include "blocks/normalization/rms_norm.h"
#include "blocks/registration.h"
#include "tests/common/tensor_values.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

using test_support::values_of;

// The hidden (last) dimension split along the columns.
std::array<Placement, 2> hidden_on_columns(int rank) {
  return {Placement::replicate(), Placement::shard(rank - 1)};
}

DistributedRmsNormImplConfig float32_everywhere() {
  DistributedRmsNormImplConfig config;
  config.activation_dtype = config.weight_dtype = config.output_dtype = DType::float32;
  config.stats_dtype = config.all_gather.output_dtype = DType::float32;
  return config;
}

// 1x2, dim 4, eps 0. Row 0 [2, -2, 2, 2]: device sums 8 + 8, mean square 4, rms 2. Row 1
// [0, 0, 0, 4]: sums 0 + 16, mean square 4, rms 2. Every value is exact in bfloat16.
TEST(DistributedRmsNorm, HandCheckedOnTwoDevices) {
  const DistributedRmsNormSpec spec{4, 0.0, false, parse_mesh("1x2"), 1};
  const DistributedRmsNorm norm(spec, default_impl_config(spec, Device::N300, Mode::prefill),
                                {Tensor::from_floats({4}, {1, 2, 0.5f, -1})});
  const MeshTensor x = distribute(Tensor::from_floats({2, 4}, {2, -2, 2, 2, 0, 0, 0, 4}), spec.mesh,
                                  hidden_on_columns(2));
  const MeshTensor y = norm.prefill_forward(x);
  EXPECT_EQ(y.placements, x.placements);
  EXPECT_THAT(values_of(y.shards[0]), ElementsAre(1, -2, 0, 0));
  EXPECT_THAT(values_of(y.shards[1]), ElementsAre(0.5, -1, 0, -2));
  EXPECT_EQ(y.shards[0].dtype(), DType::bfloat16);
  EXPECT_THAT(values_of(distributed_rms_norm_reference(
                  spec, {Tensor::from_floats({4}, {1, 2, 0.5f, -1})}, x)),
              ElementsAre(1, -2, 0.5, -1, 0, 0, 0, -2));
}

// Each device's sum of squares is 16^2 + 1 = 257, which bfloat16 (8 significant bits) rounds to
// 256: the mean square is 512 / 4 = 128 and y0 = 16 / sqrt(128) = sqrt(2). float32 statistics
// keep 257: 514 / 4 = 128.5 and y0 = 16 / sqrt(128.5).
TEST(DistributedRmsNorm, StatisticsTravelInStatsDtype) {
  const DistributedRmsNormSpec spec{4, 0.0, false, parse_mesh("1x2"), 1};
  const Tensor weight = Tensor::from_floats({4}, {1, 1, 1, 1});
  const MeshTensor x =
      distribute(Tensor::from_floats({1, 4}, {16, 1, 16, 1}), spec.mesh, hidden_on_columns(2));
  DistributedRmsNormImplConfig config = float32_everywhere();
  config.stats_dtype = DType::bfloat16;
  const MeshTensor rounded = DistributedRmsNorm(spec, config, {weight}).prefill_forward(x);
  EXPECT_NEAR(rounded.shards[1].at_flat(0), std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(rounded.shards[1].at_flat(1), 1.0 / std::sqrt(128.0), 1e-7);
  const MeshTensor exact =
      DistributedRmsNorm(spec, float32_everywhere(), {weight}).prefill_forward(x);
  EXPECT_NEAR(exact.shards[1].at_flat(0), 16.0 / std::sqrt(128.5), 1e-6);
}

// With one device there is nothing to exchange: the statistics stay float32 and the block is
// RmsNorm (stat_shards 1) bit for bit, under both accumulations.
TEST(DistributedRmsNorm, OnOneDeviceIsRmsNormBitForBit) {
  const DistributedRmsNormSpec spec{64, 1e-5, false, parse_mesh("N150"), 1};
  const Tensor weight = random_normal({64}, 2, 1.0, 0.1);
  const Tensor x = random_normal({3, 5, 64}, 1, 0.0, 2.0);
  for (const Accumulation accumulation : {Accumulation::fp32, Accumulation::bf16}) {
    DistributedRmsNormImplConfig config = default_impl_config(spec, Device::N150, Mode::prefill);
    config.accumulation = accumulation;
    RmsNormImplConfig single = default_impl_config(spec.norm(), Device::N150, Mode::prefill);
    single.accumulation = accumulation;
    ASSERT_EQ(single.stat_shards, 1);
    const Tensor expected = RmsNorm(spec.norm(), single, {weight}).prefill_forward(x);
    const MeshTensor y = DistributedRmsNorm(spec, config, {weight})
                             .prefill_forward(distribute(x, spec.mesh, hidden_on_columns(3)));
    EXPECT_EQ(values_of(compose(y)), values_of(expected));
  }
}

// RmsNorm's stat_shards emulation rounds each shard's partial sum to stats_dtype and adds the
// partials in shard order from 0, in float32; the distributed block sends each device's sum in
// stats_dtype and every device adds the gathered sums in axis order from 0, in float32. Shard s
// is device s, so the orders match and so do the bits (bfloat16 and float32 statistics).
TEST(DistributedRmsNorm, OnEightDevicesIsTheStatShardsEmulationBitForBit) {
  const DistributedRmsNormSpec spec{256, 1e-5, true, parse_mesh("T3K"), 1};
  const Tensor weight = random_normal({256}, 4, 0.0, 0.1);
  const Tensor x = random_normal({32, 256}, 3, 0.0, 1.5);
  for (const DType stats : {DType::bfloat16, DType::float32}) {
    for (const Accumulation accumulation : {Accumulation::fp32, Accumulation::bf16}) {
      DistributedRmsNormImplConfig config = default_impl_config(spec, Device::T3K, Mode::decode);
      config.accumulation = accumulation;
      config.stats_dtype = config.all_gather.output_dtype = stats;
      RmsNormImplConfig single;
      single.accumulation = accumulation;
      single.stat_shards = 8;
      single.stats_dtype = stats;
      const Tensor expected = RmsNorm(spec.norm(), single, {weight}).decode_forward(x);
      const MeshTensor y = DistributedRmsNorm(spec, config, {weight})
                               .decode_forward(distribute(x, spec.mesh, hidden_on_columns(2)));
      EXPECT_EQ(values_of(compose(y)), values_of(expected))
          << dtype_name(stats) << " " << static_cast<int>(accumulation);
    }
  }
}

// TG: the hidden dim split over the 4 columns, the batch over the 8 rows; each row's 4 devices
// exchange statistics among themselves. RmsNorm with stat_shards 4 (its TG default) agrees.
TEST(DistributedRmsNorm, OnGalaxyEachRowIsTheFourShardEmulation) {
  const DistributedRmsNormSpec spec{128, 1e-5, false, parse_mesh("TG"), 1};
  const Tensor weight = random_normal({128}, 6, 1.0, 0.1);
  const Tensor x = random_normal({16, 128}, 5);
  const RmsNormImplConfig single = default_impl_config(spec.norm(), Device::TG, Mode::decode);
  ASSERT_EQ(single.stat_shards, 4);
  const Tensor expected = RmsNorm(spec.norm(), single, {weight}).decode_forward(x);
  const MeshTensor y =
      DistributedRmsNorm(spec, default_impl_config(spec, Device::TG, Mode::decode), {weight})
          .decode_forward(distribute(x, spec.mesh, {Placement::shard(0), Placement::shard(1)}));
  EXPECT_EQ(values_of(compose(y)), values_of(expected));
}

// float32 everywhere, u = 2^-24: the squares and the running sum of 256 of them err by at most
// 256 u relative (to first order), + eps one more u; the square root halves that, the square root,
// 1 / rms, x / rms and the weight product round once each, and the reference's float32 output
// once more: |y - reference| <= (dim / 2 + 8) u |reference|.
TEST(DistributedRmsNorm, Float32StatisticsAgreeWithTheReferenceToFloat32Rounding) {
  const DistributedRmsNormSpec spec{256, 1e-5, false, parse_mesh("T3K"), 1};
  const DistributedRmsNormWeights weights{random_normal({256}, 8, 1.0, 0.2)};
  const MeshTensor x =
      distribute(random_normal({4, 7, 256}, 7, 0.5, 3.0), spec.mesh, hidden_on_columns(3));
  const Tensor y =
      compose(DistributedRmsNorm(spec, float32_everywhere(), weights).prefill_forward(x));
  const Tensor reference = distributed_rms_norm_reference(spec, weights, x);
  const double bound = (256.0 / 2 + 8) * std::ldexp(1.0, -24);
  double worst = 0.0;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    const double expected = reference.at_flat(i);
    ASSERT_LE(std::abs(y.at_flat(i) - expected), bound * std::abs(expected) + 1e-30) << i;
    worst = std::max(worst, std::abs(y.at_flat(i) - expected) / std::abs(expected));
  }
  EXPECT_GT(worst, 0.0);  // float32 did round somewhere: the comparison is not vacuous.
}

TEST(DistributedRmsNorm, DefaultsFollowTTTv1) {
  const DistributedRmsNormSpec t3k{8192, 1e-5, false, parse_mesh("T3K"), 1};
  const DistributedRmsNormImplConfig config = default_impl_config(t3k, Device::T3K, Mode::prefill);
  EXPECT_EQ(config.stats_dtype, DType::bfloat16);
  EXPECT_EQ(config.accumulation, Accumulation::fp32);
  EXPECT_EQ(config.all_gather.topology, Topology::ring);
  EXPECT_EQ(config.all_gather.num_links, 1);
  EXPECT_EQ(config.all_gather.output_dtype, DType::bfloat16);
  const DistributedRmsNormSpec tg{8192, 1e-5, false, parse_mesh("TG"), 1};
  const DistributedRmsNormImplConfig galaxy = default_impl_config(tg, Device::TG, Mode::decode);
  EXPECT_EQ(galaxy.all_gather.topology, Topology::line);  // ccl_topology: Linear on 32 chips.
  EXPECT_EQ(galaxy.all_gather.num_links, 1);
  EXPECT_EQ(default_impl_config(tg, Device::TG, Mode::decode, Preset::performance), galaxy);
  EXPECT_EQ(t3k.identity(), "DISTRIBUTED_RMS_NORM(dim=8192,eps=1e-05,offset=0,mesh=T3K,axis=1)");
}

TEST(DistributedRmsNorm, JsonRoundTripsAndIsStrict) {
  const DistributedRmsNormSpec spec{4096, 1e-6, true, parse_mesh("TG"), 0};
  const nlohmann::json json = spec;
  EXPECT_EQ(json, nlohmann::json::parse(R"({"dim": 4096, "eps": 1e-06, "add_unit_offset": true,
                                            "mesh": "TG", "axis": 0})"));
  EXPECT_EQ(json.get<DistributedRmsNormSpec>(), spec);
  const auto unknown_field = [] {
    nlohmann::json({{"dim", 8}, {"mesh", "T3K"}, {"heads", 2}}).get<DistributedRmsNormSpec>();
  };
  EXPECT_THAT(unknown_field, ThrowsMessage<std::invalid_argument>(HasSubstr("heads")));
  DistributedRmsNormImplConfig config = float32_everywhere();
  config.all_gather.topology = Topology::ring;
  const nlohmann::json config_json = config;
  EXPECT_EQ(config_json.at("all_gather").at("topology"), "ring");
  EXPECT_EQ(config_json.get<DistributedRmsNormImplConfig>(), config);
  const auto bad_topology = [] {
    nlohmann::json({{"all_gather", {{"topology", "star"}}}}).get<DistributedRmsNormImplConfig>();
  };
  EXPECT_THAT(bad_topology,
              ThrowsMessage<std::invalid_argument>(HasSubstr("/all_gather/topology")));
}

TEST(DistributedRmsNorm, BadSpecsConfigsAndWeightsNameTheField) {
  const Tensor weight = Tensor::from_floats({100}, std::vector<float>(100, 1.0f));
  EXPECT_THAT(
      [&] {
        DistributedRmsNorm({100, 1e-5, false, parse_mesh("T3K"), 1}, {}, {weight});
      },
      ThrowsMessage<std::invalid_argument>(
          "[distributed_rms_norm] mesh T3K axis 1 (8 devices) does not divide spec.dim "
          "100"));
  const DistributedRmsNormSpec spec{64, 1e-5, false, parse_mesh("T3K"), 1};
  DistributedRmsNormImplConfig config;
  config.stats_dtype = DType::int32;
  EXPECT_THAT([&] { DistributedRmsNorm(spec, config, {weight}); },
              ThrowsMessage<std::invalid_argument>(
                  "[distributed_rms_norm] config.stats_dtype is int32, expected a floating dtype"));
  config = {};
  config.all_gather.output_dtype = DType::float64;
  EXPECT_THAT([&] { DistributedRmsNorm(spec, config, {weight}); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("config.all_gather.output_dtype")));
  EXPECT_THAT([&] { DistributedRmsNorm(spec, {}, {weight}); },
              ThrowsMessage<std::invalid_argument>(
                  "[distributed_rms_norm] weight has shape [100], expected [64]"));
}

TEST(DistributedRmsNorm, BadInputsNameTheMeshAxisAndDim) {
  const DistributedRmsNormSpec spec{64, 1e-5, false, parse_mesh("T3K"), 1};
  const DistributedRmsNorm norm(spec, {}, {random_normal({64}, 1)});
  const Tensor x = random_normal({2, 64}, 2);
  EXPECT_THAT([&] { norm.prefill_forward(distribute(x, spec.mesh, {})); },
              ThrowsMessage<std::invalid_argument>(
                  "[distributed_rms_norm] the input on mesh T3K axis 1 (8 devices) is replicated "
                  "along the axis, expected shard(1): the hidden dim (spec.dim 64) split across "
                  "the axis"));
  EXPECT_THAT([&] { norm.prefill_forward(distribute(x, parse_mesh("1x4"), hidden_on_columns(2))); },
              ThrowsMessage<std::invalid_argument>(
                  "[distributed_rms_norm] the input is on mesh 1x4, spec.mesh is T3K"));
  EXPECT_THAT(
      [&] {
        norm.prefill_forward(
            distribute(random_normal({2, 128}, 3), spec.mesh, hidden_on_columns(2)));
      },
      ThrowsMessage<std::invalid_argument>(
          "[distributed_rms_norm] the shard of device 0 has shape [2, 16], expected [..., 8] "
          "(spec.dim 64 split over mesh T3K axis 1 (8 devices))"));
  EXPECT_THAT(
      [&] {
        norm.decode_forward(
            distribute(random_normal({2, 3, 64}, 4), spec.mesh, hidden_on_columns(3)));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("decode_forward input has shape [2, 3, 8]")));
  MeshTensor missing = distribute(x, spec.mesh, hidden_on_columns(2));
  missing.shards[5] = Tensor();
  EXPECT_THAT([&] { norm.prefill_forward(missing); },
              ThrowsMessage<std::invalid_argument>(
                  "[distributed_rms_norm] mesh T3K: the shard of device 5 is missing"));
}

// Replay: x is the container x/0, x/1 with its placements; weight the whole [dim] scale. The hand
// case of HandCheckedOnTwoDevices, composed.
TEST(DistributedRmsNorm, ReplaysThroughTheRegistry) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  const BlockReplayer* replayer = registry.find("distributed_rms_norm");
  ASSERT_NE(replayer, nullptr);
  BlockCall call;
  call.kind = "distributed_rms_norm";
  call.spec = DistributedRmsNormSpec{4, 0.0, false, parse_mesh("1x2"), 1};
  call.device = "N300";
  call.scalars = {{"placements", {"replicated", "shard(1)"}}};
  call.inputs = {{"x/0", Tensor::from_floats({2, 2}, {2, -2, 0, 0})},
                 {"x/1", Tensor::from_floats({2, 2}, {2, 2, 0, 4})},
                 {"weight", Tensor::from_floats({4}, {1, 2, 0.5f, -1})}};
  const BoundCall bound = replayer->bind(call);
  EXPECT_THAT(values_of(bound.run_device().at(0).tensor), ElementsAre(1, -2, 0.5, -1, 0, 0, 0, -2));
  EXPECT_THAT(values_of(bound.run_reference().at(0).tensor),
              ElementsAre(1, -2, 0.5, -1, 0, 0, 0, -2));
  call.scalars = nlohmann::json::object();  // Both axes replicated: not split along hidden.
  EXPECT_THAT([&] { replayer->bind(call).run_device(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("is replicated along the axis")));
}

}  // namespace
}  // namespace ttt

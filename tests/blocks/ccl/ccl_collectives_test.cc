// The collectives on meshes: exact data movement, groups per mesh axis (2x4, TG's 8x4), TTTv1's
// defaults, JSON, bad input and replay through the block registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "blocks/ccl/all_gather.h"
#include "blocks/ccl/all_reduce.h"
#include "blocks/ccl/broadcast.h"
#include "blocks/ccl/reduce_scatter.h"
#include "blocks/common/block_kind.h"
#include "blocks/registration.h"
#include "tests/common/tensor_values.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

using test_support::values_of;

// Device d of `mesh` holds 10 d, 10 d + 1, ... (exact in bfloat16 for the meshes used here).
MeshTensor numbered(const Mesh& mesh, Shape shape, std::array<Placement, 2> placements = {}) {
  MeshTensor x{mesh, placements, {}};
  for (int d = 0; d < mesh.size(); ++d) {
    std::vector<float> shard(static_cast<std::size_t>(shape_numel(shape)));
    for (std::size_t i = 0; i < shard.size(); ++i) shard[i] = static_cast<float>(10 * d + i);
    x.shards.push_back(Tensor::from_floats(shape, shard, DType::bfloat16));
  }
  return x;
}

TEST(CclCollectives, AllGatherConcatenatesInAxisOrderExactly) {
  const AllGatherSpec spec{parse_mesh("1x4"), 1, 1};
  const AllGather block(spec, default_impl_config(spec, Device::N300, Mode::prefill));
  const MeshTensor y = block.forward(numbered(spec.mesh, {2, 2}));
  // Device d holds [[10d, 10d + 1], [10d + 2, 10d + 3]]; gathered along dim 1.
  const std::vector<double> expected{0, 1, 10, 11, 20, 21, 30, 31, 2, 3, 12, 13, 22, 23, 32, 33};
  for (const Tensor& shard : y.shards) {
    EXPECT_THAT(shard.shape(), ElementsAre(2, 8));
    EXPECT_EQ(values_of(shard), expected);
  }
  EXPECT_EQ(values_of(compose(y)), expected);
  EXPECT_EQ(values_of(all_gather_reference(spec, numbered(spec.mesh, {2, 2}))), expected);
}

TEST(CclCollectives, BroadcastCopiesTheRootOfEachGroup) {
  const BroadcastSpec spec{parse_mesh("2x4"), 1, 2};
  const Broadcast block(spec, default_impl_config(spec, Device::T3K, Mode::decode));
  // Rows differ, so the output's row axis is sharded along a stacking dim 0.
  const MeshTensor x = numbered(spec.mesh, {1, 2}, {Placement::shard(0), Placement::replicate()});
  const MeshTensor y = block.forward(x);
  for (int d = 0; d < 8; ++d) {
    const int root = d < 4 ? 2 : 6;  // Position 2 of row 0 is device 2, of row 1 device 6.
    EXPECT_THAT(values_of(y.shards[d]), ElementsAre(10 * root, 10 * root + 1)) << "device " << d;
  }
  EXPECT_THAT(values_of(compose(y)), ElementsAre(20, 21, 60, 61));
  EXPECT_THAT(values_of(broadcast_reference(spec, x)), ElementsAre(20, 21, 60, 61));
}

// On a 2x4 mesh an all-reduce along axis 1 sums each row, along axis 0 each column. The values
// are small integers, exact in bfloat16 at every hop: device d holds (d + 1) * [1, 2, 3, 4].
TEST(CclCollectives, AllReduceActsPerRowOrColumnGroup) {
  const Mesh mesh = parse_mesh("2x4");
  MeshTensor x{mesh, {Placement::shard(0), Placement::shard(0)}, {}};
  for (int d = 0; d < 8; ++d) {
    const float value = static_cast<float>(d + 1);
    x.shards.push_back(
        Tensor::from_floats({4}, {value, 2 * value, 3 * value, 4 * value}, DType::bfloat16));
  }
  const AllReduceSpec rows{mesh, 1, 0};
  const MeshTensor y_rows =
      AllReduce(rows, default_impl_config(rows, Device::T3K, Mode::decode)).forward(x);
  for (int d = 0; d < 8; ++d) {
    // Row 0: 1 + 2 + 3 + 4 = 10; row 1: 5 + 6 + 7 + 8 = 26.
    const double sum = d < 4 ? 10 : 26;
    EXPECT_THAT(values_of(y_rows.shards[d]), ElementsAre(sum, 2 * sum, 3 * sum, 4 * sum))
        << "device " << d;
  }
  EXPECT_EQ(y_rows.placements[0], Placement::shard(0));
  EXPECT_EQ(y_rows.placements[1], Placement::replicate());
  const AllReduceSpec columns{mesh, 0, 0};
  const MeshTensor y_columns =
      AllReduce(columns, default_impl_config(columns, Device::T3K, Mode::decode)).forward(x);
  for (int d = 0; d < 8; ++d) {
    // Column c: (c + 1) + (c + 5) = 2c + 6.
    const double sum = 2 * (d % 4) + 6;
    EXPECT_THAT(values_of(y_columns.shards[d]), ElementsAre(sum, 2 * sum, 3 * sum, 4 * sum))
        << "device " << d;
  }
}

// TG: 8 rows x 4 columns. All-gather along axis 0 gathers each column's 8 devices in row order.
TEST(CclCollectives, AllGatherOnTgGathersEachColumn) {
  const AllGatherSpec spec{parse_mesh("TG"), 0, 0};
  MeshTensor x{spec.mesh, {Placement::shard(0), Placement::shard(1)}, {}};
  for (int d = 0; d < 32; ++d) x.shards.push_back(Tensor::from_floats({1, 1}, {float(d)}));
  const MeshTensor y =
      AllGather(spec, default_impl_config(spec, Device::TG, Mode::decode)).forward(x);
  for (int d = 0; d < 32; ++d) {
    const int c = d % 4;
    EXPECT_THAT(values_of(y.shards[d]),
                ElementsAre(c, c + 4, c + 8, c + 12, c + 16, c + 20, c + 24, c + 28))
        << "device " << d;
  }
  // The columns differ: composed over the (sharded) column axis they sit side by side.
  EXPECT_THAT(compose(y).shape(), ElementsAre(8, 4));
}

// A replicated axis whose groups hold different results cannot be composed silently.
TEST(CclCollectives, DifferentGroupsOnAReplicatedAxisDoNotCompose) {
  const AllReduceSpec spec{parse_mesh("2x4"), 1, 0};
  const MeshTensor x = numbered(spec.mesh, {4});  // Rows differ, row axis replicated.
  const MeshTensor y =
      AllReduce(spec, default_impl_config(spec, Device::T3K, Mode::decode)).forward(x);
  EXPECT_THAT([&] { compose(y); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("hold different copies")));
}

// TTTv1's choices (tt-transformers ModelArgs): ring on T3K, line on N300 and the whole TG;
// 2 all-gather links on TG; partial sums bfloat16, bfloat8_b (ccl_dtype) on TG.
TEST(CclCollectives, DefaultsFollowTTTv1) {
  const ReduceScatterSpec t3k{parse_mesh("T3K"), 1, 3};
  const CclReduceImplConfig on_t3k = default_impl_config(t3k, Device::T3K, Mode::decode);
  EXPECT_EQ(on_t3k.topology, Topology::ring);
  EXPECT_EQ(on_t3k.num_links, 1);
  EXPECT_EQ(on_t3k.reduce_dtype, DType::bfloat16);
  EXPECT_EQ(on_t3k.output_dtype, DType::bfloat16);
  const AllReduceSpec n300{parse_mesh("N300"), 1, 3};
  EXPECT_EQ(default_impl_config(n300, Device::N300, Mode::prefill).topology, Topology::line);
  const AllReduceSpec tg{parse_mesh("TG"), 0, 3};
  const CclReduceImplConfig on_tg = default_impl_config(tg, Device::TG, Mode::decode);
  EXPECT_EQ(on_tg.topology, Topology::line);
  EXPECT_EQ(on_tg.reduce_dtype, DType::bfloat8_b);
  const AllGatherSpec gather_tg{parse_mesh("TG"), 1, 3};
  EXPECT_EQ(default_impl_config(gather_tg, Device::TG, Mode::decode).num_links, 2);
  EXPECT_EQ(default_impl_config(gather_tg, Device::T3K, Mode::decode).num_links, 1);
  // Presets change matmuls only.
  EXPECT_EQ(default_impl_config(t3k, Device::T3K, Mode::decode, Preset::performance), on_t3k);
}

TEST(CclCollectives, JsonRoundTripsAndIsStrict) {
  const AllReduceSpec spec{parse_mesh("T3K"), 1, 3};
  const nlohmann::json json = spec;
  EXPECT_EQ(json, nlohmann::json::parse(R"({"mesh": "T3K", "axis": 1, "dim": 3})"));
  EXPECT_EQ(json.get<AllReduceSpec>(), spec);
  EXPECT_EQ(spec.identity(), "ALL_REDUCE(mesh=T3K,axis=1,dim=3)");
  EXPECT_EQ((BroadcastSpec{parse_mesh("2x4"), 0, 1}.identity()),
            "BROADCAST(mesh=2x4,axis=0,root=1)");
  CclReduceImplConfig config;
  config.topology = Topology::ring;
  config.reduce_dtype = DType::float32;
  const nlohmann::json config_json = config;
  EXPECT_EQ(config_json, nlohmann::json::parse(R"({"topology": "ring", "num_links": 1,
      "reduce_dtype": "float32", "output_dtype": "bfloat16"})"));
  EXPECT_EQ(config_json.get<CclReduceImplConfig>(), config);
  EXPECT_THAT(
      [] { nlohmann::json::parse(R"({"mesh": "T3K", "dim": 3, "axes": 1})").get<AllGatherSpec>(); },
      ThrowsMessage<std::invalid_argument>(HasSubstr("unknown field 'axes'")));
  EXPECT_THAT([] { nlohmann::json::parse(R"({"mesh": "3x", "dim": 3})").get<AllGatherSpec>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("/mesh")));
  EXPECT_THAT(
      [] {
        nlohmann::json::parse(R"({"mesh": "T3K", "axis": 2, "dim": 3})").get<ReduceScatterSpec>();
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("/axis")));
  EXPECT_THAT([] { nlohmann::json::parse(R"({"topology": "torus"})").get<CclImplConfig>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("unknown topology 'torus'")));
}

TEST(CclCollectives, BadSpecsAndConfigsNameTheField) {
  EXPECT_THAT(
      [] {
        (AllGatherSpec{parse_mesh("T3K"), 2, 0}).validate();
      },
      ThrowsMessage<std::invalid_argument>(
          "[all_gather] spec.axis must be 0 (rows) or 1 (columns), got 2"));
  EXPECT_THAT(
      [] {
        (BroadcastSpec{parse_mesh("T3K"), 1, 8}).validate();
      },
      ThrowsMessage<std::invalid_argument>(
          "[broadcast] spec.root 8 is not a position on mesh T3K axis 1 (8 devices)"));
  CclReduceImplConfig config;
  config.reduce_dtype = DType::float64;
  EXPECT_THAT(
      [&] {
        AllReduce(AllReduceSpec{parse_mesh("T3K"), 1, 0}, config);
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[all_reduce] config.reduce_dtype is float64, expected float32, bfloat16")));
  CclImplConfig links;
  links.num_links = 0;
  EXPECT_THAT(
      [&] {
        AllGather(AllGatherSpec{parse_mesh("T3K"), 1, 0}, links);
      },
      ThrowsMessage<std::invalid_argument>("[all_gather] config.num_links must be 1..4, got 0"));
}

TEST(CclCollectives, BadInputsNameTheMeshDimAndDevice) {
  const ReduceScatterSpec spec{parse_mesh("1x4"), 1, 1};
  const ReduceScatter block(spec, default_impl_config(spec, Device::N300, Mode::decode));
  EXPECT_THAT(
      [&] {
        block.forward(numbered(spec.mesh, {2, 6}));
      },
      ThrowsMessage<std::invalid_argument>(
          "[reduce_scatter] mesh 1x4 axis 1 (4 devices) does not divide dim 1 (size 6) "
          "of the input shards [2, 6]"));
  EXPECT_THAT([&] { block.forward(numbered(spec.mesh, {8})); },
              ThrowsMessage<std::invalid_argument>(
                  "[reduce_scatter] spec.dim 1 is not a dimension of the input shards [8] on "
                  "mesh 1x4"));
  EXPECT_THAT(
      [&] {
        block.forward(numbered(parse_mesh("T3K"), {2, 8}));
      },
      ThrowsMessage<std::invalid_argument>(
          "[reduce_scatter] the input is on mesh T3K, spec.mesh is 1x4"));
  MeshTensor mismatched = numbered(spec.mesh, {2, 8});
  mismatched.shards[3] = Tensor::from_floats({2, 4}, std::vector<float>(8, 1.0f));
  EXPECT_THAT([&] { block.forward(mismatched); },
              ThrowsMessage<std::invalid_argument>(
                  AllOf(HasSubstr("[reduce_scatter]"), HasSubstr("device 3"))));
  EXPECT_THAT([&] { reduce_scatter_reference(spec, mismatched); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("device 3")));
}

// Replay: a call holds x as the container x/0 .. x/n-1 and its placements as a scalar; y is the
// composed result. The 1x4 ring case of ccl_numerics_test: 255 on device, 255.5 in the reference.
TEST(CclCollectives, ReplaysThroughTheRegistry) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  const BlockReplayer* replayer = registry.find("all_reduce");
  ASSERT_NE(replayer, nullptr);
  EXPECT_EQ(replayer->tolerances.value_or(Tolerances{}).pcc, 0.99);
  EXPECT_FALSE(registry.find("all_gather")->tolerances.has_value());
  BlockCall call;
  call.kind = "all_reduce";
  call.spec = AllReduceSpec{parse_mesh("1x4"), 1, 0};
  call.impl_config = {{"topology", "ring"}};
  call.device = "T3K";
  const std::vector<float> w{1.0f, 256.0f, 0.5f, -2.0f};
  for (int k = 0; k < 4; ++k) {
    std::vector<float> shard;
    for (int c = 0; c < 4; ++c) shard.push_back(w[((k - c) % 4 + 4) % 4]);
    call.inputs.push_back({"x/" + std::to_string(k), Tensor::from_floats({4}, shard)});
  }
  const BoundCall bound = replayer->bind(call);
  EXPECT_THAT(values_of(bound.run_device().at(0).tensor), ElementsAre(255, 255, 255, 255));
  EXPECT_THAT(values_of(bound.run_reference().at(0).tensor),
              ElementsAre(255.5, 255.5, 255.5, 255.5));

  call.inputs.pop_back();
  EXPECT_THAT([&] { replayer->bind(call); },
              ThrowsMessage<std::invalid_argument>(
                  "[all_reduce] input x has 3 shards (x/0, x/1, ...), mesh 1x4 has 4 devices"));
}

TEST(CclCollectives, ReplayReadsThePlacements) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  BlockCall call;
  call.kind = "all_gather";
  call.spec = AllGatherSpec{parse_mesh("2x2"), 1, 0};
  call.scalars = {{"placements", {"shard(1)", "shard(0)"}}};
  for (int d = 0; d < 4; ++d) {
    call.inputs.push_back({"x/" + std::to_string(d), Tensor::from_floats({1, 1}, {float(d)})});
  }
  // Rows gathered along dim 0, then the rows' results side by side along dim 1.
  const Tensor y = registry.find("all_gather")->bind(call).run_device().at(0).tensor;
  EXPECT_THAT(y.shape(), ElementsAre(2, 2));
  EXPECT_THAT(values_of(y), ElementsAre(0, 2, 1, 3));
  call.scalars = {{"placements", {"shard(1)"}}};
  EXPECT_THAT(
      [&] { registry.find("all_gather")->bind(call); },
      ThrowsMessage<std::invalid_argument>(HasSubstr("scalar placements must be an array of 2")));
}

// A trace's mesh tensor x (what the wrapper captures) carries its own placements: the same 2x2
// all_gather as above, bound from one input "x" with its shards instead of x/0 .. x/3.
TEST(CclCollectives, ReplayBindsAMeshTensorInput) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  BlockCall call;
  call.kind = "all_gather";
  call.spec = AllGatherSpec{parse_mesh("2x2"), 1, 0};
  MeshTensor x{parse_mesh("2x2"), {Placement::shard(1), Placement::shard(0)}, {}};
  for (int d = 0; d < 4; ++d) x.shards.push_back(Tensor::from_floats({1, 1}, {float(d)}));
  call.inputs.push_back({"x", compose(x), std::make_shared<const MeshTensor>(x)});
  const Tensor y = registry.find("all_gather")->bind(call).run_device().at(0).tensor;
  EXPECT_THAT(values_of(y), ElementsAre(0, 2, 1, 3));

  call.spec = AllGatherSpec{parse_mesh("1x4"), 1, 0};
  EXPECT_THAT([&] { registry.find("all_gather")->bind(call); },
              ThrowsMessage<std::invalid_argument>(
                  "[all_gather] input x is on mesh 2x2, spec.mesh is 1x4"));
}

}  // namespace
}  // namespace ttt

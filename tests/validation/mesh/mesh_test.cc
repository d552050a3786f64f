// Tests of meshes and mesh tensors (validation/mesh/mesh.h): mesh and placement names, distribute
// and compose on every layout (replicated, sharded on either axis, TG's 2D layout, one dimension
// on both axes), shard contents written by hand, and every structural error.
#include "validation/mesh/mesh.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/common/tensor_values.h"
#include "validation/mesh/transport.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

using test_support::values_of;

// [rows, cols] holding 0, 1, 2, ... row-major.
Tensor iota(Shape shape) {
  Tensor tensor(shape, DType::float32);
  for (std::int64_t i = 0; i < tensor.numel(); ++i) tensor.set_flat(i, static_cast<double>(i));
  return tensor;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0;
}

const Placement kRep = Placement::replicate();

TEST(MeshTest, ParsesNamedMeshesAndRowsByCols) {
  EXPECT_EQ(parse_mesh("N150"), (Mesh{1, 1}));
  EXPECT_EQ(parse_mesh("N300"), (Mesh{1, 2}));
  EXPECT_EQ(parse_mesh("T3K"), (Mesh{1, 8}));
  EXPECT_EQ(parse_mesh("TG"), (Mesh{8, 4}));
  EXPECT_EQ(parse_mesh("2x4"), (Mesh{2, 4}));
  EXPECT_EQ(parse_mesh("1x8"), (Mesh{1, 8}));
  EXPECT_EQ(parse_mesh("32x32"), (Mesh{32, 32}));
  EXPECT_EQ(parse_mesh("TG").size(), 32);
  EXPECT_EQ(parse_mesh("2x4").axis_size(0), 2);
  EXPECT_EQ(parse_mesh("2x4").axis_size(1), 4);
  EXPECT_EQ(mesh_name({1, 8}), "T3K");
  EXPECT_EQ(mesh_name({8, 4}), "TG");
  EXPECT_EQ(mesh_name({2, 4}), "2x4");
  EXPECT_EQ(mesh_name({4, 8}), "4x8");
}

TEST(MeshTest, RejectsUnknownMeshes) {
  for (const char* text : {"", "t3k", "x", "2x", "x4", "0x4", "2x0", "-1x2", "2x4x1", "2 x4",
                           "33x32", "1x1025", "2X4", "abc"}) {
    EXPECT_THAT([&] { parse_mesh(text); },
                ThrowsMessage<std::invalid_argument>(
                    AllOf(HasSubstr("[parse_mesh] unknown mesh '" + std::string(text) + "'"),
                          HasSubstr("N150, N300, T3K, TG or ROWSxCOLS"))))
        << text;
  }
}

TEST(MeshTest, PlacementNamesParseBack) {
  EXPECT_EQ(placement_name(Placement::replicate()), "replicated");
  EXPECT_EQ(placement_name(Placement::shard(1)), "shard(1)");
  EXPECT_EQ(parse_placement("replicated"), Placement::replicate());
  EXPECT_EQ(parse_placement("shard(0)"), Placement::shard(0));
  EXPECT_EQ(parse_placement("shard(7)"), Placement::shard(7));
  for (const char* text : {"shard", "shard()", "shard(-1)", "shard(8)", "shard(1", "Shard(1)",
                           "replicate", "shard(1x)"}) {
    EXPECT_THAT([&] { parse_placement(text); },
                ThrowsMessage<std::invalid_argument>(
                    HasSubstr("[parse_placement] unknown placement '" + std::string(text) + "'")))
        << text;
  }
}

TEST(DistributeTest, ShardsAlongColumnsByHand) {
  const MeshTensor tensor = distribute(iota({2, 4}), {1, 2}, {kRep, Placement::shard(1)});
  ASSERT_EQ(tensor.shards.size(), 2u);
  EXPECT_EQ(tensor.shards[0].shape(), (Shape{2, 2}));
  EXPECT_THAT(values_of(tensor.shards[0]), ElementsAre(0, 1, 4, 5));
  EXPECT_THAT(values_of(tensor.shards[1]), ElementsAre(2, 3, 6, 7));
  EXPECT_EQ(tensor.global_shape(), (Shape{2, 4}));
}

TEST(DistributeTest, TwoDimensionalLayoutByHand) {
  // Rows split dimension 0, columns dimension 1: device (r, c) holds block (r, c).
  const MeshTensor tensor =
      distribute(iota({2, 4}), {2, 2}, {Placement::shard(0), Placement::shard(1)});
  EXPECT_THAT(values_of(tensor.shard(0, 0)), ElementsAre(0, 1));
  EXPECT_THAT(values_of(tensor.shard(0, 1)), ElementsAre(2, 3));
  EXPECT_THAT(values_of(tensor.shard(1, 0)), ElementsAre(4, 5));
  EXPECT_THAT(values_of(tensor.shard(1, 1)), ElementsAre(6, 7));
}

TEST(DistributeTest, OneDimensionOnBothAxesSplitsRowsMajor) {
  const MeshTensor tensor =
      distribute(iota({1, 8}), {2, 2}, {Placement::shard(1), Placement::shard(1)});
  EXPECT_THAT(values_of(tensor.shards[0]), ElementsAre(0, 1));
  EXPECT_THAT(values_of(tensor.shards[1]), ElementsAre(2, 3));
  EXPECT_THAT(values_of(tensor.shards[2]), ElementsAre(4, 5));
  EXPECT_THAT(values_of(tensor.shards[3]), ElementsAre(6, 7));
  EXPECT_TRUE(same_bits(compose(tensor), iota({1, 8})));
}

TEST(DistributeTest, ReplicatedAxisCopiesTheShard) {
  const MeshTensor tensor = distribute(iota({2, 4}), {2, 2}, {kRep, Placement::shard(1)});
  EXPECT_THAT(values_of(tensor.shard(0, 0)), ElementsAre(0, 1, 4, 5));
  EXPECT_THAT(values_of(tensor.shard(1, 0)), ElementsAre(0, 1, 4, 5));
  EXPECT_THAT(values_of(tensor.shard(0, 1)), ElementsAre(2, 3, 6, 7));
  EXPECT_THAT(values_of(tensor.shard(1, 1)), ElementsAre(2, 3, 6, 7));
}

struct Layout {
  const char* mesh;
  Placement rows;
  Placement cols;
  Shape shard_shape;
};

TEST(ComposeTest, RoundTripsEveryLayout) {
  // A [16, 8, 4] bfloat16 tensor (seeded) on each layout; the shard shapes are derived by hand.
  const Tensor whole = random_normal({16, 8, 4}, 1234).to(DType::bfloat16);
  const std::vector<Layout> layouts{
      {"N150", kRep, kRep, {16, 8, 4}},
      {"T3K", kRep, kRep, {16, 8, 4}},
      {"T3K", kRep, Placement::shard(0), {2, 8, 4}},
      {"T3K", kRep, Placement::shard(1), {16, 1, 4}},
      {"8x1", Placement::shard(1), kRep, {16, 1, 4}},
      {"2x4", Placement::shard(2), Placement::shard(0), {4, 8, 2}},
      {"TG", Placement::shard(0), Placement::shard(1), {2, 2, 4}},
      {"TG", Placement::shard(1), Placement::shard(0), {4, 1, 4}},
      {"TG", kRep, Placement::shard(1), {16, 2, 4}},
      {"2x4", Placement::shard(0), Placement::shard(0), {2, 8, 4}},
  };
  for (const Layout& layout : layouts) {
    SCOPED_TRACE(std::string(layout.mesh) + " " + placement_name(layout.rows) + " " +
                 placement_name(layout.cols));
    const MeshTensor tensor =
        distribute(whole, parse_mesh(layout.mesh), {layout.rows, layout.cols});
    ASSERT_EQ(static_cast<int>(tensor.shards.size()), parse_mesh(layout.mesh).size());
    EXPECT_EQ(tensor.shards[0].shape(), layout.shard_shape);
    EXPECT_EQ(tensor.shards[0].dtype(), DType::bfloat16);
    EXPECT_EQ(tensor.global_shape(), whole.shape());
    EXPECT_TRUE(same_bits(compose(tensor), whole));
    EXPECT_EQ(in_process_transport()->all_gather_shards(tensor).size(), tensor.shards.size());
  }
}

TEST(ComposeTest, IntegerAndRankZeroTensors) {
  const Tensor ids = Tensor::from_int64({4}, {7, -3, 9, 11});
  const MeshTensor sharded = distribute(ids, {1, 2}, {kRep, Placement::shard(0)});
  EXPECT_THAT(values_of(sharded.shards[1]), ElementsAre(9, 11));
  EXPECT_TRUE(same_bits(compose(sharded), ids));
  const Tensor scalar = Tensor::scalar(2.5f);
  EXPECT_TRUE(same_bits(compose(distribute(scalar, {2, 2}, {kRep, kRep})), scalar));
}

TEST(DistributeTest, AMeshAxisThatDoesNotDivideTheDimensionIsAnError) {
  EXPECT_THAT(
      [] {
        distribute(iota({2, 6}), {1, 4}, {kRep, Placement::shard(1)});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[distribute] mesh 1x4 axis 1 (4 devices) does not divide dimension 1 "
                    "(size 6) of a tensor of shape [2, 6]")));
  EXPECT_THAT(
      [] {
        distribute(iota({4, 2}), {2, 4}, {Placement::shard(0), Placement::shard(0)});
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "mesh 2x4 axis 0 (2 devices) and 1 (4 devices) does not divide dimension 0 (size 4)")));
}

TEST(DistributeTest, APlacementNamingAMissingDimensionIsAnError) {
  EXPECT_THAT(
      [] {
        distribute(iota({2, 4}), {1, 2}, {kRep, Placement::shard(2)});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[distribute] mesh 1x2 axis 1 shards dimension 2, but the tensor has rank 2")));
  EXPECT_THAT(
      [] {
        distribute(iota({2, 4}), {2, 1}, {Placement::shard(-1), kRep});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("mesh 2x1 axis 0 shards dimension -1, but the tensor has rank 2")));
  EXPECT_THAT(
      [] {
        distribute(iota({2, 4}), {0, 2}, {kRep, kRep});
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[distribute] invalid mesh 0x2")));
}

TEST(ComposeTest, AMissingShardIsAnError) {
  MeshTensor tensor = distribute(iota({2, 4}), {1, 4}, {kRep, Placement::shard(1)});
  tensor.shards[2] = Tensor();
  EXPECT_THAT([&] { compose(tensor); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[mesh_tensor] mesh 1x4: the shard of device 2 (row 0, col 2) is missing")));
  tensor.shards.pop_back();
  EXPECT_THAT([&] { compose(tensor); }, ThrowsMessage<std::invalid_argument>(HasSubstr(
                                            "[mesh_tensor] mesh 1x4 has 4 devices but 3 shards")));
}

TEST(ComposeTest, AShardOfAnotherShapeOrDtypeIsAnError) {
  MeshTensor tensor = distribute(iota({2, 4}), {2, 2}, {kRep, Placement::shard(1)});
  tensor.shards[3] = iota({2, 3});
  EXPECT_THAT([&] { compose(tensor); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("the shard of device 3 (row 1, col 1) is [2, 3] float32, the shard of "
                            "device 0 is [2, 2] float32")));
  tensor.shards[3] = tensor.shards[1].to(DType::bfloat16);
  EXPECT_THAT([&] { compose(tensor); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("the shard of device 3 (row 1, col 1) is [2, 2] bfloat16")));
}

TEST(ComposeTest, ReplicasThatDifferNameBothDevices) {
  MeshTensor tensor = distribute(iota({2, 4}), {2, 2}, {kRep, Placement::shard(1)});
  // Device 3 (row 1, col 1) is the copy of device 1 (row 0, col 1): [[2, 3], [6, 7]].
  tensor.shards[3] = tensor.shards[3].clone();
  tensor.shards[3].set({1, 0}, 6.5);
  EXPECT_THAT([&] { compose(tensor); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[compose] mesh 2x2: device 1 (row 0, col 1) and device 3 (row 1, col 1) hold "
                  "different copies of a replicated axis (first at element 2: 6 vs 6.5)")));
}

TEST(TransportTest, InProcessHoldsEveryDeviceAndScopesRestore) {
  EXPECT_EQ(mesh_transport().name(), "in-process");
  EXPECT_TRUE(mesh_transport().holds({1, 8}, 7));
  EXPECT_THAT(
      [] {
        mesh_transport().holds({1, 8}, 8);
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[mesh_transport] device 8 is not on mesh T3K (8 devices)")));
  {
    const ScopedMeshTransport scoped(in_process_transport());
    EXPECT_EQ(&mesh_transport(), in_process_transport().get());
  }
  EXPECT_EQ(&mesh_transport(), in_process_transport().get());
  EXPECT_THAT([] { ScopedMeshTransport scoped(nullptr); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("the transport is null")));
}

}  // namespace
}  // namespace ttt

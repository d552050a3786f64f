// The tensor-parallel embedding: a tiny table split by hand along hidden, every shard equal to the
// columns of the single-device Embedding (prefill, decode, learned positions, scale), the
// all_gather option, the float64 reference, the kind's replay of seeded-style mesh ids, JSON and
// bad input (a mesh that does not divide hidden, sinusoidal positions, sharded ids).
#include "blocks/embeddings/tp_embedding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "blocks/common/block_kind.h"
#include "blocks/registration.h"
#include "tests/common/tensor_values.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

using test_support::floats_of;

// Columns [begin, begin + count) of the last dimension of `tensor`, by index arithmetic.
std::vector<float> last_columns(const Tensor& tensor, std::int64_t begin, std::int64_t count) {
  const std::vector<float> all = floats_of(tensor);
  const auto width = static_cast<std::size_t>(tensor.dim(-1));
  std::vector<float> out;
  for (std::size_t row = 0; row * width < all.size(); ++row) {
    for (std::int64_t i = begin; i < begin + count; ++i) {
      out.push_back(all[row * width + static_cast<std::size_t>(i)]);
    }
  }
  return out;
}

// float32 tables and output: a lookup then copies the values exactly.
TpEmbeddingImplConfig exact_config() {
  TpEmbeddingImplConfig config;
  config.device.weight_dtype = DType::float32;
  config.device.output_dtype = DType::float32;
  config.ccl.output_dtype = DType::float32;
  return config;
}

TEST(TpEmbeddingTest, HandCheckedColumnSplit) {
  // vocab 3, hidden 4 on N300; row r of the table is [10r, 10r + 1, 10r + 2, 10r + 3]. Device 0
  // holds columns 0, 1 and device 1 columns 2, 3. ids [2, 0] look up rows 2 and 0:
  // device 0 -> [[20, 21], [0, 1]], device 1 -> [[22, 23], [2, 3]].
  const TpEmbeddingSpec spec{{3, 4}, parse_mesh("N300")};
  const Tensor table = Tensor::from_floats({3, 4}, {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23});
  const MeshTensor ids = distribute(Tensor::from_int64({1, 2}, {2, 0}), parse_mesh("N300"), {});
  const MeshTensor y = TpEmbedding(spec, exact_config(), {table}).prefill_forward(ids);
  EXPECT_EQ(y.placements[1], Placement::shard(2));
  ASSERT_EQ(y.shards.size(), 2u);
  EXPECT_EQ(y.shards[0].shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(floats_of(y.shards[0]), (std::vector<float>{20, 21, 0, 1}));
  EXPECT_EQ(floats_of(y.shards[1]), (std::vector<float>{22, 23, 2, 3}));
  // With all_gather every device holds the whole rows.
  TpEmbeddingImplConfig gathered = exact_config();
  gathered.all_gather = true;
  const MeshTensor whole = TpEmbedding(spec, gathered, {table}).prefill_forward(ids);
  EXPECT_EQ(whole.placements[1], Placement::replicate());
  for (const Tensor& shard : whole.shards) {
    EXPECT_EQ(floats_of(shard), (std::vector<float>{20, 21, 22, 23, 0, 1, 2, 3}));
  }
}

// Each device's shard is the columns of the single-device Embedding's output (its default
// bfloat16 tables, a scale, learned positions), in prefill and decode, on 1x2, 1x8 and TG's rows.
TEST(TpEmbeddingTest, ShardsAreTheColumnsOfTheSingleDeviceEmbedding) {
  EmbeddingSpec embedding{64, 128, 2.5, PositionEmbedding::learned, 16};
  const Tensor table = random_normal({64, 128}, 3, 0.0, 1.0);
  const Tensor positions_table = random_normal({16, 128}, 4, 0.0, 0.1);
  const EmbeddingWeights weights{table, positions_table};
  const Embedding single(embedding, default_impl_config(embedding, Device::N150, Mode::prefill),
                         weights);
  const Tensor prefill_ids = random_integers({2, 5}, 9, 0, 64, DType::int64);
  const Tensor decode_ids = Tensor::from_int64({3}, {63, 0, 17});
  const Tensor positions = Tensor::from_int64({3}, {0, 7, 15});
  const Tensor prefill_y = single.prefill_forward(prefill_ids);
  const Tensor decode_y = single.decode_forward(decode_ids, positions);
  for (const auto& [name, device] : {std::pair{"N300", Device::N300}, std::pair{"T3K", Device::T3K},
                                     std::pair{"TG", Device::TG}}) {
    const TpEmbeddingSpec spec{embedding, parse_mesh(name)};
    const TpEmbedding tp(spec, default_impl_config(spec, device, Mode::prefill), weights);
    const int n = spec.mesh.cols;
    const std::int64_t width = 128 / n;
    const MeshTensor y = tp.prefill_forward(distribute(prefill_ids, spec.mesh, {}));
    const MeshTensor yd = tp.decode_forward(distribute(decode_ids, spec.mesh, {}), positions);
    for (int d = 0; d < spec.mesh.size(); ++d) {
      const int column = d % n;
      EXPECT_EQ(floats_of(y.shards[d]), last_columns(prefill_y, column * width, width))
          << name << " device " << d;
      EXPECT_EQ(floats_of(yd.shards[d]), last_columns(decode_y, column * width, width))
          << name << " device " << d;
    }
    // Composed, it is the single-device output bit for bit.
    EXPECT_EQ(floats_of(compose(y)), floats_of(prefill_y)) << name;
  }
}

TEST(TpEmbeddingTest, ReferenceIsTheWholeEmbeddings) {
  const EmbeddingSpec embedding{8, 16, 1.0};
  const Tensor table = random_normal({8, 16}, 5, 0.0, 1.0);
  const Tensor ids = Tensor::from_int64({1, 3}, {7, 1, 4});
  Tensor positions = Tensor::from_int64({1, 3}, {0, 1, 2});
  const TpEmbeddingSpec spec{embedding, parse_mesh("1x4")};
  EXPECT_EQ(
      floats_of(tp_embedding_reference(spec, {table}, distribute(ids, spec.mesh, {}), positions)),
      floats_of(embedding_reference(embedding, {table}, ids, positions)));
}

// The kind replays a call whose ids are a mesh tensor (as the suites seed it) and passes its
// tolerances; its Spec and ImplConfig JSON round-trip.
TEST(TpEmbeddingTest, KindReplaysMeshIds) {
  const BlockKind* kind = find_block_kind("tp_embedding");
  ASSERT_NE(kind, nullptr);
  const TpEmbeddingSpec spec{{32, 64}, parse_mesh("T3K")};
  const Tensor ids = Tensor::from_int64({1, 4}, {3, 31, 0, 3});
  BlockCall call;
  call.kind = "tp_embedding";
  call.spec = spec;
  call.device = "T3K";
  call.inputs = {{"ids", ids, std::make_shared<const MeshTensor>(distribute(ids, spec.mesh, {}))},
                 {"token_weight", random_normal({32, 64}, 1, 0.0, 1.0)}};
  const BoundCall bound = kind->bind(call);
  const Tensor device = bound.run_device()[0].tensor;
  const Tensor reference = bound.run_reference()[0].tensor;
  EXPECT_EQ(device.shape(), (Shape{1, 4, 64}));
  // bfloat16 tables: the device's values are the reference's rounded to bfloat16.
  EXPECT_EQ(floats_of(device), floats_of(reference.to(DType::bfloat16).to(DType::float32)));
  EXPECT_EQ(nlohmann::json(spec).get<TpEmbeddingSpec>(), spec);
  const TpEmbeddingImplConfig config = default_impl_config(spec, Device::T3K, Mode::decode);
  EXPECT_EQ(nlohmann::json(config).get<TpEmbeddingImplConfig>(), config);
  EXPECT_EQ(spec.identity(),
            "TP_EMBEDDING(vocab=32,hidden=64,scale=1,positions=none,mesh=T3K,"
            "axis=1)");
}

TEST(TpEmbeddingTest, BadInput) {
  const auto not_dividing = [] { TpEmbeddingSpec{{32, 100}, parse_mesh("T3K")}.validate(); };
  EXPECT_THAT(not_dividing, ThrowsMessage<std::invalid_argument>(HasSubstr(
                                "[tp_embedding] mesh T3K axis 1 (8 devices) does not divide "
                                "spec.embedding.hidden_dim 100")));
  const auto sinusoidal = [] {
    const EmbeddingSpec embedding{32, 64, 1.0, PositionEmbedding::sinusoidal, 16};
    TpEmbeddingSpec{embedding, parse_mesh("N300")}.validate();
  };
  EXPECT_THAT(sinusoidal,
              ThrowsMessage<std::invalid_argument>(HasSubstr("sinusoidal is not supported")));
  // ids split across the devices: each device needs every token.
  const TpEmbeddingSpec spec{{32, 64}, parse_mesh("N300")};
  const TpEmbedding tp(spec, exact_config(), {random_normal({32, 64}, 1, 0.0, 1.0)});
  const MeshTensor sharded = distribute(Tensor::from_int64({1, 4}, {0, 1, 2, 3}), spec.mesh,
                                        {Placement::replicate(), Placement::shard(1)});
  EXPECT_THAT([&] { tp.prefill_forward(sharded); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("must be replicated")));
  const nlohmann::json unknown = {
      {"embedding", {{"vocab_size", 4}, {"hidden_dim", 4}}}, {"mesh", "N300"}, {"extra", 1}};
  EXPECT_THAT([&] { unknown.get<TpEmbeddingSpec>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("extra")));
}

}  // namespace
}  // namespace ttt

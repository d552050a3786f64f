// Seeded inputs of the mesh kinds (blocks/common/block_kind.h MeshInputRule): a whole input is
// drawn as a single-device input of the same name and distributed with the kind's placement; a
// per-device input draws one tensor per device from "<name>/<device>"; a suite case of a
// tensor-parallel kind runs on the mesh from them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "blocks/common/block_kind.h"
#include "suites/suite/internal/block_kinds.h"
#include "suites/suite/suite.h"
#include "suites/suite/targets.h"
#include "tests/common/tensor_values.h"
#include "validation/input/allocation_limit.h"

namespace ttt {
namespace {

using test_support::floats_of;
using ::testing::HasSubstr;

const nlohmann::json kTpMlpSpec = {{"mlp", {{"hidden_dim", 64}, {"ffn_dim", 256}}},
                                   {"mesh", "T3K"}};

TEST(MeshSeeding, ReplicatedInputIsTheSingleDeviceDrawOnEveryDevice) {
  const auto mesh_case = block_case(
      {.kind = "tp_gated_mlp", .spec = kTpMlpSpec, .mode = Mode::decode, .device = Device::T3K});
  const auto twin = block_case(
      {.kind = "gated_mlp", .spec = {{"hidden_dim", 64}, {"ffn_dim", 256}}, .mode = Mode::decode});
  const CaseInputs inputs = *mesh_case->seeded_inputs({.batch = 2}, {}, 11);
  const CaseInputs single = *twin->seeded_inputs({.batch = 2}, {}, 11);
  ASSERT_EQ(inputs.tensors.size(), 4u);  // x, w_gate, w_up, w_down.
  const NamedTensor& x = inputs.tensors[0];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.tensor.shape(), (Shape{2, 64}));
  // The seed depends on the name only: the mesh case sees the single-device case's numbers.
  EXPECT_EQ(floats_of(x.tensor), floats_of(single.tensor("x")));
  EXPECT_EQ(floats_of(inputs.tensor("w_down")), floats_of(single.tensor("w_down")));
  ASSERT_NE(x.mesh, nullptr);
  EXPECT_EQ(x.mesh->mesh, (Mesh{1, 8}));
  ASSERT_EQ(x.mesh->shards.size(), 8u);
  for (const Tensor& shard : x.mesh->shards) {
    EXPECT_EQ(floats_of(shard), floats_of(x.tensor));  // Replicated: every device the whole.
  }
  EXPECT_EQ(inputs.tensors[1].mesh, nullptr);  // The weights stay whole (the block cuts them).
}

TEST(MeshSeeding, ShardedInputShardsAreTheSlicesOfTheWholeDraw) {
  const auto norm = block_case({.kind = "distributed_rms_norm",
                                .spec = {{"dim", 8}, {"mesh", "N300"}},
                                .mode = Mode::decode,
                                .device = Device::N300});
  const CaseInputs inputs = *norm->seeded_inputs({.batch = 2}, {}, 5);
  const NamedTensor& x = inputs.tensors[0];
  ASSERT_NE(x.mesh, nullptr);
  EXPECT_EQ(x.mesh->placements[1], Placement::shard(1));  // Hidden, the last dim of [2, 8].
  ASSERT_EQ(x.mesh->shards.size(), 2u);
  for (int device = 0; device < 2; ++device) {
    const Tensor& shard = x.mesh->shards[device];
    ASSERT_EQ(shard.shape(), (Shape{2, 4}));
    for (std::int64_t b = 0; b < 2; ++b) {
      for (std::int64_t j = 0; j < 4; ++j) {
        EXPECT_EQ(shard.at({b, j}), x.tensor.at({b, device * 4 + j}))
            << device << "," << b << "," << j;
      }
    }
  }
}

// A kind declaring one per-device input (a reduce collective's partials) and its twin declaring
// a plain input named as device 1's element.
BlockKind partials_kind(bool per_device) {
  BlockKind kind;
  kind.name = "partials";
  kind.seeded_inputs = [per_device](const ConfiguredBlock&, Mode, const CallShapes&) {
    InputRule x{.name = per_device ? "x" : "x/1", .shape = {2, 4}, .seeding = Seeding::activation};
    if (per_device) {
      x.mesh = MeshInputRule{.mesh = {1, 2}, .placements = {}, .per_device = true};
    }
    return InputPlan{{x}};
  };
  return kind;
}

TEST(MeshSeeding, PerDeviceInputsHaveTheirOwnSeeds) {
  const CaseInputs inputs =
      suite_detail::seeded_block_inputs(partials_kind(true), {}, Mode::decode, {.batch = 1}, {}, 3);
  ASSERT_EQ(inputs.tensors.size(), 2u);
  EXPECT_EQ(inputs.tensors[0].name, "x/0");
  EXPECT_EQ(inputs.tensors[1].name, "x/1");
  EXPECT_EQ(inputs.tensors[0].tensor.shape(), (Shape{2, 4}));
  EXPECT_NE(floats_of(inputs.tensors[0].tensor), floats_of(inputs.tensors[1].tensor));
  // Device 1's partial is what a plain input named "x/1" draws.
  const CaseInputs plain = suite_detail::seeded_block_inputs(partials_kind(false), {}, Mode::decode,
                                                             {.batch = 1}, {}, 3);
  EXPECT_EQ(floats_of(inputs.tensors[1].tensor), floats_of(plain.tensors[0].tensor));
  EXPECT_EQ(inputs.scalars.at("placements"), (nlohmann::json{"replicated", "replicated"}));
}

TEST(MeshSeeding, TpGatedMlpSuiteCaseRunsOnT3K) {
  Suite suite("mesh", {.seed = 42});
  suite
      .add_case(block_case({.kind = "tp_gated_mlp",
                            .spec = kTpMlpSpec,
                            .mode = Mode::prefill,
                            .device = Device::T3K}))
      .with_seeded_inputs({.batch = 1, .seq_len = 4})
      .expect_pcc(0.99);
  suite
      .add_case(block_case({.kind = "distributed_rms_norm",
                            .spec = {{"dim", 64}, {"mesh", "T3K"}},
                            .mode = Mode::decode,
                            .device = Device::T3K}))
      .with_seeded_inputs({.batch = 2})
      .expect_pcc(0.9999);
  const SuiteResult result = suite.run_cases();
  ASSERT_EQ(result.cases.size(), 2u);
  for (const CaseResult& c : result.cases) {
    EXPECT_EQ(c.status, CaseStatus::pass) << c.id << ": " << c.error;
    EXPECT_EQ(c.device, "T3K");
  }
  EXPECT_EQ(result.cases[0].identity, "TP_GATED_MLP(hidden=64,ffn=256,act=silu,mesh=T3K,axis=1)");
  EXPECT_EQ(result.cases[0].inputs[0].shape, (Shape{1, 4, 64}));
  EXPECT_GT(result.cases[0].outputs[0].reference_rms, 0.0);
}

// The kinds added with the seeding: tp_attention (prefill) and tp_embedding, from seeded inputs.
TEST(MeshSeeding, TpAttentionAndTpEmbeddingSuiteCasesRun) {
  Suite suite("mesh", {.seed = 42});
  suite
      .add_case(
          block_case({.kind = "tp_attention",
                      .spec = {{"attention",
                                {{"hidden_dim", 64},
                                 {"num_heads", 8},
                                 {"num_kv_heads", 2},
                                 {"rope", {{"head_dim", 8}, {"max_position_embeddings", 64}}}}},
                               {"mesh", "T3K"}},
                      .mode = Mode::prefill,
                      .device = Device::T3K}))
      .with_seeded_inputs({.batch = 1, .seq_len = 8})
      .expect_pcc(0.99);
  suite
      .add_case(block_case(
          {.kind = "tp_embedding",
           .spec = {{"embedding", {{"vocab_size", 100}, {"hidden_dim", 64}}}, {"mesh", "TG"}},
           .mode = Mode::decode,
           .device = Device::TG}))
      .with_seeded_inputs({.batch = 4, .context_len = 9})
      .expect_pcc(0.9999);
  const SuiteResult result = suite.run_cases();
  ASSERT_EQ(result.cases.size(), 2u);
  for (const CaseResult& c : result.cases) {
    EXPECT_EQ(c.status, CaseStatus::pass) << c.id << ": " << c.error;
  }
  EXPECT_EQ(result.cases[0].inputs[0].shape, (Shape{1, 8, 64}));
  EXPECT_EQ(result.cases[1].inputs[0].name, "ids");
  EXPECT_EQ(result.cases[1].inputs[0].dtype, DType::int64);
}

TEST(MeshSeeding, ShardCopiesCountAgainstTheAllocationLimit) {
  const auto mesh_case = block_case(
      {.kind = "tp_gated_mlp", .spec = kTpMlpSpec, .mode = Mode::decode, .device = Device::T3K});
  // x [1, 64] float32 is 256 bytes, held whole and once per device of the replicated axis: 9 x
  // 256 = 2304 bytes, over a 2000-byte limit before any weight is counted.
  set_allocation_limit(2000);
  try {
    mesh_case->seeded_inputs({.batch = 1}, {}, 1);
    ADD_FAILURE() << "expected the allocation limit to refuse x";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("seeded input 'x' (shape [1, 64], held 9 times)"));
  }
  set_allocation_limit(0);
}

}  // namespace
}  // namespace ttt

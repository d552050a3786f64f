// Seeded inputs of the mesh kinds (blocks/common/block_kind.h MeshInputRule): a whole input is
// drawn as a single-device input of the same name and distributed with the kind's placement; a
// per-device input draws one tensor per device from "<name>/<device>"; a suite case of a
// tensor-parallel kind runs on the mesh from them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "blocks/ccl/broadcast.h"
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

// A decode case of tp_attention draws the single-device decode's inputs (same names, same seeds)
// and cuts each KV cache per device: with 2 KV heads on T3K, devices 0..3 hold head 0, 4..7 head 1.
TEST(MeshSeeding, TpAttentionDecodeCachesAreTheSingleDeviceCachesCut) {
  const nlohmann::json attention = {{"hidden_dim", 64},
                                    {"num_heads", 8},
                                    {"num_kv_heads", 2},
                                    {"rope", {{"head_dim", 8}, {"max_position_embeddings", 64}}}};
  const auto mesh_case = block_case({.kind = "tp_attention",
                                     .spec = {{"attention", attention}, {"mesh", "T3K"}},
                                     .mode = Mode::decode,
                                     .device = Device::T3K});
  const auto twin = block_case(
      {.kind = "attention.decode", .spec = attention, .mode = Mode::decode, .device = Device::T3K});
  const CaseShapes shapes{.batch = 2, .context_len = 9};
  const CaseInputs inputs = *mesh_case->seeded_inputs(shapes, {}, 11);
  const CaseInputs single = *twin->seeded_inputs(shapes, {}, 11);
  ASSERT_EQ(inputs.tensors.size(), single.tensors.size());
  for (std::size_t i = 0; i < inputs.tensors.size(); ++i) {
    const Tensor& mesh_input = inputs.tensors[i].tensor;
    const Tensor& single_input = single.tensors[i].tensor;
    EXPECT_EQ(inputs.tensors[i].name, single.tensors[i].name);
    ASSERT_EQ(mesh_input.shape(), single_input.shape()) << inputs.tensors[i].name;
    EXPECT_EQ(mesh_input.dtype(), single_input.dtype()) << inputs.tensors[i].name;
    for (std::int64_t e = 0; e < mesh_input.numel(); ++e) {
      ASSERT_EQ(mesh_input.at_flat(e), single_input.at_flat(e)) << inputs.tensors[i].name << e;
    }
  }
  const NamedTensor& k = inputs.tensors.at(2);
  ASSERT_EQ(k.name, "k_cache");
  ASSERT_EQ(k.tensor.shape(), (Shape{2, 2, 32, 8}));
  ASSERT_NE(k.mesh, nullptr);
  EXPECT_EQ(k.mesh->placements[1], Placement::shard(1));
  ASSERT_EQ(k.mesh->shards.size(), 8u);
  for (int device = 0; device < 8; ++device) {
    const Tensor& shard = k.mesh->shards[device];
    ASSERT_EQ(shard.shape(), (Shape{2, 1, 32, 8}));
    EXPECT_EQ(shard.dtype(), k.tensor.dtype());  // T3K's kv_cache_dtype, bfloat8_b.
    for (const std::int64_t position : {0, 8, 9}) {  // Filled up to 9; position 9 is zero.
      EXPECT_EQ(shard.at({1, 0, position, 3}), k.tensor.at({1, device / 4, position, 3}));
    }
  }
  EXPECT_NE(k.mesh->shards[0].at({0, 0, 0, 0}), k.mesh->shards[4].at({0, 0, 0, 0}));
  EXPECT_EQ(k.mesh->shards[0].at({0, 0, 9, 0}), 0.0);

  Suite suite("mesh", {.seed = 42});
  suite.add_case(mesh_case).with_seeded_inputs(shapes).expect_pcc(0.99);
  suite.add_case(twin).with_seeded_inputs(shapes).expect_pcc(0.99);
  const SuiteResult result = suite.run_cases();
  ASSERT_EQ(result.cases.size(), 2u);
  for (const CaseResult& c : result.cases) {
    EXPECT_EQ(c.status, CaseStatus::pass) << c.id << ": " << c.error;
  }
  EXPECT_EQ(result.cases[0].kind, "tp_attention");
  EXPECT_EQ(result.cases[0].inputs[2].shape, (Shape{2, 2, 32, 8}));
}

// The collectives draw x of spec.width: all_gather's sharded along spec.dim and broadcast's along
// the last dimension over the axis (whole draws, so the devices hold different pieces), the
// reducing ones' one partial per device.
CaseInputs collective_inputs(const std::string& kind, const nlohmann::json& spec, Device device,
                             const CaseShapes& shapes) {
  return *block_case({.kind = kind, .spec = spec, .mode = Mode::decode, .device = device})
              ->seeded_inputs(shapes, {}, 7);
}

TEST(MeshSeeding, AllGatherInputIsShardedAlongItsDim) {
  const CaseInputs inputs =
      collective_inputs("all_gather", {{"mesh", "T3K"}, {"dim", 1}, {"width", 16}}, Device::T3K,
                        {.batch = 2});
  ASSERT_EQ(inputs.tensors.size(), 1u);
  const NamedTensor& x = inputs.tensors[0];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.tensor.shape(), (Shape{2, 16}));
  ASSERT_NE(x.mesh, nullptr);
  EXPECT_EQ(x.mesh->placements[0], Placement::replicate());
  EXPECT_EQ(x.mesh->placements[1], Placement::shard(1));
  ASSERT_EQ(x.mesh->shards.size(), 8u);
  for (int device = 0; device < 8; ++device) {
    const Tensor& shard = x.mesh->shards[device];
    ASSERT_EQ(shard.shape(), (Shape{2, 2}));
    for (std::int64_t b = 0; b < 2; ++b) {
      for (std::int64_t j = 0; j < 2; ++j) {
        EXPECT_EQ(shard.at({b, j}), x.tensor.at({b, device * 2 + j})) << device;
      }
    }
  }
}

TEST(MeshSeeding, BroadcastDeliversTheRootsPieceOfTheSeededInput) {
  const nlohmann::json spec = {{"mesh", "1x4"}, {"root", 2}, {"width", 8}};
  const CaseInputs inputs = collective_inputs("broadcast", spec, Device::N150, {.batch = 1});
  const NamedTensor& x = inputs.tensors.at(0);
  ASSERT_NE(x.mesh, nullptr);
  EXPECT_EQ(x.mesh->placements[1], Placement::shard(1));
  ASSERT_EQ(x.mesh->shards.size(), 4u);
  EXPECT_EQ(x.mesh->shards[0].shape(), (Shape{1, 2}));
  // Every device ends with columns 4, 5 of x (the root, position 2, holds columns 2*2 .. 2*2+1).
  const Broadcast broadcast(spec.get<BroadcastSpec>(),
                            default_impl_config(spec.get<BroadcastSpec>(), Device::N150,
                                                Mode::decode));
  const MeshTensor y = broadcast.forward(*x.mesh);
  for (const Tensor& shard : y.shards) {
    ASSERT_EQ(shard.shape(), (Shape{1, 2}));
    EXPECT_EQ(shard.at({0, 0}), x.tensor.at({0, 4}));
    EXPECT_EQ(shard.at({0, 1}), x.tensor.at({0, 5}));
  }
  EXPECT_NE(x.tensor.at({0, 0}), x.tensor.at({0, 4}));  // The pieces differ: the root matters.
}

TEST(MeshSeeding, ReducingCollectivesDrawOnePartialPerDevice) {
  for (const std::string kind : {"reduce_scatter", "all_reduce"}) {
    const CaseInputs inputs = collective_inputs(
        kind, {{"mesh", "1x4"}, {"dim", 1}, {"width", 8}}, Device::N150, {.batch = 3});
    ASSERT_EQ(inputs.tensors.size(), 4u) << kind;
    for (int device = 0; device < 4; ++device) {
      EXPECT_EQ(inputs.tensors[device].name, "x/" + std::to_string(device));
      EXPECT_EQ(inputs.tensors[device].tensor.shape(), (Shape{3, 8}));
      EXPECT_EQ(inputs.tensors[device].mesh, nullptr);
    }
    EXPECT_NE(floats_of(inputs.tensors[0].tensor), floats_of(inputs.tensors[3].tensor));
    EXPECT_EQ(inputs.scalars.at("placements"), (nlohmann::json{"replicated", "replicated"}));
  }
  // On TG along the columns, the 8 rows reduce independently: side by side along the batch.
  const CaseInputs tg = collective_inputs("all_reduce", {{"mesh", "TG"}, {"dim", 1}, {"width", 8}},
                                          Device::TG, {.batch = 1});
  EXPECT_EQ(tg.tensors.size(), 32u);
  EXPECT_EQ(tg.scalars.at("placements"), (nlohmann::json{"shard(0)", "replicated"}));
}

TEST(MeshSeeding, CollectiveSeedingErrorsNameTheSpecField) {
  const auto message = [](const std::string& kind, const nlohmann::json& spec) {
    try {
      collective_inputs(kind, spec, Device::T3K, {.batch = 2});
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(message("all_gather", {{"mesh", "T3K"}, {"dim", 1}}),
              HasSubstr("[all_gather] seeded inputs need spec.width (the last dimension of x)"));
  EXPECT_THAT(message("reduce_scatter", {{"mesh", "T3K"}, {"dim", 2}, {"width", 16}}),
              HasSubstr("[reduce_scatter] spec.dim 2 is not a dimension of the seeded x [2, 16] "
                        "in decode"));
  EXPECT_THAT(message("broadcast", {{"mesh", "T3K"}, {"width", 12}}),
              HasSubstr("[broadcast] mesh T3K axis 1 (8 devices) does not divide dimension 1 "
                        "(size 12) of the seeded x [2, 12] (spec.width)"));
}

// One case of each collective runs from its seeded inputs and passes. Moving data is exact:
// all_gather gives x back and broadcast the root's piece, so both match the reference exactly.
TEST(MeshSeeding, CollectiveSuiteCasesRunOnT3K) {
  Suite suite("ccl", {.seed = 42});
  const auto add = [&suite](const std::string& kind, const nlohmann::json& spec, Mode mode) {
    suite.add_case(block_case({.kind = kind, .spec = spec, .mode = mode, .device = Device::T3K}))
        .with_seeded_inputs(mode == Mode::prefill ? CaseShapes{.batch = 1, .seq_len = 4}
                                                  : CaseShapes{.batch = 2})
        .expect_pcc(0.99);
  };
  add("all_gather", {{"mesh", "T3K"}, {"dim", 2}, {"width", 64}}, Mode::prefill);
  add("broadcast", {{"mesh", "T3K"}, {"root", 3}, {"width", 64}}, Mode::decode);
  add("reduce_scatter", {{"mesh", "T3K"}, {"dim", 1}, {"width", 64}}, Mode::decode);
  add("all_reduce", {{"mesh", "T3K"}, {"dim", 2}, {"width", 64}}, Mode::prefill);
  const SuiteResult result = suite.run_cases();
  ASSERT_EQ(result.cases.size(), 4u);
  for (const CaseResult& c : result.cases) {
    EXPECT_EQ(c.status, CaseStatus::pass) << c.id << ": " << c.error;
    ASSERT_EQ(c.outputs.size(), 1u) << c.id;
    EXPECT_GT(c.outputs[0].reference_rms, 0.0) << c.id;
  }
  EXPECT_EQ(result.cases[0].identity, "ALL_GATHER(mesh=T3K,axis=1,dim=2,width=64)");
  EXPECT_EQ(result.cases[0].inputs[0].shape, (Shape{1, 4, 64}));
  EXPECT_EQ(result.cases[0].outputs[0].metrics.max_abs_error, 0.0);
  EXPECT_EQ(result.cases[1].outputs[0].metrics.max_abs_error, 0.0);
  EXPECT_EQ(result.cases[2].inputs.size(), 8u);  // x/0 .. x/7.
  EXPECT_EQ(result.cases[2].inputs[7].name, "x/7");
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

// A block kind is defined once, in its folder's kinds.cc (blocks/common/block_kind.h): replay, the
// suites' seeded inputs and coverage all see it through its descriptor, and none keeps a list of
// its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "blocks/common/block_kind.h"
#include "blocks/registration.h"
#include "coverage/internal/block_facts.h"
#include "suites/suite/internal/block_kinds.h"
#include "suites/suite/targets.h"

namespace ttt {
namespace {

using ::testing::IsSupersetOf;

TEST(BlockKindConsumers, EachConsumerSeesTheDescriptors) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  std::vector<std::string> seedable;
  std::set<std::string> described;
  for (const BlockKind& kind : block_kinds()) {
    EXPECT_NE(registry.find(kind.name), nullptr) << kind.name;
    // The suites seed exactly the kinds whose descriptor lists seeded inputs, and read that
    // descriptor (not a copy).
    const BlockKind* known = suite_detail::find_known_kind(kind.name);
    EXPECT_EQ(known, kind.seeded_inputs ? &kind : nullptr) << kind.name;
    if (kind.seeded_inputs) seedable.push_back(kind.name);
    // Coverage knows a family when its kinds have facts, and finds the tokens where they say.
    if (kind.facts) {
      described.insert(kind.family);
      EXPECT_EQ(coverage_detail::activation_input(kind.family), kind.activation_input);
    }
  }
  EXPECT_EQ(known_block_kinds(), seedable);
  EXPECT_THAT(seedable,
              IsSupersetOf({"attention.decode", "attention.prefill", "distributed_rms_norm",
                            "embedding", "gated_mlp", "layer_norm", "lm_head", "mlp", "moe",
                            "rms_norm", "tp_gated_mlp", "tp_lm_head"}));
  EXPECT_EQ(std::set<std::string>(coverage_detail::known_block_families().begin(),
                                  coverage_detail::known_block_families().end()),
            described);
  EXPECT_EQ(coverage_detail::activation_input("embedding"), "ids");
  EXPECT_EQ(coverage_detail::activation_input("rope"), "");
}

// A mesh kind's coverage facts name its mesh, so that a T3K run and a 1x1 run of one block are
// different configurations; a tensor-parallel kind's describe the single-device block it runs.
TEST(BlockKindConsumers, MeshKindFactsNameTheMesh) {
  const nlohmann::json spec = {{"mlp", {{"hidden_dim", 64}, {"ffn_dim", 256}}}, {"mesh", "T3K"}};
  const coverage_detail::BlockFacts facts = coverage_detail::describe_block(
      "tp_gated_mlp", spec, nlohmann::json::object(), "T3K", "decode");
  ASSERT_TRUE(facts.known) << facts.problem;
  EXPECT_EQ(facts.derived.at("mesh"), "T3K");
  EXPECT_EQ(facts.derived.at("axis_devices"), 8);
  EXPECT_EQ(facts.derived.at("reduction"), "reduce_scatter");
  EXPECT_EQ(facts.weight_dtype, "bfloat8_b");
  // It runs a gated MLP on every device: coverage counts it as that block on the mesh.
  EXPECT_EQ(facts.block, "gated_mlp");
  EXPECT_EQ(facts.topology, "T3K");
  EXPECT_EQ(facts.spec,
            (nlohmann::json{{"hidden_dim", 64}, {"ffn_dim", 256}, {"activation", "silu"}}));
  EXPECT_EQ(facts.identity, "GATED_MLP(hidden=64,ffn=256,act=silu)");
  EXPECT_EQ(facts.impl_config.at("ff1_ff3").at("weight_dtype"), "bfloat8_b");
  EXPECT_FALSE(facts.impl_config.contains("reduction"));
  // TG's 2-D MLP: a gated MLP with the 2-D kind's matmuls (TG: FF1/FF3 output bfloat8_b), one
  // reduction shard (the mesh splits ffn).
  const coverage_detail::BlockFacts tp2d = coverage_detail::describe_block(
      "tp2d_gated_mlp", {{"mlp", {{"hidden_dim", 64}, {"ffn_dim", 256}}}, {"mesh", "TG"}},
      nlohmann::json::object(), "TG", "prefill");
  ASSERT_TRUE(tp2d.known) << tp2d.problem;
  EXPECT_EQ(tp2d.block, "gated_mlp");
  EXPECT_EQ(tp2d.topology, "TG");
  EXPECT_EQ(tp2d.impl_config.at("ff1_ff3").at("output_dtype"), "bfloat8_b");
  EXPECT_EQ(tp2d.impl_config.at("reduction_shards"), 1);
  EXPECT_EQ(tp2d.derived.at("hidden_devices"), 4);
  EXPECT_FALSE(tp2d.derived.contains("axis_devices"));
  const coverage_detail::BlockFacts norm = coverage_detail::describe_block(
      "distributed_rms_norm", {{"dim", 64}, {"mesh", "TG"}, {"axis", 0}}, nlohmann::json::object(),
      "TG", "prefill");
  ASSERT_TRUE(norm.known) << norm.problem;
  EXPECT_EQ(norm.derived.at("mesh"), "TG");
  EXPECT_EQ(norm.derived.at("axis_devices"), 8);
}

// "q_norm" with shape [head_dim] is spelled once, in blocks/attention/kinds.cc: a suite case
// draws it and coverage derives head_dim from the same Spec.
TEST(BlockKindConsumers, QkNormAttentionThroughSuitesAndCoverage) {
  const nlohmann::json spec = {{"hidden_dim", 64},
                               {"num_heads", 4},
                               {"num_kv_heads", 2},
                               {"qk_norm", true},
                               {"rope", {{"head_dim", 16}}}};
  const auto target =
      block_case({.kind = "attention.prefill", .spec = spec, .mode = Mode::prefill});
  const CaseInputs inputs = *target->seeded_inputs({.batch = 1, .seq_len = 3}, {}, 11);
  EXPECT_EQ(inputs.tensor("q_norm").shape(), (Shape{16}));
  EXPECT_EQ(inputs.tensor("k_norm").shape(), (Shape{16}));
  EXPECT_EQ(inputs.tensor("k_cache").shape(), (Shape{1, 2, 32, 16}));
  EXPECT_EQ(inputs.scalars.at("first_slot"), 0);
  // norm_scale: normal(1, weight_std), so every value is near 1.
  EXPECT_NEAR(inputs.tensor("q_norm").at({0}), 1.0, 0.2);

  const coverage_detail::BlockFacts facts = coverage_detail::describe_block(
      "attention", spec, nlohmann::json::object(), "N150", "prefill");
  ASSERT_TRUE(facts.known) << facts.problem;
  EXPECT_EQ(facts.derived.at("head_dim"), 16);
  EXPECT_EQ(facts.derived.at("kv_heads"), 2);
  EXPECT_EQ(facts.derived.at("group_size"), 2);
  EXPECT_EQ(facts.identity, find_block_kind("attention.prefill")->identity(spec));
}

}  // namespace
}  // namespace ttt

// The tp_attention block kind: replay of a prefill call whose x is a mesh tensor (or the
// container x/0, x/1, ...) with the whole weights under attention.prefill's names, its seeded
// input plan (x replicated on the Spec's mesh), its coverage facts, and the refusal of decode.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <variant>

#include "blocks/attention/tp_attention.h"
#include "blocks/common/block_kind.h"
#include "tests/common/tensor_values.h"
#include "validation/mesh/mesh.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using test_support::floats_of;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// 8 heads, 2 KV heads with q/k/v and output biases on T3K: each KV head replicated on 4 devices.
const nlohmann::json kSpec = {{"attention",
                               {{"hidden_dim", 64},
                                {"num_heads", 8},
                                {"num_kv_heads", 2},
                                {"qkv_bias", true},
                                {"output_bias", true},
                                {"rope", {{"head_dim", 8}, {"max_position_embeddings", 64}}}}},
                              {"mesh", "T3K"}};

BlockCall prefill_call(const Tensor& x, bool container) {
  BlockCall call;
  call.kind = "tp_attention";
  call.spec = kSpec;
  call.device = "T3K";
  call.scalars = {{"mode", "prefill"}};
  const Mesh mesh = parse_mesh("T3K");
  if (container) {
    for (int d = 0; d < mesh.size(); ++d) call.inputs.push_back({"x/" + std::to_string(d), x});
  } else {
    call.inputs.push_back({"x", x, std::make_shared<const MeshTensor>(distribute(x, mesh, {}))});
  }
  std::uint64_t seed = 100;
  for (const auto& [name, shape] : {std::pair<const char*, Shape>{"wq", {64, 64}},
                                    {"wk", {64, 16}},
                                    {"wv", {64, 16}},
                                    {"wo", {64, 64}},
                                    {"bq", {64}},
                                    {"bk", {16}},
                                    {"bv", {16}},
                                    {"bo", {64}}}) {
    call.inputs.push_back({name, random_normal(shape, seed++, 0.0, 0.125)});
  }
  return call;
}

TEST(TpAttentionKindTest, ReplaysAPrefillCallFromAMeshTensorOrContainers) {
  const BlockKind* kind = find_block_kind("tp_attention");
  ASSERT_NE(kind, nullptr);
  const Tensor x = random_normal({1, 6, 64}, 7, 0.0, 1.0, DType::bfloat16);
  const BlockCall call = prefill_call(x, false);
  const BoundCall bound = kind->bind(call);
  const Tensor device = bound.run_device()[0].tensor;
  const Tensor reference = bound.run_reference()[0].tensor;
  ASSERT_EQ(device.shape(), (Shape{1, 6, 64}));
  // TTTv1's T3K defaults (bfloat8_b weights, bfloat16 ring reduce-scatter) meet the kind's PCC.
  ASSERT_TRUE(kind->tolerances.has_value());
  EXPECT_GE(compute_metrics(device, reference).pcc, 0.99);
  // The block the call names, run directly on the same whole weights and x.
  AttentionWeights weights{call.input("wq"), call.input("wk"), call.input("wv"), call.input("wo")};
  weights.bq = call.input("bq");
  weights.bk = call.input("bk");
  weights.bv = call.input("bv");
  weights.bo = call.input("bo");
  const auto spec = kSpec.get<TpAttentionSpec>();
  const TpAttention block(spec, default_impl_config(spec, Device::T3K, Mode::prefill), weights);
  EXPECT_EQ(floats_of(device),
            floats_of(compose(block.prefill_forward(distribute(x, spec.mesh, {})))));
  // The goldens' container form gives the same call.
  EXPECT_EQ(floats_of(kind->bind(prefill_call(x, true)).run_device()[0].tensor), floats_of(device));
}

TEST(TpAttentionKindTest, SeededPlanReplicatesXOnTheMesh) {
  const BlockKind* kind = find_block_kind("tp_attention");
  ASSERT_NE(kind, nullptr);
  const ConfiguredBlock block =
      kind->configure(JsonNode(kSpec, "spec"), Device::T3K, Mode::prefill, std::nullopt,
                      JsonNode(nlohmann::json::object(), "impl_config"));
  const InputPlan plan = kind->seeded_inputs(block, Mode::prefill, {.batch = 2, .seq_len = 5});
  const auto& x = std::get<InputRule>(plan.inputs.front());
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.shape, (Shape{2, 5, 64}));
  ASSERT_TRUE(x.mesh.has_value());
  EXPECT_EQ(x.mesh->mesh, (Mesh{1, 8}));
  EXPECT_EQ(x.mesh->placements[1], Placement::replicate());
  EXPECT_FALSE(x.mesh->per_device);
  // Then the weights attention.prefill names: wq, wk, wv, wo, bq, bk, bv, bo.
  ASSERT_EQ(plan.inputs.size(), 9u);
  EXPECT_EQ(std::get<InputRule>(plan.inputs[4]).name, "wo");
  EXPECT_EQ(std::get<InputRule>(plan.inputs[8]).name, "bo");
  const KindFacts facts = kind->facts(block.spec, block.impl_config, Device::T3K, Mode::prefill);
  EXPECT_EQ(facts.derived.at("mesh"), "T3K");
  EXPECT_EQ(facts.derived.at("kv_heads"), 2);
  EXPECT_EQ(facts.derived.at("reduction"), "reduce_scatter");
}

TEST(TpAttentionKindTest, DecodeIsRefusedByName) {
  const BlockKind* kind = find_block_kind("tp_attention");
  ASSERT_NE(kind, nullptr);
  BlockCall call = prefill_call(random_normal({2, 64}, 7, 0.0, 1.0), false);
  call.scalars["mode"] = "decode";
  EXPECT_THAT([&] { kind->bind(call); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp_attention] only prefill calls are replayed and seeded")));
  const ConfiguredBlock block =
      kind->configure(JsonNode(kSpec, "spec"), Device::T3K, Mode::decode, std::nullopt,
                      JsonNode(nlohmann::json::object(), "impl_config"));
  EXPECT_THAT([&] { kind->seeded_inputs(block, Mode::decode, {.batch = 1, .context_len = 4}); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("one KV cache per device")));
}

}  // namespace
}  // namespace ttt

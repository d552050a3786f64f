// The tp_attention block kind: replay of a prefill call whose x is a mesh tensor (or the
// container x/0, x/1, ...) with the whole weights under attention.prefill's names, of a decode
// call with every device's KV cache as the patterns record it, its seeded input plans (x
// replicated on the Spec's mesh; a decode's caches cut per device from the single-device caches),
// its coverage facts, and the refusal of caches laid out otherwise.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

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

// The whole attention's weights under attention.prefill's names, seeded.
void add_weights(BlockCall& call) {
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
}

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
  add_weights(call);
  return call;
}

// Every T3K device's cache of kSpec, as the patterns record it: device p holds the one KV head its
// query heads read, p / 4, of the single-device cache `whole` [batch, 2, seq, 8]; the mesh tensor
// is those 8 caches, shard(1) along the columns.
MeshTensor device_caches(const Tensor& whole) {
  Tensor concatenated({whole.dim(0), 8, whole.dim(2), whole.dim(3)}, whole.dtype());
  for (std::int64_t b = 0; b < whole.dim(0); ++b) {
    for (std::int64_t p = 0; p < 8; ++p) {
      for (std::int64_t s = 0; s < whole.dim(2); ++s) {
        for (std::int64_t d = 0; d < whole.dim(3); ++d) {
          concatenated.set({b, p, s, d}, whole.at({b, p / 4, s, d}));
        }
      }
    }
  }
  return distribute(concatenated, parse_mesh("T3K"), {Placement::replicate(), Placement::shard(1)});
}

// A decode call as the patterns record it: no "mode" scalar (positions make it a decode), x
// replicated, positions, the devices' caches in bfloat16, the whole weights.
BlockCall decode_call(const Tensor& x, const Tensor& positions, const Tensor& k, const Tensor& v) {
  BlockCall call;
  call.kind = "tp_attention";
  call.spec = kSpec;
  call.impl_config = {{"device", {{"kv_cache_dtype", "bfloat16"}}}};
  call.device = "T3K";
  const Mesh mesh = parse_mesh("T3K");
  call.inputs.push_back({"x", x, std::make_shared<const MeshTensor>(distribute(x, mesh, {}))});
  call.inputs.push_back({"positions", positions});
  for (const auto& [name, whole] : {std::pair{"k_cache", k}, std::pair{"v_cache", v}}) {
    const auto caches = std::make_shared<const MeshTensor>(device_caches(whole));
    call.inputs.push_back({name, compose(*caches), caches});
  }
  add_weights(call);
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

TEST(TpAttentionKindTest, ReplaysADecodeCallFromEveryDevicesCache) {
  const BlockKind* kind = find_block_kind("tp_attention");
  ASSERT_NE(kind, nullptr);
  const Tensor x = random_normal({2, 64}, 7, 0.0, 1.0, DType::bfloat16);
  const Tensor positions = Tensor::from_int64({2}, {5, 3});
  const Tensor k = random_normal({2, 2, 8, 8}, 8, 0.0, 1.0, DType::bfloat16);
  const Tensor v = random_normal({2, 2, 8, 8}, 9, 0.0, 1.0, DType::bfloat16);
  const BlockCall call = decode_call(x, positions, k, v);
  const BoundCall bound = kind->bind(call);
  const Tensor device = bound.run_device()[0].tensor;
  const Tensor reference = bound.run_reference()[0].tensor;
  ASSERT_EQ(device.shape(), (Shape{2, 64}));
  EXPECT_GE(compute_metrics(device, reference).pcc, 0.99);

  // The reference is the single-device decode on the whole caches the devices' caches hold.
  AttentionWeights weights{call.input("wq"), call.input("wk"), call.input("wv"), call.input("wo")};
  weights.bq = call.input("bq");
  weights.bk = call.input("bk");
  weights.bv = call.input("bv");
  weights.bo = call.input("bo");
  const auto spec = kSpec.get<TpAttentionSpec>();
  EXPECT_EQ(floats_of(reference),
            floats_of(attention_decode_reference(spec.attention, weights, x, positions, k, v)));
  // The device side is the block itself on copies of the devices' caches, which stay as recorded
  // (a second run gives the same output).
  TpAttentionImplConfig config = default_impl_config(spec, Device::T3K, Mode::decode);
  config.device.kv_cache_dtype = DType::bfloat16;
  const TpAttention block(spec, config, weights);
  const MeshTensor k_caches = device_caches(k), v_caches = device_caches(v);
  std::vector<KVCache> caches;
  for (int d = 0; d < 8; ++d)
    caches.push_back({k_caches.shards[d].clone(), v_caches.shards[d].clone()});
  EXPECT_EQ(
      floats_of(device),
      floats_of(compose(block.decode_forward(distribute(x, spec.mesh, {}), positions, caches))));
  EXPECT_EQ(floats_of(bound.run_device()[0].tensor), floats_of(device));
}

// tp_attention_split_cache cuts the devices' caches the patterns hold out of the single-device
// cache (device_caches above, built element by element), and tp_attention_whole_cache undoes it.
TEST(TpAttentionKindTest, SplitCacheGivesEveryDeviceItsKvHeads) {
  const auto spec = kSpec.get<TpAttentionSpec>();
  const Tensor whole = random_normal({2, 2, 8, 8}, 8, 0.0, 1.0, DType::bfloat16);
  const MeshTensor split = tp_attention_split_cache(spec, whole);
  const MeshTensor expected = device_caches(whole);
  EXPECT_EQ(split.placements, expected.placements);
  ASSERT_EQ(split.shards.size(), 8u);
  for (int d = 0; d < 8; ++d) {
    EXPECT_EQ(split.shards[d].shape(), (Shape{2, 1, 8, 8})) << d;
    EXPECT_EQ(split.shards[d].dtype(), DType::bfloat16) << d;
    EXPECT_EQ(floats_of(split.shards[d]), floats_of(expected.shards[d])) << d;
  }
  EXPECT_EQ(floats_of(tp_attention_whole_cache(spec, compose(split))), floats_of(whole));
  // 8 KV heads on N300: 4 per device, device 1 holding heads 4..7.
  nlohmann::json wide = kSpec;
  wide["attention"]["num_kv_heads"] = 8;
  wide["mesh"] = "N300";
  const Tensor eight = random_normal({1, 8, 4, 8}, 9, 0.0, 1.0);
  const MeshTensor halves = tp_attention_split_cache(wide.get<TpAttentionSpec>(), eight);
  ASSERT_EQ(halves.shards.size(), 2u);
  EXPECT_EQ(halves.shards[1].shape(), (Shape{1, 4, 4, 8}));
  EXPECT_EQ(halves.shards[1].at({0, 0, 2, 3}), eight.at({0, 4, 2, 3}));
  EXPECT_EQ(halves.shards[1].at({0, 3, 1, 7}), eight.at({0, 7, 1, 7}));
  EXPECT_THAT([&] { tp_attention_split_cache(spec, eight); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[tp_attention] a whole KV cache must be [batch, 2, seq, 8], got [1, 8, 4, 8]")));
}

// A seeded decode call is the attention.decode call of the same Spec (x, positions, the caches
// filled to context_len, the weights), with x replicated and each cache cut per device.
TEST(TpAttentionKindTest, SeededDecodePlanCutsTheSingleDeviceCaches) {
  const BlockKind* kind = find_block_kind("tp_attention");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->shape_fields(Mode::decode),
            (std::vector<std::string>{"batch", "context_len"}));
  const ConfiguredBlock block =
      kind->configure(JsonNode(kSpec, "spec"), Device::T3K, Mode::decode, std::nullopt,
                      JsonNode(nlohmann::json::object(), "impl_config"));
  const InputPlan plan = kind->seeded_inputs(block, Mode::decode, {.batch = 2, .context_len = 33});
  ASSERT_EQ(plan.inputs.size(), 12u);  // x, positions, k_cache, v_cache, 8 weights.
  const auto rule = [&](std::size_t i) { return std::get<InputRule>(plan.inputs[i]); };
  EXPECT_EQ(rule(0).name, "x");
  EXPECT_EQ(rule(0).shape, (Shape{2, 64}));
  ASSERT_TRUE(rule(0).mesh.has_value());
  EXPECT_EQ(rule(0).mesh->placements[1], Placement::replicate());
  EXPECT_EQ(rule(1).name, "positions");
  EXPECT_EQ(rule(1).position, 33);
  EXPECT_FALSE(rule(1).mesh.has_value());
  for (const std::size_t i : {2u, 3u}) {
    EXPECT_EQ(rule(i).name, i == 2 ? "k_cache" : "v_cache");
    // 34 positions needed, rounded up to whole tiles of 32.
    EXPECT_EQ(rule(i).shape, (Shape{2, 2, 64, 8}));
    EXPECT_EQ(rule(i).filled, 33);
    ASSERT_TRUE(rule(i).mesh.has_value());
    EXPECT_EQ(rule(i).mesh->placements[1], Placement::shard(1));
    ASSERT_TRUE(rule(i).mesh->layout != nullptr);
    const Tensor whole = random_normal(rule(i).shape, 5, 0.0, 1.0);
    const MeshTensor laid = rule(i).mesh->layout(whole);
    ASSERT_EQ(laid.shards.size(), 8u);
    EXPECT_EQ(laid.shards[5].at({1, 0, 7, 2}), whole.at({1, 1, 7, 2}));  // Device 5: KV head 1.
  }
  EXPECT_EQ(rule(4).name, "wq");
}

TEST(TpAttentionKindTest, DecodeCachesOnAnotherLayoutAreRefused) {
  const BlockKind* kind = find_block_kind("tp_attention");
  ASSERT_NE(kind, nullptr);
  const Tensor k = random_normal({1, 2, 8, 8}, 8, 0.0, 1.0, DType::bfloat16);
  BlockCall call =
      decode_call(random_normal({1, 64}, 7, 0.0, 1.0), Tensor::from_int64({1}, {2}), k, k);
  for (NamedTensor& input : call.inputs) {
    if (input.name == "k_cache") {
      input.mesh =
          std::make_shared<const MeshTensor>(distribute(input.tensor, parse_mesh("T3K"), {}));
    }
  }
  EXPECT_THAT([&] { kind->bind(call); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp_attention] k_cache is placed [replicated, replicated], expected "
                            "[replicated, shard(1)] (each device's KV heads along axis 1)")));
}

}  // namespace
}  // namespace ttt

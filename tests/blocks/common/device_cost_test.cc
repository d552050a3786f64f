// The device cost every block kind declares (BlockKind::cost, docs/cost-model.md), checked
// against bytes and operations computed by hand for small shapes. Tiles are 32 x 32: a tile of
// bfloat16 takes 2048 bytes, of bfloat8_b 1088, of bfloat4_b 576; every dimension is padded to
// a multiple of 32 (a decode call's single token is 32 rows).
#include "blocks/common/device_cost.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "blocks/common/block_kind.h"
#include "validation/input/json_reader.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// The cost of a call of `kind` configured on N150 with `overrides` laid over the defaults.
DeviceCost cost_of(const std::string& kind_name, const nlohmann::json& spec, Mode mode,
                   const CallShapes& shapes, const nlohmann::json& overrides) {
  const BlockKind* kind = find_block_kind(kind_name);
  if (kind == nullptr) throw std::invalid_argument("no kind " + kind_name);
  const ConfiguredBlock block = kind->configure(JsonNode(spec, "spec"), Device::N150, mode,
                                                std::nullopt, JsonNode(overrides, "impl_config"));
  return device_cost(*kind, block, mode, shapes);
}

nlohmann::json matmul(const char* activation, const char* weight, const char* fidelity) {
  return {{"activation_dtype", activation},
          {"weight_dtype", weight},
          {"output_dtype", "bfloat16"},
          {"fidelity", fidelity}};
}

constexpr int kLoFi = 0;
constexpr int kHiFi2 = 1;
constexpr int kHiFi4 = 3;

TEST(DeviceCost, TileBytesPerFormat) {
  EXPECT_EQ(tensor_bytes(DType::bfloat16, 32, 32), 2048);
  EXPECT_EQ(tensor_bytes(DType::bfloat8_b, 32, 32), 1088);  // 1024 mantissas + 64 exponents.
  EXPECT_EQ(tensor_bytes(DType::bfloat4_b, 32, 32), 576);   // 512 + 64.
  EXPECT_EQ(tensor_bytes(DType::float32, 32, 32), 4096);
  EXPECT_EQ(tensor_bytes(DType::bfloat8_b, 33, 64), 4 * 1088);  // 33 rows pad to 64: 2 x 2 tiles.
  EXPECT_EQ(tensor_bytes(DType::int32, 1, 5), 20);              // Ids: no tiles.
  EXPECT_THAT([] { tensor_bytes(DType::float64, 1, 1); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("float64")));
}

TEST(DeviceCost, EveryKindDeclaresACost) {
  for (const BlockKind& kind : block_kinds()) {
    EXPECT_TRUE(kind.cost != nullptr) << kind.name << " declares no device cost";
  }
}

TEST(DeviceCost, AKindWithoutACostIsRefusedByName) {
  BlockKind kind{.name = "no_cost"};
  EXPECT_THAT([&] { device_cost(kind, ConfiguredBlock{}, Mode::decode, CallShapes{}); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("block kind 'no_cost' declares no device cost")));
}

// h = 64, f = 128, one decode token (32 rows); FF1/FF3 bfloat8_b HiFi2, FF2 bfloat4_b LoFi.
const nlohmann::json kGatedMlp = {{"hidden_dim", 64}, {"ffn_dim", 128}};
const nlohmann::json kGatedMlpConfig = {{"ff1_ff3", matmul("bfloat16", "bfloat8_b", "HiFi2")},
                                        {"ff2", matmul("bfloat16", "bfloat4_b", "LoFi")}};

TEST(DeviceCost, GatedMlpDecode) {
  const DeviceCost cost =
      cost_of("gated_mlp", kGatedMlp, Mode::decode, {.batch = 1}, kGatedMlpConfig);
  // W_gate, W_up [64, 128] bfloat8_b: 2 x 4 tiles x 1088 = 8704 each; W_down [128, 64]
  // bfloat4_b: 8 tiles x 576 = 4608.
  EXPECT_EQ(cost.dram_weight_bytes, 2 * 8704 + 4608);
  // x [1, 64] 2 tiles (4096), the [1, 128] hidden written and read (2 x 8192), y 4096.
  EXPECT_EQ(cost.dram_activation_bytes, 4096 + 2 * 8192 + 4096);
  EXPECT_EQ(cost.dram_kv_bytes, 0);
  EXPECT_EQ(cost.matmul_ops[kHiFi2], 2 * (2 * 32 * 64 * 128));  // FF1 and FF3.
  EXPECT_EQ(cost.matmul_ops[kLoFi], 2 * 32 * 128 * 64);         // FF2.
  // SRAM: FF1/FF3 each x 4096 + W 8704 + out 8192; FF2 in 8192 + W 4608 + out 4096.
  EXPECT_EQ(cost.sram_bytes, 2 * (4096 + 8704 + 8192) + (8192 + 4608 + 4096));
  EXPECT_EQ(cost.vector_ops, 2 * 32 * 128);  // Activation and gate multiply over [32, 128].
  EXPECT_EQ(cost.ops, 4);
  EXPECT_EQ(cost.eth_bytes, 0);
  EXPECT_EQ(cost.devices, 1);
}

TEST(DeviceCost, GatedMlpPrefillReadsTheWeightsOncePerChunk) {
  nlohmann::json config = kGatedMlpConfig;
  config["prefill_chunk_rows"] = 32;
  // 64 tokens in chunks of 32: the weights are read twice.
  const DeviceCost cost =
      cost_of("gated_mlp", kGatedMlp, Mode::prefill, {.batch = 1, .seq_len = 64}, config);
  EXPECT_EQ(cost.dram_weight_bytes, 2 * (2 * 8704 + 4608));
  EXPECT_EQ(cost.matmul_ops[kHiFi2], 2 * (2 * 64 * 64 * 128));
}

TEST(DeviceCost, MlpWithBiases) {
  const DeviceCost cost = cost_of("mlp", {{"hidden_dim", 64}, {"ffn_dim", 128}, {"bias", true}},
                                  Mode::decode, {.batch = 1},
                                  {{"ff1", matmul("bfloat16", "bfloat8_b", "HiFi2")},
                                   {"ff2", matmul("bfloat16", "bfloat8_b", "HiFi2")},
                                   {"bias_dtype", "bfloat16"}});
  // W_up, W_down 8704 each; b_up [1, 128] 4 tiles bfloat16 8192, b_down [1, 64] 4096.
  EXPECT_EQ(cost.dram_weight_bytes, 2 * 8704 + 8192 + 4096);
  EXPECT_EQ(cost.matmul_ops[kHiFi2], 2 * (2 * 32 * 64 * 128));
  // Activation over [32, 128]; the biases over [32, 128] and [32, 64].
  EXPECT_EQ(cost.vector_ops, 32 * 128 + 32 * (128 + 64));
  EXPECT_EQ(cost.ops, 3);
}

TEST(DeviceCost, MoeReachesTopKExpertsPerToken) {
  const nlohmann::json expert = {{"ff1_ff3", matmul("bfloat16", "bfloat8_b", "HiFi2")},
                                 {"ff2", matmul("bfloat16", "bfloat8_b", "HiFi2")}};
  const DeviceCost cost = cost_of(
      "moe", {{"hidden_dim", 64}, {"ffn_dim", 32}, {"num_experts", 4}, {"top_k", 2}}, Mode::decode,
      {.batch = 1}, {{"router", matmul("bfloat16", "bfloat16", "HiFi4")}, {"expert", expert}});
  // One token, top 2: 2 experts of one row each. Router [64, 4] bfloat16: 2 tiles, 4096.
  // Each expert: W_gate, W_up [64, 32] 2 tiles x 1088 each, W_down [32, 64] 2176: 6528.
  EXPECT_EQ(cost.dram_weight_bytes, 4096 + 2 * 6528);
  EXPECT_EQ(cost.matmul_ops[kHiFi4], 2 * 32 * 64 * 32);  // Router (4 experts pad to 32).
  EXPECT_EQ(cost.matmul_ops[kHiFi2], 2 * (2 * (2 * 32 * 64 * 32) + 2 * 32 * 32 * 64));
  // Top-k softmax 4 x [32, 32]; per expert 2 x [32, 32]; combine 2 x [32, 64].
  EXPECT_EQ(cost.vector_ops, 4 * 32 * 32 + 2 * (2 * 32 * 32) + 2 * 32 * 64);
  EXPECT_EQ(cost.ops, 2 + 2 * 4 + 1);
}

TEST(DeviceCost, RmsNormAndLayerNorm) {
  const nlohmann::json dtypes = {
      {"activation_dtype", "bfloat16"}, {"weight_dtype", "bfloat16"}, {"output_dtype", "bfloat16"}};
  // 2 users x 3 tokens = 6 rows, padded to 32.
  const DeviceCost rms =
      cost_of("rms_norm", {{"dim", 64}}, Mode::prefill, {.batch = 2, .seq_len = 3}, dtypes);
  EXPECT_EQ(rms.dram_weight_bytes, 4096);             // [1, 64]: 2 tiles.
  EXPECT_EQ(rms.dram_activation_bytes, 4096 + 4096);  // x and y [6, 64].
  EXPECT_EQ(rms.vector_ops, 4 * 32 * 64);
  EXPECT_EQ(rms.ops, 1);
  const DeviceCost layer =
      cost_of("layer_norm", {{"dim", 64}, {"bias", true}}, Mode::decode, {.batch = 1}, dtypes);
  EXPECT_EQ(layer.dram_weight_bytes, 2 * 4096);  // Scale and bias.
  EXPECT_EQ(layer.vector_ops, 6 * 32 * 64);
}

TEST(DeviceCost, Embedding) {
  const nlohmann::json dtypes = {{"weight_dtype", "bfloat16"}, {"output_dtype", "bfloat16"}};
  const DeviceCost plain = cost_of("embedding", {{"vocab_size", 100}, {"hidden_dim", 64}},
                                   Mode::decode, {.batch = 1, .context_len = 5}, dtypes);
  EXPECT_EQ(plain.dram_weight_bytes, 4096);          // One row, as a [1, 64] tile row.
  EXPECT_EQ(plain.dram_activation_bytes, 4 + 4096);  // One int32 id; y.
  EXPECT_EQ(plain.vector_ops, 0);
  EXPECT_EQ(plain.ops, 1);
  const DeviceCost learned = cost_of("embedding",
                                     {{"vocab_size", 100},
                                      {"hidden_dim", 64},
                                      {"scale", 2.0},
                                      {"positions", "learned"},
                                      {"max_positions", 16}},
                                     Mode::prefill, {.batch = 1, .seq_len = 4}, dtypes);
  EXPECT_EQ(learned.dram_weight_bytes, 2 * 4096);  // Token and position rows.
  EXPECT_EQ(learned.dram_activation_bytes, 16 + 4096);
  EXPECT_EQ(learned.vector_ops, 2 * 32 * 64);  // The scale, the position addition.
  EXPECT_EQ(learned.ops, 3);
}

TEST(DeviceCost, LmHead) {
  const DeviceCost cost = cost_of(
      "lm_head", {{"hidden_dim", 64}, {"vocab_size", 100}, {"logit_softcap", 30.0}}, Mode::decode,
      {.batch = 1}, {{"matmul", matmul("bfloat16", "bfloat8_b", "HiFi2")}, {"vocab_chunk", 64}});
  EXPECT_EQ(cost.dram_weight_bytes, 8 * 1088);         // [64, 100]: 2 x 4 tiles.
  EXPECT_EQ(cost.dram_activation_bytes, 4096 + 8192);  // x; logits [1, 100]: 4 tiles.
  EXPECT_EQ(cost.matmul_ops[kHiFi2], 2 * 32 * 64 * 128);
  EXPECT_EQ(cost.vector_ops, 3 * 32 * 128);  // Softcap.
  EXPECT_EQ(cost.ops, 2);                    // 100 columns in chunks of 64.
}

// hidden 64, 4 query heads and 2 KV heads of 16 (q = 64, kv = 32, fused QKV width 128).
const nlohmann::json kAttention = {
    {"hidden_dim", 64}, {"num_heads", 4}, {"num_kv_heads", 2}, {"rope", {{"head_dim", 16}}}};
const nlohmann::json kAttentionConfig = {{"qkv", matmul("bfloat16", "bfloat8_b", "HiFi2")},
                                         {"output", matmul("bfloat16", "bfloat8_b", "HiFi2")},
                                         {"kv_cache_dtype", "bfloat8_b"},
                                         {"query_dtype", "bfloat16"},
                                         {"probs_dtype", "bfloat16"},
                                         {"sdpa_fidelity", "HiFi2"}};

TEST(DeviceCost, AttentionDecode) {
  // Context 40: 41 positions attended (padded to 64).
  const DeviceCost cost = cost_of("attention.decode", kAttention, Mode::decode,
                                  {.batch = 1, .context_len = 40}, kAttentionConfig);
  // W_qkv [64, 128]: 8 tiles; W_o [64, 64]: 4 tiles; bfloat8_b.
  EXPECT_EQ(cost.dram_weight_bytes, 8 * 1088 + 4 * 1088);
  // x 4096; qkv [1, 128] written and read 2 x 8192; q and the attention output [1, 64] 2 x 4096;
  // y 4096.
  EXPECT_EQ(cost.dram_activation_bytes, 4096 + 2 * 8192 + 2 * 4096 + 4096);
  // Per KV head, K and V: [41, 16] cached (2 tiles) and one new row (1 tile), bfloat8_b.
  EXPECT_EQ(cost.dram_kv_bytes, 2 * 2 * (2 * 1088 + 1088));
  // QKV and output; per KV head the 2 grouped query rows (32) against 41 positions (64) with
  // head_dim 16 (32): scores and values.
  EXPECT_EQ(cost.matmul_ops[kHiFi2],
            2 * 32 * 64 * 128 + 2 * 32 * 64 * 64 + 2 * (2 * 32 * 32 * 64) + 2 * (2 * 32 * 64 * 32));
  // Softmax 4 passes over 2 x [32, 64]; rotary 3 passes over q and k [32, 96].
  EXPECT_EQ(cost.vector_ops, 4 * 2 * 32 * 64 + 3 * 32 * 96);
  EXPECT_EQ(cost.ops, 9);
}

TEST(DeviceCost, AttentionPrefillWritesTheCache) {
  const DeviceCost cost = cost_of("attention.prefill", kAttention, Mode::prefill,
                                  {.batch = 1, .seq_len = 8}, kAttentionConfig);
  // K and V of 2 heads, [8, 16] each: one tile each.
  EXPECT_EQ(cost.dram_kv_bytes, 2 * 2 * 1088);
  // Per query head (4): scores [8, 16] x [16, 8] and values [8, 8] x [8, 16], padded to 32.
  EXPECT_EQ(cost.matmul_ops[kHiFi2],
            2 * 32 * 64 * 128 + 2 * 32 * 64 * 64 + 4 * (2 * 32 * 32 * 32) + 4 * (2 * 32 * 32 * 32));
}

const nlohmann::json kReduceCcl = {{"num_links", 1}, {"reduce_dtype", "bfloat16"}};

TEST(DeviceCost, TpGatedMlpAddsItsReduction) {
  const DeviceCost cost =
      cost_of("tp_gated_mlp", {{"mlp", kGatedMlp}, {"mesh", "1x2"}, {"axis", 1}}, Mode::decode,
              {.batch = 1},
              {{"device", kGatedMlpConfig}, {"reduction", "reduce_scatter"}, {"ccl", kReduceCcl}});
  // Each device: ffn 64. W_gate, W_up [64, 64] 4 tiles x 1088; W_down [64, 64] 4 x 576.
  EXPECT_EQ(cost.dram_weight_bytes, 2 * 4352 + 2304);
  // The gated MLP's x 4096, hidden 2 x 4096, y 4096; the reduce-scatter reads the [1, 64]
  // partial (4096) and writes its half (2048).
  EXPECT_EQ(cost.dram_activation_bytes, 4096 + 2 * 4096 + 4096 + 4096 + 2048);
  EXPECT_EQ(cost.eth_bytes, 2048);  // (n - 1) / n of 4096.
  EXPECT_EQ(cost.eth_steps, 1);
  EXPECT_EQ(cost.eth_links, 1);
  EXPECT_EQ(cost.vector_ops, 2 * 32 * 64 + 32 * 64 / 2);  // Activation, gate; half the adds.
  EXPECT_EQ(cost.ops, 5);
  EXPECT_EQ(cost.devices, 2);
}

TEST(DeviceCost, TpAttentionRunsItsHeadsThenReduces) {
  const DeviceCost cost =
      cost_of("tp_attention", {{"attention", kAttention}, {"mesh", "1x2"}, {"axis", 1}},
              Mode::decode, {.batch = 1, .context_len = 40},
              {{"device", kAttentionConfig}, {"reduction", "reduce_scatter"}, {"ccl", kReduceCcl}});
  // Each device: 2 query heads, 1 KV head of 16 (q = 32, kv = 16). W_qkv [64, 64] 4 tiles, W_o
  // [32, 64] 2 tiles, bfloat8_b.
  EXPECT_EQ(cost.dram_weight_bytes, 4 * 1088 + 2 * 1088);
  EXPECT_EQ(cost.dram_kv_bytes, 2 * (2 * 1088 + 1088));  // K and V of its one KV head.
  // QKV [32, 64] x [64, 64]; output [32, 32] x [32, 64]; scores and values of one KV head.
  EXPECT_EQ(cost.matmul_ops[kHiFi2],
            2 * 32 * 64 * 64 + 2 * 32 * 32 * 64 + 2 * 32 * 32 * 64 + 2 * 32 * 64 * 32);
  EXPECT_EQ(cost.eth_bytes, 2048);  // Half of the [1, 64] bfloat16 partial (4096).
  EXPECT_EQ(cost.ops, 10);
  EXPECT_EQ(cost.devices, 2);
}

TEST(DeviceCost, TpEmbeddingGathersWhenAsked) {
  const DeviceCost cost = cost_of(
      "tp_embedding",
      {{"embedding", {{"vocab_size", 100}, {"hidden_dim", 64}}}, {"mesh", "1x2"}, {"axis", 1}},
      Mode::decode, {.batch = 1, .context_len = 5},
      {{"device", {{"weight_dtype", "bfloat16"}, {"output_dtype", "bfloat16"}}},
       {"all_gather", true},
       {"ccl", {{"num_links", 1}}}});
  EXPECT_EQ(cost.dram_weight_bytes, 2048);  // Its 32 columns of one row: one tile.
  // The id (4), its [1, 32] output (2048); the all-gather reads it (2048), writes [1, 64] (4096).
  EXPECT_EQ(cost.dram_activation_bytes, 4 + 2048 + 2048 + 4096);
  EXPECT_EQ(cost.eth_bytes, 2048);
  EXPECT_EQ(cost.ops, 2);
}

TEST(DeviceCost, EpMoeSpreadsTheExperts) {
  const nlohmann::json expert = {{"ff1_ff3", matmul("bfloat16", "bfloat8_b", "HiFi2")},
                                 {"ff2", matmul("bfloat16", "bfloat8_b", "HiFi2")}};
  const DeviceCost cost = cost_of(
      "ep_moe",
      {{"moe", {{"hidden_dim", 64}, {"ffn_dim", 32}, {"num_experts", 4}, {"top_k", 2}}},
       {"mesh", "1x2"},
       {"axis", 1}},
      Mode::decode, {.batch = 1},
      {{"device", {{"router", matmul("bfloat16", "bfloat16", "HiFi4")}, {"expert", expert}}},
       {"reduction", "all_reduce"},
       {"ccl", kReduceCcl}});
  // Each device holds 2 experts, both reached by the token's top 2: router [64, 2] (2 tiles,
  // 4096) and 2 experts of 6528 bytes (as MoeReachesTopKExpertsPerToken).
  EXPECT_EQ(cost.dram_weight_bytes, 4096 + 2 * 6528);
  EXPECT_EQ(cost.eth_bytes, 2 * 2048);  // All-reduce of [1, 64]: twice half of 4096.
  EXPECT_EQ(cost.eth_steps, 2);
}

TEST(DeviceCost, Tp2dGatedMlpReducesOverBothAxes) {
  const nlohmann::json ccl = kReduceCcl;
  const DeviceCost cost =
      cost_of("tp2d_gated_mlp", {{"mlp", kGatedMlp}, {"mesh", "2x2"}, {"hidden_axis", 1}},
              Mode::decode, {.batch = 1},
              {{"ff1_ff3", matmul("bfloat16", "bfloat8_b", "HiFi2")},
               {"ff2", matmul("bfloat16", "bfloat4_b", "LoFi")},
               {"ff1_ccl", ccl},
               {"ff2_ccl", ccl}});
  // Each device: hidden 32, ffn 64. W_gate, W_up [32, 64] 2 tiles x 1088; W_down [64, 32] 2 x 576.
  EXPECT_EQ(cost.dram_weight_bytes, 2 * 2176 + 1152);
  EXPECT_EQ(cost.matmul_ops[kHiFi2], 2 * (2 * 32 * 32 * 64));
  EXPECT_EQ(cost.matmul_ops[kLoFi], 2 * 32 * 64 * 32);
  // Gate and up partials [1, 64] (4096) all-reduced over 2: 4096 each; FF2's [1, 32] (2048): 2048.
  EXPECT_EQ(cost.eth_bytes, 2 * 4096 + 2048);
  EXPECT_EQ(cost.eth_steps, 3 * 2);
  EXPECT_EQ(cost.devices, 4);
}

TEST(DeviceCost, BroadcastForwardsTheWholeTensor) {
  const DeviceCost cost = cost_of("broadcast", {{"mesh", "1x4"}, {"axis", 1}, {"root", 0}},
                                  Mode::prefill, {.batch = 1, .seq_len = 32, .width = 64},
                                  {{"num_links", 1}, {"output_dtype", "bfloat16"}});
  EXPECT_EQ(cost.eth_bytes, 4096);  // [32, 64] bfloat16: 2 tiles.
  EXPECT_EQ(cost.eth_steps, 3);
  EXPECT_EQ(cost.dram_activation_bytes, 2 * 4096);
}

TEST(DeviceCost, TpLmHeadGathersTheLogits) {
  const DeviceCost cost = cost_of(
      "tp_lm_head",
      {{"lm_head", {{"hidden_dim", 64}, {"vocab_size", 128}}}, {"mesh", "1x2"}, {"axis", 1}},
      Mode::decode, {.batch = 1},
      {{"device", {{"matmul", matmul("bfloat16", "bfloat8_b", "HiFi2")}}},
       {"ccl", {{"num_links", 1}, {"output_dtype", "bfloat16"}}}});
  EXPECT_EQ(cost.dram_weight_bytes, 4 * 1088);  // [64, 64] per device.
  // x 4096, its logits [1, 64] 4096; the all-gather reads them (4096), writes [1, 128] (8192).
  EXPECT_EQ(cost.dram_activation_bytes, 4096 + 4096 + 4096 + 8192);
  EXPECT_EQ(cost.eth_bytes, 4096);  // Half of the 8192 gathered.
  EXPECT_EQ(cost.matmul_ops[kHiFi2], 2 * 32 * 64 * 64);
  EXPECT_EQ(cost.ops, 2);
}

TEST(DeviceCost, CollectivesMoveTheCallsWidth) {
  // 32 tokens x 128 in bfloat16: 4 tiles, 8192 bytes; 4 devices, 2 links.
  const DeviceCost gather = cost_of("all_gather", {{"mesh", "1x4"}, {"axis", 1}, {"dim", 1}},
                                    Mode::prefill, {.batch = 1, .seq_len = 32, .width = 128},
                                    {{"num_links", 2}, {"output_dtype", "bfloat16"}});
  EXPECT_EQ(gather.eth_bytes, 8192 * 3 / 4);
  EXPECT_EQ(gather.eth_steps, 3);
  EXPECT_EQ(gather.eth_links, 2);
  EXPECT_EQ(gather.dram_activation_bytes, 2048 + 8192);  // Its quarter in, the whole out.
  EXPECT_EQ(gather.devices, 4);
  // All-reduce of [32, 64] partials in bfloat8_b (2 tiles, 2176 bytes) over 2 devices.
  const DeviceCost reduce = cost_of("all_reduce", {{"mesh", "1x2"}, {"axis", 1}, {"dim", 1}},
                                    Mode::prefill, {.batch = 1, .seq_len = 32, .width = 64},
                                    {{"num_links", 1}, {"reduce_dtype", "bfloat8_b"}});
  EXPECT_EQ(reduce.eth_bytes, 2 * 1088);  // Reduce-scatter and all-gather: half each.
  EXPECT_EQ(reduce.eth_steps, 2);
  EXPECT_EQ(reduce.vector_ops, 32 * 64 / 2);
  EXPECT_EQ(reduce.dram_activation_bytes, 2 * 2176);
}

TEST(DeviceCost, ACollectiveWithoutAWidthIsRefused) {
  EXPECT_THAT(
      [] {
        cost_of("reduce_scatter", {{"mesh", "1x2"}, {"axis", 1}, {"dim", 1}}, Mode::decode,
                {.batch = 1}, nlohmann::json::object());
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[reduce_scatter] the device cost needs "
                                                     "shapes.width")));
}

TEST(DeviceCost, DistributedRmsNormGathersStatistics) {
  const DeviceCost cost =
      cost_of("distributed_rms_norm", {{"dim", 128}, {"mesh", "1x2"}, {"axis", 1}}, Mode::decode,
              {.batch = 1},
              {{"activation_dtype", "bfloat16"},
               {"weight_dtype", "bfloat16"},
               {"output_dtype", "bfloat16"},
               {"stats_dtype", "bfloat16"},
               {"all_gather", {{"num_links", 1}}}});
  // Each device: 64 columns. Weight [1, 64] 4096; x and y [1, 64] 4096 each; the all-gather of
  // the [1, 64] statistics (one 32-wide tile per device): reads 2048, writes 4096.
  EXPECT_EQ(cost.dram_weight_bytes, 4096);
  EXPECT_EQ(cost.dram_activation_bytes, 4096 + 4096 + 2048 + 4096);
  EXPECT_EQ(cost.eth_bytes, 2048);
  EXPECT_EQ(cost.vector_ops, 4 * 32 * 64);
  EXPECT_EQ(cost.ops, 3);
}

TEST(DeviceCost, RopeNeedsTheWidth) {
  const nlohmann::json dtypes = {{"table_dtype", "bfloat16"}, {"activation_dtype", "bfloat16"}};
  const DeviceCost cost =
      cost_of("rope", {{"head_dim", 16}}, Mode::decode, {.batch = 1, .width = 64}, dtypes);
  EXPECT_EQ(cost.dram_weight_bytes, 2 * 2048);  // cos and sin rows [1, 16]: a tile each.
  EXPECT_EQ(cost.dram_activation_bytes, 2 * 4096);
  EXPECT_EQ(cost.vector_ops, 3 * 32 * 64);
  EXPECT_THAT(
      [&] {
        cost_of("rope", {{"head_dim", 16}}, Mode::decode, {.batch = 1}, dtypes);
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[rope] the device cost needs")));
}

TEST(DeviceCost, BadShapesAreErrors) {
  EXPECT_THAT([] { cost_of("gated_mlp", kGatedMlp, Mode::prefill, {.batch = 1}, kGatedMlpConfig); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("seq_len")));
}

}  // namespace
}  // namespace ttt

// Replay registration of embedding, rope, attention.prefill and attention.decode: each kind binds
// its documented inputs, runs device and reference, and names what is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "blocks/attention/attention.h"
#include "blocks/embeddings/embedding.h"
#include "blocks/registration.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::ThrowsMessage;

double replay_pcc(const BlockRegistry& registry, const BlockCall& call) {
  const BoundCall bound = registry.find(call.kind)->bind(call);
  const std::vector<NamedTensor> device = bound.run_device();
  const std::vector<NamedTensor> reference = bound.run_reference();
  EXPECT_EQ(device.at(0).name, "y");
  return compute_metrics(device.at(0).tensor, reference.at(0).tensor).pcc;
}

AttentionSpec small_qwen2() {
  AttentionSpec spec;
  spec.hidden_dim = 512;
  spec.num_heads = 8;
  spec.num_kv_heads = 2;
  spec.qkv_bias = true;
  spec.rope.head_dim = 64;
  spec.rope.theta = 1e6;
  return spec;
}

std::vector<NamedTensor> weight_inputs(const AttentionSpec& spec) {
  const std::int64_t q = spec.num_heads * spec.dim_per_head();
  const std::int64_t kv = spec.kv_heads() * spec.dim_per_head();
  const double in_std = 1.0 / std::sqrt(static_cast<double>(spec.hidden_dim));
  return {
      {"wq", random_normal({spec.hidden_dim, q}, 1, 0.0, in_std)},
      {"wk", random_normal({spec.hidden_dim, kv}, 2, 0.0, in_std)},
      {"wv", random_normal({spec.hidden_dim, kv}, 3, 0.0, in_std)},
      {"wo", random_normal({q, spec.hidden_dim}, 4, 0.0, 1.0 / std::sqrt(static_cast<double>(q)))},
      {"bq", random_normal({q}, 5, 0.0, 0.1)},
      {"bk", random_normal({kv}, 6, 0.0, 0.1)},
      {"bv", random_normal({kv}, 7, 0.0, 0.1)}};
}

TEST(AttentionReplayTest, KindsAreRegistered) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  EXPECT_THAT(registry.kinds(),
              IsSupersetOf({"embedding", "rope", "attention.prefill", "attention.decode"}));
  EXPECT_EQ(registry.find("attention.decode")->tolerances.value_or(Tolerances{}).pcc, 0.99);
  // RoPE and embeddings are judged by the dtype-aware default (default_tolerances).
  EXPECT_FALSE(registry.find("rope")->tolerances.has_value());
  EXPECT_FALSE(registry.find("embedding")->tolerances.has_value());
}

TEST(AttentionReplayTest, PrefillAndDecodeReplayWithoutTouchingTheCallsCache) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  const AttentionSpec spec = small_qwen2();
  BlockCall prefill;
  prefill.kind = "attention.prefill";
  prefill.spec = spec;
  prefill.device = "N300";
  prefill.inputs = weight_inputs(spec);
  prefill.inputs.push_back({"x", random_normal({1, 12, 512}, 8)});
  EXPECT_GE(replay_pcc(registry, prefill), 0.99);

  // A decode call as a model would capture it: a cache filled by an earlier prefill.
  const AttentionImplConfig config = default_impl_config(spec, Device::N300, Mode::decode);
  AttentionWeights weights;
  for (const NamedTensor& input : weight_inputs(spec)) {
    if (input.name == "wq") weights.wq = input.tensor;
    if (input.name == "wk") weights.wk = input.tensor;
    if (input.name == "wv") weights.wv = input.tensor;
    if (input.name == "wo") weights.wo = input.tensor;
    if (input.name == "bq") weights.bq = input.tensor;
    if (input.name == "bk") weights.bk = input.tensor;
    if (input.name == "bv") weights.bv = input.tensor;
  }
  KVCache cache = make_kv_cache(spec, config, 2, 32);
  Attention(spec, config, weights).prefill_forward(random_normal({2, 10, 512}, 9), &cache);
  const Tensor k_before = cache.k.clone();
  BlockCall decode;
  decode.kind = "attention.decode";
  decode.spec = spec;
  decode.impl_config = config;
  decode.device = "N300";
  decode.inputs = weight_inputs(spec);
  decode.inputs.push_back({"x", random_normal({2, 512}, 10)});
  decode.inputs.push_back({"positions", Tensor::from_int64({2}, {10, 4})});
  decode.inputs.push_back({"k_cache", cache.k});
  decode.inputs.push_back({"v_cache", cache.v});
  EXPECT_GE(replay_pcc(registry, decode), 0.99);
  EXPECT_EQ(compute_metrics(cache.k, k_before).max_abs_error, 0.0);

  decode.inputs.erase(decode.inputs.begin());  // Drop wq.
  EXPECT_THAT([&] { registry.find("attention.decode")->bind(decode); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("missing input 'wq'")));
}

TEST(AttentionReplayTest, EmbeddingAndRopeReplay) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  EmbeddingSpec gpt2{1000, 768, 1.0, PositionEmbedding::learned, 1024, 10000.0};
  BlockCall embedding;
  embedding.kind = "embedding";
  embedding.spec = gpt2;
  embedding.inputs = {{"ids", random_integers({2, 7}, 1, 0, 1000)},
                      {"token_weight", random_normal({1000, 768}, 2, 0.0, 0.02)},
                      {"position_weight", random_normal({1024, 768}, 3, 0.0, 0.01)}};
  EXPECT_GE(replay_pcc(registry, embedding), 0.9999);
  embedding.inputs[0] = {"ids", random_integers({3}, 4, 0, 1000)};
  embedding.inputs.push_back({"positions", Tensor::from_int64({3}, {0, 500, 1023})});
  EXPECT_GE(replay_pcc(registry, embedding), 0.9999);

  BlockCall rope;
  rope.kind = "rope";
  rope.spec = {{"head_dim", 128},
               {"theta", 500000.0},
               {"scaling", "llama3"},
               {"factor", 8.0},
               {"original_max_position_embeddings", 8192},
               {"max_position_embeddings", 131072}};
  rope.inputs = {{"x", random_normal({5, 8, 128}, 5)},
                 {"positions", Tensor::from_int64({5}, {0, 1, 2, 3000, 8000})}};
  EXPECT_GE(replay_pcc(registry, rope), 0.9999);
  rope.spec["scaling"] = "ntk";
  EXPECT_THAT([&] { registry.find("rope")->bind(rope); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("unknown rope scaling 'ntk'")));
}

}  // namespace
}  // namespace ttt

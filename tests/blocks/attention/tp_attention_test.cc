// The tensor-parallel attention: which heads each device holds (GQA with fewer KV heads than
// devices: KV replicated), bit equality with the single-device block on 1x1, float32 partial
// sums within float32 rounding of the single-device block on 1x2 and 1x8 (prefill and decode
// with per-device KV caches), the sum of hand-cut per-device blocks, TTTv1's bfloat16 defaults
// against the reference, JSON and bad input.
#include "blocks/attention/tp_attention.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/blocks/common/accuracy.h"
#include "tests/common/tensor_values.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using test_support::cut;
using test_support::floats_of;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_blocks::expect_accuracy;

constexpr MatmulConfig kFloat32{DType::float32, DType::float32, DType::float32, MathFidelity::HiFi4,
                                Accumulation::fp32};

// hidden 64, 8 query heads, `kv` KV heads of dimension 8, with q/k/v and output biases and q/k
// norms (each must reach the right device: biases sliced as their weights, bo once, norms whole).
AttentionSpec small_spec(std::int64_t kv) {
  AttentionSpec spec;
  spec.hidden_dim = 64;
  spec.num_heads = 8;
  spec.num_kv_heads = kv;
  spec.qkv_bias = true;
  spec.output_bias = true;
  spec.qk_norm = true;
  spec.rope.head_dim = 8;
  spec.rope.max_position_embeddings = 64;
  return spec;
}

AttentionWeights seeded_weights(const AttentionSpec& spec) {
  const std::int64_t q_width = spec.num_heads * spec.dim_per_head();
  const std::int64_t kv_width = spec.kv_heads() * spec.dim_per_head();
  AttentionWeights w{random_normal({spec.hidden_dim, q_width}, 11, 0.0, 0.125),
                     random_normal({spec.hidden_dim, kv_width}, 12, 0.0, 0.125),
                     random_normal({spec.hidden_dim, kv_width}, 13, 0.0, 0.125),
                     random_normal({q_width, spec.hidden_dim}, 14, 0.0, 0.125)};
  w.bq = random_normal({q_width}, 15, 0.0, 0.2);
  w.bk = random_normal({kv_width}, 16, 0.0, 0.2);
  w.bv = random_normal({kv_width}, 17, 0.0, 0.2);
  w.bo = random_normal({spec.hidden_dim}, 18, 0.0, 0.05);
  w.q_norm = random_uniform({spec.dim_per_head()}, 19, 0.5, 1.5);
  w.k_norm = random_uniform({spec.dim_per_head()}, 20, 0.5, 1.5);
  return w;
}

AttentionImplConfig float32_config() {
  AttentionImplConfig config;
  config.qkv = kFloat32;
  config.output = kFloat32;
  config.kv_cache_dtype = DType::float32;
  config.query_dtype = DType::float32;
  config.probs_dtype = DType::float32;
  config.sdpa_fidelity = MathFidelity::HiFi4;
  config.bias_dtype = DType::float32;
  return config;
}

TpAttentionImplConfig tp_float32_config(const TpAttentionSpec& spec) {
  TpAttentionImplConfig config = default_impl_config(spec, Device::N150, Mode::prefill);
  config.device = float32_config();
  config.reduction = TpReduction::all_reduce;
  config.ccl.topology = Topology::line;
  config.ccl.reduce_dtype = DType::float32;
  config.ccl.output_dtype = DType::float32;
  return config;
}

// |a - b| <= tolerance * (1 + |b|) everywhere: float32 roundings of sums of a few terms of
// magnitude about 1 (the two sides add the same partials in another grouping).
void expect_float32_close(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.floats()[i], y = b.floats()[i];
    EXPECT_LE(std::abs(x - y), 1e-5 * (1.0 + std::abs(y))) << what << " element " << i;
  }
}

TEST(TpAttentionTest, HandCheckedHeadsPerDevice) {
  // T3K (8 devices), 32 query heads and 8 KV heads: device i holds query heads 4i..4i+3 and KV
  // head i (query head h reads KV head h / 4).
  AttentionSpec attention = small_spec(8);
  attention.num_heads = 32;
  attention.hidden_dim = 256;
  const TpAttentionSpec split{attention, parse_mesh("T3K")};
  for (int p = 0; p < 8; ++p) {
    EXPECT_EQ(split.device_spec(p).num_heads, 4);
    EXPECT_EQ(split.device_spec(p).kv_heads(), 1);
    EXPECT_EQ(split.device_spec(p).dim_per_head(), 8);
    EXPECT_EQ(split.first_kv_head(p), p);
  }
  // 8 query heads, 2 KV heads on 8 devices: one query head each; heads 0-3 read KV head 0, 4-7
  // KV head 1, so devices 0-3 hold (a copy of) KV head 0 and devices 4-7 KV head 1.
  const TpAttentionSpec replicated{small_spec(2), parse_mesh("T3K")};
  for (int p = 0; p < 8; ++p) {
    EXPECT_EQ(replicated.device_spec(p).num_heads, 1);
    EXPECT_EQ(replicated.device_spec(p).kv_heads(), 1);
    EXPECT_EQ(replicated.first_kv_head(p), p < 4 ? 0 : 1) << p;
    EXPECT_EQ(replicated.device_spec(p).output_bias, p == 0) << "bo is added once";
  }
  // MHA 8 heads on N300: 4 query heads and 4 KV heads each, KV heads 0-3 and 4-7.
  const TpAttentionSpec mha{small_spec(0), parse_mesh("N300")};
  EXPECT_EQ(mha.device_spec(1).num_heads, 4);
  EXPECT_EQ(mha.device_spec(1).kv_heads(), 4);
  EXPECT_EQ(mha.first_kv_head(1), 4);
}

// The mesh output equals the sum of single-device attentions run on weights cut here by hand
// (device p: Wq/bq columns and Wo rows of its query head, Wk/Wv/bk/bv columns of KV head p / 4,
// bo on device 0 only), in float32: a device holding another head's columns changes the sum.
TEST(TpAttentionTest, EqualsTheSumOfHandCutDevices) {
  const TpAttentionSpec spec{small_spec(2), parse_mesh("T3K")};
  const AttentionWeights weights = seeded_weights(spec.attention);
  const Tensor x = random_normal({2, 5, 64}, 21);
  const Tensor y = compose(TpAttention(spec, tp_float32_config(spec), weights)
                               .prefill_forward(distribute(x, spec.mesh, {})));
  std::vector<double> sum(static_cast<std::size_t>(x.numel()), 0.0);
  for (std::int64_t p = 0; p < 8; ++p) {
    const std::int64_t kv = p / 4;
    AttentionWeights cut_weights{
        cut(weights.wq.load(), 1, p * 8, 8), cut(weights.wk.load(), 1, kv * 8, 8),
        cut(weights.wv.load(), 1, kv * 8, 8), cut(weights.wo.load(), 0, p * 8, 8)};
    cut_weights.bq = cut(weights.bq.load(), 0, p * 8, 8);
    cut_weights.bk = cut(weights.bk.load(), 0, kv * 8, 8);
    cut_weights.bv = cut(weights.bv.load(), 0, kv * 8, 8);
    if (p == 0) cut_weights.bo = weights.bo;
    cut_weights.q_norm = weights.q_norm;
    cut_weights.k_norm = weights.k_norm;
    AttentionSpec one = spec.attention;
    one.num_heads = 1;
    one.num_kv_heads = 1;
    one.head_dim = 8;
    one.output_bias = p == 0;
    const Tensor part = Attention(one, float32_config(), cut_weights).prefill_forward(x);
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += part.floats()[i];
  }
  std::vector<float> expected(sum.begin(), sum.end());
  expect_float32_close(y, Tensor::from_floats(x.shape(), expected), "hand-cut sum");
}

TEST(TpAttentionTest, OneDeviceEqualsTheSingleDeviceBlockBitForBit) {
  const TpAttentionSpec spec{small_spec(2), parse_mesh("N150")};
  const AttentionWeights weights = seeded_weights(spec.attention);
  const Attention single(spec.attention,
                         default_impl_config(spec.attention, Device::N150, Mode::prefill), weights);
  const TpAttention tp(spec, default_impl_config(spec, Device::N150, Mode::prefill), weights);
  const Tensor prompt = random_normal({2, 5, 64}, 22);
  KVCache cache = make_kv_cache(spec.attention, single.config(), 2, 8);
  std::vector<KVCache> caches = make_kv_caches(spec, tp.config(), 2, 8);
  const Tensor y = compose(tp.prefill_forward(distribute(prompt, spec.mesh, {}), &caches));
  const Tensor expected = single.prefill_forward(prompt, &cache);
  EXPECT_EQ(y.dtype(), expected.dtype());
  EXPECT_EQ(y.shape(), expected.shape());
  EXPECT_EQ(floats_of(y), floats_of(expected));
  EXPECT_EQ(floats_of(caches[0].k), floats_of(cache.k));

  const Tensor token = random_normal({2, 64}, 23);
  const Tensor positions = Tensor::from_int64({2}, {5, 5});
  EXPECT_EQ(
      floats_of(compose(tp.decode_forward(distribute(token, spec.mesh, {}), positions, caches))),
      floats_of(single.decode_forward(token, positions, cache)));
}

// Line order and float32 partial sums: the mesh reproduces the float32 single-device block up to
// float32 rounding, in prefill (filling per-device caches) and in the decode step after it, with
// KV heads split (N300, MHA) and replicated (T3K, 2 KV heads).
TEST(TpAttentionTest, Float32PartialSumsMatchTheSingleDeviceBlock) {
  for (const auto& [mesh, kv] :
       {std::pair{"N300", std::int64_t{0}}, std::pair{"N300", std::int64_t{2}},
        std::pair{"T3K", std::int64_t{2}}, std::pair{"T3K", std::int64_t{8}}}) {
    const TpAttentionSpec spec{small_spec(kv), parse_mesh(mesh)};
    const AttentionWeights weights = seeded_weights(spec.attention);
    const Attention single(spec.attention, float32_config(), weights);
    const TpAttention tp(spec, tp_float32_config(spec), weights);
    const Tensor prompt = random_normal({2, 6, 64}, 31);
    KVCache cache = make_kv_cache(spec.attention, single.config(), 2, 8);
    std::vector<KVCache> caches = make_kv_caches(spec, tp.config(), 2, 8);
    const std::string what = spec.identity();
    expect_float32_close(compose(tp.prefill_forward(distribute(prompt, spec.mesh, {}), &caches)),
                         single.prefill_forward(prompt, &cache), what + " prefill");
    const Tensor token = random_normal({2, 64}, 32);
    const Tensor positions = Tensor::from_int64({2}, {6, 6});
    expect_float32_close(
        compose(tp.decode_forward(distribute(token, spec.mesh, {}), positions, caches)),
        single.decode_forward(token, positions, cache), what + " decode");
  }
}

// TTTv1's defaults (bfloat8_b weights and KV cache, bfloat16 partial sums, ring on T3K,
// reduce-scatter along hidden) pass the block's tolerance against the float64 reference.
TEST(TpAttentionTest, DefaultsPassAgainstTheReference) {
  for (const auto& [mesh, device] :
       {std::pair{"N300", Device::N300}, std::pair{"T3K", Device::T3K}}) {
    const TpAttentionSpec spec{small_spec(2), parse_mesh(mesh)};
    const AttentionWeights weights = seeded_weights(spec.attention);
    const TpAttentionImplConfig config = default_impl_config(spec, device, Mode::prefill);
    EXPECT_EQ(config.device.output_shards, 1);
    EXPECT_EQ(config.reduction, TpReduction::reduce_scatter);
    const MeshTensor x = distribute(random_normal({2, 6, 64}, 41), spec.mesh, {});
    const MeshTensor y = TpAttention(spec, config, weights).prefill_forward(x);
    EXPECT_EQ(y.placements[1], Placement::shard(2));
    expect_accuracy(compose(y), tp_attention_prefill_reference(spec, weights, x), spec.identity(),
                    "defaults", {0.99, 0.1});
  }
  const TpAttentionSpec galaxy{small_spec(2), parse_mesh("T3K")};
  EXPECT_EQ(default_impl_config(galaxy, Device::TG, Mode::decode).reduction,
            TpReduction::all_reduce);
}

TEST(TpAttentionTest, JsonRoundTrip) {
  const TpAttentionSpec spec{small_spec(2), parse_mesh("T3K")};
  const nlohmann::json json = spec;
  EXPECT_EQ(json.at("mesh"), "T3K");
  EXPECT_EQ(json.get<TpAttentionSpec>(), spec);
  const TpAttentionImplConfig config = default_impl_config(spec, Device::T3K, Mode::decode);
  const nlohmann::json config_json = config;
  EXPECT_EQ(config_json.at("reduction"), "reduce_scatter");
  EXPECT_EQ(config_json.get<TpAttentionImplConfig>(), config);
  nlohmann::json unknown = json;
  unknown["heads"] = 8;
  EXPECT_THROW((void)unknown.get<TpAttentionSpec>(), std::invalid_argument);
}

TEST(TpAttentionTest, BadInputNamesMeshAxisAndField) {
  AttentionSpec twelve = small_spec(0);
  twelve.num_heads = 12;
  twelve.hidden_dim = 96;
  const TpAttentionSpec heads{twelve, parse_mesh("T3K")};
  EXPECT_THAT([&] { heads.validate(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp_attention] mesh T3K axis 1 (8 devices) does not divide "
                            "spec.attention.num_heads 12")));
  AttentionSpec three_kv = small_spec(0);
  three_kv.num_heads = 6;
  three_kv.num_kv_heads = 3;
  three_kv.hidden_dim = 48;
  const TpAttentionSpec kv{three_kv, parse_mesh("N300")};
  EXPECT_THAT([&] { kv.validate(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("spec.attention.num_kv_heads 3: one must divide the other")));
  AttentionSpec alibi = small_spec(0);
  alibi.positions = AttentionPositions::alibi;
  const TpAttentionSpec slopes{alibi, parse_mesh("N300")};
  EXPECT_THAT([&] { slopes.validate(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("alibi is not supported")));

  const TpAttentionSpec spec{small_spec(2), parse_mesh("N300")};
  const TpAttention tp(spec, default_impl_config(spec, Device::N300, Mode::decode),
                       seeded_weights(spec.attention));
  std::vector<KVCache> one(1);
  EXPECT_THAT(
      [&] {
        (void)tp.decode_forward(distribute(random_normal({1, 64}, 5), spec.mesh, {}),
                                Tensor::from_int64({1}, {0}), one);
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("caches has 1 KV caches, mesh N300 has 2")));
  EXPECT_THAT(
      [&] {
        (void)tp.prefill_forward(distribute(random_normal({1, 64}, 6), spec.mesh,
                                            {Placement::replicate(), Placement::shard(1)}));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("must be replicated along mesh N300 axis 1")));
}

}  // namespace
}  // namespace ttt

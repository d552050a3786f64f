// Attention: the reference against an independent naive implementation and by hand, the device
// path against the reference at real model dimensions, flash == plain, decode == prefill,
// sliding windows, GQA/MQA, errors, JSON, identities and defaults.
#include "blocks/attention/attention.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/blocks/common/accuracy.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_blocks::AccuracyBound;
using testing_blocks::expect_accuracy;

// --- Model configurations (model_configs.md) -----------------------------------------------

RopeSpec rope_of(std::int64_t head_dim, double theta, std::int64_t max_positions) {
  RopeSpec rope;
  rope.head_dim = head_dim;
  rope.theta = theta;
  rope.max_position_embeddings = max_positions;
  return rope;
}

RopeSpec llama3_rope(std::int64_t head_dim, double factor) {
  RopeSpec rope = rope_of(head_dim, 500000.0, 131072);
  rope.scaling = RopeScaling::llama3;
  rope.factor = factor;
  rope.low_freq_factor = 1.0;
  rope.high_freq_factor = 4.0;
  rope.original_max_position_embeddings = 8192;
  return rope;
}

AttentionSpec llama31_8b() {
  AttentionSpec spec;
  spec.hidden_dim = 4096;
  spec.num_heads = 32;
  spec.num_kv_heads = 8;
  spec.rope = llama3_rope(128, 8.0);
  return spec;
}

AttentionSpec llama32_1b() {
  AttentionSpec spec;
  spec.hidden_dim = 2048;
  spec.num_heads = 32;
  spec.num_kv_heads = 8;
  spec.rope = llama3_rope(64, 32.0);
  return spec;
}

AttentionSpec mistral_7b() {
  AttentionSpec spec;
  spec.hidden_dim = 4096;
  spec.num_heads = 32;
  spec.num_kv_heads = 8;
  spec.sliding_window = 4096;
  spec.rope = rope_of(128, 10000.0, 32768);
  return spec;
}

AttentionSpec qwen25_7b() {
  AttentionSpec spec;
  spec.hidden_dim = 3584;
  spec.num_heads = 28;
  spec.num_kv_heads = 4;
  spec.qkv_bias = true;
  spec.rope = rope_of(128, 1e6, 32768);
  return spec;
}

AttentionSpec qwen3_8b() {
  AttentionSpec spec;
  spec.hidden_dim = 4096;
  spec.num_heads = 32;
  spec.num_kv_heads = 8;
  spec.qk_norm = true;
  spec.qk_norm_eps = 1e-6;
  spec.rope = rope_of(128, 1e6, 40960);
  return spec;
}

AttentionSpec gemma2_9b() {
  AttentionSpec spec;
  spec.hidden_dim = 3584;
  spec.num_heads = 16;
  spec.num_kv_heads = 8;
  spec.head_dim = 256;
  spec.query_pre_attn_scalar = 256.0;
  spec.logit_softcap = 50.0;
  spec.sliding_window = 4096;
  spec.rope = rope_of(256, 10000.0, 8192);
  return spec;
}

AttentionSpec gpt2() {
  AttentionSpec spec;
  spec.hidden_dim = 768;
  spec.num_heads = 12;
  spec.qkv_bias = true;
  spec.output_bias = true;
  spec.positions = AttentionPositions::none;
  return spec;
}

AttentionSpec bloom_560m() {
  AttentionSpec spec;
  spec.hidden_dim = 1024;
  spec.num_heads = 16;
  spec.qkv_bias = true;
  spec.output_bias = true;
  spec.positions = AttentionPositions::alibi;
  return spec;
}

// Seeded weights of realistic scale: unit-variance activations give unit-variance q, k, v.
AttentionWeights random_weights(const AttentionSpec& spec, std::uint64_t seed) {
  const std::int64_t hidden = spec.hidden_dim;
  const std::int64_t q_width = spec.num_heads * spec.dim_per_head();
  const std::int64_t kv_width = spec.kv_heads() * spec.dim_per_head();
  const double in_std = 1.0 / std::sqrt(static_cast<double>(hidden));
  const double out_std = 1.0 / std::sqrt(static_cast<double>(q_width));
  AttentionWeights w;
  w.wq = random_normal({hidden, q_width}, seed + 1, 0.0, in_std);
  w.wk = random_normal({hidden, kv_width}, seed + 2, 0.0, in_std);
  w.wv = random_normal({hidden, kv_width}, seed + 3, 0.0, in_std);
  w.wo = random_normal({q_width, hidden}, seed + 4, 0.0, out_std);
  if (spec.qkv_bias) {
    w.bq = random_normal({q_width}, seed + 5, 0.0, 0.2);
    w.bk = random_normal({kv_width}, seed + 6, 0.0, 0.2);
    w.bv = random_normal({kv_width}, seed + 7, 0.0, 0.2);
  }
  if (spec.output_bias) w.bo = random_normal({hidden}, seed + 8, 0.0, 0.05);
  if (spec.qk_norm) {
    w.q_norm = random_uniform({spec.dim_per_head()}, seed + 9, 0.5, 1.5);
    w.k_norm = random_uniform({spec.dim_per_head()}, seed + 10, 0.5, 1.5);
  }
  return w;
}

Tensor positions_of(std::vector<std::int64_t> values) {
  const auto size = static_cast<std::int64_t>(values.size());
  return Tensor::from_int64({size}, std::move(values));
}

// Rows [first, first + count) of the middle dimension of x [batch, seq, hidden] as a tensor.
Tensor rows_of(const Tensor& x, std::int64_t batch, std::int64_t first, std::int64_t count) {
  const std::int64_t hidden = x.dim(-1);
  const std::span<const float> values = x.floats();
  const std::size_t offset = static_cast<std::size_t>((batch * x.dim(1) + first) * hidden);
  return Tensor::from_floats(
      {1, count, hidden},
      std::vector<float>(values.begin() + static_cast<std::ptrdiff_t>(offset),
                         values.begin() + static_cast<std::ptrdiff_t>(offset + count * hidden)),
      x.dtype());
}

// --- The reference against an independent naive implementation -----------------------------

// A straightforward float64 attention written from the formulas, sharing nothing with the block:
// x [seq, hidden], weights [in, out]; default RoPE (theta 10000) written out here.
struct NaiveHeads {
  std::vector<double> q, k, v;  // [seq, heads, d], [seq, kv, d], [seq, kv, d]
};

NaiveHeads naive_heads(const AttentionSpec& spec, const AttentionWeights& w, const Tensor& x) {
  const std::int64_t seq = x.dim(0);
  const std::int64_t hidden = spec.hidden_dim;
  const std::int64_t d = spec.dim_per_head();
  auto project = [&](const Tensor& weight, const WeightSource& bias, std::int64_t width) {
    std::vector<double> out(static_cast<std::size_t>(seq * width));
    for (std::int64_t t = 0; t < seq; ++t) {
      for (std::int64_t o = 0; o < width; ++o) {
        double sum = bias.defined() ? bias.load().at({o}) : 0.0;
        for (std::int64_t i = 0; i < hidden; ++i) sum += x.at({t, i}) * weight.at({i, o});
        out[static_cast<std::size_t>(t * width + o)] = sum;
      }
    }
    return out;
  };
  NaiveHeads h{project(w.wq.load(), w.bq, spec.num_heads * d),
               project(w.wk.load(), w.bk, spec.kv_heads() * d),
               project(w.wv.load(), w.bv, spec.kv_heads() * d)};
  auto norm_and_rotate = [&](std::vector<double>& values, std::int64_t n, const WeightSource& g) {
    for (std::int64_t t = 0; t < seq; ++t) {
      for (std::int64_t head = 0; head < n; ++head) {
        double* vec = values.data() + (t * n + head) * d;
        if (spec.qk_norm) {
          double ms = 0;
          for (std::int64_t i = 0; i < d; ++i) ms += vec[i] * vec[i] / static_cast<double>(d);
          for (std::int64_t i = 0; i < d; ++i) {
            vec[i] = vec[i] / std::sqrt(ms + spec.qk_norm_eps) * g.load().at({i});
          }
        }
        if (spec.positions == AttentionPositions::rope) {
          for (std::int64_t i = 0; i < d / 2; ++i) {
            const double angle =
                static_cast<double>(t) *
                std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(d));
            const double a = vec[i];
            const double b = vec[i + d / 2];
            vec[i] = a * std::cos(angle) - b * std::sin(angle);
            vec[i + d / 2] = b * std::cos(angle) + a * std::sin(angle);
          }
        }
      }
    }
  };
  norm_and_rotate(h.q, spec.num_heads, w.q_norm);
  norm_and_rotate(h.k, spec.kv_heads(), w.k_norm);
  return h;
}

std::vector<double> naive_attention(const AttentionSpec& spec, const AttentionWeights& w,
                                    const Tensor& x, const std::vector<double>& slopes) {
  const std::int64_t seq = x.dim(0);
  const std::int64_t hidden = spec.hidden_dim;
  const std::int64_t heads = spec.num_heads;
  const std::int64_t kv = spec.kv_heads();
  const std::int64_t d = spec.dim_per_head();
  const NaiveHeads h = naive_heads(spec, w, x);
  std::vector<double> concat(static_cast<std::size_t>(seq * heads * d), 0.0);
  const double scalar =
      spec.query_pre_attn_scalar > 0 ? spec.query_pre_attn_scalar : static_cast<double>(d);
  for (std::int64_t head = 0; head < heads; ++head) {
    const std::int64_t g = head / (heads / kv);
    for (std::int64_t i = 0; i < seq; ++i) {
      std::vector<double> weights(static_cast<std::size_t>(seq), 0.0);
      double total = 0;
      for (std::int64_t j = 0; j <= i; ++j) {
        if (spec.sliding_window > 0 && i - j >= spec.sliding_window) continue;
        double s = 0;
        for (std::int64_t e = 0; e < d; ++e) {
          s += h.q[static_cast<std::size_t>((i * heads + head) * d + e)] *
               h.k[static_cast<std::size_t>((j * kv + g) * d + e)];
        }
        s /= std::sqrt(scalar);
        if (spec.logit_softcap > 0) s = spec.logit_softcap * std::tanh(s / spec.logit_softcap);
        s += slopes[static_cast<std::size_t>(head)] * static_cast<double>(j - i);
        weights[static_cast<std::size_t>(j)] = std::exp(s);  // Small scores: no max needed.
        total += weights[static_cast<std::size_t>(j)];
      }
      for (std::int64_t j = 0; j <= i; ++j) {
        for (std::int64_t e = 0; e < d; ++e) {
          concat[static_cast<std::size_t>((i * heads + head) * d + e)] +=
              weights[static_cast<std::size_t>(j)] / total *
              h.v[static_cast<std::size_t>((j * kv + g) * d + e)];
        }
      }
    }
  }
  const Tensor wo = w.wo.load();
  std::vector<double> out(static_cast<std::size_t>(seq * hidden));
  for (std::int64_t t = 0; t < seq; ++t) {
    for (std::int64_t o = 0; o < hidden; ++o) {
      double sum = w.bo.defined() ? w.bo.load().at({o}) : 0.0;
      for (std::int64_t i = 0; i < heads * d; ++i) {
        sum += concat[static_cast<std::size_t>(t * heads * d + i)] * wo.at({i, o});
      }
      out[static_cast<std::size_t>(t * hidden + o)] = sum;
    }
  }
  return out;
}

AttentionSpec tiny_spec() {
  AttentionSpec spec;
  spec.hidden_dim = 8;
  spec.num_heads = 4;
  spec.num_kv_heads = 2;
  spec.head_dim = 4;  // Heads wider than hidden / num_heads, as Gemma's.
  spec.rope = rope_of(4, 10000.0, 64);
  return spec;
}

TEST(AttentionReferenceTest, OneHeadByHand) {
  // hidden 2, one head of dim 2, identity weights, no positions: q = k = v = x.
  AttentionSpec spec;
  spec.hidden_dim = 2;
  spec.num_heads = 1;
  spec.positions = AttentionPositions::none;
  const Tensor identity = Tensor::from_floats({2, 2}, {1, 0, 0, 1});
  AttentionWeights w;
  w.wq = w.wk = w.wv = w.wo = identity;
  const Tensor x = Tensor::from_floats({2, 2}, {1, 0, 0, 1});
  const Tensor out = attention_prefill_reference(spec, w, x);
  // Token 0 sees only itself: v0 = [1, 0]. Token 1: scores [x1.x0, x1.x1] / sqrt(2) = [0, 0.7071]
  // -> p1 = 1 / (1 + exp(-0.7071)) = 0.669761; out = (1 - p1) v0 + p1 v1.
  const double p1 = 1.0 / (1.0 + std::exp(-1.0 / std::sqrt(2.0)));
  EXPECT_NEAR(out.at({0, 0}), 1.0, 1e-7);
  EXPECT_NEAR(out.at({0, 1}), 0.0, 1e-7);
  EXPECT_NEAR(out.at({1, 0}), 1.0 - p1, 1e-7);
  EXPECT_NEAR(out.at({1, 1}), p1, 1e-7);
  EXPECT_NEAR(p1, 0.669761, 1e-6);
}

struct TinyCase {
  const char* name;
  AttentionSpec spec;
  std::vector<double> slopes;
};

TEST(AttentionReferenceTest, MatchesANaiveImplementationOnTinyCases) {
  const AttentionSpec base = tiny_spec();
  const std::vector<double> zeros(4, 0.0);
  AttentionSpec biased = base;
  biased.qkv_bias = true;
  biased.output_bias = true;
  AttentionSpec normed = base;
  normed.qk_norm = true;
  AttentionSpec capped = base;
  capped.logit_softcap = 0.3;
  capped.query_pre_attn_scalar = 2.0;
  AttentionSpec windowed = base;
  windowed.sliding_window = 3;
  AttentionSpec alibi = base;
  alibi.positions = AttentionPositions::alibi;
  AttentionSpec mqa = base;
  mqa.num_kv_heads = 1;
  // BLOOM slopes for 4 heads: 2^-2, 2^-4, 2^-6, 2^-8.
  const std::vector<double> alibi_slopes4{0.25, 0.0625, 0.015625, 0.00390625};
  for (const TinyCase& c :
       {TinyCase{"gqa_rope", base, zeros}, TinyCase{"biases", biased, zeros},
        TinyCase{"qk_norm", normed, zeros}, TinyCase{"softcap_scalar", capped, zeros},
        TinyCase{"window", windowed, zeros}, TinyCase{"alibi", alibi, alibi_slopes4},
        TinyCase{"mqa", mqa, zeros}}) {
    SCOPED_TRACE(c.name);
    const AttentionWeights w = random_weights(c.spec, 100);
    const Tensor x = random_normal({7, 8}, 101);
    const std::vector<double> expected = naive_attention(c.spec, w, x, c.slopes);
    const Tensor out = attention_prefill_reference(c.spec, w, x);
    ASSERT_EQ(out.shape(), (Shape{7, 8}));
    for (std::int64_t i = 0; i < out.numel(); ++i) {
      EXPECT_NEAR(out.at_flat(i), expected[static_cast<std::size_t>(i)], 1e-6) << "element " << i;
    }
  }
}

TEST(AttentionReferenceTest, DecodeReferenceMatchesNaiveAttentionOverTheHistory) {
  AttentionSpec spec = tiny_spec();
  spec.qkv_bias = true;
  spec.qk_norm = true;
  spec.sliding_window = 5;
  const AttentionWeights w = random_weights(spec, 200);
  const Tensor x = random_normal({9, 8}, 201);
  const std::vector<double> expected = naive_attention(spec, w, x, std::vector<double>(4, 0.0));
  // The cache holds the naive keys and values of tokens 0..7 (float32); token 8 is decoded.
  const NaiveHeads h = naive_heads(spec, w, x);
  Tensor k_cache({1, 2, 12, 4}, DType::float32);
  Tensor v_cache({1, 2, 12, 4}, DType::float32);
  for (std::int64_t t = 0; t < 8; ++t) {
    for (std::int64_t g = 0; g < 2; ++g) {
      for (std::int64_t e = 0; e < 4; ++e) {
        k_cache.set({0, g, t, e}, h.k[static_cast<std::size_t>((t * 2 + g) * 4 + e)]);
        v_cache.set({0, g, t, e}, h.v[static_cast<std::size_t>((t * 2 + g) * 4 + e)]);
      }
    }
  }
  std::vector<float> last(8);
  for (std::int64_t i = 0; i < 8; ++i)
    last[static_cast<std::size_t>(i)] = static_cast<float>(x.at({8, i}));
  const Tensor out = attention_decode_reference(spec, w, Tensor::from_floats({1, 8}, last),
                                                positions_of({8}), k_cache, v_cache);
  for (std::int64_t i = 0; i < 8; ++i) {
    EXPECT_NEAR(out.at({0, i}), expected[static_cast<std::size_t>(8 * 8 + i)], 1e-6) << i;
  }
}

// --- Device vs reference at real model dimensions ---------------------------------------------

struct ModelCase {
  const char* name;
  AttentionSpec spec;
  std::int64_t seq;
  double max_abs_error;  // Bound on |device - reference| for prefill and decode.
};

// GoogleTest prints a parameter in test listings (and CTest names): the model name, not bytes.
void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

void expect_device_matches_reference(const ModelCase& c) {
  const AttentionWeights w = random_weights(c.spec, 300);
  const AttentionImplConfig config = default_impl_config(c.spec, Device::N150, Mode::prefill);
  EXPECT_EQ(config.qkv.weight_dtype, DType::bfloat8_b);
  EXPECT_EQ(config.kv_cache_dtype, DType::bfloat8_b);
  const Attention block(c.spec, config, w);
  const Tensor x = random_normal({1, c.seq, c.spec.hidden_dim}, 301);
  KVCache cache = make_kv_cache(c.spec, config, 3, c.seq + 8);
  const Tensor device = block.prefill_forward(x, &cache, 0);
  const AccuracyBound bound{0.99, c.max_abs_error};
  expect_accuracy(device, attention_prefill_reference(c.spec, w, x), c.spec.identity(),
                  std::string(c.name) + " prefill seq " + std::to_string(c.seq) + " default",
                  bound);

  // Decode: user 0 continues the prompt at position seq; users 1 and 2 hold shorter prompts.
  block.prefill_forward(rows_of(x, 0, 0, 5), &cache, 1);
  block.prefill_forward(rows_of(x, 0, 0, c.seq / 2), &cache, 2);
  const Tensor step = random_normal({3, c.spec.hidden_dim}, 302);
  const Tensor positions = positions_of({c.seq, 5, c.seq / 2});
  const Tensor k_before = cache.k.clone();
  const Tensor v_before = cache.v.clone();
  const Attention decoder(c.spec, default_impl_config(c.spec, Device::N150, Mode::decode), w);
  const Tensor decoded = decoder.decode_forward(step, positions, cache);
  expect_accuracy(decoded,
                  attention_decode_reference(c.spec, w, step, positions, k_before, v_before),
                  c.spec.identity(), std::string(c.name) + " decode 3 users default", bound);
}

class AttentionModelTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(AttentionModelTest, DeviceMatchesReferenceWithBfloat8Weights) {
  expect_device_matches_reference(GetParam());
}

AttentionSpec with_window(AttentionSpec spec, std::int64_t window) {
  spec.sliding_window = window;
  return spec;
}

INSTANTIATE_TEST_SUITE_P(
    Models, AttentionModelTest,
    ::testing::Values(ModelCase{"llama31_8b", llama31_8b(), 32, 0.08},
                      ModelCase{"llama32_1b", llama32_1b(), 32, 0.08},
                      // Mistral's window of 4096 shortened to 20 so a 48-token prompt crosses it.
                      ModelCase{"mistral_7b_window", with_window(mistral_7b(), 20), 48, 0.08},
                      ModelCase{"qwen25_7b_bias", qwen25_7b(), 32, 0.08},
                      ModelCase{"qwen3_8b_qk_norm", qwen3_8b(), 32, 0.08},
                      ModelCase{"gemma2_9b", gemma2_9b(), 32, 0.08},
                      ModelCase{"gemma2_9b_window", with_window(gemma2_9b(), 16), 40, 0.08},
                      ModelCase{"gpt2", gpt2(), 32, 0.08},
                      ModelCase{"bloom_560m_alibi", bloom_560m(), 32, 0.08}),
    [](const ::testing::TestParamInfo<ModelCase>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(AttentionDeviceTest, GqaMqaAndMhaAtLlama8bWidth) {
  for (std::int64_t kv_heads : {1, 8, 32}) {
    SCOPED_TRACE("num_kv_heads " + std::to_string(kv_heads));
    AttentionSpec spec = llama31_8b();
    spec.num_kv_heads = kv_heads;
    const AttentionWeights w = random_weights(spec, 400 + static_cast<std::uint64_t>(kv_heads));
    const Attention block(spec, default_impl_config(spec, Device::T3K, Mode::prefill), w);
    const Tensor x = random_normal({16, 4096}, 401);
    expect_accuracy(block.prefill_forward(x), attention_prefill_reference(spec, w, x),
                    spec.identity(), "prefill seq 16 default T3K (8-chip Wo all-reduce)",
                    AccuracyBound{0.99, 0.08});
  }
}

TEST(AttentionDeviceTest, AccuracyPresetIsCloserThanTheDefault) {
  const AttentionSpec spec = llama32_1b();
  const AttentionWeights w = random_weights(spec, 500);
  const Tensor x = random_normal({1, 24, 2048}, 501);
  const Tensor reference = attention_prefill_reference(spec, w, x);
  const Tensor fast_out =
      Attention(spec, default_impl_config(spec, Device::N150, Mode::prefill), w).prefill_forward(x);
  const Tensor accurate_out =
      Attention(spec, default_impl_config(spec, Device::N150, Mode::prefill, Preset::accuracy), w)
          .prefill_forward(x);
  expect_accuracy(accurate_out, reference, spec.identity(), "prefill seq 24 accuracy preset",
                  AccuracyBound{0.999, 0.03});
  const Metrics fast = compute_metrics(fast_out, reference);
  const Metrics accurate = compute_metrics(accurate_out, reference);
  EXPECT_GE(accurate.pcc, 0.999);
  EXPECT_GT(accurate.pcc, fast.pcc);
  EXPECT_LT(accurate.rmse, fast.rmse);
}

AttentionImplConfig float32_config(const AttentionSpec& spec) {
  AttentionImplConfig config = default_impl_config(spec, Device::N150, Mode::prefill);
  const MatmulConfig exact{DType::float32, DType::float32, DType::float32, MathFidelity::HiFi4,
                           Accumulation::fp32};
  config.qkv = exact;
  config.output = exact;
  config.kv_cache_dtype = DType::float32;
  config.query_dtype = DType::float32;
  config.probs_dtype = DType::float32;
  config.sdpa_fidelity = MathFidelity::HiFi4;
  config.rope.table_dtype = DType::float32;
  config.rope.activation_dtype = DType::float32;
  config.qk_norm.activation_dtype = DType::float32;
  config.qk_norm.weight_dtype = DType::float32;
  config.qk_norm.output_dtype = DType::float32;
  return config;
}

TEST(AttentionFlashTest, FlashPrefillMatchesThePlainOne) {
  AttentionSpec spec = mistral_7b();
  spec.hidden_dim = 512;
  spec.num_heads = 4;
  spec.num_kv_heads = 2;
  spec.sliding_window = 37;
  spec.logit_softcap = 3.0;
  const AttentionWeights w = random_weights(spec, 600);
  const Tensor x = random_normal({2, 150, 512}, 601);
  for (bool device_formats : {false, true}) {
    SCOPED_TRACE(device_formats ? "default device formats" : "float32 everywhere");
    AttentionImplConfig plain = device_formats
                                    ? default_impl_config(spec, Device::N150, Mode::prefill)
                                    : float32_config(spec);
    plain.flash_min_seq_len = 100000;
    AttentionImplConfig flash = plain;
    flash.flash_min_seq_len = 1;
    flash.q_chunk_size = 32;
    flash.k_chunk_size = 48;  // Chunks that straddle the window edge and the diagonal.
    KVCache plain_cache = make_kv_cache(spec, plain, 2, 150);
    KVCache flash_cache = make_kv_cache(spec, flash, 2, 150);
    const Tensor a = Attention(spec, plain, w).prefill_forward(x, &plain_cache);
    const Tensor b = Attention(spec, flash, w).prefill_forward(x, &flash_cache);
    const Metrics m = compute_metrics(b, a);
    if (device_formats) {
      // Probabilities rounded to bfloat16 before (flash) vs after (plain) normalisation.
      EXPECT_GE(m.pcc, 0.99999);
      EXPECT_LE(m.max_abs_error, 0.03);
      const Metrics against_reference = compute_metrics(b, attention_prefill_reference(spec, w, x));
      EXPECT_GE(against_reference.pcc, 0.999);
    } else {
      // Even float32 operands are read as TF32-like values by the matrix unit (docs/numerics.md):
      // unnormalised vs normalised probabilities lose different low bits (2^-11 relative).
      EXPECT_GE(m.pcc, 0.9999999);
      EXPECT_LE(m.max_abs_error, 3e-3);
    }
    // The cache contents do not depend on the SDPA path.
    EXPECT_EQ(compute_metrics(flash_cache.k, plain_cache.k).max_abs_error, 0.0);
  }
}

TEST(AttentionConsistencyTest, DecodeStepEqualsTheLastRowOfPrefill) {
  AttentionSpec spec = qwen3_8b();
  spec.hidden_dim = 1024;
  spec.num_heads = 8;
  spec.num_kv_heads = 2;
  const AttentionWeights w = random_weights(spec, 700);
  const Tensor x = random_normal({1, 21, 1024}, 701);
  for (bool device_formats : {false, true}) {
    SCOPED_TRACE(device_formats ? "decode config" : "float32 everywhere");
    const AttentionImplConfig config = device_formats
                                           ? default_impl_config(spec, Device::N300, Mode::decode)
                                           : float32_config(spec);
    const Attention block(spec, config, w);
    const Tensor full = block.prefill_forward(x);
    KVCache cache = make_kv_cache(spec, config, 1, 32);
    block.prefill_forward(rows_of(x, 0, 0, 20), &cache, 0);
    const Tensor step =
        block.decode_forward(rows_of(x, 0, 20, 1).reshape({1, 1024}), positions_of({20}), cache);
    const Tensor last = rows_of(full, 0, 20, 1).reshape({1, 1024});
    const Metrics m = compute_metrics(step, last);
    if (device_formats) {
      EXPECT_GE(m.pcc, 0.9999);
      EXPECT_LE(m.max_abs_error, 0.02);
    } else {
      EXPECT_LE(m.max_abs_error, 1e-5);
    }
  }
}

TEST(AttentionConsistencyTest, DecodeOfUsersAtDifferentPositionsMatchesFullHistories) {
  const AttentionSpec spec = llama32_1b();
  const AttentionWeights w = random_weights(spec, 800);
  const AttentionImplConfig config = default_impl_config(spec, Device::N150, Mode::decode);
  const Attention block(spec, config, w);
  const std::vector<std::int64_t> lengths{3, 17, 9};
  const Tensor x = random_normal({3, 18, 2048}, 801);
  KVCache cache = make_kv_cache(spec, config, 3, 64);
  std::vector<float> step_values;
  for (std::int64_t b = 0; b < 3; ++b) {
    block.prefill_forward(rows_of(x, b, 0, lengths[b]), &cache, b);
    const Tensor token = rows_of(x, b, lengths[b], 1);
    step_values.insert(step_values.end(), token.floats().begin(), token.floats().end());
  }
  const Tensor decoded = block.decode_forward(Tensor::from_floats({3, 2048}, step_values),
                                              positions_of(lengths), cache);
  for (std::int64_t b = 0; b < 3; ++b) {
    SCOPED_TRACE("user " + std::to_string(b));
    const Tensor history = rows_of(x, b, 0, lengths[b] + 1);
    const Tensor expected =
        rows_of(attention_prefill_reference(spec, w, history), 0, lengths[b], 1).reshape({2048});
    std::vector<float> row(decoded.floats().begin() + b * 2048,
                           decoded.floats().begin() + (b + 1) * 2048);
    const Metrics m = compute_metrics(Tensor::from_floats({2048}, row), expected);
    EXPECT_GE(m.pcc, 0.99);
    EXPECT_LE(m.max_abs_error, 0.08);
  }
}

TEST(AttentionWindowTest, DecodeIgnoresCacheEntriesOutsideTheWindow) {
  AttentionSpec spec = mistral_7b();
  spec.hidden_dim = 256;
  spec.num_heads = 4;
  spec.num_kv_heads = 2;
  spec.sliding_window = 8;
  spec.rope.head_dim = 64;
  const AttentionWeights w = random_weights(spec, 900);
  const AttentionImplConfig config = default_impl_config(spec, Device::N150, Mode::decode);
  const Attention block(spec, config, w);
  KVCache cache = make_kv_cache(spec, config, 1, 64);
  block.prefill_forward(random_normal({1, 40, 256}, 901), &cache, 0);
  KVCache poisoned{cache.k.clone(), cache.v.clone()};
  // Positions 0..32 are outside the window of a query at 40 (keys 33..40 remain).
  for (std::int64_t g = 0; g < 2; ++g) {
    for (std::int64_t p = 0; p <= 32; ++p) {
      for (std::int64_t d = 0; d < 64; ++d) {
        poisoned.k.set({0, g, p, d}, 100.0);
        poisoned.v.set({0, g, p, d}, -100.0);
      }
    }
  }
  const Tensor step = random_normal({1, 256}, 902);
  const Tensor clean = block.decode_forward(step, positions_of({40}), cache);
  const Tensor dirty = block.decode_forward(step, positions_of({40}), poisoned);
  EXPECT_EQ(compute_metrics(dirty, clean).max_abs_error, 0.0);
  const Tensor reference_clean =
      attention_decode_reference(spec, w, step, positions_of({40}), cache.k, cache.v);
  const Tensor reference_dirty =
      attention_decode_reference(spec, w, step, positions_of({40}), poisoned.k, poisoned.v);
  EXPECT_EQ(compute_metrics(reference_dirty, reference_clean).max_abs_error, 0.0);
  // Position 33 is inside: poisoning it changes the result.
  for (std::int64_t d = 0; d < 64; ++d) poisoned.v.set({0, 0, 33, d}, -100.0);
  EXPECT_GT(compute_metrics(block.decode_forward(step, positions_of({40}), poisoned), clean)
                .max_abs_error,
            0.1);
}

TEST(AttentionWeightsTest, PreparedLazilyAndOnce) {
  AttentionSpec spec = llama32_1b();
  spec.hidden_dim = 256;
  spec.num_heads = 4;
  spec.num_kv_heads = 2;
  AttentionWeights w = random_weights(spec, 1000);
  std::atomic<int> loads = 0;
  const Tensor wq = w.wq.load();
  w.wq = WeightSource(wq.shape(), [&loads, wq] {
    ++loads;
    return wq;
  });
  const Attention block(spec, default_impl_config(spec, Device::N150, Mode::decode), w);
  EXPECT_FALSE(block.weights_prepared());
  EXPECT_EQ(loads, 0);
  KVCache cache = make_kv_cache(spec, block.config(), 2, 16);
  block.prefill_forward(random_normal({2, 5, 256}, 1001), &cache);
  block.decode_forward(random_normal({2, 256}, 1002), positions_of({5, 5}), cache);
  EXPECT_TRUE(block.weights_prepared());
  EXPECT_EQ(loads, 1);
}

// --- Bad input ----------------------------------------------------------------------------

TEST(AttentionErrorTest, SpecsNameTheField) {
  AttentionSpec kv = llama31_8b();
  kv.num_kv_heads = 5;
  EXPECT_THAT([&] { kv.validate(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[attention] spec.num_heads (32) is not divisible by spec.num_kv_heads (5)")));
  AttentionSpec hidden = llama31_8b();
  hidden.hidden_dim = 4095;
  EXPECT_THAT([&] { hidden.validate(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[attention] spec.hidden_dim (4095) is not divisible by spec.num_heads (32)")));
  AttentionSpec rope = llama31_8b();
  rope.rope.head_dim = 64;
  EXPECT_THAT([&] { rope.validate(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[attention] spec.rope.head_dim (64) differs from the head dimension (128)")));
  AttentionSpec window = llama31_8b();
  window.sliding_window = -1;
  EXPECT_THAT([&] { window.validate(); }, ThrowsMessage<std::invalid_argument>(
                                              HasSubstr("[attention] spec.sliding_window (-1)")));
  AttentionImplConfig config = default_impl_config(llama31_8b(), Device::N150, Mode::decode);
  config.output_shards = 3;
  EXPECT_THAT([&] { config.validate(llama31_8b()); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[attention] config.output_shards (3) does not divide spec.num_heads (32)")));
}

TEST(AttentionErrorTest, WeightsAreCheckedWithoutLoading) {
  const AttentionSpec spec = qwen25_7b();
  auto never = [](Shape shape) { return WeightSource(std::move(shape), [] { return Tensor(); }); };
  AttentionWeights w;
  w.wq = never({3584, 3584});
  w.wk = never({3584, 512});
  w.wv = never({3584, 512});
  w.wo = never({3584, 3584});
  w.bq = never({3584});
  w.bk = never({512});
  w.bv = never({512});
  EXPECT_NO_THROW(validate(spec, w));
  AttentionWeights wrong = w;
  wrong.wk = never({3584, 1024});
  EXPECT_THAT([&] { Attention(spec, AttentionImplConfig{}, wrong); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[attention] wk has shape [3584, 1024], expected [3584, 512]")));
  AttentionWeights missing = w;
  missing.bq = WeightSource();
  EXPECT_THAT([&] { validate(spec, missing); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[attention] bq is missing: spec.qkv_bias is set")));
  AttentionWeights extra = w;
  extra.bo = never({3584});
  EXPECT_THAT([&] { validate(spec, extra); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[attention] bo is given, but spec.output_bias is not set")));
}

TEST(AttentionErrorTest, InputsPositionsAndCachesNameTheProblem) {
  AttentionSpec spec = llama32_1b();
  spec.hidden_dim = 256;
  spec.num_heads = 4;
  spec.num_kv_heads = 2;
  const AttentionImplConfig config = default_impl_config(spec, Device::N150, Mode::decode);
  const Attention block(spec, config, random_weights(spec, 1100));
  KVCache cache = make_kv_cache(spec, config, 2, 16);
  EXPECT_THAT(
      [&] {
        block.prefill_forward(random_normal({1, 4, 255}, 1));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[attention] prefill input has shape [1, 4, 255], expected a floating [batch, "
                    "seq, 256]")));
  EXPECT_THAT(
      [&] {
        block.prefill_forward(random_normal({1, 17, 256}, 1), &cache);
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "[attention] prefill of 17 tokens does not fit the KV cache (max_seq_len 16)")));
  EXPECT_THAT(
      [&] {
        block.prefill_forward(random_normal({2, 4, 256}, 1), &cache, 1);
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "[attention] prefill of users [1, 3) does not fit the KV cache (max_batch 2)")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(random_normal({2, 256}, 1), positions_of({3, 16}), cache);
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[attention] positions[1] is 16, expected in [0, 16) (the KV cache's "
                    "max_seq_len)")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(random_normal({2, 256}, 1), positions_of({3}), cache);
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[attention] positions has shape [1], expected [2]")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(random_normal({3, 256}, 1), positions_of({1, 1, 1}), cache);
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[attention] decode of 3 users does not fit the KV cache (max_batch 2)")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(random_normal({2, 1, 256}, 1), positions_of({1, 1}), cache);
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[attention] decode input has shape [2, 1, 256], expected a floating [batch, "
                    "256]")));
  AttentionImplConfig bf16 = config;
  bf16.kv_cache_dtype = DType::bfloat16;
  KVCache other = make_kv_cache(spec, bf16, 2, 16);
  EXPECT_THAT(
      [&] {
        block.decode_forward(random_normal({2, 256}, 1), positions_of({1, 1}), other);
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[attention] decode: KV cache has dtype bfloat16, expected "
                    "config.kv_cache_dtype bfloat8_b")));
  KVCache narrow{Tensor({2, 2, 16, 32}, DType::bfloat8_b),
                 Tensor({2, 2, 16, 32}, DType::bfloat8_b)};
  EXPECT_THAT(
      [&] {
        block.prefill_forward(random_normal({1, 4, 256}, 1), &narrow);
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[attention] prefill: KV cache has shapes [2, 2, 16, 32] and [2, 2, 16, 32], "
                    "expected [max_batch, 2, max_seq_len, 64] for both")));
  EXPECT_THAT([&] { make_kv_cache(spec, config, 0, 16); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[attention] a KV cache needs max_batch > 0 and max_seq_len > 0")));
}

// --- JSON, identities, defaults -------------------------------------------------------------

TEST(AttentionJsonTest, SpecAndConfigRoundTrip) {
  for (const AttentionSpec& spec :
       {llama31_8b(), mistral_7b(), qwen25_7b(), qwen3_8b(), gemma2_9b(), gpt2(), bloom_560m()}) {
    EXPECT_EQ(nlohmann::json(spec).get<AttentionSpec>(), spec) << spec.identity();
  }
  for (Mode mode : {Mode::prefill, Mode::decode}) {
    AttentionImplConfig config =
        default_impl_config(qwen3_8b(), Device::TG, mode, Preset::accuracy);
    config.q_chunk_size = 64;
    config.bias_dtype = DType::float32;
    EXPECT_EQ(nlohmann::json(config).get<AttentionImplConfig>(), config);
  }
  EXPECT_EQ(AttentionImplConfig{}.bias_dtype, DType::bfloat16);  // TTTv1's bias format.
  EXPECT_EQ(nlohmann::json(AttentionImplConfig{}).at("bias_dtype"), "bfloat16");
  const nlohmann::json minimal = nlohmann::json::parse(
      R"({"hidden_dim": 4096, "num_heads": 32, "num_kv_heads": 8,
          "rope": {"head_dim": 128, "theta": 500000}})");
  const AttentionSpec parsed = minimal.get<AttentionSpec>();
  EXPECT_EQ(parsed.dim_per_head(), 128);
  EXPECT_EQ(parsed.rope.theta, 500000.0);
  EXPECT_THAT(
      [] {
        nlohmann::json::parse(R"({"hidden_dim": 8, "num_heads": 2, "positions": "rotary"})")
            .get<AttentionSpec>();
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "attention spec: /positions: unknown attention positions 'rotary' (expected one of "
          "rope, alibi, none)")));
  EXPECT_THAT(
      [] {
        nlohmann::json::parse(R"({"hidden_dim": 8, "num_heads": 2, "window": 4})")
            .get<AttentionSpec>();
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("attention spec: /window: unknown field 'window' (expected one of: hidden_dim, "
                    "num_heads, num_kv_heads,")));
  EXPECT_THAT([] { nlohmann::json::parse(R"({"num_heads": 2})").get<AttentionSpec>(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("attention spec: /: missing field 'hidden_dim'")));
  EXPECT_THAT(
      [] { nlohmann::json::parse(R"({"sdpa_fidelity": "HiFi5"})").get<AttentionImplConfig>(); },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("attention impl_config: /sdpa_fidelity: unknown math fidelity 'HiFi5'")));
}

TEST(AttentionIdentityTest, NamesTheMathematics) {
  EXPECT_EQ(llama31_8b().identity(),
            "ATTENTION(hidden=4096,heads=32,kv_heads=8,head_dim=128,positions=rope,"
            "rope=ROPE(head_dim=128,rotary_dim=128,theta=500000,max_pos=131072,scaling=llama3,"
            "factor=8,low_freq_factor=1,high_freq_factor=4,original_max_pos=8192))");
  EXPECT_EQ(gemma2_9b().identity(),
            "ATTENTION(hidden=3584,heads=16,kv_heads=8,head_dim=256,positions=rope,"
            "rope=ROPE(head_dim=256,rotary_dim=256,theta=10000,max_pos=8192,scaling=default),"
            "query_pre_attn_scalar=256,softcap=50,window=4096)");
  EXPECT_EQ(bloom_560m().identity(),
            "ATTENTION(hidden=1024,heads=16,kv_heads=16,head_dim=64,positions=alibi,qkv_bias=1,"
            "output_bias=1)");
  EXPECT_NE(qwen3_8b().identity(), llama31_8b().identity());
}

TEST(AttentionDefaultsTest, FollowTTTv1PerDeviceModeAndPreset) {
  const AttentionSpec spec = llama31_8b();
  const AttentionImplConfig prefill = default_impl_config(spec, Device::N150, Mode::prefill);
  EXPECT_EQ(prefill.qkv.weight_dtype, DType::bfloat8_b);
  EXPECT_EQ(prefill.qkv.fidelity, MathFidelity::HiFi2);
  EXPECT_EQ(prefill.kv_cache_dtype, DType::bfloat8_b);
  EXPECT_EQ(prefill.query_dtype, DType::bfloat8_b);
  EXPECT_EQ(prefill.sdpa_fidelity, MathFidelity::HiFi4);
  EXPECT_EQ(prefill.output_shards, 1);
  EXPECT_EQ(prefill.rope.table_positions, 8192);
  const AttentionImplConfig decode = default_impl_config(spec, Device::N150, Mode::decode);
  EXPECT_EQ(decode.query_dtype, DType::bfloat16);
  EXPECT_EQ(decode.sdpa_fidelity, MathFidelity::HiFi2);
  EXPECT_EQ(default_impl_config(spec, Device::N300, Mode::decode).output_shards, 2);
  EXPECT_EQ(default_impl_config(spec, Device::T3K, Mode::decode).output_shards, 8);
  EXPECT_EQ(default_impl_config(spec, Device::TG, Mode::decode).output_shards, 8);
  // Qwen2.5-7B's 28 heads do not split over 8 chips.
  EXPECT_EQ(default_impl_config(qwen25_7b(), Device::T3K, Mode::decode).output_shards, 1);
  const AttentionImplConfig accurate =
      default_impl_config(spec, Device::N150, Mode::prefill, Preset::accuracy);
  EXPECT_EQ(accurate.qkv.weight_dtype, DType::bfloat16);
  EXPECT_EQ(accurate.output.fidelity, MathFidelity::HiFi4);
  EXPECT_EQ(accurate.kv_cache_dtype, DType::bfloat16);
  EXPECT_EQ(accurate.sdpa_fidelity, MathFidelity::HiFi4);
  EXPECT_EQ(default_impl_config(spec, Device::N150, Mode::decode, Preset::performance), decode);
}

}  // namespace
}  // namespace ttt

// Hand-checked device cases of the attention kinds (attention.prefill, attention.decode,
// tp_attention): heads of 2, a few tokens, float32 weights, cache, queries and probabilities with
// HiFi4 SDPA, so the device path's float32 arithmetic is all that differs from the values
// tools/hand_checked_values.py "attention" derives in float64 numpy. Each case names the fault it
// catches. The matrix unit reads float32 operands as TF32-like values (docs/numerics.md), so the
// probabilities and the attention output entering P V and Wo carry about 2^-11 relative error:
// the device lands within 9.3e-4 of the values; the tolerance is 2e-3, and each named fault
// moves an output by 3.4 times that (the softcap) to 400 times.
#include "tests/blocks/common/hand_checked.h"

#include <gtest/gtest.h>

#include <vector>

#include "blocks/attention/attention.h"
#include "blocks/attention/tp_attention.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

using testing_blocks::expect_values;
using testing_blocks::kExactMatmul;
using testing_blocks::pattern;

constexpr double kTolerance = 2e-3;

AttentionImplConfig exact_config() {
  AttentionImplConfig config;
  config.qkv = kExactMatmul;
  config.output = kExactMatmul;
  config.kv_cache_dtype = DType::float32;
  config.query_dtype = DType::float32;
  config.probs_dtype = DType::float32;
  config.sdpa_fidelity = MathFidelity::HiFi4;
  config.rope.table_dtype = DType::float32;
  config.rope.activation_dtype = DType::float32;
  config.rope.table_positions = 64;
  config.qk_norm.activation_dtype = DType::float32;
  config.qk_norm.weight_dtype = DType::float32;
  config.qk_norm.output_dtype = DType::float32;
  config.qk_norm.stats_dtype = DType::float32;
  config.bias_dtype = DType::float32;
  return config;
}

// Prefill: hidden 4, 2 heads of 2 (MHA), no positions, q/k/v and output biases, scale
// 1/sqrt(query_pre_attn_scalar 8), softcap 0.5, sliding window 2 (token i sees i - 1 and i), 4
// tokens. Token 0 sees itself only: its output is v_0 Wo + bo = [-0.640625, 0.734375, -1.046875,
// 0.328125], exact in binary.
struct PrefillCase {
  AttentionSpec spec;
  AttentionWeights weights{pattern({4, 4}, 5, 1, 9, 4), pattern({4, 4}, 7, 2, 9, 4),
                           pattern({4, 4}, 2, 3, 9, 4), pattern({4, 4}, 4, 1, 9, 4),
                           pattern({4}, 1, 0, 5, 8),    pattern({4}, 2, 1, 5, 8),
                           pattern({4}, 3, 2, 5, 8),    pattern({4}, 1, 3, 5, 8)};
  Tensor x = pattern({1, 4, 4}, 3, 1, 7, 4);
  // With the scale 1/sqrt(head_dim) instead, y[4] would be 0.0503 (not -0.0026); with the window
  // admitting j = i - 2, y[8] would be -0.0526 (not 0.1930); without the softcap y[5] would be
  // -0.3800 (not -0.3732).
  std::vector<double> expected{-0.640625,     0.734375,     -1.046875,    0.328125,
                               -0.00257683335, -0.373236987, -0.363965951, -0.734626104,
                               0.192991214,   -0.865277183, 0.0515592582, -1.00670914,
                               -0.123140707,  0.139490886,  -0.288365773, -0.0257341801};

  PrefillCase() {
    spec.hidden_dim = 4;
    spec.num_heads = 2;
    spec.qkv_bias = true;
    spec.output_bias = true;
    spec.query_pre_attn_scalar = 8.0;
    spec.logit_softcap = 0.5;
    spec.sliding_window = 2;
    spec.positions = AttentionPositions::none;
  }
};

TEST(AttentionHandChecked, PrefillScaleSoftcapWindowAndBiases) {
  // Catches: the scale 1/sqrt(head_dim) or 1/query_pre_attn_scalar, the softcap skipped or
  // applied after the mask, the window off by one (j <= i - window kept), the causal mask off by
  // one, a bias (bq, bk, bv, bo) dropped, heads' outputs concatenated in the wrong order.
  const PrefillCase c;
  const Attention attention(c.spec, exact_config(), c.weights);
  expect_values(attention.prefill_forward(c.x), c.expected, kTolerance,
                "attention scale, softcap, sliding window edge, biases");
}

TEST(AttentionHandChecked, TpAttentionOnN300EqualsTheWholeAttention) {
  // One head per device, Wo's partials reduced in float32. Catches: the output bias added on
  // every device (counted twice), a device holding the other head's q/k/v columns or Wo rows,
  // the partials composed in reverse order.
  const PrefillCase c;
  const TpAttentionSpec spec{c.spec, parse_mesh("N300")};
  CclReduceImplConfig reduce;
  reduce.reduce_dtype = DType::float32;
  reduce.output_dtype = DType::float32;
  const TpAttention attention(spec, {exact_config(), TpReduction::reduce_scatter, reduce},
                              c.weights);
  expect_values(compose(attention.prefill_forward(distribute(c.x, spec.mesh, {}))), c.expected,
                kTolerance, "tp_attention heads per device, output bias once");
}

TEST(AttentionHandChecked, DecodeGqaRopeQkNormUsersAtDifferentPositions) {
  // hidden 4, 4 query heads of 2 on 2 KV heads (heads 0, 1 read KV head 0; 2, 3 read 1), RoPE
  // (inv_freq [1]) after the q/k RMSNorms (eps 1e-6, weights [1.5, 0.5] and [0.75, 1.25]), scale
  // 1/sqrt(2). User 0 at position 1, user 1 at position 3 of a cache of 4 positions (the new key
  // fills it); the cache's earlier positions hold pattern() keys and values as stored.
  // Catches (largest move of an output, tools/hand_checked_values.py variants): the new key
  // rotated at position 0 (0.55), user 1 at user 0's position (0.51), query head h reading KV
  // head h % KV (0.81), the q/k norms skipped (0.27) or applied after RoPE (0.095), the key past
  // the user's position attended (0.077).
  AttentionSpec spec;
  spec.hidden_dim = 4;
  spec.num_heads = 4;
  spec.num_kv_heads = 2;
  spec.head_dim = 2;
  spec.qk_norm = true;
  spec.qk_norm_eps = 1e-6;
  spec.positions = AttentionPositions::rope;
  spec.rope.head_dim = 2;
  spec.rope.theta = 10000.0;
  spec.rope.max_position_embeddings = 64;
  const AttentionWeights weights{pattern({4, 8}, 5, 1, 9, 4),
                                 pattern({4, 4}, 7, 2, 9, 4),
                                 pattern({4, 4}, 2, 3, 9, 4),
                                 pattern({8, 4}, 4, 1, 9, 4),
                                 {},
                                 {},
                                 {},
                                 {},
                                 Tensor::from_floats({2}, {1.5f, 0.5f}),
                                 Tensor::from_floats({2}, {0.75f, 1.25f})};
  const Attention attention(spec, exact_config(), weights);
  KVCache cache{pattern({2, 2, 4, 2}, 3, 1, 11, 8), pattern({2, 2, 4, 2}, 5, 3, 11, 8)};
  const Tensor y =
      attention.decode_forward(pattern({2, 4}, 5, 2, 7, 4), Tensor::from_int64({2}, {1, 3}), cache);
  expect_values(y,
                {0.256843, 0.333352997, 0.115982158, 0.192492156, -0.364992708, -0.622292271,
                 0.801209725, 0.76600571},
                kTolerance, "decode rope position per user, cache write, GQA mapping, qk norm");
}

}  // namespace
}  // namespace ttt

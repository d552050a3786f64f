// Hand-checked device cases of the FFN kinds (mlp, gated_mlp, tp_gated_mlp, tp2d_gated_mlp, moe,
// ep_moe): tiny shapes in float32 formats, so the device path's float32 arithmetic is all that
// differs from the expected values, which tools/hand_checked_values.py "ffn" derives in float64
// numpy from the same pattern() inputs. Each case names the fault it catches. The mesh kinds
// share their single-device twin's values: a sharding fault moves them.
#include "tests/blocks/common/hand_checked.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "blocks/ffn/activation.h"
#include "blocks/ffn/ep_moe.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"
#include "blocks/ffn/tp2d_gated_mlp.h"
#include "blocks/ffn/tp_gated_mlp.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

using testing_blocks::expect_values;
using testing_blocks::kExactMatmul;
using testing_blocks::pattern;

// The matrix unit reads float32 operands as TF32-like values (docs/numerics.md), so an FFN whose
// intermediate values are not dyadic is exact to about 2^-11 of each product (the cases land
// within 1.2e-4); the faults named below move an output by 25 times the tolerance or more.
constexpr double kTolerance = 3e-4;

CclReduceImplConfig exact_reduce() {
  CclReduceImplConfig config;
  config.reduce_dtype = DType::float32;
  config.output_dtype = DType::float32;
  return config;
}

TEST(FfnHandChecked, MlpGeluErfWithBiases) {
  // hidden 2, ffn 32 (whole tiles), gelu (erf), biases stored in float32. x = [[-0.5, 0.25],
  // [-0.75, 0]]; y = gelu(x W_up + b_up) W_down + b_down (tools/hand_checked_values.py ffn).
  // Catches: b_up added after the activation (y[2] would be -0.2832, not -0.2710), b_down
  // dropped or added twice (+-0.125 or more), the activation left out. Not: gelu's tanh
  // approximation for erf (at most 4e-5 here, below the matrix unit's TF32-like reading of the
  // FF2 input; ActivationKernelsOfTheDevicePath below checks the kernels alone).
  const MlpSpec spec{2, 32, Activation::gelu, true};
  MlpImplConfig config;
  config.ff1 = kExactMatmul;
  config.ff2 = kExactMatmul;
  config.bias_dtype = DType::float32;
  const Mlp mlp(spec, config,
                {pattern({2, 32}, 5, 2, 9, 4), pattern({32, 2}, 2, 1, 7, 32),
                 pattern({32}, 1, 0, 5, 8), pattern({2}, 3, 1, 5, 8)});
  const std::vector<double> expected{-0.276438074, 0.330616146, -0.271015031, 0.399633065};
  const Tensor x = pattern({2, 2}, 3, 1, 7, 4);
  expect_values(mlp.prefill_forward(x), expected, kTolerance, "mlp gelu(erf), bias placement");
  expect_values(mlp.decode_forward(x), expected, kTolerance, "mlp decode path");
}

TEST(FfnHandChecked, ActivationKernelsOfTheDevicePath) {
  // The device's activation kernels on x = [-2.5, -1, 0.5, 2] (python: 0.5 x (1 + erf(x / sqrt 2))
  // and x / (1 + exp(-x))). Catches: gelu's tanh approximation used for erf (x = -2.5 would give
  // -0.0150843, 4.4e-4 off), silu as the sigmoid alone, relu letting negatives through. The MLP
  // case above cannot see the gelu fault: its FF2 reads h as TF32-like values.
  const std::vector<float> x{-2.5f, -1.0f, 0.5f, 2.0f};
  const auto run = [&x](Activation activation) {
    std::vector<float> values = x;
    activation_kernel(activation)(values);
    return Tensor::from_floats({4}, values);
  };
  expect_values(run(Activation::gelu), {-0.0155241633, -0.158655254, 0.345731231, 1.95449974}, 1e-6,
                "gelu with erf, not its tanh approximation");
  expect_values(run(Activation::silu), {-0.18964545, -0.268941421, 0.311229666, 1.76159416}, 1e-6,
                "silu = x sigmoid(x)");
  expect_values(run(Activation::relu), {0.0, 0.0, 0.5, 2.0}, 0.0, "relu");
}

// The gated MLP of the single-device and tensor-parallel cases: hidden 4, ffn 64, silu.
struct GatedCase {
  GatedMlpSpec spec{4, 64, Activation::silu};
  GatedMlpWeights weights{pattern({4, 64}, 5, 2, 9, 8), pattern({4, 64}, 7, 3, 11, 8),
                          pattern({64, 4}, 3, 2, 7, 16)};
  Tensor x = pattern({2, 4}, 3, 1, 7, 4);
  // y = (silu(x W_gate) * (x W_up)) W_down. With the activation on up instead of gate, y[0] would
  // be -0.03161 instead of -0.08457.
  std::vector<double> expected{-0.0845667994, -0.0300041099, 0.10489303,  -0.125441184,
                               -0.0842890199, -0.0922699196, 0.207310783, -0.253978122};
};

GatedMlpImplConfig exact_gated_config() {
  GatedMlpImplConfig config;
  config.ff1_ff3 = kExactMatmul;
  config.ff2 = kExactMatmul;
  return config;
}

TEST(FfnHandChecked, GatedMlpSwiGlu) {
  // Catches: silu on up instead of gate (gate and up swapped), sigmoid without the x factor,
  // W_down read transposed.
  const GatedCase c;
  const GatedMlp mlp(c.spec, exact_gated_config(), c.weights);
  expect_values(mlp.prefill_forward(c.x), c.expected, kTolerance, "gated_mlp gate/up order, silu");
  expect_values(mlp.decode_forward(c.x), c.expected, kTolerance, "gated_mlp decode path");
}

TEST(FfnHandChecked, TpGatedMlpOnN300EqualsTheWholeMlp) {
  // ffn split 32 + 32 over the N300's two devices, partials reduced in float32. Catches: a
  // device pairing its columns of W_gate/W_up with the other device's rows of W_down, a partial
  // dropped or counted twice by the reduction, the scattered halves composed in reverse order.
  const GatedCase c;
  const TpGatedMlpSpec spec{c.spec, parse_mesh("N300")};
  const TpGatedMlpImplConfig config{exact_gated_config(), TpReduction::reduce_scatter,
                                    exact_reduce()};
  const TpGatedMlp mlp(spec, config, c.weights);
  expect_values(compose(mlp.prefill_forward(distribute(c.x, spec.mesh, {}))), c.expected,
                kTolerance, "tp_gated_mlp shards and reduction");
}

TEST(FfnHandChecked, Tp2dGatedMlpOnTwoByTwoEqualsTheWholeMlp) {
  // hidden split over the columns, ffn over the rows (TG's layout on a 2x2 mesh). Catches: the
  // FF1 partials reduced along the wrong axis, a device holding another block of a weight.
  const GatedCase c;
  const Tp2dGatedMlpSpec spec{c.spec, parse_mesh("2x2"), 1};
  Tp2dGatedMlpImplConfig config;
  config.ff1_ff3 = kExactMatmul;
  config.ff2 = kExactMatmul;
  config.ff1_ccl = exact_reduce();
  config.ff2_ccl = exact_reduce();
  const Tp2dGatedMlp mlp(spec, config, c.weights);
  const MeshTensor x = distribute(c.x, spec.mesh, {Placement::replicate(), Placement::shard(1)});
  expect_values(compose(mlp.decode_forward(x)), c.expected, kTolerance,
                "tp2d_gated_mlp 2D blocks and reductions");
}

// hidden 2, ffn 32, 4 experts, top 2. Token 0 = [1, 0] reads router row 0: logits [0, ln 3, -1,
// -2], so experts 1 and 0 with softmax([ln 3, 0]) = [0.75, 0.25] over the selected logits only.
// Token 1 = [0, 1] reads row 1: logits [0.5, 0.5, 0.5, -3], a three-way tie that goes to the
// lower indices, experts 0 and 1, with [0.5, 0.5]. Expert e's weights are pattern()s offset by e
// (tools/hand_checked_values.py ffn sums the weighted expert outputs).
struct MoeCase {
  MoeSpec spec{2, 32, 4, 2, Activation::silu};
  Tensor x = Tensor::from_floats({2, 2}, {1.0f, 0.0f, 0.0f, 1.0f});
  // A softmax over all four logits without renormalising would give [-0.0402, 0.0589, -0.0077,
  // 0.0162].
  std::vector<double> expected{-0.0452966176, 0.0663504211, -0.0116504992, 0.0245143532};

  MoeWeights weights() const {
    const float ln3 = static_cast<float>(std::log(3.0));
    MoeWeights w{Tensor::from_floats({2, 4}, {0.0f, ln3, -1.0f, -2.0f, 0.5f, 0.5f, 0.5f, -3.0f}),
                 {}};
    for (int e = 0; e < 4; ++e) {
      w.experts.push_back({pattern({2, 32}, 3, e, 7, 4), pattern({2, 32}, 5, e + 1, 9, 4),
                           pattern({32, 2}, 2, e + 2, 7, 32)});
    }
    return w;
  }
};

MoeImplConfig exact_moe_config() {
  MoeImplConfig config;
  config.router = kExactMatmul;
  config.expert = exact_gated_config();
  config.combine_dtype = DType::float32;
  return config;
}

TEST(FfnHandChecked, MoeRoutingNormalisationAndTies) {
  // Catches: a softmax over all logits without renormalising over the selected ones (token 0's
  // weights 0.666/0.222 instead of 0.75/0.25), the weights given to the wrong expert, ties
  // broken to the higher index (token 1 would take expert 2), top_k - 1 experts.
  const MoeCase c;
  const Moe moe(c.spec, exact_moe_config(), c.weights());
  expect_values(moe.prefill_forward(c.x), c.expected, kTolerance,
                "moe routing normalisation, tie order, weights per expert");
  expect_values(moe.decode_forward(c.x), c.expected, kTolerance, "moe decode path");
}

TEST(FfnHandChecked, EpMoeOnN300EqualsTheWholeMoe) {
  // Experts 0-1 on device 0, 2-3 on device 1, partials all-reduced in float32. Catches: a device
  // routing with another device's expert numbering (local index as the global one), a partial
  // dropped, an expert counted on both devices.
  const MoeCase c;
  const EpMoeSpec spec{c.spec, parse_mesh("N300")};
  const EpMoeImplConfig config{exact_moe_config(), TpReduction::all_reduce, exact_reduce()};
  const EpMoe moe(spec, config, c.weights());
  expect_values(compose(moe.decode_forward(distribute(c.x, spec.mesh, {}))), c.expected, kTolerance,
                "ep_moe expert placement and reduction");
}

}  // namespace
}  // namespace ttt

// Hand-checked device cases of the normalization kinds (rms_norm, layer_norm): tiny rows in
// float32 formats, so the device path's own arithmetic is all that differs from the values worked
// out below (by hand, or by tools/hand_checked_values.py "normalization"). Each case names the
// fault it catches; the statistical cases (unit-scale rows rounded to bfloat16) cannot see them.
#include "tests/blocks/common/hand_checked.h"

#include <gtest/gtest.h>

#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"

namespace ttt {
namespace {

using testing_blocks::expect_values;

RmsNormImplConfig exact_rms_config() {
  RmsNormImplConfig config;
  config.activation_dtype = DType::float32;
  config.weight_dtype = DType::float32;
  config.output_dtype = DType::float32;
  config.stats_dtype = DType::float32;
  return config;
}

// Row 0 is a padding-like row whose mean square (2^-16 = 1.526e-5) is comparable to eps (1e-5);
// row 1 is unit scale. Row 0: 1 / sqrt(2^-16 + 1e-5) = 198.96, times 2^-8 = 0.77724, times the
// weights [0.5, 1, 1.5, 2] with the signs. Row 1: mean square (1 + 4 + 9 + 16) / 4 = 7.5,
// 1 / sqrt(7.50001) = 0.365148; times x and the weights.
const Tensor kRmsX =
    Tensor::from_floats({2, 4}, {0x1p-8f, -0x1p-8f, 0x1p-8f, -0x1p-8f, 1.0f, -2.0f, 3.0f, -4.0f});
const std::vector<double> kRmsExpected{0.388618773, -0.777237546, 1.16585632, -1.55447509,
                                       0.182574064, -0.730296256, 1.64316658, -2.92118503};

TEST(NormalizationHandChecked, RmsNormEpsilonOnANearZeroRow) {
  // Catches: eps added after the square root (row 0 would be [0.4987, -0.9974, ...]: 28% off),
  // eps left out (row 0: [0.5, -1, 1.5, -2]), eps from another field, a mean over dim - 1
  // values, a weight applied to the wrong column.
  const RmsNorm norm({4, 1e-5, false}, exact_rms_config(),
                     {Tensor::from_floats({4}, {0.5f, 1.0f, 1.5f, 2.0f})});
  expect_values(norm.prefill_forward(kRmsX), kRmsExpected, 1e-6,
                "rms_norm eps placement (eps after sqrt, eps dropped), mean over dim");
  // Decode is the same rows as users.
  expect_values(norm.decode_forward(kRmsX), kRmsExpected, 1e-6, "rms_norm decode path");
}

TEST(NormalizationHandChecked, RmsNormGemmaUnitOffset) {
  // Gemma's 1 + weight: weight [-0.5, 0, 0.5, 1] scales as [0.5, 1, 1.5, 2], so the values are
  // those above. Catches: the offset not added (row 1 would be [-0.18, 0, 0.55, -1.46]), added
  // twice.
  const RmsNorm norm({4, 1e-5, true}, exact_rms_config(),
                     {Tensor::from_floats({4}, {-0.5f, 0.0f, 0.5f, 1.0f})});
  expect_values(norm.prefill_forward(kRmsX), kRmsExpected, 1e-6, "rms_norm unit offset");
}

TEST(NormalizationHandChecked, LayerNormBiasedVarianceEpsAndBiasOnOffsetRows) {
  // Row 0 = [1, 2, 3, 4] + 16 (a DC offset): mean 18.5, biased variance 1.25 (unbiased would be
  // 1.6667), (x - mean) / sqrt(1.25 + 1e-5) = [-1.341635, -0.447212, 0.447212, 1.341635], times
  // [0.5, 1, 1.5, 2] plus the bias [0.25, -0.25, 0.5, -0.5] = [-0.420818, -0.697212, 1.170818,
  // 2.183271]. Row 1 = [0, 2^-8, 0, 2^-8]: variance 2^-18 = 3.8e-6, below eps, so eps decides
  // the scale: 1 / sqrt(3.815e-6 + 1e-5) = 269.1; (x - mean) = -+2^-9 -> -+0.5256 (python:
  // tools/hand_checked_values.py normalization).
  // Catches: unbiased variance (row 0 scale 0.7746 instead of 0.8944), eps after the square
  // root or left out (row 1: +-1 instead of +-0.5256), the bias dropped or added before the
  // weight, the mean not subtracted, a one-pass variance that cancels at the offset.
  LayerNormImplConfig config;
  config.activation_dtype = DType::float32;
  config.weight_dtype = DType::float32;
  config.output_dtype = DType::float32;
  const LayerNorm norm({4, 1e-5, true}, config,
                       {Tensor::from_floats({4}, {0.5f, 1.0f, 1.5f, 2.0f}),
                        Tensor::from_floats({4}, {0.25f, -0.25f, 0.5f, -0.5f})});
  const Tensor x =
      Tensor::from_floats({2, 4}, {17.0f, 18.0f, 19.0f, 20.0f, 0.0f, 0x1p-8f, 0.0f, 0x1p-8f});
  const std::vector<double> expected{-0.42081771,   -0.697211807, 1.17081771,   2.18327084,
                                     -0.0127419127, 0.275483825,  -0.288225738, 0.550967651};
  expect_values(norm.prefill_forward(x), expected, 2e-6,
                "layer_norm biased variance, eps under the root, bias after the weight");
  expect_values(norm.decode_forward(x), expected, 2e-6, "layer_norm decode path");
}

}  // namespace
}  // namespace ttt

// Hand-checked device cases of the LM head kinds (lm_head, tp_lm_head): tiny shapes in float32
// formats, expected values by hand or from tools/hand_checked_values.py "lm_head". Each case
// names the fault it catches.
#include "tests/blocks/common/hand_checked.h"

#include <gtest/gtest.h>

#include <vector>

#include "blocks/lm_head/lm_head.h"
#include "blocks/lm_head/tp_lm_head.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

using testing_blocks::expect_values;
using testing_blocks::kExactMatmul;
using testing_blocks::pattern;

LmHeadImplConfig exact_config() {
  LmHeadImplConfig config;
  config.matmul = kExactMatmul;
  return config;
}

TEST(LmHeadHandChecked, SoftcapScalesInsideAndOutsideTheTanh) {
  // x = [1, -0.5], W columns [2, -2], [-1, 0], [0.5, 0], [20, -40]: logits [3, -1, 0.5, 40].
  // Gemma-2's cap 2: 2 tanh(logits / 2) = [2 tanh 1.5, 2 tanh -0.5, 2 tanh 0.25, 2 tanh 20]
  // = [1.810297, -0.924234, 0.489837, 2.0] (the last saturated).
  // Catches: cap * tanh(logits) (the first would be 1.990), tanh(logits / cap) without the cap
  // (0.905), the cap skipped (40 stays 40), the cap applied before the matmul.
  const LmHead head(
      {2, 4, false, 2.0}, exact_config(),
      {Tensor::from_floats({2, 4}, {2.0f, -1.0f, 0.5f, 20.0f, -2.0f, 0.0f, 0.0f, -40.0f})});
  const Tensor x = Tensor::from_floats({1, 2}, {1.0f, -0.5f});
  const std::vector<double> expected{1.81029651, -0.924234315, 0.489837325, 2.0};
  expect_values(head.decode_forward(x), expected, 1e-6, "lm_head softcap formula, saturation");
  expect_values(head.prefill_forward(Tensor::from_floats({1, 1, 2}, {1.0f, -0.5f})), expected, 1e-6,
                "lm_head prefill path");
}

TEST(LmHeadHandChecked, TiedTableIsReadTransposed) {
  // The tied table E [vocab 2, hidden 2] = [[1, 2], [3, 4]]: logits = x E^T = [1 - 1, 3 - 2] =
  // [0, 1]. Catches: the table read as [hidden, vocab] (x E = [-0.5, 0]), which a square table
  // does not refuse by shape.
  const LmHead head({2, 2, true, 0.0}, exact_config(),
                    {Tensor::from_floats({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f})});
  expect_values(head.decode_forward(Tensor::from_floats({1, 2}, {1.0f, -0.5f})), {0.0, 1.0}, 0.0,
                "lm_head tied table transposition");
}

TEST(LmHeadHandChecked, TpLmHeadOnN300GathersTheVocabularyInDeviceOrder) {
  // vocab 64 split 32 + 32, softcap 2, gathered in float32 (tools/hand_checked_values.py
  // lm_head). Catches: the halves gathered in reverse order (logit 0 would be logit 32, -0.4898),
  // a device holding the other device's columns, the cap applied on one device only.
  const TpLmHeadSpec spec{{2, 64, false, 2.0}, parse_mesh("N300")};
  TpLmHeadImplConfig config{exact_config(), {}};
  config.ccl.output_dtype = DType::float32;
  const TpLmHead head(spec, config, {pattern({2, 64}, 5, 1, 13, 2)});
  const Tensor x = pattern({2, 2}, 3, 1, 7, 4);
  // The weight pattern repeats every 13 columns, so each row of logits does: one period per row.
  const std::vector<std::vector<double>> periods{
      {1.34193415, -0.605419459, -1.10919944, 1.19274711, -0.823140111, 1.40781121, -0.489837325,
       -1.01965995, 1.2702979, -0.716714797, -1.19274711, 1.10919944, -0.924234315},
      {1.46814304, 0.0, -1.46814304, 1.01965995, -0.716714797, 1.61860214, 0.3706664, -1.2702979,
       1.2702979, -0.3706664, -1.61860214, 0.716714797, -1.01965995}};
  std::vector<double> expected;
  for (const std::vector<double>& period : periods) {
    for (std::size_t column = 0; column < 64; ++column) expected.push_back(period[column % 13]);
  }
  expect_values(compose(head.decode_forward(distribute(x, spec.mesh, {}))), expected, 1e-6,
                "tp_lm_head vocabulary order, per-device columns, softcap on every shard");
}

}  // namespace
}  // namespace ttt

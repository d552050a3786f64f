// Hand-checked device cases of the rope kind: one head of 4 (or two of 6) at positions other
// than 0, float32 tables and activations, expected values from tools/hand_checked_values.py
// "rope" (float64 numpy: rotate-half, inv_freq = theta^(-2i/rotary_dim)). Each case names the
// fault it catches.
#include "tests/blocks/common/hand_checked.h"

#include <gtest/gtest.h>

#include <vector>

#include "blocks/rope/rope.h"

namespace ttt {
namespace {

using testing_blocks::expect_values;
using testing_blocks::pattern;

RopeImplConfig exact_config() {
  RopeImplConfig config;
  config.table_dtype = DType::float32;
  config.activation_dtype = DType::float32;
  config.table_positions = 64;
  return config;
}

RopeSpec spec_of(std::int64_t head_dim, std::int64_t rotary_dim) {
  RopeSpec spec;
  spec.head_dim = head_dim;
  spec.rotary_dim = rotary_dim;
  spec.theta = 10000.0;
  spec.max_position_embeddings = 64;
  return spec;
}

// x = pattern([2 tokens, 1 head, 4], 3, 1, 9, 4) = [[-0.75, 0, 0.75, -0.75], [0, 0.75, -0.75, 0]].
const Tensor kX = pattern({2, 1, 4}, 3, 1, 9, 4);

TEST(RopeHandChecked, RotateHalfAtPositionsThreeAndSeven) {
  // inv_freq = [1, 0.01]; token 0 at position 3: out[0] = x0 cos 3 - x2 sin 3 = -0.75 (-0.98999)
  // - 0.75 (0.14112) = 0.636654; out[2] = x2 cos 3 + x0 sin 3 = -0.848334; out[1], out[3] turn
  // by 0.03. Catches: position 0 used (out = x), positions shifted by one, adjacent pairs
  // (interleaved) instead of i with i + 2, the sign of sin swapped, inv_freq with i/d instead of
  // 2i/d.
  const Rope rope(spec_of(4, 0), exact_config());
  expect_values(rope.forward(kX, Tensor::from_int64({2}, {3, 7})),
                {0.636654366, 0.0224966252, -0.848334378, -0.749662525, 0.492739949, 0.74816325,
                 -0.565426691, 0.0524571355},
                1e-6, "rope position offset, rotate-half pairing, sin sign, frequencies");
}

TEST(RopeHandChecked, PartialRotaryLeavesTheTailAlone) {
  // head_dim 6, rotary_dim 4 (GPT-NeoX/Phi): values 0-3 of each of 2 heads turn as above at
  // position 5, values 4-5 pass through ([0, -1] and [0.75, -0.25]). Catches: all 6 rotated,
  // pairs i with i + head_dim / 2 (3) instead of i + rotary_dim / 2, the frequencies from
  // head_dim instead of rotary_dim, the second head's offset wrong.
  const Rope rope(spec_of(6, 4), exact_config());
  expect_values(rope.forward(pattern({1, 2, 6}, 5, 2, 9, 4), Tensor::from_int64({1}, {5})),
                {-0.381562161, 0.699083526, 0.408546591, 1.03623464, 0, -1, 0.550377684,
                 -0.724073111, -0.0978999759, -0.536859507, 0.75, -0.25},
                1e-6, "partial rotary dims");
}

TEST(RopeHandChecked, LinearScalingPastTheOriginalContext) {
  // linear, factor 4: positions 12 and 30 turn as 3 and 7.5 would, so token 0 equals the first
  // case's token 0. Catches: the factor ignored (position 12 used whole), multiplied instead of
  // divided.
  RopeSpec spec = spec_of(4, 0);
  spec.scaling = RopeScaling::linear;
  spec.factor = 4.0;
  const Rope rope(spec, exact_config());
  expect_values(rope.forward(kX, Tensor::from_int64({2}, {12, 30})),
                {0.636654366, 0.0224966252, -0.848334378, -0.749662525, 0.703499983, 0.747891614,
                 -0.259976488, 0.0561972805},
                1e-6, "rope linear scaling factor");
}

}  // namespace
}  // namespace ttt

// Metrics that see scale (docs/testing.md "Metrics that see scale"): every block kind's tolerances
// include nmse besides PCC, so a uniform scale error fails them whatever the noise: PCC is blind
// to it. A device output with noise at half the kind's nmse ceiling passes; the same output 5%
// too large fails every kind but the FFN ones (ceiling 10%: their bfloat8_b noise at real widths
// reaches 0.3%), which fail at 10%. A 1% scale error is below every statistical ceiling; the
// hand-checked device cases (tests/blocks/*/hand_checked_test.cc, float32, 1e-6) catch it.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "blocks/common/block_kind.h"
#include "blocks/common/kind_support.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

// The kind's tolerances for a bfloat16 output, as replay applies them.
Tolerances tolerances_of(const BlockKind& kind) {
  return kind.tolerances.value_or(default_tolerances(DType::bfloat16, DType::float32));
}

bool is_ffn(const BlockKind& kind) {
  for (const char* family :
       {"mlp", "gated_mlp", "moe", "tp_gated_mlp", "tp2d_gated_mlp", "ep_moe"}) {
    if (kind.family == family) return true;
  }
  return false;
}

// reference * scale + noise of variance noise_nmse (reference ~ N(0, 1)), rounded to bfloat16.
Tensor device_output(const Tensor& reference, double scale, double noise_nmse) {
  const Tensor noise = random_normal(reference.shape(), 99, 0.0, std::sqrt(noise_nmse));
  Tensor out = reference.to(DType::float32);
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    out.mutable_floats()[static_cast<std::size_t>(i)] =
        static_cast<float>(reference.at_flat(i) * scale + noise.at_flat(i));
  }
  return out.to(DType::bfloat16);
}

TEST(ScaleSensitivity, EveryKindsTolerancesFailAUniformScaleError) {
  const Tensor reference = random_normal({64, 64}, 7);
  for (const BlockKind& kind : block_kinds()) {
    SCOPED_TRACE(kind.name);
    const Tolerances tolerances = tolerances_of(kind);
    ASSERT_TRUE(tolerances.nmse.has_value()) << "a PCC floor alone cannot see a scale error";
    // Clean: noise at half the ceiling (a worse call than any measured).
    const double noise = *tolerances.nmse / 2.0;
    const auto verdict = [&](double scale) {
      return evaluate(compute_metrics(device_output(reference, scale, noise), reference),
                      tolerances);
    };
    EXPECT_TRUE(verdict(1.0).passed) << verdict(1.0).text();
    // PCC stays above TTTv1's 0.99 floor: the failures below are nmse's.
    EXPECT_GT(compute_metrics(device_output(reference, 1.10, noise), reference).pcc, 0.99);
    if (is_ffn(kind)) {
      EXPECT_TRUE(verdict(1.05).passed) << "the FFN ceiling is 10%";
      EXPECT_FALSE(verdict(1.10).passed);
      EXPECT_FALSE(verdict(0.90).passed);
    } else {
      EXPECT_FALSE(verdict(1.05).passed);
      EXPECT_FALSE(verdict(0.95).passed);
    }
  }
}

TEST(ScaleSensitivity, TheCeilingIsTheRelativeRmse) {
  const Tolerances t = kind_support::pcc_and_relative_rmse(0.99, 0.05);
  EXPECT_EQ(t.pcc, 0.99);
  EXPECT_DOUBLE_EQ(*t.nmse, 0.0025);
}

}  // namespace
}  // namespace ttt

#include "blocks/normalization/rms_norm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/blocks/common/accuracy.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_blocks::AccuracyBound;
using testing_blocks::expect_accuracy;

TEST(RmsNormReferenceTest, HandCheckedValues) {
  // mean(x^2) = 4, so x / rms = [1, -1, 1, -1].
  const Tensor x = Tensor::from_floats({1, 4}, {2.0f, -2.0f, 2.0f, -2.0f});
  const RmsNormSpec plain{4, 0.0, false};
  const Tensor y =
      rms_norm_reference(plain, {Tensor::from_floats({4}, {0.5f, 1.0f, 2.0f, 4.0f})}, x);
  EXPECT_EQ(y.at({0, 0}), 0.5);
  EXPECT_EQ(y.at({0, 1}), -1.0);
  EXPECT_EQ(y.at({0, 2}), 2.0);
  EXPECT_EQ(y.at({0, 3}), -4.0);
  // Gemma scales by (1 + weight): the same outputs from weight - 1.
  const RmsNormSpec gemma{4, 0.0, true};
  const Tensor z =
      rms_norm_reference(gemma, {Tensor::from_floats({4}, {-0.5f, 0.0f, 1.0f, 3.0f})}, x);
  EXPECT_EQ(z.at({0, 3}), -4.0);
  // eps enters under the root: mean(x^2) = (9 + 16) / 2 = 12.5, + 3.5 = 16, rms 4.
  const RmsNormSpec with_eps{2, 3.5, false};
  const Tensor e = rms_norm_reference(with_eps, {Tensor::from_floats({2}, {1.0f, 1.0f})},
                                      Tensor::from_floats({2}, {3.0f, 4.0f}));
  EXPECT_EQ(e.at({0}), 0.75);
  EXPECT_EQ(e.at({1}), 1.0);
}

TEST(RmsNormReferenceTest, MatchesNaiveDoubleOnRandomRows) {
  const RmsNormSpec spec{40, 1e-6, false};
  const Tensor x = random_normal({3, 40}, 101);
  const Tensor w = random_normal({40}, 102, 1.0, 0.2);
  const Tensor y = rms_norm_reference(spec, {w}, x);
  for (std::int64_t r = 0; r < 3; ++r) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < 40; ++i) sum += x.at({r, i}) * x.at({r, i});
    const double scale = 1.0 / std::sqrt(sum / 40.0 + 1e-6);
    for (std::int64_t i = 0; i < 40; ++i) {
      EXPECT_NEAR(y.at({r, i}), x.at({r, i}) * scale * w.at({i}), 1e-6);
    }
  }
}

struct NormCase {
  std::string model;
  RmsNormSpec spec;
  std::string config_name;
  RmsNormImplConfig config;
  AccuracyBound bound;
};

RmsNormImplConfig make_config(Accumulation accumulation, std::int64_t shards,
                              DType activation = DType::bfloat16) {
  RmsNormImplConfig config;
  config.accumulation = accumulation;
  config.stat_shards = shards;
  config.activation_dtype = activation;
  return config;
}

class RmsNormAccuracyTest : public ::testing::TestWithParam<NormCase> {};

TEST_P(RmsNormAccuracyTest, DeviceMatchesReferenceAtModelDims) {
  const NormCase& c = GetParam();
  const Tensor x = random_normal({32, c.spec.dim}, 7);
  const Tensor w = random_normal({c.spec.dim}, 8, c.spec.add_unit_offset ? 0.0 : 1.0, 0.1);
  const RmsNorm norm(c.spec, c.config, {w});
  const Tensor reference = rms_norm_reference(c.spec, {w}, x);
  expect_accuracy(norm.prefill_forward(x), reference, c.spec.identity(), c.config_name, c.bound);
  const Tensor decode_x = random_normal({32, c.spec.dim}, 9);
  expect_accuracy(norm.decode_forward(decode_x), rms_norm_reference(c.spec, {w}, decode_x),
                  c.spec.identity(), c.config_name + "/decode", c.bound);
}

// TTTv1's floor for RMSNorm is PCC >= 0.9999 in bfloat16. The max abs error bounds are measured
// figures with margin (outputs are about N(0, 1) * weight, bfloat16 spacing at 4 is 2^-5).
INSTANTIATE_TEST_SUITE_P(
    Models, RmsNormAccuracyTest,
    ::testing::Values(
        NormCase{"Llama-3.1-8B", {4096, 1e-5, false}, "bf16/fp32", {}, {0.9999, 0.04}},
        NormCase{"Llama-3.2-1B", {2048, 1e-5, false}, "bf16/fp32", {}, {0.9999, 0.04}},
        NormCase{"Qwen2.5-7B", {3584, 1e-6, false}, "bf16/fp32", {}, {0.9999, 0.04}},
        NormCase{"Gemma-2-9B", {3584, 1e-6, true}, "bf16/fp32", {}, {0.9999, 0.04}},
        NormCase{"Llama-3.1-8B",
                 {4096, 1e-5, false},
                 "bf16/bf16acc",
                 make_config(Accumulation::bf16, 1),
                 {0.9999, 0.1}},
        NormCase{"Llama-3.1-70B",
                 {8192, 1e-5, false},
                 "bf16/TG-4-shards",
                 make_config(Accumulation::fp32, 4),
                 {0.9999, 0.04}},
        NormCase{"Llama-3.1-8B",
                 {4096, 1e-5, false},
                 "bfp8-input/fp32",
                 make_config(Accumulation::fp32, 1, DType::bfloat8_b),
                 {0.999, 0.15}}),
    testing_blocks::CaseName());

TEST(RmsNormTest, IdentityJsonRoundTripAndErrors) {
  const RmsNormSpec spec{4096, 1e-5, false};
  EXPECT_EQ(spec.identity(), "RMS_NORM(dim=4096,eps=1e-05,offset=0)");
  EXPECT_EQ((RmsNormSpec{3584, 1e-6, true}.identity()), "RMS_NORM(dim=3584,eps=1e-06,offset=1)");
  const nlohmann::json json = spec;
  EXPECT_EQ(json.get<RmsNormSpec>(), spec);
  RmsNormImplConfig config = make_config(Accumulation::bf16, 4);
  config.stats_dtype = DType::float32;
  EXPECT_EQ(nlohmann::json(config).get<RmsNormImplConfig>(), config);
  EXPECT_THAT(([] {
                nlohmann::json{{"dim", 8}, {"epsilon", 1e-5}}.get<RmsNormSpec>();
              }),
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "rms_norm spec: /epsilon: unknown field 'epsilon' (expected one of: dim, "
                  "eps, add_unit_offset)")));
  EXPECT_THAT(
      ([] {
        nlohmann::json{{"eps", 1e-5}}.get<RmsNormSpec>();
      }),
      ThrowsMessage<std::invalid_argument>(HasSubstr("rms_norm spec: /: missing field 'dim'")));
  EXPECT_THAT(([] {
                nlohmann::json{{"accumulation", "fp64"}}.get<RmsNormImplConfig>();
              }),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("rms_norm impl_config: /accumulation: unknown accumulation 'fp64'")));
}

TEST(RmsNormTest, BadShapesAndDimsNameTheField) {
  const RmsNormSpec spec{4096, 1e-5, false};
  EXPECT_THAT([&] { RmsNorm(spec, {}, {random_normal({4095}, 1)}); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[rms_norm] weight has shape [4095], expected [4096]")));
  EXPECT_THAT(
      [&] {
        RmsNorm(RmsNormSpec{0, 1e-5, false}, {}, {random_normal({1}, 1)});
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[rms_norm] spec.dim must be > 0, got 0")));
  EXPECT_THAT(
      [&] { RmsNorm(spec, make_config(Accumulation::fp32, 3), {random_normal({4096}, 1)}); },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[rms_norm] config.stat_shards 3 does not divide spec.dim 4096")));
  const RmsNorm norm(spec, {}, {random_normal({4096}, 1)});
  EXPECT_THAT(
      [&] {
        norm.prefill_forward(random_normal({2, 4000}, 1));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[rms_norm] prefill_forward input has shape [2, 4000], expected [..., 4096]")));
  EXPECT_THAT(
      [&] {
        norm.decode_forward(random_normal({1, 2, 4096}, 1));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[rms_norm] decode_forward input has shape [1, 2, 4096]")));
}

TEST(RmsNormTest, DefaultConfigPerDeviceAndMode) {
  const RmsNormSpec spec{8192, 1e-5, false};
  EXPECT_EQ(default_impl_config(spec, Device::N150, Mode::prefill), RmsNormImplConfig{});
  EXPECT_EQ(default_impl_config(spec, Device::N300, Mode::decode).stat_shards, 1);
  EXPECT_EQ(default_impl_config(spec, Device::T3K, Mode::prefill).stat_shards, 8);
  EXPECT_EQ(default_impl_config(spec, Device::T3K, Mode::decode).stat_shards, 1);
  EXPECT_EQ(default_impl_config(spec, Device::TG, Mode::decode).stat_shards, 4);
  EXPECT_EQ(default_impl_config(spec, Device::TG, Mode::decode, Preset::performance),
            default_impl_config(spec, Device::TG, Mode::decode));
  // A dimension that does not split over the chips keeps its statistics on one.
  EXPECT_EQ(
      default_impl_config(RmsNormSpec{4100, 1e-5, false}, Device::T3K, Mode::prefill).stat_shards,
      1);
  const RmsNormImplConfig config = default_impl_config(spec, Device::N150, Mode::decode);
  EXPECT_EQ(config.activation_dtype, DType::bfloat16);
  EXPECT_EQ(config.weight_dtype, DType::bfloat16);
  EXPECT_EQ(config.accumulation, Accumulation::fp32);
}

TEST(RmsNormTest, WeightIsPreparedOnceAndOnlyWhenNeeded) {
  std::atomic<int> loads{0};
  const RmsNormSpec spec{64, 1e-5, true};
  const RmsNorm norm(spec, {}, {WeightSource({64}, [&] {
                       ++loads;
                       return random_normal({64}, 3, 0.0, 0.1);
                     })});
  EXPECT_EQ(loads.load(), 0);
  EXPECT_FALSE(norm.weights_prepared());
  const Tensor x = random_normal({4, 64}, 4);
  const Tensor first = norm.prefill_forward(x);
  const Tensor second = norm.decode_forward(x);
  EXPECT_EQ(loads.load(), 1);
  EXPECT_TRUE(norm.weights_prepared());
  for (std::int64_t i = 0; i < first.numel(); ++i) ASSERT_EQ(first.at_flat(i), second.at_flat(i));
}

TEST(RmsNormTest, ShardedStatisticsRoundPartialSumsToTheStatsDtype) {
  // Two chips hold one value each. The first partial sum (1 + 2^-7)^2 = 1 + 2^-6 + 2^-14 is not a
  // bfloat16: exchanged in bfloat16 it becomes 1 + 2^-6, in float32 it stays exact.
  const RmsNormSpec spec{2, 0.0, false};
  const Tensor w = Tensor::from_floats({2}, {1.0f, 1.0f});
  const double a = 1.0 + 0x1p-7;
  const Tensor x = Tensor::from_floats({1, 2}, {static_cast<float>(a), 0.0f});
  RmsNormImplConfig config = make_config(Accumulation::fp32, 2);
  config.output_dtype = DType::float32;
  const double bf16_exchange = RmsNorm(spec, config, {w}).prefill_forward(x).at({0, 0});
  config.stats_dtype = DType::float32;
  const double fp32_exchange = RmsNorm(spec, config, {w}).prefill_forward(x).at({0, 0});
  EXPECT_NEAR(bf16_exchange, a / std::sqrt((1.0 + 0x1p-6) / 2.0), 1e-6);
  EXPECT_NEAR(fp32_exchange, a / std::sqrt((1.0 + 0x1p-6 + 0x1p-14) / 2.0), 1e-6);
  EXPECT_GT(std::abs(bf16_exchange - fp32_exchange), 1e-5);
}

// tt-metal's rmsnorm kernel holds x / rms in an intermediate buffer before the weight multiply;
// the buffer is float32 under fp32 accumulation (fp32_dest_acc_en, TTTv1) and bfloat16 under bf16,
// as are the mean square and 1 / rms. Row x = [3, 4], weight 1.5, eps 0: mean square 12.5 (exact
// in both), 1 / rms = 0.28284271; bfloat16 spacing is 2^-7 on [1, 2).
// fp32: one rounding of x / rms * 1.5 = [1.27279, 1.69706] -> 162.92 and 217.22 steps of 2^-7
// -> [163, 217] * 2^-7 = [1.2734375, 1.6953125] (each within half a step).
// bf16: 1 / rms -> 1.1328125 * 2^-2 = 0.283203125; 3 * that = 0.849609375 = 217.5 * 2^-8, a tie,
// -> 218 * 2^-8 = 0.8515625; * 1.5 = 1.27734375 = 163.5 * 2^-7, a tie -> 164 * 2^-7 = 1.28125.
// 4 * 0.283203125 = 1.1328125 (exact); * 1.5 = 1.69921875 = 217.5 * 2^-7 -> 218 * 2^-7 = 1.703125.
TEST(RmsNormTest, IntermediateBufferFormatFollowsAccumulation) {
  const RmsNormSpec spec{2, 0.0, false};
  const Tensor w = Tensor::from_floats({2}, {1.5f, 1.5f});
  const Tensor x = Tensor::from_floats({1, 2}, {3.0f, 4.0f});
  const Tensor single = RmsNorm(spec, make_config(Accumulation::fp32, 1), {w}).prefill_forward(x);
  EXPECT_EQ(single.at({0, 0}), 1.2734375);
  EXPECT_EQ(single.at({0, 1}), 1.6953125);
  const Tensor rounded = RmsNorm(spec, make_config(Accumulation::bf16, 1), {w}).decode_forward(x);
  EXPECT_EQ(rounded.at({0, 0}), 1.28125);
  EXPECT_EQ(rounded.at({0, 1}), 1.703125);
}

}  // namespace
}  // namespace ttt

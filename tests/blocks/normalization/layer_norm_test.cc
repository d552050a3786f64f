#include "blocks/normalization/layer_norm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "tests/blocks/common/accuracy.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_blocks::AccuracyBound;
using testing_blocks::expect_accuracy;

TEST(LayerNormReferenceTest, HandCheckedValues) {
  // mean 2.5, variance ((1.5^2 + 0.5^2) * 2) / 4 = 1.25; with eps = 0 the outputs are
  // (x - 2.5) / sqrt(1.25).
  const LayerNormSpec spec{4, 0.0, true};
  const Tensor x = Tensor::from_floats({1, 4}, {1.0f, 2.0f, 3.0f, 4.0f});
  const Tensor w = Tensor::from_floats({4}, {1.0f, 1.0f, 2.0f, 2.0f});
  const Tensor b = Tensor::from_floats({4}, {0.0f, 1.0f, 0.0f, -1.0f});
  const Tensor y = layer_norm_reference(spec, {w, b}, x);
  const double s = 1.0 / std::sqrt(1.25);
  EXPECT_NEAR(y.at({0, 0}), -1.5 * s, 1e-6);
  EXPECT_NEAR(y.at({0, 1}), -0.5 * s + 1.0, 1e-6);
  EXPECT_NEAR(y.at({0, 2}), 2.0 * 0.5 * s, 1e-6);
  EXPECT_NEAR(y.at({0, 3}), 2.0 * 1.5 * s - 1.0, 1e-6);
  // A constant row normalizes to zero (eps keeps the division finite), leaving the bias.
  const Tensor c = layer_norm_reference(LayerNormSpec{4, 1e-5, true}, {w, b},
                                        Tensor::from_floats({4}, {7, 7, 7, 7}));
  EXPECT_EQ(c.at({1}), 1.0);
  EXPECT_EQ(c.at({3}), -1.0);
  // Without bias.
  const Tensor n = layer_norm_reference(LayerNormSpec{4, 0.0, false}, {w}, x);
  EXPECT_NEAR(n.at({0, 1}), -0.5 * s, 1e-6);
}

struct LayerNormCase {
  std::string model;
  LayerNormSpec spec;
  std::string config_name;
  LayerNormImplConfig config;
  AccuracyBound bound;
};

class LayerNormAccuracyTest : public ::testing::TestWithParam<LayerNormCase> {};

TEST_P(LayerNormAccuracyTest, DeviceMatchesReferenceAtModelDims) {
  const LayerNormCase& c = GetParam();
  // Activations with a non-zero mean, as residual streams have.
  const Tensor x = random_normal({32, c.spec.dim}, 11, 0.5, 2.0);
  const Tensor w = random_normal({c.spec.dim}, 12, 1.0, 0.1);
  const Tensor b = c.spec.bias ? random_normal({c.spec.dim}, 13, 0.0, 0.1) : Tensor();
  const LayerNormWeights weights{w, b.defined() ? WeightSource(b) : WeightSource()};
  const LayerNorm norm(c.spec, c.config, weights);
  expect_accuracy(norm.prefill_forward(x), layer_norm_reference(c.spec, weights, x),
                  c.spec.identity(), c.config_name, c.bound);
}

LayerNormImplConfig bf16_accumulation() {
  LayerNormImplConfig config;
  config.accumulation = Accumulation::bf16;
  return config;
}

INSTANTIATE_TEST_SUITE_P(
    Models, LayerNormAccuracyTest,
    ::testing::Values(
        LayerNormCase{"GPT-2", {768, 1e-5, true}, "bf16/fp32", {}, {0.9999, 0.04}},
        LayerNormCase{"BERT-base", {768, 1e-12, true}, "bf16/fp32", {}, {0.9999, 0.04}},
        LayerNormCase{"BLOOM-560m", {1024, 1e-5, true}, "bf16/fp32", {}, {0.9999, 0.04}},
        LayerNormCase{"GPT-2", {768, 1e-5, false}, "bf16/fp32/no-bias", {}, {0.9999, 0.04}},
        LayerNormCase{
            "GPT-2", {768, 1e-5, true}, "bf16/bf16acc", bf16_accumulation(), {0.999, 0.1}}),
    testing_blocks::CaseName());

TEST(LayerNormTest, IdentityJsonDefaultsAndErrors) {
  const LayerNormSpec spec{768, 1e-12, true};
  EXPECT_EQ(spec.identity(), "LAYER_NORM(dim=768,eps=1e-12,bias=1)");
  EXPECT_EQ(nlohmann::json(spec).get<LayerNormSpec>(), spec);
  EXPECT_EQ(nlohmann::json(bf16_accumulation()).get<LayerNormImplConfig>(), bf16_accumulation());
  for (Device device : {Device::N150, Device::N300, Device::T3K, Device::TG}) {
    EXPECT_EQ(default_impl_config(spec, device, Mode::decode), LayerNormImplConfig{});
    EXPECT_EQ(default_impl_config(spec, device, Mode::prefill, Preset::performance),
              LayerNormImplConfig{});
  }
  EXPECT_THAT(([] {
                nlohmann::json{{"dim", 8}, {"bias", "yes"}}.get<LayerNormSpec>();
              }),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("layer_norm spec: /bias: expected a boolean, got \"yes\"")));
  const Tensor w = random_normal({768}, 1);
  EXPECT_THAT([&] { LayerNorm(spec, {}, {w}); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[layer_norm] bias is missing: spec.bias is set")));
  EXPECT_THAT(
      [&] {
        LayerNorm(spec, {}, {w, random_normal({767}, 2)});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[layer_norm] bias has shape [767], expected [768]")));
  EXPECT_THAT(
      [&] {
        LayerNorm(LayerNormSpec{768, 1e-5, false}, {}, {w, w});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[layer_norm] bias is given, but spec.bias is not set")));
  const LayerNorm norm(spec, {}, {w, w});
  EXPECT_THAT([&] { norm.decode_forward(random_normal({768}, 3)); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("decode_forward input has shape [768], expected [batch, 768]")));
}

TEST(LayerNormTest, WeightsArePreparedOnce) {
  std::atomic<int> loads{0};
  const LayerNormSpec spec{32, 1e-5, true};
  auto counted = [&](std::uint64_t seed) {
    return WeightSource({32}, [&loads, seed] {
      ++loads;
      return random_normal({32}, seed);
    });
  };
  const LayerNorm norm(spec, {}, {counted(1), counted(2)});
  EXPECT_EQ(loads.load(), 0);
  norm.prefill_forward(random_normal({2, 32}, 3));
  norm.decode_forward(random_normal({2, 32}, 4));
  EXPECT_EQ(loads.load(), 2);
  EXPECT_TRUE(norm.weights_prepared());
}

}  // namespace
}  // namespace ttt

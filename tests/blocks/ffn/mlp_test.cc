#include "blocks/ffn/mlp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <memory>
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

TEST(MlpReferenceTest, HandCheckedActivations) {
  // hidden 1, ffn 2, w_up = [1, -1], b_up = [0.5, 0], w_down = [[1], [2]], b_down = [0.25]; x = 1
  // gives up = [1.5, -1] and y = act(1.5) + 2 act(-1) + 0.25.
  const Tensor x = Tensor::from_floats({1, 1}, {1.0f});
  const Tensor w_up = Tensor::from_floats({1, 2}, {1.0f, -1.0f});
  const Tensor b_up = Tensor::from_floats({2}, {0.5f, 0.0f});
  const Tensor w_down = Tensor::from_floats({2, 1}, {1.0f, 2.0f});
  const Tensor b_down = Tensor::from_floats({1}, {0.25f});
  const auto y = [&](Activation activation) {
    return mlp_reference(MlpSpec{1, 2, activation, true}, {w_up, w_down, b_up, b_down}, x)
        .at({0, 0});
  };
  EXPECT_EQ(y(Activation::relu), 1.75);
  const double phi = [](double v) { return 0.5 * (1.0 + std::erf(v / std::sqrt(2.0))); }(1.5);
  const double phi_minus = 0.5 * (1.0 + std::erf(-1.0 / std::sqrt(2.0)));
  EXPECT_NEAR(y(Activation::gelu), 1.5 * phi + 2.0 * (-1.0 * phi_minus) + 0.25, 1e-6);
  const double c = std::sqrt(2.0 / 3.14159265358979323846);
  const auto tanh_gelu = [c](double v) {
    return 0.5 * v * (1.0 + std::tanh(c * (v + 0.044715 * v * v * v)));
  };
  EXPECT_NEAR(y(Activation::gelu_tanh), tanh_gelu(1.5) + 2.0 * tanh_gelu(-1.0) + 0.25, 1e-6);
  // Without biases: relu(1) + 2 relu(-1) = 1.
  EXPECT_EQ(mlp_reference(MlpSpec{1, 2, Activation::relu, false}, {w_up, w_down}, x).at({0, 0}),
            1.0);
}

struct MlpCase {
  std::string model;
  MlpSpec spec;
  std::string config_name;
  MlpImplConfig config;
  AccuracyBound bound;
};

MlpImplConfig uniform(DType weights, MathFidelity fidelity, Accumulation accumulation,
                      DType hidden) {
  MlpImplConfig config;
  config.ff1 = {DType::bfloat16, weights, DType::bfloat16, fidelity, accumulation};
  config.ff2 = {hidden, weights, DType::bfloat16, fidelity, accumulation};
  return config;
}

class MlpAccuracyTest : public ::testing::TestWithParam<MlpCase> {};

TEST_P(MlpAccuracyTest, DeviceMatchesReferenceAtModelDims) {
  const MlpCase& c = GetParam();
  const MlpSpec& spec = c.spec;
  const double in_scale = 1.0 / std::sqrt(static_cast<double>(spec.hidden_dim));
  const double out_scale = 1.0 / std::sqrt(static_cast<double>(spec.ffn_dim));
  const Tensor x = random_normal({12, spec.hidden_dim}, 41);
  const Tensor w_up = random_normal({spec.hidden_dim, spec.ffn_dim}, 42, 0.0, in_scale);
  const Tensor w_down = random_normal({spec.ffn_dim, spec.hidden_dim}, 43, 0.0, out_scale);
  const Tensor b_up = spec.bias ? random_normal({spec.ffn_dim}, 44, 0.0, 0.1) : Tensor();
  const Tensor b_down = spec.bias ? random_normal({spec.hidden_dim}, 45, 0.0, 0.1) : Tensor();
  MlpWeights weights{w_up, w_down, {}, {}};
  if (spec.bias) weights = {w_up, w_down, b_up, b_down};
  const Mlp mlp(spec, c.config, weights);
  expect_accuracy(mlp.prefill_forward(x), mlp_reference(spec, weights, x), spec.identity(),
                  c.config_name, c.bound);
  const Tensor decode_x = random_normal({4, spec.hidden_dim}, 46);
  expect_accuracy(mlp.decode_forward(decode_x), mlp_reference(spec, weights, decode_x),
                  spec.identity(), c.config_name + "/decode", c.bound);
}

const MlpSpec kGpt2{768, 3072, Activation::gelu_tanh, true};
const MlpSpec kBert{768, 3072, Activation::gelu, true};
const MlpSpec kBloom{1024, 4096, Activation::gelu, true};

MlpImplConfig preset(const MlpSpec& spec, Preset p) {
  return default_impl_config(spec, Device::N150, Mode::prefill, p);
}

INSTANTIATE_TEST_SUITE_P(Models, MlpAccuracyTest,
                         ::testing::Values(MlpCase{"GPT-2",
                                                   kGpt2,
                                                   "bf16/HiFi4/fp32",
                                                   uniform(DType::bfloat16, MathFidelity::HiFi4,
                                                           Accumulation::fp32, DType::bfloat16),
                                                   {0.99998, 0.02}},
                                           MlpCase{"GPT-2",
                                                   kGpt2,
                                                   "default(bfp8/HiFi2/bf16)",
                                                   preset(kGpt2, Preset::accuracy),
                                                   {0.9995, 0.13}},
                                           MlpCase{"GPT-2",
                                                   kGpt2,
                                                   "performance(ff1 bfp4/LoFi)",
                                                   preset(kGpt2, Preset::performance),
                                                   {0.989, 0.5}},
                                           MlpCase{"BERT-base",
                                                   kBert,
                                                   "default(bfp8/HiFi2/bf16)",
                                                   preset(kBert, Preset::accuracy),
                                                   {0.9995, 0.13}},
                                           MlpCase{"BLOOM-560m",
                                                   kBloom,
                                                   "default(bfp8/HiFi2/bf16)",
                                                   preset(kBloom, Preset::accuracy),
                                                   {0.9995, 0.17}},
                                           MlpCase{"GPT-2",
                                                   MlpSpec{768, 3072, Activation::relu, false},
                                                   "relu/no-bias/default",
                                                   preset(kGpt2, Preset::accuracy),
                                                   {0.9995, 0.13}}),
                         testing_blocks::CaseName());

TEST(MlpTest, IdentityJsonDefaultsAndErrors) {
  EXPECT_EQ(kGpt2.identity(), "MLP(hidden=768,ffn=3072,act=gelu_tanh,bias=1)");
  EXPECT_EQ(nlohmann::json(kBert).get<MlpSpec>(), kBert);
  const MlpImplConfig fast =
      default_impl_config(kGpt2, Device::T3K, Mode::decode, Preset::performance);
  EXPECT_EQ(nlohmann::json(fast).get<MlpImplConfig>(), fast);
  EXPECT_EQ(fast.ff1.weight_dtype, DType::bfloat4_b);
  EXPECT_EQ(fast.ff1.fidelity, MathFidelity::LoFi);
  EXPECT_EQ(fast.ff2.weight_dtype, DType::bfloat8_b);
  EXPECT_EQ(fast.reduction_shards, 8);
  EXPECT_EQ(default_impl_config(kGpt2, Device::N150, Mode::decode).reduction_shards, 1);
  EXPECT_EQ(default_impl_config(kGpt2, Device::N300, Mode::prefill, Preset::accuracy),
            default_impl_config(kGpt2, Device::N300, Mode::prefill));
  EXPECT_THAT(
      ([] {
        nlohmann::json{{"hidden_dim", 8}, {"ffn_dim", 8}, {"activation", "GELU"}}.get<MlpSpec>();
      }),
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("mlp spec: /activation: unknown activation 'GELU'")));
  EXPECT_THAT(
      ([] {
        nlohmann::json{{"hidden_dim", -1}, {"ffn_dim", 8}}.get<MlpSpec>().validate();
      }),
      ThrowsMessage<std::invalid_argument>(HasSubstr("[mlp] spec.hidden_dim must be > 0, got -1")));
}

// Biases are stored in config.bias_dtype. Hand-derived case: hidden 1, ffn 32, relu, x = 1,
// w_up = 0, b_up = [1 + 2^-9, 0, ...], w_down = [1, 0, ...]^T, b_down = 2^-12 (1 + 2^-8 + 2^-10);
// every other dtype float32, HiFi4 (reads 1 + 2^-9 whole: SrcB keeps 10 mantissa bits), fp32
// accumulation. The reference is y = 1 + 2^-9 + 2^-12 + 2^-20 + 2^-22, which float32 holds
// exactly. In bfloat16 (7 mantissa bits) b_up rounds to 1 and b_down to 2^-12 (1 + 2^-7).
TEST(MlpTest, BiasDtypeIsAKnob) {
  const MlpSpec spec{1, 32, Activation::relu, true};
  std::vector<float> b_up(32, 0.0f);
  b_up[0] = 1.0f + 0x1p-9f;
  std::vector<float> w_down(32, 0.0f);
  w_down[0] = 1.0f;
  const MlpWeights weights{Tensor::from_floats({1, 32}, std::vector<float>(32, 0.0f)),
                           Tensor::from_floats({32, 1}, w_down), Tensor::from_floats({32}, b_up),
                           Tensor::from_floats({1}, {0x1p-12f * (1.0f + 0x1p-8f + 0x1p-10f)})};
  const Tensor x = Tensor::from_floats({1, 1}, {1.0f});
  MlpImplConfig config;
  config.ff1 = {DType::float32, DType::float32, DType::float32, MathFidelity::HiFi4,
                Accumulation::fp32};
  config.ff2 = config.ff1;
  EXPECT_EQ(config.bias_dtype, DType::bfloat16);  // The default, as TTTv1.

  const double exact = 1.0 + 0x1p-9 + 0x1p-12 + 0x1p-20 + 0x1p-22;
  EXPECT_EQ(mlp_reference(spec, weights, x).at({0, 0}), exact);
  MlpImplConfig float32_bias = config;
  float32_bias.bias_dtype = DType::float32;
  EXPECT_EQ(Mlp(spec, float32_bias, weights).prefill_forward(x).at({0, 0}), exact);
  EXPECT_EQ(Mlp(spec, config, weights).decode_forward(x).at({0, 0}), 1.0 + 0x1p-12 + 0x1p-19);

  // The knob is read from and written to the ImplConfig JSON; a bad value names the field.
  EXPECT_EQ(nlohmann::json(float32_bias).at("bias_dtype"), "float32");
  EXPECT_EQ(nlohmann::json(float32_bias).get<MlpImplConfig>(), float32_bias);
  const nlohmann::json alias = {{"bias_dtype", "fp32"}};
  EXPECT_EQ(alias.get<MlpImplConfig>().bias_dtype, DType::float32);
  const nlohmann::json unknown = {{"bias_dtype", "float33"}};
  EXPECT_THAT([&] { unknown.get<MlpImplConfig>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "mlp impl_config: /bias_dtype: [parse_dtype] unknown dtype 'float33'")));
  MlpImplConfig integer_bias = config;
  integer_bias.bias_dtype = DType::int32;
  EXPECT_THAT([&] { integer_bias.validate(spec); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[mlp] config.bias_dtype is int32, expected a floating dtype")));
}

TEST(MlpTest, BadShapesAreClearErrorsAndWeightsLoadOnce) {
  const MlpSpec spec{32, 64, Activation::relu, true};
  const Tensor w_up = random_normal({32, 64}, 1);
  const Tensor w_down = random_normal({64, 32}, 2);
  EXPECT_THAT(
      [&] {
        Mlp(spec, {}, {w_up, w_down, {}, {}});
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[mlp] b_up is missing: spec.bias is set")));
  EXPECT_THAT(
      [&] {
        Mlp(spec, {}, {w_up, w_down, random_normal({63}, 3), random_normal({32}, 4)});
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[mlp] b_up has shape [63], expected [64]")));
  MlpImplConfig sharded;
  sharded.reduction_shards = 4;
  EXPECT_THAT(
      [&] {
        Mlp(spec, sharded, {w_up, w_down, random_normal({64}, 3), random_normal({32}, 4)});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[mlp] config.reduction_shards 4 does not split spec.ffn_dim 64")));
  std::atomic<int> loads{0};
  const Mlp mlp(spec, {},
                {WeightSource({32, 64},
                              [&] {
                                ++loads;
                                return w_up;
                              }),
                 w_down, random_normal({64}, 3), random_normal({32}, 4)});
  EXPECT_EQ(loads.load(), 0);
  mlp.prefill_forward(random_normal({3, 32}, 5));
  mlp.decode_forward(random_normal({2, 32}, 6));
  EXPECT_EQ(loads.load(), 1);
  EXPECT_TRUE(mlp.weights_prepared());
}

}  // namespace
}  // namespace ttt

// RoPE: scalings against Hugging Face's formulas (tests/data/rope, made by
// tools/make_rope_scaling_data.py), hand-checked rotations, device vs reference, errors, JSON.
#include "blocks/rope/rope.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/blocks/common/accuracy.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/formats.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

RopeSpec llama31_8b() {
  RopeSpec spec;
  spec.head_dim = 128;
  spec.theta = 500000.0;
  spec.max_position_embeddings = 131072;
  spec.scaling = RopeScaling::llama3;
  spec.factor = 8.0;
  spec.low_freq_factor = 1.0;
  spec.high_freq_factor = 4.0;
  spec.original_max_position_embeddings = 8192;
  return spec;
}

Tensor positions_of(std::vector<std::int64_t> values, Shape shape) {
  return Tensor::from_int64(std::move(shape), std::move(values));
}

// One case of tests/data/rope/rope_scalings.json as a RopeSpec.
RopeSpec spec_from_case(const nlohmann::json& c) {
  RopeSpec spec;
  spec.head_dim = c.at("head_dim").get<std::int64_t>();
  spec.rotary_dim = c.at("dim").get<std::int64_t>();
  spec.theta = c.at("theta").get<double>();
  spec.scaling = parse_rope_scaling(c.at("scaling").get<std::string>());
  spec.factor = c.value("factor", 1.0);
  spec.low_freq_factor = c.value("low_freq_factor", 1.0);
  spec.high_freq_factor = c.value("high_freq_factor", 4.0);
  spec.original_max_position_embeddings = c.value("original_max_position_embeddings", 0);
  spec.max_position_embeddings = c.value("max_position_embeddings", 4096);
  spec.beta_fast = c.value("beta_fast", 32.0);
  spec.beta_slow = c.value("beta_slow", 1.0);
  spec.mscale = c.value("mscale", 0.0);
  spec.mscale_all_dim = c.value("mscale_all_dim", 0.0);
  spec.truncate = c.value("truncate", true);
  spec.short_factor = c.value("short_factor", std::vector<double>{});
  spec.long_factor = c.value("long_factor", std::vector<double>{});
  return spec;
}

nlohmann::json load_scaling_cases() {
  std::ifstream file(std::string(TTT_TEST_DATA_DIR) + "/rope/rope_scalings.json");
  EXPECT_TRUE(file.good()) << "missing tests/data/rope/rope_scalings.json";
  return nlohmann::json::parse(file).at("cases");
}

TEST(RopeScalingTest, InverseFrequenciesAndAttentionFactorsMatchHuggingFace) {
  const nlohmann::json cases = load_scaling_cases();
  ASSERT_EQ(cases.size(), 10u);
  for (const nlohmann::json& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const RopeSpec spec = spec_from_case(c);
    spec.validate();
    const std::vector<double> expected = c.at("inv_freq").get<std::vector<double>>();
    const std::int64_t max_position = c.at("positions").back().get<std::int64_t>();
    const std::vector<double> actual =
        rope_inverse_frequencies(spec, max_position + 1 > rope_long_factor_threshold(spec));
    ASSERT_EQ(actual.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_NEAR(actual[i], expected[i], 1e-13 * expected[i]) << "inv_freq[" << i << "]";
    }
    EXPECT_NEAR(rope_attention_scaling(spec), c.at("attention_factor").get<double>(), 1e-14);
  }
}

TEST(RopeScalingTest, ReferenceRotationMatchesHuggingFaceApplyRotaryPosEmb) {
  for (const nlohmann::json& c : load_scaling_cases()) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const RopeSpec spec = spec_from_case(c);
    const Shape shape = c.at("x_shape").get<Shape>();
    std::vector<float> x_values;
    for (double v : c.at("x").get<std::vector<double>>()) x_values.push_back(static_cast<float>(v));
    const Tensor x = Tensor::from_floats(shape, x_values);
    const Tensor positions =
        positions_of(c.at("positions").get<std::vector<std::int64_t>>(), {shape[0]});
    const Tensor out = rope_reference(spec, x, positions);
    const std::vector<double> expected = c.at("rotated").get<std::vector<double>>();
    ASSERT_EQ(out.numel(), static_cast<std::int64_t>(expected.size()));
    for (std::size_t i = 0; i < expected.size(); ++i) {
      // float32 output of float64 math: one float32 rounding.
      EXPECT_NEAR(out.at_flat(static_cast<std::int64_t>(i)), expected[i],
                  1e-6 * std::max(1.0, std::abs(expected[i])))
          << "element " << i;
    }
  }
}

TEST(RopeScalingTest, Llama3KeepsShortWavelengthsAndDividesLongOnes) {
  // Hand check at Llama-3.1-8B: inv_freq[i] = 500000^(-2i/128); wavelength 2 pi / inv_freq.
  // i = 0: wavelength 6.28 < 8192 / 4 -> kept. i = 63: wavelength ~2e7 > 8192 -> divided by 8.
  const std::vector<double> inv = rope_inverse_frequencies(llama31_8b());
  ASSERT_EQ(inv.size(), 64u);
  EXPECT_DOUBLE_EQ(inv[0], 1.0);
  EXPECT_NEAR(inv[63], std::pow(500000.0, -126.0 / 128.0) / 8.0, 1e-20);
  // A medium frequency is strictly between the kept and the divided values.
  for (std::size_t i = 0; i < inv.size(); ++i) {
    const double plain = std::pow(500000.0, -2.0 * static_cast<double>(i) / 128.0);
    const double wavelength = 2 * std::numbers::pi / plain;
    if (wavelength >= 2048.0 && wavelength <= 8192.0) {
      EXPECT_LT(inv[i], plain) << i;
      EXPECT_GT(inv[i], plain / 8.0) << i;
    }
  }
}

TEST(RopeReferenceTest, TinyCaseByHand) {
  // head_dim 4, theta 10000: inv_freq = [1, 0.01]. x = [1, 2, 3, 4] at position 1 pairs (1, 3)
  // turned by 1 rad and (2, 4) by 0.01 rad.
  RopeSpec spec;
  spec.head_dim = 4;
  const Tensor x = Tensor::from_floats({1, 1, 4}, {1, 2, 3, 4});
  const Tensor out = rope_reference(spec, x, positions_of({1}, {1}));
  EXPECT_NEAR(out.at({0, 0, 0}), 1 * std::cos(1.0) - 3 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(out.at({0, 0, 2}), 3 * std::cos(1.0) + 1 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(out.at({0, 0, 1}), 2 * std::cos(0.01) - 4 * std::sin(0.01), 1e-6);
  EXPECT_NEAR(out.at({0, 0, 3}), 4 * std::cos(0.01) + 2 * std::sin(0.01), 1e-6);
  // Position 0 is the identity.
  const Tensor zero = rope_reference(spec, x, positions_of({0}, {1}));
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(zero.at_flat(i), x.at_flat(i));
}

TEST(RopeReferenceTest, ScoresDependOnlyOnRelativePosition) {
  RopeSpec spec = llama31_8b();
  const Tensor q = random_normal({1, 1, 128}, 11);
  const Tensor k = random_normal({1, 1, 128}, 12);
  auto dot_at = [&](std::int64_t pq, std::int64_t pk) {
    const Tensor rq = rope_reference(spec, q, positions_of({pq}, {1}));
    const Tensor rk = rope_reference(spec, k, positions_of({pk}, {1}));
    double dot = 0;
    for (std::int64_t i = 0; i < 128; ++i) dot += rq.at_flat(i) * rk.at_flat(i);
    return dot;
  };
  EXPECT_NEAR(dot_at(5, 3), dot_at(1005, 1003), 1e-4);
  EXPECT_NEAR(dot_at(40, 0), dot_at(4040, 4000), 1e-4);
}

TEST(RopeDeviceTest, PartialRotaryPassesTheTailThrough) {
  RopeSpec spec;
  spec.head_dim = 64;
  spec.rotary_dim = 16;
  RopeImplConfig config = default_impl_config(spec, Device::N150, Mode::prefill);
  const Rope rope(spec, config);
  const Tensor x = random_normal({3, 2, 64}, 5);
  const Tensor out = rope.forward(x, positions_of({0, 9, 100}, {3}));
  const Tensor x_bf16 = x.to(DType::bfloat16);
  for (std::int64_t t = 0; t < 3; ++t) {
    for (std::int64_t h = 0; h < 2; ++h) {
      for (std::int64_t i = 16; i < 64; ++i) {
        EXPECT_EQ(out.at({t, h, i}), x_bf16.at({t, h, i}));
      }
    }
  }
  // The rotated part changed at position 9.
  EXPECT_NE(out.at({1, 0, 0}), x_bf16.at({1, 0, 0}));
}

struct DeviceCase {
  const char* name;
  RopeSpec spec;
  std::int64_t max_position;
};

TEST(RopeDeviceTest, DeviceMatchesReferenceAtRealModelDims) {
  RopeSpec llama32 = llama31_8b();
  llama32.head_dim = 64;
  llama32.factor = 32.0;
  RopeSpec mistral;
  mistral.head_dim = 128;
  mistral.theta = 10000.0;
  RopeSpec yarn;
  yarn.head_dim = 128;
  yarn.theta = 1e6;
  yarn.scaling = RopeScaling::yarn;
  yarn.factor = 4.0;
  yarn.original_max_position_embeddings = 32768;
  yarn.max_position_embeddings = 131072;
  const std::vector<DeviceCase> cases = {{"llama3_1_8b", llama31_8b(), 8000},
                                         {"llama3_2_1b", llama32, 8000},
                                         {"mistral_7b", mistral, 4000},
                                         {"qwen_yarn", yarn, 8000}};
  for (const DeviceCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Rope rope(c.spec, default_impl_config(c.spec, Device::N150, Mode::prefill));
    const std::int64_t tokens = 24;
    const Tensor x = random_normal({tokens, 8, c.spec.head_dim}, 77, 0.0, 1.0, DType::bfloat16);
    const Tensor positions = random_integers({tokens}, 78, 0, c.max_position);
    const Tensor device = rope.forward(x, positions);
    EXPECT_EQ(device.dtype(), DType::bfloat16);
    // bfloat16 tables and output: each value is within a few bfloat16 ulps (2^-8 relative), and
    // float32 angles at position ~8000 are off by up to ~5e-4 rad.
    testing_blocks::expect_accuracy(device, rope_reference(c.spec, x, positions), c.spec.identity(),
                                    "bf16 tables, positions < " + std::to_string(c.max_position),
                                    testing_blocks::AccuracyBound{0.9999, 0.05});
  }
}

TEST(RopeDeviceTest, Float32ConfigMatchesReferenceClosely) {
  const RopeSpec spec = llama31_8b();
  RopeImplConfig config = default_impl_config(spec, Device::N150, Mode::decode);
  config.table_dtype = DType::float32;
  config.activation_dtype = DType::float32;
  const Rope rope(spec, config);
  const Tensor x = random_normal({4, 32, 128}, 3);
  const Tensor positions = positions_of({0, 1, 100, 2000}, {4});
  const Metrics m = compute_metrics(rope.forward(x, positions), rope_reference(spec, x, positions));
  // float32 angles: at 2000 rad one float32 ulp is 1.2e-4 rad, times |x| up to ~4.
  EXPECT_LT(m.max_abs_error, 1e-3);
  EXPECT_GE(m.pcc, 0.9999999);
}

TEST(RopeDeviceTest, LongropeSwitchesToLongFactorsPastTheOriginalLength) {
  RopeSpec spec;
  spec.head_dim = 8;
  spec.theta = 10000.0;
  spec.scaling = RopeScaling::longrope;
  spec.max_position_embeddings = 16384;
  spec.original_max_position_embeddings = 4096;
  spec.short_factor = {1, 1, 1, 1};
  spec.long_factor = {2, 2, 2, 2};
  RopeImplConfig config = default_impl_config(spec, Device::N150, Mode::prefill);
  config.table_dtype = DType::float32;
  config.activation_dtype = DType::float32;
  const Rope rope(spec, config);
  const Tensor x = Tensor::from_floats({1, 1, 8}, {1, 0, 0, 0, 0, 0, 0, 0});
  // factor = 16384 / 4096 = 4: attention factor sqrt(1 + ln 4 / ln 4096).
  const double scale = std::sqrt(1.0 + std::log(4.0) / std::log(4096.0));
  // A sequence within the original length: short factors (1): angle 1 rad at position 1.
  const Tensor short_out = rope.forward(x, positions_of({1}, {1}));
  EXPECT_NEAR(short_out.at({0, 0, 0}), std::cos(1.0) * scale, 1e-6);
  // Same token in a batch that reaches position 5000: long factors (2): angle 0.5 rad.
  const Tensor long_x =
      Tensor::from_floats({2, 1, 8}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  const Tensor long_rot = rope.forward(long_x, positions_of({1, 5000}, {2}));
  EXPECT_NEAR(long_rot.at({0, 0, 0}), std::cos(0.5) * scale, 1e-6);
  EXPECT_NEAR(long_rot.at({0, 0, 4}), std::sin(0.5) * scale, 1e-6);
  const Tensor reference = rope_reference(spec, long_x, positions_of({1, 5000}, {2}));
  EXPECT_NEAR(reference.at({0, 0, 0}), std::cos(0.5) * scale, 1e-7);
}

TEST(RopeDeviceTest, TablesAreBuiltOnceAndShared) {
  const Rope rope(llama31_8b(), default_impl_config(llama31_8b(), Device::N150, Mode::decode));
  const Rope copy = rope;
  const Tensor& table = rope.cos_table();
  EXPECT_EQ(table.shape(), (Shape{8192, 64}));
  EXPECT_EQ(table.dtype(), DType::bfloat16);
  EXPECT_EQ(copy.cos_table().storage_id(), table.storage_id());
  EXPECT_EQ(rope.cos_table().storage_id(), table.storage_id());
  // Row 0 is cos(0) = 1, sin(0) = 0.
  EXPECT_EQ(table.at({0, 5}), 1.0);
  EXPECT_EQ(rope.sin_table().at({0, 5}), 0.0);
}

TEST(RopeErrorTest, BadSpecsNameTheField) {
  RopeSpec odd;
  odd.head_dim = 64;
  odd.rotary_dim = 63;
  EXPECT_THAT([&] { odd.validate(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[rope] spec.rotary_dim (63)")));
  RopeSpec wide;
  wide.head_dim = 64;
  wide.rotary_dim = 128;
  EXPECT_THAT([&] { wide.validate(); }, ThrowsMessage<std::invalid_argument>(
                                            HasSubstr("[rope] spec.rotary_dim (128) must be in")));
  RopeSpec llama = llama31_8b();
  llama.original_max_position_embeddings = 0;
  EXPECT_THAT([&] { llama.validate(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("spec.original_max_position_embeddings (0) must be > 0 for llama3")));
  RopeSpec longrope;
  longrope.head_dim = 8;
  longrope.scaling = RopeScaling::longrope;
  longrope.short_factor = {1, 1, 1};
  longrope.long_factor = {1, 1, 1, 1};
  EXPECT_THAT([&] { longrope.validate(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("spec.short_factor (3 values) must have rotary_dim / 2 = 4 values")));
  RopeSpec theta;
  theta.theta = 0;
  EXPECT_THAT([&] { Rope(theta, RopeImplConfig{}); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[rope] spec.theta (0) must be > 0")));
}

TEST(RopeErrorTest, BadInputsNameTheArgument) {
  const RopeSpec spec = llama31_8b();
  RopeImplConfig config = default_impl_config(spec, Device::N150, Mode::prefill);
  config.table_positions = 1024;
  const Rope rope(spec, config);
  const Tensor x = random_normal({2, 4, 128}, 1);
  EXPECT_THAT(
      [&] {
        rope.forward(random_normal({2, 4, 64}, 1), positions_of({0, 1}, {2}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[rope] x has shape [2, 4, 64] and dtype float32, expected a floating "
                    "tensor [..., heads, 128]")));
  EXPECT_THAT(
      [&] {
        rope.forward(x, positions_of({0, 1, 2}, {3}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[rope] positions has shape [3], expected [2]")));
  EXPECT_THAT(
      [&] {
        rope.forward(x, positions_of({0, -1}, {2}));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[rope] positions[1] is -1")));
  EXPECT_THAT(
      [&] {
        rope.forward(x, positions_of({0, 1024}, {2}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[rope] position 1024 is outside the cos/sin table [0, 1024)")));
  EXPECT_THAT(
      [&] {
        rope.forward(x, Tensor::from_floats({2}, {0, 1}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[rope] positions has dtype float32, expected int32 or int64")));
}

TEST(RopeJsonTest, SpecAndConfigRoundTrip) {
  RopeSpec spec = llama31_8b();
  spec.rotary_dim = 64;
  EXPECT_EQ(nlohmann::json(spec).get<RopeSpec>(), spec);
  RopeSpec longrope;
  longrope.head_dim = 8;
  longrope.scaling = RopeScaling::longrope;
  longrope.short_factor = {1, 1.5, 2, 3};
  longrope.long_factor = {4, 5, 6, 7.25};
  const nlohmann::json json = longrope;
  EXPECT_EQ(json.at("scaling"), "longrope");
  EXPECT_EQ(json.get<RopeSpec>(), longrope);
  RopeImplConfig config;
  config.table_dtype = DType::float32;
  config.table_positions = 100;
  EXPECT_EQ(nlohmann::json(config).get<RopeImplConfig>(), config);
  EXPECT_EQ(nlohmann::json::parse(R"({"theta": 500000})").get<RopeSpec>().theta, 500000.0);
  EXPECT_THAT([] { nlohmann::json::parse(R"({"thetaa": 1})").get<RopeSpec>(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("rope spec: /thetaa: unknown field 'thetaa'")));
  EXPECT_THAT([] { nlohmann::json::parse(R"({"scaling": "ntk"})").get<RopeSpec>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "rope spec: /scaling: unknown rope scaling 'ntk' (expected one of default, "
                  "linear, llama3, yarn, longrope)")));
  EXPECT_THAT([] { nlohmann::json::parse(R"({"table_dtype": "bf17"})").get<RopeImplConfig>(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("rope impl_config: /table_dtype: [parse_dtype] unknown dtype 'bf17'")));
}

TEST(RopeIdentityTest, NamesTheScalingParameters) {
  EXPECT_EQ(llama31_8b().identity(),
            "ROPE(head_dim=128,rotary_dim=128,theta=500000,max_pos=131072,scaling=llama3,"
            "factor=8,low_freq_factor=1,high_freq_factor=4,original_max_pos=8192)");
  RopeSpec plain;
  EXPECT_EQ(plain.identity(),
            "ROPE(head_dim=128,rotary_dim=128,theta=10000,max_pos=4096,"
            "scaling=default)");
  RopeSpec a;
  a.head_dim = 8;
  a.scaling = RopeScaling::longrope;
  a.factor = 2;
  a.short_factor = {1, 1, 1, 1};
  a.long_factor = {2, 2, 2, 2};
  RopeSpec b = a;
  b.long_factor = {2, 2, 2, 3};
  EXPECT_NE(a.identity(), b.identity());
}

TEST(RopeDefaultsTest, TablesCoverTheModelUpTo8192Positions) {
  const RopeSpec spec = llama31_8b();
  for (Device device : {Device::N150, Device::N300, Device::T3K, Device::TG}) {
    for (Mode mode : {Mode::prefill, Mode::decode}) {
      const RopeImplConfig config = default_impl_config(spec, device, mode);
      EXPECT_EQ(config.table_positions, 8192);
      EXPECT_EQ(config.table_dtype, DType::bfloat16);
      EXPECT_EQ(config, default_impl_config(spec, device, mode, Preset::accuracy));
      EXPECT_EQ(config, default_impl_config(spec, device, mode, Preset::performance));
    }
  }
  RopeSpec gpt_neox;
  gpt_neox.max_position_embeddings = 2048;
  EXPECT_EQ(default_impl_config(gpt_neox, Device::N150, Mode::decode).table_positions, 2048);
}

}  // namespace
}  // namespace ttt

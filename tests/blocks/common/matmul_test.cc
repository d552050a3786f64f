#include "blocks/common/matmul.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "validation/tensor/formats.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

MatmulConfig exact_config(MathFidelity fidelity, Accumulation accumulation) {
  MatmulConfig config;
  config.activation_dtype = DType::bfloat16;
  config.weight_dtype = DType::bfloat16;
  config.output_dtype = DType::float32;
  config.fidelity = fidelity;
  config.accumulation = accumulation;
  return config;
}

// x = 1 + 2^-7 (SrcB keeps 1 + 6 mantissa bits in phase 0: 1; the low phase adds 2^-7) and
// w = 1 + 2^-5 + 2^-7 (SrcA keeps 1 + 4 mantissa bits in phase 0: 1; the low phase adds
// 2^-5 + 2^-7). Each fidelity sums a known set of the four partial products.
double fidelity_product(MathFidelity fidelity) {
  const Tensor x = Tensor::from_floats({1, 1}, {1.0f + 0x1p-7f}, DType::bfloat16);
  const Tensor w = Tensor::from_floats({1, 1}, {1.0f + 0x1p-5f + 0x1p-7f});
  const DeviceMatmul matmul(exact_config(fidelity, Accumulation::fp32));
  return matmul(x, matmul.prepare(w)).at({0, 0});
}

TEST(DeviceMatmulTest, FidelityPhasesSumTheDocumentedBitProducts) {
  EXPECT_EQ(fidelity_product(MathFidelity::LoFi), 1.0);
  EXPECT_EQ(fidelity_product(MathFidelity::HiFi2), 1.0 + 0x1p-5 + 0x1p-7);
  EXPECT_EQ(fidelity_product(MathFidelity::HiFi3), 1.0 + 0x1p-5 + 0x1p-7 + 0x1p-7);
  EXPECT_EQ(fidelity_product(MathFidelity::HiFi4), (1.0 + 0x1p-7) * (1.0 + 0x1p-5 + 0x1p-7));
}

TEST(DeviceMatmulTest, Bfloat16AccumulationRoundsAfterEverySixteenProducts) {
  // x = [256, 1 x 17], w = ones: fp32 accumulation gives 273. In bfloat16 the first 16 products
  // sum to 271, which rounds (ties to even) to 272; 272 + 2 = 274 is representable.
  std::vector<float> x_values(18, 1.0f);
  x_values[0] = 256.0f;
  const Tensor x = Tensor::from_floats({1, 18}, x_values);
  const Tensor w = Tensor::from_floats({18, 1}, std::vector<float>(18, 1.0f));
  const DeviceMatmul fp32(exact_config(MathFidelity::HiFi4, Accumulation::fp32));
  const DeviceMatmul bf16(exact_config(MathFidelity::HiFi4, Accumulation::bf16));
  EXPECT_EQ(fp32(x, fp32.prepare(w)).at({0, 0}), 273.0);
  EXPECT_EQ(bf16(x, bf16.prepare(w)).at({0, 0}), 274.0);
}

TEST(DeviceMatmulTest, Bfloat16AccumulationMatchesANaiveChunkedEmulation) {
  // 200 rows make the accumulation work in panels of output columns; a naive emulation sums each
  // chunk of 16 products in float64 and rounds the running sum to bfloat16. The float32 sums of
  // BLAS may round a chunk differently in rare ties, so a few results may differ by one ulp.
  const std::int64_t rows = 200, k = 80, n = 700;
  const Tensor x = random_normal({rows, k}, 41, 0.0, 1.0, DType::bfloat16);
  const Tensor w = random_normal({k, n}, 42, 0.0, 0.1, DType::bfloat16);
  const DeviceMatmul matmul(exact_config(MathFidelity::HiFi4, Accumulation::bf16));
  const Tensor y = matmul(x, matmul.prepare(w));
  std::int64_t exact = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      float running = 0.0f;
      for (std::int64_t chunk = 0; chunk < k; chunk += 16) {
        double sum = 0.0;
        for (std::int64_t p = chunk; p < chunk + 16; ++p) sum += x.at({i, p}) * w.at({p, j});
        running = round_to_bfloat16(running + static_cast<float>(sum));
      }
      const double got = y.at({i, j});
      exact += got == running;
      ASSERT_LE(std::abs(got - running), std::abs(running) * 0x1p-7 + 1e-30) << i << "," << j;
    }
  }
  EXPECT_GE(exact, rows * n * 99 / 100);
}

TEST(DeviceMatmulTest, BiasIsAddedBeforeOutputRounding) {
  const Tensor x = Tensor::from_floats({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f});
  const Tensor w = Tensor::from_floats({2, 3}, {1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 1.0f});
  const Tensor bias = Tensor::from_floats({3}, {0.5f, -1.0f, 256.0f});
  MatmulConfig config = exact_config(MathFidelity::HiFi4, Accumulation::fp32);
  config.output_dtype = DType::bfloat16;
  const DeviceMatmul matmul(config);
  const Tensor y = matmul(x, matmul.prepare(w, bias));
  EXPECT_EQ(y.dtype(), DType::bfloat16);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.at({0, 0}), 1.5);
  EXPECT_EQ(y.at({0, 1}), 1.0);
  // 3 + 256 = 259 lies halfway between the bfloat16 values 258 and 260: ties to even gives 260.
  EXPECT_EQ(y.at({0, 2}), 260.0);
  EXPECT_EQ(y.at({1, 2}), 264.0);  // 7 + 256 = 263 -> 264 (even).
}

TEST(DeviceMatmulTest, WeightIsStoredInTheWeightDtype) {
  const Tensor w = random_normal({64, 48}, 7);
  MatmulConfig config;
  config.weight_dtype = DType::bfloat4_b;
  const DeviceMatmul matmul(config);
  const DeviceMatrix prepared = matmul.prepare(w);
  const Tensor expected = w.to(DType::bfloat4_b);
  ASSERT_EQ(prepared.stored().shape(), expected.shape());
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    ASSERT_EQ(prepared.stored().at_flat(i), expected.at_flat(i)) << "at " << i;
  }
}

// A naive float64 product of the bfloat16-rounded operands, independent of the device path.
std::vector<double> naive_product(const Tensor& x, const Tensor& w) {
  const std::int64_t m = x.dim(0), k = x.dim(1), n = w.dim(1);
  std::vector<double> out(static_cast<std::size_t>(m * n), 0.0);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (std::int64_t p = 0; p < k; ++p) sum += x.at({i, p}) * w.at({p, j});
      out[static_cast<std::size_t>(i * n + j)] = sum;
    }
  }
  return out;
}

TEST(DeviceMatmulTest, HiFi4Fp32MatchesFloat64ProductOfRoundedOperands) {
  const Tensor x = random_normal({5, 300}, 11, 0.0, 1.0, DType::bfloat16);
  const Tensor w = random_normal({300, 70}, 12, 0.0, 0.05, DType::bfloat16);
  const DeviceMatmul matmul(exact_config(MathFidelity::HiFi4, Accumulation::fp32));
  const Tensor y = matmul(x, matmul.prepare(w));
  const std::vector<double> expected = naive_product(x, w);
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    ASSERT_NEAR(y.at_flat(i), expected[static_cast<std::size_t>(i)], 2e-5) << "at " << i;
  }
}

TEST(DeviceMatmulTest, LowerFidelityLosesAccuracyMonotonically) {
  const Tensor x = random_normal({16, 512}, 21, 0.0, 1.0, DType::bfloat16);
  const Tensor w = random_normal({512, 96}, 22, 0.0, 0.05, DType::bfloat16);
  const std::vector<double> exact = naive_product(x, w);
  double previous_error = 1e30;
  for (MathFidelity fidelity :
       {MathFidelity::LoFi, MathFidelity::HiFi2, MathFidelity::HiFi3, MathFidelity::HiFi4}) {
    const DeviceMatmul matmul(exact_config(fidelity, Accumulation::fp32));
    const Tensor y = matmul(x, matmul.prepare(w));
    double squared = 0.0;
    for (std::int64_t i = 0; i < y.numel(); ++i) {
      const double error = y.at_flat(i) - exact[static_cast<std::size_t>(i)];
      squared += error * error;
    }
    const double rmse = std::sqrt(squared / static_cast<double>(y.numel()));
    EXPECT_LT(rmse, previous_error) << math_fidelity_name(fidelity);
    previous_error = rmse;
  }
  EXPECT_LT(previous_error, 1e-5);
}

TEST(DeviceMatmulTest, DecodeRowAndBatchedRowsAgree) {
  const Tensor x = random_normal({3, 128}, 31, 0.0, 1.0, DType::bfloat16);
  const Tensor w = random_normal({128, 40}, 32, 0.0, 0.1);
  const DeviceMatmul matmul(MatmulConfig{});
  const DeviceMatrix prepared = matmul.prepare(w);
  const Tensor batched = matmul(x, prepared);
  for (std::int64_t row = 0; row < 3; ++row) {
    std::vector<float> values(128);
    for (std::int64_t p = 0; p < 128; ++p) values[p] = static_cast<float>(x.at({row, p}));
    const Tensor single = matmul(Tensor::from_floats({128}, values, DType::bfloat16), prepared);
    ASSERT_EQ(single.shape(), (Shape{40}));
    for (std::int64_t j = 0; j < 40; ++j) {
      EXPECT_NEAR(single.at({j}), batched.at({row, j}), 1e-2) << row << "," << j;
    }
  }
}

TEST(DeviceMatmulTest, ShapeErrorsNameBothShapes) {
  const DeviceMatmul matmul(MatmulConfig{});
  const DeviceMatrix prepared = matmul.prepare(random_normal({8, 4}, 1));
  EXPECT_THAT(
      [&] {
        matmul(random_normal({2, 7}, 2), prepared);
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("input has shape [2, 7]")));
  EXPECT_THAT([&] { matmul.prepare(random_normal({8}, 1), Tensor(), "mlp.w1"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[mlp.w1] weight has shape [8]")));
  EXPECT_THAT(
      [&] {
        matmul.prepare(random_normal({8, 4}, 1), random_normal({5}, 1));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("bias has shape [5], expected [4]")));
}

TEST(MatmulConfigTest, JsonRoundTripAndFieldErrors) {
  MatmulConfig config;
  config.weight_dtype = DType::bfloat4_b;
  config.fidelity = MathFidelity::LoFi;
  config.accumulation = Accumulation::bf16;
  const nlohmann::json json = config;
  EXPECT_EQ(json.at("weight_dtype"), "bfloat4_b");
  EXPECT_EQ(json.at("fidelity"), "LoFi");
  EXPECT_EQ(json.get<MatmulConfig>(), config);
  EXPECT_EQ(matmul_config_tag(config), "bfloat4_b/LoFi/bf16");
  EXPECT_THAT(([] {
                nlohmann::json{{"fidelity", "HiFi5"}}.get<MatmulConfig>();
              }),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("matmul config: /fidelity: unknown math fidelity 'HiFi5'")));
  EXPECT_THAT(([] {
                nlohmann::json{{"weight_dtpye", "bfloat16"}}.get<MatmulConfig>();
              }),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("matmul config: /weight_dtpye: unknown field 'weight_dtpye'")));
}

}  // namespace
}  // namespace ttt

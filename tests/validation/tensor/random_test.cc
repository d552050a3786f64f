// The generator against values its numpy twin (tools/ttt_random.py) wrote into
// tests/data/random/, against SplitMix64's published outputs, and for its statistical sanity.
#include "validation/tensor/random.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "validation/tensor/npy.h"

namespace ttt {
namespace {

const std::string kDataDir = std::string(TTT_TEST_DATA_DIR) + "/random/";

const nlohmann::json& cases() {
  static const nlohmann::json json = [] {
    std::ifstream file(kDataDir + "cases.json");
    if (!file) throw std::runtime_error("cannot open " + kDataDir + "cases.json");
    return nlohmann::json::parse(file);
  }();
  return json;
}

std::uint64_t hex(const nlohmann::json& value) {
  return std::stoull(value.get<std::string>(), nullptr, 16);
}

Shape shape_of(const nlohmann::json& value) { return value.get<Shape>(); }

// The twin's checksum: sum over i of splitmix64_at(bits_i, i), modulo 2^64.
std::uint64_t checksum(const Tensor& tensor) {
  std::uint64_t total = 0;
  for (std::int64_t i = 0; i < tensor.numel(); ++i) {
    std::uint64_t bits = 0;
    switch (tensor.dtype()) {
      case DType::int32:
        bits = static_cast<std::uint64_t>(std::int64_t{tensor.data<std::int32_t>()[i]});
        break;
      case DType::int64:
        bits = static_cast<std::uint64_t>(tensor.data<std::int64_t>()[i]);
        break;
      default:
        bits = std::bit_cast<std::uint32_t>(tensor.data<float>()[i]);
    }
    total += splitmix64_at(bits, static_cast<std::uint64_t>(i));
  }
  return total;
}

Tensor draw(const std::string& distribution, Shape shape, std::uint64_t seed,
            const nlohmann::json& a, const nlohmann::json& b, DType integer_dtype) {
  if (distribution == "uniform") {
    return random_uniform(std::move(shape), seed, a.get<double>(), b.get<double>());
  }
  if (distribution == "normal") {
    return random_normal(std::move(shape), seed, a.get<double>(), b.get<double>());
  }
  return random_integers(std::move(shape), seed, a.get<std::int64_t>(), b.get<std::int64_t>(),
                         integer_dtype);
}

std::vector<std::uint32_t> float_bits(const Tensor& tensor) {
  std::vector<std::uint32_t> bits;
  for (float value : tensor.floats()) bits.push_back(std::bit_cast<std::uint32_t>(value));
  return bits;
}

TEST(SplitMix64, MatchesThePublishedReferenceOutputs) {
  // The first outputs of Vigna's splitmix64.c started from state 0.
  EXPECT_EQ(splitmix64_at(0, 0), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(splitmix64_at(0, 1), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(splitmix64_at(0, 2), 0x06C45D188009454FULL);
  EXPECT_EQ(splitmix64_at(0, 3), 0xF88BB8A8724C81ECULL);
}

TEST(SplitMix64, MatchesTheTwin) {
  ASSERT_GE(cases()["splitmix64"].size(), 21u);
  for (const auto& entry : cases()["splitmix64"]) {
    EXPECT_EQ(splitmix64_at(hex(entry["seed"]), hex(entry["index"])), hex(entry["value"]))
        << entry.dump();
  }
}

TEST(StandardNormalFromBits, MatchesTheTwinBitForBitAtEveryCorner) {
  ASSERT_GE(cases()["standard_normal_from_bits"].size(), 40u);
  for (const auto& entry : cases()["standard_normal_from_bits"]) {
    const double z = standard_normal_from_bits(hex(entry["bits"]));
    EXPECT_EQ(std::bit_cast<std::uint64_t>(z), hex(entry["value"])) << entry.dump() << " got " << z;
  }
}

TEST(StandardNormalFromBits, ReachesTheDocumentedExtremes) {
  // k = 0 gives p = 2^-54, the smallest probability; its normal quantile is -8.29236. The sign bit
  // mirrors it exactly.
  const double lowest = standard_normal_from_bits(0);
  EXPECT_NEAR(lowest, -8.29236, 1e-4);
  EXPECT_EQ(standard_normal_from_bits(std::uint64_t{1} << 63), -lowest);
  // The largest k gives p just below 1/2, a value just below zero.
  const double near_zero = standard_normal_from_bits(~std::uint64_t{0} >> 1);
  EXPECT_LT(near_zero, 0.0);
  EXPECT_GT(near_zero, -1e-15);
}

TEST(RandomTensors, MatchTheTwinBitForBit) {
  ASSERT_GE(cases()["tensors"].size(), 12u);
  for (const auto& entry : cases()["tensors"]) {
    SCOPED_TRACE(entry.dump());
    const std::string distribution = entry["distribution"];
    const DType integer_dtype = parse_dtype(entry.value("dtype", std::string("int64")));
    const Tensor expected = read_npy(kDataDir + entry["file"].get<std::string>());
    const Tensor actual = draw(distribution, shape_of(entry["shape"]), hex(entry["seed"]),
                               entry["a"], entry["b"], integer_dtype);
    ASSERT_EQ(actual.shape(), expected.shape());
    ASSERT_EQ(actual.dtype(), expected.dtype());
    if (distribution == "integers") {
      for (std::int64_t i = 0; i < actual.numel(); ++i) {
        ASSERT_EQ(actual.at_flat(i), expected.at_flat(i)) << "element " << i;
      }
    } else {
      EXPECT_EQ(float_bits(actual), float_bits(expected));
    }
  }
}

TEST(RandomTensors, SixteenMillionValuesMatchTheTwinsChecksums) {
  ASSERT_EQ(cases()["checksums"].size(), 3u);
  for (const auto& entry : cases()["checksums"]) {
    SCOPED_TRACE(entry.dump());
    const Tensor values = draw(entry["distribution"], shape_of(entry["shape"]), hex(entry["seed"]),
                               entry["a"], entry["b"], DType::int64);
    EXPECT_EQ(values.numel(), 4096 * 4096);
    EXPECT_EQ(checksum(values), hex(entry["checksum"]));
  }
}

TEST(RandomTensors, ExtremeTailValuesMatchTheTwin) {
  const auto& tails = cases()["tails"];
  const Tensor values = random_normal({tails["numel"].get<std::int64_t>()}, hex(tails["seed"]));
  ASSERT_EQ(tails["values"].size(), 16u);
  for (const auto& entry : tails["values"]) {
    const auto index = entry["index"].get<std::int64_t>();
    const float value = values.floats()[static_cast<std::size_t>(index)];
    EXPECT_EQ(std::bit_cast<std::uint32_t>(value), static_cast<std::uint32_t>(hex(entry["bits"])))
        << entry.dump();
    EXPECT_GT(std::abs(value), 4.5f) << "the twin's extremes of 16M normals are beyond 4.5 sigma";
  }
  EXPECT_EQ(checksum(values), hex(tails["checksum"]));
}

TEST(RandomTensors, SameSeedGivesSameValuesAndDifferentSeedsDiffer) {
  const Tensor a = random_normal({1000}, 42);
  const Tensor b = random_normal({1000}, 42);
  const Tensor c = random_normal({1000}, 43);
  EXPECT_EQ(float_bits(a), float_bits(b));
  int equal = 0;
  for (std::size_t i = 0; i < 1000; ++i) equal += a.floats()[i] == c.floats()[i] ? 1 : 0;
  EXPECT_EQ(equal, 0);
}

TEST(RandomTensors, ElementDependsOnlyOnItsFlatIndex) {
  const Tensor flat = random_normal({8192}, 9);
  const Tensor square = random_normal({64, 64}, 9);
  const Tensor cube = random_normal({4, 4, 256}, 9);
  for (std::size_t i = 0; i < 4096; ++i) {
    ASSERT_EQ(square.floats()[i], flat.floats()[i]) << i;
    ASSERT_EQ(cube.floats()[i], flat.floats()[i]) << i;
  }
  const Tensor ints_long = random_integers({100}, 9, 0, 1000);
  const Tensor ints_short = random_integers({10, 5}, 9, 0, 1000);
  for (std::int64_t i = 0; i < 50; ++i) ASSERT_EQ(ints_short.at_flat(i), ints_long.at_flat(i));
}

TEST(RandomTensors, NormalMomentsAndTailsOfAMillionSamples) {
  constexpr std::int64_t kCount = 1'000'000;
  const Tensor values = random_normal({kCount}, 2024, 0.0, 1.0);
  double sum = 0, sum_squares = 0;
  std::int64_t beyond_2 = 0, beyond_3 = 0, below_minus_3 = 0;
  for (float value : values.floats()) {
    sum += value;
    sum_squares += double{value} * value;
    beyond_2 += std::abs(value) > 2.0f ? 1 : 0;
    beyond_3 += std::abs(value) > 3.0f ? 1 : 0;
    below_minus_3 += value < -3.0f ? 1 : 0;
  }
  const double mean = sum / kCount;
  const double stddev = std::sqrt(sum_squares / kCount - mean * mean);
  // Standard errors: mean 0.001, std 0.0007; the bounds are five of them.
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(stddev, 1.0, 0.0035);
  // P(|z| > 2) = 0.0455003, P(|z| > 3) = 0.0026998; bounds are five standard errors.
  EXPECT_NEAR(static_cast<double>(beyond_2), 45500.3, 5 * 208.4);
  EXPECT_NEAR(static_cast<double>(beyond_3), 2699.8, 5 * 51.9);
  EXPECT_NEAR(static_cast<double>(below_minus_3), 1349.9, 5 * 36.7);
}

TEST(RandomTensors, NormalScalesByMeanAndStd) {
  const Tensor standard = random_normal({1000}, 3);
  const Tensor scaled = random_normal({1000}, 3, 10.0, 0.5);
  for (std::size_t i = 0; i < 1000; ++i) {
    ASSERT_FLOAT_EQ(scaled.floats()[i], 10.0f + 0.5f * standard.floats()[i]);
  }
  const Tensor constant = random_normal({100}, 3, -2.5, 0.0);
  for (float value : constant.floats()) ASSERT_EQ(value, -2.5f);
}

TEST(RandomTensors, UniformStaysInItsRangeWithTheRightMean) {
  constexpr std::int64_t kCount = 1'000'000;
  const Tensor values = random_uniform({kCount}, 11, -2.0, 6.0);
  double sum = 0;
  for (float value : values.floats()) {
    ASSERT_GE(value, -2.0f);
    ASSERT_LT(value, 6.0f);
    sum += value;
  }
  // Mean 2, standard error 8 / sqrt(12 * 1e6) = 0.0023.
  EXPECT_NEAR(sum / kCount, 2.0, 5 * 0.0023);
}

TEST(RandomTensors, UniformNeverReturnsHighEvenWhenRoundingWouldReachIt) {
  const double high = 1.0 + std::ldexp(1.0, -23);  // The float32 right after 1.
  const Tensor values = random_uniform({4096}, 5, 1.0, high);
  for (float value : values.floats()) ASSERT_EQ(value, 1.0f);
}

TEST(RandomTensors, QuantizesToTheRequestedDtype) {
  const Tensor full = random_normal({4, 64}, 8);
  const Tensor bf16 = random_normal({4, 64}, 8, 0.0, 1.0, DType::bfloat16);
  const Tensor bfp8 = random_uniform({4, 64}, 8, -1.0, 1.0, DType::bfloat8_b);
  EXPECT_EQ(bf16.dtype(), DType::bfloat16);
  EXPECT_EQ(float_bits(bf16), float_bits(full.to(DType::bfloat16)));
  EXPECT_EQ(float_bits(bfp8),
            float_bits(random_uniform({4, 64}, 8, -1.0, 1.0).to(DType::bfloat8_b)));
}

TEST(RandomTensors, RandomTensorFollowsItsSpec) {
  const RandomSpec normal{Distribution::normal, 77, 1.0, 3.0};
  const RandomSpec uniform{Distribution::uniform, 77, -1.0, 1.0};
  EXPECT_EQ(float_bits(random_tensor({300}, normal)), float_bits(random_normal({300}, 77, 1, 3)));
  EXPECT_EQ(float_bits(random_tensor({300}, uniform)),
            float_bits(random_uniform({300}, 77, -1, 1)));
}

TEST(RandomIntegers, StayInRangeAndCoverItEvenly) {
  const Tensor values = random_integers({100000}, 13, -5, 5, DType::int32);
  EXPECT_EQ(values.dtype(), DType::int32);
  std::vector<int> counts(10, 0);
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    const std::int32_t value = values.data<std::int32_t>()[i];
    ASSERT_GE(value, -5);
    ASSERT_LT(value, 5);
    ++counts[static_cast<std::size_t>(value + 5)];
  }
  // 10000 expected per bin, standard error 95.
  for (int count : counts) EXPECT_NEAR(count, 10000, 5 * 95);
}

TEST(RandomIntegers, HandleTheExtremesOfInt64) {
  const auto lowest = std::numeric_limits<std::int64_t>::min();
  const auto highest = std::numeric_limits<std::int64_t>::max();
  const Tensor values = random_integers({10000}, 1, lowest, highest);
  int negative = 0;
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    const std::int64_t value = values.data<std::int64_t>()[i];
    ASSERT_LT(value, highest);
    negative += value < 0 ? 1 : 0;
  }
  EXPECT_NEAR(negative, 5000, 5 * 50);
  const Tensor single = random_integers({50}, 1, 7, 8);
  for (std::int64_t i = 0; i < 50; ++i) ASSERT_EQ(single.at_flat(i), 7.0);
}

TEST(RandomErrors, RejectBadParametersNamingTheOperation) {
  using ::testing::HasSubstr;
  const auto message = [](auto&& call) {
    try {
      call();
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no exception");
  };
  EXPECT_THAT(message([] { random_uniform({4}, 0, 1.0, 1.0); }),
              HasSubstr("[random_uniform] need finite low < high, got low=1 high=1"));
  EXPECT_THAT(message([] { random_uniform({4}, 0, 0.0, INFINITY); }),
              HasSubstr("[random_uniform]"));
  EXPECT_THAT(message([] { random_uniform({4}, 0, -1e308, 1e308); }),
              HasSubstr("[random_uniform]"));
  EXPECT_THAT(message([] { random_normal({4}, 0, 0.0, -1.0); }),
              HasSubstr("[random_normal] need finite mean and std >= 0"));
  EXPECT_THAT(message([] { random_normal({4}, 0, NAN, 1.0); }), HasSubstr("[random_normal]"));
  EXPECT_THAT(message([] { random_normal({4}, 0, 0.0, 1.0, DType::int32); }),
              HasSubstr("[random_normal] dtype int32 is not a floating dtype"));
  EXPECT_THAT(message([] { random_integers({4}, 0, 3, 3); }),
              HasSubstr("[random_integers] need low < high within int64, got low=3 high=3"));
  EXPECT_THAT(
      message([] { random_integers({4}, 0, 0, (std::int64_t{1} << 31) + 1, DType::int32); }),
      HasSubstr("[random_integers] need low < high within int32"));
  EXPECT_THAT(message([] { random_integers({4}, 0, 0, 10, DType::float32); }),
              HasSubstr("[random_integers] dtype float32 is not int32 or int64"));
  EXPECT_THAT(message([] { random_normal({-1}, 0); }), HasSubstr("[random_normal]"));
}

}  // namespace
}  // namespace ttt

// Embeddings: token (with scale), learned and sinusoidal positions, ALiBi slopes and bias.
#include "blocks/embeddings/embedding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "blocks/embeddings/alibi.h"
#include "tests/blocks/common/accuracy.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/formats.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

EmbeddingImplConfig float32_config() {
  EmbeddingImplConfig config;
  config.weight_dtype = DType::float32;
  config.output_dtype = DType::float32;
  return config;
}

TEST(EmbeddingTest, TinyLearnedCaseByHand) {
  EmbeddingSpec spec;
  spec.vocab_size = 3;
  spec.hidden_dim = 2;
  spec.positions = PositionEmbedding::learned;
  spec.max_positions = 2;
  const Tensor token = Tensor::from_floats({3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor position = Tensor::from_floats({2, 2}, {0.5, -0.5, 10, 20});
  const Embedding block(spec, float32_config(), {token, position});
  // Sequence [2, 0]: rows 2 and 0 plus positions 0 and 1.
  const Tensor out = block.prefill_forward(Tensor::from_int64({1, 2}, {2, 0}));
  ASSERT_EQ(out.shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(out.at({0, 0, 0}), 5.5);
  EXPECT_EQ(out.at({0, 0, 1}), 5.5);
  EXPECT_EQ(out.at({0, 1, 0}), 11.0);
  EXPECT_EQ(out.at({0, 1, 1}), 22.0);
  const Tensor reference =
      embedding_reference(spec, {token, position}, Tensor::from_int64({1, 2}, {2, 0}),
                          Tensor::from_int64({1, 2}, {0, 1}));
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(reference.at_flat(i), out.at_flat(i));
}

TEST(EmbeddingTest, GemmaScaleIsABfloat16ScalarOnTheDevice) {
  EmbeddingSpec spec;
  spec.vocab_size = 16;
  spec.hidden_dim = 3584;
  spec.scale = std::sqrt(3584.0);
  const Tensor token = random_normal({16, 3584}, 4, 0.0, 0.02);
  EmbeddingImplConfig config;  // bfloat16 table and output.
  const Embedding block(spec, config, {token});
  const Tensor ids = Tensor::from_int32({2}, {7, 3});
  const Tensor out = block.decode_forward(ids, Tensor::from_int32({2}, {0, 9}));
  const Tensor table = token.to(DType::bfloat16);
  for (std::int64_t d = 0; d < 3584; d += 511) {
    // sqrt(3584) = 59.866 is 59.75 in bfloat16; the product is rounded once to bfloat16.
    EXPECT_EQ(out.at({0, d}), round_to_bfloat16(static_cast<float>(table.at({7, d})) * 59.75f));
  }
  const Tensor reference = embedding_reference(spec, {token}, ids, Tensor::from_int32({2}, {0, 9}));
  EXPECT_NEAR(reference.at({1, 5}), token.at({3, 5}) * std::sqrt(3584.0), 1e-6);
  const Metrics m = compute_metrics(out, reference);
  EXPECT_GE(m.pcc, 0.9999);
  // 0.2% scale difference plus two bfloat16 roundings of values up to ~5.
  EXPECT_LT(m.max_abs_error, 0.05);
}

TEST(EmbeddingTest, SinusoidalTableMatchesTheFormula) {
  EmbeddingSpec spec;
  spec.vocab_size = 4;
  spec.hidden_dim = 8;
  spec.positions = PositionEmbedding::sinusoidal;
  spec.max_positions = 64;
  const Tensor zeros(Shape{4, 8}, DType::float32);
  const Tensor ids = Tensor::from_int64({1, 50}, std::vector<std::int64_t>(50, 1));
  std::vector<std::int64_t> positions(50);
  for (std::int64_t i = 0; i < 50; ++i) positions[i] = i;
  const Tensor reference =
      embedding_reference(spec, {zeros}, ids, Tensor::from_int64({1, 50}, positions));
  const Tensor device = Embedding(spec, float32_config(), {zeros}).prefill_forward(ids);
  for (std::int64_t p : {0, 1, 13, 49}) {
    for (std::int64_t i = 0; i < 4; ++i) {
      const double angle =
          static_cast<double>(p) / std::pow(10000.0, 2.0 * static_cast<double>(i) / 8.0);
      EXPECT_NEAR(reference.at({0, p, 2 * i}), std::sin(angle), 1e-7) << p << " " << i;
      EXPECT_NEAR(reference.at({0, p, 2 * i + 1}), std::cos(angle), 1e-7) << p << " " << i;
      // float32 angles on the device side.
      EXPECT_NEAR(device.at({0, p, 2 * i}), std::sin(angle), 1e-5) << p << " " << i;
    }
  }
}

struct ModelCase {
  const char* name;
  EmbeddingSpec spec;
  double max_abs_error;
};

TEST(EmbeddingTest, DeviceMatchesReferenceAtRealHiddenSizes) {
  // Real hidden sizes and position tables; the vocabulary is cut to 2048 rows (a lookup's
  // numerics do not depend on the number of rows, and a 128256 x 4096 table is 2 GB).
  EmbeddingSpec gpt2{2048, 768, 1.0, PositionEmbedding::learned, 1024, 10000.0};
  EmbeddingSpec llama{2048, 4096, 1.0, PositionEmbedding::none, 0, 10000.0};
  EmbeddingSpec gemma{2048, 3584, std::sqrt(3584.0), PositionEmbedding::none, 0, 10000.0};
  // Bounds: two bfloat16 roundings (table, output; 2^-9 relative each) of values up to ~0.1
  // (GPT-2, Llama); for Gemma-2 values up to ~6 and the bfloat16 scale 59.75 instead of 59.87.
  for (const ModelCase& c : {ModelCase{"gpt2", gpt2, 1e-3}, ModelCase{"llama", llama, 5e-4},
                             ModelCase{"gemma2", gemma, 0.05}}) {
    SCOPED_TRACE(c.name);
    const Tensor token = random_normal({c.spec.vocab_size, c.spec.hidden_dim}, 21, 0.0, 0.02);
    Tensor position;
    if (c.spec.positions == PositionEmbedding::learned) {
      position = random_normal({c.spec.max_positions, c.spec.hidden_dim}, 22, 0.0, 0.01);
    }
    const EmbeddingWeights weights{token,
                                   position.defined() ? WeightSource(position) : WeightSource()};
    const Embedding block(c.spec, default_impl_config(c.spec, Device::N150, Mode::prefill),
                          weights);
    const Tensor ids = random_integers({2, 33}, 23, 0, c.spec.vocab_size);
    std::vector<std::int64_t> positions(66);
    for (std::int64_t i = 0; i < 66; ++i) positions[i] = i % 33;
    const Tensor device = block.prefill_forward(ids);
    EXPECT_EQ(device.dtype(), DType::bfloat16);
    testing_blocks::expect_accuracy(
        device, embedding_reference(c.spec, weights, ids, Tensor::from_int64({2, 33}, positions)),
        c.spec.identity(), "bf16 table", testing_blocks::AccuracyBound{0.99999, c.max_abs_error});
  }
}

TEST(EmbeddingTest, DecodeRowEqualsPrefillRow) {
  EmbeddingSpec spec{512, 768, 1.0, PositionEmbedding::learned, 1024, 10000.0};
  const Tensor token = random_normal({512, 768}, 31, 0.0, 0.02);
  const Tensor position = random_normal({1024, 768}, 32, 0.0, 0.01);
  const Embedding block(spec, EmbeddingImplConfig{}, {token, position});
  const Tensor ids = random_integers({1, 20}, 33, 0, 512);
  const Tensor prefill = block.prefill_forward(ids);
  const Tensor decode =
      block.decode_forward(Tensor::from_int64({1}, {static_cast<std::int64_t>(ids.at({0, 17}))}),
                           Tensor::from_int64({1}, {17}));
  for (std::int64_t d = 0; d < 768; ++d) EXPECT_EQ(decode.at({0, d}), prefill.at({0, 17, d}));
}

TEST(EmbeddingTest, WeightsLoadLazilyAndOnce) {
  EmbeddingSpec spec{64, 32, 1.0, PositionEmbedding::none, 0, 10000.0};
  std::atomic<int> loads = 0;
  const WeightSource lazy({64, 32}, [&] {
    ++loads;
    return random_normal({64, 32}, 41);
  });
  const Embedding block(spec, EmbeddingImplConfig{}, {lazy});
  EXPECT_FALSE(block.weights_prepared());
  EXPECT_EQ(loads, 0);
  block.prefill_forward(Tensor::from_int64({3}, {1, 2, 3}));
  block.decode_forward(Tensor::from_int64({1}, {4}), Tensor::from_int64({1}, {3}));
  EXPECT_TRUE(block.weights_prepared());
  EXPECT_EQ(loads, 1);
}

TEST(EmbeddingErrorTest, BadInputsNameTheBlockAndField) {
  // Llama-3.1-8B's real table described lazily: errors are found without loading 2 GB.
  EmbeddingSpec llama{128256, 4096, 1.0, PositionEmbedding::none, 0, 10000.0};
  const WeightSource never({128256, 4096}, [] { return Tensor(); });
  const Embedding block(llama, EmbeddingImplConfig{}, {never});
  EXPECT_THAT(
      [&] {
        block.prefill_forward(Tensor::from_int64({1, 3}, {5, 128300, 2}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[embedding] ids[1] is 128300, expected in [0, 128256) (spec.vocab_size)")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(Tensor::from_int64({2}, {-3, 1}), Tensor::from_int64({2}, {0, 0}));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[embedding] ids[0] is -3")));
  EXPECT_THAT(
      [&] {
        block.prefill_forward(Tensor::from_floats({2}, {1, 2}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[embedding] ids has dtype float32, expected int32 or int64")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(Tensor::from_int64({2}, {1, 2}), Tensor::from_int64({3}, {0, 0, 0}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[embedding] positions has shape [3], expected [2]")));
  EXPECT_FALSE(block.weights_prepared());

  EmbeddingSpec gpt2{50257, 768, 1.0, PositionEmbedding::learned, 1024, 10000.0};
  EXPECT_THAT(
      [&] {
        Embedding(gpt2, EmbeddingImplConfig{},
                  {WeightSource({50257, 768}, [] { return Tensor(); })});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[embedding] position_weight is missing: spec.positions is learned")));
  EXPECT_THAT(
      [&] {
        Embedding(gpt2, EmbeddingImplConfig{},
                  {WeightSource({50257, 700}, [] { return Tensor(); }),
                   WeightSource({1024, 768}, [] { return Tensor(); })});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[embedding] token_weight has shape [50257, 700], expected [50257, 768]")));
  EmbeddingSpec small{8, 4, 1.0, PositionEmbedding::learned, 4, 10000.0};
  const Embedding learned(small, EmbeddingImplConfig{},
                          {random_normal({8, 4}, 1), random_normal({4, 4}, 2)});
  EXPECT_THAT(
      [&] {
        learned.prefill_forward(Tensor::from_int64({5}, {1, 1, 1, 1, 1}));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "[embedding] ids has 5 positions per sequence, beyond spec.max_positions (4)")));
  EXPECT_THAT(
      [&] { learned.decode_forward(Tensor::from_int64({1}, {1}), Tensor::from_int64({1}, {4})); },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[embedding] positions[0] is 4, expected in [0, 4) (spec.max_positions)")));
  EmbeddingSpec zero{0, 4, 1.0, PositionEmbedding::none, 0, 10000.0};
  EXPECT_THAT([&] { zero.validate(); }, ThrowsMessage<std::invalid_argument>(HasSubstr(
                                            "[embedding] spec.vocab_size (0) must be > 0")));
}

TEST(EmbeddingJsonTest, RoundTripIdentityAndDefaults) {
  EmbeddingSpec gpt2{50257, 768, 1.0, PositionEmbedding::learned, 1024, 10000.0};
  EXPECT_EQ(nlohmann::json(gpt2).get<EmbeddingSpec>(), gpt2);
  EXPECT_EQ(gpt2.identity(),
            "EMBEDDING(vocab=50257,hidden=768,scale=1,positions=learned,max_positions=1024)");
  EmbeddingSpec gemma{256000, 3584, std::sqrt(3584.0), PositionEmbedding::none, 0, 10000.0};
  EXPECT_EQ(gemma.identity(), "EMBEDDING(vocab=256000,hidden=3584,scale=59.8665,positions=none)");
  EXPECT_EQ(nlohmann::json(gemma).get<EmbeddingSpec>(), gemma);
  EmbeddingImplConfig config;
  config.weight_dtype = DType::bfloat8_b;
  EXPECT_EQ(nlohmann::json(config).get<EmbeddingImplConfig>(), config);
  EXPECT_THAT(
      [] {
        nlohmann::json::parse(R"({"vocab_size": 8, "hidden_dim": 4, "positions": "rotary"})")
            .get<EmbeddingSpec>();
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "embedding spec: /positions: unknown position embedding 'rotary' (expected one of "
          "none, learned, sinusoidal)")));
  EXPECT_THAT([] { nlohmann::json::parse(R"({"vocab_size": 8})").get<EmbeddingSpec>(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("embedding spec: /: missing field 'hidden_dim'")));
  for (Device device : {Device::N150, Device::N300, Device::T3K, Device::TG}) {
    for (Mode mode : {Mode::prefill, Mode::decode}) {
      const EmbeddingImplConfig defaults = default_impl_config(gpt2, device, mode);
      EXPECT_EQ(defaults.weight_dtype, DType::bfloat16);
      EXPECT_EQ(defaults.output_dtype, DType::bfloat16);
      EXPECT_EQ(defaults, default_impl_config(gpt2, device, mode, Preset::performance));
    }
  }
}

TEST(AlibiTest, SlopesFollowBloomForPowersOfTwoAndOthers) {
  // 16 heads (BLOOM-560m): 2^(-8k/16) = 2^(-k/2).
  const std::vector<double> sixteen = alibi_slopes(16);
  ASSERT_EQ(sixteen.size(), 16u);
  for (int k = 1; k <= 16; ++k) EXPECT_DOUBLE_EQ(sixteen[k - 1], std::exp2(-0.5 * k));
  // 12 heads: 8 slopes 2^(-k) then 2^(-0.5), 2^(-1.5), 2^(-2.5), 2^(-3.5).
  const std::vector<double> twelve = alibi_slopes(12);
  ASSERT_EQ(twelve.size(), 12u);
  for (int k = 1; k <= 8; ++k) EXPECT_DOUBLE_EQ(twelve[k - 1], std::exp2(-k));
  EXPECT_DOUBLE_EQ(twelve[8], std::exp2(-0.5));
  EXPECT_DOUBLE_EQ(twelve[9], std::exp2(-1.5));
  EXPECT_DOUBLE_EQ(twelve[10], std::exp2(-2.5));
  EXPECT_DOUBLE_EQ(twelve[11], std::exp2(-3.5));
  EXPECT_EQ(alibi_slopes(1), std::vector<double>{std::exp2(-8.0)});
  EXPECT_THAT([] { alibi_slopes(0); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[alibi] num_heads (0) must be > 0")));
}

TEST(AlibiTest, BiasIsSlopeTimesRelativePosition) {
  const Tensor bias = alibi_bias(2, Tensor::from_int64({2}, {0, 3}), 4);
  ASSERT_EQ(bias.shape(), (Shape{2, 2, 4}));
  // Head 0 slope 2^-4 (n' = 2: 2^(-8/2 * 1)); head 1 slope 2^-8.
  EXPECT_EQ(bias.at({0, 0, 0}), 0.0);
  EXPECT_EQ(bias.at({0, 1, 0}), -3.0 / 16.0);
  EXPECT_EQ(bias.at({0, 1, 3}), 0.0);
  EXPECT_EQ(bias.at({1, 1, 1}), -2.0 / 256.0);
  EXPECT_EQ(bias.at({1, 0, 2}), 2.0 / 256.0);
}

}  // namespace
}  // namespace ttt

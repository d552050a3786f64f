#include "blocks/lm_head/lm_head.h"

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

TEST(LmHeadReferenceTest, HandCheckedTiedAndSoftcapped) {
  // Embedding table [vocab 3, hidden 2]; x = [1, 2]: logits = table · x = [1, 2, 100].
  const Tensor table = Tensor::from_floats({3, 2}, {1.0f, 0.0f, 0.0f, 1.0f, 20.0f, 40.0f});
  const Tensor x = Tensor::from_floats({1, 2}, {1.0f, 2.0f});
  const Tensor tied = lm_head_reference(LmHeadSpec{2, 3, true, 0.0}, {table}, x);
  EXPECT_EQ(tied.shape(), (Shape{1, 3}));
  EXPECT_EQ(tied.at({0, 0}), 1.0);
  EXPECT_EQ(tied.at({0, 1}), 2.0);
  EXPECT_EQ(tied.at({0, 2}), 100.0);
  // The untied weight [hidden, vocab] is the transpose.
  const Tensor weight = Tensor::from_floats({2, 3}, {1.0f, 0.0f, 20.0f, 0.0f, 1.0f, 40.0f});
  EXPECT_EQ(lm_head_reference(LmHeadSpec{2, 3, false, 0.0}, {weight}, x).at({0, 2}), 100.0);
  // Softcap 30: 30 tanh(100 / 30) and 30 tanh(1 / 30).
  const Tensor capped = lm_head_reference(LmHeadSpec{2, 3, true, 30.0}, {table}, x);
  EXPECT_NEAR(capped.at({0, 2}), 30.0 * std::tanh(100.0 / 30.0), 1e-5);
  EXPECT_NEAR(capped.at({0, 0}), 30.0 * std::tanh(1.0 / 30.0), 1e-6);
}

struct LmHeadCase {
  std::string model;
  LmHeadSpec spec;
  double weight_scale;  // Of a weight ~ N(0, scale / sqrt(hidden)): logits ~ N(0, scale).
  std::string config_name;
  LmHeadImplConfig config;
  AccuracyBound bound;
};

class LmHeadAccuracyTest : public ::testing::TestWithParam<LmHeadCase> {};

TEST_P(LmHeadAccuracyTest, DeviceMatchesReference) {
  const LmHeadCase& c = GetParam();
  const LmHeadSpec& spec = c.spec;
  const Shape shape = spec.tied_embeddings ? Shape{spec.vocab_size, spec.hidden_dim}
                                           : Shape{spec.hidden_dim, spec.vocab_size};
  const Tensor weight = random_normal(
      shape, 70, 0.0, c.weight_scale / std::sqrt(static_cast<double>(spec.hidden_dim)));
  const LmHead head(spec, c.config, {weight});
  const Tensor x = random_normal({4, spec.hidden_dim}, 71);
  expect_accuracy(head.decode_forward(x), lm_head_reference(spec, {weight}, x), spec.identity(),
                  c.config_name, c.bound);
}

LmHeadImplConfig chunked(std::int64_t chunk, DType weights = DType::bfloat8_b,
                         MathFidelity fidelity = MathFidelity::HiFi2) {
  LmHeadImplConfig config;
  config.vocab_chunk = chunk;
  config.matmul.weight_dtype = weights;
  config.matmul.fidelity = fidelity;
  return config;
}

// The LM head holds vocab x hidden weights: the cases use real hidden sizes, GPT-2's and
// Mistral-7B's real vocabularies, and Gemma-2's softcap over a vocabulary cut to 32768 (its
// 256000 x 3584 table is 3.7 GB as float32).
INSTANTIATE_TEST_SUITE_P(Models, LmHeadAccuracyTest,
                         ::testing::Values(LmHeadCase{"GPT-2",
                                                      {768, 50257, true, 0.0},
                                                      4.0,
                                                      "default(bfp8/HiFi2/fp32)",
                                                      chunked(16384),
                                                      {0.99995, 0.25}},
                                           LmHeadCase{
                                               "GPT-2",
                                               {768, 50257, true, 0.0},
                                               4.0,
                                               "bf16/HiFi4/fp32",
                                               chunked(16384, DType::bfloat16, MathFidelity::HiFi4),
                                               {0.99999, 0.1}},
                                           LmHeadCase{"Mistral-7B",
                                                      {4096, 32000, false, 0.0},
                                                      4.0,
                                                      "default(bfp8/HiFi2/fp32)",
                                                      chunked(32000 / 32 * 32),
                                                      {0.99995, 0.23}},
                                           LmHeadCase{"Gemma-2-9B(vocab 32768)",
                                                      {3584, 32768, true, 30.0},
                                                      30.0,
                                                      "default(bfp8/HiFi2/fp32)+softcap30",
                                                      chunked(32768),
                                                      {0.99993, 1.5}}),
                         testing_blocks::CaseName());

TEST(LmHeadTest, VocabChunkingDoesNotChangeAnyValue) {
  const LmHeadSpec spec{64, 1000, false, 0.0};
  const Tensor weight = random_normal({64, 1000}, 5, 0.0, 0.2);
  const Tensor x = random_normal({3, 64}, 6);
  const Tensor whole = LmHead(spec, chunked(1024), {weight}).prefill_forward(x);
  const Tensor pieces = LmHead(spec, chunked(96), {weight}).prefill_forward(x);
  ASSERT_EQ(whole.shape(), (Shape{3, 1000}));
  for (std::int64_t i = 0; i < whole.numel(); ++i) {
    ASSERT_EQ(whole.at_flat(i), pieces.at_flat(i)) << i;
  }
}

TEST(LmHeadTest, TiedHeadEqualsUntiedHeadOnTheTransposedTable) {
  const Tensor table = random_normal({200, 32}, 7);
  std::vector<float> transposed(200 * 32);
  for (std::int64_t t = 0; t < 200; ++t) {
    for (std::int64_t h = 0; h < 32; ++h) {
      transposed[h * 200 + t] = static_cast<float>(table.at({t, h}));
    }
  }
  const Tensor x = random_normal({2, 32}, 8);
  const Tensor tied = LmHead({32, 200, true, 0.0}, chunked(64), {table}).decode_forward(x);
  const Tensor untied =
      LmHead({32, 200, false, 0.0}, chunked(64), {Tensor::from_floats({32, 200}, transposed)})
          .decode_forward(x);
  for (std::int64_t i = 0; i < tied.numel(); ++i) ASSERT_EQ(tied.at_flat(i), untied.at_flat(i));
}

TEST(LmHeadTest, IdentityJsonDefaultsAndErrors) {
  const LmHeadSpec gemma{3584, 256000, true, 30.0};
  EXPECT_EQ(gemma.identity(), "LM_HEAD(hidden=3584,vocab=256000,tied=1,softcap=30)");
  EXPECT_EQ(nlohmann::json(gemma).get<LmHeadSpec>(), gemma);
  const LmHeadSpec llama{4096, 128256, false, 0.0};
  EXPECT_EQ(default_impl_config(llama, Device::N150, Mode::decode).vocab_chunk, 32768);
  EXPECT_EQ(default_impl_config(llama, Device::N300, Mode::decode).vocab_chunk, 32768);
  EXPECT_EQ(default_impl_config(llama, Device::T3K, Mode::decode).vocab_chunk, 16032);
  EXPECT_EQ(default_impl_config(llama, Device::TG, Mode::prefill).vocab_chunk, 4032);
  const LmHeadImplConfig config = default_impl_config(llama, Device::T3K, Mode::prefill);
  EXPECT_EQ(config.matmul.weight_dtype, DType::bfloat8_b);
  EXPECT_EQ(config.matmul.accumulation, Accumulation::fp32);
  EXPECT_EQ(nlohmann::json(config).get<LmHeadImplConfig>(), config);
  EXPECT_EQ(default_impl_config(llama, Device::T3K, Mode::prefill, Preset::performance), config);
  EXPECT_THAT(
      ([] {
        nlohmann::json{{"hidden_dim", 8}, {"vocab_size", 8}, {"softcap", 30}}.get<LmHeadSpec>();
      }),
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("lm_head spec: /softcap: unknown field 'softcap' (expected one of: "
                    "hidden_dim, vocab_size, tied_embeddings, logit_softcap)")));
  EXPECT_THAT(
      [] {
        LmHead({8, 100, true, 0.0}, {}, {random_normal({8, 100}, 1)});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[lm_head] weight has shape [8, 100], expected [100, 8]")));
  EXPECT_THAT(
      [] {
        LmHead({8, 100, false, 0.0}, chunked(100), {random_normal({8, 100}, 1)});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[lm_head] config.vocab_chunk 100 must be a positive multiple of 32")));
  EXPECT_THAT(
      [] {
        LmHead({8, 100, false, -1.0}, {}, {random_normal({8, 100}, 1)});
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[lm_head] spec.logit_softcap")));
  const LmHead head({8, 100, false, 0.0}, {}, {random_normal({8, 100}, 1)});
  EXPECT_THAT(
      [&] {
        head.decode_forward(random_normal({2, 9}, 2));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[lm_head] decode_forward input has shape [2, 9], expected [batch, 8]")));
}

TEST(LmHeadTest, SharedEmbeddingTableLoadsOncePerBlock) {
  std::atomic<int> loads{0};
  const WeightSource table({100, 16}, [&] {
    ++loads;
    return random_normal({100, 16}, 9);
  });
  const LmHead head({16, 100, true, 0.0}, chunked(64), {table});
  EXPECT_FALSE(head.weights_prepared());
  head.decode_forward(random_normal({1, 16}, 10));
  head.prefill_forward(random_normal({2, 3, 16}, 11));
  EXPECT_EQ(loads.load(), 1);
  EXPECT_TRUE(head.weights_prepared());
}

}  // namespace
}  // namespace ttt

// Module weights are named from the kinds' descriptors (blocks/<family>/kinds.cc): the names and
// order below are the replayers' input names, as a captured module call carries them.
#include "patterns/block_modules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> names_of(const std::vector<NamedTensor>& tensors) {
  std::vector<std::string> names;
  for (const NamedTensor& tensor : tensors) names.push_back(tensor.name);
  return names;
}

template <typename Config>
PerMode<Config> both(const Config& config) {
  return {config, config};
}

Tensor weight(const Shape& shape, std::uint64_t seed) {
  return random_normal(shape, seed, 0, 0.02);
}

TEST(BlockModules, MoeWeightsAreNamedExpertByExpertPerMatrix) {
  const MoeSpec spec{32, 64, 2, 1};
  MoeWeights weights{weight({32, 2}, 1), {}};
  for (std::uint64_t e = 0; e < 2; ++e) {
    weights.experts.push_back(
        {weight({32, 64}, 10 + e), weight({32, 64}, 20 + e), weight({64, 32}, 30 + e)});
  }
  const auto module = make_ffn_module(
      spec, both<FfnImplConfig>(default_impl_config(FfnSpec(spec), Device::N150, Mode::decode)),
      weights);
  const std::vector<NamedTensor> named = module->weights();
  EXPECT_THAT(names_of(named), ElementsAre("router", "w_gate/0", "w_gate/1", "w_up/0", "w_up/1",
                                           "w_down/0", "w_down/1"));
  EXPECT_EQ(named[4].tensor.shape(), (Shape{32, 64}));  // w_up/1
  EXPECT_EQ(named[4].tensor.at({3, 5}), weights.experts[1].w_up.load().at({3, 5}));
  EXPECT_EQ(named[6].tensor.shape(), (Shape{64, 32}));  // w_down/1
}

TEST(BlockModules, OptionalWeightsFollowTheSpec) {
  const MlpSpec with_bias{16, 32, Activation::gelu_tanh, true};
  const auto mlp = make_ffn_module(
      with_bias,
      both<FfnImplConfig>(default_impl_config(FfnSpec(with_bias), Device::N150, Mode::decode)),
      MlpWeights{weight({16, 32}, 1), weight({32, 16}, 2), weight({32}, 3), weight({16}, 4)});
  EXPECT_THAT(names_of(mlp->weights()), ElementsAre("w_up", "w_down", "b_up", "b_down"));

  const LayerNormSpec no_bias{16, 1e-5, false};
  const auto norm = make_norm_module(
      no_bias,
      both<NormImplConfig>(default_impl_config(NormSpec(no_bias), Device::N150, Mode::decode)),
      NormWeights{weight({16}, 5), WeightSource()});
  EXPECT_THAT(names_of(norm->weights()), ElementsAre("weight"));
}

TEST(BlockModules, QkNormAttentionWeights) {
  AttentionSpec spec;
  spec.hidden_dim = 64;
  spec.num_heads = 4;
  spec.num_kv_heads = 2;
  spec.qk_norm = true;
  spec.rope.head_dim = 16;
  AttentionWeights weights;
  weights.wq = weight({64, 64}, 1);
  weights.wk = weight({64, 32}, 2);
  weights.wv = weight({64, 32}, 3);
  weights.wo = weight({64, 64}, 4);
  weights.q_norm = random_normal({16}, 5, 1.0, 0.02);
  weights.k_norm = random_normal({16}, 6, 1.0, 0.02);
  const auto module = make_attention_module(spec,
                                            {default_impl_config(spec, Device::N150, Mode::prefill),
                                             default_impl_config(spec, Device::N150, Mode::decode)},
                                            weights);
  EXPECT_THAT(names_of(module->weights()), ElementsAre("wq", "wk", "wv", "wo", "q_norm", "k_norm"));
}

}  // namespace
}  // namespace ttt

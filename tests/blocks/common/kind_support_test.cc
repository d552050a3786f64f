#include "blocks/common/kind_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "validation/tensor/random.h"

namespace ttt::kind_support {
namespace {

using ::testing::ElementsAre;
using ::testing::ThrowsMessage;

// Rules as a kind's `weights` writes them: two single weights and a group of two per index.
InputRules rules(std::int64_t count) {
  return {InputRule{"router", {2, 2}},
          RepeatedInputs{"experts", count, {{"w_a", {2}}, {"w_b", {2}}}}, InputRule{"bias", {2}}};
}

BlockCall call_with(int experts) {
  BlockCall call;
  call.kind = "toy";
  call.inputs = {{"x", random_normal({2}, 1)},
                 {"router", random_normal({2, 2}, 2)},
                 {"bias", random_normal({2}, 3)}};
  for (int e = 0; e < experts; ++e) {
    call.inputs.push_back({"w_b/" + std::to_string(e), random_normal({2}, 20 + e)});
    call.inputs.push_back({"w_a/" + std::to_string(e), random_normal({2}, 10 + e)});
  }
  return call;
}

// The storage a tensor views: equal for the call's tensor and the one CallWeights returns.
const void* storage(const Tensor& tensor) { return tensor.data<float>(); }

TEST(CallWeights, ReadsTheNamedWeightsInRuleOrder) {
  const BlockCall call = call_with(2);
  const CallWeights weights(call, rules(2));
  EXPECT_EQ(storage(weights["router"]), storage(call.input("router")));
  EXPECT_EQ(storage(weights["bias"]), storage(call.input("bias")));
  // A name the rules do not list is a weight the Spec does not have: undefined.
  EXPECT_FALSE(weights["x"].defined());
  EXPECT_FALSE(weights.source("b_missing").defined());
  EXPECT_TRUE(weights.source("bias").defined());
  ASSERT_EQ(weights.group("w_a").size(), 2U);
  EXPECT_EQ(storage(weights.group("w_a")[1]), storage(call.input("w_a/1")));
  EXPECT_TRUE(weights.group("router").empty());
  // router, then the group index by index (w_a/0, w_b/0, w_a/1, w_b/1), then bias.
  std::vector<const void*> order;
  for (const Tensor& tensor : weights.all()) order.push_back(storage(tensor));
  EXPECT_THAT(order, ElementsAre(storage(call.input("router")), storage(call.input("w_a/0")),
                                 storage(call.input("w_b/0")), storage(call.input("w_a/1")),
                                 storage(call.input("w_b/1")), storage(call.input("bias"))));
}

TEST(CallWeights, NamesAMissingWeightOrAShortGroup) {
  BlockCall call = call_with(2);
  EXPECT_THAT([&] { CallWeights(call, rules(3)); },
              ThrowsMessage<std::invalid_argument>(
                  "[toy] expected inputs w_a/0..w_a/2 (and w_b): 3 of each, w_a has 2"));
  call.inputs.erase(call.inputs.begin() + 2);  // bias
  EXPECT_THAT([&] { CallWeights(call, rules(2)); },
              ThrowsMessage<std::invalid_argument>("[toy] missing input 'bias'"));
}

}  // namespace
}  // namespace ttt::kind_support

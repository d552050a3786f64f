// The expert-parallel MoE: device partials by hand, bit equality with the single-device Moe on
// 1x1, agreement with it on 1x2 and 1x8 within the collective's rounding (float32 and bfloat16
// partial sums, ring and line), the float64 reference, TTTv1's defaults per device, JSON, bad
// input and replay.
#include "blocks/ffn/ep_moe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "blocks/common/block_kind.h"
#include "blocks/registration.h"
#include "tests/blocks/common/accuracy.h"
#include "tests/common/tensor_values.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using test_support::floats_of;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_blocks::expect_accuracy;

constexpr MatmulConfig kFloat32{DType::float32, DType::float32, DType::float32, MathFidelity::HiFi4,
                                Accumulation::fp32};

// Router [hidden, experts] and experts of hidden x ffn with seeded weights.
MoeWeights seeded_weights(const MoeSpec& spec) {
  MoeWeights weights{random_normal({spec.hidden_dim, spec.num_experts}, 10, 0.0, 0.5), {}};
  for (std::int64_t e = 0; e < spec.num_experts; ++e) {
    const auto seed = static_cast<std::uint64_t>(20 + 3 * e);
    weights.experts.push_back({random_normal({spec.hidden_dim, spec.ffn_dim}, seed, 0.0, 0.2),
                               random_normal({spec.hidden_dim, spec.ffn_dim}, seed + 1, 0.0, 0.2),
                               random_normal({spec.ffn_dim, spec.hidden_dim}, seed + 2, 0.0, 0.2)});
  }
  return weights;
}

// Every matmul, the local sum and the collective in float32.
EpMoeImplConfig float32_config() {
  EpMoeImplConfig config;
  config.device.router = kFloat32;
  config.device.expert.ff1_ff3 = kFloat32;
  config.device.expert.ff2 = kFloat32;
  config.device.combine_dtype = DType::float32;
  config.ccl.reduce_dtype = DType::float32;
  config.ccl.output_dtype = DType::float32;
  return config;
}

// Two relu experts of hidden 2, ffn 32 on an N300, only their first intermediate unit non-zero:
// expert e computes relu(x0) * (a_e x0) [1, 2] with a = [2, 6], so the token x = [1, 0] gets
// [2, 4] from expert 0 and [6, 12] from expert 1.
struct HandCase {
  MoeSpec spec{2, 32, 2, 2, Activation::relu};
  MoeWeights weights(std::vector<float> router) const {
    MoeWeights w{Tensor::from_floats({2, 2}, std::move(router)), {}};
    for (const float a : {2.0f, 6.0f}) {
      std::vector<float> gate(64, 0.0f), up(64, 0.0f), down(64, 0.0f);
      gate[0] = 1.0f;  // [2, 32]: row 0, column 0
      up[0] = a;
      down[0] = 1.0f;  // [32, 2]: row 0
      down[1] = 2.0f;
      w.experts.push_back({Tensor::from_floats({2, 32}, gate), Tensor::from_floats({2, 32}, up),
                           Tensor::from_floats({32, 2}, down)});
    }
    return w;
  }
  Tensor x = Tensor::from_floats({1, 2}, {1.0f, 0.0f});
};

TEST(EpMoeTest, HandCheckedDevicePartialsOnN300) {
  // Router row 0 = [0, 0]: logits [0, 0], both experts with weight 1/2. Device 0 holds expert 0
  // and contributes [1, 2], device 1 expert 1 and [3, 6]; the all-reduce gives [4, 8] on both.
  const HandCase hand;
  const EpMoeSpec spec{hand.spec, parse_mesh("N300")};
  EXPECT_EQ(spec.device_experts(0), (ExpertRange{0, 1}));
  EXPECT_EQ(spec.device_experts(1), (ExpertRange{1, 1}));
  EpMoeImplConfig config = float32_config();
  const MoeWeights even = hand.weights({0.0f, 0.0f, 0.0f, 0.0f});
  const Moe device0(hand.spec, config.device, even, {0, 1});
  const Moe device1(hand.spec, config.device, even, {1, 1});
  EXPECT_EQ(floats_of(device0.decode_forward(hand.x)), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(floats_of(device1.decode_forward(hand.x)), (std::vector<float>{3.0f, 6.0f}));

  const MeshTensor x = distribute(hand.x, spec.mesh, {});
  const MeshTensor y = EpMoe(spec, config, even).decode_forward(x);
  EXPECT_EQ(y.placements[1], Placement::replicate());
  for (const Tensor& shard : y.shards) EXPECT_EQ(floats_of(shard), (std::vector<float>{4, 8}));

  config.reduction = TpReduction::reduce_scatter;
  const MeshTensor scattered = EpMoe(spec, config, even).decode_forward(x);
  EXPECT_EQ(scattered.placements[1], Placement::shard(1));
  EXPECT_EQ(floats_of(scattered.shards[0]), (std::vector<float>{4.0f}));
  EXPECT_EQ(floats_of(scattered.shards[1]), (std::vector<float>{8.0f}));

  // top_k 1 with router row 0 = [0, 1]: only expert 1 serves the token (weight 1). Device 0's
  // partial is zero, its expert never loads, and the sum is expert 1's output alone.
  HandCase one = hand;
  one.spec.top_k = 1;
  const EpMoeSpec top1{one.spec, parse_mesh("N300")};
  const MoeWeights skewed = one.weights({0.0f, 1.0f, 0.0f, 0.0f});
  const Moe idle(one.spec, config.device, skewed, {0, 1});
  EXPECT_EQ(floats_of(idle.decode_forward(one.x)), (std::vector<float>{0.0f, 0.0f}));
  EXPECT_FALSE(idle.expert_prepared(0));
  config.reduction = TpReduction::all_reduce;
  EXPECT_EQ(floats_of(compose(EpMoe(top1, config, skewed).decode_forward(x))),
            (std::vector<float>{6.0f, 12.0f}));
}

TEST(EpMoeTest, OneDeviceEqualsTheSingleDeviceMoeBitForBit) {
  const MoeSpec moe{64, 32, 8, 2, Activation::silu};
  const EpMoeSpec spec{moe, parse_mesh("N150")};
  const MoeWeights weights = seeded_weights(moe);
  const Moe single(moe, default_impl_config(moe, Device::N150, Mode::decode), weights);
  const EpMoe ep(spec, default_impl_config(spec, Device::N150, Mode::decode), weights);
  const Tensor x = random_normal({5, 64}, 31);
  const Tensor y = compose(ep.decode_forward(distribute(x, spec.mesh, {})));
  const Tensor expected = single.decode_forward(x);
  EXPECT_EQ(y.dtype(), expected.dtype());
  EXPECT_EQ(y.shape(), expected.shape());
  EXPECT_EQ(floats_of(y), floats_of(expected));
  const Tensor prompt = random_normal({2, 6, 64}, 32);
  EXPECT_EQ(floats_of(compose(ep.prefill_forward(distribute(prompt, spec.mesh, {})))),
            floats_of(single.prefill_forward(prompt)));
}

// |EP - single| per element: both sum the same float products w_k o_k (every device routes as the
// single-device Moe and runs the same experts on the same rows), each with at most 2E roundings
// on any term's path (products, local additions, hops, output), so by the recursive summation
// bound the two differ by at most 2 gamma(2E) sum_e |o_e| (routing weights <= 1; u = 2^-24 for
// float32, 2^-8 for bfloat16). o_e: a GatedMlp on every row, independently of the MoE.
void expect_within_summation_bound(const MoeSpec& moe, const MoeWeights& weights,
                                   const MoeImplConfig& device, const Tensor& x, const Tensor& ep,
                                   const Tensor& single, double u, const std::string& what) {
  std::vector<double> magnitude(static_cast<std::size_t>(x.numel()), 0.0);
  for (const GatedMlpWeights& expert : weights.experts) {
    const Tensor o = GatedMlp(moe.expert_spec(), device.expert, expert).prefill_forward(x);
    for (std::size_t i = 0; i < magnitude.size(); ++i) magnitude[i] += std::abs(o.floats()[i]);
  }
  const double m = 2.0 * static_cast<double>(moe.num_experts);
  const double gamma = m * u / (1 - m * u);
  for (std::size_t i = 0; i < magnitude.size(); ++i) {
    EXPECT_LE(std::abs(ep.floats()[i] - single.floats()[i]), 2 * gamma * magnitude[i])
        << what << " element " << i;
  }
}

TEST(EpMoeTest, Float32PartialSumsAgreeWithTheSingleDeviceMoeToFloat32Rounding) {
  const MoeSpec moe{64, 32, 8, 2, Activation::silu};
  const MoeWeights weights = seeded_weights(moe);
  const EpMoeImplConfig config = float32_config();
  const Tensor x = random_normal({12, 64}, 41);
  const Tensor single = Moe(moe, config.device, weights).prefill_forward(x);
  for (const char* mesh : {"N300", "T3K"}) {
    for (const Topology topology : {Topology::ring, Topology::line}) {
      const EpMoeSpec spec{moe, parse_mesh(mesh)};
      EpMoeImplConfig on_mesh = config;
      on_mesh.ccl.topology = topology;
      const Tensor y =
          compose(EpMoe(spec, on_mesh, weights).prefill_forward(distribute(x, spec.mesh, {})));
      const std::string what = std::string(mesh) + " " + std::string(topology_name(topology));
      expect_within_summation_bound(moe, weights, config.device, x, y, single, std::ldexp(1.0, -24),
                                    what);
    }
  }
}

// TTTv1's defaults (bfloat16 local sums and partial sums, ring on T3K, line on N300): within the
// bfloat16 summation bound of the single-device Moe, and both pass the kind's PCC >= 0.99 against
// the float64 reference.
TEST(EpMoeTest, Bfloat16DefaultsStayWithinTheCollectiveBound) {
  const MoeSpec moe{64, 32, 8, 2, Activation::silu};
  const MoeWeights weights = seeded_weights(moe);
  const Tensor x = random_normal({12, 64}, 51);
  for (const auto& [mesh, device] :
       {std::pair{"N300", Device::N300}, std::pair{"T3K", Device::T3K}}) {
    const EpMoeSpec spec{moe, parse_mesh(mesh)};
    const EpMoeImplConfig config = default_impl_config(spec, device, Mode::prefill);
    const MeshTensor on_mesh = distribute(x, spec.mesh, {});
    const Tensor y = compose(EpMoe(spec, config, weights).prefill_forward(on_mesh));
    const Tensor single = Moe(moe, config.device, weights).prefill_forward(x);
    expect_within_summation_bound(moe, weights, config.device, x, y, single, std::ldexp(1.0, -8),
                                  mesh);
    const Tensor reference = ep_moe_reference(spec, weights, on_mesh);
    expect_accuracy(y, reference, spec.identity(), "defaults", {0.99, 0.5});
    expect_accuracy(single, reference, moe.identity(), "single device", {0.99, 0.5});
  }
}

TEST(EpMoeTest, ReferenceIsTheSingleDeviceReferenceOfTheComposedInput) {
  const MoeSpec moe{64, 32, 8, 2, Activation::silu};
  const EpMoeSpec spec{moe, parse_mesh("T3K")};
  const MoeWeights weights = seeded_weights(moe);
  const Tensor x = random_normal({4, 64}, 61);
  EXPECT_EQ(floats_of(ep_moe_reference(spec, weights, distribute(x, spec.mesh, {}))),
            floats_of(moe_reference(moe, weights, x)));
}

TEST(EpMoeTest, DefaultsFollowTttv1PerDevice) {
  const MoeSpec mixtral{4096, 14336, 8, 2, Activation::silu};
  for (const auto& [mesh, device] :
       {std::pair{"N150", Device::N150}, std::pair{"N300", Device::N300},
        std::pair{"T3K", Device::T3K}}) {
    const EpMoeSpec spec{mixtral, parse_mesh(mesh)};
    const EpMoeImplConfig config = default_impl_config(spec, device, Mode::decode);
    EXPECT_EQ(config.device, default_impl_config(mixtral, device, Mode::decode)) << mesh;
    EXPECT_EQ(config.reduction, TpReduction::all_reduce) << mesh;
    EXPECT_EQ(config.ccl.reduce_dtype, DType::bfloat16) << mesh;
    EXPECT_EQ(config.ccl.topology, device == Device::T3K ? Topology::ring : Topology::line);
  }
  const EpMoeSpec tg{mixtral, parse_mesh("TG"), 0};
  const EpMoeImplConfig on_tg = default_impl_config(tg, Device::TG, Mode::decode);
  EXPECT_EQ(on_tg.reduction, TpReduction::all_reduce);
  EXPECT_EQ(on_tg.ccl.reduce_dtype, DType::bfloat8_b);
  EXPECT_EQ(on_tg.ccl.topology, Topology::line);
  const EpMoeImplConfig fast = default_impl_config(EpMoeSpec{mixtral, parse_mesh("T3K")},
                                                   Device::T3K, Mode::decode, Preset::performance);
  EXPECT_EQ(fast.device.expert.ff1_ff3.weight_dtype, DType::bfloat4_b);
}

TEST(EpMoeTest, JsonRoundTripsAndIsStrict) {
  const EpMoeSpec spec{{64, 32, 8, 2, Activation::silu}, parse_mesh("T3K"), 1};
  EXPECT_EQ(nlohmann::json(spec).get<EpMoeSpec>(), spec);
  EXPECT_EQ(nlohmann::json(spec)["moe"]["num_experts"], 8);
  EXPECT_EQ(spec.identity(), "EP_MOE(hidden=64,ffn=32,experts=8,top_k=2,act=silu,mesh=T3K,axis=1)");
  const EpMoeImplConfig config = default_impl_config(spec, Device::T3K, Mode::prefill);
  EXPECT_EQ(nlohmann::json(config).get<EpMoeImplConfig>(), config);
  EXPECT_EQ(nlohmann::json(config)["reduction"], "all_reduce");
  nlohmann::json extra = spec;
  extra["experts_per_device"] = 1;
  EXPECT_THAT([&] { extra.get<EpMoeSpec>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("experts_per_device")));
}

TEST(EpMoeTest, BadInputNamesMeshExpertsAndWeights) {
  const EpMoeSpec thirds{{48, 32, 8, 2, Activation::silu}, parse_mesh("1x3")};
  EXPECT_THAT([&] { thirds.validate(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[ep_moe] mesh 1x3 axis 1 (3 devices) does not divide spec.moe.num_experts 8")));
  const EpMoeSpec odd_hidden{{36, 32, 8, 2, Activation::silu}, parse_mesh("T3K")};
  EXPECT_THAT([&] { odd_hidden.validate(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[ep_moe] mesh T3K axis 1 (8 devices) does not divide "
                            "spec.moe.hidden_dim 36")));

  const EpMoeSpec spec{{64, 32, 8, 2, Activation::silu}, parse_mesh("N300")};
  const EpMoeImplConfig config = default_impl_config(spec, Device::N300, Mode::decode);
  MoeWeights seven = seeded_weights(spec.moe);
  seven.experts.pop_back();
  EXPECT_THAT([&] { EpMoe(spec, config, seven); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[moe] got weights for 7 experts, spec.num_experts is 8")));
  MoeWeights wrong = seeded_weights(spec.moe);
  wrong.experts[5].w_down = random_normal({32, 63}, 3);
  EXPECT_THAT([&] { EpMoe(spec, config, wrong); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[moe] w_down/5 has shape [32, 63], expected [32, 64]")));
  EXPECT_THAT(
      [&] {
        Moe(spec.moe, config.device, seeded_weights(spec.moe), {6, 4});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[moe] experts 6..9 are not all among spec.num_experts 8")));

  const EpMoe block(spec, config, seeded_weights(spec.moe));
  const Tensor x = random_normal({2, 64}, 71);
  EXPECT_THAT(
      [&] {
        block.decode_forward(
            distribute(x, spec.mesh, {Placement::replicate(), Placement::shard(1)}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[ep_moe] input x must be replicated along mesh N300 axis 1")));
  EXPECT_THAT([&] { block.decode_forward(distribute(x, parse_mesh("T3K"), {})); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[ep_moe] input x is on mesh T3K, spec.mesh is N300")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(distribute(random_normal({2, 32}, 72), spec.mesh, {}));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[moe]")));
}

// Replay: a trace's mesh tensor x and the whole MoE's weights (router, w_gate/<e>, ...) rebuild
// the block from the call's spec and device (T3K defaults); y is the composed output.
TEST(EpMoeTest, ReplaysThroughTheRegistry) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  const BlockReplayer* replayer = registry.find("ep_moe");
  ASSERT_NE(replayer, nullptr);
  EXPECT_EQ(replayer->tolerances.value_or(Tolerances{}).pcc, 0.99);
  const EpMoeSpec spec{{64, 32, 8, 2, Activation::silu}, parse_mesh("T3K")};
  const MoeWeights weights = seeded_weights(spec.moe);
  const Tensor x = random_normal({3, 64}, 81);
  const MeshTensor on_mesh = distribute(x, spec.mesh, {});
  BlockCall call;
  call.kind = "ep_moe";
  call.spec = spec;
  call.device = "T3K";
  call.scalars = {{"mode", "decode"}};
  call.inputs = {{"x", x, std::make_shared<const MeshTensor>(on_mesh)},
                 {"router", weights.router.load()}};
  for (std::size_t e = 0; e < weights.experts.size(); ++e) {
    const std::string index = "/" + std::to_string(e);
    call.inputs.push_back({"w_gate" + index, weights.experts[e].w_gate.load()});
    call.inputs.push_back({"w_up" + index, weights.experts[e].w_up.load()});
    call.inputs.push_back({"w_down" + index, weights.experts[e].w_down.load()});
  }
  const BoundCall bound = replayer->bind(call);
  const EpMoe block(spec, default_impl_config(spec, Device::T3K, Mode::decode), weights);
  EXPECT_EQ(floats_of(bound.run_device().at(0).tensor),
            floats_of(compose(block.decode_forward(on_mesh))));
  EXPECT_EQ(floats_of(bound.run_reference().at(0).tensor),
            floats_of(ep_moe_reference(spec, weights, on_mesh)));
}

}  // namespace
}  // namespace ttt

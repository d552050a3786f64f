// The tensor-parallel gated MLP: shard slicing by hand, bit equality with the single-device block
// on 1x1 (and with its emulated reduction_shards all-reduce in line order), the ring's rounding
// bound on 1x2 and 1x8, float32 partial sums, TTTv1's defaults per topology, JSON and bad input.
#include "blocks/ffn/tp_gated_mlp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "blocks/ccl/tensor_parallel.h"
#include "blocks/common/block_kind.h"
#include "blocks/registration.h"
#include "tests/blocks/common/accuracy.h"
#include "tests/common/tensor_values.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_blocks::expect_accuracy;

constexpr MatmulConfig kFloat32{DType::float32, DType::float32, DType::float32, MathFidelity::HiFi4,
                                Accumulation::fp32};

GatedMlpWeights seeded_weights(const GatedMlpSpec& spec) {
  return {random_normal({spec.hidden_dim, spec.ffn_dim}, 11, 0.0, 0.2),
          random_normal({spec.hidden_dim, spec.ffn_dim}, 12, 0.0, 0.2),
          random_normal({spec.ffn_dim, spec.hidden_dim}, 13, 0.0, 0.2)};
}

using test_support::cut;
using test_support::floats_of;

TEST(TpSliceTest, EachDeviceHoldsItsColumnsOrRows) {
  // [2, 4] = [[0, 1, 2, 3], [4, 5, 6, 7]]: position 1 of 2 holds columns 2, 3.
  const Tensor w = Tensor::from_floats({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(floats_of(tp_detail::slice_weight(w, 1, 1, 2).load()),
            (std::vector<float>{2, 3, 6, 7}));
  EXPECT_EQ(floats_of(tp_detail::slice_weight(w, 1, 0, 2).load()),
            (std::vector<float>{0, 1, 4, 5}));
  // [4, 2]: position 1 of 2 holds rows 2, 3; position 3 of 4 holds row 3.
  const Tensor t = Tensor::from_floats({4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(floats_of(tp_detail::slice_weight(t, 0, 1, 2).load()),
            (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(floats_of(tp_detail::slice_weight(t, 0, 3, 4).load()), (std::vector<float>{6, 7}));
  EXPECT_EQ(tp_detail::slice_weight(t, 0, 3, 4).shape(), (Shape{1, 2}));
}

TEST(TpGatedMlpTest, HandCheckedShardsOnN300) {
  // hidden 2, ffn 64 (32 columns per device), relu, float32 everywhere. x = [1, 0]; gate column j
  // = 1, up column j = j, so h_j = j; w_down row j = [1, j]. y = [sum j, sum j^2] over j < 64 =
  // [2016, 85344]: device 0 contributes [496, 10416] (j < 32), device 1 [1520, 74928]. A device
  // holding the wrong columns, or rows of W_down that do not match its columns, changes y.
  const TpGatedMlpSpec spec{{2, 64, Activation::relu}, parse_mesh("N300")};
  std::vector<float> gate(128, 1.0f), up(128, 0.0f), down(128, 0.0f);
  for (int j = 0; j < 64; ++j) {
    up[j] = static_cast<float>(j);  // row 0 of [2, 64]; row 1 meets x = 0
    down[2 * j] = 1.0f;
    down[2 * j + 1] = static_cast<float>(j);
  }
  const GatedMlpWeights weights{Tensor::from_floats({2, 64}, gate),
                                Tensor::from_floats({2, 64}, up),
                                Tensor::from_floats({64, 2}, down)};
  TpGatedMlpImplConfig config;
  config.device.ff1_ff3 = kFloat32;
  config.device.ff2 = kFloat32;
  config.ccl.reduce_dtype = DType::float32;
  config.ccl.output_dtype = DType::float32;
  const MeshTensor x = distribute(Tensor::from_floats({1, 2}, {1.0f, 0.0f}), spec.mesh, {});

  const MeshTensor scattered = TpGatedMlp(spec, config, weights).decode_forward(x);
  EXPECT_EQ(scattered.placements[1], Placement::shard(1));
  EXPECT_EQ(floats_of(scattered.shards[0]), (std::vector<float>{2016.0f}));
  EXPECT_EQ(floats_of(scattered.shards[1]), (std::vector<float>{85344.0f}));

  config.reduction = TpReduction::all_reduce;
  const MeshTensor replicated = TpGatedMlp(spec, config, weights).decode_forward(x);
  EXPECT_EQ(replicated.placements[1], Placement::replicate());
  for (const Tensor& shard : replicated.shards) {
    EXPECT_EQ(floats_of(shard), (std::vector<float>{2016.0f, 85344.0f}));
  }
}

TEST(TpGatedMlpTest, OneDeviceEqualsTheSingleDeviceBlockBitForBit) {
  const TpGatedMlpSpec spec{{64, 128, Activation::silu}, parse_mesh("N150")};
  const GatedMlpWeights weights = seeded_weights(spec.mlp);
  const GatedMlp single(spec.mlp, default_impl_config(spec.mlp, Device::N150, Mode::decode),
                        weights);
  const TpGatedMlp tp(spec, default_impl_config(spec, Device::N150, Mode::decode), weights);
  const Tensor x = random_normal({3, 64}, 21);
  const Tensor y = compose(tp.decode_forward(distribute(x, spec.mesh, {})));
  const Tensor expected = single.decode_forward(x);
  EXPECT_EQ(y.dtype(), expected.dtype());
  EXPECT_EQ(y.shape(), expected.shape());
  EXPECT_EQ(floats_of(y), floats_of(expected));

  const Tensor prompt = random_normal({2, 5, 64}, 22);
  EXPECT_EQ(floats_of(compose(tp.prefill_forward(distribute(prompt, spec.mesh, {})))),
            floats_of(single.prefill_forward(prompt)));
}

// In line order with bfloat16 partial sums the mesh reproduces the single-device block's emulated
// all-reduce (reduction_shards = n: partials added in chip order, rounded after every addition),
// two independently written emulations of the same arithmetic.
TEST(TpGatedMlpTest, LineOrderEqualsTheEmulatedReductionShards) {
  for (const char* mesh : {"N300", "T3K"}) {
    const TpGatedMlpSpec spec{{64, 256, Activation::silu}, parse_mesh(mesh)};
    const int n = spec.mesh.cols;
    const GatedMlpWeights weights = seeded_weights(spec.mlp);
    GatedMlpImplConfig emulated = default_impl_config(spec.mlp, Device::N150, Mode::decode);
    emulated.reduction_shards = n;
    TpGatedMlpImplConfig config = default_impl_config(spec, Device::N150, Mode::decode);
    config.ccl.topology = Topology::line;
    config.reduction = TpReduction::all_reduce;
    const Tensor x = random_normal({4, 64}, 31);
    const Tensor y =
        compose(TpGatedMlp(spec, config, weights).decode_forward(distribute(x, spec.mesh, {})));
    EXPECT_EQ(floats_of(y), floats_of(GatedMlp(spec.mlp, emulated, weights).decode_forward(x)))
        << mesh;
  }
}

// TTTv1's T3K/N300 defaults (ring on T3K, bfloat16 partial sums, reduce-scatter): each element
// is a sum of n bfloat16 partials with n - 1 roundings in another order than the line's, so
// |ring - line| <= 2 gamma(n - 1) sum_d |p_d| with u = 2^-8 (docs/numerics.md "Collectives"),
// p_d computed here by a single-device block on hand-cut slices. Both pass the block's tolerance
// (PCC >= 0.99) against the float64 reference.
TEST(TpGatedMlpTest, RingOrderStaysWithinTheCollectiveBound) {
  for (const auto& [mesh, device] :
       {std::pair{"N300", Device::N300}, std::pair{"T3K", Device::T3K}}) {
    const TpGatedMlpSpec spec{{64, 256, Activation::silu}, parse_mesh(mesh)};
    const int n = spec.mesh.cols;
    const GatedMlpWeights weights = seeded_weights(spec.mlp);
    const TpGatedMlpImplConfig config = default_impl_config(spec, device, Mode::decode);
    const Tensor x = random_normal({4, 64}, 41);
    const Tensor y =
        compose(TpGatedMlp(spec, config, weights).decode_forward(distribute(x, spec.mesh, {})));
    GatedMlpImplConfig emulated = config.device;
    emulated.reduction_shards = n;
    const Tensor line = GatedMlp(spec.mlp, emulated, weights).decode_forward(x);

    const std::int64_t f = spec.mlp.ffn_dim / n;
    std::vector<double> magnitude(static_cast<std::size_t>(x.numel()), 0.0);
    for (int d = 0; d < n; ++d) {
      const GatedMlp part(
          spec.device_spec(), config.device,
          {cut(weights.w_gate.load(), 1, d * f, f), cut(weights.w_up.load(), 1, d * f, f),
           cut(weights.w_down.load(), 0, d * f, f)});
      const Tensor p = part.decode_forward(x);
      for (std::size_t i = 0; i < magnitude.size(); ++i) magnitude[i] += std::abs(p.floats()[i]);
    }
    const double u = std::ldexp(1.0, -8);
    const double gamma = (n - 1) * u / (1 - (n - 1) * u);
    for (std::size_t i = 0; i < magnitude.size(); ++i) {
      EXPECT_LE(std::abs(y.floats()[i] - line.floats()[i]), 2 * gamma * magnitude[i])
          << mesh << " element " << i;
    }
    const Tensor reference = tp_gated_mlp_reference(spec, weights, distribute(x, spec.mesh, {}));
    // The kind's tolerance is PCC >= 0.99; the max abs error bound (0.5) is what bfloat8_b weights
    // and bfloat16 accumulation give the single-device block on these inputs (about 0.36).
    expect_accuracy(y, reference, spec.identity(), "defaults", {0.99, 0.5});
    expect_accuracy(line, reference, spec.mlp.identity(), "reduction_shards", {0.99, 0.5});
  }
}

TEST(TpGatedMlpTest, Float32PartialSumsKeepTheSingleDeviceAccuracy) {
  const TpGatedMlpSpec spec{{64, 256, Activation::silu}, parse_mesh("T3K")};
  const GatedMlpWeights weights = seeded_weights(spec.mlp);
  GatedMlpImplConfig single_config;
  single_config.ff1_ff3 = kFloat32;
  single_config.ff2 = kFloat32;
  TpGatedMlpImplConfig config = default_impl_config(spec, Device::T3K, Mode::prefill);
  config.device = single_config;
  config.ccl.reduce_dtype = DType::float32;
  config.ccl.output_dtype = DType::float32;
  const Tensor x = random_normal({2, 3, 64}, 51);
  const MeshTensor on_mesh = distribute(x, spec.mesh, {});
  const Tensor reference = tp_gated_mlp_reference(spec, weights, on_mesh);
  const Tensor y = compose(TpGatedMlp(spec, config, weights).prefill_forward(on_mesh));
  const Tensor single = GatedMlp(spec.mlp, single_config, weights).prefill_forward(x);
  double single_error = 0.0, tp_error = 0.0, scale = 0.0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double r = reference.floats()[i];
    single_error = std::max(single_error, std::abs(single.floats()[i] - r));
    tp_error = std::max(tp_error, std::abs(y.floats()[i] - r));
    scale = std::max(scale, std::abs(r));
  }
  std::printf("[accuracy] %s float32 single=%.3g tp=%.3g scale=%.3g\n", spec.identity().c_str(),
              single_error, tp_error, scale);
  // The device matmuls are not float32-exact (math fidelity); float32 partial sums add at most
  // gamma(7) sum |p| with u = 2^-24 (about 4e-7 of the scale) to the single-device block's error.
  EXPECT_GT(single_error, 0.0);
  EXPECT_LE(tp_error, single_error + 1e-6 * scale);
}

TEST(TpGatedMlpTest, DefaultsFollowTtTransformersPerTopology) {
  const TpGatedMlpSpec t3k{{8192, 28672, Activation::silu}, parse_mesh("T3K")};
  const TpGatedMlpImplConfig on_t3k = default_impl_config(t3k, Device::T3K, Mode::decode);
  EXPECT_EQ(on_t3k.reduction, TpReduction::reduce_scatter);
  EXPECT_EQ(on_t3k.ccl.topology, Topology::ring);
  EXPECT_EQ(on_t3k.ccl.reduce_dtype, DType::bfloat16);
  EXPECT_EQ(on_t3k.device.reduction_shards, 1);
  EXPECT_EQ(on_t3k.device.ff2.output_dtype, DType::bfloat16);

  const TpGatedMlpSpec n300{{4096, 14336, Activation::silu}, parse_mesh("N300")};
  EXPECT_EQ(default_impl_config(n300, Device::N300, Mode::prefill).ccl.topology, Topology::line);

  const TpGatedMlpSpec tg{{8192, 28672, Activation::silu}, parse_mesh("TG"), 0};
  const TpGatedMlpImplConfig on_tg = default_impl_config(tg, Device::TG, Mode::decode);
  EXPECT_EQ(on_tg.reduction, TpReduction::all_reduce);
  EXPECT_EQ(on_tg.ccl.reduce_dtype, DType::bfloat8_b);
  EXPECT_EQ(on_tg.device.ff1_ff3.output_dtype, DType::bfloat8_b);
  EXPECT_EQ(on_tg.device.ff2.output_dtype, DType::bfloat8_b);

  const TpGatedMlpImplConfig fast =
      default_impl_config(t3k, Device::T3K, Mode::decode, Preset::performance);
  EXPECT_EQ(fast.device.ff1_ff3.weight_dtype, DType::bfloat4_b);
  EXPECT_EQ(fast.device.ff1_ff3.fidelity, MathFidelity::LoFi);
}

TEST(TpGatedMlpTest, JsonRoundTripsAndIsStrict) {
  const TpGatedMlpSpec spec{{64, 256, Activation::gelu_tanh}, parse_mesh("T3K"), 1};
  EXPECT_EQ(nlohmann::json(spec).get<TpGatedMlpSpec>(), spec);
  EXPECT_EQ(nlohmann::json(spec)["mesh"], "T3K");
  EXPECT_EQ(spec.identity(), "TP_GATED_MLP(hidden=64,ffn=256,act=gelu_tanh,mesh=T3K,axis=1)");
  TpGatedMlpImplConfig config = default_impl_config(spec, Device::TG, Mode::decode);
  EXPECT_EQ(nlohmann::json(config).get<TpGatedMlpImplConfig>(), config);
  EXPECT_EQ(nlohmann::json(config)["reduction"], "all_reduce");
  EXPECT_THAT(
      [] {
        nlohmann::json({{"reduction", "gather"}}).get<TpGatedMlpImplConfig>();
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("/reduction: unknown reduction 'gather'")));
  nlohmann::json extra = spec;
  extra["heads"] = 2;
  EXPECT_THAT([&] { extra.get<TpGatedMlpSpec>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("heads")));
}

TEST(TpGatedMlpTest, BadInputNamesMeshAxisAndDimension) {
  const GatedMlpSpec mlp{64, 100, Activation::silu};
  const TpGatedMlpSpec spec{mlp, parse_mesh("T3K")};
  EXPECT_THAT(
      [&] { spec.validate(); },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "[tp_gated_mlp] mesh T3K axis 1 (8 devices) does not divide spec.mlp.ffn_dim 100")));
  const TpGatedMlpSpec hidden{{36, 256, Activation::silu}, parse_mesh("T3K")};
  EXPECT_THAT([&] { hidden.validate(); }, ThrowsMessage<std::invalid_argument>(
                                              HasSubstr("does not divide spec.mlp.hidden_dim 36")));

  const TpGatedMlpSpec n300{{64, 128, Activation::silu}, parse_mesh("N300")};
  const TpGatedMlp block(n300, default_impl_config(n300, Device::N300, Mode::decode),
                         seeded_weights(n300.mlp));
  const Tensor x = random_normal({2, 64}, 61);
  EXPECT_THAT(
      [&] {
        block.decode_forward(
            distribute(x, n300.mesh, {Placement::replicate(), Placement::shard(1)}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[tp_gated_mlp] input x must be replicated along mesh N300 axis 1")));
  EXPECT_THAT([&] { block.decode_forward(distribute(x, parse_mesh("T3K"), {})); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp_gated_mlp] input x is on mesh T3K, spec.mesh is N300")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(distribute(random_normal({2, 32}, 62), n300.mesh, {}));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[gated_mlp]")));
}

// Replay: a trace's mesh tensor x and the whole weights rebuild the block from the call's spec
// and device (defaults for T3K, overlaid with the call's impl_config); y is the composed output.
TEST(TpGatedMlpTest, ReplaysThroughTheRegistry) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  const BlockReplayer* replayer = registry.find("tp_gated_mlp");
  ASSERT_NE(replayer, nullptr);
  EXPECT_EQ(replayer->tolerances.value_or(Tolerances{}).pcc, 0.99);
  const TpGatedMlpSpec spec{{64, 256, Activation::silu}, parse_mesh("T3K")};
  const GatedMlpWeights weights = seeded_weights(spec.mlp);
  const Tensor x = random_normal({2, 64}, 71);
  const MeshTensor on_mesh = distribute(x, spec.mesh, {});
  BlockCall call;
  call.kind = "tp_gated_mlp";
  call.spec = spec;
  call.device = "T3K";
  call.scalars = {{"mode", "decode"}};
  call.inputs = {{"x", x, std::make_shared<const MeshTensor>(on_mesh)},
                 {"w_gate", weights.w_gate.load()},
                 {"w_up", weights.w_up.load()},
                 {"w_down", weights.w_down.load()}};
  const BoundCall bound = replayer->bind(call);
  const TpGatedMlp block(spec, default_impl_config(spec, Device::T3K, Mode::decode), weights);
  EXPECT_EQ(floats_of(bound.run_device().at(0).tensor),
            floats_of(compose(block.decode_forward(on_mesh))));
  EXPECT_EQ(floats_of(bound.run_reference().at(0).tensor),
            floats_of(tp_gated_mlp_reference(spec, weights, on_mesh)));
}

// A traced call's mode is the number the patterns record (the Mode's value): 1 runs the decode
// forward, which refuses what only prefill accepts (x [1, 2, 64]: prefill rows of a decode call);
// 0 runs prefill on it; anything else is an error naming the scalar.
TEST(TpGatedMlpTest, ReplayTakesATracedModeNumber) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  const BlockReplayer* replayer = registry.find("tp_gated_mlp");
  ASSERT_NE(replayer, nullptr);
  const TpGatedMlpSpec spec{{64, 256, Activation::silu}, parse_mesh("N300")};
  const GatedMlpWeights weights = seeded_weights(spec.mlp);
  const Tensor x = random_normal({1, 2, 64}, 72);
  const auto call_with_mode = [&](const nlohmann::json& mode) {
    BlockCall call;
    call.kind = "tp_gated_mlp";
    call.spec = spec;
    call.device = "N300";
    call.scalars = {{"mode", mode}};
    call.inputs = {{"x", x, std::make_shared<const MeshTensor>(distribute(x, spec.mesh, {}))},
                   {"w_gate", weights.w_gate.load()},
                   {"w_up", weights.w_up.load()},
                   {"w_down", weights.w_down.load()}};
    return call;
  };
  EXPECT_THAT([&] { replayer->bind(call_with_mode(1)).run_device(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("decode_forward input has shape")));
  const TpGatedMlp block(spec, default_impl_config(spec, Device::N300, Mode::prefill), weights);
  EXPECT_EQ(floats_of(replayer->bind(call_with_mode(0)).run_device().at(0).tensor),
            floats_of(compose(block.prefill_forward(distribute(x, spec.mesh, {})))));
  EXPECT_THAT([&] { replayer->bind(call_with_mode(7)); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp_gated_mlp] scalar 'mode' must be \"prefill\", \"decode\", 0 "
                            "(prefill) or 1 (decode), got 7")));
}

}  // namespace
}  // namespace ttt

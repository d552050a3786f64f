// TG's 2-D gated MLP: a hand-checked 2x2 case (both axis assignments), bit equality with the
// single-device block on 1x1, float32 agreement with it on 2x2 and 8x4, the bfloat16 FF2
// all-reduce within docs/numerics.md's bound, TTTv1's TG defaults against the float64 reference,
// JSON, replay and bad input.
#include "blocks/ffn/tp2d_gated_mlp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "blocks/common/block_kind.h"
#include "blocks/registration.h"
#include "tests/blocks/common/accuracy.h"
#include "tests/common/tensor_values.h"
#include "validation/input/json_reader.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using test_support::cut;
using test_support::floats_of;
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

// x split along hidden (its last dimension) on the hidden axis, replicated on the ffn axis.
MeshTensor split_input(const Tensor& x, const Tp2dGatedMlpSpec& spec) {
  std::array<Placement, 2> placements{Placement::replicate(), Placement::replicate()};
  placements[spec.hidden_axis] = Placement::shard(static_cast<int>(x.rank()) - 1);
  return distribute(x, spec.mesh, placements);
}

CclReduceImplConfig float32_reduce(Topology topology) {
  CclReduceImplConfig config;
  config.topology = topology;
  config.reduce_dtype = DType::float32;
  config.output_dtype = DType::float32;
  return config;
}

// Everything in float32: matmuls, partial sums and outputs.
Tp2dGatedMlpImplConfig float32_config() {
  Tp2dGatedMlpImplConfig config;
  config.ff1_ff3 = kFloat32;
  config.ff2 = kFloat32;
  config.ff1_ccl = float32_reduce(Topology::line);
  config.ff2_ccl = float32_reduce(Topology::line);
  return config;
}

TEST(Tp2dGatedMlpTest, HandCheckedTwoByTwo) {
  // hidden 4, ffn 4, relu, float32. x = [1, 2, 3, 4]. W_gate[i][j] = 1 when i = (j + 1) % 4, so
  // gate = [x1, x2, x3, x0] = [2, 3, 4, 1]; W_up all ones, so up_j = 10; h = relu(gate) * up =
  // [20, 30, 40, 10]. W_down[j][k] = j + 1 when k = (j + 2) % 4, so y_k = h_j (j + 1) with
  // j = (k + 2) % 4: y = [40 * 3, 10 * 4, 20 * 1, 30 * 2] = [120, 40, 20, 60]. Each gate and y
  // element comes from one device's slice only (x1 lives on hidden half 0, gate_2 = x3 on half 1;
  // y_0 = h_2's ffn half 1): a device holding another block of a weight changes y.
  std::vector<float> gate(16, 0.0f), up(16, 1.0f), down(16, 0.0f);
  for (int j = 0; j < 4; ++j) {
    gate[((j + 1) % 4) * 4 + j] = 1.0f;
    down[j * 4 + (j + 2) % 4] = static_cast<float>(j + 1);
  }
  const GatedMlpWeights weights{Tensor::from_floats({4, 4}, gate), Tensor::from_floats({4, 4}, up),
                                Tensor::from_floats({4, 4}, down)};
  const Tensor x = Tensor::from_floats({1, 4}, {1.0f, 2.0f, 3.0f, 4.0f});
  // TG's assignment (hidden over the columns): device (r, c) holds y[2c], y[2c + 1].
  const Tp2dGatedMlpSpec columns{{4, 4, Activation::relu}, parse_mesh("2x2"), 1};
  const MeshTensor y =
      Tp2dGatedMlp(columns, float32_config(), weights).decode_forward(split_input(x, columns));
  EXPECT_EQ(y.placements[0], Placement::replicate());
  EXPECT_EQ(y.placements[1], Placement::shard(1));
  for (int device : {0, 2}) EXPECT_EQ(floats_of(y.shards[device]), (std::vector<float>{120, 40}));
  for (int device : {1, 3}) EXPECT_EQ(floats_of(y.shards[device]), (std::vector<float>{20, 60}));
  // Hidden over the rows: device (r, c) holds y[2r], y[2r + 1].
  const Tp2dGatedMlpSpec rows{{4, 4, Activation::relu}, parse_mesh("2x2"), 0};
  const MeshTensor t =
      Tp2dGatedMlp(rows, float32_config(), weights).decode_forward(split_input(x, rows));
  EXPECT_EQ(t.placements[0], Placement::shard(1));
  EXPECT_EQ(t.placements[1], Placement::replicate());
  for (int device : {0, 1}) EXPECT_EQ(floats_of(t.shards[device]), (std::vector<float>{120, 40}));
  for (int device : {2, 3}) EXPECT_EQ(floats_of(t.shards[device]), (std::vector<float>{20, 60}));
  EXPECT_EQ(floats_of(tp2d_gated_mlp_reference(columns, weights, split_input(x, columns))),
            (std::vector<float>{120, 40, 20, 60}));
}

// One device: the same matmuls on the whole weights and single-device collectives (a rounding to
// bfloat16 of bfloat16 values), so GatedMlp's bits.
TEST(Tp2dGatedMlpTest, OneDeviceEqualsTheSingleDeviceBlockBitForBit) {
  const Tp2dGatedMlpSpec spec{{64, 128, Activation::silu}, parse_mesh("N150")};
  const GatedMlpWeights weights = seeded_weights(spec.mlp);
  const GatedMlp single(spec.mlp, default_impl_config(spec.mlp, Device::N150, Mode::prefill),
                        weights);
  const Tp2dGatedMlp block(spec, default_impl_config(spec, Device::N150, Mode::prefill), weights);
  const Tensor prompt = random_normal({2, 5, 64}, 22);
  const Tensor y = compose(block.prefill_forward(split_input(prompt, spec)));
  const Tensor expected = single.prefill_forward(prompt);
  EXPECT_EQ(y.dtype(), expected.dtype());
  EXPECT_EQ(y.shape(), expected.shape());
  EXPECT_EQ(floats_of(y), floats_of(expected));
}

// How far two float32 evaluations of the gated MLP that add the same products in different
// orders may differ, per output element (rows of x [rows, hidden] in float64): a sum of K terms in
// float32 is within gamma_K sum |terms| of the exact sum (Higham lemma 3.1, u = 2^-24), with K
// four times the length (the fidelity phases add each product in up to four pieces); FF1/FF3's
// differences pass through act(gate) * up (|silu'| <= 1.1) and FF2 adds its own.
std::vector<double> float32_reorder_bound(const GatedMlpSpec& spec, const GatedMlpWeights& weights,
                                          const Tensor& x) {
  const double u = std::ldexp(1.0, -24);
  const auto gamma = [u](std::int64_t k) {
    const double terms = 4.0 * static_cast<double>(k);
    return terms * u / (1 - terms * u);
  };
  const std::vector<double> wg = test_support::values_of(weights.w_gate.load());
  const std::vector<double> wu = test_support::values_of(weights.w_up.load());
  const std::vector<double> wd = test_support::values_of(weights.w_down.load());
  const std::vector<double> xs = test_support::values_of(x);
  const std::int64_t hidden = spec.hidden_dim, ffn = spec.ffn_dim;
  std::vector<double> bound;
  for (std::int64_t r = 0; r < x.numel() / hidden; ++r) {
    std::vector<double> h(ffn), dh(ffn);
    for (std::int64_t j = 0; j < ffn; ++j) {
      double g = 0, up = 0, g_abs = 0, up_abs = 0;
      for (std::int64_t i = 0; i < hidden; ++i) {
        const double xi = xs[r * hidden + i];
        g += xi * wg[i * ffn + j];
        up += xi * wu[i * ffn + j];
        g_abs += std::abs(xi * wg[i * ffn + j]);
        up_abs += std::abs(xi * wu[i * ffn + j]);
      }
      const double dg = 2 * gamma(hidden) * g_abs, dup = 2 * gamma(hidden) * up_abs;
      const double act = std::abs(g / (1 + std::exp(-g)));
      h[j] = std::abs(act * up);
      dh[j] = 1.1 * dg * (std::abs(up) + dup) + (act + 1.1 * dg) * dup + 8 * u * h[j];
    }
    for (std::int64_t k = 0; k < hidden; ++k) {
      double propagated = 0, magnitude = 0;
      for (std::int64_t j = 0; j < ffn; ++j) {
        propagated += dh[j] * std::abs(wd[j * hidden + k]);
        magnitude += (h[j] + dh[j]) * std::abs(wd[j * hidden + k]);
      }
      bound.push_back(propagated + 2 * gamma(ffn) * magnitude);
    }
  }
  return bound;
}

// With float32 matmul outputs and partial sums the mesh only reorders float32 additions of the
// same products (the fidelity model truncates each operand alone, whatever its slice): agreement
// with GatedMlp to float32 rounding (float32_reorder_bound), on 2x2 and 8x4, decode and prefill.
TEST(Tp2dGatedMlpTest, Float32PartialSumsAgreeWithTheSingleDeviceBlock) {
  for (const char* mesh : {"2x2", "TG"}) {
    const Tp2dGatedMlpSpec spec{{128, 256, Activation::silu}, parse_mesh(mesh)};
    const GatedMlpWeights weights = seeded_weights(spec.mlp);
    GatedMlpImplConfig single_config;
    single_config.ff1_ff3 = kFloat32;
    single_config.ff2 = kFloat32;
    const Tp2dGatedMlp block(spec, float32_config(), weights);
    const GatedMlp single(spec.mlp, single_config, weights);
    for (const Tensor& x : {random_normal({4, 128}, 31), random_normal({2, 3, 128}, 32)}) {
      const bool decode = x.rank() == 2;
      const MeshTensor on_mesh = split_input(x, spec);
      const Tensor y =
          compose(decode ? block.decode_forward(on_mesh) : block.prefill_forward(on_mesh));
      const Tensor expected = decode ? single.decode_forward(x) : single.prefill_forward(x);
      ASSERT_EQ(y.shape(), expected.shape());
      const std::vector<double> bound = float32_reorder_bound(spec.mlp, weights, x);
      double worst = 0.0;
      for (std::int64_t i = 0; i < y.numel(); ++i) {
        const double error = std::abs(double{y.floats()[i]} - expected.floats()[i]);
        worst = std::max(worst, error / bound[i]);
        EXPECT_LE(error, bound[i]) << mesh << " element " << i;
      }
      std::printf("[accuracy] %s float32: worst |diff| / bound = %.3g\n", spec.identity().c_str(),
                  worst);
    }
  }
}

// bfloat16 partial sums in the FF2 all-reduce (float32 elsewhere): each output is a sum of F
// float32 partials p_f (ffn slice f's contribution, computed here by the single-device block on
// hand-cut weights), rounded to bfloat16 before travelling and after each of the F - 1 hops:
// |y - sum_f p_f| <= gamma_F sum_f |p_f| with u = 2^-8 (docs/numerics.md "Collectives"), plus
// float32 slack for the reordered FF1 sums.
TEST(Tp2dGatedMlpTest, Bfloat16PartialSumsStayWithinTheCollectiveBound) {
  for (const char* mesh : {"2x2", "TG"}) {
    for (const Topology topology : {Topology::line, Topology::ring}) {
      const Tp2dGatedMlpSpec spec{{128, 256, Activation::silu}, parse_mesh(mesh)};
      const int ffn_devices = spec.mesh.axis_size(spec.ffn_axis());
      const GatedMlpWeights weights = seeded_weights(spec.mlp);
      Tp2dGatedMlpImplConfig config = float32_config();
      config.ff2_ccl.topology = topology;
      config.ff2_ccl.reduce_dtype = DType::bfloat16;
      const Tensor x = random_normal({4, 128}, 41);
      const Tensor y =
          compose(Tp2dGatedMlp(spec, config, weights).decode_forward(split_input(x, spec)));

      const std::int64_t f = spec.mlp.ffn_dim / ffn_devices;
      GatedMlpImplConfig part_config;
      part_config.ff1_ff3 = kFloat32;
      part_config.ff2 = kFloat32;
      std::vector<double> sum(static_cast<std::size_t>(y.numel()), 0.0);
      std::vector<double> magnitude(sum.size(), 0.0);
      for (int part = 0; part < ffn_devices; ++part) {
        const GatedMlp block(
            {128, f, Activation::silu}, part_config,
            {cut(weights.w_gate.load(), 1, part * f, f), cut(weights.w_up.load(), 1, part * f, f),
             cut(weights.w_down.load(), 0, part * f, f)});
        const Tensor p = block.decode_forward(x);
        for (std::size_t i = 0; i < sum.size(); ++i) {
          sum[i] += p.floats()[i];
          magnitude[i] += std::abs(p.floats()[i]);
        }
      }
      const double u = std::ldexp(1.0, -8) + std::ldexp(1.0, -24);
      const double gamma = ffn_devices * u / (1 - ffn_devices * u);
      double worst = 0.0;
      for (std::size_t i = 0; i < sum.size(); ++i) {
        const double error = std::abs(y.floats()[i] - sum[i]);
        worst = std::max(worst, error / magnitude[i]);
        EXPECT_LE(error, gamma * magnitude[i] + 1e-5 * magnitude[i])
            << mesh << " " << topology_name(topology) << " element " << i;
      }
      std::printf("[accuracy] %s bfloat16 FF2 %s: worst |error| / sum|p| = %.3g, gamma_%d = %.3g\n",
                  spec.identity().c_str(), std::string(topology_name(topology)).c_str(), worst,
                  ffn_devices, gamma);
    }
  }
}

TEST(Tp2dGatedMlpTest, TtTransformersTgDefaultsMeetTheKindsTolerance) {
  const Tp2dGatedMlpSpec spec{{256, 512, Activation::silu}, parse_mesh("TG")};
  const GatedMlpWeights weights = seeded_weights(spec.mlp);
  for (const Mode mode : {Mode::decode, Mode::prefill}) {
    const Tp2dGatedMlp block(spec, default_impl_config(spec, Device::TG, mode), weights);
    const Tensor x =
        mode == Mode::decode ? random_normal({8, 256}, 51) : random_normal({1, 8, 256}, 52);
    const MeshTensor on_mesh = split_input(x, spec);
    const Tensor y = compose(mode == Mode::decode ? block.decode_forward(on_mesh)
                                                  : block.prefill_forward(on_mesh));
    EXPECT_EQ(y.dtype(), DType::bfloat8_b);
    const Tensor reference = tp2d_gated_mlp_reference(spec, weights, on_mesh);
    double scale = 0.0;
    for (const float value : floats_of(reference)) scale = std::max(scale, std::abs(double{value}));
    // The kind's tolerance (PCC >= 0.99) and the max abs error of the goldens' TG expectation for
    // tp_gated_mlp (bfloat8_b weights, partials and output: 0.096 of max |reference|, rounded up).
    expect_accuracy(y, reference, spec.identity(),
                    mode == Mode::decode ? "TG decode defaults" : "TG prefill defaults",
                    {0.99, 0.1 * scale});
  }
}

TEST(Tp2dGatedMlpTest, DefaultsFollowTtTransformersOnTg) {
  const Tp2dGatedMlpSpec llama70b{{8192, 28672, Activation::silu}, parse_mesh("TG")};
  const Tp2dGatedMlpImplConfig decode = default_impl_config(llama70b, Device::TG, Mode::decode);
  EXPECT_EQ(llama70b.hidden_axis, 1);
  EXPECT_EQ(llama70b.ffn_axis(), 0);
  EXPECT_EQ(decode.ff1_ff3.output_dtype, DType::bfloat8_b);
  EXPECT_EQ(decode.ff2.activation_dtype, DType::bfloat8_b);
  EXPECT_EQ(decode.ff2.output_dtype, DType::bfloat8_b);
  // dim 8192: the FF1 partials are reduce-scattered in bfloat8_b, line.
  EXPECT_EQ(decode.ff1_ccl.reduce_dtype, DType::bfloat8_b);
  EXPECT_EQ(decode.ff1_ccl.output_dtype, DType::bfloat8_b);
  EXPECT_EQ(decode.ff1_ccl.topology, Topology::line);
  // FF2: tt_all_reduce in ccl_dtype along the 8 rows, line (ccl_topology of the whole Galaxy).
  EXPECT_EQ(decode.ff2_ccl.reduce_dtype, DType::bfloat8_b);
  EXPECT_EQ(decode.ff2_ccl.output_dtype, DType::bfloat8_b);
  EXPECT_EQ(decode.ff2_ccl.topology, Topology::line);
  // A narrower model in decode: tt_all_reduce of the FF1 partials at its bfloat16 default.
  const Tp2dGatedMlpSpec narrow{{4096, 14336, Activation::silu}, parse_mesh("TG")};
  const Tp2dGatedMlpImplConfig narrow_decode =
      default_impl_config(narrow, Device::TG, Mode::decode);
  EXPECT_EQ(narrow_decode.ff1_ccl.reduce_dtype, DType::bfloat16);
  EXPECT_EQ(narrow_decode.ff1_ccl.output_dtype, DType::bfloat16);
  EXPECT_EQ(default_impl_config(narrow, Device::TG, Mode::prefill).ff1_ccl.reduce_dtype,
            DType::bfloat8_b);
  const Tp2dGatedMlpImplConfig fast =
      default_impl_config(llama70b, Device::TG, Mode::decode, Preset::performance);
  EXPECT_EQ(fast.ff1_ff3.weight_dtype, DType::bfloat4_b);
  EXPECT_EQ(fast.ff1_ff3.fidelity, MathFidelity::LoFi);
}

TEST(Tp2dGatedMlpTest, JsonRoundTripsAndIsStrict) {
  const Tp2dGatedMlpSpec spec{{64, 256, Activation::gelu_tanh}, parse_mesh("TG"), 1};
  EXPECT_EQ(nlohmann::json(spec).get<Tp2dGatedMlpSpec>(), spec);
  EXPECT_EQ(nlohmann::json(spec)["mesh"], "TG");
  EXPECT_EQ(nlohmann::json(spec)["hidden_axis"], 1);
  EXPECT_EQ(spec.identity(),
            "TP2D_GATED_MLP(hidden=64,ffn=256,act=gelu_tanh,mesh=TG,hidden_axis=1)");
  const Tp2dGatedMlpImplConfig config = default_impl_config(spec, Device::TG, Mode::decode);
  EXPECT_EQ(nlohmann::json(config).get<Tp2dGatedMlpImplConfig>(), config);
  nlohmann::json extra = spec;
  extra["axis"] = 0;
  EXPECT_THAT([&] { extra.get<Tp2dGatedMlpSpec>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("axis")));
  nlohmann::json axis = spec;
  axis["hidden_axis"] = 2;
  EXPECT_THAT([&] { axis.get<Tp2dGatedMlpSpec>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("hidden_axis")));
  EXPECT_THAT(
      [] {
        nlohmann::json({{"ff2_ccl", {{"topology", "star"}}}}).get<Tp2dGatedMlpImplConfig>();
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("/ff2_ccl/topology")));
}

TEST(Tp2dGatedMlpTest, BadSpecNamesMeshAxisAndField) {
  // The error of validating `spec`.
  const auto validating = [](const GatedMlpSpec& mlp, const char* mesh, int hidden_axis) {
    return [=] { Tp2dGatedMlpSpec{mlp, parse_mesh(mesh), hidden_axis}.validate(); };
  };
  EXPECT_THAT(
      validating({64, 100, Activation::silu}, "TG", 1),
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "[tp2d_gated_mlp] mesh TG axis 0 (8 devices) does not divide spec.mlp.ffn_dim 100")));
  EXPECT_THAT(
      validating({34, 256, Activation::silu}, "TG", 1),
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "[tp2d_gated_mlp] mesh TG axis 1 (4 devices) does not divide spec.mlp.hidden_dim 34")));
  // The all-reduces chunk each device's slice over the other axis.
  EXPECT_THAT(validating({4, 2, Activation::silu}, "2x2", 1),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp2d_gated_mlp] mesh 2x2 axis 1 (2 devices) does not divide the "
                            "per-device slice spec.mlp.ffn_dim / 2 = 1")));
  EXPECT_THAT(validating({2, 4, Activation::silu}, "2x2", 1),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp2d_gated_mlp] mesh 2x2 axis 0 (2 devices) does not divide the "
                            "per-device slice spec.mlp.hidden_dim / 2 = 1")));
  EXPECT_THAT(validating({64, 256, Activation::silu}, "TG", 2),
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[tp2d_gated_mlp] spec.hidden_axis must be 0 (rows) or 1 (columns), got 2")));
  const Tp2dGatedMlpSpec spec{{64, 256, Activation::silu}, parse_mesh("2x2")};
  Tp2dGatedMlpImplConfig config = default_impl_config(spec, Device::TG, Mode::decode);
  config.ff1_ccl.reduce_dtype = DType::float64;
  EXPECT_THAT([&] { Tp2dGatedMlp(spec, config, seeded_weights(spec.mlp)); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp2d_gated_mlp.ff1_ccl] config.reduce_dtype is float64")));
}

TEST(Tp2dGatedMlpTest, BadInputNamesTheLayoutItNeeds) {
  const Tp2dGatedMlpSpec spec{{8, 8, Activation::silu}, parse_mesh("2x2")};
  const Tp2dGatedMlp block(spec, default_impl_config(spec, Device::TG, Mode::decode),
                           seeded_weights(spec.mlp));
  const Tensor x = random_normal({2, 8}, 61);
  EXPECT_THAT([&] { block.decode_forward(distribute(x, spec.mesh, {})); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[tp2d_gated_mlp] input x must be split along its hidden dimension (shard(1)) "
                  "on mesh 2x2 axis 1 (the hidden axis), got replicated")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(distribute(x, spec.mesh, {Placement::shard(0), Placement::shard(1)}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[tp2d_gated_mlp] input x must be replicated along mesh 2x2 axis 0 (the ffn "
                    "axis: its devices sum partials of the same tokens), got shard(0)")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(split_input(random_normal({2, 16}, 62), spec));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "[tp2d_gated_mlp] decode_forward input has shape [2, 8], expected [batch, 4]")));
  EXPECT_THAT(
      [&] {
        block.decode_forward(split_input(random_normal({1, 2, 8}, 63), spec));
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[tp2d_gated_mlp] decode_forward")));
  EXPECT_THAT([&] { block.decode_forward(distribute(x, parse_mesh("N300"), {})); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp2d_gated_mlp] input x is on mesh N300, spec.mesh is 2x2")));
}

// Replay: a trace's mesh tensor x and the whole weights rebuild the block from the call's spec and
// device (TG's defaults); y is the composed output.
TEST(Tp2dGatedMlpTest, ReplaysThroughTheRegistry) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  const BlockReplayer* replayer = registry.find("tp2d_gated_mlp");
  ASSERT_NE(replayer, nullptr);
  EXPECT_EQ(replayer->tolerances.value_or(Tolerances{}).pcc, 0.99);
  const Tp2dGatedMlpSpec spec{{128, 256, Activation::silu}, parse_mesh("TG")};
  const GatedMlpWeights weights = seeded_weights(spec.mlp);
  const Tensor x = random_normal({2, 128}, 71);
  const MeshTensor on_mesh = split_input(x, spec);
  BlockCall call;
  call.kind = "tp2d_gated_mlp";
  call.spec = spec;
  call.device = "TG";
  call.scalars = {{"mode", "decode"}};
  call.inputs = {{"x", x, std::make_shared<const MeshTensor>(on_mesh)},
                 {"w_gate", weights.w_gate.load()},
                 {"w_up", weights.w_up.load()},
                 {"w_down", weights.w_down.load()}};
  const BoundCall bound = replayer->bind(call);
  const Tp2dGatedMlp block(spec, default_impl_config(spec, Device::TG, Mode::decode), weights);
  EXPECT_EQ(floats_of(bound.run_device().at(0).tensor),
            floats_of(compose(block.decode_forward(on_mesh))));
  EXPECT_EQ(floats_of(bound.run_reference().at(0).tensor),
            floats_of(tp2d_gated_mlp_reference(spec, weights, on_mesh)));
}

// Suites seed x whole and distribute it split along hidden on the hidden axis (replicated on the
// ffn axis); coverage facts name the mesh and the devices of both axes.
TEST(Tp2dGatedMlpTest, KindSeedsTheSplitInputAndNamesTheMesh) {
  const BlockKind* kind = find_block_kind("tp2d_gated_mlp");
  ASSERT_NE(kind, nullptr);
  const nlohmann::json spec = {{"mlp", {{"hidden_dim", 64}, {"ffn_dim", 256}}}, {"mesh", "TG"}};
  const ConfiguredBlock block =
      kind->configure(JsonNode(spec, "test"), Device::TG, Mode::prefill, std::nullopt,
                      JsonNode(nlohmann::json::object(), "test"));
  const InputPlan plan = kind->seeded_inputs(block, Mode::prefill, {.batch = 2, .seq_len = 3});
  const auto& x = std::get<InputRule>(plan.inputs.at(0));
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.shape, (Shape{2, 3, 64}));
  ASSERT_TRUE(x.mesh.has_value());
  EXPECT_EQ(mesh_name(x.mesh->mesh), "TG");
  EXPECT_EQ(x.mesh->placements[0], Placement::replicate());
  EXPECT_EQ(x.mesh->placements[1], Placement::shard(2));
  EXPECT_FALSE(x.mesh->per_device);
  EXPECT_EQ(std::get<InputRule>(plan.inputs.at(1)).name, "w_gate");
  const KindFacts facts = kind->facts(spec, nlohmann::json::object(), Device::TG, Mode::decode);
  EXPECT_EQ(facts.derived.at("mesh"), "TG");
  EXPECT_EQ(facts.derived.at("hidden_devices"), 4);
  EXPECT_EQ(facts.derived.at("ffn_devices"), 8);
  EXPECT_EQ(facts.weight_dtype, "bfloat8_b");
}

}  // namespace
}  // namespace ttt

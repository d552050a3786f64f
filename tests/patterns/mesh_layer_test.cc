// The decoder layer and the causal LM on a mesh (tensor parallel): 1x1 is the single-device
// layer (same configs, JSON without "tensor_parallel"); with float32 everywhere 1x2 and 1x8 agree
// with 1x1 to float32 rounding (prefill and the decode step after it, through the per-device KV
// caches), a Mixtral-shaped layer too (its MoE expert parallel, recorded as ep_moe); records carry
// the tensor-parallel kinds, their Spec JSON and per-device metrics; a mesh that does not divide a
// field is an error naming the mesh and the field.
#include "mesh_layer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "patterns/causal_lm.h"
#include "validation/tensor/random.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/report.h"
#include "validation/wrapper/switches.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using namespace testing_patterns;

class MeshLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_validation_enabled(true);
    validation_registry().reset();
  }
};

// |a - b| <= 1e-5 * (1 + |b|): the two sides add the same float32 partials in another grouping
// (the row-parallel Wo and W_down sums split over the devices), a few float32 roundings apart.
void expect_float32_close(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  double worst = 0.0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.floats()[i], y = b.floats()[i];
    worst = std::max(worst, std::abs(x - y) / (1.0 + std::abs(y)));
  }
  EXPECT_LE(worst, 1e-5) << what;
  EXPECT_GT(worst, 0.0) << what << ": the mesh should regroup the sums, not repeat them";
}

const Tensor& prompt() {
  static const Tensor x = random_normal({1, 5, kHidden}, 41, 0.0, 1.0);
  return x;
}
const Tensor& token() {
  static const Tensor x = random_normal({1, kHidden}, 42, 0.0, 1.0);
  return x;
}

TEST_F(MeshLayerTest, OneByOneIsTheSingleDeviceConfigAndJson) {
  const DecoderLayerSpec spec = tiny_mesh_layer();
  for (const Mode mode : {Mode::prefill, Mode::decode}) {
    const DecoderLayerImplConfig config = default_impl_config(spec, Device::T3K, mode);
    const DecoderLayerImplConfig one = default_impl_config(spec, Device::T3K, mode, {}, Mesh{});
    EXPECT_EQ(one, config);
    EXPECT_EQ(nlohmann::json(one).dump(), nlohmann::json(config).dump());
    EXPECT_FALSE(nlohmann::json(one).contains("tensor_parallel"));
  }
  const CausalLmSpec model = tiny_spec(1);
  EXPECT_FALSE(nlohmann::json(default_impl_config(model, Device::N150, Mode::decode))
                   .contains("tensor_parallel"));
}

TEST_F(MeshLayerTest, MeshDefaultsFollowTheTensorParallelBlocks) {
  const DecoderLayerSpec spec = tiny_mesh_layer();
  const DecoderLayerImplConfig config =
      default_impl_config(spec, Device::T3K, Mode::decode, {}, parse_mesh("T3K"));
  ASSERT_TRUE(config.tensor_parallel.has_value());
  EXPECT_EQ(config.tensor_parallel->mesh, parse_mesh("T3K"));
  EXPECT_EQ(config.tensor_parallel->axis, 1);
  // tt-transformers on T3K: reduce-scatter of bfloat16 partials in ring order; each device's
  // attention without the emulated all-reduce (output_shards 1).
  EXPECT_EQ(config.tensor_parallel->ffn.reduction, TpReduction::reduce_scatter);
  EXPECT_EQ(config.tensor_parallel->ffn.ccl.topology, Topology::ring);
  EXPECT_EQ(config.tensor_parallel->attention.ccl.reduce_dtype, DType::bfloat16);
  EXPECT_EQ(config.attention.output_shards, 1);
  // TG: the columns (4 devices) split, the rows hold copies; all-reduce as TTTv1 on Galaxy.
  const DecoderLayerImplConfig tg =
      default_impl_config(spec, Device::TG, Mode::decode, {}, parse_mesh("TG"));
  EXPECT_EQ(tg.tensor_parallel->axis, 1);
  EXPECT_EQ(tg.tensor_parallel->ffn.reduction, TpReduction::all_reduce);

  const nlohmann::json json = config;
  EXPECT_EQ(json.at("tensor_parallel").at("mesh"), "T3K");
  EXPECT_EQ(json.at("tensor_parallel").at("ffn").at("reduction"), "reduce_scatter");
  EXPECT_EQ(json.get<DecoderLayerImplConfig>(), config);
}

TEST_F(MeshLayerTest, Float32LayerOnMeshesAgreesWithOneDeviceToFloat32Rounding) {
  const DecoderLayerSpec spec = tiny_mesh_layer();
  const LayerOutputs one = run_layer_on_mesh(spec, Mesh{}, 7, prompt(), token(), true);
  for (const char* name : {"N300", "T3K"}) {
    SCOPED_TRACE(name);
    const LayerOutputs mesh = run_layer_on_mesh(spec, parse_mesh(name), 7, prompt(), token(), true);
    expect_float32_close(mesh.prefill, one.prefill, "prefill");
    expect_float32_close(mesh.decode, one.decode, "decode after the prefill's KV caches");
  }
}

TEST_F(MeshLayerTest, RecordsCarryTheTensorParallelKindsAndPerDeviceMetrics) {
  const DecoderLayerSpec spec = tiny_mesh_layer();
  run_layer_on_mesh(spec, parse_mesh("T3K"), 7, prompt(), token(), false, Device::T3K);
  const std::vector<ValidationRecord> records = validation_registry().records();
  ASSERT_EQ(records.size(), 8u);  // attention_norm, attention, ffn_norm, ffn per mode.
  for (const ValidationRecord& record : records) {
    SCOPED_TRACE(record.name);
    EXPECT_TRUE(record.passed) << render_report({record}, ReportFormat::json);
    const bool sharded = record.name.find(".attention.") != std::string::npos ||
                         record.name.find(".ffn.") != std::string::npos;
    ASSERT_EQ(record.outputs.size(), 1u);
    EXPECT_EQ(record.outputs[0].devices.size(), sharded ? 8u : 0u);
    if (!sharded) continue;
    EXPECT_EQ(nlohmann::json::parse(record.spec_json).at("mesh"), "T3K");
    for (const DeviceCheck& device : record.outputs[0].devices) EXPECT_TRUE(device.verdict.passed);
  }
  EXPECT_EQ(records[3].name, "layers.0.ffn.prefill");
  EXPECT_EQ(records[3].block, "tp_gated_mlp");
  EXPECT_EQ(nlohmann::json::parse(records[3].impl_config_json).at("reduction"), "reduce_scatter");
}

// A Mixtral-shaped layer: its MoE runs expert parallel (EpMoe), each device its experts. With the
// router in float32 both sides route alike; top-2 puts a token's two weighted expert outputs on
// one device or on two, and either way the mesh adds them in expert order as the single device
// does (the other devices' partials are zeros, added exactly), so the FFN regroups nothing: the
// layer differs from 1x1 only by the attention's regrouped Wo sums.
TEST_F(MeshLayerTest, Float32MoeLayerOnMeshesAgreesWithOneDeviceToFloat32Rounding) {
  const DecoderLayerSpec spec = tiny_moe_mesh_layer();
  const LayerOutputs one = run_layer_on_mesh(spec, Mesh{}, 7, prompt(), token(), true);
  for (const char* name : {"N300", "T3K"}) {
    SCOPED_TRACE(name);
    const LayerOutputs mesh = run_layer_on_mesh(spec, parse_mesh(name), 7, prompt(), token(), true);
    expect_float32_close(mesh.prefill, one.prefill, "prefill");
    expect_float32_close(mesh.decode, one.decode, "decode after the prefill's KV caches");
  }
}

TEST_F(MeshLayerTest, MoeOnAMeshIsEpMoeWithItsDefaultsAndRecords) {
  const DecoderLayerSpec spec = tiny_moe_mesh_layer();
  const DecoderLayerImplConfig config =
      default_impl_config(spec, Device::T3K, Mode::decode, {}, parse_mesh("T3K"));
  ASSERT_TRUE(config.tensor_parallel.has_value());
  // ep_moe's defaults (TTTv1's Mixtral on T3K): every device the single-device MoE config, the
  // partials all-reduced in bfloat16 in ring order (every device keeps the whole sum).
  EXPECT_EQ(std::get<MoeImplConfig>(config.ffn),
            default_impl_config(std::get<MoeSpec>(spec.ffn), Device::T3K, Mode::decode));
  EXPECT_EQ(config.tensor_parallel->ffn.reduction, TpReduction::all_reduce);
  EXPECT_EQ(config.tensor_parallel->ffn.ccl.topology, Topology::ring);
  EXPECT_EQ(config.tensor_parallel->ffn.ccl.reduce_dtype, DType::bfloat16);
  EXPECT_EQ(nlohmann::json(config).get<DecoderLayerImplConfig>(), config);

  run_layer_on_mesh(spec, parse_mesh("T3K"), 7, prompt(), token(), false, Device::T3K);
  const std::vector<ValidationRecord> records = validation_registry().records();
  ASSERT_EQ(records.size(), 8u);
  for (const std::size_t i : {3u, 7u}) {
    const ValidationRecord& ffn = records[i];
    SCOPED_TRACE(ffn.name);
    EXPECT_EQ(ffn.name, i == 3 ? "layers.0.ffn.prefill" : "layers.0.ffn.decode");
    EXPECT_EQ(ffn.block, "ep_moe");
    EXPECT_TRUE(ffn.passed) << render_report({ffn}, ReportFormat::json);
    const nlohmann::json spec_json = nlohmann::json::parse(ffn.spec_json);
    EXPECT_EQ(spec_json.at("mesh"), "T3K");
    EXPECT_EQ(spec_json.at("moe").at("num_experts"), 8);
    EXPECT_EQ(nlohmann::json::parse(ffn.impl_config_json).at("reduction"), "all_reduce");
    ASSERT_EQ(ffn.outputs.size(), 1u);
    EXPECT_EQ(ffn.outputs[0].devices.size(), 8u);
  }
}

TEST_F(MeshLayerTest, CausalLmOnAMeshGivesTheSameTokensInFloat32) {
  CausalLmSpec spec = tiny_spec(2);
  for (DecoderLayerSpec& layer : spec.layers) layer = tiny_mesh_layer();
  const Tensor ids = Tensor::from_int64({1, 4}, {3, 17, 60, 95});
  const auto logits = [&](const Mesh& mesh) {
    PerMode<CausalLmImplConfig> configs = default_impl_configs(spec, Device::N150, {}, mesh);
    make_float32(configs.prefill);
    make_float32(configs.decode);
    SeededWeights weights(3);
    const CausalLm model(make_causal_lm_modules(spec, configs, weights.model(spec)));
    CausalLmCache cache = model.make_cache(1, 5);
    return model.prefill(ids, cache);
  };
  // The hidden state reaches the LM head within float32 rounding of the single-device one (as the
  // layer test shows), but the LM head's matrix unit rounds its float32 input to bfloat16
  // operands: a float32 difference can flip an operand's last bfloat16 bit (2^-8 relative), so
  // the logits agree within about 2^-8 of a logit, and the greedy tokens are the same.
  const Tensor mesh = logits(parse_mesh("N300"));
  const Tensor one = logits(Mesh{});
  ASSERT_EQ(mesh.shape(), one.shape());
  for (std::int64_t i = 0; i < one.numel(); ++i) {
    EXPECT_LE(std::abs(mesh.floats()[i] - one.floats()[i]),
              0x1p-8 * (1.0 + std::abs(one.floats()[i])))
        << "logit " << i;
  }
  const Tensor mesh_tokens = argmax_tokens(mesh), one_tokens = argmax_tokens(one);
  EXPECT_TRUE(std::equal(mesh_tokens.data<std::int64_t>(),
                         mesh_tokens.data<std::int64_t>() + mesh_tokens.numel(),
                         one_tokens.data<std::int64_t>()));
  const std::vector<ValidationRecord> records = validation_registry().records();
  ASSERT_EQ(records.size(), 2 * call_names(2, "prefill").size());
  const ValidationRecord& mesh_lm_head = records[call_names(2, "prefill").size() - 1];
  EXPECT_EQ(mesh_lm_head.name, "lm_head.prefill");
  EXPECT_EQ(mesh_lm_head.block, "tp_lm_head");
  ASSERT_EQ(mesh_lm_head.outputs.size(), 1u);
  EXPECT_EQ(mesh_lm_head.outputs[0].devices.size(), 2u);
  EXPECT_EQ(records.back().block, "lm_head");
}

TEST_F(MeshLayerTest, MeshNotDividingAFieldNamesTheMeshAndTheField) {
  const auto build = [](const DecoderLayerSpec& spec, const char* mesh) {
    const PerMode<DecoderLayerImplConfig> configs{
        default_impl_config(spec, Device::T3K, Mode::prefill, {}, parse_mesh(mesh)),
        default_impl_config(spec, Device::T3K, Mode::decode, {}, parse_mesh(mesh))};
    SeededWeights weights(1);
    make_decoder_layer_modules(spec, configs, weights.layer(spec));
  };
  EXPECT_THAT([&] { build(tiny_mesh_layer(), "1x3"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[decoder_layer] tensor_parallel: [tp_attention] mesh 1x3 axis 1 (3 devices) "
                  "does not divide spec.attention.num_heads 8")));
  // 1x8 cuts an FFN of 128 into 16 columns per device, less than one tile.
  DecoderLayerSpec narrow_ffn = tiny_mesh_layer();
  std::get<GatedMlpSpec>(narrow_ffn.ffn).ffn_dim = 128;
  EXPECT_THAT([&] { build(narrow_ffn, "T3K"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[decoder_layer] tensor_parallel: [tensor_parallel] mesh T3K axis 1 (8 devices): "
                  "[gated_mlp] config.reduction_shards 1 does not split spec.ffn_dim 16 into whole "
                  "tiles of 32")));
  // 1x8 cannot hold 4 experts whole, one device's share each.
  DecoderLayerSpec four_experts = tiny_moe_mesh_layer();
  std::get<MoeSpec>(four_experts.ffn).num_experts = 4;
  EXPECT_THAT([&] { build(four_experts, "T3K"); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[decoder_layer] tensor_parallel: [ep_moe] mesh T3K axis 1 (8 "
                            "devices) does not divide spec.moe.num_experts 4")));
  DecoderLayerSpec mlp = tiny_mesh_layer();
  mlp.ffn = MlpSpec{kHidden, kFfn, Activation::gelu, true};
  const DecoderLayerImplConfig config =
      default_impl_config(mlp, Device::N300, Mode::decode, {}, parse_mesh("N300"));
  EXPECT_THAT([&] { config.validate(mlp); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tensor_parallel] mesh N300: the ffn is mlp, which has no "
                            "tensor-parallel block")));
}

TEST_F(MeshLayerTest, ModesAndLayersMustShareOneMesh) {
  const DecoderLayerSpec spec = tiny_mesh_layer();
  PerMode<DecoderLayerImplConfig> configs{
      default_impl_config(spec, Device::T3K, Mode::prefill, {}, parse_mesh("T3K")),
      default_impl_config(spec, Device::T3K, Mode::decode)};
  SeededWeights weights(1);
  EXPECT_THAT([&] { make_decoder_layer_modules(spec, configs, weights.layer(spec)); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("the prefill config names a mesh (tensor_parallel), the decode "
                            "config none")));

  CausalLmSpec model = tiny_spec(2);
  for (DecoderLayerSpec& layer : model.layers) layer = tiny_mesh_layer();
  CausalLmImplConfig mixed =
      default_impl_config(model, Device::T3K, Mode::decode, {}, parse_mesh("T3K"));
  mixed.layers[1] = default_impl_config(model.layers[1], Device::T3K, Mode::decode);
  EXPECT_THAT([&] { mixed.validate(model); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[causal_lm] layers.1.tensor_parallel runs on one device, "
                  "config.tensor_parallel on mesh T3K axis 1: the model runs on one mesh")));
  const nlohmann::json json =
      default_impl_config(model, Device::T3K, Mode::decode, {}, parse_mesh("T3K"));
  EXPECT_EQ(json.at("tensor_parallel").at("mesh"), "T3K");
  EXPECT_TRUE(json.at("tensor_parallel").contains("lm_head"));
}

}  // namespace
}  // namespace ttt

#include "blocks/registration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "validation/metrics/metrics.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::ThrowsMessage;

double device_vs_reference_pcc(const BlockReplayer& replayer, const BlockCall& call) {
  const BoundCall bound = replayer.bind(call);
  const std::vector<NamedTensor> device = bound.run_device();
  const std::vector<NamedTensor> reference = bound.run_reference();
  EXPECT_EQ(device.size(), 1u);
  EXPECT_EQ(device.at(0).name, "y");
  EXPECT_EQ(reference.at(0).name, "y");
  return compute_metrics(device.at(0).tensor, reference.at(0).tensor).pcc;
}

TEST(RegistrationTest, RegistersEveryKindOnceGlobally) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  EXPECT_THAT(registry.kinds(),
              IsSupersetOf({"gated_mlp", "layer_norm", "lm_head", "mlp", "moe", "rms_norm"}));
  EXPECT_THAT([&] { register_builtin_blocks(registry); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("is already registered")));
  register_builtin_blocks();
  register_builtin_blocks();
  EXPECT_NE(BlockRegistry::global().find("gated_mlp"), nullptr);
  // Norms are judged by the dtype-aware default (default_tolerances); the feed-forward kinds, whose
  // weights are lossier than their output, keep TTTv1's PCC floor.
  EXPECT_FALSE(registry.find("rms_norm")->tolerances.has_value());
  EXPECT_FALSE(registry.find("layer_norm")->tolerances.has_value());
  EXPECT_EQ(registry.find("gated_mlp")->tolerances.value_or(Tolerances{}).pcc, 0.99);
}

TEST(RegistrationTest, RmsNormReplaysInDecodeModeWithConfigOverlay) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  BlockCall call;
  call.kind = "rms_norm";
  call.spec = {{"dim", 256}, {"eps", 1e-6}, {"add_unit_offset", true}};
  call.impl_config = {{"accumulation", "bf16"}};
  call.device = "TG";
  call.scalars = {{"mode", "decode"}};
  call.inputs = {{"x", random_normal({4, 256}, 1)}, {"weight", random_normal({256}, 2, 0, 0.1)}};
  EXPECT_GE(device_vs_reference_pcc(*registry.find("rms_norm"), call), 0.9999);
  call.scalars = {{"mode", "sideways"}};
  EXPECT_THAT([&] { registry.find("rms_norm")->bind(call); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[rms_norm] scalar 'mode': unknown mode 'sideways'")));
}

TEST(RegistrationTest, FfnKindsBindTheirNamedInputs) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  BlockCall gated;
  gated.kind = "gated_mlp";
  gated.spec = {{"hidden_dim", 64}, {"ffn_dim", 128}, {"activation", "gelu_tanh"}};
  gated.inputs = {{"x", random_normal({3, 64}, 1)},
                  {"w_gate", random_normal({64, 128}, 2, 0, 0.125)},
                  {"w_up", random_normal({64, 128}, 3, 0, 0.125)},
                  {"w_down", random_normal({128, 64}, 4, 0, 0.09)}};
  EXPECT_GE(device_vs_reference_pcc(*registry.find("gated_mlp"), gated), 0.99);

  BlockCall moe;
  moe.kind = "moe";
  moe.spec = {{"hidden_dim", 64}, {"ffn_dim", 32}, {"num_experts", 2}, {"top_k", 1}};
  moe.inputs = {{"x", random_normal({5, 64}, 5)}, {"router", random_normal({64, 2}, 6)}};
  for (int e = 0; e < 2; ++e) {
    const std::string index = std::to_string(e);
    moe.inputs.push_back({"w_gate/" + index, random_normal({64, 32}, 10 + e, 0, 0.125)});
    moe.inputs.push_back({"w_up/" + index, random_normal({64, 32}, 20 + e, 0, 0.125)});
    moe.inputs.push_back({"w_down/" + index, random_normal({32, 64}, 30 + e, 0, 0.18)});
  }
  EXPECT_GE(device_vs_reference_pcc(*registry.find("moe"), moe), 0.99);
  moe.inputs.pop_back();
  EXPECT_THAT([&] { registry.find("moe")->bind(moe); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[moe] expected inputs w_gate/0")));

  BlockCall mlp;
  mlp.kind = "mlp";
  mlp.spec = {{"hidden_dim", 32}, {"ffn_dim", 64}, {"activation", "gelu_fast"}};
  EXPECT_THAT([&] { registry.find("mlp")->bind(mlp); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("mlp spec: /activation: unknown activation 'gelu_fast'")));
  mlp.spec = {{"hidden_dim", 32}, {"ffn_dim", 64}, {"bias", true}};
  mlp.inputs = {{"x", random_normal({2, 32}, 1)},
                {"w_up", random_normal({32, 64}, 2, 0, 0.18)},
                {"w_down", random_normal({64, 32}, 3, 0, 0.125)}};
  EXPECT_THAT([&] { registry.find("mlp")->bind(mlp); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("missing input 'b_up'")));
}

TEST(RegistrationTest, LmHeadAndLayerNormReplay) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  BlockCall head;
  head.kind = "lm_head";
  head.spec = {
      {"hidden_dim", 32}, {"vocab_size", 300}, {"tied_embeddings", true}, {"logit_softcap", 30.0}};
  head.impl_config = {{"matmul", {{"weight_dtype", "bfloat16"}}}, {"vocab_chunk", 128}};
  head.inputs = {{"x", random_normal({2, 32}, 1)}, {"weight", random_normal({300, 32}, 2)}};
  EXPECT_GE(device_vs_reference_pcc(*registry.find("lm_head"), head), 0.999);
  BlockCall norm;
  norm.kind = "layer_norm";
  norm.spec = {{"dim", 96}, {"bias", false}};
  norm.inputs = {{"x", random_normal({3, 96}, 3)}, {"weight", random_normal({96}, 4, 1, 0.1)}};
  EXPECT_GE(device_vs_reference_pcc(*registry.find("layer_norm"), norm), 0.9999);
  norm.impl_config = {{"accumulation", "fp16"}};
  EXPECT_THAT([&] { registry.find("layer_norm")->bind(norm); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("layer_norm impl_config: /accumulation: unknown accumulation 'fp16'")));
}

}  // namespace
}  // namespace ttt

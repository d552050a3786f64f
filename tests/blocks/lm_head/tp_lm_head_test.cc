// The tensor-parallel LM head: the vocabulary split by hand, bit equality with the single-device
// LmHead on 1x1, 1x2 and 1x8 (gathering logits is exact), tied tables and softcapping, the
// float64 reference, JSON and bad input.
#include "blocks/lm_head/tp_lm_head.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "blocks/common/block_kind.h"
#include "blocks/registration.h"
#include "tests/blocks/common/accuracy.h"
#include "tests/common/tensor_values.h"
#include "validation/mesh/mesh.h"
#include "validation/mesh/transport.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

using test_support::floats_of;

TEST(TpLmHeadTest, HandCheckedVocabularySplit) {
  // hidden 1, vocab 4 on N300: device 0 holds tokens 0, 1, device 1 tokens 2, 3. x = 1 and W =
  // [1, 2, 3, 4] (float32 everywhere, exact): every device ends with the logits [1, 2, 3, 4], in
  // vocabulary order. A tied table [[1], [2], [3], [4]] splits its rows the same way.
  TpLmHeadImplConfig config;
  config.device.matmul = {DType::float32, DType::float32, DType::float32, MathFidelity::HiFi4,
                          Accumulation::fp32};
  config.ccl.output_dtype = DType::float32;
  const MeshTensor x = distribute(Tensor::from_floats({1, 1}, {1.0f}), parse_mesh("N300"), {});
  for (const bool tied : {false, true}) {
    const TpLmHeadSpec spec{{1, 4, tied, 0.0}, parse_mesh("N300")};
    const Tensor weight = tied ? Tensor::from_floats({4, 1}, {1, 2, 3, 4})
                               : Tensor::from_floats({1, 4}, {1, 2, 3, 4});
    const MeshTensor y = TpLmHead(spec, config, {weight}).decode_forward(x);
    EXPECT_EQ(y.placements[1], Placement::replicate());
    for (const Tensor& shard : y.shards) {
      EXPECT_EQ(floats_of(shard), (std::vector<float>{1, 2, 3, 4})) << "tied " << tied;
    }
  }
}

TEST(TpLmHeadTest, EqualsTheSingleDeviceBlockBitForBitOnEveryMesh) {
  for (const auto& [mesh, device] :
       {std::pair{"N150", Device::N150}, std::pair{"N300", Device::N300},
        std::pair{"T3K", Device::T3K}}) {
    for (const bool tied : {false, true}) {
      const TpLmHeadSpec spec{{64, 512, tied, tied ? 30.0 : 0.0}, parse_mesh(mesh)};
      const Tensor weight = random_normal(tied ? Shape{512, 64} : Shape{64, 512}, 7, 0.0, 0.3);
      const LmHead single(spec.lm_head, default_impl_config(spec.lm_head, device, Mode::prefill),
                          {weight});
      const TpLmHead tp(spec, default_impl_config(spec, device, Mode::prefill), {weight});
      const Tensor x = random_normal({2, 3, 64}, 8);
      const MeshTensor on_mesh = distribute(x, spec.mesh, {});
      const Tensor y = compose(tp.prefill_forward(on_mesh));
      const Tensor expected = single.prefill_forward(x);
      EXPECT_EQ(y.dtype(), expected.dtype()) << mesh;
      EXPECT_EQ(floats_of(y), floats_of(expected)) << mesh << " tied " << tied;
      testing_blocks::expect_accuracy(y, tp_lm_head_reference(spec, {weight}, on_mesh),
                                      spec.identity(), mesh, {0.99, 0.1});
    }
  }
}

TEST(TpLmHeadTest, JsonAndDefaults) {
  const TpLmHeadSpec spec{{4096, 128256, false, 0.0}, parse_mesh("T3K")};
  EXPECT_EQ(nlohmann::json(spec).get<TpLmHeadSpec>(), spec);
  EXPECT_EQ(spec.identity(),
            "TP_LM_HEAD(hidden=4096,vocab=128256,tied=0,softcap=0,mesh=T3K,axis=1)");
  const TpLmHeadImplConfig config = default_impl_config(spec, Device::T3K, Mode::decode);
  EXPECT_EQ(config.ccl.topology, Topology::ring);
  EXPECT_EQ(config.ccl.output_dtype, DType::bfloat16);
  EXPECT_EQ(config.device.vocab_chunk, 16032);  // 128256 / 8 columns, in whole tiles
  EXPECT_EQ(nlohmann::json(config).get<TpLmHeadImplConfig>(), config);
  EXPECT_THAT(
      [] {
        nlohmann::json({{"chunk", 1}}).get<TpLmHeadImplConfig>();
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("chunk")));
}

TEST(TpLmHeadTest, BadInputNamesMeshAxisAndDimension) {
  const TpLmHeadSpec spec{{64, 100, false, 0.0}, parse_mesh("T3K")};
  EXPECT_THAT([&] { spec.validate(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[tp_lm_head] mesh T3K axis 1 (8 devices) does not divide "
                            "spec.lm_head.vocab_size 100")));
  const TpLmHeadSpec n300{{64, 128, false, 0.0}, parse_mesh("N300")};
  const TpLmHead block(n300, default_impl_config(n300, Device::N300, Mode::decode),
                       {random_normal({64, 128}, 9)});
  EXPECT_THAT(
      [&] {
        block.decode_forward(distribute(random_normal({2, 64}, 10), n300.mesh,
                                        {Placement::replicate(), Placement::shard(0)}));
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[tp_lm_head] input x must be replicated along mesh N300 axis 1")));
  EXPECT_THAT(
      [&] {
        TpLmHead(n300, {}, {random_normal({64, 100}, 9)});
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[lm_head] weight has shape")));
}

TEST(TpLmHeadTest, ReplaysThroughTheRegistry) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  const BlockReplayer* replayer = registry.find("tp_lm_head");
  ASSERT_NE(replayer, nullptr);
  const TpLmHeadSpec spec{{64, 256, false, 0.0}, parse_mesh("N300")};
  const Tensor weight = random_normal({64, 256}, 81, 0.0, 0.3);
  const Tensor x = random_normal({3, 64}, 82);
  const MeshTensor on_mesh = distribute(x, spec.mesh, {});
  BlockCall call;
  call.kind = "tp_lm_head";
  call.spec = spec;
  call.device = "N300";
  call.inputs = {{"x", x, std::make_shared<const MeshTensor>(on_mesh)}, {"weight", weight}};
  const BoundCall bound = replayer->bind(call);
  // Gathering is exact: the replayed logits are the single-device LmHead's.
  const LmHead single(spec.lm_head, default_impl_config(spec.lm_head, Device::N300, Mode::prefill),
                      {weight});
  EXPECT_EQ(floats_of(bound.run_device().at(0).tensor), floats_of(single.prefill_forward(x)));
  EXPECT_EQ(floats_of(bound.run_reference().at(0).tensor),
            floats_of(lm_head_reference(spec.lm_head, {weight}, x)));
}

// A process that holds device 0 of an N300 only (as an MPI rank does): it runs device 0's share,
// and the logits of device 1 arrive through the transport's all-gather (here: the values device
// 1 computes, its LmHead on vocabulary columns 64..127, cut by hand). Device 0 ends with the whole
// logits; device 1's shard stays undefined on this process.
class HoldsDeviceZero final : public MeshTransport {
 public:
  explicit HoldsDeviceZero(Tensor device1) : device1_(std::move(device1)) {}
  std::string name() const override { return "test"; }
  bool holds(const Mesh&, int device) const override { return device == 0; }
  std::vector<Tensor> all_gather_shards(const MeshTensor& tensor) const override {
    return {tensor.shards[0], device1_};
  }

 private:
  Tensor device1_;
};

TEST(TpLmHeadTest, RunsOnlyTheHeldDevicesAndGathersThroughTheTransport) {
  const TpLmHeadSpec spec{{32, 128, false, 0.0}, parse_mesh("N300")};
  const Tensor weight = random_normal({32, 128}, 91, 0.0, 0.3);
  const Tensor x = random_normal({2, 32}, 92);
  std::vector<float> columns;
  for (std::int64_t h = 0; h < 32; ++h) {
    for (std::int64_t v = 64; v < 128; ++v)
      columns.push_back(static_cast<float>(weight.at({h, v})));
  }
  const TpLmHeadImplConfig config = default_impl_config(spec, Device::N300, Mode::decode);
  const Tensor device1 =
      LmHead(spec.device_spec(), config.device, {Tensor::from_floats({32, 64}, std::move(columns))})
          .decode_forward(x);
  const ScopedMeshTransport scoped(std::make_shared<HoldsDeviceZero>(device1));
  MeshTensor local = distribute(x, spec.mesh, {});
  local.shards[1] = Tensor();  // Device 1 lives on another process.
  const MeshTensor y = TpLmHead(spec, config, {weight}).decode_forward(local);
  EXPECT_FALSE(y.shards[1].defined());
  const LmHead single(spec.lm_head, default_impl_config(spec.lm_head, Device::N300, Mode::decode),
                      {weight});
  EXPECT_EQ(floats_of(y.shards[0]), floats_of(single.decode_forward(x)));
}

}  // namespace
}  // namespace ttt

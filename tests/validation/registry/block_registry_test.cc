// The block registry: registration rules, BlockCall's accessors and the builtin kind ttt.scale.
#include "validation/registry/block_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "validation/registry/builtin_blocks.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

BlockReplayer identity(const std::string& kind) {
  return {.kind = kind, .inputs = {"x"}, .outputs = {"y"}, .bind = [](const BlockCall& call) {
            const Tensor x = call.input("x");
            return BoundCall{[x] { return named({{"y", x}}); }, [x] { return named({{"y", x}}); }};
          }};
}

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "(no exception)";
}

TEST(BlockRegistry, AddsFindsAndListsKinds) {
  BlockRegistry registry;
  EXPECT_EQ(registry.find("b"), nullptr);
  registry.add(identity("b"));
  registry.add(identity("a.decode"));
  EXPECT_THAT(registry.kinds(), ElementsAre("a.decode", "b"));
  const BlockReplayer* found = registry.find("b");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->kind, "b");
  EXPECT_THAT(found->inputs, ElementsAre("x"));
  // No tolerances of its own: replay judges it by default_tolerances of the output dtypes.
  EXPECT_FALSE(found->tolerances.has_value());
}

TEST(BlockRegistry, RefusesDuplicatesEmptyKindsAndMissingBind) {
  BlockRegistry registry;
  registry.add(identity("b"));
  EXPECT_EQ(message_of([&] { registry.add(identity("b")); }),
            "[BlockRegistry] block kind 'b' is already registered");
  EXPECT_EQ(message_of([&] { registry.add(identity("")); }), "[BlockRegistry] empty block kind");
  EXPECT_EQ(message_of([&] { registry.add({.kind = "c"}); }),
            "[BlockRegistry] block kind 'c' has no bind function");
}

TEST(BlockRegistry, GlobalRegistryStartsWithTheBuiltinsAndTakesRegistrations) {
  EXPECT_NE(BlockRegistry::global().find("ttt.scale"), nullptr);
  static BlockRegistration registration(identity("registry_test.identity"));
  EXPECT_NE(BlockRegistry::global().find("registry_test.identity"), nullptr);
}

TEST(BlockCall, InputsByNameAndContainersInIndexOrder) {
  BlockCall call;
  call.kind = "k";
  call.inputs = {{"x", Tensor::scalar(1.0f)},
                 {"kv/1", Tensor::scalar(11.0f)},
                 {"kv/10", Tensor::scalar(20.0f)},
                 {"kv/0", Tensor::scalar(10.0f)}};
  for (int i = 2; i < 10; ++i)
    call.inputs.push_back(
        {"kv/" + std::to_string(i), Tensor::scalar(10.0f + static_cast<float>(i))});
  EXPECT_EQ(call.input("x").at_flat(0), 1.0);
  EXPECT_EQ(message_of([&] { call.input("w"); }), "[k] missing input 'w'");
  const std::vector<Tensor> kv = call.container("kv");
  ASSERT_EQ(kv.size(), 11u);
  for (int i = 0; i <= 10; ++i) EXPECT_EQ(kv[i].at_flat(0), 10.0 + i) << i;
  EXPECT_TRUE(call.container("none").empty());
  call.inputs.push_back({"gap/0", Tensor::scalar(0.0f)});
  call.inputs.push_back({"gap/2", Tensor::scalar(0.0f)});
  EXPECT_EQ(message_of([&] { call.container("gap"); }),
            "[k] container input 'gap' has no element 1");
  call.inputs.push_back({"bad/x", Tensor::scalar(0.0f)});
  EXPECT_THAT(message_of([&] { call.container("bad"); }), HasSubstr("not an index"));
}

BlockCall scale_call(Tensor x, const std::string& scalars, const std::string& spec = "{}",
                     const std::string& impl_config = "{}") {
  BlockCall call;
  call.kind = "ttt.scale";
  call.spec = nlohmann::json::parse(spec);
  call.impl_config = nlohmann::json::parse(impl_config);
  call.scalars = nlohmann::json::parse(scalars);
  call.inputs = {{"x", std::move(x)}};
  return call;
}

TEST(BuiltinScale, DeviceRoundsToTheOutputDtypeAndTheReferenceDoesNot) {
  BlockRegistry registry;
  add_builtin_blocks(registry);
  const BlockReplayer* scale = registry.find("ttt.scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_THAT(scale->outputs, ElementsAre("y"));
  ASSERT_TRUE(scale->tolerances.has_value());
  EXPECT_EQ(scale->tolerances->pcc, 0.999);
  EXPECT_FALSE(scale->tolerances->max_abs_error.has_value());
  const Tensor x = Tensor::from_floats({2}, {1.0f, -3.0f});
  const BoundCall bound = scale->bind(
      scale_call(x, R"({"scale": 0.3})", R"({"shape": [2]})", R"({"output_dtype": "bfloat16"})"));
  const std::vector<NamedTensor> device = bound.run_device();
  ASSERT_EQ(device.size(), 1u);
  EXPECT_EQ(device[0].name, "y");
  EXPECT_EQ(device[0].tensor.dtype(), DType::bfloat16);
  // 0.3f = 0x3E99999A -> bfloat16 0x3E9A = 0.30078125; -0.90000004f -> 0xBF66 = -0.8984375.
  EXPECT_EQ(device[0].tensor.at({0}), 0.30078125);
  EXPECT_EQ(device[0].tensor.at({1}), -0.8984375);
  const std::vector<NamedTensor> reference = bound.run_reference();
  EXPECT_EQ(reference[0].tensor.dtype(), DType::float32);
  EXPECT_EQ(reference[0].tensor.at({0}), static_cast<double>(0.3f));
  EXPECT_EQ(reference[0].tensor.at({1}), static_cast<double>(-0.9f));
  // Without output_dtype the output keeps x's dtype.
  EXPECT_EQ(scale->bind(scale_call(x, R"({"scale": 2})")).run_device()[0].tensor.dtype(),
            DType::float32);
}

TEST(BuiltinScale, RejectsWhatContradictsTheSpec) {
  BlockRegistry registry;
  add_builtin_blocks(registry);
  const BlockReplayer& scale = *registry.find("ttt.scale");
  const Tensor x = Tensor::from_floats({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(message_of([&] { scale.bind(scale_call(x, R"({"scale": 1})", R"({"shape": [4]})")); }),
            "[ttt.scale] input x has shape [2, 2], spec says [4]");
  EXPECT_EQ(message_of([&] { scale.bind(scale_call(x, R"({})")); }),
            "[ttt.scale] scalar 'scale' is missing or not a number");
  EXPECT_EQ(
      message_of([&] { scale.bind(scale_call(Tensor::from_int32({1}, {1}), R"({"scale": 1})")); }),
      "[ttt.scale] input x has dtype int32, expected a floating dtype");
  EXPECT_EQ(message_of([&] {
              scale.bind(scale_call(x, R"({"scale": 1})", "{}", R"({"output_dtype": "int64"})"));
            }),
            "[ttt.scale] impl_config output_dtype must be a floating dtype");
  EXPECT_EQ(message_of([&] { scale.bind(BlockCall{.kind = "ttt.scale"}); }),
            "[ttt.scale] missing input 'x'");
}

}  // namespace
}  // namespace ttt

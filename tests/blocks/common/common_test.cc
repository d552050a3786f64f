// The shared vocabulary, identity strings, lazy weights and the float32 softmax.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "blocks/common/device.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/common/softmax.h"
#include "blocks/common/weights.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(DeviceTest, NamesParseBackAndMeshShapesMatchTheTargets) {
  for (Device device : {Device::N150, Device::N300, Device::T3K, Device::TG}) {
    EXPECT_EQ(parse_device(device_name(device)), device);
    EXPECT_EQ(nlohmann::json(device).get<Device>(), device);
  }
  EXPECT_EQ(mesh_shape(Device::N150).num_devices(), 1);
  EXPECT_EQ(mesh_shape(Device::N300).cols, 2);
  EXPECT_EQ(mesh_shape(Device::T3K).num_devices(), 8);
  EXPECT_EQ(mesh_shape(Device::TG).rows, 8);
  EXPECT_EQ(mesh_shape(Device::TG).cols, 4);
  EXPECT_EQ(mesh_shape(Device::TG).num_devices(), 32);
  EXPECT_THAT([] { parse_device("N600"); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("unknown device 'N600' (expected one of N150, N300, T3K, TG)")));
}

TEST(DeviceTest, EveryEnumRoundTripsThroughJson) {
  for (Mode mode : {Mode::prefill, Mode::decode}) {
    EXPECT_EQ(nlohmann::json(mode).get<Mode>(), mode);
  }
  for (MathFidelity fidelity :
       {MathFidelity::LoFi, MathFidelity::HiFi2, MathFidelity::HiFi3, MathFidelity::HiFi4}) {
    EXPECT_EQ(nlohmann::json(fidelity).get<MathFidelity>(), fidelity);
  }
  EXPECT_EQ(nlohmann::json(Accumulation::bf16), "bf16");
  EXPECT_EQ(nlohmann::json("fp32").get<Accumulation>(), Accumulation::fp32);
  EXPECT_EQ(nlohmann::json(Preset::performance), "performance");
  EXPECT_EQ(parse_preset("accuracy"), Preset::accuracy);
  EXPECT_THAT([] { nlohmann::json(3).get<Mode>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("expected a mode name string")));
  EXPECT_THAT([] { parse_math_fidelity("hifi2"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("unknown math fidelity 'hifi2'")));
}

// A struct of every kind of field the blocks' field lists use, listed once as they are.
enum class Shade : std::uint8_t { light, dark };
std::string_view shade_name(Shade shade) { return shade == Shade::light ? "light" : "dark"; }
Shade parse_shade(std::string_view name) {
  if (name == "light") return Shade::light;
  if (name == "dark") return Shade::dark;
  throw std::invalid_argument("unknown shade '" + std::string(name) + "'");
}

struct Inner {
  std::int32_t count = 1;
  DType dtype = DType::bfloat16;
};
constexpr auto kInnerFields =
    std::tuple{json_optional("count", &Inner::count), json_optional("dtype", &Inner::dtype)};
void to_json(nlohmann::json& json, const Inner& inner) {
  write_json_fields(json, inner, kInnerFields);
}
void read_json(const JsonNode& node, Inner& inner) { read_json_fields(node, inner, kInnerFields); }

struct Outer {
  std::int64_t dim = 0;
  float eps = 1e-5f;
  bool flag = false;
  Shade shade = Shade::light;
  MathFidelity fidelity = MathFidelity::HiFi2;
  std::vector<double> factors;
  std::optional<Inner> extra;
  std::vector<Inner> inners;
  Inner inner;
};
constexpr auto kOuterFields =
    std::tuple{json_required("dim", &Outer::dim),
               json_optional("eps", &Outer::eps),
               json_optional("flag", &Outer::flag),
               json_named("shade", &Outer::shade, shade_name, parse_shade),
               json_optional("fidelity", &Outer::fidelity),
               json_optional("factors", &Outer::factors),
               json_optional("extra", &Outer::extra),
               json_optional("inners", &Outer::inners),
               json_optional("inner", &Outer::inner)};

Outer read_outer(const nlohmann::json& json) {
  Outer outer;
  read_json_fields(JsonNode(json, "outer"), outer, kOuterFields);
  return outer;
}

std::string read_error(const nlohmann::json& json) {
  try {
    read_outer(json);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no error";
}

TEST(JsonFieldsTest, OneListWritesEveryFieldAndReadsItBack) {
  Outer outer;
  outer.dim = 4096;
  outer.eps = 0.5f;
  outer.flag = true;
  outer.shade = Shade::dark;
  outer.fidelity = MathFidelity::LoFi;
  outer.factors = {1.0, 2.5};
  outer.inners = {Inner{3, DType::bfloat8_b}};
  outer.inner.count = 2;
  nlohmann::json json;
  write_json_fields(json, outer, kOuterFields);
  // Every field by its name (enums and dtypes spelled as names); the empty optional is left out.
  EXPECT_EQ(json.dump(),
            R"({"dim":4096,"eps":0.5,"factors":[1.0,2.5],"fidelity":"LoFi","flag":true,)"
            R"("inner":{"count":2,"dtype":"bfloat16"},"inners":[{"count":3,"dtype":"bfloat8_b"}],)"
            R"("shade":"dark"})");

  const Outer back = read_outer(json);
  EXPECT_EQ(back.dim, 4096);
  EXPECT_EQ(back.eps, 0.5f);
  EXPECT_TRUE(back.flag);
  EXPECT_EQ(back.shade, Shade::dark);
  EXPECT_EQ(back.fidelity, MathFidelity::LoFi);
  EXPECT_EQ(back.factors, (std::vector<double>{1.0, 2.5}));
  EXPECT_FALSE(back.extra.has_value());
  ASSERT_EQ(back.inners.size(), 1u);
  EXPECT_EQ(back.inners[0].count, 3);
  EXPECT_EQ(back.inners[0].dtype, DType::bfloat8_b);
  EXPECT_EQ(back.inner.count, 2);

  // Optional fields left out keep their defaults; null empties an optional.
  const Outer minimal = read_outer({{"dim", 8}, {"extra", nullptr}});
  EXPECT_EQ(minimal.eps, 1e-5f);
  EXPECT_EQ(minimal.shade, Shade::light);
  EXPECT_FALSE(minimal.extra.has_value());
  EXPECT_EQ(read_outer({{"dim", 8}, {"extra", {{"count", 5}}}}).extra->count, 5);
}

TEST(JsonFieldsTest, ANestedStructLeftPartialTakesItsOwnDefaults) {
  Outer outer;
  outer.inner.count = 7;
  outer.eps = 0.25f;
  read_json_fields(JsonNode(nlohmann::json{{"dim", 1}, {"inner", nlohmann::json::object()}}, "o"),
                   outer, kOuterFields);
  EXPECT_EQ(outer.inner.count, 1);  // Inner's default, not the 7 it held.
  EXPECT_EQ(outer.eps, 0.25f);      // A top-level field left out keeps its value.
}

TEST(JsonFieldsTest, ErrorsNameTheSourceAndTheJsonPath) {
  EXPECT_EQ(read_error({{"dim", 8}, {"epss", 1}}),
            "outer: /epss: unknown field 'epss' (expected one of: dim, eps, flag, shade, fidelity, "
            "factors, extra, inners, inner)");
  EXPECT_EQ(read_error(nlohmann::json::object()), "outer: /: missing field 'dim'");
  EXPECT_EQ(read_error({{"dim", "8"}}), "outer: /dim: expected an integer, got \"8\"");
  EXPECT_EQ(read_error({{"dim", 2.5}}), "outer: /dim: expected an integer, got 2.5");
  EXPECT_EQ(read_error({{"dim", 8}, {"flag", 1}}), "outer: /flag: expected a boolean, got 1");
  EXPECT_EQ(read_error({{"dim", 8}, {"eps", "small"}}),
            "outer: /eps: expected a number, got \"small\"");
  EXPECT_EQ(read_error({{"dim", 8}, {"shade", "grey"}}), "outer: /shade: unknown shade 'grey'");
  EXPECT_EQ(read_error({{"dim", 8}, {"shade", 1}}), "outer: /shade: expected a string, got 1");
  EXPECT_THAT(read_error({{"dim", 8}, {"fidelity", "HiFi5"}}),
              HasSubstr("outer: /fidelity: unknown math fidelity 'HiFi5'"));
  EXPECT_EQ(read_error({{"dim", 8}, {"factors", {1.0, "x"}}}),
            "outer: /factors/1: expected a number, got \"x\"");
  EXPECT_EQ(read_error(nlohmann::json::array()), "outer: /: expected an object, got []");
}

TEST(JsonFieldsTest, IntegersAreRangeCheckedBeforeNarrowing) {
  // 2^32 + 1 would narrow to 1 in an int32 field.
  EXPECT_EQ(read_error({{"dim", 8}, {"inner", {{"count", 4294967297}}}}),
            "outer: /inner/count: expected an integer from -2147483648 to 2147483647, got "
            "4294967297");
  EXPECT_THAT(read_error({{"dim", 18446744073709551615u}}),
              HasSubstr("outer: /dim: integer 18446744073709551615 is out of range"));
}

TEST(JsonFieldsTest, NestedErrorsNameTheFullPath) {
  EXPECT_THAT(read_error({{"dim", 8}, {"inners", {{{"count", 1}}, {{"dtype", "float9"}}}}}),
              HasSubstr("outer: /inners/1/dtype: [parse_dtype] unknown dtype 'float9'"));
  EXPECT_EQ(read_error({{"dim", 8}, {"extra", {{"cuont", 1}}}}),
            "outer: /extra/cuont: unknown field 'cuont' (expected one of: count, dtype)");
  // A node below a suite file keeps the file and the path above it.
  const nlohmann::json spec = {{"dim", 8}, {"inner", {{"count", "3"}}}};
  Outer outer;
  EXPECT_THAT(
      [&] {
        read_json_fields(JsonNode(spec, "suites/x.json", "/cases/3/spec"), outer, kOuterFields);
      },
      ThrowsMessage<std::invalid_argument>(
          "suites/x.json: /cases/3/spec/inner/count: expected an integer, got \"3\""));
}

// A recursive struct: the reader's depth limit bounds it.
struct Tree {
  std::vector<Tree> children;
};
constexpr auto kTreeFields = std::tuple{json_optional("children", &Tree::children)};
void read_json(const JsonNode& node, Tree& tree) { read_json_fields(node, tree, kTreeFields); }

TEST(JsonFieldsTest, DepthIsLimitedAsTheReadersIs) {
  nlohmann::json deep = nlohmann::json::object();
  for (int level = 0; level < 100; ++level) deep = {{"children", {deep}}};
  Tree tree;
  EXPECT_THAT([&] { read_json(JsonNode(deep, "tree"), tree); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("nested deeper than 128 levels")));
  nlohmann::json shallow = nlohmann::json::object();
  for (int level = 0; level < 10; ++level) shallow = {{"children", {shallow}}};
  read_json(JsonNode(shallow, "tree"), tree);
  EXPECT_EQ(tree.children.size(), 1u);
}

TEST(IdentityTest, FormatsLikeGgmlVars) {
  EXPECT_EQ(Identity("RMS_NORM").add("dim", 4096).add("eps", 1e-5).add("offset", false).str(),
            "RMS_NORM(dim=4096,eps=1e-05,offset=0)");
  EXPECT_EQ(Identity("MLP").add("act", "gelu_tanh").add("theta", 500000.0).str(),
            "MLP(act=gelu_tanh,theta=500000)");
  EXPECT_EQ(Identity("X").str(), "X()");
}

TEST(PreparedTest, PreparesOnceAcrossThreadsAndOnlyWhenAsked) {
  std::atomic<int> calls{0};
  const Prepared<int> prepared([&] {
    ++calls;
    return 42;
  });
  EXPECT_FALSE(prepared.ready());
  EXPECT_EQ(calls.load(), 0);
  std::vector<std::thread> threads;
  std::atomic<int> sum{0};
  for (int t = 0; t < 8; ++t) threads.emplace_back([&] { sum += prepared.get(); });
  for (std::thread& thread : threads) thread.join();
  const Prepared<int> copy = prepared;
  EXPECT_EQ(copy.get(), 42);
  EXPECT_EQ(sum.load(), 8 * 42);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(prepared.ready());
}

TEST(WeightSourceTest, LazySourceKnowsItsShapeWithoutLoading) {
  int loads = 0;
  const WeightSource source({4, 3}, [&] {
    ++loads;
    return random_normal({4, 3}, 5);
  });
  EXPECT_EQ(source.shape(), (Shape{4, 3}));
  EXPECT_EQ(loads, 0);
  EXPECT_EQ(source.load().at({1, 2}), random_normal({4, 3}, 5).at({1, 2}));
  EXPECT_EQ(loads, 1);
  const WeightSource wrong({4, 4}, [] { return random_normal({4, 3}, 5); });
  EXPECT_THAT([&] { wrong.load(); }, ThrowsMessage<std::invalid_argument>(HasSubstr(
                                         "loader returned shape [4, 3], expected [4, 4]")));
  EXPECT_FALSE(WeightSource().defined());
}

TEST(SoftmaxTest, RowsSumToOneAndMaskedRowsAreZero) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> values = {0.0f, std::log(3.0f), -inf, -inf, -inf, -inf};
  softmax_rows_fp32(values, 3);
  EXPECT_FLOAT_EQ(values[0], 0.25f);
  EXPECT_FLOAT_EQ(values[1], 0.75f);
  EXPECT_EQ(values[2], 0.0f);
  EXPECT_EQ(values[3], 0.0f);
  EXPECT_EQ(values[5], 0.0f);
  EXPECT_THAT([&] { softmax_rows_fp32(values, 4); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[softmax] 6 values")));
}

}  // namespace
}  // namespace ttt

// The shared vocabulary, identity strings, lazy weights and the float32 softmax.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
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

TEST(JsonFieldsTest, NamesTheBlockAndTheField) {
  const nlohmann::json json = {{"dim", "4096"}, {"extra", 1}};
  std::int64_t dim = 0;
  JsonFields fields(json, "rms_norm");
  EXPECT_THAT([&] { fields.required("dim", dim); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[rms_norm] field 'dim': expected an integer, got \"4096\"")));
  double eps = 1e-5;
  fields.optional("eps", eps);
  EXPECT_EQ(eps, 1e-5);
  EXPECT_THAT([&] { fields.required("offset", eps); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("field 'offset': is required")));
  EXPECT_THAT([&] { fields.finish(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[rms_norm] field 'extra': is not a field of rms_norm")));
  EXPECT_THAT([] { JsonFields(nlohmann::json::array(), "mlp"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[mlp] expected a JSON object")));
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

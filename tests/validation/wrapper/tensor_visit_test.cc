// Finding the tensors of arguments and outputs: every built-in type and the customization point.
#include "validation/wrapper/tensor_visit.h"
#include "tests/validation/wrapper/kv_cache_type.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

namespace model {

// A read-only customization (const reference): enough for reading.
struct Frozen {
  ttt::Tensor weight;
};

void ttt_visit_tensors(const Frozen& frozen, ttt::TensorVisitor& visit) {
  visit("weight", frozen.weight);
}

// A device-layout type that converts itself to a host tensor (a temporary: read-only).
struct DeviceTensor {
  std::vector<float> values;
};

void ttt_visit_tensors(const DeviceTensor& tensor, ttt::TensorVisitor& visit) {
  visit("",
        ttt::Tensor::from_floats({static_cast<std::int64_t>(tensor.values.size())}, tensor.values));
}

struct NotVisitable {
  int* pointer = nullptr;
};

enum class Mode { prefill = 3, decode = 7 };

}  // namespace model

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

Tensor vec(std::vector<float> values) {
  const auto n = static_cast<std::int64_t>(values.size());
  return Tensor::from_floats({n}, std::move(values));
}

std::vector<std::string> names_of(const std::vector<NamedTensor>& tensors) {
  std::vector<std::string> names;
  for (const NamedTensor& t : tensors) names.push_back(t.name);
  return names;
}

// Records every callback, including scalars, and whether tensors were writable.
class RecordingVisitor final : public TensorVisitor {
 public:
  std::vector<std::string> events;

 protected:
  void on_tensor(Tensor&) override { events.push_back("rw " + path()); }
  void on_read_only_tensor(const Tensor&) override { events.push_back("ro " + path()); }
  void on_scalar(const ScalarValue& value) override {
    events.push_back("scalar " + path() + "=" +
                     std::visit([](auto v) { return std::to_string(v); }, value));
  }
};

static_assert(TensorVisitable<Tensor>);
static_assert(TensorVisitable<const Tensor&>);
static_assert(TensorVisitable<int>);
static_assert(TensorVisitable<double>);
static_assert(TensorVisitable<bool>);
static_assert(TensorVisitable<model::Mode>);
static_assert(TensorVisitable<std::vector<Tensor>>);
static_assert(TensorVisitable<std::optional<Tensor>>);
static_assert(TensorVisitable<std::array<Tensor, 2>>);
static_assert(TensorVisitable<std::tuple<Tensor, std::vector<Tensor>, int>>);
static_assert(TensorVisitable<std::pair<Tensor, std::optional<Tensor>>>);
static_assert(TensorVisitable<model::KvCache>);
static_assert(TensorVisitable<std::vector<model::KvCache>>);
static_assert(TensorVisitable<model::Frozen>);
static_assert(!TensorVisitable<model::NotVisitable>);
static_assert(!TensorVisitable<std::vector<model::NotVisitable>>);
static_assert(!TensorVisitable<std::tuple<Tensor, model::NotVisitable>>);
static_assert(!TensorVisitable<std::string>);

TEST(TensorVisit, SingleTensorTakesTheTopLevelName) {
  const Tensor x = vec({1, 2});
  const auto tensors = named_tensors("x", x);
  ASSERT_EQ(tensors.size(), 1u);
  EXPECT_EQ(tensors[0].name, "x");
  EXPECT_EQ(tensors[0].tensor.storage_id(), x.storage_id());
}

TEST(TensorVisit, ContainersNameTheirElements) {
  const std::vector<Tensor> kv = {vec({1}), vec({2}), vec({3})};
  EXPECT_THAT(names_of(named_tensors("kv", kv)), ElementsAre("kv/0", "kv/1", "kv/2"));
  const std::array<Tensor, 2> pair_array = {vec({1}), vec({2})};
  EXPECT_THAT(names_of(named_tensors("a", pair_array)), ElementsAre("a/0", "a/1"));
  const std::pair<Tensor, std::vector<Tensor>> nested = {vec({1}), {vec({2}), vec({3})}};
  EXPECT_THAT(names_of(named_tensors("p", nested)), ElementsAre("p/0", "p/1/0", "p/1/1"));
}

TEST(TensorVisit, EmptyOptionalContributesNothing) {
  const std::optional<Tensor> empty;
  EXPECT_TRUE(named_tensors("mask", empty).empty());
  const std::optional<Tensor> full = vec({1});
  EXPECT_THAT(names_of(named_tensors("mask", full)), ElementsAre("mask"));
}

TEST(TensorVisit, CustomTypeVisitsNamedMembersAndScalars) {
  model::KvCache cache{vec({1, 2}), vec({3, 4}), 5};
  RecordingVisitor visitor;
  visitor("cache", cache);
  EXPECT_THAT(visitor.events, ElementsAre("rw cache/k", "rw cache/v", "scalar cache/length=5"));
}

TEST(TensorVisit, ConstAndTemporaryValuesAreReadOnly) {
  const model::KvCache cache{vec({1}), vec({2}), 1};
  RecordingVisitor visitor;
  visitor("cache", cache);  // const: the non-const customization is called read-only.
  visitor("tmp", vec({9}));
  EXPECT_THAT(visitor.events,
              ElementsAre("ro cache/k", "ro cache/v", "scalar cache/length=1", "ro tmp"));
}

TEST(TensorVisit, ConstCustomizationIsReadOnlyEvenForLvalues) {
  model::Frozen frozen{vec({1, 2})};
  RecordingVisitor visitor;
  visitor("f", frozen);
  EXPECT_THAT(visitor.events, ElementsAre("ro f/weight"));
}

TEST(TensorVisit, DeviceTypeConvertsItselfUnderItsOwnName) {
  const model::DeviceTensor device{{1.5f, 2.5f}};
  const auto tensors = named_tensors("out", device);
  ASSERT_EQ(tensors.size(), 1u);
  EXPECT_EQ(tensors[0].name, "out");
  EXPECT_EQ(tensors[0].tensor.shape(), (Shape{2}));
  EXPECT_EQ(tensors[0].tensor.at_flat(1), 2.5);
}

TEST(TensorVisit, ScalarsKeepTheirExactValue) {
  RecordingVisitor visitor;
  const std::tuple<int, bool, double, model::Mode, std::uint64_t> scalars{
      -4, true, 0.5, model::Mode::decode, std::uint64_t{1} << 63};
  visitor("s", scalars);
  EXPECT_THAT(visitor.events, ElementsAre("scalar s/0=-4", "scalar s/1=1", "scalar s/2=0.500000",
                                          "scalar s/3=7", "scalar s/4=9223372036854775808"));
}

TEST(TensorVisit, PathIsRestoredWhenAMemberThrows) {
  class Throwing final : public TensorVisitor {
   protected:
    void on_tensor(Tensor&) override { throw std::runtime_error("no"); }
    void on_read_only_tensor(const Tensor&) override { throw std::runtime_error("no"); }
  } visitor;
  std::vector<Tensor> values = {vec({1})};
  EXPECT_THROW(visitor("outer", values), std::runtime_error);
  EXPECT_EQ(visitor.path(), "");
}

}  // namespace
}  // namespace ttt

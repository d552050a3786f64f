// Tests of Tensor (validation/tensor/tensor.h): shapes, errors naming the operation, views,
// storage sharing, reshape, clone, element access, set() on block formats, to() between every
// pair of dtypes and summary(). Expected values are written by hand.
#include "validation/tensor/tensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/common/tensor_values.h"
#include "validation/tensor/dtype.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr DType kAllDtypes[] = {DType::float32,   DType::float16, DType::bfloat16, DType::bfloat8_b,
                                DType::bfloat4_b, DType::int32,   DType::int64,    DType::float64};

using test_support::values_of;

// A tensor of `dtype` holding `values` (integers for integer dtypes).
Tensor make(Shape shape, const std::vector<double>& values, DType dtype) {
  Tensor tensor(std::move(shape), dtype);
  for (std::size_t i = 0; i < values.size(); ++i) {
    tensor.set_flat(static_cast<std::int64_t>(i), values[i]);
  }
  return tensor;
}

// ---------------------------------------------------------------------------------------------
// Shapes.

TEST(TensorShape, EveryRankFromZeroToEight) {
  for (int rank = 0; rank <= kMaxRank; ++rank) {
    Shape shape;
    std::int64_t expected_numel = 1;
    for (int axis = 0; axis < rank; ++axis) {
      shape.push_back(axis % 3 + 1);  // 1, 2, 3, 1, 2, ...
      expected_numel *= axis % 3 + 1;
    }
    for (const DType dtype : kAllDtypes) {
      const Tensor tensor(shape, dtype);
      ASSERT_TRUE(tensor.defined());
      EXPECT_EQ(tensor.rank(), rank);
      EXPECT_EQ(tensor.shape(), shape);
      EXPECT_EQ(tensor.numel(), expected_numel);
      EXPECT_EQ(tensor.dtype(), dtype);
      const std::size_t bytes = dtype == DType::int64 || dtype == DType::float64 ? 8u : 4u;
      EXPECT_EQ(tensor.nbytes(), static_cast<std::size_t>(expected_numel) * bytes);
      EXPECT_FALSE(tensor.is_view());
      for (int axis = 0; axis < rank; ++axis) {
        EXPECT_EQ(tensor.dim(axis), axis % 3 + 1);
        EXPECT_EQ(tensor.dim(axis - rank), axis % 3 + 1);  // Negative axes count from the end.
      }
      for (double value : values_of(tensor)) EXPECT_EQ(value, 0.0);  // Zero-filled.
    }
  }
}

TEST(TensorShape, RankAboveEightIsRejectedNamingTheOperation) {
  const Shape nine(9, 1);
  EXPECT_THAT(
      [&] { Tensor(nine, DType::float32); },
      ThrowsMessage<std::invalid_argument>(HasSubstr(
          "[Tensor] rank 9 exceeds the maximum of 8 in shape [1, 1, 1, 1, 1, 1, 1, 1, 1]")));
  EXPECT_THAT([&] { Tensor::from_floats(nine, {1.0f}); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[Tensor::from_floats] rank 9")));
  EXPECT_THAT([&] { Tensor::from_int32(nine, {1}); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[Tensor::from_int32] rank 9")));
  float storage = 0.0f;
  EXPECT_THAT([&] { Tensor::view(nine, DType::float32, &storage); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[Tensor::view] rank 9")));
  EXPECT_THAT([&] { Tensor({1}, DType::float32).reshape(nine); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("[Tensor::reshape] rank 9")));
}

TEST(TensorShape, NegativeAndOverflowingDimensionsAreRejected) {
  EXPECT_THAT(
      [] {
        Tensor({2, -1}, DType::bfloat16);
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[Tensor] negative dimension in shape [2, -1]")));
  const std::int64_t huge = std::int64_t{1} << 40;
  EXPECT_THAT(
      [&] {
        shape_numel({huge, huge}, "my_op");
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[my_op] shape [1099511627776, 1099511627776] has too many elements")));
  EXPECT_EQ(shape_numel({huge, 0, huge}), 0);  // A zero dimension never overflows.
}

TEST(TensorShape, ZeroSizedDimensionsHoldNothing) {
  for (const DType dtype : kAllDtypes) {
    const Tensor tensor({3, 0, 2}, dtype);
    EXPECT_EQ(tensor.numel(), 0);
    EXPECT_EQ(tensor.nbytes(), 0u);
    EXPECT_EQ(tensor.clone().numel(), 0);
    EXPECT_EQ(tensor.to(DType::bfloat8_b).numel(), 0);
  }
  EXPECT_EQ(Tensor::from_floats({0, 16}, {}, DType::bfloat4_b).numel(), 0);
}

TEST(TensorShape, DimOutOfRangeNamesTheAxisAndShape) {
  const Tensor tensor({2, 3}, DType::float32);
  EXPECT_THAT([&] { tensor.dim(2); },
              ThrowsMessage<std::out_of_range>(
                  HasSubstr("[Tensor::dim] axis 2 is out of range for shape [2, 3]")));
  EXPECT_THAT([&] { tensor.dim(-3); },
              ThrowsMessage<std::out_of_range>(HasSubstr("[Tensor::dim] axis -3")));
  EXPECT_THAT([] { Tensor::scalar(1.0f).dim(0); },
              ThrowsMessage<std::out_of_range>(HasSubstr("for shape []")));
}

TEST(TensorShape, ShapeToString) {
  EXPECT_EQ(shape_to_string({}), "[]");
  EXPECT_EQ(shape_to_string({7}), "[7]");
  EXPECT_EQ(shape_to_string({2, 3, 4}), "[2, 3, 4]");
}

TEST(TensorShape, FlatIndexRoundTripsAndNamesTheOperation) {
  const Shape shape = {2, 3, 4};
  std::int64_t expected = 0;
  for (std::int64_t a = 0; a < 2; ++a) {
    for (std::int64_t b = 0; b < 3; ++b) {
      for (std::int64_t c = 0; c < 4; ++c) {
        const std::vector<std::int64_t> index = {a, b, c};
        EXPECT_EQ(flat_index(shape, index), expected);
        EXPECT_EQ(unflatten_index(shape, expected), index);
        ++expected;
      }
    }
  }
  const std::vector<std::int64_t> bad = {1, 3, 0};
  EXPECT_THAT([&] { flat_index(shape, bad); },
              ThrowsMessage<std::out_of_range>(
                  HasSubstr("[flat_index] index [1, 3, 0] is out of range for shape [2, 3, 4]")));
  EXPECT_THAT([&] { unflatten_index(shape, 24, "my_op"); },
              ThrowsMessage<std::out_of_range>(
                  HasSubstr("[my_op] flat index 24 is out of range for shape [2, 3, 4]")));
}

// ---------------------------------------------------------------------------------------------
// Construction, access and errors.

// bytes() is the first value whatever the in-memory type: 8-byte int64, 8-byte float64 and the
// float32 that holds a bfloat16.
TEST(Tensor, BytesAreTheValuesOfAnyDtype) {
  const Tensor ids = Tensor::from_int64({3}, {7, -1, 1LL << 40});
  ASSERT_EQ(ids.nbytes(), 24u);
  std::int64_t third = 0;
  std::memcpy(&third, static_cast<const char*>(ids.bytes()) + 16, sizeof(third));
  EXPECT_EQ(third, 1LL << 40);
  Tensor halves = Tensor::from_floats({2}, {0.5f, -2.0f}, DType::bfloat16);
  float second = 0.0f;
  std::memcpy(&second, static_cast<const char*>(halves.bytes()) + 4, sizeof(second));
  EXPECT_EQ(second, -2.0f);
  static_cast<float*>(halves.mutable_bytes())[0] = 1.5f;
  EXPECT_EQ(halves.at_flat(0), 1.5);
}

TEST(Tensor, UndefinedTensorThrowsNamingTheOperation) {
  Tensor undefined;
  EXPECT_FALSE(undefined.defined());
  EXPECT_EQ(undefined.storage_id(), nullptr);
  EXPECT_EQ(undefined.summary(), "Tensor(undefined)");
  EXPECT_THAT(
      [&] { undefined.shape(); },
      ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::shape] the tensor is undefined")));
  EXPECT_THAT([&] { undefined.numel(); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::numel]")));
  EXPECT_THAT([&] { undefined.dtype(); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::dtype]")));
  EXPECT_THAT([&] { undefined.clone(); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::clone]")));
  EXPECT_THAT([&] { undefined.to(DType::float16); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::to]")));
  EXPECT_THAT([&] { undefined.reshape({1}); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::reshape]")));
  EXPECT_THAT([&] { undefined.data<float>(); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::data]")));
  EXPECT_THAT([&] { undefined.bytes(); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::bytes]")));
  EXPECT_THAT([&] { undefined.at_flat(0); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::at_flat]")));
  EXPECT_THAT([&] { undefined.set_flat(0, 1.0); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::set_flat]")));
  EXPECT_THAT([&] { undefined.requantize(); },
              ThrowsMessage<std::logic_error>(HasSubstr("[Tensor::requantize]")));
}

TEST(Tensor, FromFloatsQuantizesToTheDtype) {
  const Tensor brain =
      Tensor::from_floats({3}, {1.00390625f, 1.01171875f, 3.0e38f}, DType::bfloat16);
  // 1 + 2^-8 ties down to 1; 1 + 3 * 2^-8 ties up to 1 + 2^-6; 3e38 rounds to 1.765625 * 2^127.
  EXPECT_THAT(values_of(brain), ElementsAre(1.0, 1.015625, std::ldexp(1.765625, 127)));
  const Tensor half = Tensor::from_floats({2}, {70000.0f, 1e-8f}, DType::float16);
  EXPECT_THAT(values_of(half), ElementsAre(std::numeric_limits<double>::infinity(), 0.0));
  // bfloat8_b: block maximum 1.0, one unit is 2^-6: 0.01 is 0.64 units -> 1 unit.
  const Tensor block = Tensor::from_floats({1, 3}, {1.0f, 0.01f, -0.5f}, DType::bfloat8_b);
  EXPECT_THAT(values_of(block), ElementsAre(1.0, 0.015625, -0.5));
  // bfloat4_b: one unit is 2^-2: 0.3 -> 1 unit, 0.1 -> 0.
  const Tensor nibble = Tensor::from_floats({3}, {1.0f, 0.3f, 0.1f}, DType::bfloat4_b);
  EXPECT_THAT(values_of(nibble), ElementsAre(1.0, 0.25, 0.0));
}

TEST(Tensor, FromValuesChecksCountAndDtype) {
  EXPECT_THAT(
      [] {
        Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[Tensor::from_floats] 5 values given for shape [2, 3] (6 elements)")));
  EXPECT_THAT([] { Tensor::from_floats({1}, {1}, DType::int32); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[Tensor::from_floats] dtype int32 is not a floating dtype")));
  EXPECT_THAT([] { Tensor::from_int32({2}, {1}); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[Tensor::from_int32] 1 values given for shape [2] (2 elements)")));
  EXPECT_THAT(
      [] {
        Tensor::from_int64({}, {1, 2});
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[Tensor::from_int64] 2 values")));
}

TEST(Tensor, ScalarIsRankZeroAndQuantized) {
  const Tensor scalar = Tensor::scalar(1.00390625f, DType::bfloat16);
  EXPECT_EQ(scalar.rank(), 0);
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar.at({}), 1.0);
  EXPECT_EQ(Tensor::scalar(-2.5f).at({}), -2.5);
  EXPECT_EQ(Tensor::scalar(0.3f, DType::bfloat4_b).at({}), 0.3125);  // Own block: 5 * 2^-4.
}

TEST(Tensor, IntegerTensorsHoldTheirValuesExactly) {
  const Tensor small = Tensor::from_int32({2, 2}, {-2147483647 - 1, -1, 0, 2147483647});
  EXPECT_THAT(values_of(small), ElementsAre(-2147483648.0, -1.0, 0.0, 2147483647.0));
  EXPECT_EQ(small.data<std::int32_t>()[3], 2147483647);
  const Tensor large = Tensor::from_int64({2}, {std::int64_t{1} << 53, -(std::int64_t{1} << 62)});
  EXPECT_EQ(large.at({0}), 9007199254740992.0);
  EXPECT_EQ(large.data<std::int64_t>()[1], -(std::int64_t{1} << 62));
}

TEST(Tensor, DataRejectsTheWrongElementType) {
  Tensor ints({2}, DType::int32);
  EXPECT_THAT([&] { ints.data<float>(); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[Tensor::data] requested element type does not match dtype int32")));
  EXPECT_THAT([&] { ints.floats(); }, ThrowsMessage<std::invalid_argument>(HasSubstr("int32")));
  Tensor floats({2}, DType::bfloat8_b);
  EXPECT_THAT([&] { floats.data<std::int64_t>(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("dtype bfloat8_b")));
  EXPECT_NO_THROW(floats.data<float>());
  EXPECT_EQ(floats.floats().size(), 2u);
}

TEST(Tensor, AtAndSetCheckIndicesNamingTheOperation) {
  Tensor tensor({2, 3}, DType::float32);
  tensor.set({1, 2}, 5.0);
  EXPECT_EQ(tensor.at({1, 2}), 5.0);
  EXPECT_EQ(tensor.at_flat(5), 5.0);
  EXPECT_THAT(
      [&] {
        tensor.at({2, 0});
      },
      ThrowsMessage<std::out_of_range>(
          HasSubstr("[Tensor::at] index [2, 0] is out of range for shape [2, 3]")));
  EXPECT_THAT([&] { tensor.at({0}); },
              ThrowsMessage<std::out_of_range>(
                  HasSubstr("[Tensor::at] index of rank 1 for a tensor of shape [2, 3]")));
  EXPECT_THAT(
      [&] {
        tensor.set({0, -1}, 1.0);
      },
      ThrowsMessage<std::out_of_range>(HasSubstr("[Tensor::set] index [0, -1]")));
  EXPECT_THAT([&] { tensor.at_flat(6); },
              ThrowsMessage<std::out_of_range>(
                  HasSubstr("[Tensor::at_flat] flat index 6 is out of range for shape [2, 3]")));
  EXPECT_THAT([&] { tensor.set_flat(-1, 1.0); },
              ThrowsMessage<std::out_of_range>(HasSubstr("[Tensor::set_flat] flat index -1")));
}

// ---------------------------------------------------------------------------------------------
// set(): rounding once, and block requantization.

TEST(TensorSet, RoundsTheDoubleOnceToTheDtype) {
  Tensor brain({3}, DType::bfloat16);
  // 1 + 2^-8 + 2^-40 is above the bfloat16 tie; through float32 it would become the tie itself
  // (1 + 2^-8) and round down to 1. Rounding once gives 1 + 2^-7.
  brain.set({0}, 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40));
  brain.set({1}, 1.0 + std::ldexp(1.0, -8));  // The exact tie: down to even.
  brain.set({2}, -1e39);                      // Beyond float32: -Inf.
  EXPECT_THAT(values_of(brain),
              ElementsAre(1.0078125, 1.0, -std::numeric_limits<double>::infinity()));

  Tensor half({3}, DType::float16);
  half.set({0}, 65520.0);    // Overflow threshold: Inf.
  half.set({1}, 65519.999);  // Largest finite.
  half.set({2},
           std::ldexp(1.0, -25) + std::ldexp(1.0, -70));  // Just above half the smallest subnormal.
  EXPECT_THAT(values_of(half),
              ElementsAre(std::numeric_limits<double>::infinity(), 65504.0, std::ldexp(1.0, -24)));

  Tensor single({2}, DType::float32);
  single.set({0}, 0.1);
  single.set({1}, 1e39);
  EXPECT_EQ(single.at({0}), static_cast<double>(0.1f));
  EXPECT_EQ(single.at({1}), std::numeric_limits<double>::infinity());
}

TEST(TensorSet, IntegersRoundToNearestEvenAndRejectWhatDoesNotFit) {
  Tensor ints({4}, DType::int32);
  ints.set({0}, 2.5);
  ints.set({1}, 3.5);
  ints.set({2}, -2.5);
  ints.set({3}, -2147483648.0);
  EXPECT_THAT(values_of(ints), ElementsAre(2.0, 4.0, -2.0, -2147483648.0));
  EXPECT_THAT([&] { ints.set({1}, 2147483648.0); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "[Tensor::set] element 1 = 2.14748365e+09 cannot be converted to int32")));
  EXPECT_THAT([&] { ints.set_flat(2, std::nan("")); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[Tensor::set_flat] element 2 = nan cannot be converted to int32")));
  Tensor longs({2}, DType::int64);
  longs.set({0}, 9007199254740992.0);
  longs.set({1}, -9223372036854775808.0);
  EXPECT_EQ(longs.data<std::int64_t>()[0], std::int64_t{1} << 53);
  EXPECT_EQ(longs.data<std::int64_t>()[1], std::numeric_limits<std::int64_t>::min());
  EXPECT_THAT([&] { longs.set({0}, 9223372036854775808.0); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("cannot be converted to int64")));
  EXPECT_THAT(
      [&] { longs.set({0}, -std::numeric_limits<double>::infinity()); },
      ThrowsMessage<std::invalid_argument>(HasSubstr("= -inf cannot be converted to int64")));
}

TEST(TensorSet, BlockFormatsRequantizeTheWholeBlockOnly) {
  // Two rows of 20: blocks [0, 16) and [16, 20) in each row.
  Tensor tensor({2, 20}, DType::bfloat8_b);
  tensor.set({0, 0}, 1.0);
  tensor.set({0, 1}, 0.03125);  // 2 units of 2^-6 next to 1.0.
  tensor.set({0, 17}, 0.03125);
  tensor.set({1, 1}, 0.03125);
  EXPECT_EQ(tensor.at({0, 1}), 0.03125);

  // 3.0 raises the block's exponent to 128 (one unit 2^-5): 0.03125 is still exactly one unit.
  tensor.set({0, 5}, 3.0);
  EXPECT_EQ(tensor.at({0, 0}), 1.0);
  EXPECT_EQ(tensor.at({0, 1}), 0.03125);
  EXPECT_EQ(tensor.at({0, 5}), 3.0);

  // 100 raises it to 133 (one unit 1.0): 0.03125 becomes zero, 1.0 and 3.0 stay.
  tensor.set({0, 6}, 100.0);
  EXPECT_EQ(tensor.at({0, 0}), 1.0);
  EXPECT_EQ(tensor.at({0, 1}), 0.0);
  EXPECT_EQ(tensor.at({0, 5}), 3.0);
  EXPECT_EQ(tensor.at({0, 6}), 100.0);

  // Other blocks are untouched: the short block of row 0 and the first block of row 1.
  EXPECT_EQ(tensor.at({0, 17}), 0.03125);
  EXPECT_EQ(tensor.at({1, 1}), 0.03125);

  // Setting a value in the short block requantizes only [16, 20) of that row.
  tensor.set({0, 19}, 64.0);
  EXPECT_EQ(tensor.at({0, 17}), 0.0);  // 0.03125 next to 64 (one unit 1.0): zero.
  EXPECT_EQ(tensor.at({0, 6}), 100.0);
  EXPECT_EQ(tensor.at({1, 1}), 0.03125);

  // Lowering the block maximum keeps the other values (they stay on the finer grid).
  tensor.set({0, 6}, 0.0);
  EXPECT_EQ(tensor.at({0, 5}), 3.0);
  EXPECT_EQ(tensor.at({0, 0}), 1.0);
}

TEST(TensorSet, Bfloat4bRoundsWithinTheBlock) {
  Tensor tensor({16}, DType::bfloat4_b);
  tensor.set({0}, 1.0);    // Exponent 127, one unit 0.25.
  tensor.set({1}, 0.6);    // 2.4 units -> 2 -> 0.5.
  tensor.set({2}, 0.375);  // 1.5 units: tie -> 2 -> 0.5.
  tensor.set({3}, 1.9);    // 7.6 units -> clamped to 7 -> 1.75.
  EXPECT_EQ(tensor.at({1}), 0.5);
  EXPECT_EQ(tensor.at({2}), 0.5);
  EXPECT_EQ(tensor.at({3}), 1.75);
}

TEST(TensorSet, RequantizeAfterWritingThroughData) {
  Tensor tensor({1, 4}, DType::bfloat8_b);
  float* data = tensor.data<float>();
  data[0] = 1.0f;
  data[1] = 0.01f;
  data[2] = -0.3f;
  tensor.requantize();
  EXPECT_THAT(values_of(tensor), ElementsAre(1.0, 0.015625, -0.296875, 0.0));
  Tensor ints = Tensor::from_int32({1}, {7});
  ints.requantize();  // Integers have nothing to round.
  EXPECT_EQ(ints.at({0}), 7.0);
}

// ---------------------------------------------------------------------------------------------
// Storage: copies, views, reshape, clone.

TEST(TensorStorage, CopiesShareStorage) {
  Tensor original = Tensor::from_floats({2}, {1.0f, 2.0f});
  Tensor copy =
      original;  // NOLINT(performance-unnecessary-copy-initialization): sharing is tested.
  copy.set({0}, 5.0);
  EXPECT_EQ(original.at({0}), 5.0);
  EXPECT_EQ(copy.storage_id(), original.storage_id());
  EXPECT_NE(Tensor::from_floats({2}, {1.0f, 2.0f}).storage_id(), original.storage_id());
}

TEST(TensorStorage, ViewsUseCallerMemory) {
  std::vector<float> buffer = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  Tensor view = Tensor::view({2, 3}, DType::float32, buffer.data());
  EXPECT_TRUE(view.is_view());
  EXPECT_EQ(view.storage_id(), buffer.data());
  EXPECT_EQ(view.at({1, 0}), 4.0);
  view.set({0, 1}, -7.0);
  EXPECT_EQ(buffer[1], -7.0f);
  buffer[5] = 9.0f;
  EXPECT_EQ(view.at({1, 2}), 9.0);
  const Tensor second = Tensor::view({6}, DType::float32, buffer.data());
  EXPECT_EQ(second.storage_id(), view.storage_id());  // Same memory, same identity.

  std::vector<std::int64_t> longs = {10, 20};
  const Tensor long_view = Tensor::view({2}, DType::int64, longs.data());
  EXPECT_EQ(long_view.at({1}), 20.0);

  // A view of a bfloat16 tensor: requantize rounds the caller's memory in place.
  std::vector<float> raw = {1.00390625f, 2.0f};
  Tensor brain = Tensor::view({2}, DType::bfloat16, raw.data());
  brain.requantize();
  EXPECT_EQ(raw[0], 1.0f);

  EXPECT_THAT(
      [] { Tensor::view({2}, DType::float32, nullptr); },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[Tensor::view] null data for shape [2]")));
  EXPECT_NO_THROW(Tensor::view({0}, DType::float32, nullptr));
}

TEST(TensorStorage, ReshapeSharesStorage) {
  Tensor tensor = Tensor::from_floats({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor reshaped = tensor.reshape({3, 2});
  EXPECT_EQ(reshaped.shape(), (Shape{3, 2}));
  EXPECT_EQ(reshaped.storage_id(), tensor.storage_id());
  EXPECT_EQ(reshaped.at({2, 1}), 5.0);
  reshaped.set({0, 1}, 10.0);
  EXPECT_EQ(tensor.at({0, 1}), 10.0);
  EXPECT_EQ(tensor.reshape({6}).at({5}), 5.0);
  EXPECT_EQ(Tensor::scalar(3.0f).reshape({1, 1, 1}).at({0, 0, 0}), 3.0);
  EXPECT_THAT([&] { tensor.reshape({4}); }, ThrowsMessage<std::invalid_argument>(HasSubstr(
                                                "[Tensor::reshape] cannot reshape [2, 3] to [4]")));
}

TEST(TensorStorage, BlockFormatsOnlyReshapeWhereBlocksStayTheSame) {
  const Tensor block = Tensor::from_floats({2, 32}, std::vector<float>(64, 1.0f), DType::bfloat8_b);
  EXPECT_EQ(block.reshape({64}).shape(), (Shape{64}));
  EXPECT_EQ(block.reshape({4, 16}).shape(), (Shape{4, 16}));
  EXPECT_EQ(block.reshape({1, 2, 32}).shape(), (Shape{1, 2, 32}));  // Same last dimension.
  EXPECT_THAT(
      [&] {
        block.reshape({8, 8});
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("[Tensor::reshape] cannot reshape bfloat8_b tensor [2, 32] to [8, 8]")));
  const Tensor ragged = Tensor::from_floats({20}, std::vector<float>(20, 1.0f), DType::bfloat4_b);
  EXPECT_THAT(
      [&] {
        ragged.reshape({4, 5});
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("bfloat4_b tensor [20] to [4, 5]")));
  EXPECT_EQ(ragged.reshape({1, 20}).shape(), (Shape{1, 20}));
  // Other dtypes reshape freely.
  EXPECT_EQ(Tensor({20}, DType::bfloat16).reshape({4, 5}).shape(), (Shape{4, 5}));
}

TEST(TensorStorage, CloneCopiesValuesIntoNewOwnedStorage) {
  std::vector<float> buffer = {1.0f, 2.0f, 3.0f};
  const Tensor view = Tensor::view({3}, DType::float32, buffer.data());
  Tensor copy = view.clone();
  EXPECT_FALSE(copy.is_view());
  EXPECT_NE(copy.storage_id(), view.storage_id());
  EXPECT_EQ(copy.shape(), view.shape());
  EXPECT_EQ(copy.dtype(), DType::float32);
  copy.set({0}, 100.0);
  EXPECT_EQ(buffer[0], 1.0f);
  EXPECT_THAT(values_of(copy), ElementsAre(100.0, 2.0, 3.0));

  const Tensor ints = Tensor::from_int64({2}, {-5, 5});
  EXPECT_THAT(values_of(ints.clone()), ElementsAre(-5.0, 5.0));
  EXPECT_EQ(ints.clone().dtype(), DType::int64);
  EXPECT_EQ(Tensor::scalar(2.0f, DType::bfloat4_b).clone().at({}), 2.0);
}

TEST(TensorStorage, NamedTensorSharesItsTensor) {
  const Tensor tensor = Tensor::from_floats({1}, {1.0f});
  const NamedTensor named{"kv/0", tensor};
  EXPECT_EQ(named.name, "kv/0");
  EXPECT_EQ(named.tensor.storage_id(), tensor.storage_id());
}

// ---------------------------------------------------------------------------------------------
// to(dtype).

TEST(TensorTo, EveryPairOfDtypesKeepsValuesRepresentableInBoth) {
  // Integers up to 7 in one block: exact in every dtype, bfloat4_b included (one unit = 1).
  const std::vector<double> values = {0, 1, -2, 3, 4, -5, 6, 7};
  for (const DType from : kAllDtypes) {
    const Tensor source = make({1, 8}, values, from);
    for (const DType target : kAllDtypes) {
      SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + std::string(dtype_name(target)));
      const Tensor result = source.to(target);
      EXPECT_EQ(result.dtype(), target);
      EXPECT_EQ(result.shape(), (Shape{1, 8}));
      EXPECT_FALSE(result.is_view());
      EXPECT_NE(result.storage_id(), source.storage_id());
      EXPECT_EQ(values_of(result), values);
    }
  }
}

TEST(TensorTo, FloatingConversionsRoundToTheTarget) {
  const Tensor single = Tensor::from_floats({4}, {1.00390625f, 1.01171875f, 70000.0f, 0.3f});
  EXPECT_THAT(values_of(single.to(DType::bfloat16)),
              ElementsAre(1.0, 1.015625, 70144.0, 0.30078125));
  EXPECT_THAT(values_of(single.to(DType::float16)),
              ElementsAre(1.00390625, 1.01171875, std::numeric_limits<double>::infinity(),
                          0.30004882812500));
  // One block with maximum 70000 (exponent 143, one unit 2^10): 68.36 units -> 68, small values
  // vanish.
  EXPECT_THAT(values_of(single.to(DType::bfloat8_b)), ElementsAre(0.0, 0.0, 69632.0, 0.0));
  // float16 -> bfloat16 and back.
  const Tensor half =
      Tensor::from_floats({2}, {1.0009765625f, std::ldexp(1.0f, -20)}, DType::float16);
  EXPECT_THAT(values_of(half.to(DType::bfloat16)), ElementsAre(1.0, std::ldexp(1.0, -20)));
  const Tensor brain = Tensor::from_floats({2}, {1e5f, std::ldexp(1.0f, -30)}, DType::bfloat16);
  EXPECT_THAT(values_of(brain.to(DType::float16)),
              ElementsAre(std::numeric_limits<double>::infinity(), 0.0));
  // bfloat8_b -> bfloat4_b requantizes blocks: 1 + 3/64 is 4.1875 units of 0.25 -> 4 -> 1.0.
  const Tensor block = Tensor::from_floats({2}, {1.046875f, 0.375f}, DType::bfloat8_b);
  EXPECT_THAT(values_of(block.to(DType::bfloat4_b)), ElementsAre(1.0, 0.5));
  // float32 -> float32 copies every bit, NaN included.
  const Tensor nan = Tensor::from_floats({1}, {std::nanf("")});
  EXPECT_TRUE(std::isnan(nan.to(DType::float32).at({0})));
}

TEST(TensorTo, FloatToIntegerRoundsToNearestEvenAndRejectsWhatDoesNotFit) {
  const Tensor ties = Tensor::from_floats({5}, {2.5f, 3.5f, -2.5f, -0.5f, 1.25f});
  EXPECT_THAT(values_of(ties.to(DType::int32)), ElementsAre(2.0, 4.0, -2.0, 0.0, 1.0));
  EXPECT_THAT(values_of(ties.to(DType::int64)), ElementsAre(2.0, 4.0, -2.0, 0.0, 1.0));

  const Tensor big = Tensor::from_floats({2}, {3e9f, -2147483648.0f});
  EXPECT_THAT([&] { big.to(DType::int32); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[Tensor::to] element 0 = 3e+09 cannot be converted to int32")));
  EXPECT_EQ(big.to(DType::int64).data<std::int64_t>()[0], 3000000000);
  EXPECT_EQ(Tensor::from_floats({1}, {-2147483648.0f}).to(DType::int32).data<std::int32_t>()[0],
            std::numeric_limits<std::int32_t>::min());

  // 2^63 is one past int64's maximum; -2^63 is its minimum.
  const Tensor edge = Tensor::from_floats({2}, {-9223372036854775808.0f, 9223372036854775808.0f});
  EXPECT_THAT([&] { edge.to(DType::int64); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("element 1 = 9.22337204e+18")));
  EXPECT_EQ(
      Tensor::from_floats({1}, {-9223372036854775808.0f}).to(DType::int64).data<std::int64_t>()[0],
      std::numeric_limits<std::int64_t>::min());

  const Tensor special = Tensor::from_floats({3}, {1.0f, std::nanf(""), kInf}, DType::bfloat16);
  EXPECT_THAT([&] { special.to(DType::int32); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[Tensor::to] element 1 = nan cannot be converted to int32")));
}

TEST(TensorTo, IntegerConversions) {
  const Tensor longs = Tensor::from_int64({3}, {-2147483648, 2147483647, 5});
  EXPECT_THAT(values_of(longs.to(DType::int32)), ElementsAre(-2147483648.0, 2147483647.0, 5.0));
  const Tensor too_big = Tensor::from_int64({2}, {1, std::int64_t{1} << 31});
  EXPECT_THAT([&] { too_big.to(DType::int32); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[Tensor::to] element 1 = 2147483648 does not fit int32")));
  const Tensor ints = Tensor::from_int32({2}, {-2147483647 - 1, 2147483647});
  EXPECT_EQ(ints.to(DType::int64).data<std::int64_t>()[0], std::int64_t{-2147483647} - 1);
}

TEST(TensorTo, IntegerToFloatRoundsOnceToTheTarget) {
  // float32: to nearest, ties to even.
  const Tensor odd = Tensor::from_int32({2}, {16777217, 16777219});
  EXPECT_THAT(values_of(odd.to(DType::float32)), ElementsAre(16777216.0, 16777220.0));
  // 2^24 + 2^16 + 1 is just above the bfloat16 tie between 2^24 and 2^24 + 2^17. Through float32
  // it would become the tie itself (2^24 + 2^16) and round down; rounding once gives 2^24 + 2^17.
  const Tensor trap = Tensor::from_int32({1}, {16842753});
  EXPECT_EQ(trap.to(DType::bfloat16).at({0}), 16908288.0);
  const Tensor trap64 =
      Tensor::from_int64({2}, {(std::int64_t{1} << 62) + (std::int64_t{1} << 54) + 1,
                               std::numeric_limits<std::int64_t>::min()});
  EXPECT_THAT(values_of(trap64.to(DType::bfloat16)),
              ElementsAre(std::ldexp(1.0, 62) + std::ldexp(1.0, 55), -std::ldexp(1.0, 63)));
  // bfloat8_b of 2^24 + 2^17 + 1: 64.5 units of 2^18 plus a little -> 65 units.
  const Tensor block = Tensor::from_int64({1}, {16908289});
  EXPECT_EQ(block.to(DType::bfloat8_b).at({0}), 65.0 * 262144.0);
  // float16: 65519 -> 65504, 65520 -> Inf, 2049 -> 2048 (tie to even), -3 exact.
  const Tensor half = Tensor::from_int32({4}, {65519, 65520, 2049, -3});
  EXPECT_THAT(values_of(half.to(DType::float16)),
              ElementsAre(65504.0, std::numeric_limits<double>::infinity(), 2048.0, -3.0));
}

// ---------------------------------------------------------------------------------------------
// float64: held as double, never rounded through float32.

TEST(TensorFloat64, HoldsDoublesExactly) {
  const std::vector<double> values = {0.1, 1.0 + 0x1p-40, -1e300, 1e-310, 2.5};
  const Tensor wide = Tensor::from_doubles({5}, values);
  EXPECT_EQ(wide.dtype(), DType::float64);
  EXPECT_EQ(wide.nbytes(), 40u);
  EXPECT_THAT(values_of(wide), ElementsAre(0.1, 1.0 + 0x1p-40, -1e300, 1e-310, 2.5));
  EXPECT_THAT(std::vector<double>(wide.doubles().begin(), wide.doubles().end()),
              ElementsAre(0.1, 1.0 + 0x1p-40, -1e300, 1e-310, 2.5));
  EXPECT_THAT([&] { wide.floats(); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("does not match dtype float64")));
  Tensor copy = wide.clone();
  copy.set({1}, 1.0 + 0x1p-50);  // Stored as given.
  EXPECT_EQ(copy.at({1}), 1.0 + 0x1p-50);
  EXPECT_EQ(wide.at({1}), 1.0 + 0x1p-40);
  EXPECT_EQ(Tensor::from_floats({1}, {0.1f}, DType::float64).at({0}), static_cast<double>(0.1f));
  EXPECT_EQ(wide.reshape({5, 1}).at({4, 0}), 2.5);
  std::vector<double> memory = {3.0, 0x1p-60};
  EXPECT_EQ(Tensor::view({2}, DType::float64, memory.data()).at({1}), 0x1p-60);
}

TEST(TensorFloat64, ConversionsRoundOnce) {
  // 1 + 2^-8 + 2^-30 is just above the bfloat16 tie between 1 and 1 + 2^-7. Through float32 it
  // would become the tie itself and round to even (1); rounding once gives 1 + 2^-7.
  const Tensor trap = Tensor::from_doubles({2}, {1.0 + 0x1p-8 + 0x1p-30, 0.1});
  EXPECT_THAT(values_of(trap.to(DType::bfloat16)), ElementsAre(1.0 + 0x1p-7, 0.10009765625));
  EXPECT_EQ(Tensor::from_doubles({1}, {1.0 + 0x1p-8 + 0x1p-30}, DType::bfloat16).at({0}),
            1.0 + 0x1p-7);
  EXPECT_THAT(values_of(trap.to(DType::float32)),
              ElementsAre(1.0 + 0x1p-8, static_cast<double>(0.1f)));
  // Integers: int64 -> float64 rounds once (2^53 + 1 is a tie, to even), float64 -> int64 to
  // nearest even.
  const Tensor longs = Tensor::from_int64({2}, {(std::int64_t{1} << 53) + 1, -7});
  EXPECT_THAT(values_of(longs.to(DType::float64)), ElementsAre(0x1p53, -7.0));
  const Tensor halves = Tensor::from_doubles({3}, {2.5, -3.5, 0x1p60});
  EXPECT_EQ(halves.to(DType::int64).data<std::int64_t>()[0], 2);
  EXPECT_EQ(halves.to(DType::int64).data<std::int64_t>()[1], -4);
  EXPECT_EQ(halves.to(DType::int64).data<std::int64_t>()[2], std::int64_t{1} << 60);
  EXPECT_THAT([] { Tensor::from_doubles({1}, {1e300}).to(DType::int64); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("cannot be converted to int64")));
  // float32-held values widen exactly.
  const Tensor narrow = Tensor::from_floats({2}, {0.1f, -kInf}, DType::bfloat16);
  EXPECT_THAT(values_of(narrow.to(DType::float64)),
              ElementsAre(static_cast<double>(narrow.floats()[0]), -kInf));
  EXPECT_THAT([] { Tensor::from_doubles({2}, {1.0}); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[Tensor::from_doubles] 1 values given for shape [2]")));
  EXPECT_THAT([] { Tensor::from_doubles({1}, {1.0}, DType::int32); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("not a floating dtype")));
}

// ---------------------------------------------------------------------------------------------
// summary().

TEST(TensorSummary, ShowsShapeDtypeAndStatistics) {
  EXPECT_EQ(Tensor::from_floats({2, 3}, {-1.5f, 2.0f, 0.25f, 0.0f, 1.0f, -0.25f}).summary(),
            "Tensor(shape=[2, 3], dtype=float32, min=-1.5, max=2, mean=0.25)");
  EXPECT_EQ(Tensor::from_floats({4}, {1.0f, std::nanf(""), kInf, -kInf}, DType::bfloat16).summary(),
            "Tensor(shape=[4], dtype=bfloat16, min=1, max=1, mean=1, nan=1, inf=2)");
  EXPECT_EQ(Tensor::from_floats({2}, {std::nanf(""), std::nanf("")}).summary(),
            "Tensor(shape=[2], dtype=float32, nan=2)");
  EXPECT_EQ(Tensor({0}, DType::int32).summary(), "Tensor(shape=[0], dtype=int32)");
  EXPECT_EQ(Tensor::from_int64({3}, {-5, 1, 7}).summary(),
            "Tensor(shape=[3], dtype=int64, min=-5, max=7, mean=1)");
  EXPECT_EQ(Tensor::scalar(0.5f, DType::float16).summary(),
            "Tensor(shape=[], dtype=float16, min=0.5, max=0.5, mean=0.5)");
  EXPECT_EQ(Tensor({1, 16}, DType::bfloat4_b).summary(),
            "Tensor(shape=[1, 16], dtype=bfloat4_b, min=0, max=0, mean=0)");
}

// ---------------------------------------------------------------------------------------------
// dtype helpers the tensor relies on.

TEST(DTypeNames, CanonicalNamesAndAliasesRoundTrip) {
  for (const DType dtype : kAllDtypes) EXPECT_EQ(parse_dtype(dtype_name(dtype)), dtype);
  EXPECT_EQ(parse_dtype("bf16"), DType::bfloat16);
  EXPECT_EQ(parse_dtype("bfp8"), DType::bfloat8_b);
  EXPECT_EQ(parse_dtype("bfp4_b"), DType::bfloat4_b);
  EXPECT_EQ(parse_dtype("fp16"), DType::float16);
  EXPECT_EQ(parse_dtype("i64"), DType::int64);
  EXPECT_EQ(parse_dtype("f64"), DType::float64);
  EXPECT_EQ(parse_dtype("double"), DType::float64);
  EXPECT_TRUE(is_floating(DType::float64));
  EXPECT_FALSE(is_held_as_float32(DType::float64));
  EXPECT_TRUE(is_held_as_float32(DType::bfloat4_b));
  EXPECT_EQ(element_size(DType::float64), 8u);
  EXPECT_THAT(
      [] { parse_dtype("bfloat8"); },
      ThrowsMessage<std::invalid_argument>(HasSubstr("[parse_dtype] unknown dtype 'bfloat8'")));
  EXPECT_TRUE(is_block_float(DType::bfloat4_b));
  EXPECT_FALSE(is_block_float(DType::bfloat16));
  EXPECT_FALSE(is_floating(DType::int32));
  EXPECT_EQ(device_bits_per_element(DType::bfloat8_b), 8.5);
  EXPECT_EQ(device_bits_per_element(DType::bfloat4_b), 4.5);
  EXPECT_EQ(element_size(DType::bfloat4_b), 4u);
  EXPECT_EQ(element_size(DType::int64), 8u);
}

}  // namespace
}  // namespace ttt

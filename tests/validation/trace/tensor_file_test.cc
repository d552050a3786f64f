// load_tensor_file: .npy files and HDF5 datasets of every accepted type, byte order and ttt_dtype,
// and generator nodes. Error paths are in bad_input_test.cc.
#include "validation/trace/tensor_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstring>
#include <limits>

#include "tests/validation/trace/trace_test_util.h"
#include "validation/tensor/npy.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using test_support::ScratchDir;

class TensorFile : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  }
  void TearDown() override {
    if (file_ >= 0) H5Fclose(file_);
  }
  void dataset(const char* name, hid_t file_type, hid_t memory_type, std::vector<hsize_t> dims,
               const void* data, const char* ttt_dtype = nullptr) {
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t set =
        H5Dcreate2(file_, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(set, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ttt_dtype != nullptr) {
      const hid_t type = H5Tcopy(H5T_C_S1);
      H5Tset_size(type, std::strlen(ttt_dtype));  // Fixed-length, as some writers do.
      const hid_t scalar = H5Screate(H5S_SCALAR);
      const hid_t attribute = H5Acreate2(set, "ttt_dtype", type, scalar, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(attribute, type, ttt_dtype);
      H5Aclose(attribute);
      H5Sclose(scalar);
      H5Tclose(type);
    }
    H5Dclose(set);
    H5Sclose(space);
  }
  std::string spec(const char* name) {
    H5Fflush(file_, H5F_SCOPE_GLOBAL);
    return path_ + ":/" + name;
  }
  ScratchDir dir_;
  std::string path_ = dir_.file("tensors.h5");
  hid_t file_ = -1;
};

TEST_F(TensorFile, Float32BigEndianFloat64AndIntegers) {
  const float f32[4] = {1.5f, -2.0f, 0.0f, 3.25f};
  dataset("f32be", H5T_IEEE_F32BE, H5T_NATIVE_FLOAT, {2, 2}, f32);
  const double f64[3] = {0.1, -1e39, 2.5};
  dataset("f64", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {3}, f64);
  const std::int32_t i32[2] = {-7, 1 << 30};
  dataset("i32", H5T_STD_I32BE, H5T_NATIVE_INT32, {2}, i32);
  const std::int64_t i64[2] = {-(std::int64_t{1} << 50), 3};
  dataset("i64", H5T_STD_I64LE, H5T_NATIVE_INT64, {1, 2}, i64);

  const Tensor big_endian = load_tensor_file(spec("f32be"));
  EXPECT_EQ(big_endian.dtype(), DType::float32);
  EXPECT_EQ(big_endian.shape(), (Shape{2, 2}));
  EXPECT_EQ(big_endian.at({1, 1}), 3.25);
  const Tensor wide = load_tensor_file(spec("f64"));
  EXPECT_EQ(wide.dtype(), DType::float64);  // Exactly: not rounded to float32.
  EXPECT_EQ(wide.doubles()[0], 0.1);
  EXPECT_EQ(wide.doubles()[1], -1e39);
  const Tensor ints = load_tensor_file(spec("i32"));
  EXPECT_EQ(ints.dtype(), DType::int32);
  EXPECT_EQ(ints.data<std::int32_t>()[1], 1 << 30);
  const Tensor longs = load_tensor_file(spec("i64"));
  EXPECT_EQ(longs.dtype(), DType::int64);
  EXPECT_EQ(longs.data<std::int64_t>()[0], -(std::int64_t{1} << 50));
}

TEST_F(TensorFile, TttDtypeNamesTheLogicalDtype) {
  const Tensor x = random_normal({2, 32}, 3, 0.0, 1.0, DType::bfloat8_b);
  dataset("x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {2, 32}, x.floats().data(), "bfloat8_b");
  const std::int64_t narrow[2] = {5, -6};
  dataset("narrow", H5T_STD_I64LE, H5T_NATIVE_INT64, {2}, narrow, "int32");
  const Tensor read = load_tensor_file(spec("x"));
  EXPECT_EQ(read.dtype(), DType::bfloat8_b);
  for (std::int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(read.at_flat(i), x.at_flat(i));
  const Tensor ints = load_tensor_file(spec("narrow"));
  EXPECT_EQ(ints.dtype(), DType::int32);
  EXPECT_EQ(ints.data<std::int32_t>()[1], -6);
}

TEST_F(TensorFile, Float64DeclaredAsANarrowerDtypeMustHoldItsValues) {
  const double exact[2] = {0.5, -3.0};
  dataset("exact", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {2}, exact, "float32");
  const Tensor read = load_tensor_file(spec("exact"));
  EXPECT_EQ(read.dtype(), DType::float32);
  EXPECT_EQ(read.at({1}), -3.0);
  const double inexact[2] = {0.5, 0.1};
  dataset("inexact", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {2}, inexact, "float32");
  try {
    load_tensor_file(spec("inexact"));
    ADD_FAILURE() << "no error";
  } catch (const std::exception& error) {
    EXPECT_THAT(std::string(error.what()),
                ::testing::HasSubstr("/inexact: float64 value 0.10000000000000001 at [1] is not "
                                     "exactly representable in float32 (ttt_dtype)"));
  }
  dataset("declared64", H5T_IEEE_F32LE, H5T_NATIVE_DOUBLE, {2}, exact, "float64");
  EXPECT_EQ(load_tensor_file(spec("declared64")).dtype(), DType::float64);
}

TEST_F(TensorFile, GeneratorNodesDrawTheSeededValues) {
  const hid_t group = H5Gcreate2(file_, "w", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const char* generator = "splitmix64-uniform";
  const hid_t text = H5Tcopy(H5T_C_S1);
  H5Tset_size(text, H5T_VARIABLE);
  const hid_t scalar = H5Screate(H5S_SCALAR);
  hid_t attribute = H5Acreate2(group, "ttt_generator", text, scalar, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, text, &generator);
  H5Aclose(attribute);
  const std::uint64_t seed = 0xFFFFFFFFFFFFFFF0ULL;  // Unsigned seeds above 2^63 are fine.
  attribute = H5Acreate2(group, "seed", H5T_STD_U64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, H5T_NATIVE_UINT64, &seed);
  H5Aclose(attribute);
  const double low = -2.0, high = 2.0;
  attribute = H5Acreate2(group, "low", H5T_IEEE_F64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, H5T_NATIVE_DOUBLE, &low);
  H5Aclose(attribute);
  attribute = H5Acreate2(group, "high", H5T_IEEE_F64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, H5T_NATIVE_DOUBLE, &high);
  H5Aclose(attribute);
  const hsize_t rank[1] = {2};
  const std::int32_t dims[2] = {3, 5};
  const hid_t vector = H5Screate_simple(1, rank, nullptr);
  attribute = H5Acreate2(group, "shape", H5T_STD_I32LE, vector, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, H5T_NATIVE_INT32, dims);
  H5Aclose(attribute);
  H5Sclose(vector);
  H5Sclose(scalar);
  H5Tclose(text);
  H5Gclose(group);
  const Tensor generated = load_tensor_file(spec("w"));
  const Tensor expected = random_uniform({3, 5}, seed, -2.0, 2.0);
  ASSERT_EQ(generated.shape(), (Shape{3, 5}));
  for (std::int64_t i = 0; i < 15; ++i) EXPECT_EQ(generated.at_flat(i), expected.at_flat(i));
}

TEST_F(TensorFile, NpyFiles) {
  const Tensor x = random_normal({3, 4}, 1);
  write_npy(dir_.file("x.npy"), x);
  const Tensor read = load_tensor_file(dir_.file("x.npy"));
  EXPECT_EQ(read.shape(), x.shape());
  EXPECT_EQ(read.at({2, 3}), x.at({2, 3}));
  // A .npy file under another name is recognised by its magic bytes.
  write_npy(dir_.file("x.bin"), x);
  EXPECT_EQ(load_tensor_file(dir_.file("x.bin")).at({1, 1}), x.at({1, 1}));
  EXPECT_THROW(load_tensor_file(dir_.file("missing.npy")), std::runtime_error);
}

}  // namespace
}  // namespace ttt

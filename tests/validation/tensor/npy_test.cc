// The .npy reader and writer against files numpy wrote (tests/data/npy/, made by
// tools/make_npy_test_data.py), including every way a file can be refused.
#include "validation/tensor/npy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;

const std::string kDataDir = std::string(TTT_TEST_DATA_DIR) + "/npy/";

std::string data_path(const std::string& name) { return kDataDir + name; }

std::vector<std::byte> file_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  const std::vector<char> chars((std::istreambuf_iterator<char>(file)),
                                std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) bytes[i] = static_cast<std::byte>(chars[i]);
  return bytes;
}

// A file in this process's scratch directory.
std::string temp_path(const std::string& name) {
  static const test_support::ScratchDir scratch;
  return scratch.file(name);
}

std::vector<float> values_of(const Tensor& tensor) {
  return {tensor.floats().begin(), tensor.floats().end()};
}

// The message read_npy throws for `name`, or "no exception".
std::string read_error(const std::string& name) {
  try {
    read_npy(data_path(name));
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "no exception";
}

TEST(ReadNpy, ReadsFloat32) {
  const Tensor tensor = read_npy(data_path("f4_2x3.npy"));
  EXPECT_EQ(tensor.shape(), (Shape{2, 3}));
  EXPECT_EQ(tensor.dtype(), DType::float32);
  EXPECT_THAT(values_of(tensor), ::testing::ElementsAre(0.0f, 1.5f, -2.0f, 3.25f, 1e-3f, 0.0f));
  EXPECT_TRUE(std::signbit(tensor.at({1, 2})));
}

TEST(ReadNpy, ReadsFloat16AsFloat16) {
  const Tensor tensor = read_npy(data_path("f2_6.npy"));
  EXPECT_EQ(tensor.shape(), (Shape{6}));
  EXPECT_EQ(tensor.dtype(), DType::float16);
  const std::vector<float> values = values_of(tensor);
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], -2.5f);
  EXPECT_EQ(values[2], 65504.0f);
  EXPECT_EQ(values[3], std::ldexp(1.0f, -24));  // The smallest float16 subnormal.
  EXPECT_EQ(values[4], std::numeric_limits<float>::infinity());
  EXPECT_EQ(values[5], 0.0f);
  EXPECT_TRUE(std::signbit(values[5]));
}

TEST(ReadNpy, ReadsFloat64Exactly) {
  const Tensor tensor = read_npy(data_path("f8_8.npy"));
  EXPECT_EQ(tensor.dtype(), DType::float64);
  const std::span<const double> values = tensor.doubles();
  ASSERT_EQ(values.size(), 8u);
  EXPECT_EQ(std::bit_cast<std::uint64_t>(values[0]), 0x3FB999999999999Au);  // 0.1
  EXPECT_EQ(values[1], -1e300);  // Beyond float32's range, kept.
  EXPECT_EQ(values[2], 1e300);
  EXPECT_EQ(values[3], 1e-50);  // Below float32's range, kept.
  EXPECT_TRUE(std::isnan(values[4]));
  EXPECT_EQ(values[5], 1.0 + 0x1p-24);  // Not a float32: kept, not rounded to 1.
  EXPECT_EQ(values[6], 1.0 + 3 * 0x1p-24);
  EXPECT_EQ(values[7], -std::numeric_limits<double>::infinity());
}

TEST(ReadNpy, Float64ConvertsToFloat32ByRoundingToNearest) {
  const Tensor tensor = read_npy(data_path("f8_8.npy")).to(DType::float32);
  const std::vector<float> values = values_of(tensor);
  ASSERT_EQ(values.size(), 8u);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(values[0]), 0x3DCCCCCDu);  // 0.1f
  EXPECT_EQ(values[1], -std::numeric_limits<float>::infinity());    // -1e300 overflows.
  EXPECT_EQ(values[3], 0.0f);                                       // 1e-50 underflows.
  EXPECT_EQ(values[5], 1.0f);                          // 1 + 2^-24 is a tie: to even, 1.
  EXPECT_EQ(values[6], 1.0f + std::ldexp(1.0f, -22));  // 1 + 3 * 2^-24: to even, 1 + 2^-22.
}

TEST(ReadNpy, ReadsInt32AndInt64Extremes) {
  const Tensor i4 = read_npy(data_path("i4_3x2.npy"));
  EXPECT_EQ(i4.dtype(), DType::int32);
  EXPECT_EQ(i4.shape(), (Shape{3, 2}));
  const std::int32_t* i4_values = i4.data<std::int32_t>();
  EXPECT_EQ(i4_values[0], std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(i4_values[1], std::numeric_limits<std::int32_t>::max());
  EXPECT_EQ(i4_values[3], -1);
  EXPECT_EQ(i4_values[5], 42);

  const Tensor i8 = read_npy(data_path("i8_4.npy"));
  EXPECT_EQ(i8.dtype(), DType::int64);
  const std::int64_t* i8_values = i8.data<std::int64_t>();
  EXPECT_EQ(i8_values[0], std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(i8_values[1], std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(i8_values[3], 123456789012);
}

TEST(ReadNpy, ReadsVersion2And3Headers) {
  const std::vector<float> expected = values_of(read_npy(data_path("f4_2x3.npy")));
  for (const char* name : {"v2_f4_2x3.npy", "v3_f4_2x3.npy"}) {
    const Tensor tensor = read_npy(data_path(name));
    EXPECT_EQ(tensor.shape(), (Shape{2, 3})) << name;
    EXPECT_EQ(values_of(tensor), expected) << name;
  }
}

TEST(ReadNpy, ReadsScalarsEmptyArraysAndEveryRankUpToEight) {
  const Tensor scalar = read_npy(data_path("scalar_f4.npy"));
  EXPECT_EQ(scalar.rank(), 0);
  EXPECT_EQ(scalar.at_flat(0), 3.5);

  const Tensor empty = read_npy(data_path("empty_f4_0x3.npy"));
  EXPECT_EQ(empty.shape(), (Shape{0, 3}));
  EXPECT_EQ(empty.numel(), 0);

  const Tensor rank3 = read_npy(data_path("rank3_i8_2x3x4.npy"));
  EXPECT_EQ(rank3.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(rank3.at({1, 2, 3}), 23.0);
  EXPECT_EQ(rank3.at({0, 1, 2}), 6.0);

  const Tensor rank8 = read_npy(data_path("rank8_f4.npy"));
  EXPECT_EQ(rank8.shape(), (Shape{1, 2, 1, 2, 1, 2, 1, 2}));
  for (float value : rank8.floats()) EXPECT_EQ(value, 0.25f);
}

struct BadFile {
  const char* name;
  const char* message;  // Expected after "[read_npy] <path>: ".
};

class ReadNpyRejects : public ::testing::TestWithParam<BadFile> {};

TEST_P(ReadNpyRejects, WithOneLineNamingTheFileAndTheProblem) {
  const std::string message = read_error(GetParam().name);
  EXPECT_THAT(message, HasSubstr("[read_npy] " + data_path(GetParam().name) + ": "));
  EXPECT_THAT(message, HasSubstr(GetParam().message));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    BadFiles, ReadNpyRejects,
    ::testing::Values(
        BadFile{"fortran_f4_2x3.npy", "Fortran-order arrays are not supported"},
        BadFile{"bigendian_f4_3.npy",
                "big-endian dtype '>f4' is not supported (convert with a.astype('<f4'))"},
        BadFile{"bigendian_i8_3.npy", "big-endian dtype '>i8' is not supported"},
        BadFile{"u1_3.npy", "unsupported dtype '|u1' (supported: <f2 <f4 <f8 <i4 <i8)"},
        BadFile{"bool_3.npy", "unsupported dtype '|b1'"},
        BadFile{"c8_2.npy", "unsupported dtype '<c8'"},
        BadFile{"structured.npy", "structured arrays are not supported"},
        BadFile{"rank9_f4.npy", "rank 9 exceeds the maximum of 8"},
        BadFile{"truncated_data.npy",
                "truncated data: shape [2, 3] of <f4 needs 24 data bytes, the file has 20"},
        BadFile{"trailing_data.npy", "4 more bytes after them"},
        BadFile{"truncated_header.npy", "truncated header: it declares 118 bytes"},
        BadFile{"truncated_preamble.npy", "truncated: 8 bytes is too short"},
        BadFile{"empty_file.npy", "not a .npy file"},
        BadFile{"bad_magic.npy", "not a .npy file (it does not start with the magic bytes"},
        BadFile{"text_file.npy", "not a .npy file"},
        BadFile{"bad_version.npy", "unsupported .npy format version 4.0"},
        BadFile{"corrupt_header_bool.npy", "corrupt header: expected True or False"},
        BadFile{"corrupt_header_shape.npy",
                "corrupt header: expected a non-negative integer dimension"},
        BadFile{"corrupt_header_unclosed.npy", "corrupt header: expected ',' or '}'"},
        BadFile{"missing_shape_key.npy", "corrupt header: missing key 'shape'"},
        BadFile{"unknown_key.npy", "corrupt header: unexpected key 'extra'"},
        BadFile{"shape_mismatch_data.npy", "truncated data: shape [2, 4] of <f4 needs 32"},
        BadFile{"binary_garbage_header.npy", "corrupt header: expected '{'"}),
    [](const ::testing::TestParamInfo<BadFile>& param_info) {
      std::string name = param_info.param.name;
      return name.substr(0, name.find('.'));
    });

TEST(ReadNpy, RejectsMissingFilesAndDirectories) {
  EXPECT_EQ(read_error("no_such_file.npy"), "[read_npy] " + data_path("no_such_file.npy") +
                                                ": cannot open: No such file or directory");
  try {
    read_npy(kDataDir);
    ADD_FAILURE() << "a directory was read";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              "[read_npy] " + kDataDir + ": not a regular file (a directory)");
  }
}

TEST(ReadNpy, GarbageHeaderIsShownEscaped) {
  EXPECT_THAT(read_error("binary_garbage_header.npy"), HasSubstr("\\x80\\x81\\x82"));
}

TEST(ParseNpy, MatchesReadNpyAndNamesTheGivenSource) {
  const std::vector<std::byte> bytes = file_bytes(data_path("i4_3x2.npy"));
  const Tensor parsed = parse_npy(bytes, "archive.npz/x.npy");
  const Tensor read = read_npy(data_path("i4_3x2.npy"));
  EXPECT_EQ(parsed.shape(), read.shape());
  for (std::int64_t i = 0; i < read.numel(); ++i) EXPECT_EQ(parsed.at_flat(i), read.at_flat(i));
  try {
    parse_npy(std::span(bytes).first(bytes.size() - 1), "archive.npz/x.npy");
    ADD_FAILURE() << "a truncated buffer was parsed";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("[parse_npy] archive.npz/x.npy: truncated data"));
  }
}

TEST(ParseNpy, EveryTruncationAndEverySingleByteCorruptionFailsCleanly) {
  // Deterministic fuzzing of the header: no crash, no hang, only runtime_error or a tensor.
  const std::vector<std::byte> good = file_bytes(data_path("f4_2x3.npy"));
  for (std::size_t length = 0; length < good.size(); ++length) {
    EXPECT_THROW(parse_npy(std::span(good).first(length), "cut"), std::runtime_error) << length;
  }
  int parsed = 0, refused = 0;
  for (std::size_t position = 0; position < 128; ++position) {
    for (int value : {0x00, 0x20, 0x27, 0x28, 0x29, 0x2C, 0x30, 0x39, 0x7B, 0x7D, 0xFF}) {
      std::vector<std::byte> bytes = good;
      bytes[position] = static_cast<std::byte>(value);
      try {
        const Tensor tensor = parse_npy(bytes, "corrupted");
        EXPECT_EQ(static_cast<std::size_t>(tensor.nbytes()), 24u);
        ++parsed;
      } catch (const std::runtime_error&) {
        ++refused;
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(parsed, 0);  // A space written over padding keeps the file valid.
}

// A version 1.0 .npy file with `header` and no data (every shape here has a zero dimension).
// REQUIRES: header.size() < 256.
std::vector<std::byte> empty_npy(const std::string& header) {
  // Magic, version 1.0, the header's length as a little-endian uint16, the header.
  const std::string text =
      std::string("\x93NUMPY\x01", 7) + '\0' + static_cast<char>(header.size()) + '\0' + header;
  std::vector<std::byte> bytes(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) bytes[i] = static_cast<std::byte>(text[i]);
  return bytes;
}

std::string parse_error(const std::vector<std::byte>& bytes) {
  try {
    parse_npy(bytes, "x.npy");
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "no exception";
}

// npy_fuzzer's finding (docs/testing.md "Fuzzing"): a '<f2' file of shape (8880202002,
// 410100041, 0, 344444411, 10231, 2) parsed, as its zero dimension came before the product
// overflowed at 2 bytes an element, but the '<f4' file written for it was refused. Now a shape
// whose nonzero dimensions multiply to 2^60 or more is refused by the reader, whatever the dtype
// and the order of the dimensions, and by the writer, as numpy refuses it.
TEST(ParseNpy, RefusesAnEmptyShapeWhoseOtherDimensionsOverflow) {
  const std::vector<std::byte> finding = file_bytes(
      std::string(TTT_SOURCE_DIR) + "/tests/fuzz/findings/npy_round_trip_shape_too_large");
  EXPECT_EQ(parse_error(finding),
            "[parse_npy] x.npy: shape [8880202002, 410100041, 0, 344444411, 10231, 2] is too "
            "large: its nonzero dimensions multiply to 2^60 elements or more");
  for (const char* shape :
       {"(0, 1152921504606846976)", "(1152921504606846976, 0)", "(1073741824, 0, 1073741824)"}) {
    for (const char* descr : {"<f2", "<f8"}) {
      EXPECT_THAT(parse_error(empty_npy(std::string("{'descr': '") + descr +
                                        "', 'fortran_order': False, 'shape': " + shape + ", }\n")),
                  HasSubstr("is too large: its nonzero dimensions multiply to 2^60"))
          << shape << " " << descr;
    }
  }
  // 2^60 - 1 elements beside the zero: read, written (as '<f4') and read back.
  const Tensor edge = parse_npy(
      empty_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (1152921504606846975, 0), }\n"),
      "edge.npy");
  EXPECT_EQ(edge.shape(), (Shape{1152921504606846975, 0}));
  const std::vector<std::byte> written = serialize_npy(edge);
  EXPECT_EQ(parse_npy(written, "again.npy").shape(), edge.shape());
  EXPECT_EQ(serialize_npy(parse_npy(written, "again.npy")), written);
  // The writer refuses what the reader would.
  try {
    serialize_npy(Tensor(Shape{0, 1152921504606846976}, DType::float32));
    ADD_FAILURE() << "wrote a shape the reader refuses";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()),
              "[write_npy] shape [0, 1152921504606846976] is too large: its nonzero dimensions "
              "multiply to 2^60 elements or more");
  }
}

TEST(WriteNpy, WritesExactlyWhatNpSaveWrites) {
  for (const char* name : {"f4_2x3.npy", "f8_8.npy", "i4_3x2.npy", "i8_4.npy", "scalar_f4.npy",
                           "empty_f4_0x3.npy", "rank3_i8_2x3x4.npy", "rank8_f4.npy"}) {
    const std::vector<std::byte> numpy_bytes = file_bytes(data_path(name));
    EXPECT_EQ(serialize_npy(read_npy(data_path(name))), numpy_bytes) << name;
    const std::string path = temp_path(name);
    write_npy(path, read_npy(data_path(name)));
    EXPECT_EQ(file_bytes(path), numpy_bytes) << name;
    std::filesystem::remove(path);
  }
}

TEST(WriteNpy, WritesDeviceFormatsAsFloat32WithTheSameValues) {
  const std::vector<float> values = {0.1f, -3.7f, 1e-3f, 250.0f, -0.5f, 7.25f, 1e5f, -2e-6f};
  for (DType dtype : {DType::float16, DType::bfloat16, DType::bfloat8_b, DType::bfloat4_b}) {
    const Tensor tensor = Tensor::from_floats({2, 4}, values, dtype);
    const std::string path = temp_path(std::string(dtype_name(dtype)) + ".npy");
    write_npy(path, tensor);
    const Tensor back = read_npy(path);
    EXPECT_EQ(back.dtype(), DType::float32) << dtype_name(dtype);
    EXPECT_EQ(values_of(back), values_of(tensor)) << dtype_name(dtype);
    std::filesystem::remove(path);
  }
}

TEST(WriteNpy, WritesViewsAndNonFiniteValues) {
  std::vector<float> memory = {std::numeric_limits<float>::quiet_NaN(),
                               -std::numeric_limits<float>::infinity(), 2.0f, -0.0f};
  const Tensor view = Tensor::view({2, 2}, DType::float32, memory.data());
  const Tensor back = parse_npy(serialize_npy(view), "memory");
  EXPECT_TRUE(std::isnan(back.at_flat(0)));
  EXPECT_EQ(back.at_flat(1), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(back.at_flat(2), 2.0);
  EXPECT_TRUE(std::signbit(back.at_flat(3)));
}

TEST(WriteNpy, FailsClearlyWhenTheFileCannotBeWritten) {
  const std::string path = temp_path("no_such_directory/x.npy");
  try {
    write_npy(path, Tensor::scalar(1.0f));
    ADD_FAILURE() << "wrote into a missing directory";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              "[write_npy] " + path + ": cannot open for writing: No such file or directory");
  }
  EXPECT_THROW(serialize_npy(Tensor()), std::invalid_argument);
}

}  // namespace
}  // namespace ttt

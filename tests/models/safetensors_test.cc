// The safetensors reader: files written byte by byte here (known bit patterns), round trips of
// the writer, sharded checkpoints, and every corrupt file the reader must refuse with a clear
// message naming the file.
#include "models/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/models/test_files.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;

namespace fs = std::filesystem;

using testing_files::write_file;

// 8-byte little-endian header length, the header text, then the data bytes.
std::string file_bytes(const std::string& header, const std::string& data,
                       std::uint64_t length_override = 0) {
  const std::uint64_t length = length_override != 0 ? length_override : header.size();
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &length, 8);
  return bytes + header + data;
}

template <typename T>
std::string raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Expects open() (or load(name) when given) to throw a message containing the file path and
// every fragment.
void expect_open_error(const std::string& path, const std::vector<std::string>& fragments) {
  try {
    SafetensorsFile::open(path);
    FAIL() << "no error for " << path;
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("[safetensors] " + path + ": "));
    for (const std::string& fragment : fragments) EXPECT_THAT(error.what(), HasSubstr(fragment));
  }
}

// Expects open() to refuse the header with the strict JSON reader's message, exactly
// "<path>: <JSON Pointer>: <what>".
void expect_header_error(const std::string& path, const std::string& pointer_and_what) {
  EXPECT_THAT([&] { SafetensorsFile::open(path); },
              testing::ThrowsMessage<std::invalid_argument>(
                  testing::StrEq(path + ": " + pointer_and_what)));
}

TEST(Safetensors, ReadsF32F16AndBf16FromKnownBytes) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const std::vector<float> f32 = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, -7.0f};
  // bfloat16: 1.0, -2.0, 1.5, and the smallest subnormal 2^-133.
  const std::vector<std::uint16_t> bf16 = {0x3F80, 0xC000, 0x3FC0, 0x0001};
  // float16: 1.0, 65504 (largest), -0.5, and the smallest subnormal 2^-24.
  const std::vector<std::uint16_t> f16 = {0x3C00, 0x7BFF, 0xB800, 0x0001};
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                             R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},)"
                             R"("c":{"dtype":"F16","shape":[2,2],"data_offsets":[32,40]}})";
  const std::string path =
      write_file(dir / "known.safetensors", file_bytes(header, raw(f32) + raw(bf16) + raw(f16)));

  const SafetensorsFile file = SafetensorsFile::open(path);
  ASSERT_EQ(file.entries().size(), 3u);
  EXPECT_EQ(file.entries()[0].name, "a");
  EXPECT_EQ(file.entries()[1].dtype, "BF16");
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.find("missing"), nullptr);

  const Tensor a = file.load("a");
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_EQ(a.dtype(), DType::float32);
  for (std::size_t i = 0; i < f32.size(); ++i) EXPECT_EQ(a.floats()[i], f32[i]);

  const Tensor b = file.load("b");
  EXPECT_EQ(b.shape(), (Shape{4}));
  EXPECT_EQ(b.floats()[0], 1.0f);
  EXPECT_EQ(b.floats()[1], -2.0f);
  EXPECT_EQ(b.floats()[2], 1.5f);
  EXPECT_EQ(b.floats()[3], std::ldexp(1.0f, -133));

  const Tensor c = file.load("c");
  EXPECT_EQ(c.shape(), (Shape{2, 2}));
  EXPECT_EQ(c.floats()[0], 1.0f);
  EXPECT_EQ(c.floats()[1], 65504.0f);
  EXPECT_EQ(c.floats()[2], -0.5f);
  EXPECT_EQ(c.floats()[3], std::ldexp(1.0f, -24));
}

TEST(Safetensors, WriterRoundTripsEachDtype) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const Tensor values = random_normal({3, 5}, 42, 0.0, 3.0);
  const Tensor scalar = Tensor::scalar(0.1f);
  for (const char* dtype : {"F32", "F16", "BF16"}) {
    const std::string path =
        write_file(dir / (std::string(dtype) + ".safetensors"),
                   make_safetensors({{"w", values}, {"s", scalar}}, dtype, {{"producer", "test"}}));
    const SafetensorsFile file = SafetensorsFile::open(path);
    EXPECT_EQ(file.metadata().at("producer"), "test");
    const DType as = std::string(dtype) == "F32"   ? DType::float32
                     : std::string(dtype) == "F16" ? DType::float16
                                                   : DType::bfloat16;
    const Tensor expected = values.to(as);
    const Tensor loaded = file.load("w");
    ASSERT_EQ(loaded.shape(), values.shape()) << dtype;
    for (std::int64_t i = 0; i < values.numel(); ++i) {
      EXPECT_EQ(loaded.floats()[i], expected.floats()[i]) << dtype << " element " << i;
    }
    EXPECT_EQ(file.load("s").shape(), Shape{});
    EXPECT_EQ(file.load("s").floats()[0], scalar.to(as).floats()[0]);
  }
  EXPECT_THROW(make_safetensors({{"w", values}}, "F64"), std::invalid_argument);
}

TEST(Safetensors, RefusesCorruptFilesNamingTheFileAndTensor) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const std::string good_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string data = raw(std::vector<float>{1.0f, 2.0f});

  expect_open_error(write_file(dir / "empty.safetensors", ""), {"truncated", "0 bytes"});
  expect_open_error(write_file(dir / "short.safetensors", "abcd"), {"truncated", "4 bytes"});
  // The header length says 1000 bytes; the file has far fewer.
  expect_open_error(
      write_file(dir / "beyond.safetensors", file_bytes("{" + good_entry + "}", data, 1000)),
      {"header length 1000 goes beyond the file"});
  expect_open_error(
      write_file(dir / "huge.safetensors", file_bytes("{" + good_entry + "}", data, 200'000'000)),
      {"header length 200000000 exceeds the format's limit"});
  expect_open_error(write_file(dir / "json.safetensors", file_bytes("{\"w\": [1, 2", data)),
                    {"the header: not JSON"});
  // The header is read by the strict JSON reader: the file, the JSON Pointer (tensor first), what.
  expect_header_error(write_file(dir / "array.safetensors", file_bytes("[1, 2]", data)),
                      "/: expected an object, got [1,2]");
  expect_header_error(
      write_file(dir / "dtype.safetensors",
                 file_bytes(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", data)),
      "/w/dtype: unknown dtype 'Q4'");
  expect_header_error(
      write_file(dir / "range.safetensors",
                 file_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data)),
      "/w/data_offsets: [0, 16] go beyond the data section (8 bytes)");
  expect_header_error(
      write_file(dir / "size.safetensors",
                 file_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data)),
      "/w/data_offsets: [0, 8] hold 8 bytes, but shape [3] of F32 needs 12");
  expect_header_error(
      write_file(dir / "reversed.safetensors",
                 file_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", data)),
      "/w/data_offsets: [8, 4] end before they begin");
  expect_header_error(write_file(dir / "noshape.safetensors",
                                 file_bytes(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", data)),
                      "/w: missing field 'shape'");
  expect_header_error(
      write_file(
          dir / "nodtype.safetensors",
          file_bytes(R"({"model.embed_tokens.weight":{"shape":[2],"data_offsets":[0,8]}})", data)),
      "/model.embed_tokens.weight: missing field 'dtype'");
  expect_header_error(
      write_file(dir / "negative.safetensors",
                 file_bytes(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data)),
      "/w/shape/0: expected an integer >= 0, got -2");
  expect_header_error(
      write_file(dir / "typed.safetensors",
                 file_bytes(R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", data)),
      "/w/dtype: expected a string, got 32");
  expect_header_error(
      write_file(dir / "offsets.safetensors",
                 file_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", data)),
      "/w/data_offsets: expected [begin, end], got [0]");
  expect_header_error(
      write_file(dir / "metadata.safetensors",
                 file_bytes(R"({"__metadata__":{"format":1},)" + good_entry + "}", data)),
      "/__metadata__/format: expected a string, got 1");
  expect_header_error(
      write_file(
          dir / "extra.safetensors",
          file_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", data)),
      "/w/x: unknown field 'x' (expected one of: dtype, shape, data_offsets)");
  expect_open_error((dir / "absent.safetensors").string(), {"cannot open"});
}

TEST(Safetensors, ListsButRefusesToLoadOtherDtypes) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const std::string path =
      write_file(dir / "ints.safetensors",
                 file_bytes(R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})",
                            raw(std::vector<std::int64_t>{3, 4})));
  const SafetensorsFile file = SafetensorsFile::open(path);
  ASSERT_NE(file.find("ids"), nullptr);
  EXPECT_EQ(file.find("ids")->shape, (Shape{2}));
  try {
    file.load("ids");
    FAIL() << "I64 loaded";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr(path));
    EXPECT_THAT(error.what(), HasSubstr("tensor 'ids' has dtype I64; only F32, F16 and BF16"));
  }
  EXPECT_THAT([&] { file.load("nothing"); },
              testing::ThrowsMessage<std::invalid_argument>(HasSubstr("no tensor 'nothing'")));
}

TEST(SafetensorsCheckpoint, FindsTensorsAcrossShardsOfADirectory) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  write_file(dir / "model-00001-of-00002.safetensors",
             make_safetensors({{"a", Tensor::from_floats({2}, {1, 2})}}, "F32"));
  write_file(dir / "model-00002-of-00002.safetensors",
             make_safetensors({{"b", Tensor::from_floats({1}, {3})}}, "BF16"));
  write_file(dir / "config.json", "{}");
  const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(dir.string());
  EXPECT_EQ(checkpoint.files().size(), 2u);
  EXPECT_THAT(checkpoint.description(), HasSubstr("(2 files)"));
  ASSERT_NE(checkpoint.file_of("b"), nullptr);
  EXPECT_THAT(checkpoint.file_of("b")->path(), HasSubstr("model-00002-of-00002"));
  EXPECT_EQ(checkpoint.file_of("b")->load("b").floats()[0], 3.0f);
  EXPECT_EQ(checkpoint.file_of("c"), nullptr);

  const SafetensorsCheckpoint single =
      SafetensorsCheckpoint::open((dir / "model-00001-of-00002.safetensors").string());
  EXPECT_EQ(single.files().size(), 1u);
  EXPECT_NE(single.file_of("a"), nullptr);
}

TEST(SafetensorsCheckpoint, RefusesDuplicatesEmptyDirectoriesAndMissingPaths) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  fs::create_directories(dir / "dup");
  write_file(dir / "dup" / "one.safetensors",
             make_safetensors({{"w", Tensor::from_floats({1}, {1})}}, "F32"));
  write_file(dir / "dup" / "two.safetensors",
             make_safetensors({{"w", Tensor::from_floats({1}, {2})}}, "F32"));
  EXPECT_THAT(
      [&] { SafetensorsCheckpoint::open((dir / "dup").string()); },
      testing::ThrowsMessage<std::invalid_argument>(testing::AllOf(
          HasSubstr("two.safetensors: tensor 'w' is also in"), HasSubstr("one.safetensors"))));
  fs::create_directories(dir / "none");
  EXPECT_THAT([&] { SafetensorsCheckpoint::open((dir / "none").string()); },
              testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("no .safetensors file in directory")));
  EXPECT_THAT([&] { SafetensorsCheckpoint::open((dir / "nowhere").string()); },
              testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("nowhere: no such file or directory")));
}

TEST(Safetensors, CopiesKeepTheMappingAlive) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const std::string path = write_file(
      dir / "w.safetensors", make_safetensors({{"w", Tensor::from_floats({2}, {5, 6})}}, "F32"));
  Tensor loaded;
  {
    const SafetensorsFile copy = [&] {
      const SafetensorsFile original = SafetensorsFile::open(path);
      return original;
    }();
    fs::remove(path);  // The mapping outlives the directory entry and the original object.
    loaded = copy.load("w");
  }
  EXPECT_EQ(loaded.floats()[1], 6.0f);
}

}  // namespace
}  // namespace ttt

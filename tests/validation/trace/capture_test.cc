// TraceSession: what it writes (checked with the raw HDF5 C API, independently of our reader),
// options, sharing, dropped calls, threads and the process-wide session.
#include "validation/trace/capture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/validation/trace/trace_test_util.h"
#include "validation/tensor/random.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using test_support::ScratchDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::scale_call;

std::string raw_string_attribute(hid_t object, const char* name) {
  const hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
  const hid_t type = H5Aget_type(attribute);
  EXPECT_EQ(H5Tget_class(type), H5T_STRING);
  EXPECT_GT(H5Tis_variable_str(type), 0);
  char* text = nullptr;
  H5Aread(attribute, type, &text);
  std::string value = text;
  H5free_memory(text);
  H5Tclose(type);
  H5Aclose(attribute);
  return value;
}

std::int64_t raw_int_attribute(hid_t object, const char* name) {
  const hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
  const hid_t type = H5Aget_type(attribute);
  EXPECT_EQ(H5Tget_class(type), H5T_INTEGER);
  std::int64_t value = 0;
  H5Aread(attribute, H5T_NATIVE_INT64, &value);
  H5Tclose(type);
  H5Aclose(attribute);
  return value;
}

bool raw_link_exists(hid_t file, const char* path) {
  return H5Lexists(file, path, H5P_DEFAULT) > 0;
}

TEST(TraceSession, WritesVersion1RootAttributesAndCallGroups) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  {
    TraceOptions options;
    options.meta_json = R"({"model": "tiny", "command_line": "demo --steps 2"})";
    TraceSession session(path, options);
    session.capture(scale_call("layers.0.scale", 1, {2, 3}, 2.0f));
    session.capture(scale_call("layers.1.scale", 2, {2, 3}, 0.5f));
    EXPECT_EQ(session.calls_written(), 2);
  }
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  EXPECT_EQ(raw_string_attribute(file, "ttt_format"), "ttt-trace");
  EXPECT_EQ(raw_int_attribute(file, "ttt_format_version"), 1);
  EXPECT_EQ(raw_string_attribute(file, "producer"), "tttv2 2.0.0");
  EXPECT_THAT(raw_string_attribute(file, "created_utc"),
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
  EXPECT_EQ(raw_string_attribute(file, "meta"),
            R"({"command_line":"demo --steps 2","model":"tiny"})");
  EXPECT_TRUE(raw_link_exists(file, "/calls/000000"));
  EXPECT_TRUE(raw_link_exists(file, "/calls/000001"));
  EXPECT_FALSE(raw_link_exists(file, "/calls/000002"));
  const hid_t call = H5Gopen2(file, "/calls/000001", H5P_DEFAULT);
  EXPECT_EQ(raw_string_attribute(call, "name"), "layers.1.scale");
  EXPECT_EQ(raw_string_attribute(call, "block"), "ttt.scale");
  EXPECT_EQ(raw_string_attribute(call, "spec"), "{\"shape\": [2, 3]}");
  EXPECT_EQ(raw_string_attribute(call, "impl_config"), "{\"output_dtype\": \"bfloat16\"}");
  EXPECT_EQ(raw_string_attribute(call, "device"), "N150");
  EXPECT_EQ(raw_string_attribute(call, "scalars"), "{\"scale\": 0.500000}");
  EXPECT_EQ(raw_int_attribute(call, "device_ns"), 1002);
  EXPECT_EQ(raw_int_attribute(call, "reference_ns"), 2000);
  EXPECT_EQ(raw_string_attribute(call, "verdict"), "pass");
  EXPECT_EQ(raw_string_attribute(call, "metrics"), "{\"y\": {\"pcc\": 0.9999}}");
  // The device output: float32 values of a bfloat16 tensor, with ttt_dtype naming bfloat16.
  const hid_t y = H5Dopen2(call, "outputs/y", H5P_DEFAULT);
  const hid_t type = H5Dget_type(y);
  EXPECT_EQ(H5Tget_class(type), H5T_FLOAT);
  EXPECT_EQ(H5Tget_size(type), 4u);
  EXPECT_EQ(raw_string_attribute(y, "ttt_dtype"), "bfloat16");
  const hid_t space = H5Dget_space(y);
  hsize_t dims[2] = {0, 0};
  EXPECT_EQ(H5Sget_simple_extent_dims(space, dims, nullptr), 2);
  EXPECT_EQ(dims[0], 2u);
  EXPECT_EQ(dims[1], 3u);
  std::vector<float> values(6);
  H5Dread(y, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  const CapturedCall expected = scale_call("layers.1.scale", 2, {2, 3}, 0.5f);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(values[i], expected.outputs[0].tensor.floats()[i]);
  EXPECT_TRUE(raw_link_exists(call, "reference/y"));
  EXPECT_TRUE(raw_link_exists(call, "inputs/x"));
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(y);
  H5Gclose(call);
  H5Fclose(file);
}

TEST(TraceSession, RoundTripsEveryTensorKindThroughTheReader) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  CapturedCall call;
  call.name = "decode.attention";
  call.scalars_json = R"({"position": 7})";
  call.inputs = {{"x", random_normal({2, 32}, 3, 0.0, 1.0, DType::bfloat8_b)},
                 {"kv/0", random_normal({4}, 4, 0.0, 1.0, DType::float16)},
                 {"kv/1", random_normal({4}, 5, 0.0, 1.0, DType::bfloat4_b)},
                 {"kv/10", random_normal({1}, 6)},
                 {"kv/2", random_normal({1}, 7)},
                 {"position", Tensor::from_int32({}, {7})},
                 {"tokens", Tensor::from_int64({3}, {1, -2, 1LL << 40})},
                 {"wide", Tensor::from_doubles({4}, {0.1, 1.0 + 0x1p-52, -1e300, 5e-324})},
                 {"empty", Tensor({0, 5}, DType::float32)},
                 {"scalar", Tensor::scalar(1.5f, DType::bfloat16)}};
  call.outputs = {{"out", random_uniform({3, 3}, 8)}};
  {
    TraceSession session(path);
    session.capture(call);
    ASSERT_EQ(session.error(), std::nullopt);
  }
  const TraceReader reader = TraceReader::open(path);
  EXPECT_THAT(reader.sequence_numbers(), ElementsAre(0));
  const TraceCall read = reader.call(0);
  EXPECT_EQ(read.path, "/calls/000000");
  EXPECT_EQ(read.name, "decode.attention");
  EXPECT_EQ(read.block, "");
  EXPECT_EQ(read.verdict, "unchecked");
  EXPECT_EQ(read.reference_ns, -1);
  EXPECT_EQ(read.scalars_json, R"({"position": 7})");
  std::vector<std::string> names;
  for (const TraceTensor& tensor : read.inputs) names.push_back(tensor.name);
  // Container elements in index order (10 after 2), then the other names in name order.
  EXPECT_THAT(names, ElementsAre("empty", "kv/0", "kv/1", "kv/2", "kv/10", "position", "scalar",
                                 "tokens", "wide", "x"));
  EXPECT_TRUE(read.reference_outputs.empty());
  for (const TraceTensor& listed : read.inputs) {
    const auto original = std::find_if(call.inputs.begin(), call.inputs.end(),
                                       [&](const NamedTensor& t) { return t.name == listed.name; });
    ASSERT_NE(original, call.inputs.end());
    EXPECT_EQ(listed.shape, original->tensor.shape()) << listed.name;
    EXPECT_EQ(listed.dtype, original->tensor.dtype()) << listed.name;
    const Tensor values = reader.read(listed);
    ASSERT_EQ(values.dtype(), original->tensor.dtype()) << listed.name;
    ASSERT_EQ(values.shape(), original->tensor.shape()) << listed.name;
    for (std::int64_t i = 0; i < values.numel(); ++i) {
      EXPECT_EQ(std::bit_cast<std::uint64_t>(values.at_flat(i)),
                std::bit_cast<std::uint64_t>(original->tensor.at_flat(i)))
          << listed.name << " " << i;
    }
  }
  EXPECT_EQ(reader.call(0).outputs[0].stored_type, "float32");
  // float64 is stored as float64 (H5T_IEEE_F64LE) with ttt_dtype "float64".
  for (const TraceTensor& listed : read.inputs) {
    if (listed.name == "wide") {
      EXPECT_EQ(listed.stored_type, "float64");
    }
  }
}

TEST(TraceSession, FilterAndLimitPerName) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  TraceOptions options;
  options.name_filter = "layers.*.mlp";
  options.max_calls_per_name = 2;
  {
    TraceSession session(path, options);
    EXPECT_TRUE(session.wants("layers.3.mlp"));
    EXPECT_FALSE(session.wants("layers.3.attention"));
    for (int step = 0; step < 3; ++step) {
      session.capture(scale_call("layers.0.mlp", step, {4}, 1.0f));
      session.capture(scale_call("layers.0.attention", step, {4}, 1.0f));
      session.capture(scale_call("layers.1.mlp", step, {4}, 1.0f));
    }
    EXPECT_FALSE(session.wants("layers.0.mlp"));
    EXPECT_TRUE(session.wants("layers.2.mlp"));
    EXPECT_EQ(session.calls_written(), 4);
    EXPECT_EQ(session.calls_dropped(), 0);
  }
  const TraceReader reader = TraceReader::open(path);
  std::vector<std::string> names;
  for (const std::int64_t seq : reader.sequence_numbers()) names.push_back(reader.call(seq).name);
  EXPECT_THAT(names, ElementsAre("layers.0.mlp", "layers.1.mlp", "layers.0.mlp", "layers.1.mlp"));
}

TEST(TraceSession, ReferenceOutputsOnlyWhenAsked) {
  ScratchDir dir;
  TraceOptions options;
  options.capture_reference = false;
  {
    TraceSession session(dir.file("t.h5"), options);
    EXPECT_FALSE(session.capture_reference_outputs());
    session.capture(scale_call("a", 1, {4}, 2.0f));
  }
  EXPECT_TRUE(TraceReader::open(dir.file("t.h5")).call(0).reference_outputs.empty());
  EXPECT_EQ(TraceReader::open(dir.file("t.h5")).call(0).outputs.size(), 1u);
}

TEST(TraceSession, RegisteredWeightsAreWrittenOnceAndHardLinked) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  const Tensor weight = random_normal({64, 64}, 11, 0.0, 1.0, DType::bfloat16);
  {
    TraceSession session(path);
    session.register_shared_tensor("layers.0.w", weight);
    EXPECT_THROW(session.register_shared_tensor("layers.0.w", weight), std::invalid_argument);
    EXPECT_THROW(session.register_shared_tensor("a/b", weight), std::invalid_argument);
    EXPECT_THROW(session.register_shared_tensor("..", weight), std::invalid_argument);
    for (int step = 0; step < 3; ++step) {
      CapturedCall call = scale_call("layers.0.matmul", step, {4}, 1.0f);
      call.inputs.push_back({"w", weight});
      session.capture(call);
    }
  }
  const TraceReader reader = TraceReader::open(path);
  const std::vector<SharedTensor> shared = reader.shared_tensors();
  ASSERT_EQ(shared.size(), 1u);
  EXPECT_EQ(shared[0].tensor.name, "layers.0.w");
  EXPECT_EQ(shared[0].tensor.dtype, DType::bfloat16);
  EXPECT_EQ(shared[0].links, 3);
  EXPECT_EQ(shared[0].tensor.stored_bytes, 64 * 64 * 4);
  for (const std::int64_t seq : reader.sequence_numbers()) {
    const TraceCall call = reader.call(seq);
    ASSERT_EQ(call.inputs.size(), 2u);
    EXPECT_EQ(call.inputs[0].name, "w");
    EXPECT_EQ(call.inputs[0].shared_key, "layers.0.w");
    EXPECT_EQ(call.inputs[1].shared_key, "");
    EXPECT_EQ(reader.read(call.inputs[0]).at({5, 7}), weight.at({5, 7}));
  }
  // Written once: every call's input is the very object stored at /tensors/layers.0.w.
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  H5O_info_t stored{};
  H5Oget_info_by_name2(file, "/tensors/layers.0.w", &stored, H5O_INFO_BASIC, H5P_DEFAULT);
  for (const char* input : {"/calls/000000/inputs/w", "/calls/000002/inputs/w"}) {
    H5O_info_t linked{};
    H5Oget_info_by_name2(file, input, &linked, H5O_INFO_BASIC, H5P_DEFAULT);
    EXPECT_EQ(linked.addr, stored.addr) << input;
  }
  H5Fclose(file);
}

TEST(TraceSession, RepeatedInputsAreSharedAutomaticallyButNeverWhenValuesChanged) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  Tensor cache = random_normal({8}, 21);
  {
    TraceSession session(path);
    for (int step = 0; step < 3; ++step) {
      CapturedCall call;
      call.name = "layers.2.attention";
      call.inputs = {{"kv/0", cache}};
      session.capture(call);
    }
    cache.mutable_floats()[3] = 42.0f;  // The same storage, updated in place (a KV cache).
    CapturedCall changed;
    changed.name = "layers.2.attention";
    changed.inputs = {{"kv/0", cache}};
    session.capture(changed);
  }
  const TraceReader reader = TraceReader::open(path);
  const std::vector<SharedTensor> shared = reader.shared_tensors();
  ASSERT_EQ(shared.size(), 1u);
  EXPECT_EQ(shared[0].tensor.name, "layers.2.attention.kv.0");
  EXPECT_EQ(shared[0].links, 3);  // Calls 0, 1 and 2 (call 0 holds the original dataset).
  for (std::int64_t seq = 0; seq < 3; ++seq) {
    EXPECT_EQ(reader.call(seq).inputs[0].shared_key, "layers.2.attention.kv.0");
    EXPECT_NE(reader.read(reader.call(seq).inputs[0]).at({3}), 42.0);
  }
  const TraceCall last = reader.call(3);
  EXPECT_EQ(last.inputs[0].shared_key, "");
  EXPECT_EQ(reader.read(last.inputs[0]).at({3}), 42.0);
}

TEST(TraceSession, SharingCanBeTurnedOff) {
  ScratchDir dir;
  const Tensor weight = random_normal({16}, 5);
  TraceOptions options;
  options.share_tensors = false;
  {
    TraceSession session(dir.file("t.h5"), options);
    for (int step = 0; step < 2; ++step) {
      CapturedCall call;
      call.name = "a";
      call.inputs = {{"w", weight}};
      session.capture(call);
    }
  }
  EXPECT_TRUE(TraceReader::open(dir.file("t.h5")).shared_tensors().empty());
}

TEST(TraceSession, BadCallsAreDroppedWithAnErrorAndCaptureGoesOn) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  {
    TraceSession session(path);
    CapturedCall undefined = scale_call("a", 1, {4}, 1.0f);
    undefined.inputs.push_back({"missing", Tensor()});
    session.capture(undefined);
    CapturedCall bad_json = scale_call("b", 1, {4}, 1.0f);
    bad_json.spec_json = "{not json";
    session.capture(bad_json);
    CapturedCall clash = scale_call("c", 1, {4}, 1.0f);
    clash.inputs.push_back({"x/0", random_normal({1}, 1)});
    session.capture(clash);
    CapturedCall verdict = scale_call("d", 1, {4}, 1.0f);
    verdict.verdict = "maybe";
    session.capture(verdict);
    session.capture(scale_call("good", 1, {4}, 1.0f));
    EXPECT_EQ(session.calls_dropped(), 4);
    EXPECT_EQ(session.calls_written(), 1);
    ASSERT_TRUE(session.error().has_value());
    EXPECT_THAT(*session.error(), HasSubstr("call 'a' dropped: input 'missing' is an undefined"));
  }
  const TraceReader reader = TraceReader::open(path);
  ASSERT_THAT(reader.sequence_numbers(), ElementsAre(0));
  EXPECT_EQ(reader.call(0).name, "good");
}

TEST(TraceSession, CompressedTracesReadBackExactlyAndAreSmaller) {
  ScratchDir dir;
  TraceOptions compressed;
  compressed.compression_level = 6;
  compressed.chunk_bytes = 4096;
  // Quantized to bfloat4_b: few distinct values, so deflate has something to find.
  const Tensor x = random_normal({64, 256}, 9, 0.0, 1.0, DType::bfloat4_b);
  for (const auto& [name, options] :
       {std::pair{"plain.h5", TraceOptions{}}, std::pair{"deflate.h5", compressed}}) {
    TraceSession session(dir.file(name), options);
    CapturedCall call;
    call.name = "x";
    call.inputs = {{"x", x}};
    session.capture(call);
  }
  const TraceReader reader = TraceReader::open(dir.file("deflate.h5"));
  const TraceReader plain = TraceReader::open(dir.file("plain.h5"));
  EXPECT_EQ(plain.call(0).inputs[0].stored_bytes, 64 * 256 * 4);
  EXPECT_LT(reader.call(0).inputs[0].stored_bytes, 64 * 256 * 4 / 2);
  const Tensor read = reader.read(reader.call(0).inputs[0]);
  ASSERT_EQ(read.dtype(), DType::bfloat4_b);
  for (std::int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(read.at_flat(i), x.at_flat(i)) << i;
  EXPECT_THROW(TraceSession(dir.file("bad.h5"), TraceOptions{.compression_level = 10}),
               std::invalid_argument);
}

// Values read with the raw HDF5 C API, as float32.
std::vector<float> raw_float_dataset(hid_t file, const std::string& path) {
  const hid_t dataset = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  EXPECT_GE(dataset, 0) << path;
  const hid_t space = H5Dget_space(dataset);
  std::vector<float> values(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)));
  EXPECT_GE(H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Sclose(space);
  H5Dclose(dataset);
  return values;
}

// Values below, at and above the size from which capture allocates a dataset's file range before
// writing it (internal/raw_file.h: 64 KiB), in one call and across calls; and the call groups keep
// their 10 attributes in the object header (compact storage), which capture relies on for speed.
TEST(TraceSession, LargeAndSmallValuesReadBackExactlyAndCallAttributesAreCompact) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  const Tensor big = random_normal({256, 1024}, 31, 0.0, 1.0, DType::bfloat16);  // 1 MiB.
  const Tensor edge = random_normal({64, 256}, 32);                              // 64 KiB.
  const Tensor small = random_normal({3, 5}, 33);
  const Tensor big_output = random_normal({130, 257}, 34);  // Not a whole number of pages.
  CapturedCall first;
  first.name = "first";
  first.inputs = {{"x", big}, {"w", small}};
  first.outputs = {{"y", edge}};
  CapturedCall second;
  second.name = "second";
  second.inputs = {{"x", random_normal({2}, 35)}};
  second.outputs = {{"y", big_output}};
  {
    TraceSession session(path);
    session.capture(first);
    session.capture(second);
    ASSERT_EQ(session.calls_written(), 2);
  }
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const auto expect_values = [&](const std::string& dataset, const Tensor& tensor) {
    const std::vector<float> stored = raw_float_dataset(file, dataset);
    ASSERT_EQ(stored.size(), static_cast<std::size_t>(tensor.numel())) << dataset;
    EXPECT_TRUE(std::equal(stored.begin(), stored.end(), tensor.floats().begin())) << dataset;
  };
  expect_values("/calls/000000/inputs/x", big);
  expect_values("/calls/000000/inputs/w", small);
  expect_values("/calls/000000/outputs/y", edge);
  expect_values("/calls/000001/inputs/x", second.inputs[0].tensor);
  expect_values("/calls/000001/outputs/y", big_output);
  H5O_info_t info{};
  ASSERT_GE(H5Oget_info_by_name2(file, "/calls/000001", &info,
                                 H5O_INFO_NUM_ATTRS | H5O_INFO_META_SIZE, H5P_DEFAULT),
            0);
  EXPECT_EQ(info.num_attrs, 10u);
  EXPECT_EQ(info.meta_size.attr.index_size, 0u) << "attributes moved to dense storage";
  EXPECT_EQ(info.meta_size.attr.heap_size, 0u) << "attributes moved to dense storage";
  H5Fclose(file);
}

void write_raw_string_attribute(hid_t object, const char* name, const char* value) {
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, type, &value);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
}

void write_raw_int_attribute(hid_t object, const char* name, std::int64_t value) {
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attribute = H5Acreate2(object, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, H5T_NATIVE_INT64, &value);
  H5Aclose(attribute);
  H5Sclose(space);
}

// Traces written before call groups kept their attributes compact (HDF5's default group
// properties with file format 1.8: more than 8 attributes go to dense storage) read the same.
TEST(TraceReader, ReadsCallGroupsWithDenseAttributeStorage) {
  ScratchDir dir;
  const std::string path = dir.file("dense.h5");
  const std::vector<float> values = {1.5f, -2.0f, 0.25f};
  {
    const hid_t access = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(access, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access);
    write_raw_string_attribute(file, "ttt_format", "ttt-trace");
    write_raw_int_attribute(file, "ttt_format_version", 1);
    H5Gclose(H5Gcreate2(file, "/tensors", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Gclose(H5Gcreate2(file, "/calls", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    const hid_t call = H5Gcreate2(file, "/calls/000000", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    write_raw_string_attribute(call, "name", "old.call");
    write_raw_string_attribute(call, "block", "ttt.scale");
    write_raw_string_attribute(call, "spec", R"({"shape": [3]})");
    write_raw_string_attribute(call, "impl_config", "{}");
    write_raw_string_attribute(call, "device", "N150");
    write_raw_string_attribute(call, "scalars", R"({"scale": 2.0})");
    write_raw_int_attribute(call, "device_ns", 11);
    write_raw_int_attribute(call, "reference_ns", 22);
    write_raw_string_attribute(call, "verdict", "fail");
    write_raw_string_attribute(call, "metrics", "{}");
    const hid_t inputs = H5Gcreate2(call, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[1] = {3};
    const hid_t space = H5Screate_simple(1, dims, nullptr);
    const hid_t x =
        H5Dcreate2(inputs, "x", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(x, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    write_raw_string_attribute(x, "ttt_dtype", "float32");
    H5Dclose(x);
    H5Sclose(space);
    H5Gclose(inputs);
    H5Gclose(H5Gcreate2(call, "outputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5O_info_t info{};
    H5Oget_info2(call, &info, H5O_INFO_META_SIZE);
    EXPECT_GT(info.meta_size.attr.heap_size, 0u) << "the attributes should be in dense storage";
    H5Gclose(call);
    H5Fclose(file);
    H5Pclose(access);
  }
  const TraceReader reader = TraceReader::open(path);
  const TraceCall call = reader.call(0);
  EXPECT_EQ(call.name, "old.call");
  EXPECT_EQ(call.block, "ttt.scale");
  EXPECT_EQ(call.spec_json, R"({"shape": [3]})");
  EXPECT_EQ(call.scalars_json, R"({"scale": 2.0})");
  EXPECT_EQ(call.device_ns, 11);
  EXPECT_EQ(call.reference_ns, 22);
  EXPECT_EQ(call.verdict, "fail");
  ASSERT_EQ(call.inputs.size(), 1u);
  const Tensor x = reader.read(call.inputs[0]);
  EXPECT_THAT(std::vector<float>(x.floats().begin(), x.floats().end()),
              ElementsAre(1.5f, -2.0f, 0.25f));
}

TEST(TraceSession, CallsFromManyThreadsAreEachWrittenWhole) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  constexpr int kThreads = 4;
  constexpr int kCallsPerThread = 25;
  {
    TraceSession session(path);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&session, t] {
        for (int i = 0; i < kCallsPerThread; ++i) {
          const int id = t * 1000 + i;
          session.capture(scale_call("thread" + std::to_string(t) + "." + std::to_string(i), id,
                                     {3, 5}, 1.0f + static_cast<float>(i)));
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(session.calls_written(), kThreads * kCallsPerThread);
  }
  const TraceReader reader = TraceReader::open(path);
  ASSERT_EQ(reader.sequence_numbers().size(), static_cast<std::size_t>(kThreads * kCallsPerThread));
  std::vector<int> next_index(kThreads, 0);
  for (const std::int64_t seq : reader.sequence_numbers()) {
    const TraceCall call = reader.call(seq);
    const int t = call.name[6] - '0';
    const int i = std::stoi(call.name.substr(8));
    EXPECT_EQ(i, next_index[t]++) << "each thread's calls keep their order";
    const CapturedCall expected =
        scale_call(call.name, t * 1000 + i, {3, 5}, 1.0f + static_cast<float>(i));
    EXPECT_EQ(reader.read(call.inputs[0]).at({2, 4}), expected.inputs[0].tensor.at({2, 4}));
    EXPECT_EQ(reader.read(call.outputs[0]).at({1, 1}), expected.outputs[0].tensor.at({1, 1}));
  }
}

TEST(TraceSession, JournalLivesWhileCapturingAndGoesAtClose) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  TraceSession session(path);
  session.capture(scale_call("a", 1, {4}, 1.0f));
  EXPECT_TRUE(std::filesystem::exists(path + ".journal"));
  try {
    TraceReader::open(path);
    ADD_FAILURE() << "a trace being written must not open";
  } catch (const TraceError& error) {
    EXPECT_THAT(error.what(), HasSubstr("ttt trace recover"));
  }
  session.close();
  session.close();
  EXPECT_FALSE(std::filesystem::exists(path + ".journal"));
  EXPECT_FALSE(session.wants("a"));
  session.capture(scale_call("b", 1, {4}, 1.0f));  // Ignored once closed.
  EXPECT_EQ(TraceReader::open(path).sequence_numbers().size(), 1u);
}

TEST(TraceSession, RefusesToOverwriteAnUnfinishedCapture) {
  ScratchDir dir;
  const std::string path = dir.file("t.h5");
  { std::ofstream(path + ".journal") << "x"; }
  EXPECT_THROW(TraceSession session(path), TraceError);
  EXPECT_THROW(TraceSession session(dir.file("missing/dir/t.h5")), TraceError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing/dir/t.h5.journal")));
}

TEST(ProcessWideSession, StartStopAndScopedGuard) {
  ScratchDir dir;
  ASSERT_EQ(active_trace_session(), nullptr) << "TTT_TRACE is not set in the test environment";
  {
    ScopedTrace guard(dir.file("a.h5"));
    ASSERT_EQ(active_trace_session(), &guard.session());
    active_trace_session()->capture(scale_call("x", 1, {2}, 1.0f));
    TraceSession& second = start_trace(dir.file("b.h5"));
    EXPECT_EQ(active_trace_session(), &second);
    EXPECT_FALSE(guard.session().wants("x")) << "starting another session closed the first";
    stop_trace();
    EXPECT_EQ(active_trace_session(), nullptr);
  }
  EXPECT_EQ(active_trace_session(), nullptr);
  EXPECT_EQ(TraceReader::open(dir.file("a.h5")).sequence_numbers().size(), 1u);
  EXPECT_EQ(TraceReader::open(dir.file("b.h5")).sequence_numbers().size(), 0u);
}

}  // namespace
}  // namespace ttt

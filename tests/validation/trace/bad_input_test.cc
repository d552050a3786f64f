// Bad input: every malformed file gives one TraceError naming the file and the path inside it,
// never a crash. Each case starts from a valid trace and breaks one thing with the raw HDF5 API.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "tests/common/raw_h5.h"
#include "tests/validation/trace/trace_test_util.h"
#include "validation/input/allocation_limit.h"
#include "validation/trace/capture.h"
#include "validation/trace/tensor_file.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using test_support::ScratchDir;
using test_support::set_string_attribute;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::scale_call;
using ::testing::StartsWith;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    TraceSession session(path_);
    session.capture(scale_call("layers.0", 1, {2, 3}, 2.0f));
  }

  // Opens the valid trace read-write, lets `edit` break it, closes it.
  void edit(const std::function<void(hid_t)>& change) {
    const hid_t file = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    change(file);
    H5Fclose(file);
  }

  // The message of the TraceError that reading the whole trace (every call, every tensor) throws.
  std::string read_error() {
    try {
      const TraceReader trace = TraceReader::open(path_);
      for (const std::int64_t seq : trace.sequence_numbers()) {
        const TraceCall call = trace.call(seq);
        for (const auto* list : {&call.inputs, &call.outputs, &call.reference_outputs}) {
          for (const TraceTensor& tensor : *list) trace.read(tensor);
        }
      }
    } catch (const TraceError& error) {
      EXPECT_EQ(error.file(), path_);
      return error.what();
    }
    return "(no error)";
  }

  ScratchDir dir_;
  std::string path_ = dir_.file("t.h5");
};

void set_int(hid_t object, const char* name, std::int64_t value) {
  if (H5Aexists(object, name) > 0) H5Adelete(object, name);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attribute = H5Acreate2(object, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, H5T_NATIVE_INT64, &value);
  H5Aclose(attribute);
  H5Sclose(space);
}

void replace_dataset(hid_t file, const char* path, hid_t type, hid_t space, const void* data,
                     hid_t memory_type) {
  H5Ldelete(file, path, H5P_DEFAULT);
  const hid_t dataset = H5Dcreate2(file, path, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (data != nullptr) H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(dataset);
}

TEST_F(BadInput, MissingFile) {
  try {
    TraceReader::open(dir_.file("absent.h5"));
    FAIL();
  } catch (const TraceError& error) {
    EXPECT_EQ(std::string(error.what()),
              dir_.file("absent.h5") + ": cannot open the file: No such file or directory");
  }
}

TEST_F(BadInput, NotAnHdf5File) {
  std::ofstream(path_, std::ios::trunc) << "just text, not HDF5\n";
  EXPECT_EQ(read_error(), path_ + ": not an HDF5 file (no HDF5 signature found)");
}

TEST_F(BadInput, TruncatedFile) {
  std::filesystem::resize_file(path_, std::filesystem::file_size(path_) / 2);
  EXPECT_THAT(read_error(), HasSubstr(path_ + ": cannot open the HDF5 file: "));
  EXPECT_THAT(read_error(), HasSubstr("truncated file"));
}

TEST_F(BadInput, ForeignHdf5File) {
  const hid_t file = H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(H5Gcreate2(file, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Fclose(file);
  EXPECT_EQ(read_error(), path_ +
                              ":/: not a ttt trace: the root has no attribute 'ttt_format' (an "
                              "HDF5 file written by something else?)");
}

TEST_F(BadInput, WrongFormatName) {
  edit([](hid_t file) { set_string_attribute(file, "ttt_format", "other-trace"); });
  EXPECT_EQ(read_error(), path_ +
                              ":/: not a ttt trace: attribute 'ttt_format' is \"other-trace\", "
                              "expected \"ttt-trace\"");
}

TEST_F(BadInput, NewerFormatVersion) {
  edit([](hid_t file) { set_int(file, "ttt_format_version", 2); });
  EXPECT_EQ(read_error(), path_ +
                              ":/: ttt_format_version 2 is newer than this reader understands "
                              "(1): upgrade tttv2");
}

TEST_F(BadInput, FormatVersionMissingOrNotAnInteger) {
  edit([](hid_t file) { H5Adelete(file, "ttt_format_version"); });
  EXPECT_EQ(read_error(), path_ + ":/: missing attribute 'ttt_format_version'");
  edit([](hid_t file) { set_string_attribute(file, "ttt_format_version", "1"); });
  EXPECT_EQ(read_error(), path_ + ":/: attribute 'ttt_format_version' is not an integer");
}

TEST_F(BadInput, MissingRequiredCallAttribute) {
  edit([](hid_t file) {
    const hid_t call = H5Gopen2(file, "/calls/000000", H5P_DEFAULT);
    H5Adelete(call, "block");
    H5Gclose(call);
  });
  EXPECT_EQ(read_error(), path_ + ":/calls/000000: missing attribute 'block'");
}

TEST_F(BadInput, CallAttributesThatAreNotWhatTheFormatSays) {
  edit([](hid_t file) {
    const hid_t call = H5Gopen2(file, "/calls/000000", H5P_DEFAULT);
    set_string_attribute(call, "spec", "{broken");
    H5Gclose(call);
  });
  EXPECT_THAT(read_error(),
              AllOf(StartsWith(path_ + ":/calls/000000: attribute 'spec': not JSON: "),
                    HasSubstr("('{broken')")));
  edit([](hid_t file) {
    const hid_t call = H5Gopen2(file, "/calls/000000", H5P_DEFAULT);
    set_string_attribute(call, "spec", "{}");
    set_string_attribute(call, "scalars", "[1, 2]");
    H5Gclose(call);
  });
  EXPECT_EQ(read_error(), path_ + ":/calls/000000: attribute 'scalars' is not a JSON object");
  edit([](hid_t file) {
    const hid_t call = H5Gopen2(file, "/calls/000000", H5P_DEFAULT);
    set_string_attribute(call, "scalars", "{}");
    set_string_attribute(call, "verdict", "maybe");
    H5Gclose(call);
  });
  EXPECT_EQ(read_error(), path_ +
                              ":/calls/000000: attribute 'verdict' is \"maybe\", expected pass, "
                              "fail or unchecked");
  edit([](hid_t file) {
    const hid_t call = H5Gopen2(file, "/calls/000000", H5P_DEFAULT);
    set_string_attribute(call, "verdict", "pass");
    set_string_attribute(call, "device_ns", "12");
    H5Gclose(call);
  });
  EXPECT_EQ(read_error(), path_ + ":/calls/000000: attribute 'device_ns' is not an integer");
}

TEST_F(BadInput, CallGroupNamesMustBeSequenceNumbers) {
  {
    const TraceReader trace = TraceReader::open(path_);
    try {
      trace.call(5);
      FAIL();
    } catch (const TraceError& error) {
      EXPECT_EQ(std::string(error.what()),
                path_ + ":/calls/000005: no such call (the trace has 1 calls)");
    }
  }
  edit([](hid_t file) {
    H5Gclose(H5Gcreate2(file, "/calls/first", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  });
  EXPECT_EQ(read_error(), path_ +
                              ":/calls/first: call group names must be decimal sequence numbers "
                              "(e.g. 000012)");
}

TEST_F(BadInput, UnsupportedDatasetTypes) {
  edit([](hid_t file) {
    const hsize_t dims[1] = {3};
    const hid_t space = H5Screate_simple(1, dims, nullptr);
    const std::uint16_t values[3] = {1, 2, 3};
    replace_dataset(file, "/calls/000000/inputs/x", H5T_STD_U16LE, space, values,
                    H5T_NATIVE_UINT16);
    H5Sclose(space);
  });
  EXPECT_EQ(read_error(), path_ +
                              ":/calls/000000/inputs/x: unsupported dataset type (16-bit unsigned "
                              "integer); supported: float32, float64, int32, int64");
  edit([](hid_t file) {
    const hid_t half = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(half, 15, 10, 5, 0, 10);
    H5Tset_precision(half, 16);
    H5Tset_size(half, 2);
    H5Tset_ebias(half, 15);
    const hsize_t dims[1] = {3};
    const hid_t space = H5Screate_simple(1, dims, nullptr);
    replace_dataset(file, "/calls/000000/inputs/x", half, space, nullptr, half);
    H5Sclose(space);
    H5Tclose(half);
  });
  EXPECT_THAT(read_error(), HasSubstr("unsupported dataset type (16-bit floating-point); "
                                      "supported: float32, float64, int32, int64; the trace "
                                      "format stores float16 values as float32"));
  edit([](hid_t file) {
    const hid_t space = H5Screate(H5S_NULL);
    replace_dataset(file, "/calls/000000/inputs/x", H5T_IEEE_F32LE, space, nullptr, 0);
    H5Sclose(space);
  });
  EXPECT_EQ(read_error(),
            path_ + ":/calls/000000/inputs/x: dataset has a null dataspace (no values)");
}

TEST_F(BadInput, TttDtypeUnknownContradictingOrNotRepresentable) {
  edit([](hid_t file) {
    const hid_t x = H5Dopen2(file, "/calls/000000/inputs/x", H5P_DEFAULT);
    set_string_attribute(x, "ttt_dtype", "bfloat7");
    H5Dclose(x);
  });
  EXPECT_THAT(read_error(), HasSubstr(":/calls/000000/inputs/x: attribute 'ttt_dtype' = "
                                      "\"bfloat7\" is not a dtype"));
  edit([](hid_t file) {
    const hid_t x = H5Dopen2(file, "/calls/000000/inputs/x", H5P_DEFAULT);
    set_string_attribute(x, "ttt_dtype", "int32");
    H5Dclose(x);
  });
  EXPECT_EQ(read_error(), path_ +
                              ":/calls/000000/inputs/x: attribute 'ttt_dtype' = \"int32\" "
                              "contradicts the dataset's float32 values");
  edit([](hid_t file) {
    const hid_t x = H5Dopen2(file, "/calls/000000/inputs/x", H5P_DEFAULT);
    // The values are random float32, not bfloat16.
    set_string_attribute(x, "ttt_dtype", "bfloat16");
    H5Dclose(x);
  });
  EXPECT_THAT(read_error(), HasSubstr(":/calls/000000/inputs/x: value "));
  EXPECT_THAT(read_error(), HasSubstr("at [0, 0] is not exactly representable in bfloat16"));
}

TEST_F(BadInput, GeneratorNodesThatCannotBeGenerated) {
  const auto generator = [&](const std::function<void(hid_t)>& fill) {
    edit([&](hid_t file) {
      H5Ldelete(file, "/calls/000000/inputs/x", H5P_DEFAULT);
      const hid_t group =
          H5Gcreate2(file, "/calls/000000/inputs/x", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      fill(group);
      H5Gclose(group);
    });
  };
  generator([](hid_t group) { set_string_attribute(group, "ttt_generator", "mersenne"); });
  EXPECT_THAT(read_error(), HasSubstr(":/calls/000000/inputs/x: unknown ttt_generator "
                                      "\"mersenne\" (known: splitmix64-normal"));
  generator([](hid_t group) { set_string_attribute(group, "ttt_generator", "splitmix64-normal"); });
  EXPECT_EQ(read_error(),
            path_ + ":/calls/000000/inputs/x: generator node has no attribute 'seed'");
  generator([](hid_t group) {
    set_string_attribute(group, "ttt_generator", "splitmix64-normal");
    set_int(group, "seed", 3);
    set_int(group, "shape", 4);
    set_int(group, "std", -1);
  });
  EXPECT_EQ(read_error(), path_ + ":/calls/000000/inputs/x: attribute 'std' is negative");
  generator([](hid_t group) {
    set_string_attribute(group, "ttt_generator", "splitmix64-uniform");
    set_int(group, "seed", 3);
    set_int(group, "shape", 4);
    set_int(group, "low", 1);
    set_int(group, "high", 1);
  });
  EXPECT_EQ(read_error(), path_ + ":/calls/000000/inputs/x: attribute 'low' must be below 'high'");
  generator([](hid_t group) {
    set_string_attribute(group, "ttt_generator", "splitmix64-normal");
    set_int(group, "seed", 3);
    const hsize_t rank[1] = {3};
    const std::int64_t dims[3] = {1 << 20, 1 << 20, 1 << 20};
    const hid_t space = H5Screate_simple(1, rank, nullptr);
    const hid_t attribute =
        H5Acreate2(group, "shape", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attribute, H5T_NATIVE_INT64, dims);
    H5Aclose(attribute);
    H5Sclose(space);
  });
  EXPECT_THAT(read_error(), HasSubstr("more than the allocation limit"));
  // 32 GiB of float32 from a node of a few bytes: refused before anything is drawn, naming the
  // node and the bytes against the allocation limit (the old cap counted elements, not bytes).
  generator([](hid_t group) {
    set_string_attribute(group, "ttt_generator", "splitmix64-normal");
    set_int(group, "seed", 3);
    set_int(group, "shape", std::int64_t{1} << 33);
  });
  set_allocation_limit(std::uint64_t{16} << 30);
  EXPECT_EQ(read_error(), path_ +
                              ":/calls/000000/inputs/x: shape [8589934592] of float32 needs 32.0 "
                              "GiB (34359738368 bytes), more than the allocation limit of 16.0 GiB "
                              "(TTT_MAX_ALLOC_BYTES)");
  set_allocation_limit(0);
}

TEST_F(BadInput, ExternalLinksAreRefused) {
  edit([](hid_t file) {
    H5Lcreate_external("elsewhere.h5", "/data", file, "/calls/000000/inputs/ext", H5P_DEFAULT,
                       H5P_DEFAULT);
  });
  EXPECT_EQ(read_error(), path_ +
                              ":/calls/000000/inputs/ext: is an external or user-defined link, "
                              "which traces do not use");
}

TEST_F(BadInput, TensorFilesNameTheFileAndTheDataset) {
  const auto message = [](const std::string& spec) {
    try {
      load_tensor_file(spec);
    } catch (const std::exception& error) {
      return std::string(error.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(message(path_ + ":/calls/000000/inputs/nope"),
            path_ +
                ":/calls/000000/inputs/nope: does not exist ('/calls/000000/inputs' has no "
                "member 'nope')");
  EXPECT_EQ(message(path_ + ":/calls/000009/inputs/x"),
            path_ + ":/calls/000009/inputs/x: does not exist ('/calls' has no member '000009')");
  EXPECT_EQ(message(path_ + ":/calls/000000/inputs"),
            path_ + ":/calls/000000/inputs: is a group, not a dataset (members: x)");
  EXPECT_EQ(message(path_), path_ + ": an HDF5 file needs the path of a dataset inside it: " +
                                path_ + ":/path/to/dataset");
  EXPECT_EQ(message(dir_.file("nope.h5") + ":/x"),
            dir_.file("nope.h5") + ": cannot open the file: No such file or directory");
}

}  // namespace
}  // namespace ttt

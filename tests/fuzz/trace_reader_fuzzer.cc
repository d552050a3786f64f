// libFuzzer target for the trace reader. Built only with -DTTT_BUILD_FUZZERS=ON (the `fuzz` CMake
// preset: clang, libraries instrumented, AddressSanitizer + UndefinedBehaviorSanitizer); see
// docs/testing.md "Fuzzing" and tools/fuzz_smoke.sh:
//
//   cmake --preset fuzz && cmake --build build/fuzz --target trace_reader_fuzzer
//   build/fuzz/tests/fuzz/trace_reader_fuzzer -max_total_time=300 /tmp/trace-corpus \
//       tests/fuzz/corpus/trace_reader
//
// The first input byte chooses what the rest is:
//   even: edits to a valid trace (structure-aware): each 4 bytes pick an object, an attribute or
//      dataset change and a value, so the reader's own checks meet valid HDF5 files with wrong
//      types, shapes, names and values;
//   odd: a whole file handed to the reader (this mostly exercises libhdf5's parser: a crash inside
//      libhdf5 on a corrupt file is an HDF5 bug, reported upstream, not a TTTv2 one). With
//      TTT_FUZZ_TRACE_EDITS_ONLY set, odd inputs are edits too: the CI smoke run uses it, because
//      libhdf5 1.10.8 hangs on corrupt files within a minute (docs/testing.md "Fuzzing").
// Capture journals and their recovery have their own target, journal_recovery_fuzzer.
// Every path must end in success or a std::exception; anything else (a crash, a sanitizer
// report, a hang) is a finding.
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>

#include "tests/fuzz/trace_template.h"

namespace {

const char* const kObjects[] = {
    "/",          "/calls/000000",          "/calls/000000/inputs/x", "/calls/000001/outputs/y",
    "/tensors/w", "/calls/000000/inputs/kv"};
const char* const kAttributes[] = {
    "ttt_format", "ttt_format_version", "name", "block", "spec", "scalars", "verdict",
    "ttt_dtype",  "ttt_generator",      "seed", "shape", "mean", "std",     "low",
    "high",       "device_ns"};
const char* const kStrings[] = {"ttt-trace",
                                "",
                                "{}",
                                "{\"scale\": 1e400}",
                                "[1]",
                                "bfloat16",
                                "int32",
                                "splitmix64-normal",
                                "splitmix64-integers",
                                "pass",
                                "{\"shape\": [3]}",
                                "\xff\xfe",
                                "ttt.scale",
                                "float16"};

void apply_edit(hid_t file, const std::uint8_t* op) {
  const char* object = kObjects[op[0] % std::size(kObjects)];
  const char* attribute = kAttributes[op[1] % std::size(kAttributes)];
  const hid_t target = H5Oopen(file, object, H5P_DEFAULT);
  if (target < 0) return;
  if (H5Aexists(target, attribute) > 0) H5Adelete(target, attribute);
  const hid_t scalar = H5Screate(H5S_SCALAR);
  switch (op[2] % 5) {
    case 0: {  // A string attribute.
      const hid_t type = H5Tcopy(H5T_C_S1);
      H5Tset_size(type, H5T_VARIABLE);
      const char* value = kStrings[op[3] % std::size(kStrings)];
      const hid_t a = H5Acreate2(target, attribute, type, scalar, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, type, &value);
      H5Aclose(a);
      H5Tclose(type);
      break;
    }
    case 1: {  // An integer attribute, of a signed or unsigned type.
      const std::int64_t value = static_cast<std::int8_t>(op[3]) * 1000003LL;
      const hid_t type = op[3] & 1 ? H5T_STD_U64LE : H5T_STD_I64LE;
      const hid_t a = H5Acreate2(target, attribute, type, scalar, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT64, &value);
      H5Aclose(a);
      break;
    }
    case 2: {  // An integer array attribute (a shape).
      const hsize_t count = op[3] % 10;
      const std::int64_t dims[9] = {op[3], 2, 0, 1, 1 << 20, 3, -1, 7, 1};
      const hid_t space = H5Screate_simple(1, &count, nullptr);
      const hid_t a = H5Acreate2(target, attribute, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT64, dims);
      H5Aclose(a);
      H5Sclose(space);
      break;
    }
    case 3: {  // Replace a dataset with another type and shape.
      H5Oclose(target);
      H5Sclose(scalar);
      if (H5Lexists(file, "/calls/000000/inputs/x", H5P_DEFAULT) > 0) {
        H5Ldelete(file, "/calls/000000/inputs/x", H5P_DEFAULT);
      }
      const hid_t types[] = {H5T_IEEE_F32LE, H5T_IEEE_F64BE, H5T_STD_I32LE,
                             H5T_STD_U8LE,   H5T_STD_I64BE,  H5T_C_S1};
      const hsize_t dims[3] = {op[3] % 3u, 2, 2};
      const int rank = op[3] % 4;
      const hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, nullptr);
      const hid_t set = H5Dcreate2(file, "/calls/000000/inputs/x", types[op[1] % 6], space,
                                   H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (set >= 0) H5Dclose(set);
      H5Sclose(space);
      return;
    }
    default: {  // A new group with a name from the input, under /calls or inputs.
      H5Oclose(target);
      H5Sclose(scalar);
      const std::string name = std::string(op[1] % 2 == 0 ? "/calls/" : "/calls/000001/inputs/") +
                               std::to_string(op[3]) + (op[3] & 1 ? "x" : "");
      const hid_t group = H5Gcreate2(file, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (group >= 0) H5Gclose(group);
      return;
    }
  }
  H5Sclose(scalar);
  H5Oclose(target);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ready = (ttt::fuzz::write_template(), true);
  (void)ready;
  static const bool edits_only = std::getenv("TTT_FUZZ_TRACE_EDITS_ONLY") != nullptr;
  if (size == 0) return 0;
  const bool edit_template = edits_only || data[0] % 2 == 0;
  ++data;
  --size;
  if (edit_template) {
    ttt::fuzz::copy_file(ttt::fuzz::kTemplate(), ttt::fuzz::kTrace());
    const hid_t file = H5Fopen(ttt::fuzz::kTrace().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    if (file < 0) return 0;
    for (std::size_t i = 0; i + 4 <= size && i < 64; i += 4) apply_edit(file, data + i);
    H5Fclose(file);
  } else {
    ttt::fuzz::write_input("trace.h5", data, size);
  }
  ttt::fuzz::read_everything(ttt::fuzz::kTrace());
  return 0;
}

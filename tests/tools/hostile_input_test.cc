// Hostile input through every `ttt` command that reads it (docs/cli.md "Input limits"), run as
// subprocesses: JSON nested 65536 levels deep, FIFOs given as input files, and files of a few KB
// declaring gigabytes. Each must exit 2 promptly with one line naming the file, without a crash, a
// hang (commands run under `timeout`: 124 would mean it hung) or a large allocation (the peak RSS
// of the children is checked).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/tools/cli_run.h"
#include "tests/validation/trace/trace_test_util.h"
#include "validation/trace/capture.h"

namespace ttt {
namespace {

using cli_test::RunResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr hsize_t kHugeElements = hsize_t{1} << 31;  // 8 GiB of float32.

class HostileInput : public ::testing::Test {
 protected:
  // Runs ttt with `args` under `timeout 20`, with TTT_MAX_ALLOC_BYTES unset (the default limit).
  RunResult ttt(const std::vector<std::string>& args) {
    return cli_test::run_shell(
        dir_.file(""), "env -u TTT_MAX_ALLOC_BYTES timeout 20 " + cli_test::ttt_command(args));
  }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.file(name), std::ios::binary) << text;
    return dir_.file(name);
  }

  std::string fifo(const std::string& name) {
    const std::string file = dir_.file(name);
    EXPECT_EQ(::mkfifo(file.c_str(), 0600), 0);
    return file;
  }

  // Valid results of a one-case suite, from `ttt suite run`.
  std::string results() {
    const std::string suite = write("tiny.json", R"({"suite": "tiny", "seed": 7,
      "defaults": {"shapes": {"batch": 1, "seq_len": 4}, "expect": {"pcc": 0.99}},
      "cases": [{"block": "rms_norm", "mode": "prefill", "spec": {"dim": 8}}]})");
    const RunResult run = ttt({"suite", "run", suite, "--json", dir_.file("R.json"), "--quiet"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return dir_.file("R.json");
  }

  test_support::ScratchDir dir_;
};

// The largest resident set of any child process so far, in MiB.
long peak_child_rss_mib() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  return usage.ru_maxrss / 1024;
}

// Creates `path` in `file`: a chunked float32 dataset of shape [2^31] with no chunk written, so the
// file stays a few KB while the dataset declares 8 GiB.
void create_huge_dataset(hid_t file, const char* path) {
  const hsize_t dims[1] = {kHugeElements};
  const hsize_t chunk[1] = {hsize_t{1} << 20};
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t create = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(create, 1, chunk);
  const hid_t dataset =
      H5Dcreate2(file, path, H5T_IEEE_F32LE, space, H5P_DEFAULT, create, H5P_DEFAULT);
  EXPECT_GE(dataset, 0) << path;
  H5Dclose(dataset);
  H5Pclose(create);
  H5Sclose(space);
}

// What a huge dataset's reader says: the declared bytes against the bytes the file stores.
std::string huge_dataset_error(const std::string& file, const std::string& dataset) {
  return file + ":" + dataset +
         ": shape [2147483648] of float32 declares 8589934592 bytes but the file stores 0 for "
         "the dataset (unwritten chunks or a truncated file)";
}

TEST_F(HostileInput, DeepJsonIsRefusedByEveryCommandThatReadsJson) {
  const std::string deep = write("deep.json", std::string(65536, '[') + std::string(65536, ']'));
  ASSERT_EQ(std::filesystem::file_size(deep), 131072u);
  const std::string ok = results();
  const std::string model_suite = std::string(TTT_SOURCE_DIR) + "/suites/llama-3.2-1b.json";
  const std::string refused = deep + ": JSON nested deeper than 128 levels (at byte 128)";
  const std::string catalog = dir_.file("catalog");
  std::filesystem::create_directory(catalog);
  std::filesystem::copy_file(deep, catalog + "/models.json");
  write("catalog/domains.json", "{}");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"suite", "check", deep}, refused},
      {{"suite", "list", deep}, refused},
      {{"suite", "run", deep}, refused},
      {{"compose", deep, "--results", ok}, refused},
      {{"compose", model_suite, "--results", deep}, refused},
      {{"suite", "merge", ok, deep}, refused},
      {{"gate", "--results", deep}, refused},
      {{"gate", "--results", ok, "--baseline", deep}, refused},
      {{"gate", "--results", ok, "--policy", deep}, refused},
      // Coverage data is JSON Lines: the line is named too.
      {{"gate", "--results", ok, "--coverage", deep},
       deep + ":1: JSON nested deeper than 128 levels (at byte 128)"},
      {{"coverage", "report", deep}, deep + ":1: JSON nested deeper than 128 levels (at byte 128)"},
      {{"coverage", "merge", deep, "-o", dir_.file("merged.jsonl")},
       deep + ":1: JSON nested deeper than 128 levels (at byte 128)"},
      {{"coverage", "report", ok, "--catalog", catalog},
       "[catalog] " + catalog + "/models.json: JSON nested deeper than 128 levels (at byte 128)"},
  };
  for (const Case& c : cases) {
    const RunResult run = ttt(c.args);
    const std::string command = c.args[0] + " " + c.args[1];
    EXPECT_EQ(run.exit_code, 2) << command << ": " << run.err;
    EXPECT_EQ(run.err, "ttt: error: " + c.message + "\n") << command;
  }
}

TEST_F(HostileInput, FifoInputsFailAtOnceInsteadOfBlocking) {
  const std::string npy = fifo("actual.npy");
  const std::string suite = fifo("suite.json");
  const std::string coverage = fifo("coverage.jsonl");
  const std::string gate_results = fifo("results.json");
  const std::string sample = std::string(TTT_BINARY_DIR) + "/samples/reference.npy";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"compare", npy, sample}, npy},
      {{"suite", "check", suite}, suite},
      {{"coverage", "report", coverage}, coverage},
      {{"gate", "--results", gate_results}, gate_results},
  };
  for (const auto& [args, file] : cases) {
    const RunResult run = ttt(args);
    ASSERT_NE(run.exit_code, 124) << args[0] << " blocked on the FIFO " << file;
    EXPECT_EQ(run.exit_code, 2) << args[0] << ": " << run.err;
    EXPECT_EQ(run.err, "ttt: error: " + file + ": not a regular file (a FIFO)\n") << args[0];
  }
}

TEST_F(HostileInput, HdfDatasetDeclaringGigabytesItDoesNotStoreIsRefused) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string file = dir_.file("huge.h5");
  const hid_t h5 = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(h5, 0);
  create_huge_dataset(h5, "/d");
  H5Fclose(h5);
  EXPECT_LT(std::filesystem::file_size(file), 4096u);
  const RunResult run = ttt({"compare", file + ":/d", file + ":/d"});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_EQ(run.err, "ttt: error: " + huge_dataset_error(file, "/d") + "\n");
  EXPECT_LT(peak_child_rss_mib(), 256);
}

// A trace whose call 0 has an input declaring 8 GiB: `ttt inspect --call` and `ttt replay` read
// the call's tensors and must refuse it before allocating.
TEST_F(HostileInput, TraceInputDeclaringGigabytesIsRefusedByInspectAndReplay) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string trace = dir_.file("t.h5");
  {
    TraceSession session(trace);
    session.capture(testing::scale_call("layers.0", 1, {2, 3}, 2.0f));
  }
  const hid_t h5 = H5Fopen(trace.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(h5, 0);
  H5Ldelete(h5, "/calls/000000/inputs/x", H5P_DEFAULT);
  create_huge_dataset(h5, "/calls/000000/inputs/x");
  H5Fclose(h5);
  const std::string expected = huge_dataset_error(trace, "/calls/000000/inputs/x");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"inspect", trace, "--call", "0"},
        std::vector<std::string>{"replay", trace}}) {
    const RunResult run = ttt(args);
    EXPECT_EQ(run.exit_code, 2) << args[0] << ": " << run.err;
    EXPECT_EQ(run.err, "ttt: error: " + expected + "\n") << args[0];
  }
  EXPECT_LT(peak_child_rss_mib(), 256);
}

// Traces hold JSON in attributes (a call's spec, impl_config, scalars): the same depth limit
// applies to `ttt inspect --call` and `ttt replay`, which name the file, the call and the
// attribute.
TEST_F(HostileInput, DeepJsonInATraceAttributeIsRefused) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string trace = dir_.file("t.h5");
  {
    TraceSession session(trace);
    session.capture(testing::scale_call("layers.0", 1, {2, 3}, 2.0f));
  }
  const std::string deep = std::string(65536, '[') + std::string(65536, ']');
  const hid_t h5 = H5Fopen(trace.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(h5, 0);
  const hid_t call = H5Gopen2(h5, "/calls/000000", H5P_DEFAULT);
  H5Adelete(call, "spec");
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attribute = H5Acreate2(call, "spec", type, space, H5P_DEFAULT, H5P_DEFAULT);
  const char* text = deep.c_str();
  EXPECT_GE(H5Awrite(attribute, type, &text), 0);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
  H5Gclose(call);
  H5Fclose(h5);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"inspect", trace, "--call", "0"},
        std::vector<std::string>{"replay", trace}}) {
    const RunResult run = ttt(args);
    EXPECT_EQ(run.exit_code, 2) << args[0] << ": " << run.err;
    EXPECT_EQ(run.err, "ttt: error: " + trace +
                           ":/calls/000000: attribute 'spec': JSON nested deeper than 128 levels "
                           "(at byte 128) ('" +
                           std::string(80, '[') + "')\n")
        << args[0];  // The message quotes the attribute's first 80 characters.
  }
}

TEST_F(HostileInput, NpyHeaderDeclaringGigabytesIsRefused) {
  // A version 1.0 header padded to 64 bytes, then 16 data bytes where 8 GiB are declared.
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648,), }";
  header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  const std::string file = write("huge.npy", bytes + header + std::string(16, '\0'));
  const RunResult run = ttt({"compare", file, file});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_EQ(run.err, "ttt: error: [read_npy] " + file +
                         ": truncated data: shape [2147483648] of <f4 needs 8589934592 data "
                         "bytes, the file has 16\n");
  EXPECT_LT(peak_child_rss_mib(), 256);
}

}  // namespace
}  // namespace ttt

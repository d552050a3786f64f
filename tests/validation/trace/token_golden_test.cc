// Token goldens (validation/trace/token_golden.h): the file round-trips every value, and bad
// files or contents are refused naming the file and what is wrong. Some files are written with
// the raw HDF5 C API, as another tool would.
#include "validation/trace/token_golden.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "validation/trace/trace_error.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;

// Two prompt tokens, one continuation token, top-5 of a vocabulary of 8.
TokenGolden small_golden() {
  TokenGolden golden;
  golden.prompt = {3, 5};
  golden.continuation = {7};
  golden.top_k = 5;
  golden.top_ids = {5, 1, 2, 3, 4,  //
                    7, 0, 1, 2, 3,  //
                    6, 5, 4, 3, 2};
  golden.top_log_probs = {-0.1,  -2.5,  -3.0, -3.0,  -4.0,  //
                          -0.5,  -1.0,  -1.5, -2.0,  -2.5,  //
                          -0.25, -0.75, -3.5, -3.75, -5.0};
  golden.provenance.model = "tiny";
  golden.provenance.vocab_size = 8;
  golden.provenance.weights_hash = "fnv1a64:0123456789abcdef";
  golden.provenance.reference = "hand-made";
  golden.provenance.numerics = "none";
  return golden;
}

// Writes `path` with the raw HDF5 API: a string attribute ttt_format and, when `version` >= 0,
// an int64 ttt_format_version.
void write_raw_file(const std::string& path, const char* format, std::int64_t version) {
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const hid_t scalar = H5Screate(H5S_SCALAR);
  const hid_t attribute = H5Acreate2(file, "ttt_format", type, scalar, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, type, &format);
  H5Aclose(attribute);
  if (version >= 0) {
    const hid_t number =
        H5Acreate2(file, "ttt_format_version", H5T_STD_I64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(number, H5T_NATIVE_INT64, &version);
    H5Aclose(number);
  }
  H5Sclose(scalar);
  H5Tclose(type);
  H5Fclose(file);
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "no error";
}

TEST(TokenGolden, RoundTripsEveryValue) {
  test_support::ScratchDir scratch;
  const std::string path = scratch.file("golden.h5");
  const TokenGolden written = small_golden();
  write_token_golden(path, written);
  const TokenGolden read = read_token_golden(path);
  EXPECT_EQ(read.prompt, (std::vector<std::int64_t>{3, 5}));
  EXPECT_EQ(read.continuation, (std::vector<std::int64_t>{7}));
  EXPECT_EQ(read.tokens(), (std::vector<std::int64_t>{3, 5, 7}));
  EXPECT_EQ(read.top_k, 5);
  EXPECT_EQ(read.top_ids, written.top_ids);
  EXPECT_EQ(read.top_log_probs, written.top_log_probs);  // float64, exactly.
  EXPECT_EQ(read.top_id(1, 0), 7);
  EXPECT_EQ(read.top_id(2, 4), 2);
  EXPECT_EQ(read.provenance.model, "tiny");
  EXPECT_EQ(read.provenance.vocab_size, 8);
  EXPECT_EQ(read.provenance.weights_hash, "fnv1a64:0123456789abcdef");
  EXPECT_EQ(read.provenance.reference, "hand-made");
  EXPECT_EQ(read.provenance.numerics, "none");
  EXPECT_THAT(read.provenance.producer, ::testing::StartsWith("tttv2 "));
  EXPECT_THAT(read.provenance.created_utc, ::testing::MatchesRegex("20[0-9-]+T[0-9:]+Z"));

  // The layout other tools read: the format attribute and /top_ids [positions, top_k] int64.
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hid_t dataset = H5Dopen2(file, "/top_ids", H5P_DEFAULT);
  const hid_t space = H5Dget_space(dataset);
  hsize_t dims[2] = {0, 0};
  EXPECT_EQ(H5Sget_simple_extent_dims(space, dims, nullptr), 2);
  EXPECT_EQ(dims[0], 3u);
  EXPECT_EQ(dims[1], 5u);
  H5Sclose(space);
  H5Dclose(dataset);
  EXPECT_GT(H5Aexists(file, "ttt_format"), 0);
  H5Fclose(file);
}

TEST(TokenGolden, ContractViolationsNameWhatIsWrong) {
  const auto problem = [](const std::function<void(TokenGolden&)>& change) {
    TokenGolden golden = small_golden();
    change(golden);
    return error_of([&] { validate_token_golden(golden, "g.h5"); });
  };
  EXPECT_EQ(problem([](TokenGolden& g) { g.top_k = 4; }),
            "[token_golden] g.h5: top_k 4 is not in [5, vocab_size 8]");
  EXPECT_EQ(problem([](TokenGolden& g) { g.prompt.clear(); }),
            "[token_golden] g.h5: the prompt is empty");
  EXPECT_EQ(problem([](TokenGolden& g) { g.continuation = {8}; }),
            "[token_golden] g.h5: token 8 is outside the vocabulary [0, 8)");
  EXPECT_EQ(problem([](TokenGolden& g) { g.top_ids.pop_back(); }),
            "[token_golden] g.h5: top_ids and top_log_probs hold 14 and 15 values, expected "
            "positions x top_k = 15");
  EXPECT_EQ(problem([](TokenGolden& g) { g.top_ids[6] = 7; }),
            "[token_golden] g.h5: position 1 rank 1: id 7 repeats");
  EXPECT_EQ(problem([](TokenGolden& g) { g.top_log_probs[2] = -2.0; }),
            "[token_golden] g.h5: position 0 rank 2: log-probabilities are not in "
            "non-increasing order");
  EXPECT_THAT(problem([](TokenGolden& g) { g.top_log_probs[0] = 0.5; }),
              HasSubstr("position 0 rank 0: log-probability 0.500000 is not finite and <= 0"));
  EXPECT_EQ(problem([](TokenGolden& g) { g.provenance.weights_hash.clear(); }),
            "[token_golden] g.h5: the weights hash is empty");

  test_support::ScratchDir scratch;
  TokenGolden bad = small_golden();
  bad.top_k = 4;
  EXPECT_THROW(write_token_golden(scratch.file("bad.h5"), bad), std::invalid_argument);
}

TEST(TokenGolden, OtherFilesAreRefusedNamingTheFile) {
  test_support::ScratchDir scratch;
  const std::string trace = scratch.file("trace.h5");
  write_raw_file(trace, "ttt-trace", 1);
  EXPECT_EQ(error_of([&] { read_token_golden(trace); }),
            trace +
                ": not a token golden: its ttt_format attribute is 'ttt-trace', expected "
                "'ttt-token-golden' (ttt accuracy --make-golden writes one; "
                "docs/trace-format.md \"Token goldens\")");

  const std::string future = scratch.file("future.h5");
  write_raw_file(future, "ttt-token-golden", 2);
  EXPECT_EQ(error_of([&] { read_token_golden(future); }),
            future +
                ": token golden format version 2 is not supported (this TTTv2 reads "
                "version 1)");

  // The right attributes but no datasets.
  const std::string empty = scratch.file("empty.h5");
  write_raw_file(empty, "ttt-token-golden", 1);
  EXPECT_THAT(error_of([&] { read_token_golden(empty); }),
              HasSubstr(empty + ":/@model: missing attribute"));

  EXPECT_THROW(read_token_golden(scratch.file("missing.h5")), TraceError);
}

TEST(TokenGolden, ContentsBreakingTheContractAreRefusedWhenRead) {
  test_support::ScratchDir scratch;
  const std::string path = scratch.file("golden.h5");
  write_token_golden(path, small_golden());
  // Rewrite one log-probability as positive with the raw API.
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hid_t dataset = H5Dopen2(file, "/top_log_probs", H5P_DEFAULT);
  std::vector<double> values(15);
  H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  values[5] = 1.5;
  H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Dclose(dataset);
  H5Fclose(file);
  EXPECT_THAT(error_of([&] { read_token_golden(path); }),
              HasSubstr("[token_golden] " + path + ": position 1 rank 0: log-probability"));
}

}  // namespace
}  // namespace ttt

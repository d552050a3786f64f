// `ttt compare`, run as a subprocess: verdicts and exit codes, the text and JSON output, every
// threshold flag, HDF5 inputs with ttt_dtype, and every bad-input path (exit 2, one line).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "validation/tensor/npy.h"
#include "validation/tensor/random.h"
#include "validation/trace/capture.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::run_ttt;
using cli_test::RunResult;

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kNpyData = std::string(TTT_TEST_DATA_DIR) + "/npy/";
const std::string kH5 = std::string(TTT_TEST_DATA_DIR) + "/compare/tensors.h5";
const std::string kSampleDevice = std::string(TTT_BINARY_DIR) + "/samples/device.npy";
const std::string kSampleReference = std::string(TTT_BINARY_DIR) + "/samples/reference.npy";

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

class CompareCommand : public ::testing::Test {
 protected:
  // Runs `ttt compare <args>`.
  RunResult compare(std::vector<std::string> args) {
    args.insert(args.begin(), "compare");
    return run_ttt(scratch_.path(), args);
  }

  // `--json -`: the JSON alone on standard output.
  nlohmann::json compare_json(std::vector<std::string> args, int expected_exit) {
    args.push_back("--json");
    args.push_back("-");
    const RunResult result = compare(args);
    EXPECT_EQ(result.exit_code, expected_exit) << result.out << result.err;
    EXPECT_EQ(count_lines(result.out), 1) << result.out;
    return nlohmann::json::parse(result.out);
  }

  // Writes `tensor` as <name>.npy in this test's directory and returns the path.
  std::string npy(const std::string& name, const Tensor& tensor) {
    const std::string path = scratch_.file((name + ".npy"));
    write_npy(path, tensor);
    return path;
  }

  std::string file(const std::string& name, const std::string& bytes) {
    const std::string path = scratch_.file(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  test_support::ScratchDir scratch_;
};

TEST_F(CompareCommand, TheBuildsSamplesPassWithBfloat8Defaults) {
  const RunResult result = compare({kSampleDevice, kSampleReference, "--dtype", "bfloat8_b"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("actual:   " + kSampleDevice));
  EXPECT_THAT(result.out, HasSubstr("expected: " + kSampleReference));
  EXPECT_THAT(result.out,
              HasSubstr("checked:  nmse <= 0.0009765625, non-finite values match (defaults for "
                        "bfloat8_b vs float32)"));
  EXPECT_THAT(result.out, HasSubstr("\nPASS\n"));
  EXPECT_EQ(result.err, "");
}

TEST_F(CompareCommand, TheSamplesFailFloat32DefaultsWithoutDtype) {
  const RunResult result = compare({kSampleDevice, kSampleReference});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("(defaults for float32 vs float32)"));
  EXPECT_THAT(result.out, HasSubstr("\nFAIL\n  nmse 5.272e-05 > 2.3283064365386963e-10\n"));
}

TEST_F(CompareCommand, JsonHasEveryDocumentedKeyWithTheRightValues) {
  const Tensor device = read_npy(kSampleDevice);
  const Tensor reference = read_npy(kSampleReference);
  // The largest error, found here independently of the metrics engine.
  double max_abs = -1.0;
  std::int64_t max_index = -1;
  for (std::int64_t i = 0; i < device.numel(); ++i) {
    const double error = std::abs(device.at_flat(i) - reference.at_flat(i));
    if (error > max_abs) {
      max_abs = error;
      max_index = i;
    }
  }
  const nlohmann::json json =
      compare_json({kSampleDevice, kSampleReference, "--dtype", "bfloat8_b"}, 0);
  for (const char* key : {"pcc", "max_abs_error", "max_abs_error_index", "mean_abs_error", "rmse",
                          "nmse", "max_rel_error", "cosine_similarity", "max_ulp_error", "allclose",
                          "mismatched", "mismatched_fraction", "nan_actual", "nan_expected",
                          "inf_actual", "inf_expected", "quantiles", "passed", "failures"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  for (const char* key : {"p50", "p90", "p99"}) EXPECT_TRUE(json["quantiles"].contains(key));
  EXPECT_DOUBLE_EQ(json["max_abs_error"].get<double>(), max_abs);
  EXPECT_EQ(json["max_abs_error_index"].get<std::int64_t>(), max_index);
  EXPECT_GT(json["pcc"].get<double>(), 0.9999);
  EXPECT_LE(json["pcc"].get<double>(), 1.0);
  EXPECT_LE(json["quantiles"]["p50"].get<double>(), json["quantiles"]["p99"].get<double>());
  EXPECT_EQ(json["allclose"], true);
  EXPECT_EQ(json["mismatched"], 0);
  EXPECT_EQ(json["passed"], true);
  EXPECT_EQ(json["failures"], nlohmann::json::array());
  EXPECT_EQ(json["tolerance_dtype"], "bfloat8_b");
  EXPECT_EQ(json["tolerances"]["nmse"], 0x1p-10);  // default_tolerances(bfloat8_b).
  EXPECT_FALSE(json["tolerances"].contains("pcc"));
  EXPECT_EQ(json["tolerances"]["require_allclose"], false);
}

TEST_F(CompareCommand, JsonWritesNonFiniteNumbersAsNull) {
  // sum e^2 == 0 with a != e makes nmse infinite; NaN facing NaN is a match.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::string actual = npy("actual", Tensor::from_floats({4}, {1.0f, 2.0f, nan, 0.5f}));
  const std::string expected = npy("expected", Tensor::from_floats({4}, {0.0f, 0.0f, nan, 0.0f}));
  const nlohmann::json json = compare_json({actual, expected, "--max-abs", "5"}, 0);
  EXPECT_TRUE(json["nmse"].is_null()) << json.dump();
  EXPECT_EQ(json["nan_actual"], 1);
  EXPECT_EQ(json["nan_expected"], 1);
  EXPECT_EQ(json["max_abs_error"], 2.0);
  EXPECT_EQ(json["passed"], true);
}

TEST_F(CompareCommand, FailureLinesNameTheMetricTheValueTheThresholdAndTheIndex) {
  const Tensor expected = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor actual = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5.5f, 6});
  const RunResult result =
      compare({npy("a", actual), npy("e", expected), "--max-abs", "0.1", "--pcc", "0.99"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, HasSubstr("checked:  pcc >= 0.99, max_abs_error <= 0.1, non-finite "
                                    "values match\nFAIL\n  max_abs_error 0.5 > 0.1 at [1, 1]\n"));
}

struct ThresholdCase {
  const char* flag;
  const char* value;
  const char* failure_prefix;  // The start of the failure line it causes.
};

class CompareThresholds : public CompareCommand,
                          public ::testing::WithParamInterface<ThresholdCase> {};

TEST_P(CompareThresholds, EachFlagIsCheckedAndOnlyIt) {
  const ThresholdCase& threshold = GetParam();
  const nlohmann::json failing =
      compare_json({kSampleDevice, kSampleReference, threshold.flag, threshold.value}, 1);
  ASSERT_EQ(failing["failures"].size(), 1u) << failing["failures"].dump();
  EXPECT_THAT(failing["failures"][0].get<std::string>(), StartsWith(threshold.failure_prefix));
  // A loose value of the same flag passes: nothing else is checked.
  const char* loose = std::string(threshold.failure_prefix).starts_with("pcc") ||
                              std::string(threshold.failure_prefix).starts_with("cosine")
                          ? "-1"
                          : "1e30";
  compare_json({kSampleDevice, kSampleReference, threshold.flag, loose}, 0);
}

INSTANTIATE_TEST_SUITE_P(Flags, CompareThresholds,
                         ::testing::Values(ThresholdCase{"--pcc", "1", "pcc "},
                                           ThresholdCase{"--max-abs", "0.01", "max_abs_error "},
                                           ThresholdCase{"--mean-abs", "1e-4", "mean_abs_error "},
                                           ThresholdCase{"--rmse", "1e-4", "rmse "},
                                           ThresholdCase{"--nmse", "1e-7", "nmse "},
                                           ThresholdCase{"--max-rel", "0.5", "max_rel_error "},
                                           ThresholdCase{"--cosine", "1", "cosine_similarity "},
                                           ThresholdCase{"--max-ulp", "10", "max_ulp_error "},
                                           ThresholdCase{"--atol", "1e-3", "allclose"}),
                         [](const ::testing::TestParamInfo<ThresholdCase>& param_info) {
                           std::string name = param_info.param.flag + 2;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST_F(CompareCommand, AllcloseFlagsUseTheGivenOrDefaultTolerances) {
  // --allclose alone: the defaults (bfloat8_b's with --dtype).
  EXPECT_EQ(compare({kSampleDevice, kSampleReference, "--allclose"}).exit_code, 1);
  EXPECT_EQ(
      compare({kSampleDevice, kSampleReference, "--allclose", "--dtype", "bfloat8_b"}).exit_code,
      0);
  // --atol and --rtol imply --allclose.
  const RunResult loose =
      compare({kSampleDevice, kSampleReference, "--atol", "0.05", "--rtol", "0"});
  EXPECT_EQ(loose.exit_code, 0) << loose.out;
  EXPECT_THAT(loose.out, HasSubstr("checked:  allclose (rtol 0, atol 0.05), non-finite values"));
  // --mismatched-fraction tolerates a share of allclose mismatches instead of requiring none.
  const nlohmann::json some =
      compare_json({kSampleDevice, kSampleReference, "--atol", "0.015", "--rtol", "0"}, 1);
  const double fraction = some["mismatched_fraction"].get<double>();
  ASSERT_GT(fraction, 0.01);
  ASSERT_LT(fraction, 0.05);
  EXPECT_EQ(compare({kSampleDevice, kSampleReference, "--atol", "0.015", "--rtol", "0",
                     "--mismatched-fraction", "0.05"})
                .exit_code,
            0);
  const nlohmann::json over = compare_json({kSampleDevice, kSampleReference, "--atol", "0.015",
                                            "--rtol", "0", "--mismatched-fraction", "0.01"},
                                           1);
  EXPECT_THAT(over["failures"][0].get<std::string>(), StartsWith("mismatched_fraction "));
  EXPECT_EQ(compare({kSampleDevice, kSampleReference, "--mismatched-fraction", "0.01"}).exit_code,
            1)
      << "float32 defaults: nearly every value mismatches";
  const nlohmann::json within = compare_json(
      {kSampleDevice, kSampleReference, "--dtype", "bfloat8_b", "--mismatched-fraction", "0"}, 0);
  EXPECT_EQ(within["mismatched"], 0);
}

TEST_F(CompareCommand, NonFiniteMismatchFailsUnlessAllowed) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::string actual = npy("a", Tensor::from_floats({3}, {1.0f, inf, 3.0f}));
  const std::string expected = npy("e", Tensor::from_floats({3}, {1.0f, -inf, 3.0f}));
  const RunResult strict = compare({actual, expected, "--max-abs", "1"});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_THAT(strict.out, HasSubstr("FAIL"));
  EXPECT_EQ(compare({actual, expected, "--max-abs", "1", "--allow-nonfinite"}).exit_code, 0);
}

TEST_F(CompareCommand, ReadsHdf5DatasetsAndTheirTttDtype) {
  // ttt_dtype = "bfloat16": bfloat16's defaults apply without --dtype.
  const RunResult result = compare({kH5 + ":/device_bf16", kH5 + ":/reference"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("(defaults for bfloat16 vs float32)"));
  // float64 datasets load as float64: the float32 values widened exactly, so no error.
  const nlohmann::json same = compare_json({kH5 + ":/reference_f64", kH5 + ":/reference"}, 0);
  EXPECT_EQ(same["max_abs_error"], 0.0);
  // Integers, nested paths, and .npy against HDF5.
  const std::string ids = npy("ids", Tensor::from_int64({2, 3}, {0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(compare({kH5 + ":/nested/ids_i32", ids}).exit_code, 0);
  EXPECT_EQ(compare({kH5 + ":/nested/ids_i64", kH5 + ":/nested/ids_i32"}).exit_code, 0);
  const std::string other = npy("other", Tensor::from_int64({2, 3}, {0, 1, 2, 3, 4, 6}));
  EXPECT_EQ(compare({kH5 + ":/nested/ids_i64", other}).exit_code, 1);
}

TEST_F(CompareCommand, ReadsEveryNpyTypeAndVersion) {
  const std::string f4 = kNpyData + "f4_2x3.npy";
  EXPECT_EQ(compare({kNpyData + "v2_f4_2x3.npy", f4}).exit_code, 0);
  EXPECT_EQ(compare({kNpyData + "v3_f4_2x3.npy", f4}).exit_code, 0);
  EXPECT_EQ(compare({kNpyData + "f2_6.npy", kNpyData + "f2_6.npy"}).exit_code, 0);
  EXPECT_EQ(compare({kNpyData + "i8_4.npy", kNpyData + "i8_4.npy"}).exit_code, 0);
  EXPECT_EQ(compare({kNpyData + "scalar_f4.npy", kNpyData + "scalar_f4.npy"}).exit_code, 0);
  EXPECT_EQ(compare({kNpyData + "empty_f4_0x3.npy", kNpyData + "empty_f4_0x3.npy"}).exit_code, 0);
}

struct BadInput {
  const char* name;
  std::vector<std::string> args;  // "$TMP" stands for the test's directory.
  std::string message;            // Expected in the one stderr line.
};

class CompareBadInput : public CompareCommand, public ::testing::WithParamInterface<BadInput> {};

TEST_P(CompareBadInput, ExitsTwoWithOneLineNamingTheProblem) {
  const std::string good = kNpyData + "f4_2x3.npy";
  file("not_hdf5.h5", "this is text, not HDF5\n");
  std::vector<std::string> args;
  for (std::string arg : GetParam().args) {
    if (arg == "GOOD") arg = good;
    const std::size_t tmp = arg.find("$TMP");
    if (tmp != std::string::npos) arg.replace(tmp, 4, scratch_.path().string());
    args.push_back(arg);
  }
  const RunResult result = compare(args);
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(count_lines(result.err), 1) << result.err;
  std::string message = GetParam().message;
  const std::size_t tmp = message.find("$TMP");
  if (tmp != std::string::npos) message.replace(tmp, 4, scratch_.path().string());
  EXPECT_THAT(result.err, AllOf(StartsWith("ttt: error: "), HasSubstr(message)));
}

const std::string kF4 = std::string(TTT_TEST_DATA_DIR) + "/npy/f4_2x3.npy";

INSTANTIATE_TEST_SUITE_P(
    Inputs, CompareBadInput,
    ::testing::Values(
        BadInput{"missing_file",
                 {"$TMP/missing.npy", "GOOD"},
                 "[read_npy] $TMP/missing.npy: cannot open: No such file or directory"},
        BadInput{"missing_expected_file",
                 {"GOOD", "$TMP/missing.npy"},
                 "[read_npy] $TMP/missing.npy: cannot open"},
        BadInput{"corrupt_header",
                 {kNpyData + "corrupt_header_bool.npy", "GOOD"},
                 kNpyData + "corrupt_header_bool.npy: corrupt header: expected True or False"},
        BadInput{"bad_magic",
                 {kNpyData + "bad_magic.npy", "GOOD"},
                 kNpyData + "bad_magic.npy: not a .npy file"},
        BadInput{"truncated",
                 {"GOOD", kNpyData + "truncated_data.npy"},
                 kNpyData + "truncated_data.npy: truncated data"},
        BadInput{"fortran",
                 {kNpyData + "fortran_f4_2x3.npy", "GOOD"},
                 kNpyData + "fortran_f4_2x3.npy: Fortran-order arrays are not supported"},
        BadInput{"big_endian",
                 {kNpyData + "bigendian_f4_3.npy", "GOOD"},
                 kNpyData + "bigendian_f4_3.npy: big-endian dtype '>f4' is not supported"},
        BadInput{"unsupported_npy_dtype",
                 {kNpyData + "u1_3.npy", "GOOD"},
                 kNpyData + "u1_3.npy: unsupported dtype '|u1'"},
        BadInput{"shape_mismatch",
                 {"GOOD", kNpyData + "i4_3x2.npy"},
                 "[compare] shape mismatch: " + kF4 + " has shape [2, 3], " + kNpyData +
                     "i4_3x2.npy has shape [3, 2]"},
        BadInput{"rank_mismatch",
                 {"GOOD", kNpyData + "scalar_f4.npy"},
                 "has shape [2, 3], " + kNpyData + "scalar_f4.npy has shape []"},
        BadInput{"missing_dataset", {kH5 + ":/nope", "GOOD"}, kH5 + ":/nope"},
        BadInput{"group_not_dataset", {kH5 + ":/nested", "GOOD"}, kH5 + ":/nested"},
        BadInput{"unsupported_hdf5_type", {kH5 + ":/u8", "GOOD"}, "unsupported dataset type"},
        BadInput{"bad_ttt_dtype",
                 {kH5 + ":/bad_ttt_dtype", "GOOD"},
                 "attribute 'ttt_dtype' = \"bfloat9\" is not a dtype"},
        BadInput{"hdf5_without_dataset_path",
                 {kH5, "GOOD"},
                 "an HDF5 file needs the path of a dataset inside it"},
        BadInput{"not_hdf5", {"$TMP/not_hdf5.h5:/x", "GOOD"}, "$TMP/not_hdf5.h5"},
        BadInput{"directory", {"$TMP", "GOOD"}, "$TMP"},
        BadInput{"unknown_dtype_flag",
                 {"GOOD", "GOOD", "--dtype", "bfloat9"},
                 "unknown dtype 'bfloat9'"}),
    [](const ::testing::TestParamInfo<BadInput>& param_info) { return param_info.param.name; });

TEST_F(CompareCommand, UsageErrorsExitTwo) {
  const std::string good = kNpyData + "f4_2x3.npy";
  const std::vector<std::vector<std::string>> usages = {
      {good},                            // EXPECTED missing.
      {good, good, "--pcc", "nan"},      // Not finite.
      {good, good, "--max-abs", "inf"},  // Not finite.
      {good, good, "--atol", "-1"},      // Negative.
      {good, good, "--rtol", "x"},       // Not a number.
      {good, good, "--no-such-flag"},    // Unknown.
      {good, good, good},                // One argument too many.
  };
  for (const auto& args : usages) {
    const RunResult result = compare(args);
    EXPECT_EQ(result.exit_code, 2) << ::testing::PrintToString(args) << result.out;
    EXPECT_FALSE(result.err.empty()) << ::testing::PrintToString(args);
  }
  const RunResult nan = compare({good, good, "--pcc", "nan"});
  EXPECT_THAT(nan.err, HasSubstr("--pcc: must be a finite number, got 'nan'"));
}

TEST_F(CompareCommand, HelpDescribesTheDefaultVerdict) {
  const RunResult result = compare({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("Default verdict: default_tolerances of the looser"));
  EXPECT_THAT(result.out, HasSubstr("--dtype"));
}

// Issue 12: float64 data keeps its precision. Values near 0.02 with an error of 1e-9 on one in
// four read as 1.86e-9 (float32's spacing there) when rounded to float32; read as float64, the
// errors are the exact differences of the stored doubles, from .npy and from HDF5.
TEST_F(CompareCommand, Float64DataIsComparedWithoutRounding) {
  std::vector<double> expected(64);
  std::vector<double> actual(64);
  double max_difference = 0.0;
  double sum_difference = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    expected[i] = 0.02 + 1e-4 * static_cast<double>(i);
    actual[i] = expected[i] + (i % 4 == 0 ? 1e-9 : 0.0);
    max_difference = std::max(max_difference, actual[i] - expected[i]);
    sum_difference += actual[i] - expected[i];
  }
  const Tensor a = Tensor::from_doubles({64}, actual);
  const Tensor e = Tensor::from_doubles({64}, expected);
  const nlohmann::json npy_json =
      compare_json({npy("a64", a), npy("e64", e), "--max-abs", "2e-9"}, 0);
  EXPECT_EQ(npy_json["dtypes"]["actual"], "float64");
  EXPECT_EQ(npy_json["max_abs_error"].get<double>(), max_difference);
  EXPECT_NEAR(npy_json["max_abs_error"].get<double>(), 1e-9, 1e-17);
  EXPECT_DOUBLE_EQ(npy_json["mean_abs_error"].get<double>(), sum_difference / 64.0);
  EXPECT_NEAR(npy_json["mean_abs_error"].get<double>(), 2.5e-10, 1e-17);

  // The same tensors as float64 datasets of a trace (ttt_dtype "float64").
  const std::string trace = scratch_.file("wide.h5");
  {
    TraceSession session(trace);
    CapturedCall call;
    call.name = "wide";
    call.outputs = {{"a", a}, {"e", e}};
    session.capture(call);
  }
  const nlohmann::json h5_json = compare_json(
      {trace + ":/calls/000000/outputs/a", trace + ":/calls/000000/outputs/e", "--max-abs", "2e-9"},
      0);
  EXPECT_EQ(h5_json["dtypes"]["expected"], "float64");
  EXPECT_EQ(h5_json["max_abs_error"].get<double>(), max_difference);
  EXPECT_DOUBLE_EQ(h5_json["mean_abs_error"].get<double>(), sum_difference / 64.0);
}

// Issue 12: 2^62 + 1 against 2^62 passed (both are 2^62 as doubles). Integers are compared exactly
// and the int64 default requires equality.
TEST_F(CompareCommand, Int64IsComparedExactly) {
  const std::int64_t big = std::int64_t{1} << 62;
  const RunResult result = compare(
      {npy("a", Tensor::from_int64({1}, {big})), npy("e", Tensor::from_int64({1}, {big + 1}))});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("checked:  max_abs_error <= 0, non-finite values match"));
  EXPECT_THAT(result.out, HasSubstr("FAIL\n  max_abs_error 1 > 0 at [0]\n"));
}

TEST_F(CompareCommand, EmptyAndIdenticalTensorsPass) {
  const Tensor values = random_normal({3, 5}, 4);
  const nlohmann::json json = compare_json({npy("a", values), npy("e", values)}, 0);
  EXPECT_EQ(json["max_abs_error"], 0.0);
  EXPECT_EQ(json["pcc"], 1.0);
  EXPECT_THAT(json["failures"], ::testing::IsEmpty());
  const Tensor empty({0, 4}, DType::float32);
  EXPECT_EQ(compare({npy("empty_a", empty), npy("empty_e", empty)}).exit_code, 0);
}

// --json FILE writes the JSON to the file and keeps the text on standard output (issue 12: --json
// was a flag here and took a file in other commands).
TEST_F(CompareCommand, JsonToAFileKeepsTheText) {
  const std::string file = scratch_.file("metrics.json");
  const RunResult result =
      compare({kSampleDevice, kSampleReference, "--dtype", "bfloat8_b", "--json", file});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("PASS"));
  const nlohmann::json json = nlohmann::json::parse(read_text(file));
  EXPECT_EQ(json["passed"], true);
  EXPECT_EQ(json["tolerance_dtype"], "bfloat8_b");
}

TEST_F(CompareCommand, ThresholdsPrintInFull) {
  // Issue 12: "pcc 0.999997 < 1" for a 0.9999999 threshold.
  const RunResult result = compare({kSampleDevice, kSampleReference, "--pcc", "0.9999999"});
  EXPECT_THAT(result.out, HasSubstr("pcc >= 0.9999999"));
  const nlohmann::json json =
      compare_json({kSampleDevice, kSampleReference, "--pcc", "0.9999999"}, result.exit_code);
  EXPECT_EQ(json["tolerances"]["pcc"], 0.9999999);
}

TEST_F(CompareCommand, HelpHasAnExample) {
  const RunResult result = compare({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("Example"));
}

}  // namespace
}  // namespace ttt

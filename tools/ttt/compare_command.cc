// `ttt compare ACTUAL EXPECTED`: the metrics and the verdict for a device tensor (ACTUAL) against
// its reference (EXPECTED), each read from a .npy file or an HDF5 dataset. docs/cli.md documents
// the flags, the default verdict and the output.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "command.h"
#include "threshold_flags.h"
#include "validation/markup/number.h"
#include "validation/metrics/metrics.h"
#include "validation/trace/tensor_file.h"

namespace ttt::cli {
namespace {

// What the user asked for on the command line.
struct CompareArguments {
  std::string actual;
  std::string expected;
  std::string dtype;      // Empty: the dtype the actual file records.
  std::string json_file;  // --json FILE; "-": standard output, instead of the text.
  ThresholdFlags thresholds;
};

// True when any threshold flag was given (which replaces the default verdict).
bool has_threshold(const Tolerances& given) {
  return given.pcc || given.max_abs_error || given.mean_abs_error || given.rmse || given.nmse ||
         given.max_rel_error || given.cosine_similarity || given.max_ulp_error || given.ccc ||
         given.sqnr_db || given.mismatched_fraction || given.require_allclose;
}

// One line saying what the verdict checks.
std::string describe_checks(const Tolerances& tolerances, const Metrics& metrics) {
  std::vector<std::string> checks;
  const auto add = [&](const char* name, const std::optional<double>& value, const char* op) {
    if (value) checks.push_back(std::string(name) + " " + op + " " + format_number(*value));
  };
  add("pcc", tolerances.pcc, ">=");
  add("max_abs_error", tolerances.max_abs_error, "<=");
  add("mean_abs_error", tolerances.mean_abs_error, "<=");
  add("rmse", tolerances.rmse, "<=");
  add("nmse", tolerances.nmse, "<=");
  add("max_rel_error", tolerances.max_rel_error, "<=");
  add("cosine_similarity", tolerances.cosine_similarity, ">=");
  add("max_ulp_error", tolerances.max_ulp_error, "<=");
  add("ccc", tolerances.ccc, ">=");
  add("sqnr_db", tolerances.sqnr_db, ">=");
  add("mismatched_fraction", tolerances.mismatched_fraction, "<=");
  if (tolerances.require_allclose) {
    checks.push_back("allclose (rtol " + format_number(metrics.rtol) + ", atol " +
                     format_number(metrics.atol) + ")");
  }
  if (!tolerances.allow_nonfinite_mismatch) checks.push_back("non-finite values match");
  std::string text;
  for (const std::string& check : checks) text += (text.empty() ? "" : ", ") + check;
  return text;
}

int run_compare(const CompareArguments& args) {
  const Tensor actual = load_tensor_file(args.actual);
  const Tensor expected = load_tensor_file(args.expected);
  if (actual.shape() != expected.shape()) {
    throw std::invalid_argument("[compare] shape mismatch: " + args.actual + " has shape " +
                                shape_to_string(actual.shape()) + ", " + args.expected +
                                " has shape " + shape_to_string(expected.shape()));
  }
  // The dtype whose default tolerances apply on the actual side: --dtype names the device format
  // when the file cannot (a .npy file holds float32 or float64 values; an HDF5 dataset may carry
  // ttt_dtype).
  const DType actual_dtype = args.dtype.empty() ? actual.dtype() : parse_dtype(args.dtype);
  const AllcloseTolerance defaults = default_allclose_tolerance(actual_dtype, expected.dtype());

  MetricsOptions metric_options;
  metric_options.rtol = defaults.rtol;
  metric_options.atol = defaults.atol;
  args.thresholds.apply_to(metric_options);
  const Metrics metrics = compute_metrics(actual, expected, metric_options);

  // Threshold flags replace the default verdict (default_tolerances of the two dtypes): what is
  // written on the command line is what is checked. --allow-nonfinite applies to either.
  const Tolerances given = args.thresholds.given_tolerances();
  const bool defaults_apply = !has_threshold(given);
  const Tolerances tolerances =
      defaults_apply ? default_tolerances(actual_dtype, expected.dtype()).merged(given) : given;
  const Verdict verdict = evaluate(metrics, tolerances);

  if (!args.json_file.empty()) {
    nlohmann::json json = to_json(metrics);
    json["actual_file"] = args.actual;
    json["expected_file"] = args.expected;
    json["tolerance_dtype"] = std::string(dtype_name(actual_dtype));
    json["tolerances"] = to_json(tolerances);
    json["passed"] = verdict.passed;
    json["failures"] = verdict.failures;
    write_output(args.json_file, json.dump() + "\n");
  }
  if (args.json_file != "-") {
    std::cout << "actual:   " << args.actual << "\n"
              << "expected: " << args.expected << "\n"
              << format_metrics(metrics);
    std::cout << "checked:  " << describe_checks(tolerances, metrics);
    if (defaults_apply) {
      std::cout << " (defaults for " << dtype_name(actual_dtype) << " vs "
                << dtype_name(expected.dtype()) << ")";
    }
    std::cout << "\n";
    if (verdict.passed) {
      std::cout << "PASS\n";
    } else {
      std::cout << "FAIL\n";
      for (const std::string& failure : verdict.failures) std::cout << "  " << failure << "\n";
    }
  }
  return verdict.passed ? kExitOk : kExitFailed;
}

const CommandRegistration kRegistration("compare", [](CLI::App& app) {
  auto args = std::make_shared<CompareArguments>();
  CLI::App* command = app.add_subcommand(
      "compare",
      "Compare a device tensor (ACTUAL) with its reference (EXPECTED): metrics and a verdict.\n"
      "Each side is file.npy or file.h5:/path/to/dataset. Exit 0 pass, 1 fail, 2 bad input.\n"
      "Default verdict: default_tolerances of the looser of the two dtypes (nmse within what\n"
      "rounding to the dtype allows, e.g. 2^-12 for bfloat16; integers equal) and non-finite\n"
      "values match (docs/metrics.md). Any threshold flag replaces the defaults.");
  command->add_option("actual", args->actual, "Device output: file.npy or file.h5:/dataset")
      ->required();
  command->add_option("expected", args->expected, "Reference: file.npy or file.h5:/dataset")
      ->required();
  command->add_option("--dtype", args->dtype,
                      "Device format of ACTUAL for the default tolerances, e.g. bfloat8_b "
                      "(default: the dtype its file records)");
  command->add_option("--json", args->json_file,
                      "Write the metrics and verdict as one JSON object to FILE ('-': standard "
                      "output, instead of the text)");
  command->footer(
      "Examples:\n"
      "  ttt compare build/default/samples/device.npy build/default/samples/reference.npy "
      "--dtype bfloat8_b\n"
      "  ttt compare build/default/samples/device.npy build/default/samples/reference.npy "
      "--pcc 0.999 --json -");
  args->thresholds.add_to(command);
  return [args] { return run_compare(*args); };
});

}  // namespace
}  // namespace ttt::cli

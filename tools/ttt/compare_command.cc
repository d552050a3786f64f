// `ttt compare ACTUAL EXPECTED`: the metrics and the verdict for a device tensor (ACTUAL) against
// its reference (EXPECTED), each read from a .npy file or an HDF5 dataset. docs/cli.md documents
// the flags, the default verdict and the output.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "command.h"
#include "validation/metrics/metrics.h"
#include "validation/trace/tensor_file.h"

namespace ttt::cli {
namespace {

// What the user asked for, straight from the command line.
struct CompareArguments {
  std::string actual;
  std::string expected;
  std::string dtype;  // Empty: the dtype the actual file records.
  bool json = false;

  // Thresholds; an option's count() says whether it was given.
  double pcc = 0.0;
  double max_abs = 0.0;
  double mean_abs = 0.0;
  double rmse = 0.0;
  double nmse = 0.0;
  double max_rel = 0.0;
  double cosine = 0.0;
  double max_ulp = 0.0;
  double mismatched_fraction = 0.0;
  double atol = 0.0;
  double rtol = 0.0;
  bool allclose = false;
  bool allow_nonfinite = false;
};

// The options that were given, to tell flags from defaults.
struct ThresholdOptions {
  CLI::Option* pcc = nullptr;
  CLI::Option* max_abs = nullptr;
  CLI::Option* mean_abs = nullptr;
  CLI::Option* rmse = nullptr;
  CLI::Option* nmse = nullptr;
  CLI::Option* max_rel = nullptr;
  CLI::Option* cosine = nullptr;
  CLI::Option* max_ulp = nullptr;
  CLI::Option* mismatched_fraction = nullptr;
  CLI::Option* atol = nullptr;
  CLI::Option* rtol = nullptr;
  CLI::Option* allclose = nullptr;
};

// The threshold of the default verdict, from tt-metal's comp_pcc use.
constexpr double kDefaultPcc = 0.99;

bool given(const CLI::Option* option) { return option->count() > 0; }

std::optional<double> if_given(const CLI::Option* option, double value) {
  return given(option) ? std::optional<double>(value) : std::nullopt;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

// One line saying what the verdict checks.
std::string describe_checks(const Tolerances& tolerances, const Metrics& metrics) {
  std::vector<std::string> checks;
  const auto add = [&](const char* name, const std::optional<double>& value, const char* op) {
    if (value) checks.push_back(std::string(name) + " " + op + " " + number(*value));
  };
  add("pcc", tolerances.pcc, ">=");
  add("max_abs_error", tolerances.max_abs_error, "<=");
  add("mean_abs_error", tolerances.mean_abs_error, "<=");
  add("rmse", tolerances.rmse, "<=");
  add("nmse", tolerances.nmse, "<=");
  add("max_rel_error", tolerances.max_rel_error, "<=");
  add("cosine_similarity", tolerances.cosine_similarity, ">=");
  add("max_ulp_error", tolerances.max_ulp_error, "<=");
  add("mismatched_fraction", tolerances.mismatched_fraction, "<=");
  if (tolerances.require_allclose) {
    checks.push_back("allclose (rtol " + number(metrics.rtol) + ", atol " + number(metrics.atol) +
                     ")");
  }
  if (!tolerances.allow_nonfinite_mismatch) checks.push_back("non-finite values match");
  std::string text;
  for (const std::string& check : checks) text += (text.empty() ? "" : ", ") + check;
  return text;
}

int run_compare(const CompareArguments& args, const ThresholdOptions& options) {
  const Tensor actual = load_tensor_file(args.actual);
  const Tensor expected = load_tensor_file(args.expected);
  if (actual.shape() != expected.shape()) {
    throw std::invalid_argument("[compare] shape mismatch: " + args.actual + " has shape " +
                                shape_to_string(actual.shape()) + ", " + args.expected +
                                " has shape " + shape_to_string(expected.shape()));
  }
  // The dtype whose default tolerances apply on the actual side: --dtype names the device format
  // when the file cannot (a .npy file holds float32 values; an HDF5 dataset may carry ttt_dtype).
  const DType actual_dtype = args.dtype.empty() ? actual.dtype() : parse_dtype(args.dtype);
  const AllcloseTolerance defaults = default_allclose_tolerance(actual_dtype, expected.dtype());

  MetricsOptions metric_options;
  metric_options.rtol = given(options.rtol) ? args.rtol : defaults.rtol;
  metric_options.atol = given(options.atol) ? args.atol : defaults.atol;
  const Metrics metrics = compute_metrics(actual, expected, metric_options);

  Tolerances tolerances;
  tolerances.allow_nonfinite_mismatch = args.allow_nonfinite;
  const bool any_threshold =
      given(options.pcc) || given(options.max_abs) || given(options.mean_abs) ||
      given(options.rmse) || given(options.nmse) || given(options.max_rel) ||
      given(options.cosine) || given(options.max_ulp) || given(options.mismatched_fraction) ||
      given(options.atol) || given(options.rtol) || given(options.allclose);
  if (any_threshold) {
    // Flags replace the defaults: what is written on the command line is what is checked.
    tolerances.pcc = if_given(options.pcc, args.pcc);
    tolerances.max_abs_error = if_given(options.max_abs, args.max_abs);
    tolerances.mean_abs_error = if_given(options.mean_abs, args.mean_abs);
    tolerances.rmse = if_given(options.rmse, args.rmse);
    tolerances.nmse = if_given(options.nmse, args.nmse);
    tolerances.max_rel_error = if_given(options.max_rel, args.max_rel);
    tolerances.cosine_similarity = if_given(options.cosine, args.cosine);
    tolerances.max_ulp_error = if_given(options.max_ulp, args.max_ulp);
    tolerances.mismatched_fraction =
        if_given(options.mismatched_fraction, args.mismatched_fraction);
    // --atol/--rtol ask for allclose, unless --mismatched-fraction says how many may miss.
    tolerances.require_allclose = args.allclose || ((given(options.atol) || given(options.rtol)) &&
                                                    !given(options.mismatched_fraction));
  } else {
    tolerances.pcc = kDefaultPcc;
    tolerances.require_allclose = true;
  }
  const Verdict verdict = evaluate(metrics, tolerances);

  if (args.json) {
    nlohmann::json json = to_json(metrics);
    json["actual_file"] = args.actual;
    json["expected_file"] = args.expected;
    json["tolerance_dtype"] = std::string(dtype_name(actual_dtype));
    json["tolerances"] = to_json(tolerances);
    json["passed"] = verdict.passed;
    json["failures"] = verdict.failures;
    std::cout << json.dump() << "\n";
  } else {
    std::cout << "actual:   " << args.actual << "\n"
              << "expected: " << args.expected << "\n"
              << format_metrics(metrics);
    std::cout << "checked:  " << describe_checks(tolerances, metrics);
    if (!any_threshold) {
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

// Accepts finite numbers only (CLI11 parses "nan" and "inf" as doubles).
const auto kFinite = CLI::Validator(
    [](const std::string& text) {
      try {
        std::size_t used = 0;
        const double value = std::stod(text, &used);
        if (used == text.size() && std::isfinite(value)) return std::string();
      } catch (const std::exception&) {
      }
      return "must be a finite number, got '" + text + "'";
    },
    "FINITE");

const CommandRegistration kRegistration("compare", [](CLI::App& app) {
  auto args = std::make_shared<CompareArguments>();
  auto options = std::make_shared<ThresholdOptions>();
  CLI::App* command = app.add_subcommand(
      "compare",
      "Compare a device tensor (ACTUAL) with its reference (EXPECTED): metrics and a verdict.\n"
      "Each side is file.npy or file.h5:/path/to/dataset. Exit 0 pass, 1 fail, 2 bad input.\n"
      "Default verdict: pcc >= 0.99 and allclose with the default rtol/atol of the looser of the\n"
      "two dtypes, and non-finite values match. Any threshold flag replaces the defaults.");
  command->add_option("actual", args->actual, "Device output: file.npy or file.h5:/dataset")
      ->required();
  command->add_option("expected", args->expected, "Reference: file.npy or file.h5:/dataset")
      ->required();
  command->add_option("--dtype", args->dtype,
                      "Device format of ACTUAL for the default tolerances, e.g. bfloat8_b "
                      "(default: the dtype its file records; .npy files are float32)");
  command->add_flag("--json", args->json, "Print one JSON object instead of text");
  const auto threshold = [&](const char* name, double& value, const char* help) {
    return command->add_option(name, value, help)->check(kFinite);
  };
  options->pcc = threshold("--pcc", args->pcc, "Fail when pcc < value");
  options->max_abs = threshold("--max-abs", args->max_abs, "Fail when max_abs_error > value");
  options->mean_abs = threshold("--mean-abs", args->mean_abs, "Fail when mean_abs_error > value");
  options->rmse = threshold("--rmse", args->rmse, "Fail when rmse > value");
  options->nmse = threshold("--nmse", args->nmse, "Fail when nmse > value");
  options->max_rel = threshold("--max-rel", args->max_rel, "Fail when max_rel_error > value");
  options->cosine = threshold("--cosine", args->cosine, "Fail when cosine_similarity < value");
  options->max_ulp = threshold("--max-ulp", args->max_ulp, "Fail when max_ulp_error > value");
  options->mismatched_fraction = threshold("--mismatched-fraction", args->mismatched_fraction,
                                           "Fail when the fraction of allclose mismatches > value");
  options->atol =
      threshold("--atol", args->atol,
                "allclose atol (implies --allclose unless --mismatched-fraction is given)")
          ->check(CLI::NonNegativeNumber);
  options->rtol =
      threshold("--rtol", args->rtol,
                "allclose rtol (implies --allclose unless --mismatched-fraction is given)")
          ->check(CLI::NonNegativeNumber);
  options->allclose = command->add_flag("--allclose", args->allclose,
                                        "Fail unless |a - e| <= atol + rtol * |e| everywhere");
  command->add_flag("--allow-nonfinite", args->allow_nonfinite,
                    "Do not fail on NaN/Inf that the other side does not match");
  return [args, options] { return run_compare(*args, *options); };
});

}  // namespace
}  // namespace ttt::cli

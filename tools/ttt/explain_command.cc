// `ttt explain TRACE`: bug or precision, per call. Replays every captured call and judges its
// captured device output against the emulation of the device's numerics (the block's device path
// at the call's ImplConfig, run now) and the float64 reference (run now), with the kind's metric
// policy (docs/debugging.md "Bug or precision?"). The work is in validation/trace/explain.h.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "blocks/registration.h"
#include "command.h"
#include "threshold_flags.h"
#include "validation/trace/explain.h"
#include "validation/trace/trace_error.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/progress.h"

namespace ttt::cli {
namespace {

struct ExplainArguments {
  std::string trace;
  std::string filter = "*";
  std::string json_file;
  bool quiet = false;
  ThresholdFlags thresholds;
};

int run_explain(const ExplainArguments& args) {
  register_builtin_blocks();  // TTTv2's block kinds and their metric policies.
  const TraceReader trace = TraceReader::open(args.trace);
  ReplayOptions options;
  options.filter = args.filter;
  options.tolerance_overrides = args.thresholds.given_tolerances();
  args.thresholds.apply_to(options.metrics);
  options.metrics.quantiles = false;
  ProgressReporter progress = stderr_progress();
  options.on_call_done = [&](std::size_t done, std::size_t total, const ReplayedCall& call) {
    if (!args.quiet) progress.step("explain", done, total, call.name);
  };
  // Open the report first, so that an unwritable path fails before any call runs.
  std::unique_ptr<OutputStream> json_out;
  if (!args.json_file.empty()) json_out = std::make_unique<OutputStream>(args.json_file);
  const ReplayReport report = replay_trace(trace, explain_options(options));
  if (report.summary.total == 0) {
    throw TraceError(args.trace, "",
                     "nothing to explain: no call matches --filter '" + args.filter + "'");
  }
  if (json_out) {
    json_out->stream() << explain_report_json(report).dump(2) << "\n";
    json_out->close();
  }
  if (args.json_file != "-") std::cout << format_explanations(report);
  return summarize_explanations(report).not_explained > 0 ? kExitFailed : kExitOk;
}

const CommandRegistration kRegistration("explain", [](CLI::App& app) {
  auto args = std::make_shared<ExplainArguments>();
  CLI::App* command = app.add_subcommand(
      "explain",
      "Bug or precision? For each captured call, compare the captured device output with the\n"
      "emulation of the device's numerics at the call's ImplConfig and with the float64\n"
      "reference: precision-limited when the device matches its emulation, not explained by\n"
      "precision when it does not. Exit 0 when precision explains every call, 1 when it does\n"
      "not explain one, 2 bad input. Threshold flags replace fields of each block's accuracy\n"
      "check.");
  command->add_option("trace", args->trace, "The trace (an HDF5 file)")->required();
  command->add_option("--filter", args->filter, "Explain only calls whose name matches this glob");
  command->add_option("--json", args->json_file, "Write a JSON report to FILE ('-': stdout)");
  command->add_flag("--quiet", args->quiet, "No progress lines on standard error");
  args->thresholds.add_to(command);
  command->footer(
      "Examples:\n"
      "  ttt explain run/trace.h5\n"
      "  ttt explain run/trace.h5 --filter 'layers.1.*' --json explain.json");
  return [args] { return run_explain(*args); };
});

}  // namespace
}  // namespace ttt::cli

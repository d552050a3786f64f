// `ttt replay TRACE`: re-runs every captured call on its captured inputs through the block
// registry and compares device-now with reference-now and with the captured outputs
// (docs/replay.md). The work is in validation/trace/replay.h; this file parses flags and prints.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "blocks/registration.h"
#include "command.h"
#include "coverage/record.h"
#include "coverage/sources.h"
#include "suites/suite/registry.h"
#include "threshold_flags.h"
#include "validation/trace/replay.h"
#include "validation/trace/trace_error.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/progress.h"

namespace ttt::cli {
namespace {

struct ReplayArguments {
  std::string trace;
  std::string filter = "*";
  std::string against = "both";
  std::string json_file;
  std::string junit_file;
  std::string coverage_file;
  std::string registry_file;
  bool fail_fast = false;
  bool strict = false;
  bool quiet = false;
  ThresholdFlags thresholds;
};

int run_replay(const ReplayArguments& args) {
  register_builtin_blocks();  // TTTv2's block kinds: traces of models built on them replay.
  const TraceReader trace = TraceReader::open(args.trace);
  const std::optional<Registry> registry =
      args.registry_file.empty() ? std::nullopt
                                 : std::optional<Registry>(load_registry(args.registry_file));
  ReplayOptions options;
  options.filter = args.filter;
  options.against = parse_replay_against(args.against);
  options.tolerance_overrides = args.thresholds.given_tolerances();
  args.thresholds.apply_to(options.metrics);
  options.fail_fast = args.fail_fast;
  options.strict = args.strict;
  ProgressReporter progress = stderr_progress();
  const auto show_progress = [&](std::size_t done, std::size_t total, const ReplayedCall& call) {
    if (!args.quiet) progress.step("replay", done, total, call.name);
  };
  options.on_call_done = show_progress;
  // The JSON report is written as calls finish and the report keeps no metrics: memory does not
  // grow with the number of calls (100k calls held 915 MB when the report was built at the end).
  // The file is opened first, so that an unwritable path fails before any call runs; the
  // writer starts with the first call, so that nothing is written when no call matches.
  std::optional<OutputStream> json_out;
  std::optional<ReplayJsonWriter> json;
  if (!args.json_file.empty()) {
    json_out.emplace(args.json_file);
    options.keep_comparisons = false;
    options.on_call_done = [&](std::size_t done, std::size_t total, const ReplayedCall& call) {
      if (!json) json.emplace(json_out->stream(), trace.path());
      json->add(call);
      show_progress(done, total, call);
    };
  }
  const ReplayReport report = replay_trace(trace, options);
  if (report.summary.total == 0) {
    if (json_out && args.json_file != "-") std::filesystem::remove(args.json_file);
    throw TraceError(args.trace, "",
                     "nothing to replay: no call matches --filter '" + args.filter + "'");
  }
  const bool json_to_stdout = args.json_file == "-";
  if (json) {
    json->finish(report.summary);
    json_out->close();
  }
  if (!args.junit_file.empty()) write_output(args.junit_file, to_junit_xml(report));
  if (!args.coverage_file.empty()) {
    write_coverage_file(args.coverage_file, aggregate_coverage(coverage_records(trace, report)));
  }
  if (!json_to_stdout) {
    std::map<std::string, std::int64_t> skipped;
    for (const ReplayedCall& call : report.calls) {
      if (call.status == ReplayStatus::fail) {
        std::cout << "FAIL " << call.seq << " " << call.name << " ("
                  << (call.block.empty() ? "no block" : call.block) << "): " << call.message
                  << "\n";
      } else if (call.status == ReplayStatus::skipped) {
        ++skipped[call.message];
      }
    }
    for (const auto& [reason, count] : skipped) {
      std::cout << "skipped " << count << (count == 1 ? " call: " : " calls: ") << reason << "\n";
    }
    std::cout << format_replay_summary(report);
  }
  if (registry) {
    (json_to_stdout ? std::cerr : std::cout)
        << format_misses(find_misses(*registry, observed_blocks(trace)), *registry);
  }
  return report.summary.failed > 0 ? kExitFailed : kExitOk;
}

const CommandRegistration kRegistration("replay", [](CLI::App& app) {
  auto args = std::make_shared<ReplayArguments>();
  CLI::App* command = app.add_subcommand(
      "replay",
      "Re-run each captured call on its captured inputs and compare device-now with\n"
      "reference-now and with the captured outputs. Names the first failing call in capture\n"
      "order. Exit 0 all passed, 1 a call failed, 2 bad input. Threshold flags override the\n"
      "corresponding field of each block's default tolerances.");
  command->add_option("trace", args->trace, "The trace (an HDF5 file)")->required();
  command->add_option("--filter", args->filter, "Replay only calls whose name matches this glob");
  command
      ->add_option("--against", args->against,
                   "reference: device-now vs reference-now; captured: vs the captured device "
                   "and reference outputs; both (default)")
      ->check(CLI::IsMember({"reference", "captured", "both"}));
  command->add_option("--json", args->json_file, "Write a JSON report to FILE ('-': stdout)");
  command->add_option("--junit", args->junit_file, "Write a JUnit XML report to FILE");
  command->add_option("--coverage", args->coverage_file,
                      "Write coverage records of the replayed calls to FILE (JSON Lines, "
                      "docs/coverage.md)");
  command->add_option(
      "--registry", args->registry_file,
      "Report the fingerprints of the trace's calls that have no evidence in "
      "this registry (suites/registry/registry.json; docs/fingerprints.md \"Registry\")");
  command->add_flag("--fail-fast", args->fail_fast, "Stop at the first failing call");
  command->add_flag("--strict", args->strict,
                    "Fail calls that cannot be replayed (unknown or no block kind, nothing "
                    "captured to compare with) instead of skipping them");
  command->add_flag("--quiet", args->quiet,
                    "No progress lines on standard error (one per replayed call; one live line "
                    "on a terminal)");
  args->thresholds.add_to(command);
  command->footer(
      "Examples:\n"
      "  ttt replay build/default/demo/trace.h5 --filter 'layers.1.*'\n"
      "  ttt replay build/default/demo/trace.h5 --against captured --junit replay.xml --json -");
  return [args] { return run_replay(*args); };
});

}  // namespace
}  // namespace ttt::cli

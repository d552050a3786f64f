// `ttt inspect TRACE [--call SEQ] [--json FILE]`: what a trace holds (docs/cli.md). The work is in
// validation/trace/inspect.h; this file parses flags and prints.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "command.h"
#include "validation/trace/inspect.h"
#include "validation/trace/trace_reader.h"

namespace ttt::cli {
namespace {

struct InspectArguments {
  std::string trace;
  std::int64_t call = -1;
  std::string json_file;  // --json FILE; "-": standard output, instead of the text.
};

int run_inspect(const InspectArguments& args, const CLI::Option* call_option) {
  const TraceReader trace = TraceReader::open(args.trace);
  if (call_option->count() > 0) {
    const CallDetails details = describe_call(trace, args.call);
    if (!args.json_file.empty()) write_output(args.json_file, to_json(details).dump(2) + "\n");
    if (args.json_file != "-") std::cout << format_call_details(details);
    return kExitOk;
  }
  const TraceSummary summary = summarize_trace(trace);
  if (!args.json_file.empty()) write_output(args.json_file, to_json(summary).dump(2) + "\n");
  if (args.json_file != "-") std::cout << format_trace_summary(summary);
  return kExitOk;
}

const CommandRegistration kRegistration("inspect", [](CLI::App& app) {
  auto args = std::make_shared<InspectArguments>();
  CLI::App* command = app.add_subcommand(
      "inspect",
      "Summarise a trace: calls per name and block, verdicts, shared tensors, bytes.\n"
      "--call SEQ shows one call: attributes, and each tensor's shape, dtype, min/max/mean.");
  command->add_option("trace", args->trace, "The trace (an HDF5 file)")->required();
  CLI::Option* call = command->add_option("--call", args->call, "Show call SEQ in full")
                          ->check(CLI::NonNegativeNumber);
  command->add_option("--json", args->json_file,
                      "Write the summary (or the call) as JSON to FILE ('-': standard output, "
                      "instead of the text)");
  command->footer(
      "Examples:\n"
      "  ttt inspect build/default/demo/trace.h5\n"
      "  ttt inspect build/default/demo/trace.h5 --call 12 --json -");
  return [args, call] { return run_inspect(*args, call); };
});

}  // namespace
}  // namespace ttt::cli

// `ttt diff A.h5 B.h5`: the token and KV diff of two runs of a causal LM, e.g. a device run and a
// reference run, or a run before and after a change: the first divergent token (with the near-tie
// rule), the first layer and block beyond its band at that token, the KV cache position by
// position (docs/debugging.md "Diffing two runs"). The work is in patterns/run_diff.h.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "command.h"
#include "patterns/run_diff.h"
#include "validation/trace/trace_reader.h"

namespace ttt::cli {
namespace {

struct DiffArguments {
  std::string trace_a;
  std::string trace_b;
  std::int64_t top_k = 5;
  std::string json_file;
};

int run_diff(const DiffArguments& args) {
  const TraceReader a = TraceReader::open(args.trace_a);
  const TraceReader b = TraceReader::open(args.trace_b);
  // Opened before the diff, so that an unwritable path fails before anything is read.
  std::unique_ptr<OutputStream> json_out;
  if (!args.json_file.empty()) json_out = std::make_unique<OutputStream>(args.json_file);
  const RunDiff diff = diff_runs(a, b, {.top_k = args.top_k});
  if (json_out) {
    json_out->stream() << to_json(diff).dump(2) << "\n";
    json_out->close();
  }
  if (args.json_file != "-") std::cout << format_run_diff(diff);
  return diff.agree() ? kExitOk : kExitFailed;
}

const CommandRegistration kRegistration("diff", [](CLI::App& app) {
  auto args = std::make_shared<DiffArguments>();
  CLI::App* command = app.add_subcommand(
      "diff",
      "Token and KV diff of two runs of a causal LM (two traces of the same prompt and calls:\n"
      "device vs reference, or before vs after a change): the first divergent token, judged by\n"
      "the near-tie rule (each run's token in the other's top-k); the first call, layer and\n"
      "block whose outputs leave their band at that token; the KV cache of every layer compared\n"
      "position by position. Exit 0 when the runs agree within their bands, 1 when they\n"
      "diverge, 2 bad input (traces of other prompts or calls, a file that is not a trace).");
  command->add_option("a", args->trace_a, "The first run's trace (A, the 'device' side)")
      ->required();
  command->add_option("b", args->trace_b, "The second run's trace (B, the 'reference' side)")
      ->required();
  command->add_option("--top-k", args->top_k, "The near-tie rule's k (default 5)")
      ->check(CLI::PositiveNumber);
  command->add_option("--json", args->json_file, "Write the diff as JSON to FILE ('-': stdout)");
  command->footer(
      "Examples:\n"
      "  ttt diff device/trace.h5 reference/trace.h5\n"
      "  ttt diff before/trace.h5 after/trace.h5 --json diff.json");
  return [args] { return run_diff(*args); };
});

}  // namespace
}  // namespace ttt::cli

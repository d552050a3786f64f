// `ttt history DIR...`: the commits where a case's latency stepped to another level, over stored
// suite results (docs/gate.md "History"). The work is in gate/history.h.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "gate/history.h"
#include "gate/policy.h"

namespace ttt::cli {
namespace {

struct HistoryArguments {
  std::vector<std::string> paths;
  std::string policy;
  int min_segment = HistoryOptions{}.min_segment;
  int permutations = HistoryOptions{}.permutations;
  std::uint64_t seed = HistoryOptions{}.seed;
  std::string json_file;
};

int run_history(const HistoryArguments& args) {
  HistoryOptions options;
  if (!args.policy.empty()) options.latency = load_gate_policy(args.policy).latency;
  options.min_segment = args.min_segment;
  options.permutations = args.permutations;
  options.seed = args.seed;
  const HistoryReport report = detect_change_points(load_history(args.paths), options);
  if (args.json_file != "-") std::cout << format_history(report);
  if (!args.json_file.empty()) write_output(args.json_file, to_json(report).dump(2) + "\n");
  return report.ok() ? kExitOk : kExitFailed;
}

const CommandRegistration kRegistration("history", [](CLI::App& app) {
  auto args = std::make_shared<HistoryArguments>();
  CLI::App* command = app.add_subcommand(
      "history",
      "Find the commits where a case's latency changed step-wise, over stored suite results in\n"
      "commit order (docs/gate.md \"History\"). Exit 0 no regression, 1 a slowdown beyond the\n"
      "policy's latency threshold, 2 bad input.");
  command
      ->add_option("paths", args->paths,
                   "Stored results (ttt suite run --json, or gate baselines), or directories of "
                   "them; ordered by created_utc")
      ->required();
  command->add_option("--policy", args->policy,
                      "The gate policy: latency threshold, alpha, correction and clock (default: "
                      "docs/gate.md)");
  command->add_option("--min-segment", args->min_segment,
                      "Runs on each side of a change point (default 3)");
  command->add_option("--permutations", args->permutations,
                      "Most shuffles per permutation test (default 0: 20 x cases / alpha, at "
                      "least 999)");
  command->add_option("--seed", args->seed, "Seeds the shuffles (default 0)");
  command->add_option("--json", args->json_file,
                      "Write the report as JSON ('-': stdout, instead of the summary)");
  command->footer(
      "Examples:\n"
      "  ttt history results/                 # every results/*.json, by created_utc\n"
      "  ttt history r1.json r2.json r3.json r4.json r5.json r6.json --json history.json\n"
      "  ttt history results/ --policy .ci/gate-policy.json --min-segment 5");
  return [args] { return run_history(*args); };
});

}  // namespace
}  // namespace ttt::cli

// `ttt noise-floor A.json B.json`: this machine's A/A noise floor, from two suite runs of the same
// commit (docs/gate.md "Noise floor"). The work is in gate/error_rates.h.
#include <iostream>
#include <memory>
#include <string>

#include "command.h"
#include "gate/error_rates.h"
#include "gate/policy.h"
#include "suites/suite/results.h"

namespace ttt::cli {
namespace {

struct NoiseFloorArguments {
  std::string run_a;
  std::string run_b;
  std::string policy;
  std::string output;
  std::string json_file;
};

int run_noise_floor(const NoiseFloorArguments& args) {
  const GatePolicy policy = args.policy.empty() ? GatePolicy{} : load_gate_policy(args.policy);
  NoiseFloor floor =
      measure_noise_floor(load_run_results(args.run_a), load_run_results(args.run_b),
                          policy.latency);
  if (args.json_file != "-") std::cout << format_noise_floor(floor);
  if (!args.json_file.empty()) write_output(args.json_file, to_json(floor).dump(2) + "\n");
  if (!args.output.empty()) {
    write_noise_floor(args.output, floor);
    (args.json_file == "-" ? std::cerr : std::cout) << "wrote " << args.output << "\n";
  }
  return kExitOk;
}

const CommandRegistration kRegistration("noise-floor", [](CLI::App& app) {
  auto args = std::make_shared<NoiseFloorArguments>();
  CLI::App* command = app.add_subcommand(
      "noise-floor",
      "Measure this machine's A/A noise floor from two suite runs of the same commit");
  command->add_option("run_a", args->run_a, "Suite results of the first run (ttt suite run --json)")
      ->required();
  command->add_option("run_b", args->run_b, "Suite results of the second run, same commit")
      ->required();
  command->add_option("--policy", args->policy,
                      "The gate policy whose latency rule is applied (default: docs/gate.md)");
  command->add_option("-o,--output", args->output,
                      "Write the floor file for ttt gate --noise-floor");
  command->add_option("--json", args->json_file, "Write the floor as JSON ('-': stdout)");
  command->footer(
      "Examples:\n"
      "  ttt suite run suites/llama-3.2-1b.json --repetitions 9 --json a.json\n"
      "  ttt suite run suites/llama-3.2-1b.json --repetitions 9 --json b.json\n"
      "  ttt noise-floor a.json b.json -o floor.json\n"
      "  ttt gate --results head.json --baseline base.json --noise-floor floor.json");
  return [args] { return run_noise_floor(*args); };
});

}  // namespace
}  // namespace ttt::cli

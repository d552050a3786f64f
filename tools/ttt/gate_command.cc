// `ttt gate`: may this change merge? Judges suite results against their expectations, a baseline
// (accuracy, predicted device cost, latency) and a coverage floor (docs/gate.md, docs/cli.md "ttt
// gate"). The work is in gate/; this file parses flags and prints.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "coverage/catalog/catalog.h"
#include "coverage/report.h"
#include "coverage/suite_coverage.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "suites/suite/results.h"

namespace ttt::cli {
namespace {

struct GateArguments {
  std::vector<std::string> results;
  std::string baseline;
  std::vector<std::string> coverage;
  std::string policy;
  std::string noise_floor;
  std::string selection;
  bool write_baseline = false;
  bool require_device_cost = false;
  std::string markdown_file;
  std::string junit_file;
  std::string json_file;
};

int run_gate(const GateArguments& args) {
  if (args.write_baseline && args.baseline.empty()) {
    throw std::invalid_argument(
        "[gate] --write-baseline needs --baseline FILE (where to write it)");
  }
  GateInputs inputs;
  inputs.policy = args.policy.empty() ? GatePolicy{} : load_gate_policy(args.policy);
  if (args.require_device_cost) inputs.policy.device_cost.require = true;
  std::vector<RunResults> parts;
  for (const std::string& path : args.results) parts.push_back(load_run_results(path));
  inputs.results = parts.size() == 1 ? parts.front() : merge_run_results(parts, args.results);
  inputs.results_path = args.results.size() == 1 ? args.results.front() : "the merged results";
  if (!args.noise_floor.empty()) inputs.noise_floor = load_noise_floor(args.noise_floor);
  if (!args.selection.empty()) inputs.selection = load_selection_plan(args.selection);
  // Writing a first baseline: there is nothing to compare with yet.
  const bool baseline_exists = !args.baseline.empty() && std::filesystem::exists(args.baseline);
  if (!args.baseline.empty() && (baseline_exists || !args.write_baseline)) {
    inputs.baseline = load_gate_baseline(args.baseline);
  }
  if (!args.coverage.empty()) {
    const Catalog catalog = inputs.policy.coverage.catalog.empty()
                                ? builtin_catalog()
                                : load_catalog(inputs.policy.coverage.catalog);
    CoverageReportOptions options;
    options.strength = inputs.policy.coverage.strength;
    options.sources = args.coverage;
    inputs.coverage = build_coverage_report(read_coverage_data(args.coverage), catalog, options);
  }
  const GateDecision decision = decide_gate(inputs);
  if (args.json_file != "-") std::cout << format_gate_console(decision);
  if (!args.markdown_file.empty()) write_output(args.markdown_file, format_gate_markdown(decision));
  if (!args.junit_file.empty()) write_output(args.junit_file, format_gate_junit(decision));
  if (!args.json_file.empty()) write_output(args.json_file, to_json(decision).dump(2) + "\n");
  if (args.write_baseline) {
    if (!decision.may_merge) {
      std::cerr << "ttt gate: the results are blocked; the baseline " << args.baseline
                << " is left unchanged\n";
    } else {
      GateBaseline baseline;
      baseline.results = inputs.results;
      if (inputs.coverage.has_value()) baseline.coverage = coverage_figures(*inputs.coverage);
      write_gate_baseline(args.baseline, baseline);
      (args.json_file == "-" ? std::cerr : std::cout)
          << "wrote the baseline " << args.baseline << "\n";
    }
  }
  return gate_exit_code(decision);
}

const CommandRegistration kRegistration("gate", [](CLI::App& app) {
  auto args = std::make_shared<GateArguments>();
  CLI::App* command = app.add_subcommand(
      "gate",
      "Decide whether a change may merge: failed expectations, accuracy, device-cost and latency\n"
      "regressions against a baseline (Mann-Whitney U for latency), and coverage (docs/gate.md).\n"
      "Exit 0 may merge, 1 blocked, 2 bad input.");
  command
      ->add_option("--results", args->results,
                   "Suite results (ttt suite run --json); several are merged like shards")
      ->required();
  command->add_option("--baseline", args->baseline,
                      "The baseline: a file --write-baseline wrote, or suite results");
  command
      ->add_option("--coverage", args->coverage,
                   "Coverage data (JSON Lines or suite results) to check against the policy")
      ->expected(1, -1);
  command->add_option("--policy", args->policy, "The policy file (default: docs/gate.md)");
  command->add_option("--noise-floor", args->noise_floor,
                      "This machine's A/A noise floor (ttt noise-floor): latency blocks only "
                      "when it says the machine can tell");
  command->add_option("--selection", args->selection,
                      "The ttt select plan (--json) the results ran: every selected case must be "
                      "in them; the others keep the registry's evidence");
  command->add_flag("--require-device-cost", args->require_device_cost,
                    "Every case compared with the baseline must carry its predicted device cost "
                    "(policy device_cost.require): one without is exit 2, naming it");
  command->add_flag("--write-baseline", args->write_baseline,
                    "When the change may merge, record these results (and coverage) as the new "
                    "baseline at --baseline");
  command->add_option("--markdown", args->markdown_file,
                      "Write a Markdown summary for a pull request comment ('-': stdout)");
  command->add_option("--junit", args->junit_file, "Write JUnit XML ('-': stdout)");
  command->add_option("--json", args->json_file,
                      "Write the decision as JSON ('-': stdout, instead of the summary)");
  command->footer(
      "Examples:\n"
      "  ttt suite run suites/llama-3.2-1b.json --json results.json\n"
      "  ttt gate --results results.json --baseline gate-baseline.json --write-baseline\n"
      "  ttt gate --results results.json --baseline gate-baseline.json --noise-floor floor.json\n"
      "  ttt gate --results results.json --baseline gate-baseline.json --coverage results.json \\\n"
      "           --policy .ci/gate-policy.json --markdown gate.md --junit gate.xml");
  return [args] { return run_gate(*args); };
});

}  // namespace
}  // namespace ttt::cli

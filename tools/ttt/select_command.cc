// `ttt select --base REV [--head REV]`: which suite cases a change must run (docs/cli.md
// "ttt select", docs/fingerprints.md "Selection"). The work is in gate/select.h and
// gate/changes.h; this file reads the registry, parses flags and prints.
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>

#include "command.h"
#include "gate/changes.h"
#include "gate/select.h"
#include "suites/suite/registry.h"

namespace ttt::cli {
namespace {

struct SelectArguments {
  std::string base;
  std::string head;
  std::string repo = ".";
  std::string registry;
  std::string json_file;
  std::string output_file;
};

int run_select(const SelectArguments& args) {
  std::set<std::string> evidence;
  const std::string registry_path =
      args.registry.empty()
          ? (std::filesystem::path(args.repo) / "suites/registry/registry.json").string()
          : args.registry;
  if (args.registry.empty() && !std::filesystem::exists(registry_path)) {
    std::cerr << "ttt: note: no registry at " << registry_path
              << ": no case has evidence, every case is selected\n";
  } else {
    for (const RegistryEntry& entry : load_registry(registry_path).entries) {
      evidence.insert(entry.fingerprint.id);
    }
  }
  const SelectionPlan plan =
      select_cases(read_git_change(args.repo, args.base, args.head), evidence);
  if (!args.json_file.empty()) write_output(args.json_file, to_json(plan).dump(2) + "\n");
  if (!args.output_file.empty()) write_output(args.output_file, plan.filter() + "\n");
  if (args.json_file != "-" && args.output_file != "-") {
    std::cout << plan.summary() << "\n";
    if (plan.selected_count() > 0) {
      std::cout << "run: ttt suite run";
      for (const std::string& file : plan.suite_files()) std::cout << " " << file;
      if (plan.filter() != "*") std::cout << " --filter '" << plan.filter() << "'";
      std::cout << "\n";
    }
  }
  return kExitOk;
}

const CommandRegistration kRegistration("select", [](CLI::App& app) {
  auto args = std::make_shared<SelectArguments>();
  CLI::App* command = app.add_subcommand(
      "select",
      "Decide which suite cases a change must run (docs/fingerprints.md \"Selection\"): the\n"
      "cases of the block kinds whose code changed, new or changed cases of suite files, cases\n"
      "whose fingerprint has no evidence in the registry, and every case when framework code\n"
      "changed. Prints a summary and the ttt suite run command.");
  command
      ->add_option("--base", args->base,
                   "The commit the change starts from (a branch, tag or hash)")
      ->required();
  command->add_option("--head", args->head,
                      "The change's last commit (default: the working tree, uncommitted files "
                      "included)");
  command->add_option("--repo", args->repo, "The git repository (default: .)");
  command->add_option("--registry", args->registry,
                      "The registry of evidence (default: <repo>/suites/registry/registry.json)");
  command->add_option("--json", args->json_file, "Write the plan as JSON ('-': stdout)");
  command->add_option("-o,--output", args->output_file,
                      "Write the ttt suite run --filter value ('-': stdout; '-*' when no case is "
                      "selected)");
  command->footer(
      "Examples:\n"
      "  ttt select --base origin/main\n"
      "  ttt select --base origin/main --head HEAD --json plan.json -o filter.txt\n"
      "  ttt suite run suites/*.json --filter \"$(cat filter.txt)\" --json results.json\n"
      "  ttt gate --results results.json --selection plan.json --baseline gate-baseline.json");
  return [args] { return run_select(*args); };
});

}  // namespace
}  // namespace ttt::cli

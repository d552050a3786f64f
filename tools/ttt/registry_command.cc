// `ttt registry list|show|check|diff|update`: the fingerprint registry, which maps each block
// configuration's fingerprint to the suite cases that give it evidence (docs/fingerprints.md
// "Registry", docs/cli.md "ttt registry"). The work is in suites/suite/registry.h; this file
// parses flags and prints.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "suites/suite/registry.h"
#include "suites/suite/results.h"

namespace ttt::cli {
namespace {

// The registry `ttt registry` reads when --registry is not given (run from the repository root).
constexpr const char* kDefaultRegistry = "suites/registry/registry.json";

int list_command(const std::string& file) {
  const Registry registry = load_registry(file);
  for (const RegistryEntry& entry : registry.entries) {
    std::size_t results = 0;
    for (const RegistryEvidence& e : entry.evidence) results += e.result ? 1 : 0;
    std::cout << entry.fingerprint.id << "  " << entry.fingerprint.summary << "  ("
              << entry.evidence.size() << (entry.evidence.size() == 1 ? " case" : " cases") << ", "
              << results << (results == 1 ? " result)" : " results)") << "\n";
  }
  std::cout << registry.entries.size() << " fingerprints in " << registry.file << "\n";
  return kExitOk;
}

int show_command(const std::string& file, const std::string& id, const std::string& json_file) {
  const Registry registry = load_registry(file);
  const RegistryEntry& entry = registry.lookup(id);
  if (!json_file.empty()) {
    Registry one = empty_registry(file);
    one.entries.push_back(entry);
    write_output(json_file, to_json(one).at("entries").at(0).dump(2) + "\n");
    if (json_file == "-") return kExitOk;
  }
  std::cout << format_entry(entry);
  return kExitOk;
}

int check_command(const std::string& file, bool skip_evidence) {
  const Registry registry = load_registry(file);
  const std::vector<std::string> problems = check_registry(registry, !skip_evidence);
  for (const std::string& problem : problems) std::cout << problem << "\n";
  if (!problems.empty()) {
    std::cout << problems.size() << (problems.size() == 1 ? " problem" : " problems") << " in "
              << registry.file << " (" << registry.entries.size() << " entries)\n";
    return kExitFailed;
  }
  std::size_t cases = 0;
  for (const RegistryEntry& entry : registry.entries) cases += entry.evidence.size();
  std::cout << registry.file << ": ok (" << registry.entries.size() << " fingerprints, " << cases
            << " evidence cases" << (skip_evidence ? ", evidence not checked" : "") << ")\n";
  return kExitOk;
}

int diff_command(const std::string& a, const std::string& b) {
  const std::vector<std::string> lines = diff_registries(load_registry(a), load_registry(b));
  for (const std::string& line : lines) std::cout << line << "\n";
  if (lines.empty()) std::cout << "no differences\n";
  return lines.empty() ? kExitOk : kExitFailed;
}

struct UpdateArguments {
  std::string registry = kDefaultRegistry;
  std::vector<std::string> results;
  std::string description;
};

int update_command(const UpdateArguments& args) {
  const bool exists = std::filesystem::exists(args.registry);
  if (!exists && args.description.empty()) {
    throw std::invalid_argument("[registry] " + args.registry +
                                " does not exist: a new registry needs --description saying "
                                "what its evidence is (which runs, which machine)");
  }
  Registry registry = exists ? load_registry(args.registry) : empty_registry(args.registry);
  if (!args.description.empty()) registry.description = args.description;
  RegistryUpdate total;
  for (const std::string& file : args.results) {
    const RegistryUpdate update = update_registry(registry, load_run_results(file), file);
    const auto append = [](std::vector<std::string>& to, const std::vector<std::string>& from) {
      to.insert(to.end(), from.begin(), from.end());
    };
    append(total.added, update.added);
    append(total.updated, update.updated);
    append(total.dropped, update.dropped);
    append(total.skipped, update.skipped);
  }
  if (total.added.empty() && total.updated.empty()) {
    throw std::invalid_argument("[registry] no passing block case in the results; " +
                                args.registry + " is left as it was");
  }
  write_registry(registry);
  for (const std::string& line : total.added) std::cout << "added   " << line << "\n";
  for (const std::string& line : total.updated) std::cout << "updated " << line << "\n";
  for (const std::string& line : total.dropped) std::cout << "dropped " << line << "\n";
  for (const std::string& line : total.skipped) std::cerr << "ttt: skipped " << line << "\n";
  std::cout << registry.file << ": " << total.added.size() << " added, " << total.updated.size()
            << " updated, " << total.dropped.size() << " dropped, " << total.skipped.size()
            << " cases skipped; " << registry.entries.size() << " fingerprints\n";
  return kExitOk;
}

const CommandRegistration kRegistration("registry", [](CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "registry",
      "The fingerprint registry: which suite cases give each block configuration evidence,\n"
      "with their last accepted results (docs/fingerprints.md \"Registry\").");
  command->require_subcommand(1);
  command->footer(
      "Examples:\n"
      "  ttt registry check\n"
      "  ttt registry update --results results.json");
  auto selected = std::make_shared<std::function<int()>>();
  auto file = std::make_shared<std::string>(kDefaultRegistry);
  const auto add_registry_option = [file](CLI::App* sub) {
    sub->add_option("--registry", *file,
                    "The registry file (default: suites/registry/registry.json)");
  };

  CLI::App* list = command->add_subcommand("list", "One line per fingerprint: id, summary, cases");
  add_registry_option(list);
  list->footer("Examples:\n  ttt registry list --registry suites/registry/registry.json");
  list->callback([selected, file] { *selected = [file] { return list_command(*file); }; });

  auto id = std::make_shared<std::string>();
  auto show_json = std::make_shared<std::string>();
  CLI::App* show = command->add_subcommand(
      "show", "An entry's config, its evidence cases and their last accepted results");
  show->add_option("id", *id, "A fingerprint id, or a unique prefix of at least 4 digits")
      ->required();
  add_registry_option(show);
  show->add_option("--json", *show_json, "Write the entry's JSON to FILE ('-': stdout)");
  show->footer("Examples:\n  ttt registry show 3f0c9a51\n  ttt registry show 3f0c9a51 --json -");
  show->callback([selected, file, id, show_json] {
    *selected = [file, id, show_json] { return show_command(*file, *id, *show_json); };
  });

  auto skip_evidence = std::make_shared<bool>(false);
  CLI::App* check = command->add_subcommand(
      "check",
      "List every bad or stale entry: an unknown kind, a config the kind rejects, an id or\n"
      "summary its config no longer hashes to, evidence whose suite case is gone or changed.\n"
      "Exit 0 all good, 1 problems listed, 2 unreadable or malformed registry.");
  add_registry_option(check);
  check->add_flag("--no-evidence", *skip_evidence,
                  "Do not load the suite files of the evidence (check configs and ids only)");
  check->footer("Examples:\n  ttt registry check\n  ttt registry check --registry r.json");
  check->callback([selected, file, skip_evidence] {
    *selected = [file, skip_evidence] { return check_command(*file, *skip_evidence); };
  });

  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* diff = command->add_subcommand(
      "diff",
      "Fingerprints added (+), removed (-) and changed (~: evidence, results) from A to B.\n"
      "Exit 0 no difference, 1 differences listed, 2 unreadable registry.");
  diff->add_option("files", *files, "Two registry files A B")->required()->expected(2);
  diff->footer(
      "Examples:\n  git show HEAD~1:suites/registry/registry.json > old.json\n"
      "  ttt registry diff old.json suites/registry/registry.json");
  diff->callback([selected, files] {
    *selected = [files] { return diff_command(files->at(0), files->at(1)); };
  });

  auto update_args = std::make_shared<UpdateArguments>();
  CLI::App* update = command->add_subcommand(
      "update",
      "Record the passing block cases of suite results (ttt suite run --json) as evidence of\n"
      "their fingerprints; other entries stay. A case recorded under another fingerprint moves.");
  update->add_option(
      "--registry", update_args->registry,
      "The registry file (default: suites/registry/registry.json; created when missing)");
  update->add_option("--results", update_args->results, "Suite results JSON files")
      ->required()
      ->expected(1, -1);
  update->add_option("--description", update_args->description,
                     "What the evidence is (required for a new registry)");
  update->footer(
      "Examples:\n"
      "  ttt suite run suites/gpt2.json --json gpt2.json\n"
      "  ttt registry update --results gpt2.json");
  update->callback([selected, update_args] {
    *selected = [update_args] { return update_command(*update_args); };
  });

  return [selected] { return (*selected)(); };
});

}  // namespace
}  // namespace ttt::cli

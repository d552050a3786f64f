// `ttt config dump|diff`: the complete configuration of a model run, and what differs between two
// (docs/cli.md "ttt config"). The work is in models/config_dump.h and models/llama/demo.h.
#include <iostream>
#include <memory>
#include <string>

#include "command.h"
#include "model_flags.h"
#include "models/config_dump.h"

namespace ttt::cli {
namespace {

struct DumpArguments {
  ModelFlags model;
  std::string output = "-";
};

struct DiffArguments {
  std::string a;
  std::string b;
  std::string json;  // "" none, "-" standard output.
};

int run_dump(const DumpArguments& args) {
  const nlohmann::json dump = llama::demo_config_dump(demo_options(args.model));
  write_output(args.output, dump.dump(2) + "\n");
  return kExitOk;
}

int run_diff(const DiffArguments& args) {
  const nlohmann::json a = read_config_dump(args.a);
  const nlohmann::json b = read_config_dump(args.b);
  const std::vector<ConfigDifference> differences = diff_config_dumps(a, b);
  if (!args.json.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const ConfigDifference& difference : differences) {
      list.push_back({{"module", difference.module},
                      {"field", difference.field},
                      {"a", difference.a},
                      {"b", difference.b}});
    }
    write_output(
        args.json,
        nlohmann::json{{"a", args.a}, {"b", args.b}, {"differences", list}}.dump(2) + "\n");
  }
  if (args.json != "-") {
    if (differences.empty()) {
      std::cout << "the configurations of " << args.a << " and " << args.b << " are the same\n";
    } else {
      std::cout << differences.size() << " difference" << (differences.size() == 1 ? "" : "s")
                << " (A " << args.a << ", B " << args.b << "):\n";
      for (const ConfigDifference& difference : differences) {
        std::cout << "  " << describe(difference) << "\n";
      }
    }
  }
  return differences.empty() ? kExitOk : kExitFailed;
}

const CommandRegistration kRegistration("config", [](CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "config", "Dump the complete configuration of a model run, or compare two dumps");
  command->require_subcommand(1);
  command->footer(
      "Examples:\n"
      "  ttt config dump --mesh T3K -o t3k.json\n"
      "  ttt config diff ttt-demo/config.json other/trace.h5");

  auto dump = std::make_shared<DumpArguments>();
  CLI::App* dump_command = command->add_subcommand(
      "dump",
      "Write the configuration a `ttt demo` run with the same flags uses, without running it:\n"
      "the model Spec, every module's block kind, Spec and ImplConfig after defaults and preset\n"
      "(prefill and decode, by module path), the fingerprints of its calls, device, mesh, preset\n"
      "and TTTv2's version, as JSON (docs/fingerprints.md). Exit 0, 2 bad input.");
  add_model_flags(dump_command, dump->model);
  dump_command->add_option("-o,--output", dump->output,
                           "Write the dump here (default: -, standard output)");
  dump_command->footer(
      "Examples:\n"
      "  ttt config dump -o run.json\n"
      "  ttt config dump --mesh T3K --preset performance -o t3k.json");

  auto diff = std::make_shared<DiffArguments>();
  CLI::App* diff_command = command->add_subcommand(
      "diff",
      "Name every field that differs between two configuration dumps (files written by `ttt\n"
      "config dump` or `ttt demo`, or traces of `ttt demo`, which carry theirs), with its module\n"
      "path. Exit 0 the same, 1 they differ, 2 bad input.");
  diff_command->add_option("A", diff->a, "A dump or a trace")->required();
  diff_command->add_option("B", diff->b, "A dump or a trace")->required();
  diff_command->add_option("--json", diff->json,
                           "Also write the differences as JSON to FILE (- standard output, "
                           "instead of the text)");
  diff_command->footer(
      "Examples:\n"
      "  ttt config diff ttt-demo/config.json other/trace.h5\n"
      "  ttt config diff a.json b.json --json -");

  return [=]() -> int {
    if (dump_command->parsed()) return run_dump(*dump);
    return run_diff(*diff);
  };
});

}  // namespace
}  // namespace ttt::cli

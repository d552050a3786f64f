// `ttt trace recover TRACE [-o OUT]`: rebuilds a trace whose capture was killed, from its journal
// (docs/trace-format.md, "Crash safety"). The work is in validation/trace/recover.h.
#include <iostream>
#include <memory>
#include <string>

#include "command.h"
#include "validation/trace/recover.h"

namespace ttt::cli {
namespace {

struct RecoverArguments {
  std::string trace;
  std::string output;
};

int run_recover(const RecoverArguments& args) {
  const RecoveryReport report = recover_trace(args.trace, args.output);
  if (report.already_recovered) {
    std::cout << report.output << ": already recovered; removed the leftover journal\n";
    return kExitOk;
  }
  std::cout << report.output << ": recovered " << report.calls << " calls and "
            << report.shared_tensors << " shared tensors";
  if (report.discarded_journal_bytes > 0) {
    std::cout << " (dropped the call in progress: " << report.discarded_journal_bytes
              << " journal bytes)";
  }
  std::cout << "\n";
  return kExitOk;
}

const CommandRegistration kRegistration("trace", [](CLI::App& app) {
  CLI::App* command = app.add_subcommand("trace", "Work on trace files");
  command->require_subcommand(1);
  command->footer(
      "Examples:\n  ttt trace recover build/default/demo/trace.h5   # a killed ttt demo left its "
      "journal");
  auto args = std::make_shared<RecoverArguments>();
  CLI::App* recover = command->add_subcommand(
      "recover",
      "Rebuild a trace whose capture was killed (its TRACE.journal is beside it) with every call\n"
      "that completed. Run it once the capturing process is gone.");
  recover->add_option("trace", args->trace, "The trace whose capture did not finish")->required();
  recover->add_option("-o,--output", args->output,
                      "Write the recovered trace here and leave TRACE and its journal as they are "
                      "(default: replace TRACE)");
  recover->footer(
      "Examples:\n"
      "  ttt trace recover build/default/demo/trace.h5   # a killed ttt demo left its journal\n"
      "  ttt trace recover build/default/demo/trace.h5 -o recovered.h5");
  return [args] { return run_recover(*args); };
});

}  // namespace
}  // namespace ttt::cli

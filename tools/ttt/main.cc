// `ttt`: parse the command line, run one registered subcommand, map errors to exit code 2.
#include <exception>
#include <iostream>
#include <map>
#include <string>

#include "command.h"

int main(int argc, char** argv) {
  CLI::App app{"TTTv2: validate transformer blocks against references", "ttt"};
  app.set_version_flag("--version", std::string("ttt ") + TTT_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  ttt demo --out-dir build/default/demo\n"
      "  ttt inspect build/default/demo/trace.h5\n"
      "Run 'ttt COMMAND --help' for a command's options and an example.");
  std::map<std::string, std::function<int()>> runners;
  for (const auto& command : ttt::cli::registered_commands()) {
    runners[command.name] = command.setup(app);
  }
  // CLI11 would say "The following arguments were not expected: bogus" or "A subcommand is
  // required"; name the mistake instead.
  if (argc > 1 && argv[1][0] != '-' && runners.count(argv[1]) == 0) {
    std::cerr << "ttt: error: unknown subcommand '" << argv[1] << "' (see ttt --help)\n";
    return ttt::cli::kExitBadInput;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help) == 0 ? ttt::cli::kExitOk : ttt::cli::kExitBadInput;
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help) == 0 ? ttt::cli::kExitOk : ttt::cli::kExitBadInput;
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version) == 0 ? ttt::cli::kExitOk : ttt::cli::kExitBadInput;
  } catch (const CLI::ParseError& error) {
    // Argument errors look like every other error of ttt: one line, exit 2.
    std::string what = error.what();
    if (argc == 1) what = "a subcommand is required (see ttt --help)";
    std::cerr << "ttt: error: " << what << "\n";
    return ttt::cli::kExitBadInput;
  }
  try {
    for (const auto* sub : app.get_subcommands()) return runners.at(sub->get_name())();
  } catch (const std::exception& error) {
    std::cerr << "ttt: error: " << error.what() << "\n";
    return ttt::cli::kExitBadInput;
  }
  return ttt::cli::kExitBadInput;
}

// `ttt`: parse the command line, run one registered subcommand, map errors to exit code 2.
#include <exception>
#include <iostream>
#include <map>

#include "command.h"

int main(int argc, char** argv) {
  CLI::App app{"TTTv2: validate transformer blocks against references", "ttt"};
  app.set_version_flag("--version", std::string("ttt ") + TTT_VERSION);
  app.require_subcommand(1);
  std::map<std::string, std::function<int()>> runners;
  for (const auto& command : ttt::cli::registered_commands()) {
    runners[command.name] = command.setup(app);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? ttt::cli::kExitOk : ttt::cli::kExitBadInput;
  }
  try {
    for (const auto* sub : app.get_subcommands()) return runners.at(sub->get_name())();
  } catch (const std::exception& error) {
    std::cerr << "ttt: error: " << error.what() << "\n";
    return ttt::cli::kExitBadInput;
  }
  return ttt::cli::kExitBadInput;
}

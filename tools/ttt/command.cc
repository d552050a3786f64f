#include "command.h"

#include <algorithm>

namespace ttt::cli {

std::vector<RegisteredCommand>& registered_commands() {
  static std::vector<RegisteredCommand> commands;
  return commands;
}

CommandRegistration::CommandRegistration(std::string name, CommandSetup setup) {
  auto& commands = registered_commands();
  commands.push_back({std::move(name), std::move(setup)});
  std::sort(commands.begin(), commands.end(),
            [](const RegisteredCommand& a, const RegisteredCommand& b) { return a.name < b.name; });
}

}  // namespace ttt::cli

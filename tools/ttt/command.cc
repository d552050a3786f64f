#include "command.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <stdexcept>

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

void write_output(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text;
    return;
  }
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error(path + ": cannot write");
}

OutputStream::OutputStream(const std::string& path) : path_(path) {
  if (path_ == "-") return;
  file_.open(path_, std::ios::trunc);
  if (!file_) throw std::runtime_error(path_ + ": cannot write");
}

void OutputStream::close() {
  stream().flush();
  if (path_ != "-") file_.close();
  if (!stream()) throw std::runtime_error(path_ + ": cannot write");
}

}  // namespace ttt::cli

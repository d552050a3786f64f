// Subcommand registration for the `ttt` binary. Each *_command.cc defines one static
// CommandRegistration; main() adds every registered command to the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>

namespace ttt::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;        // Passed / may merge.
inline constexpr int kExitFailed = 1;    // A comparison or gate failed.
inline constexpr int kExitBadInput = 2;  // Usage or input error.

// A subcommand: `setup` adds the CLI11 subcommand and its options to `app` and returns a callable
// that runs it and returns the exit code. Errors thrown from it are printed as one line and exit 2.
using CommandSetup = std::function<std::function<int()>(CLI::App& app)>;

struct CommandRegistration {
  CommandRegistration(std::string name, CommandSetup setup);
};

// Writes `text` to the file `path`, or to standard output when `path` is "-" (every --json,
// --junit, --markdown, ... option of the subcommands). Throws std::runtime_error
// "<path>: cannot write" when the file cannot be written.
void write_output(const std::string& path, const std::string& text);

// An output written while a command runs (the JSON of `ttt replay`, call by call), opened like
// write_output's: the file `path`, or standard output for "-". Throws std::runtime_error
// "<path>: cannot write" when the file cannot be opened, and from close() when writing failed.
class OutputStream {
 public:
  explicit OutputStream(const std::string& path);
  std::ostream& stream() { return path_ == "-" ? std::cout : file_; }
  void close();

 private:
  std::string path_;
  std::ofstream file_;
};

struct RegisteredCommand {
  std::string name;
  CommandSetup setup;
};
std::vector<RegisteredCommand>& registered_commands();

}  // namespace ttt::cli

// Subcommand registration for the `ttt` binary. Each *_command.cc defines one static
// CommandRegistration; main() adds every registered command to the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
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

struct RegisteredCommand {
  std::string name;
  CommandSetup setup;
};
std::vector<RegisteredCommand>& registered_commands();

}  // namespace ttt::cli

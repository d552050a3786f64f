// Running the `ttt` binary as a subprocess in CLI tests: its exit code, standard output and
// standard error. Every CLI test uses it (tests/tools, tests/suites/suite/suite_command_test.cc).
#pragma once

#include <sys/wait.h>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ttt::cli_test {

struct RunResult {
  int exit_code = -1;  // -1 when the process did not exit normally (a crash).
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

inline std::string read_text(const std::string& path) {
  std::ifstream file(path);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// Runs the shell command line `command` with its standard output and error captured in files of
// `directory`.
inline RunResult run_shell(const std::filesystem::path& directory, std::string command) {
  const std::string out = (directory / "stdout").string();
  const std::string err = (directory / "stderr").string();
  command += " >" + shell_quote(out) + " 2>" + shell_quote(err);
  const int status = std::system(command.c_str());
  RunResult result;
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = read_text(out);
  result.err = read_text(err);
  return result;
}

// The number of times `what` occurs in `text` (overlaps counted).
inline std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The DOM headless Chromium (the program `chromium`) builds from the HTML file `page` (an absolute
// path), with its profile in `directory`/profile: what a reader of the report sees, scripts run and
// styles applied. The HTML report tests check their pages with it.
inline RunResult chromium_dom(const std::filesystem::path& directory, const std::string& chromium,
                              const std::string& page) {
  return run_shell(directory, "timeout 120 " + shell_quote(chromium) +
                                  " --headless --no-sandbox --disable-gpu --disable-quic "
                                  "--no-first-run --disable-background-networking "
                                  "--disable-component-update --disable-sync --user-data-dir=" +
                                  shell_quote((directory / "profile").string()) + " --dump-dom " +
                                  shell_quote("file://" + page));
}

// Tests of other programs (tests/validation/mesh/mpi launches MPI ranks) use run_shell alone and
// do not define TTT_CLI_PATH.
#ifdef TTT_CLI_PATH
// The shell command line `env ttt args...`, each argument quoted. `env` is a prefix of variable
// assignments ("TTT_COVERAGE=/tmp/c.jsonl"), or "".
inline std::string ttt_command(const std::vector<std::string>& args, const std::string& env = "") {
  std::string command = env + (env.empty() ? "" : " ") + shell_quote(TTT_CLI_PATH);
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  return command;
}

// Runs `env ttt args...` with its output captured in files of `directory`.
inline RunResult run_ttt(const std::filesystem::path& directory,
                         const std::vector<std::string>& args, const std::string& env = "") {
  return run_shell(directory, ttt_command(args, env));
}
#endif  // TTT_CLI_PATH

}  // namespace ttt::cli_test

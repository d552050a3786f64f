// The conventions every subcommand follows (docs/cli.md): argument errors are `ttt: error:` lines
// with exit 2, an unknown subcommand is named, and every --help shows an example.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using cli_test::run_ttt;
using cli_test::RunResult;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class CliConventions : public ::testing::Test {
 protected:
  RunResult ttt(const std::vector<std::string>& args) { return run_ttt(scratch_.path(), args); }
  test_support::ScratchDir scratch_;
};

TEST_F(CliConventions, AnUnknownSubcommandIsNamed) {
  const RunResult result = ttt({"bogus"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, StartsWith("ttt: error: unknown subcommand 'bogus'"));
}

TEST_F(CliConventions, NoSubcommandIsAnErrorLine) {
  const RunResult result = ttt({});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, StartsWith("ttt: error: "));
}

TEST_F(CliConventions, ArgumentErrorsAreErrorLines) {
  const RunResult unknown_flag = ttt({"inspect", "t.h5", "--bogus"});
  EXPECT_EQ(unknown_flag.exit_code, 2);
  EXPECT_THAT(unknown_flag.err, StartsWith("ttt: error: "));
  EXPECT_THAT(unknown_flag.err, HasSubstr("--bogus"));
  const RunResult missing = ttt({"compare"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, StartsWith("ttt: error: "));
}

// The subcommand names of a CLI11 help text: the lines of its "Subcommands:" section that start
// with two spaces and a name (a description's continuation lines are indented further).
std::vector<std::string> listed_subcommands(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream lines(help);
  bool in_section = false;
  for (std::string line; std::getline(lines, line);) {
    if (line == "Subcommands:") {
      in_section = true;
    } else if (in_section && line.empty()) {
      break;
    } else if (in_section && line.rfind("  ", 0) == 0 && line.size() > 2 && line[2] != ' ') {
      names.push_back(line.substr(2, line.find(' ', 2) - 2));
    }
  }
  return names;
}

// Every subcommand path of `ttt --help` and its groups' --help (a new subcommand belongs here). A
// subcommand without a footer of its own inherits its parent's, so each help must show an example
// of that very subcommand, not only the word "Examples:".
TEST_F(CliConventions, HelpShowsAnExample) {
  const RunResult top = ttt({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.out, HasSubstr("Examples:\n  ttt "));
  const std::vector<std::vector<std::string>> commands = {
      {"accuracy"},
      {"compare"},
      {"compose"},
      {"config"},
      {"config", "dump"},
      {"config", "diff"},
      {"coverage"},
      {"coverage", "report"},
      {"coverage", "merge"},
      {"coverage", "catalog"},
      {"demo"},
      {"diff"},
      {"explain"},
      {"gate"},
      {"history"},
      {"inspect"},
      {"noise-floor"},
      {"replay"},
      {"report"},
      {"registry"},
      {"registry", "list"},
      {"registry", "show"},
      {"registry", "check"},
      {"registry", "diff"},
      {"registry", "update"},
      {"roofline"},
      {"select"},
      {"suite"},
      {"suite", "run"},
      {"suite", "merge"},
      {"suite", "list"},
      {"suite", "check"},
      {"suite", "calibrate"},
      {"trace"},
      {"trace", "recover"},
  };
  for (const std::vector<std::string>& command : commands) {
    std::string name = "ttt";
    for (const std::string& word : command) name += " " + word;
    std::vector<std::string> args = command;
    args.push_back("--help");
    const RunResult help = ttt(args);
    EXPECT_EQ(help.exit_code, 0) << name;
    EXPECT_THAT(help.out, HasSubstr("Examples:\n")) << name;
    EXPECT_THAT(help.out, HasSubstr("\n  " + name + " ")) << name;
    // The list above is complete: every subcommand a help lists is in it.
    for (const std::string& sub : listed_subcommands(help.out)) {
      std::vector<std::string> path = command;
      path.push_back(sub);
      EXPECT_THAT(commands, Contains(path)) << name << " " << sub << " is missing from the list";
    }
  }
  for (const std::string& sub : listed_subcommands(top.out)) {
    EXPECT_THAT(commands, Contains(std::vector<std::string>{sub})) << sub;
  }
  // listed_subcommands reads CLI11's help as it is printed.
  EXPECT_THAT(listed_subcommands(top.out), Contains("compare"));
  EXPECT_THAT(listed_subcommands(ttt({"suite", "--help"}).out), Contains("check"));
}

}  // namespace
}  // namespace ttt

// The conventions every subcommand follows (docs/cli.md): argument errors are `ttt: error:` lines
// with exit 2, an unknown subcommand is named, and every --help shows an example.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using cli_test::run_ttt;
using cli_test::RunResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class CliConventions : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("ttt_cli_conventions_" + std::to_string(::getpid()) + "_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }
  RunResult ttt(const std::vector<std::string>& args) { return run_ttt(directory_, args); }
  std::filesystem::path directory_;
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

TEST_F(CliConventions, HelpShowsAnExample) {
  const RunResult top = ttt({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.out, HasSubstr("Example"));
  for (const char* command : {"compare", "inspect", "report"}) {
    const RunResult help = ttt({command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_THAT(help.out, HasSubstr("Example")) << command;
  }
}

}  // namespace
}  // namespace ttt

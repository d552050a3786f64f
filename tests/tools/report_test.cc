// `ttt report`, run as a subprocess: each format, -o/--output, exit codes, and bad input (exit 2,
// one line naming the file).
#include "validation/wrapper/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::run_shell;
using cli_test::RunResult;
using cli_test::shell_quote;

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

OutputCheck check(double pcc, double max_abs_error, std::vector<std::string> failures) {
  OutputCheck output;
  output.name = "out0";
  Metrics metrics;
  metrics.pcc = pcc;
  metrics.max_abs_error = max_abs_error;
  output.metrics = metrics;
  output.tolerances = Tolerances::tt_metal_default();
  output.verdict.passed = failures.empty();
  output.verdict.failures = std::move(failures);
  return output;
}

ValidationRecord record(std::int64_t sequence, const std::string& name, OutputCheck output) {
  ValidationRecord r;
  r.sequence = sequence;
  r.name = name;
  r.call_index = sequence;
  r.first_call = sequence == 0;
  r.location = {"/src/model.cc", 12, "forward"};
  r.device_ns = 2000;
  r.reference_ns = 5000;
  r.passed = output.verdict.passed;
  r.outputs = {std::move(output)};
  return r;
}

class ReportCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    failing_ = {record(0, "layers.0.mlp", check(0.9999, 0.001, {})),
                record(1, "layers.0.mlp", check(0.9812, 0.31, {"pcc 0.9812 < 0.99"}))};
    passing_ = {failing_[0]};
    write_report(path("failing.json"), failing_, ReportFormat::json);
    write_report(path("passing.json"), passing_, ReportFormat::json);
  }

  std::string path(const std::string& name) const { return scratch_.file(name); }

  RunResult run(const std::string& arguments, const std::string& environment = "") const {
    return run_shell(scratch_.path(),
                     cli_test::ttt_command({"report"}, environment) + " " + arguments);
  }

  test_support::ScratchDir scratch_;
  std::vector<ValidationRecord> failing_;
  std::vector<ValidationRecord> passing_;
};

TEST_F(ReportCommand, ConsoleIsTheDefaultAndFailuresExitOne) {
  const RunResult result = run(shell_quote(path("failing.json")));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, IsEmpty());
  EXPECT_THAT(result.out, StartsWith("Validation: 2 calls, 1 passed, 1 failed (1 name)\n"));
  EXPECT_THAT(result.out, HasSubstr("  FAIL layers.0.mlp call 1 (/src/model.cc:12)\n"
                                    "      out0: pcc 0.9812 < 0.99\n"));
  EXPECT_THAT(result.out, Not(HasSubstr("\033[")));  // Standard output is not a terminal.
  EXPECT_EQ(result.out, render_console_report(failing_));
}

TEST_F(ReportCommand, PassingReportsExitZero) {
  const RunResult result = run(shell_quote(path("passing.json")) + " --format markdown");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, StartsWith("### Validation: 1 of 1 calls passed\n"));
  EXPECT_EQ(result.out, render_markdown_report(passing_));
}

TEST_F(ReportCommand, JUnitToAFile) {
  const RunResult result =
      run(shell_quote(path("failing.json")) + " --format junit -o " + shell_quote(path("r.xml")));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, IsEmpty());
  const std::string xml = read_text(path("r.xml"));
  EXPECT_THAT(xml, StartsWith("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "));
  EXPECT_THAT(xml, HasSubstr("<failure message=\"1 of 2 calls failed; first: call 1: out0: pcc "
                             "0.9812 &lt; 0.99\" type=\"ValidationFailure\">"));
  EXPECT_EQ(xml, render_junit_report(failing_));
}

TEST_F(ReportCommand, JsonRendersTheSameRecords) {
  const RunResult result = run(shell_quote(path("failing.json")) + " --format json");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, read_text(path("failing.json")));
}

TEST_F(ReportCommand, MissingFileIsOneLineNamingIt) {
  const std::string missing = path("missing.json");
  const RunResult result = run(shell_quote(missing));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_EQ(result.err,
            "ttt: error: [report] cannot read " + missing + ": No such file or directory\n");
}

TEST_F(ReportCommand, BadContentsAreOneLineNamingTheFile) {
  std::ofstream(path("broken.json")) << "{\"format\": \"ttt-validation-report\",";
  const RunResult broken = run(shell_quote(path("broken.json")));
  EXPECT_EQ(broken.exit_code, 2);
  EXPECT_THAT(broken.err,
              StartsWith("ttt: error: [report] " + path("broken.json") + ": not JSON: "));
  EXPECT_EQ(std::count(broken.err.begin(), broken.err.end(), '\n'), 1);

  std::ofstream(path("trace.json")) << R"({"format": "ttt-trace", "format_version": 1})";
  const RunResult wrong = run(shell_quote(path("trace.json")));
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_EQ(wrong.err, "ttt: error: " + path("trace.json") +
                           ": /format: expected \"ttt-validation-report\", got \"ttt-trace\"\n");
}

TEST_F(ReportCommand, BadArgumentsExitTwo) {
  EXPECT_EQ(run(shell_quote(path("failing.json")) + " --format pdf").exit_code, 2);
  EXPECT_EQ(run("").exit_code, 2);  // The file is required.
  const RunResult unwritable =
      run(shell_quote(path("failing.json")) + " --output " + shell_quote(path("no/such/dir/r.md")));
  EXPECT_EQ(unwritable.exit_code, 2);
  EXPECT_THAT(unwritable.err, HasSubstr(path("no/such/dir/r.md")));
}

}  // namespace
}  // namespace ttt

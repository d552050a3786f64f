// `ttt report FILE.json`: re-renders a saved validation report (the JSON written by
// write_report / report_to_json) to the console, Markdown or JUnit XML. docs/validation.md and
// docs/report-format.md document the report; the exit code says whether it holds failed calls.
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>

#include "command.h"
#include "validation/wrapper/report.h"

namespace ttt::cli {
namespace {

struct ReportArguments {
  std::string file;
  std::string format = "console";
  std::string output;  // -o, --output; empty or "-": standard output.
};

int run_report(const ReportArguments& args) {
  const ReportFormat format = parse_report_format(args.format);
  const std::vector<ValidationRecord> records = load_report(args.file);
  if (args.output.empty() || args.output == "-") {
    ReportOptions options;
    options.color = format == ReportFormat::console && use_color_on_stdout();
    std::cout << render_report(records, format, options) << std::flush;
  } else {
    write_report(args.output, records, format);
  }
  const bool failed = std::any_of(records.begin(), records.end(),
                                  [](const ValidationRecord& record) { return !record.passed; });
  return failed ? kExitFailed : kExitOk;
}

const CommandRegistration kRegistration("report", [](CLI::App& app) {
  auto args = std::make_shared<ReportArguments>();
  CLI::App* command = app.add_subcommand(
      "report",
      "Re-render a saved validation report (JSON) to the console, Markdown (for a pull-request\n"
      "comment) or JUnit XML (for Jenkins and GitLab). Exit 0 when every call passed, 1 when the\n"
      "report holds a failed call, 2 for a bad file or bad arguments. Colour only on a terminal\n"
      "and never with NO_COLOR set.");
  command->add_option("file", args->file, "The JSON report, as written by ttt::write_report")
      ->required();
  command->add_option("--format", args->format, "console (default), markdown, junit or json")
      ->check(CLI::IsMember({"console", "markdown", "junit", "json"}));
  command->add_option("-o,--output", args->output,
                      "Write to FILE instead of standard output ('-': standard output)");
  command->footer(
      "Examples:\n"
      "  ttt report build/default/demo/report.json\n"
      "  ttt report build/default/demo/report.json --format junit -o report.xml");
  return [args] { return run_report(*args); };
});

}  // namespace
}  // namespace ttt::cli

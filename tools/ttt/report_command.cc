// `ttt report FILE.json`: re-renders a saved validation report (the JSON written by
// write_report / report_to_json) to the console, Markdown or JUnit XML; with --format html, the
// HTML report (validation/wrapper/html_report.h) of that report or of a trace (FILE.h5).
// docs/validation.md and docs/report-format.md document the report; the exit code says whether
// it holds failed calls.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "command.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/html_report.h"
#include "validation/wrapper/report.h"

namespace ttt::cli {
namespace {

struct ReportArguments {
  std::string file;
  std::string format = "console";
  std::string output;  // -o, --output; empty or "-": standard output.
};

// Whether `path` starts with HDF5's signature (a trace) rather than JSON text. A file that cannot
// be opened is not one: load_report says why it cannot be read.
bool is_hdf5_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  char signature[8] = {};
  in.read(signature, sizeof(signature));
  return in.gcount() == 8 && std::string(signature, 8) == "\x89HDF\r\n\x1a\n";
}

int run_html_report(const ReportArguments& args) {
  HtmlReportInput input;
  bool failed = false;
  if (is_hdf5_file(args.file)) {
    input = html_report_of_trace(TraceReader::open(args.file));
  } else {
    const std::vector<ValidationRecord> records = load_report(args.file);
    input.title = "Validation report";
    input.source = args.file;
    input.calls = html_calls(records);
  }
  for (const HtmlReportCall& call : input.calls) failed = failed || call.failed;
  const std::string page = render_html_report(input);
  // Opened once the input is read: bad input leaves no empty page behind.
  OutputStream out(args.output.empty() ? "-" : args.output);
  out.stream() << page;
  out.close();
  return failed ? kExitFailed : kExitOk;
}

int run_report(const ReportArguments& args) {
  if (args.format == "html") return run_html_report(args);
  if (is_hdf5_file(args.file)) {
    throw std::invalid_argument("[report] " + args.file +
                                " is a trace: it renders only as --format html");
  }
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
      "comment) or JUnit XML (for Jenkins and GitLab); or draw the HTML report of a report or a\n"
      "trace (per-layer and per-call PCC and NMSE, the LM head's token strip, the worst calls\n"
      "with their replay lines). Exit 0 when every call passed, 1 when the report holds a failed\n"
      "call, 2 for a bad file or bad arguments. Colour only on a terminal and never with NO_COLOR\n"
      "set.");
  command
      ->add_option("file", args->file,
                   "The JSON report, as written by ttt::write_report, or (--format html) a trace")
      ->required();
  command->add_option("--format", args->format, "console (default), markdown, junit, json or html")
      ->check(CLI::IsMember({"console", "markdown", "junit", "json", "html"}));
  command->add_option("-o,--output", args->output,
                      "Write to FILE instead of standard output ('-': standard output)");
  command->footer(
      "Examples:\n"
      "  ttt report build/default/demo/report.json\n"
      "  ttt report build/default/demo/report.json --format junit -o report.xml\n"
      "  ttt report build/default/demo/trace.h5 --format html -o report.html");
  return [args] { return run_report(*args); };
});

}  // namespace
}  // namespace ttt::cli

// Reports of validation records: console, Markdown, JUnit XML and JSON (docs/report-format.md).
//
// A JSON report holds every record and round-trips: load_report() gives back the records, from
// which `ttt report` renders any other format. Renderers never read the global registry; pass
// validation_registry().records() (or a query's result, or a loaded report).
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "validation/wrapper/registry.h"

namespace ttt {

// The JSON report's "format" and "format_version" (docs/report-format.md).
inline constexpr std::string_view kReportFormatName = "ttt-validation-report";
inline constexpr int kReportFormatVersion = 1;

enum class ReportFormat { console, markdown, junit, json };

// "console", "markdown", "junit" or "json". Throws std::invalid_argument naming the text.
ReportFormat parse_report_format(std::string_view name);

struct ReportOptions {
  // ANSI colours in the console report. Decide with use_color_on_stdout() or should_use_color().
  bool color = false;
  // Failed calls listed per name (console, Markdown, JUnit); the rest are counted ("... and 12
  // more failed calls"). The JSON report always holds every record.
  std::size_t max_failed_calls_per_name = 20;
  // JUnit: the name of <testsuites>/<testsuite> and the classname of every <testcase>.
  std::string junit_suite_name = "ttt.validation";
};

// Renders `records` (in the given order; names are grouped in order of first appearance).
std::string render_report(const std::vector<ValidationRecord>& records, ReportFormat format,
                          const ReportOptions& options = {});
// An aligned table per name (status, calls, failures, worst PCC and max abs error, median
// times, speedup, wrapping site), then every failed call with its failure lines and file:line.
std::string render_console_report(const std::vector<ValidationRecord>& records,
                                  const ReportOptions& options = {});
// The same table in GitHub-flavoured Markdown, for a pull-request comment.
std::string render_markdown_report(const std::vector<ValidationRecord>& records,
                                   const ReportOptions& options = {});
// JUnit XML as Jenkins and GitLab read it: one <testcase> per wrapped name, a <failure> listing
// its failed calls.
std::string render_junit_report(const std::vector<ValidationRecord>& records,
                                const ReportOptions& options = {});

// The JSON report: format, format_version, producer, summary and every record.
nlohmann::json report_to_json(const std::vector<ValidationRecord>& records);
nlohmann::json record_to_json(const ValidationRecord& record);
// Its "scalars" (an object by name), "outputs" and "errors" (arrays), as record_to_json writes them
// (a trace's call metrics hold the last two).
nlohmann::json record_scalars_to_json(const ValidationRecord& record);
nlohmann::json record_outputs_to_json(const ValidationRecord& record);
nlohmann::json record_errors_to_json(const ValidationRecord& record);
// Inverses, read by the strict JSON reader. Throw std::invalid_argument naming the function and
// the JSON Pointer of the bad field ("records_from_report_json: /records/3/outputs/0/name:
// expected a string, got 5"); load_report names the file instead.
std::vector<ValidationRecord> records_from_report_json(const nlohmann::json& report);
ValidationRecord record_from_json(const nlohmann::json& json);

// Reads a JSON report. Throws std::invalid_argument with one line naming the file: it cannot be
// read, is not JSON, is not a ttt-validation-report, or has a newer format_version or a bad field.
std::vector<ValidationRecord> load_report(const std::string& path);
// Writes `records` to `path` in `format` (console without colour). Throws std::runtime_error
// naming the file when it cannot be written.
void write_report(const std::string& path, const std::vector<ValidationRecord>& records,
                  ReportFormat format, const ReportOptions& options = {});

// Colour policy: only on a terminal, and never when NO_COLOR is set to a non-empty value
// (https://no-color.org). `no_color` is the variable's value, or nullptr when unset.
bool should_use_color(bool is_terminal, const char* no_color);
// should_use_color(stdout is a terminal, getenv("NO_COLOR")).
bool use_color_on_stdout();

// Prints the console report of every record in validation_registry() to stdout, with colour
// decided by use_color_on_stdout().
void print_validation_report();

// "812 ns", "12.3 us", "4.56 ms", "1.23 s" (three significant digits).
std::string format_duration_ns(double nanoseconds);

}  // namespace ttt

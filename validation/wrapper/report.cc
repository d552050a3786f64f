#include "validation/wrapper/report.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/markup/junit.h"
#include "validation/markup/markup.h"

namespace ttt {
namespace {

using nlohmann::json;

constexpr const char* kGreen = "\033[32m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kBold = "\033[1m";
constexpr const char* kReset = "\033[0m";

// ----- Formatting helpers ---------------------------------------------------------------------

std::string format_fixed(double value, int decimals) {
  if (std::isnan(value)) return "nan";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

std::string format_scientific(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.3e", value);
  return buffer;
}

std::string optional_fixed(const std::optional<double>& value, int decimals) {
  return value.has_value() ? format_fixed(*value, decimals) : "-";
}

std::string optional_scientific(const std::optional<double>& value) {
  return value.has_value() ? format_scientific(*value) : "-";
}

std::string optional_duration(const std::optional<double>& value) {
  return value.has_value() ? format_duration_ns(*value) : "-";
}

std::string optional_speedup(const std::optional<double>& value) {
  return value.has_value() ? format_fixed(*value, 2) + "x" : "-";
}

std::string base_name(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string short_location(const SourceLocation& location) {
  return base_name(location.file) + ":" + std::to_string(location.line);
}

// The failed records of each name, in record order.
std::map<std::string, std::vector<const ValidationRecord*>> failed_by_name(
    const std::vector<ValidationRecord>& records) {
  std::map<std::string, std::vector<const ValidationRecord*>> failed;
  for (const ValidationRecord& record : records) {
    if (!record.passed) failed[record.name].push_back(&record);
  }
  return failed;
}

std::string more_failures_line(std::size_t listed, std::size_t total) {
  return "... and " + std::to_string(total - listed) + " more failed call" +
         (total - listed == 1 ? "" : "s");
}

// ----- Console ---------------------------------------------------------------------------------

std::string pad_right(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::string pad_left(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

std::string paint(const std::string& text, const char* colour, bool enabled) {
  return enabled ? std::string(colour) + text + kReset : text;
}

// ----- JSON ------------------------------------------------------------------------------------

json number_or_null(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

json optional_number(const std::optional<double>& value) {
  return value.has_value() ? number_or_null(*value) : json(nullptr);
}

json location_to_json(const SourceLocation& location) {
  return {{"file", location.file}, {"line", location.line}, {"function", location.function}};
}

json scalar_to_json(const ScalarValue& value) {
  return std::visit(
      [](auto v) -> json {
        if constexpr (std::is_same_v<decltype(v), double>) {
          return number_or_null(v);
        } else {
          return json(v);
        }
      },
      value);
}

json parse_object_text(const std::string& text) {
  try {
    json parsed = parse_json(text, "");
    return parsed.is_object() ? parsed : json::object();
  } catch (const std::invalid_argument&) {
    return json::object();
  }
}

json summary_to_json(const ValidationSummary& summary) {
  json names = json::array();
  for (const NameSummary& name : summary.names) {
    names.push_back({{"name", name.name},
                     {"calls", name.calls},
                     {"passed", name.passed},
                     {"failed", name.failed},
                     {"worst_pcc", optional_number(name.worst_pcc)},
                     {"worst_max_abs_error", optional_number(name.worst_max_abs_error)},
                     {"median_device_ns", optional_number(name.median_device_ns)},
                     {"median_reference_ns", optional_number(name.median_reference_ns)},
                     {"speedup", optional_number(name.speedup)},
                     {"location", location_to_json(name.location)},
                     {"block", name.block}});
  }
  return {{"calls", summary.calls},
          {"passed", summary.passed},
          {"failed", summary.failed},
          {"names", std::move(names)}};
}

// Reading: the strict JSON reader names the source and JSON Pointer of a bad field
// ("report.json: /records/0/name: expected a string, got 5").
SourceLocation location_from(const JsonNode& node) {
  SourceLocation location;
  location.file = node.at("file").string();
  location.line = static_cast<std::uint32_t>(
      node.at("line").integer_in(0, std::numeric_limits<std::uint32_t>::max()));
  location.function = node.at("function").string();
  return location;
}

ScalarValue scalar_from(const JsonNode& node) {
  const json& value = node.json();
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number_unsigned()) {
    const auto unsigned_value = value.get<std::uint64_t>();
    if (unsigned_value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(unsigned_value);
    }
    return unsigned_value;
  }
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number_float()) return value.get<double>();
  if (value.is_null()) return std::numeric_limits<double>::quiet_NaN();
  node.fail("expected a number, true, false or null, got " + value.dump());
}

// "passed", "failures" and "metrics" of an output or of one of its devices.
void read_verdict(const JsonNode& node, Verdict& verdict, std::optional<Metrics>& metrics) {
  verdict.passed = node.at("passed").boolean();
  const JsonNode failures = node.at("failures");
  for (std::size_t f = 0; f < failures.size(); ++f) {
    verdict.failures.push_back(failures.at(f).string());
  }
  const JsonNode read = node.at("metrics");
  if (!read.json().is_null()) metrics = metrics_from_json(read);
}

// A device index, row or column: 0 .. 1023 (validation/mesh's largest mesh).
int device_index(const JsonNode& node) { return static_cast<int>(node.integer_in(0, 1023)); }

ValidationRecord record_from(const JsonNode& node) {
  ValidationRecord record;
  record.sequence = node.at("sequence").integer();
  record.name = node.at("name").string();
  record.call_index = node.at("call_index").integer();
  record.first_call = node.at("first_call").boolean();
  record.passed = node.at("passed").boolean();
  record.location = location_from(node.at("location"));

  const JsonNode inputs = node.at("inputs");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const JsonNode input = inputs.at(i);
    InputInfo info;
    info.name = input.at("name").string();
    const JsonNode shape = input.at("shape");
    for (std::size_t d = 0; d < shape.size(); ++d) info.shape.push_back(shape.at(d).integer());
    const JsonNode dtype = input.at("dtype");
    try {
      info.dtype = parse_dtype(dtype.string());
    } catch (const std::invalid_argument& error) {
      dtype.fail(error.what());
    }
    record.inputs.push_back(std::move(info));
  }

  const JsonNode scalars = node.at("scalars");
  for (const auto& [key, value] : scalars.object().items()) {
    record.scalars.push_back({key, scalar_from(scalars.at(key))});
  }

  const JsonNode outputs = node.at("outputs");
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const JsonNode output = outputs.at(i);
    OutputCheck check;
    check.name = output.at("name").string();
    read_verdict(output, check.verdict, check.metrics);
    check.tolerances = tolerances_from_json(output.at("tolerances"));
    if (const auto devices = output.find("devices")) {
      for (std::size_t d = 0; d < devices->size(); ++d) {
        const JsonNode device = devices->at(d);
        DeviceCheck& entry = check.devices.emplace_back();
        entry.device = device_index(device.at("device"));
        entry.row = device_index(device.at("row"));
        entry.col = device_index(device.at("col"));
        read_verdict(device, entry.verdict, entry.metrics);
      }
    }
    record.outputs.push_back(std::move(check));
  }

  const JsonNode errors = node.at("errors");
  for (std::size_t i = 0; i < errors.size(); ++i) {
    const JsonNode error = errors.at(i);
    record.errors.push_back({error.at("stage").string(), error.at("message").string()});
  }

  record.device_ns = node.at("device_ns").integer();
  record.reference_ns = node.at("reference_ns").integer();
  record.teacher_forced = node.at("teacher_forced").boolean();
  record.block = node.at("block").string();
  record.spec_json = node.at("spec").object().dump();
  record.impl_config_json = node.at("impl_config").object().dump();
  record.device = node.at("device").string();
  if (const auto fingerprint = node.find("fingerprint")) {
    record.fingerprint = fingerprint_from_json(*fingerprint);
  }
  return record;
}

std::vector<ValidationRecord> records_from(const JsonNode& root) {
  const JsonNode format = root.at("format");
  if (format.string() != kReportFormatName) {
    format.fail("expected \"" + std::string(kReportFormatName) + "\", got \"" + format.string() +
                "\"");
  }
  const JsonNode version = root.at("format_version");
  if (version.integer() < 1 || version.integer() > kReportFormatVersion) {
    version.fail("unsupported version " + std::to_string(version.integer()) +
                 " (this build reads 1 to " + std::to_string(kReportFormatVersion) + ")");
  }
  const JsonNode records = root.at("records");
  std::vector<ValidationRecord> result;
  for (std::size_t i = 0; i < records.size(); ++i) result.push_back(record_from(records.at(i)));
  return result;
}

}  // namespace

std::string format_duration_ns(double nanoseconds) {
  if (std::isnan(nanoseconds)) return "nan";
  struct Unit {
    double scale;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}};
  for (const Unit& unit : kUnits) {
    if (std::fabs(nanoseconds) >= unit.scale) {
      const double value = nanoseconds / unit.scale;
      const int decimals = value >= 100.0 ? 0 : (value >= 10.0 ? 1 : 2);
      return format_fixed(value, decimals) + " " + unit.name;
    }
  }
  return format_fixed(nanoseconds, 0) + " ns";
}

ReportFormat parse_report_format(std::string_view name) {
  if (name == "console") return ReportFormat::console;
  if (name == "markdown") return ReportFormat::markdown;
  if (name == "junit") return ReportFormat::junit;
  if (name == "json") return ReportFormat::json;
  throw std::invalid_argument("[report] unknown format \"" + std::string(name) +
                              "\"; expected console, markdown, junit or json");
}

std::string render_report(const std::vector<ValidationRecord>& records, ReportFormat format,
                          const ReportOptions& options) {
  switch (format) {
    case ReportFormat::console:
      return render_console_report(records, options);
    case ReportFormat::markdown:
      return render_markdown_report(records, options);
    case ReportFormat::junit:
      return render_junit_report(records, options);
    case ReportFormat::json:
      return report_to_json(records).dump(2) + "\n";
  }
  throw std::invalid_argument("[report] unknown format");
}

std::string render_console_report(const std::vector<ValidationRecord>& records,
                                  const ReportOptions& options) {
  const ValidationSummary summary = summarize(records);
  const bool colour = options.color;
  std::ostringstream out;
  out << paint("Validation:", kBold, colour) << " " << summary.calls << " call"
      << (summary.calls == 1 ? "" : "s") << ", " << summary.passed << " passed, "
      << (summary.failed > 0 ? paint(std::to_string(summary.failed) + " failed", kRed, colour)
                             : std::string("0 failed"))
      << " (" << summary.names.size() << " name" << (summary.names.size() == 1 ? "" : "s") << ")\n";
  if (summary.names.empty()) return out.str();

  const std::vector<std::string> headers = {
      "STATUS",        "NAME",       "CALLS",         "FAILED",  "WORST PCC",
      "WORST MAX ABS", "DEVICE p50", "REFERENCE p50", "SPEEDUP", "WRAPPED AT"};
  // Columns 2..8 are numbers (right-aligned); the others are text.
  const auto right_aligned = [](std::size_t column) { return column >= 2 && column <= 8; };
  std::vector<std::vector<std::string>> rows;
  for (const NameSummary& name : summary.names) {
    rows.push_back({name.failed > 0 ? "FAIL" : "PASS", name.name, std::to_string(name.calls),
                    std::to_string(name.failed), optional_fixed(name.worst_pcc, 6),
                    optional_scientific(name.worst_max_abs_error),
                    optional_duration(name.median_device_ns),
                    optional_duration(name.median_reference_ns), optional_speedup(name.speedup),
                    short_location(name.location)});
  }
  std::vector<std::size_t> widths(headers.size());
  for (std::size_t c = 0; c < headers.size(); ++c) {
    widths[c] = headers[c].size();
    for (const auto& row : rows) widths[c] = std::max(widths[c], row[c].size());
  }
  const auto emit_row = [&](const std::vector<std::string>& row, bool is_header) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const bool last = c + 1 == row.size();
      std::string cell = right_aligned(c) ? pad_left(row[c], widths[c])
                                          : (last ? row[c] : pad_right(row[c], widths[c]));
      if (!is_header && c == 0) cell = paint(cell, row[c] == "FAIL" ? kRed : kGreen, colour);
      line += "  " + cell;
    }
    out << line << "\n";
  };
  out << "\n";
  emit_row(headers, true);
  for (const auto& row : rows) emit_row(row, false);
  out << "\nTimes are medians over the calls after each name's first (warm-up) call.\n";

  const auto failed = failed_by_name(records);
  if (!failed.empty()) {
    out << "\n" << paint("Failed calls:", kBold, colour) << "\n";
    for (const NameSummary& name : summary.names) {
      const auto it = failed.find(name.name);
      if (it == failed.end()) continue;
      const auto& calls = it->second;
      const std::size_t listed = std::min(calls.size(), options.max_failed_calls_per_name);
      for (std::size_t i = 0; i < listed; ++i) {
        const ValidationRecord& record = *calls[i];
        out << "  " << paint("FAIL", kRed, colour) << " " << record.name << " call "
            << record.call_index << " (" << record.location.text() << ")\n";
        for (const std::string& line : record.failure_lines()) out << "      " << line << "\n";
      }
      if (listed < calls.size()) {
        out << "  " << more_failures_line(listed, calls.size()) << " of " << name.name << "\n";
      }
    }
  }
  return out.str();
}

std::string render_markdown_report(const std::vector<ValidationRecord>& records,
                                   const ReportOptions& options) {
  const ValidationSummary summary = summarize(records);
  std::ostringstream out;
  out << "### Validation: " << summary.passed << " of " << summary.calls << " calls passed";
  if (summary.failed > 0) out << ", " << summary.failed << " failed";
  out << "\n\n";
  if (summary.names.empty()) return out.str();
  out << "| Status | Name | Calls | Failed | Worst PCC | Worst max abs error | Device p50 | "
         "Reference p50 | Speedup | Wrapped at |\n";
  out << "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const NameSummary& name : summary.names) {
    out << "| " << (name.failed > 0 ? "❌ FAIL" : "✅ pass") << " | `" << markdown_cell(name.name)
        << "` | " << name.calls << " | " << name.failed << " | "
        << optional_fixed(name.worst_pcc, 6) << " | "
        << optional_scientific(name.worst_max_abs_error) << " | "
        << optional_duration(name.median_device_ns) << " | "
        << optional_duration(name.median_reference_ns) << " | " << optional_speedup(name.speedup)
        << " | `" << markdown_cell(short_location(name.location)) << "` |\n";
  }
  const auto failed = failed_by_name(records);
  if (!failed.empty()) {
    out << "\n#### Failed calls\n\n";
    for (const NameSummary& name : summary.names) {
      const auto it = failed.find(name.name);
      if (it == failed.end()) continue;
      const auto& calls = it->second;
      const std::size_t listed = std::min(calls.size(), options.max_failed_calls_per_name);
      for (std::size_t i = 0; i < listed; ++i) {
        const ValidationRecord& record = *calls[i];
        out << "- `" << markdown_cell(record.name) << "` call " << record.call_index << " (`"
            << markdown_cell(short_location(record.location))
            << "`): " << markdown_cell(record.verdict_text()) << "\n";
      }
      if (listed < calls.size()) {
        out << "- " << more_failures_line(listed, calls.size()) << " of `"
            << markdown_cell(name.name) << "`\n";
      }
    }
  }
  return out.str();
}

std::string render_junit_report(const std::vector<ValidationRecord>& records,
                                const ReportOptions& options) {
  const ValidationSummary summary = summarize(records);
  std::map<std::string, double, std::less<>> seconds_by_name;
  for (const ValidationRecord& record : records) {
    seconds_by_name[record.name] +=
        static_cast<double>(record.device_ns + std::max<std::int64_t>(record.reference_ns, 0)) *
        1e-9;
  }
  const auto failed = failed_by_name(records);
  JUnitSuite suite;
  suite.name = options.junit_suite_name;
  for (const NameSummary& name : summary.names) {
    JUnitCase& c = suite.cases.emplace_back();
    c.classname = options.junit_suite_name;
    c.name = name.name;
    c.file = name.location.file;
    c.seconds = seconds_by_name[name.name];
    const auto it = failed.find(name.name);
    if (it == failed.end()) continue;
    const auto& calls = it->second;
    const ValidationRecord& first = *calls.front();
    c.result = JUnitResult::failed;
    c.type = "ValidationFailure";
    c.message = std::to_string(name.failed) + " of " + std::to_string(name.calls) +
                " calls failed; first: call " + std::to_string(first.call_index) + ": " +
                first.verdict_text();
    const std::size_t listed = std::min(calls.size(), options.max_failed_calls_per_name);
    for (std::size_t i = 0; i < listed; ++i) {
      const ValidationRecord& record = *calls[i];
      c.text += "call " + std::to_string(record.call_index) + " (" + record.location.text() +
                "): " + record.verdict_text() + "\n";
    }
    if (listed < calls.size()) c.text += more_failures_line(listed, calls.size()) + "\n";
  }
  return render_junit(options.junit_suite_name, {suite});
}

json record_scalars_to_json(const ValidationRecord& record) {
  json scalars = json::object();
  for (const ScalarInput& scalar : record.scalars)
    scalars[scalar.name] = scalar_to_json(scalar.value);
  return scalars;
}

json record_outputs_to_json(const ValidationRecord& record) {
  json outputs = json::array();
  for (const OutputCheck& output : record.outputs) {
    json serialized = {{"name", output.name},
                       {"passed", output.verdict.passed},
                       {"failures", output.verdict.failures},
                       {"metrics", output.metrics.has_value() ? to_json(*output.metrics) : json()},
                       {"tolerances", to_json(output.tolerances)}};
    // Only mesh-tensor outputs have "devices": records of single-device calls are unchanged.
    if (!output.devices.empty()) {
      json devices = json::array();
      for (const DeviceCheck& device : output.devices) {
        devices.push_back(
            {{"device", device.device},
             {"row", device.row},
             {"col", device.col},
             {"passed", device.verdict.passed},
             {"failures", device.verdict.failures},
             {"metrics", device.metrics.has_value() ? to_json(*device.metrics) : json()}});
      }
      serialized["devices"] = std::move(devices);
    }
    outputs.push_back(std::move(serialized));
  }
  return outputs;
}

json record_errors_to_json(const ValidationRecord& record) {
  json errors = json::array();
  for (const StageFailure& error : record.errors) {
    errors.push_back({{"stage", error.stage}, {"message", error.message}});
  }
  return errors;
}

json record_to_json(const ValidationRecord& record) {
  json inputs = json::array();
  for (const InputInfo& input : record.inputs) {
    inputs.push_back(
        {{"name", input.name}, {"shape", input.shape}, {"dtype", dtype_name(input.dtype)}});
  }
  json result = {{"sequence", record.sequence},
                 {"name", record.name},
                 {"call_index", record.call_index},
                 {"first_call", record.first_call},
                 {"passed", record.passed},
                 {"verdict", record.verdict_text()},
                 {"location", location_to_json(record.location)},
                 {"inputs", std::move(inputs)},
                 {"scalars", record_scalars_to_json(record)},
                 {"outputs", record_outputs_to_json(record)},
                 {"errors", record_errors_to_json(record)},
                 {"device_ns", record.device_ns},
                 {"reference_ns", record.reference_ns},
                 {"teacher_forced", record.teacher_forced},
                 {"block", record.block},
                 {"spec", parse_object_text(record.spec_json)},
                 {"impl_config", parse_object_text(record.impl_config_json)},
                 {"device", record.device}};
  // Written only when known, so that reports of calls without one keep their bytes.
  if (record.fingerprint) result["fingerprint"] = to_json(*record.fingerprint);
  return result;
}

json report_to_json(const std::vector<ValidationRecord>& records) {
  json serialized = json::array();
  for (const ValidationRecord& record : records) serialized.push_back(record_to_json(record));
  return {{"format", kReportFormatName},
          {"format_version", kReportFormatVersion},
          {"producer", std::string("tttv2 ") + TTT_VERSION},
          {"summary", summary_to_json(summarize(records))},
          {"records", std::move(serialized)}};
}

ValidationRecord record_from_json(const json& value) {
  return record_from(JsonNode(value, "record_from_json"));
}

std::vector<ValidationRecord> records_from_report_json(const json& report) {
  return records_from(JsonNode(report, "records_from_report_json"));
}

std::vector<ValidationRecord> load_report(const std::string& path) {
  try {
    require_regular_file(path);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[report] " + std::string(error.what()));
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw std::invalid_argument("[report] cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  json parsed;
  try {
    parsed = parse_json(contents.str(), path);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[report] " + std::string(error.what()));
  }
  return records_from(JsonNode(parsed, path));
}

void write_report(const std::string& path, const std::vector<ValidationRecord>& records,
                  ReportFormat format, const ReportOptions& options) {
  ReportOptions plain = options;
  plain.color = false;
  const std::string text = render_report(records, format, plain);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    throw std::runtime_error("[write_report] cannot create " + path + ": " + std::strerror(errno));
  }
  file << text;
  file.close();
  if (!file) throw std::runtime_error("[write_report] cannot write " + path);
}

bool should_use_color(bool is_terminal, const char* no_color) {
  return is_terminal && (no_color == nullptr || no_color[0] == '\0');
}

bool use_color_on_stdout() {
  return should_use_color(isatty(STDOUT_FILENO) == 1, std::getenv("NO_COLOR"));
}

void print_validation_report() {
  ReportOptions options;
  options.color = use_color_on_stdout();
  std::cout << render_console_report(validation_registry().records(), options) << std::flush;
}

}  // namespace ttt

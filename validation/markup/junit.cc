#include "validation/markup/junit.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "validation/markup/markup.h"

namespace ttt {
namespace {

struct Counts {
  std::int64_t tests = 0;
  std::int64_t failures = 0;
  std::int64_t errors = 0;
  std::int64_t skipped = 0;
  double seconds = 0.0;

  void add(const JUnitCase& c) {
    ++tests;
    failures += c.result == JUnitResult::failed ? 1 : 0;
    errors += c.result == JUnitResult::error ? 1 : 0;
    skipped += c.result == JUnitResult::skipped ? 1 : 0;
    seconds += std::max(c.seconds, 0.0);
  }
  void add(const Counts& other) {
    tests += other.tests;
    failures += other.failures;
    errors += other.errors;
    skipped += other.skipped;
    seconds += other.seconds;
  }
};

// Seconds with microsecond resolution: the wrapper's calls take microseconds.
std::string seconds_text(double seconds) {
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%.6f", seconds);
  return buffer;
}

std::string attribute(std::string_view name, std::string_view value) {
  return " " + std::string(name) + "=\"" + xml_escape(value) + "\"";
}

std::string count_attributes(const Counts& counts) {
  return attribute("tests", std::to_string(counts.tests)) +
         attribute("failures", std::to_string(counts.failures)) +
         attribute("errors", std::to_string(counts.errors)) +
         attribute("skipped", std::to_string(counts.skipped)) +
         attribute("time", seconds_text(counts.seconds));
}

void write_properties(std::string& out, const std::vector<JUnitProperty>& properties,
                      const std::string& indent) {
  if (properties.empty()) return;
  out += indent + "<properties>\n";
  for (const JUnitProperty& property : properties) {
    out += indent + "  <property" + attribute("name", property.name) +
           attribute("value", property.value) + "/>\n";
  }
  out += indent + "</properties>\n";
}

std::string classname_text(std::string classname) {
  std::replace(classname.begin(), classname.end(), '.', '_');
  return classname;
}

void write_case(std::string& out, const JUnitCase& c) {
  out += "    <testcase" + attribute("classname", classname_text(c.classname)) +
         attribute("name", c.name) + attribute("time", seconds_text(std::max(c.seconds, 0.0)));
  if (!c.file.empty()) out += attribute("file", c.file);
  const bool has_body =
      c.result != JUnitResult::passed || !c.properties.empty() || !c.system_out.empty();
  if (!has_body) {
    out += "/>\n";
    return;
  }
  out += ">\n";
  write_properties(out, c.properties, "      ");
  switch (c.result) {
    case JUnitResult::passed:
      break;
    case JUnitResult::failed:
    case JUnitResult::error: {
      const char* element = c.result == JUnitResult::failed ? "failure" : "error";
      out += std::string("      <") + element + attribute("message", c.message) +
             attribute("type", c.type) + ">" + xml_escape(c.text) + "</" + element + ">\n";
      break;
    }
    case JUnitResult::skipped:
      out += "      <skipped" + attribute("message", c.message) + "/>\n";
      break;
  }
  if (!c.system_out.empty()) {
    out += "      <system-out>" + xml_escape(c.system_out) + "</system-out>\n";
  }
  out += "    </testcase>\n";
}

}  // namespace

std::string render_junit(std::string_view report_name, const std::vector<JUnitSuite>& suites) {
  Counts total;
  std::string body;
  for (const JUnitSuite& suite : suites) {
    Counts counts;
    for (const JUnitCase& c : suite.cases) counts.add(c);
    total.add(counts);
    body += "  <testsuite" + attribute("name", suite.name) + count_attributes(counts);
    if (!suite.timestamp.empty()) body += attribute("timestamp", suite.timestamp);
    if (!suite.hostname.empty()) body += attribute("hostname", suite.hostname);
    body += ">\n";
    write_properties(body, suite.properties, "    ");
    for (const JUnitCase& c : suite.cases) write_case(body, c);
    body += "  </testsuite>\n";
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites" +
         attribute("name", report_name) + count_attributes(total) + ">\n" + body +
         "</testsuites>\n";
}

}  // namespace ttt

// The one JUnit XML writer of TTTv2. The wrapper's report, `ttt replay`, `ttt suite run` and
// `ttt gate` describe their results as JUnitSuites; this writes them in the one shape Jenkins
// (JUnit plugin) and GitLab (artifacts:reports:junit) read, described in docs/report-format.md
// ("JUnit XML") and checked against tests/data/junit.xsd.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ttt {

// A name/value pair shown with a suite or a case (Jenkins lists them; GitLab ignores them).
struct JUnitProperty {
  std::string name;
  std::string value;
};

enum class JUnitResult {
  passed,
  failed,   // Checked and wrong: <failure>.
  error,    // Could not be checked (it threw, bad input): <error>.
  skipped,  // Not checked on purpose: <skipped>.
};

struct JUnitCase {
  // Groups cases in the CI's view. Written with every '.' replaced by '_': Jenkins reads the
  // part of a classname before its last dot as a Java package, which split "ttt.validation"
  // into package "ttt" and class "validation".
  std::string classname;
  std::string name;
  double seconds = 0.0;
  // The source file the case comes from, when known; GitLab links the case to it.
  std::string file;
  JUnitResult result = JUnitResult::passed;
  // For a failed, errored or skipped case: a one-line `message`, a `type` naming the kind of
  // failure ("ValidationFailure", "regression") and the detailed `text`. Unused when passed.
  std::string message;
  std::string type;
  std::string text;
  std::vector<JUnitProperty> properties;
  // Written as <system-out>: context a passing case wants to show (a gate finding's numbers).
  std::string system_out;
};

struct JUnitSuite {
  std::string name;
  // ISO 8601 UTC ("2026-12-07T06:00:00Z") and the machine the suite ran on; "" to omit.
  std::string timestamp;
  std::string hostname;
  std::vector<JUnitProperty> properties;
  std::vector<JUnitCase> cases;
};

// The XML document: <testsuites name=report_name> holding one <testsuite> per suite. Counts
// (tests, failures, errors, skipped) and times (the sum of the cases' seconds) are computed here,
// on both levels, so that no writer can get them inconsistent. Text is XML-escaped.
std::string render_junit(std::string_view report_name, const std::vector<JUnitSuite>& suites);

}  // namespace ttt

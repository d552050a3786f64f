// Every JUnit writer of TTTv2 (the wrapper's report, replay, suite results, the gate) writes the
// one shape of validation/markup/junit.h, checked here against tests/data/junit.xsd with
// xmllint --schema (Debian libxml2-utils, installed by tools/setup.sh). Each writer is fed a
// pass, a failure and, where it has them, an error, a skip and text XML must escape.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gate/gate.h"
#include "suites/suite/results.h"
#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "validation/markup/junit.h"
#include "validation/trace/replay.h"
#include "validation/wrapper/report.h"

namespace ttt {
namespace {

using cli_test::run_shell;
using cli_test::shell_quote;
using ::testing::HasSubstr;

class JUnitSchema : public ::testing::Test {
 protected:
  // xmllint's verdict on `xml`: exit 0 and "validates" when it matches the schema.
  cli_test::RunResult validate(const std::string& xml) {
    const std::string file = scratch_.file("report.xml");
    std::ofstream(file) << xml;
    return run_shell(scratch_.path(),
                     "xmllint --noout --schema " +
                         shell_quote(std::string(TTT_TEST_DATA_DIR) + "/junit.xsd") + " " +
                         shell_quote(file));
  }

  void expect_valid(const std::string& xml) {
    const cli_test::RunResult result = validate(xml);
    EXPECT_EQ(result.exit_code, 0) << result.err << "\n" << xml;
    EXPECT_THAT(result.err, HasSubstr("validates"));
  }

  test_support::ScratchDir scratch_;
};

TEST_F(JUnitSchema, XmllintIsInstalled) {
  // tools/setup.sh installs libxml2-utils; without it every check below would be meaningless.
  EXPECT_EQ(run_shell(scratch_.path(), "xmllint --version").exit_code, 0);
}

TEST_F(JUnitSchema, TheSchemaRejectsWhatJenkinsAndGitLabMisread) {
  const std::string good =
      "<testsuites name=\"r\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"0\">"
      "<testsuite name=\"s\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"0\">"
      "<testcase classname=\"c\" name=\"n\" time=\"0.5\"><failure message=\"m\" type=\"t\">x"
      "</failure></testcase></testsuite></testsuites>";
  expect_valid(good);
  const auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  // The four dialects of issue 12: a dotted classname, no time, a failure without a type, no
  // errors count.
  EXPECT_NE(validate(replaced("classname=\"c\"", "classname=\"a.b\"")).exit_code, 0);
  EXPECT_NE(validate(replaced(" time=\"0.5\"", "")).exit_code, 0);
  EXPECT_NE(validate(replaced(" type=\"t\"", "")).exit_code, 0);
  EXPECT_NE(validate(replaced(" errors=\"0\" skipped=\"0\" time=\"0\">",
                              " skipped=\"0\" "
                              "time=\"0\">"))
                .exit_code,
            0);
}

TEST_F(JUnitSchema, TheSharedWriterWithEveryOutcome) {
  JUnitSuite suite;
  suite.name = "all <outcomes>";
  suite.timestamp = "2026-12-07T06:00:00Z";
  suite.hostname = "ci-1";
  suite.properties = {{"commit", "abc"}};
  const auto add = [&](const std::string& classname, const std::string& name, JUnitResult result,
                       const std::string& message, const std::string& type) -> JUnitCase& {
    JUnitCase& c = suite.cases.emplace_back();
    c.classname = classname;
    c.name = name;
    c.result = result;
    c.message = message;
    c.type = type;
    return c;
  };
  add("a.b.c", "pass", JUnitResult::passed, "", "").seconds = 0.25;
  add("k", "fail & more", JUnitResult::failed, "pcc 0.98 < 0.99", "ValidationFailure").text =
      "detail\nlines";
  add("k", "error", JUnitResult::error, "threw", "CaseError");
  add("k", "skip", JUnitResult::skipped, "why", "");
  JUnitCase& context = add("k", "context", JUnitResult::passed, "", "");
  context.file = "model.cc";
  context.properties = {{"worst_pcc", "0.9999999"}};
  context.system_out = "ok: within 5%";
  JUnitSuite empty;
  empty.name = "empty";
  const std::string xml = render_junit("ttt.test", {suite, empty});
  expect_valid(xml);
  EXPECT_THAT(xml, HasSubstr("<testsuites name=\"ttt.test\" tests=\"5\" failures=\"1\" "
                             "errors=\"1\" skipped=\"1\" time=\"0.250000\">"));
  EXPECT_THAT(xml, HasSubstr("<testcase classname=\"a_b_c\" name=\"pass\" time=\"0.250000\"/>"));
}

TEST_F(JUnitSchema, TheWrapperReport) {
  OutputCheck failing;
  failing.name = "out0";
  failing.verdict.passed = false;
  failing.verdict.failures = {"pcc 0.9812 < 0.99"};
  ValidationRecord bad;
  bad.name = "layers.0.mlp";
  bad.location = {"/src/model.cc", 12, "forward"};
  bad.passed = false;
  bad.device_ns = 2000;
  bad.outputs = {failing};
  ValidationRecord good = bad;
  good.name = "embed";
  good.passed = true;
  good.outputs[0].verdict = {};
  expect_valid(render_junit_report({good, bad}));
}

TEST_F(JUnitSchema, TheReplayReport) {
  ReplayReport report;
  report.trace = "run/trace.h5";
  const auto add = [&](std::int64_t seq, const std::string& name, const std::string& block,
                       ReplayStatus status, const std::string& message) {
    ReplayedCall& call = report.calls.emplace_back();
    call.seq = seq;
    call.path = "/calls/00000" + std::to_string(seq);
    call.name = name;
    call.block = block;
    call.status = status;
    call.message = message;
    call.seconds = 0.001;
  };
  add(0, "embed", "embedding", ReplayStatus::pass, "");
  add(1, "layers.0.mlp", "test.gated_mlp", ReplayStatus::fail,
      "captured_device y: pcc 0.9812 < 0.99");
  add(2, "x", "", ReplayStatus::skipped, "the call names no block kind");
  expect_valid(to_junit_xml(report));
}

TEST_F(JUnitSchema, TheSuiteResults) {
  RunResults results;
  results.created_utc = "2026-11-21T14:00:00Z";
  results.machine.hostname = "ci-1";
  SuiteResult suite;
  suite.name = "llama.quick";
  CaseResult pass;
  pass.id = "ffn.decode";
  pass.status = CaseStatus::pass;
  pass.seconds = 0.5;
  CaseResult fail = pass;
  fail.id = "attention.decode";
  fail.status = CaseStatus::fail;
  fail.verdicts = {{"accuracy:y", false, "pcc 0.9812 < 0.99"}};
  CaseResult error = pass;
  error.id = "lm_head.decode";
  error.status = CaseStatus::error;
  error.error = "block kind 'lm_head' is not registered";
  CaseResult not_run;
  not_run.id = "later";
  not_run.status = CaseStatus::not_run;
  suite.cases = {pass, fail, error, not_run};
  results.suites = {suite};
  expect_valid(to_junit_xml(results));
}

TEST_F(JUnitSchema, TheGateDecision) {
  GateDecision decision;
  const auto add = [&](const std::string& rule, const std::string& verdict, bool blocks,
                       const std::string& message) {
    GateFinding& finding = decision.findings.emplace_back();
    finding.rule = rule;
    finding.suite = "s";
    finding.case_id = "ffn.decode";
    finding.metric = "p50 wall";
    finding.verdict = verdict;
    finding.blocks = blocks;
    finding.message = message;
  };
  add("latency", "regression", true, "median 2 ms vs 1 ms (+100%)");
  add("accuracy", "ok", false, "pcc 0.9999 < & > 0.99");
  decision.blocking = 1;
  decision.may_merge = false;
  expect_valid(format_gate_junit(decision));
}

}  // namespace
}  // namespace ttt

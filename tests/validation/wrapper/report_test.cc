// Reports: exact console, Markdown and JUnit text; JSON round trip; loading errors; colour policy.
#include "validation/wrapper/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/common/scratch_dir.h"
#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

OutputCheck output(const std::string& name, double pcc, double max_abs_error,
                   std::vector<std::string> failures = {}) {
  OutputCheck check;
  check.name = name;
  Metrics metrics;
  metrics.pcc = pcc;
  metrics.max_abs_error = max_abs_error;
  check.metrics = metrics;
  check.tolerances = Tolerances::tt_metal_default();
  check.verdict.passed = failures.empty();
  check.verdict.failures = std::move(failures);
  return check;
}

ValidationRecord record(std::int64_t sequence, const std::string& name, std::int64_t call_index,
                        std::uint32_t line, std::int64_t device_ns, std::int64_t reference_ns,
                        OutputCheck check) {
  ValidationRecord r;
  r.sequence = sequence;
  r.name = name;
  r.call_index = call_index;
  r.first_call = call_index == 0;
  r.location = {"/src/model.cc", line, "forward"};
  r.inputs = {{"x", {1, 32}, DType::bfloat16}};
  r.device_ns = device_ns;
  r.reference_ns = reference_ns;
  r.passed = check.verdict.passed;
  r.outputs = {std::move(check)};
  return r;
}

// embed: one passing call. layers.0.mlp: three calls, call 1 fails. The medians leave out first
// calls: mlp device (1500, 2500) -> 2 us, reference (6000, 4000) -> 5 us, speedup 2.5.
std::vector<ValidationRecord> sample_records() {
  return {
      record(0, "embed", 0, 10, 1000, 3000, output("out0", 1.0, 0.0)),
      record(1, "layers.0.mlp", 0, 12, 2000, 5000, output("out0", 0.999912, 0.0031)),
      record(2, "layers.0.mlp", 1, 12, 1500, 6000,
             output("out0", 0.9812, 0.31, {"pcc 0.9812 < 0.99", "max_abs_error 0.31 > 0.01"})),
      record(3, "layers.0.mlp", 2, 12, 2500, 4000, output("out0", 0.9995, 0.002)),
  };
}

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// A file in this process's scratch directory.
std::string temp_path(const std::string& name) {
  static const test_support::ScratchDir scratch;
  return scratch.file(name);
}

TEST(Report, ConsoleTableIsAlignedAndListsFailedCalls) {
  // Columns: two spaces before each cell; text left-aligned, numbers right-aligned.
  const std::string header = std::string("  STATUS") + "  NAME        " + "  CALLS" + "  FAILED" +
                             "  WORST PCC" + "  WORST MAX ABS" + "  DEVICE p50" +
                             "  REFERENCE p50" + "  SPEEDUP" + "  WRAPPED AT";
  const std::string embed = std::string("  PASS  ") + "  embed       " + "      1" + "       0" +
                            "   1.000000" + "      0.000e+00" + "     1.00 us" + "        3.00 us" +
                            "    3.00x" + "  model.cc:10";
  const std::string mlp = std::string("  FAIL  ") + "  layers.0.mlp" + "      3" + "       1" +
                          "   0.981200" + "      3.100e-01" + "     2.00 us" + "        5.00 us" +
                          "    2.50x" + "  model.cc:12";
  const std::string expected =
      "Validation: 4 calls, 3 passed, 1 failed (2 names)\n"
      "\n" +
      header + "\n" + embed + "\n" + mlp + "\n" +
      "\n"
      "Times are medians over the calls after each name's first (warm-up) call.\n"
      "\n"
      "Failed calls:\n"
      "  FAIL layers.0.mlp call 1 (/src/model.cc:12)\n"
      "      out0: pcc 0.9812 < 0.99\n"
      "      out0: max_abs_error 0.31 > 0.01\n";
  EXPECT_EQ(render_console_report(sample_records()), expected);
  EXPECT_EQ(render_report(sample_records(), ReportFormat::console), expected);
}

TEST(Report, ConsoleColoursOnlyWhenAsked) {
  const std::string plain = render_console_report(sample_records(), {.color = false});
  EXPECT_THAT(plain, Not(HasSubstr("\033[")));
  const std::string coloured = render_console_report(sample_records(), {.color = true});
  EXPECT_THAT(coloured, HasSubstr("\033[32mPASS  \033[0m"));
  EXPECT_THAT(coloured, HasSubstr("\033[31mFAIL  \033[0m"));
  EXPECT_THAT(coloured, HasSubstr("\033[31m1 failed\033[0m"));
  EXPECT_THAT(coloured, HasSubstr("  \033[31mFAIL\033[0m layers.0.mlp call 1"));
}

TEST(Report, ColourPolicyFollowsTheTerminalAndNoColor) {
  EXPECT_TRUE(should_use_color(true, nullptr));
  EXPECT_TRUE(should_use_color(true, ""));
  EXPECT_FALSE(should_use_color(true, "1"));
  EXPECT_FALSE(should_use_color(false, nullptr));
  EXPECT_FALSE(should_use_color(false, ""));
}

TEST(Report, EmptyReportsSayNothingRan) {
  EXPECT_EQ(render_console_report({}), "Validation: 0 calls, 0 passed, 0 failed (0 names)\n");
  EXPECT_EQ(render_markdown_report({}), "### Validation: 0 of 0 calls passed\n\n");
}

TEST(Report, MarkdownTableForPullRequests) {
  const std::string expected =
      "### Validation: 3 of 4 calls passed, 1 failed\n"
      "\n"
      "| Status | Name | Calls | Failed | Worst PCC | Worst max abs error | Device p50 | "
      "Reference p50 | Speedup | Wrapped at |\n"
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
      "| ✅ pass | `embed` | 1 | 0 | 1.000000 | 0.000e+00 | 1.00 us | 3.00 us | 3.00x | "
      "`model.cc:10` |\n"
      "| ❌ FAIL | `layers.0.mlp` | 3 | 1 | 0.981200 | 3.100e-01 | 2.00 us | 5.00 us | 2.50x | "
      "`model.cc:12` |\n"
      "\n"
      "#### Failed calls\n"
      "\n"
      "- `layers.0.mlp` call 1 (`model.cc:12`): out0: pcc 0.9812 < 0.99; out0: max_abs_error "
      "0.31 > 0.01\n";
  EXPECT_EQ(render_markdown_report(sample_records()), expected);
}

TEST(Report, MarkdownEscapesPipes) {
  std::vector<ValidationRecord> records = {
      record(0, "a|b", 0, 1, 1, 1, output("out0", 0.5, 1.0, {"x | y"}))};
  const std::string text = render_markdown_report(records);
  EXPECT_THAT(text, HasSubstr("`a\\|b`"));
  EXPECT_THAT(text, HasSubstr("out0: x \\| y"));
}

TEST(Report, JUnitXmlAsJenkinsAndGitLabReadIt) {
  // Times: embed 1000 + 3000 ns; mlp 7000 + 7500 + 6500 ns.
  // The one shape of validation/markup/junit.h: classnames without dots (Jenkins would read
  // "ttt" as a package), counts and times on both levels, failure type and message.
  const std::string expected =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<testsuites name=\"ttt.validation\" tests=\"2\" failures=\"1\" errors=\"0\" "
      "skipped=\"0\" time=\"0.000025\">\n"
      "  <testsuite name=\"ttt.validation\" tests=\"2\" failures=\"1\" errors=\"0\" "
      "skipped=\"0\" time=\"0.000025\">\n"
      "    <testcase classname=\"ttt_validation\" name=\"embed\" time=\"0.000004\" "
      "file=\"/src/model.cc\"/>\n"
      "    <testcase classname=\"ttt_validation\" name=\"layers.0.mlp\" time=\"0.000021\" "
      "file=\"/src/model.cc\">\n"
      "      <failure message=\"1 of 3 calls failed; first: call 1: "
      "out0: pcc 0.9812 &lt; 0.99; out0: max_abs_error 0.31 &gt; 0.01\" type=\"ValidationFailure\">"
      "call 1 (/src/model.cc:12): out0: pcc 0.9812 &lt; 0.99; out0: max_abs_error 0.31 &gt; 0.01\n"
      "</failure>\n"
      "    </testcase>\n"
      "  </testsuite>\n"
      "</testsuites>\n";
  EXPECT_EQ(render_junit_report(sample_records()), expected);
}

TEST(Report, JUnitEscapesXmlAndNamesTheSuite) {
  std::vector<ValidationRecord> records = {
      record(0, "a<b>&\"c'", 0, 1, 1, 1, output("out0", 0.5, 1.0, {"bad\x01value & more"}))};
  const std::string text = render_junit_report(records, {.junit_suite_name = "model & co"});
  EXPECT_THAT(text, HasSubstr("name=\"a&lt;b&gt;&amp;&quot;c&apos;\""));
  EXPECT_THAT(text, HasSubstr("classname=\"model &amp; co\""));
  EXPECT_THAT(text, HasSubstr("out0: bad?value &amp; more"));
  EXPECT_THAT(text, Not(HasSubstr("\x01")));
}

TEST(Report, LongFailureListsAreCountedNotDropped) {
  std::vector<ValidationRecord> records;
  for (int i = 0; i < 3; ++i) {
    records.push_back(record(i, "bad", i, 5, 1, 1, output("out0", 0.1, 1.0, {"pcc 0.1 < 0.99"})));
  }
  const ReportOptions options{.max_failed_calls_per_name = 2};
  EXPECT_THAT(render_console_report(records, options),
              HasSubstr("call 1 (/src/model.cc:5)\n      out0: pcc 0.1 < 0.99\n"
                        "  ... and 1 more failed call of bad\n"));
  EXPECT_THAT(render_markdown_report(records, options),
              HasSubstr("- ... and 1 more failed call of `bad`\n"));
  EXPECT_THAT(render_junit_report(records, options),
              HasSubstr("call 1 (/src/model.cc:5): out0: pcc 0.1 &lt; 0.99\n"
                        "... and 1 more failed call\n</failure>"));
}

TEST(Report, DurationsHaveThreeSignificantDigits) {
  EXPECT_EQ(format_duration_ns(812), "812 ns");
  EXPECT_EQ(format_duration_ns(12345), "12.3 us");
  EXPECT_EQ(format_duration_ns(150000), "150 us");
  EXPECT_EQ(format_duration_ns(4560000), "4.56 ms");
  EXPECT_EQ(format_duration_ns(1.23e9), "1.23 s");
}

TEST(Report, FormatNamesParse) {
  EXPECT_EQ(parse_report_format("console"), ReportFormat::console);
  EXPECT_EQ(parse_report_format("markdown"), ReportFormat::markdown);
  EXPECT_EQ(parse_report_format("junit"), ReportFormat::junit);
  EXPECT_EQ(parse_report_format("json"), ReportFormat::json);
  try {
    parse_report_format("html");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "[report] unknown format \"html\"; expected console, markdown, junit or json");
  }
}

// A record with every field set, metrics computed from real tensors.
ValidationRecord full_record() {
  const Tensor actual = Tensor::from_floats({2, 2}, {1.0f, 2.0f, 3.0f, 4.5f});
  const Tensor expected = Tensor::from_floats({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f});
  ValidationRecord r;
  r.sequence = 7;
  r.name = "layers.3.attention.decode";
  r.call_index = 4;
  r.first_call = false;
  r.location = {"/src/model.cc", 99, "Model::forward"};
  r.inputs = {{"x", {1, 4}, DType::bfloat16}, {"kv/0", {2, 8}, DType::bfloat8_b}};
  r.scalars = {{"causal", ScalarValue(true)},
               {"position", ScalarValue(std::int64_t{-3})},
               {"scale", ScalarValue(0.125)},
               {"seed", ScalarValue(std::uint64_t{1} << 63)}};
  Tolerances loose;
  loose.max_abs_error = 0.1;
  OutputCheck check;
  check.name = "out";
  check.metrics = compute_metrics(actual, expected);
  check.tolerances = Tolerances::tt_metal_default().merged(loose);
  check.verdict = evaluate(*check.metrics, check.tolerances);
  r.outputs = {check};
  OutputCheck missing;
  missing.name = "k_cache";
  missing.verdict = {false, {"metrics: [compute_metrics] shapes differ"}};
  r.outputs.push_back(missing);
  r.errors = {{"teacher_forcing", "read-only"}};
  r.passed = false;
  r.device_ns = 1234;
  r.reference_ns = -1;
  r.teacher_forced = false;
  r.block = "attention.decode";
  r.spec_json = R"({"dim":4096,"heads":32})";
  r.impl_config_json = R"({"fidelity":"HiFi4"})";
  r.device = "N150";
  return r;
}

TEST(Report, JsonRoundTripsEveryField) {
  const ValidationRecord original = full_record();
  const std::string path = temp_path("wrapper_report_roundtrip.json");
  write_report(path, {original}, ReportFormat::json);
  const nlohmann::json written = nlohmann::json::parse(read_file(path));
  EXPECT_EQ(written["format"], "ttt-validation-report");
  EXPECT_EQ(written["format_version"], 1);
  EXPECT_THAT(written["producer"].get<std::string>(), StartsWith("tttv2 "));
  EXPECT_EQ(written["summary"]["calls"], 1);
  EXPECT_EQ(written["summary"]["failed"], 1);
  EXPECT_EQ(written["summary"]["names"][0]["worst_max_abs_error"], 0.5);
  EXPECT_EQ(written["records"][0]["verdict"], original.verdict_text());
  EXPECT_EQ(written["records"][0]["spec"]["heads"], 32);
  EXPECT_EQ(written["records"][0]["scalars"]["seed"], std::uint64_t{1} << 63);

  const std::vector<ValidationRecord> loaded = load_report(path);
  ASSERT_THAT(loaded, SizeIs(1));
  const ValidationRecord& r = loaded[0];
  EXPECT_EQ(r.sequence, 7);
  EXPECT_EQ(r.name, original.name);
  EXPECT_EQ(r.call_index, 4);
  EXPECT_FALSE(r.first_call);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.location.file, "/src/model.cc");
  EXPECT_EQ(r.location.line, 99u);
  EXPECT_EQ(r.location.function, "Model::forward");
  ASSERT_THAT(r.inputs, SizeIs(2));
  EXPECT_EQ(r.inputs[1].name, "kv/0");
  EXPECT_EQ(r.inputs[1].shape, (Shape{2, 8}));
  EXPECT_EQ(r.inputs[1].dtype, DType::bfloat8_b);
  ASSERT_THAT(r.scalars, SizeIs(4));  // JSON objects come back sorted by name.
  EXPECT_EQ(r.scalars[0].name, "causal");
  EXPECT_EQ(std::get<bool>(r.scalars[0].value), true);
  EXPECT_EQ(std::get<std::int64_t>(r.scalars[1].value), -3);
  EXPECT_EQ(std::get<double>(r.scalars[2].value), 0.125);
  EXPECT_EQ(std::get<std::uint64_t>(r.scalars[3].value), std::uint64_t{1} << 63);
  ASSERT_THAT(r.outputs, SizeIs(2));
  ASSERT_TRUE(r.outputs[0].metrics.has_value());
  EXPECT_EQ(r.outputs[0].metrics->pcc, original.outputs[0].metrics->pcc);
  EXPECT_EQ(r.outputs[0].metrics->max_abs_error, 0.5);
  EXPECT_EQ(r.outputs[0].metrics->max_abs_error_index, 3);
  EXPECT_EQ(r.outputs[0].metrics->shape, (Shape{2, 2}));
  EXPECT_EQ(r.outputs[0].tolerances.max_abs_error, 0.1);
  EXPECT_EQ(r.outputs[0].tolerances.pcc, 0.99);
  EXPECT_EQ(r.outputs[0].verdict.failures, original.outputs[0].verdict.failures);
  EXPECT_FALSE(r.outputs[1].metrics.has_value());
  EXPECT_EQ(r.outputs[1].verdict.failures, original.outputs[1].verdict.failures);
  ASSERT_THAT(r.errors, SizeIs(1));
  EXPECT_EQ(r.errors[0].stage, "teacher_forcing");
  EXPECT_EQ(r.errors[0].message, "read-only");
  EXPECT_EQ(r.device_ns, 1234);
  EXPECT_EQ(r.reference_ns, -1);
  EXPECT_EQ(r.block, "attention.decode");
  EXPECT_EQ(nlohmann::json::parse(r.spec_json), nlohmann::json::parse(original.spec_json));
  EXPECT_EQ(r.impl_config_json, original.impl_config_json);
  EXPECT_EQ(r.device, "N150");

  // Rendering the loaded report gives the same text as rendering the original records.
  for (const ReportFormat format :
       {ReportFormat::console, ReportFormat::markdown, ReportFormat::junit}) {
    EXPECT_EQ(render_report(loaded, format), render_report({original}, format));
  }
  EXPECT_EQ(report_to_json(loaded)["records"], written["records"]);
}

TEST(Report, NonFiniteNumbersBecomeNullAndComeBack) {
  ValidationRecord r = full_record();
  r.scalars = {{"nan", ScalarValue(std::numeric_limits<double>::quiet_NaN())}};
  r.outputs[0].metrics->pcc = std::numeric_limits<double>::quiet_NaN();
  const nlohmann::json j = record_to_json(r);
  EXPECT_TRUE(j["scalars"]["nan"].is_null());
  const ValidationRecord back = record_from_json(j);
  EXPECT_TRUE(std::isnan(std::get<double>(back.scalars[0].value)));
  EXPECT_TRUE(std::isnan(back.outputs[0].metrics->pcc));
}

std::string load_error(const std::string& path) {
  try {
    load_report(path);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no error";
}

std::string load_error_for(const std::string& name, const std::string& contents) {
  const std::string path = temp_path(name);
  std::ofstream(path) << contents;
  return load_error(path);
}

TEST(Report, LoadingBadFilesNamesTheFileAndTheField) {
  EXPECT_EQ(load_error("/nonexistent/report.json"),
            "[report] cannot read /nonexistent/report.json: No such file or directory");
  const std::string not_json = temp_path("wrapper_not_json.json");
  EXPECT_THAT(load_error_for("wrapper_not_json.json", "{\"format\": "),
              StartsWith("[report] " + not_json + ": not JSON: "));
  const std::string wrong = temp_path("wrapper_wrong_format.json");
  EXPECT_EQ(load_error_for("wrapper_wrong_format.json", R"({"format": "ttt-trace"})"),
            wrong + ": /format: expected \"ttt-validation-report\", got \"ttt-trace\"");
  const std::string newer = temp_path("wrapper_newer.json");
  EXPECT_EQ(load_error_for("wrapper_newer.json",
                           R"({"format": "ttt-validation-report", "format_version": 2})"),
            newer + ": /format_version: unsupported version 2 (this build reads 1 to 1)");

  nlohmann::json report = report_to_json({full_record()});
  report["records"][0]["name"] = 5;
  const std::string bad_name = temp_path("wrapper_bad_name.json");
  EXPECT_EQ(load_error_for("wrapper_bad_name.json", report.dump()),
            bad_name + ": /records/0/name: expected a string, got 5");

  report = report_to_json({full_record()});
  report["records"][0].erase("device_ns");
  const std::string missing = temp_path("wrapper_missing.json");
  EXPECT_EQ(load_error_for("wrapper_missing.json", report.dump()),
            missing + ": /records/0: missing field 'device_ns'");

  report = report_to_json({full_record()});
  report["records"][0]["inputs"][1]["dtype"] = "float8";
  EXPECT_THAT(load_error_for("wrapper_bad_dtype.json", report.dump()),
              StartsWith(temp_path("wrapper_bad_dtype.json") + ": /records/0/inputs/1/dtype: "));

  report = report_to_json({full_record()});
  report["records"][0]["outputs"][0]["metrics"] = "oops";
  EXPECT_EQ(load_error_for("wrapper_bad_metrics.json", report.dump()),
            temp_path("wrapper_bad_metrics.json") +
                ": /records/0/outputs/0/metrics: expected an object, got \"oops\"");

  // A misspelt tolerance is an unknown field (tolerances are read strictly).
  report = report_to_json({full_record()});
  report["records"][0]["outputs"][0]["tolerances"]["pcc_minn"] = 0.9;
  EXPECT_THAT(load_error_for("wrapper_bad_tolerance.json", report.dump()),
              StartsWith(temp_path("wrapper_bad_tolerance.json") +
                         ": /records/0/outputs/0/tolerances/pcc_minn: unknown field 'pcc_minn'"));

  // Without a file, the reader names the function.
  nlohmann::json record = record_to_json(full_record());
  record["location"]["line"] = -1;
  EXPECT_THAT([&] { record_from_json(record); },
              testing::ThrowsMessage<std::invalid_argument>(
                  testing::StrEq("record_from_json: /location/line: expected an integer from 0 to "
                                 "4294967295, got -1")));
}

TEST(Report, WriteReportNamesAFileItCannotCreate) {
  EXPECT_THROW(write_report("/nonexistent/dir/report.xml", sample_records(), ReportFormat::junit),
               std::runtime_error);
  const std::string path = temp_path("wrapper_report.md");
  write_report(path, sample_records(), ReportFormat::markdown);
  EXPECT_EQ(read_file(path), render_markdown_report(sample_records()));
  const std::string console = temp_path("wrapper_report.txt");
  write_report(console, sample_records(), ReportFormat::console, {.color = true});
  EXPECT_THAT(read_file(console), Not(HasSubstr("\033[")));  // Files never get colour.
}

}  // namespace
}  // namespace ttt

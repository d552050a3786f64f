// The HTML report of a run (`ttt demo --html`) and of a trace (`ttt report TRACE --format html`),
// rendered by headless Chromium (Debian's chromium, tools/setup.sh installs it; without it the
// test fails and says so): the per-layer charts hold one point per layer and series, the token
// strip one cell per position with the diverging ones marked, and the worst calls' replay lines
// run as printed. Bad input exits 2 naming the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using cli_test::count_of;
using cli_test::read_text;
using cli_test::run_ttt;
using cli_test::RunResult;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kModel = std::string(TTT_SOURCE_DIR) + "/models/trained/tiny-llama-bytes";

// The <svg id=ID> element of `dom` ("" when absent); charts hold one nested <svg> (the plot).
std::string svg_element(const std::string& dom, const std::string& id) {
  const std::size_t begin = dom.find("<svg id=\"" + id + "\"");
  if (begin == std::string::npos) return "";
  const std::size_t plot_end = dom.find("</svg>", begin);
  const std::size_t end = dom.find("</svg>", plot_end + 1);
  return dom.substr(begin, end - begin);
}

class RunHtmlReport : public ::testing::Test {
 protected:
  RunResult ttt(const std::vector<std::string>& args) { return run_ttt(scratch_.path(), args); }

  // The DOM Chromium builds from the page at `file` (in the scratch directory).
  std::string dom_of(const std::string& file) {
    EXPECT_STRNE(TTT_CHROMIUM_PATH, "")
        << "chromium was not found when CMake configured: install Debian's chromium "
           "(tools/setup.sh does) and reconfigure. The HTML report test cannot pass without "
           "rendering the page.";
    const RunResult dump =
        cli_test::chromium_dom(scratch_.path(), TTT_CHROMIUM_PATH, scratch_.file(file));
    EXPECT_EQ(dump.exit_code, 0) << dump.err;
    return dump.out;
  }

  test_support::ScratchDir scratch_;
};

void expect_self_contained(const std::string& html) {
  EXPECT_THAT(html, StartsWith("<!DOCTYPE html>"));
  for (const char* outside : {"http://", "https://", "<script", "<link", "src=", "url("}) {
    EXPECT_THAT(html, Not(HasSubstr(outside)));
  }
}

TEST_F(RunHtmlReport, DemoRunOfTheTrainedModel) {
  const std::string trace = scratch_.file("run/trace.h5");
  const RunResult run =
      ttt({"demo", "--out-dir", scratch_.file("run"), "--model", kModel, "--decode-steps", "4",
           "--quiet", "--html", scratch_.file("run/report.html")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("wrote " + scratch_.file("run/report.html")));
  // What `ttt accuracy` says of the shipped golden (docs/debugging.md): 118 of 123 top-1, all
  // 123 top-5, the first miss at position 11.
  EXPECT_THAT(run.out, HasSubstr("top-1 95.9% (118/123), top-5 100.0% (123/123)"));
  const std::string html = read_text(scratch_.file("run/report.html"));
  expect_self_contained(html);
  const std::string dom = dom_of("run/report.html");

  // The model has 4 layers: each per-layer chart has 4 isolated and 4 accumulated points.
  for (const char* id : {"layer-nmse", "layer-pcc"}) {
    const std::string chart = svg_element(dom, id);
    ASSERT_FALSE(chart.empty()) << id;
    EXPECT_EQ(count_of(chart, "<circle class=\"point\""), 8u) << id;
    EXPECT_THAT(chart, HasSubstr("data-series=\"isolated\""));
    EXPECT_THAT(chart, HasSubstr("data-series=\"accumulated\""));
    for (const char* layer : {"data-x=\"0\"", "data-x=\"1\"", "data-x=\"2\"", "data-x=\"3\""}) {
      EXPECT_EQ(count_of(chart, layer), 2u) << id << " " << layer;
    }
  }
  // No layer's own error leaves its band on a healthy run.
  EXPECT_THAT(dom, HasSubstr("id=\"summary-flagged\">none<"));

  // The token strip: one cell per position of the golden, the 5 top-1 misses marked (each in
  // the reference's top-5), position 11 among them with both tokens.
  EXPECT_EQ(count_of(dom, "<span class=\"tok "), 123u);
  EXPECT_EQ(count_of(dom, "<span class=\"tok diverge near\""), 5u);
  EXPECT_EQ(count_of(dom, "<span class=\"tok diverge far\""), 0u);
  EXPECT_THAT(dom, HasSubstr("<span class=\"tok diverge near\" data-position=\"11\" "
                             "title=\"position 11: device 56, reference 58 (in the reference's "
                             "top-5)\">"));
  EXPECT_THAT(dom, HasSubstr("id=\"token-summary\">118/123 top-1, 123/123 top-5<"));

  // The worst calls: ten rows, each with its replay line; the per-call chart's points of those
  // calls link to their rows.
  const std::size_t table = dom.find("<table id=\"worst-calls\">");
  ASSERT_NE(table, std::string::npos);
  const std::string rows = dom.substr(table, dom.find("</table>", table) - table);
  EXPECT_EQ(count_of(rows, "<tr id=\"call-"), 10u);
  const std::smatch first = [&] {
    std::smatch match;
    EXPECT_TRUE(std::regex_search(rows, match,
                                  std::regex("<tr id=\"call-([0-9]+)\">.*?<code class=\"replay\">"
                                             "ttt replay '([^']+)' --filter '([^']+)'</code>")));
    return match;
  }();
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(first[2].str(), trace);
  EXPECT_THAT(svg_element(dom, "call-nmse"),
              HasSubstr("<a href=\"#call-" + first[1].str() + "\">"));
  // The line, run as printed, replays the calls of that name.
  const RunResult replay = ttt({"replay", first[2].str(), "--filter", first[3].str(), "--quiet"});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_TRUE(std::regex_search(
      replay.out, std::regex("trace\\.h5: [1-9][0-9]* calls: [1-9][0-9]* passed, 0 failed")))
      << replay.out;

  // The same run's trace: isolated error only (4 points per chart), the LM head's token strip
  // (the prefill's last position and 4 decode steps; device and reference agree).
  const RunResult report =
      ttt({"report", trace, "--format", "html", "-o", scratch_.file("trace.html")});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const std::string trace_dom = dom_of("trace.html");
  const std::string layer_nmse = svg_element(trace_dom, "layer-nmse");
  EXPECT_EQ(count_of(layer_nmse, "<circle class=\"point\""), 4u);
  EXPECT_THAT(layer_nmse, Not(HasSubstr("data-series=\"accumulated\"")));
  EXPECT_EQ(count_of(trace_dom, "<span class=\"tok "), 5u);
  EXPECT_EQ(count_of(trace_dom, "<span class=\"tok match\""), 5u);
  EXPECT_THAT(trace_dom, HasSubstr("<code class=\"replay\">ttt replay '" + trace + "' --filter '"));
}

TEST_F(RunHtmlReport, ValidationReportJsonToHtml) {
  const RunResult run = ttt({"demo", "--out-dir", scratch_.file("run"), "--model", kModel,
                             "--decode-steps", "1", "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const RunResult report = ttt({"report", scratch_.file("run/report.json"), "--format", "html"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  expect_self_contained(report.out);
  EXPECT_THAT(report.out, HasSubstr("<svg id=\"layer-nmse\""));
  EXPECT_THAT(report.out, HasSubstr("(no trace)"));  // A report names no trace to replay.
}

TEST_F(RunHtmlReport, BadInputExitsTwoNamingTheFile) {
  std::ofstream(scratch_.file("notes.txt")) << "not a report\n";
  RunResult run = ttt(
      {"report", scratch_.file("notes.txt"), "--format", "html", "-o", scratch_.file("out.html")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, StartsWith("ttt: error: "));
  EXPECT_THAT(run.err, HasSubstr(scratch_.file("notes.txt")));
  EXPECT_FALSE(std::filesystem::exists(scratch_.file("out.html")));  // No empty page left.

  run = ttt({"report", scratch_.file("missing.h5"), "--format", "html"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err, "ttt: error: [report] cannot read " + scratch_.file("missing.h5") +
                         ": No such file or directory\n");

  // A file with HDF5's signature that is not a trace.
  std::ofstream(scratch_.file("fake.h5"), std::ios::binary)
      << std::string("\x89HDF\r\n\x1a\n", 8) << "garbage";
  run = ttt({"report", scratch_.file("fake.h5"), "--format", "html"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr(scratch_.file("fake.h5")));

  const std::string trace = scratch_.file("run/trace.h5");
  ASSERT_EQ(ttt({"demo", "--out-dir", scratch_.file("run"), "--model", kModel, "--decode-steps",
                 "1", "--quiet"})
                .exit_code,
            0);
  run = ttt({"report", trace, "--format", "html", "-o", scratch_.file("no-dir/r.html")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err, "ttt: error: " + scratch_.file("no-dir/r.html") + ": cannot write\n");
  // A trace is drawn, not re-rendered as text.
  run = ttt({"report", trace});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err,
            "ttt: error: [report] " + trace + " is a trace: it renders only as --format html\n");
  // The demo refuses an unwritable --html before it runs the model.
  run = ttt({"demo", "--out-dir", scratch_.file("run2"), "--model", kModel, "--decode-steps", "1",
             "--quiet", "--html", scratch_.file("no-dir/r.html")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err,
              HasSubstr("[demo] --html " + scratch_.file("no-dir/r.html") + ": cannot write"));
  EXPECT_THAT(run.out, Not(HasSubstr("prefill of")));
}

}  // namespace
}  // namespace ttt

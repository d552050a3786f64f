// The HTML coverage report rendered by headless Chromium (Debian's chromium; tools/setup.sh
// installs it): the page must load without network access and show the numbers of the report.
// Without chromium the test fails and says how to install it.
// GCC 12 misreports -Wmaybe-uninitialized inside libstdc++'s <regex> (a std::function moved out
// of a regex automaton state) once the code is instrumented by -fsanitize=address; it must be
// silenced before the standard headers are read, since the warning points into them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "coverage/report.h"
#include "tests/common/scratch_dir.h"
#include "tests/coverage/tiny_catalog.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

struct ProcessResult {
  int exit_code = -1;
  std::string output;
};

ProcessResult run(const std::string& command) {
  ProcessResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class HtmlReport : public ::testing::Test {
 protected:
  void SetUp() override {
    const CoverageReport report =
        build_coverage_report(testing_coverage::tiny_records(), testing_coverage::tiny_catalog());
    html_ = format_coverage_html(report);
    std::ofstream(scratch_.path() / "report.html") << html_;
  }

  // Chromium's command with the flags a test machine needs: no sandbox (root in a container), no
  // GPU, no network features, a throw-away profile.
  std::string chromium(const std::string& action) const {
    return "timeout 120 '" + std::string(TTT_CHROMIUM_PATH) +
           "' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
           "--disable-background-networking --disable-component-update --disable-sync "
           "--user-data-dir='" +
           scratch_.file("profile") + "' " + action + " 'file://" + scratch_.file("report.html") +
           "' 2>'" + scratch_.file("chromium.log") + "'";
  }

  test_support::ScratchDir scratch_;
  std::string html_;
};

TEST_F(HtmlReport, IsOneSelfContainedFile) {
  EXPECT_THAT(html_, Not(HasSubstr("http://")));
  EXPECT_THAT(html_, Not(HasSubstr("https://")));
  EXPECT_THAT(html_, Not(HasSubstr("<script")));
  EXPECT_THAT(html_, Not(HasSubstr("<link")));
  EXPECT_THAT(html_, Not(HasSubstr("src=")));
  EXPECT_THAT(html_, Not(HasSubstr("url(")));
  EXPECT_THAT(html_, HasSubstr("<style>"));
  EXPECT_THAT(html_, HasSubstr("<svg id=\"heatmap\""));
}

TEST_F(HtmlReport, ChromiumRendersTheNumbers) {
  ASSERT_STRNE(TTT_CHROMIUM_PATH, "")
      << "chromium was not found when CMake configured: install Debian's chromium (tools/setup.sh "
         "does) and reconfigure. The HTML report test cannot pass without rendering the page.";
  const ProcessResult dump = run(chromium("--dump-dom"));
  ASSERT_EQ(dump.exit_code, 0) << read_file(scratch_.path() / "chromium.log");
  const std::string& dom = dump.output;
  // The DOM after parsing: the summary cards hold the hand-counted numbers (2 of 28 pass, 3 of
  // 28 exercised, 7 calls).
  EXPECT_THAT(dom, HasSubstr("id=\"summary-passing\">7.1%<"));
  EXPECT_THAT(dom, HasSubstr("id=\"summary-passing-count\">2/28<"));
  EXPECT_THAT(dom, HasSubstr("id=\"summary-exercised\">10.7%<"));
  EXPECT_THAT(dom, HasSubstr("id=\"summary-calls\">7<"));
  // The heatmap: only Tiny was exercised, so one row of five block families (embedding,
  // rms_norm, attention, gated_mlp, lm_head); Wide, untouched, is named in one line. Tiny's
  // rms_norm cell reads 2/2 (all passing), its gated_mlp cell 0/4: 1 failing, 3 untested.
  const std::regex cell("<g class=\"cell\"");
  const auto cells =
      std::distance(std::sregex_iterator(dom.begin(), dom.end(), cell), std::sregex_iterator());
  EXPECT_EQ(cells, 5);
  EXPECT_THAT(dom, HasSubstr("Nothing exercised for 1 other catalog models: Wide"));
  EXPECT_TRUE(std::regex_search(
      dom, std::regex("data-model=\"Tiny\" data-block=\"rms_norm\">.*?>2/2</text></g>")));
  EXPECT_TRUE(std::regex_search(
      dom,
      std::regex("data-model=\"Tiny\" data-block=\"gated_mlp\"><title>Tiny gated_mlp: 1 "
                 "failing 3 untested</title><rect class=\"state-failing\"[^>]*width=\"23.50\"")));
  // The block table: rms_norm pairwise 2/6 complete, 16/24 tuples.
  EXPECT_THAT(dom, HasSubstr("2/6 (33.3%)"));
  EXPECT_THAT(dom, HasSubstr("16/24 (66.7%)"));
  EXPECT_THAT(dom, HasSubstr("RMS_NORM(dim=80,eps=1e-05,offset=0)"));  // Unmatched table.
}

// The computed styles Chromium gives the states: four (and "unchecked") distinct colors, the
// legend naming each, and the failing configuration not painted like the untested ones.
TEST_F(HtmlReport, ChromiumPaintsEachStateDistinctlyWithALegend) {
  ASSERT_STRNE(TTT_CHROMIUM_PATH, "") << "chromium was not found when CMake configured.";
  // A page whose script, run by Chromium, writes each state's computed background into the DOM.
  std::string probe = html_;
  const std::string script = R"(<script>
for (const state of ["passing", "failing", "untested", "outside", "unchecked"]) {
  const chip = document.querySelector(".chip.state-" + state) ||
               document.querySelector("#legend .state-" + state);
  const out = document.createElement("p");
  out.id = "probe-" + state;
  out.textContent = chip ? getComputedStyle(chip).backgroundColor : "none";
  document.body.appendChild(out);
}
</script>)";
  probe.insert(probe.find("</body>"), script);
  std::ofstream(scratch_.path() / "report.html") << probe;
  const ProcessResult dump = run(chromium("--dump-dom"));
  ASSERT_EQ(dump.exit_code, 0) << read_file(scratch_.path() / "chromium.log");
  const std::string& dom = dump.output;
  EXPECT_THAT(dom, HasSubstr("id=\"probe-passing\">rgb(26, 152, 80)<"));
  EXPECT_THAT(dom, HasSubstr("id=\"probe-failing\">rgb(215, 48, 39)<"));
  EXPECT_THAT(dom, HasSubstr("id=\"probe-untested\">rgb(201, 206, 214)<"));
  EXPECT_THAT(dom, HasSubstr("id=\"probe-outside\">rgb(123, 50, 148)<"));
  EXPECT_THAT(dom, HasSubstr("id=\"probe-unchecked\">rgb(244, 180, 0)<"));
  // The legend: one swatch per state, each labelled.
  for (const char* entry :
       {"state-passing\"></span>passing", "state-failing\"></span>failing",
        "state-untested\"></span>untested", "state-outside\"></span>outside the domain"}) {
    EXPECT_THAT(dom, HasSubstr(entry));
  }
  // Tiny's failing gated_mlp decode and its untested gated_mlp prefill, in its details table.
  EXPECT_THAT(dom, HasSubstr("<span class=\"chip state-failing\">failing</span></td><td>gated_mlp"
                             "</td><td>decode"));
  EXPECT_THAT(dom, HasSubstr("<span class=\"chip state-untested\">untested</span></td><td>"
                             "gated_mlp</td><td>prefill"));
  // Parameter values: dim 80 is outside rms_norm's domain, 128 untested, 64 passing.
  EXPECT_THAT(dom, HasSubstr("<span class=\"chip state-outside\">80</span>"));
  EXPECT_THAT(dom, HasSubstr("<span class=\"chip state-untested\">128</span>"));
  EXPECT_THAT(dom, HasSubstr("<span class=\"chip state-passing\">64</span>"));
}

// --require-model's restriction: the page shows only the models asked for, the summary counts
// their configurations only (Wide: 14, none exercised).
TEST_F(HtmlReport, RestrictedToOneModel) {
  const CoverageReport report = restrict_to_models(
      build_coverage_report(testing_coverage::tiny_records(), testing_coverage::tiny_catalog()),
      {"wide"});
  ASSERT_EQ(report.models.size(), 1u);
  EXPECT_EQ(report.models[0].name, "Wide");
  EXPECT_EQ(report.summary.configurations, 14);
  EXPECT_EQ(report.summary.exercised, 0);
  const std::string html = format_coverage_html(report);
  EXPECT_THAT(html, HasSubstr("data-model=\"Wide\""));
  EXPECT_THAT(html, Not(HasSubstr("data-model=\"Tiny\"")));
  EXPECT_THAT(html, HasSubstr("id=\"summary-passing-count\">0/14<"));
  EXPECT_THROW(restrict_to_models(report, {"Tiny"}), std::invalid_argument);
}

TEST_F(HtmlReport, ChromiumDrawsAScreenshot) {
  ASSERT_STRNE(TTT_CHROMIUM_PATH, "")
      << "chromium was not found when CMake configured: install Debian's chromium (tools/setup.sh "
         "does) and reconfigure.";
  const fs::path png = scratch_.path() / "report.png";
  const ProcessResult shot =
      run(chromium("--window-size=1280,1600 --screenshot='" + png.string() + "'"));
  ASSERT_EQ(shot.exit_code, 0) << read_file(scratch_.path() / "chromium.log");
  const std::string bytes = read_file(png);
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  // IHDR: width and height, big-endian, at bytes 16-23.
  const auto be32 = [&](std::size_t at) {
    return (static_cast<unsigned>(static_cast<unsigned char>(bytes[at])) << 24) |
           (static_cast<unsigned>(static_cast<unsigned char>(bytes[at + 1])) << 16) |
           (static_cast<unsigned>(static_cast<unsigned char>(bytes[at + 2])) << 8) |
           static_cast<unsigned>(static_cast<unsigned char>(bytes[at + 3]));
  };
  EXPECT_EQ(be32(16), 1280u);
  EXPECT_EQ(be32(20), 1600u);
  // A rendered page with a colored heatmap compresses far worse than a blank one.
  EXPECT_GT(bytes.size(), 20000u);
}

}  // namespace
}  // namespace ttt

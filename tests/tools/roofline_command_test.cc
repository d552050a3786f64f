// `ttt roofline`, run as a subprocess: Llama-3.2-1B on N150 with the CPU's roofs given
// (--cpu-ceilings 20,100, deterministic), its HTML report rendered by headless Chromium (Debian's
// chromium, tools/setup.sh installs it; without it the test fails and says so) and its JSON; bad
// input (unknown device, unknown model, bad --cpu-ceilings, no model) exits 2 naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
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

// The <svg> element of id `id` in `dom` ("" when absent).
std::string svg_element(const std::string& dom, const std::string& id) {
  const std::size_t begin = dom.find("<svg id=\"" + id + "\"");
  if (begin == std::string::npos) return "";
  return dom.substr(begin, dom.find("</svg>", begin) - begin);
}

// The markers of a chart: pixel x (cx) and data x (intensity).
std::vector<std::pair<double, double>> markers(const std::string& svg) {
  std::vector<std::pair<double, double>> found;
  const std::regex circle("<circle class=\"point\" cx=\"([0-9.]+)\"[^>]*data-x=\"([0-9.e+-]+)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), circle); it != std::sregex_iterator();
       ++it) {
    found.emplace_back(std::stod((*it)[1]), std::stod((*it)[2]));
  }
  return found;
}

// The start (x1) of the reference line labelled `label` in pixels.
double line_start_x(const std::string& svg, const std::string& label) {
  const std::size_t at = svg.find("data-label=\"" + label + "\"><line x1=\"");
  if (at == std::string::npos) return NAN;
  return std::stod(svg.substr(svg.find("x1=\"", at) + 4));
}

class RooflineCommand : public ::testing::Test {
 protected:
  RunResult ttt(const std::vector<std::string>& args) { return run_ttt(scratch_.path(), args); }

  test_support::ScratchDir scratch_;
};

TEST_F(RooflineCommand, Llama1bOnN150RenderedByChromium) {
  const RunResult run =
      ttt({"roofline", "--model", "llama-3.2-1b", "--device", "N150", "--cpu-ceilings", "20,100",
           "--html", scratch_.file("r.html"), "--json", scratch_.file("r.json")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("matmul HiFi2: 147.5 TOP/s, ridge 512 op/B"));
  const std::string html = read_text(scratch_.file("r.html"));
  // Self-contained: nothing fetched, no script.
  for (const char* outside : {"http://", "https://", "<script", "<link", "src=", "url("}) {
    EXPECT_THAT(html, Not(HasSubstr(outside)));
  }

  ASSERT_STRNE(TTT_CHROMIUM_PATH, "")
      << "chromium was not found when CMake configured: install Debian's chromium (tools/setup.sh "
         "does) and reconfigure. The roofline report test cannot pass without rendering the page.";
  const RunResult dump =
      cli_test::chromium_dom(scratch_.path(), TTT_CHROMIUM_PATH, scratch_.file("r.html"));
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  const std::string& dom = dump.out;

  // The device chart: Llama-3.2-1B's forward has 7 block groups per mode (embedding, attention
  // norm, attention, FFN norm, FFN, final norm, LM head); the embedding is a gather without
  // operations, listed in the table but not drawn. So 6 markers per mode.
  const std::string n150 = svg_element(dom, "roofline-N150");
  ASSERT_FALSE(n150.empty());
  EXPECT_EQ(count_of(n150, "<circle class=\"point\""), 12u);
  const std::size_t decode = n150.find("data-series=\"decode\"");
  ASSERT_NE(decode, std::string::npos);
  EXPECT_EQ(count_of(n150.substr(0, decode), "<circle class=\"point\""), 6u);
  EXPECT_THAT(n150, HasSubstr("<title>layers.*.ffn (gated_mlp) decode x16: "));
  EXPECT_THAT(dom, HasSubstr("<td>embedding</td><td>embedding</td>"));
  EXPECT_THAT(dom, HasSubstr("not drawn: no operations"));

  // The ridge points where docs/cost-model.md's N150 constants put them: 72 cores x 4096
  // operations per cycle / passes x 1 GHz over 288 GB/s = 1024 (LoFi), 512 (HiFi2), 256 (HiFi4),
  // and 72 x 128 x 1 GHz / 288 GB/s = 32 (element-wise). Each compute roof starts at its ridge
  // point; its pixel x, mapped back through the x axis (fitted on two markers' cx and
  // intensity: x is log10), lands on that intensity within the 0.01 px rounding.
  const auto points = markers(n150);
  ASSERT_GE(points.size(), 2u);
  auto low = points.front();
  auto high = points.front();
  for (const auto& point : points) {
    if (point.second < low.second) low = point;
    if (point.second > high.second) high = point;
  }
  ASSERT_GT(high.second / low.second, 10.0);
  const double pixels_per_decade =
      (high.first - low.first) / (std::log10(high.second) - std::log10(low.second));
  const auto intensity_at = [&](double pixel) {
    return std::pow(10.0, std::log10(low.second) + (pixel - low.first) / pixels_per_decade);
  };
  const struct {
    const char* label;
    double ridge;
  } roofs[] = {{"matmul LoFi 294.9 TOP/s", 1024.0},
               {"matmul HiFi2 147.5 TOP/s", 512.0},
               {"matmul HiFi4 73.73 TOP/s", 256.0},
               {"element-wise 9.216 TOP/s", 32.0}};
  for (const auto& roof : roofs) {
    const double start = line_start_x(n150, roof.label);
    ASSERT_FALSE(std::isnan(start)) << roof.label;
    EXPECT_NEAR(intensity_at(start), roof.ridge, roof.ridge * 0.002) << roof.label;
  }
  EXPECT_THAT(n150, HasSubstr("data-label=\"DRAM 288 GB/s\""));
  // And the table beside the chart says them.
  const std::string n150_section = dom.substr(dom.find("id=\"section-N150\""));
  for (const char* ridge : {"1024", "512", "341.3", "256", "32"}) {
    EXPECT_THAT(n150_section, HasSubstr("<td class=\"num ridge\">" + std::string(ridge) + "</td>"));
  }

  // The CPU chart: the same blocks under the given roofs, ridge 100 / 20 = 5.
  const std::string cpu = svg_element(dom, "roofline-CPU");
  ASSERT_FALSE(cpu.empty());
  EXPECT_EQ(count_of(cpu, "<circle class=\"point\""), 12u);
  EXPECT_THAT(cpu, HasSubstr("data-label=\"float32 GEMM 100 GOP/s\""));
  EXPECT_THAT(cpu, HasSubstr("data-label=\"DRAM 20 GB/s\""));
  EXPECT_THAT(dom.substr(dom.find("id=\"section-CPU\"")),
              HasSubstr("<td class=\"num ridge\">5</td>"));
  EXPECT_THAT(dom, HasSubstr("given by --cpu-ceilings"));

  // The JSON: every block of both modes on N150, then on the CPU.
  const nlohmann::json json = nlohmann::json::parse(read_text(scratch_.file("r.json")));
  ASSERT_EQ(json["points"].size(), 28u);
  int drawn = 0;
  for (const nlohmann::json& point : json["points"]) {
    for (const char* field : {"block", "mode", "topology", "intensity", "throughput", "bound"}) {
      EXPECT_TRUE(point.contains(field)) << field;
    }
    if (point["topology"] == "N150" && point["intensity"].get<double>() > 0) ++drawn;
  }
  EXPECT_EQ(drawn, 12);
  EXPECT_EQ(json["points"][4]["block"], "layers.*.ffn");
  EXPECT_EQ(json["points"][4]["mode"], "prefill");
  EXPECT_EQ(json["points"][14]["topology"], "CPU");
}

TEST_F(RooflineCommand, JsonToStdoutWithoutText) {
  const RunResult run = ttt({"roofline", "--model", "llama-3.2-1b", "--device", "N150,N300",
                             "--cpu-ceilings", "20,100", "--json", "-"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json json = nlohmann::json::parse(run.out);
  EXPECT_EQ(json["ceilings"].size(), 3u);
  EXPECT_EQ(json["ceilings"][1]["processor"], "N300");
}

TEST_F(RooflineCommand, BadInputIsNamed) {
  const struct {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"--model", "llama-3.2-1b", "--device", "N999", "--cpu-ceilings", "20,100"},
       "unknown device 'N999' (known: N150, N300, T3K, TG, P100, P150)"},
      {{"--model", "no-such-model", "--cpu-ceilings", "20,100"}, "no-such-model"},
      {{"--model", "llama-3.2-1b", "--cpu-ceilings", "20"},
       "--cpu-ceilings '20': expected GBPS,GFLOPS"},
      {{"--model", "llama-3.2-1b", "--cpu-ceilings", "fast,0"},
       "--cpu-ceilings 'fast,0': expected GBPS,GFLOPS"},
      {{"--cpu-ceilings", "20,100"}, "--model is required"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"roofline", "--html", scratch_.file("bad.html")};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const RunResult run = ttt(args);
    EXPECT_EQ(run.exit_code, 2) << c.message;
    EXPECT_THAT(run.err, HasSubstr(c.message));
    EXPECT_THAT(run.err, HasSubstr("ttt: error: "));
    EXPECT_FALSE(std::filesystem::exists(scratch_.file("bad.html"))) << c.message;
  }
}

}  // namespace
}  // namespace ttt

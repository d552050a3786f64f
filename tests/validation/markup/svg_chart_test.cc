// SVG charts: points land where the scales put them (hand-computed pixels), ranges default to
// round ticks, text is escaped, and values a log axis cannot draw are refused by name.
#include "validation/markup/svg_chart.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// 400x300 without a legend: the plot spans x 80..376 and y 40..256 (margins 80 left, 24 right,
// 40 above, 44 below); x linear over [0, 10], y log10 over [1, 1000].
Chart tiny_chart() {
  Chart chart;
  chart.id = "tiny";
  chart.title = "tiny";
  chart.width = 400;
  chart.height = 300;
  chart.legend = false;
  chart.x = {"layer", AxisScale::linear, 0.0, 10.0};
  chart.y = {"error", AxisScale::log10, 1.0, 1000.0};
  ChartSeries series;
  series.name = "isolated";
  series.color = "#d73027";
  series.points = {{5.0, 10.0, "layer 5", "#call-5"}, {10.0, 1000.0, "", ""}};
  chart.series.push_back(series);
  return chart;
}

TEST(SvgChart, PlacesPointsByTheirScales) {
  const Chart chart = tiny_chart();
  const ChartFrame frame = chart_frame(chart);
  EXPECT_EQ(frame.left, 80.0);
  EXPECT_EQ(frame.right, 376.0);
  EXPECT_EQ(frame.top, 40.0);
  EXPECT_EQ(frame.bottom, 256.0);
  // x = 5 is half way: 80 + 296 / 2 = 228. y = 10 is one decade of three: 256 - 216 / 3 = 184.
  EXPECT_DOUBLE_EQ(frame.to_pixel_x(5.0), 228.0);
  EXPECT_DOUBLE_EQ(frame.to_pixel_y(10.0), 184.0);
  const std::string svg = render_svg_chart(chart);
  EXPECT_THAT(svg, HasSubstr("<a href=\"#call-5\"><circle class=\"point\" cx=\"228.00\" "
                             "cy=\"184.00\" r=\"3.50\" fill=\"#d73027\" data-x=\"5\" "
                             "data-y=\"10\"><title>layer 5</title></circle></a>"));
  EXPECT_THAT(svg, HasSubstr("<polyline class=\"series-line\" fill=\"none\" stroke=\"#d73027\" "
                             "stroke-width=\"1.5\" points=\"228.00,184.00 376.00,40.00\"/>"));
  // Ticks: every decade on the log axis, round steps on the linear one.
  for (const char* label : {">1<", ">10<", ">100<", ">1000<", ">0<", ">2<", ">8<"}) {
    EXPECT_THAT(svg, HasSubstr(label));
  }
  EXPECT_THAT(svg, HasSubstr("<svg id=\"tiny\" class=\"chart\" width=\"400\" height=\"300\""));
  EXPECT_EQ(svg, render_svg_chart(chart));  // Deterministic.
  EXPECT_THAT(svg, Not(HasSubstr("http")));  // Inline in HTML: no namespace URL, no resource.
}

TEST(SvgChart, DefaultRangesWidenToRoundTicks) {
  Chart chart = tiny_chart();
  chart.x = {"layer", AxisScale::linear, std::nullopt, std::nullopt};
  chart.y = {"nmse", AxisScale::log10, std::nullopt, std::nullopt};
  chart.series[0].points = {{0.3, 0.003, "", ""}, {9.2, 0.5, "", ""}};
  ChartFrame frame = chart_frame(chart);
  // Span 8.9 over about 6 ticks: step 2, so [0, 10]; the log axis to whole decades.
  EXPECT_DOUBLE_EQ(frame.x_min, 0.0);
  EXPECT_DOUBLE_EQ(frame.x_max, 10.0);
  EXPECT_DOUBLE_EQ(frame.y_min, 1e-3);
  EXPECT_DOUBLE_EQ(frame.y_max, 1.0);
  EXPECT_THAT(render_svg_chart(chart), HasSubstr(">0.001<"));
  // A horizontal reference line widens the y range to show it; one point alone gets a decade.
  chart.series[0].points = {{1.0, 2.0, "", ""}};
  chart.lines = {horizontal_line(30.0, "band")};
  frame = chart_frame(chart);
  EXPECT_DOUBLE_EQ(frame.y_min, 1.0);
  EXPECT_DOUBLE_EQ(frame.y_max, 100.0);
  chart.lines.clear();
  frame = chart_frame(chart);
  EXPECT_DOUBLE_EQ(frame.y_min, 1.0);
  EXPECT_DOUBLE_EQ(frame.y_max, 10.0);
}

TEST(SvgChart, ReferenceLinesAreClippedToThePlot) {
  Chart chart = tiny_chart();
  // y = 100 is two decades of three up: 256 - 144 = 112, across the whole plot.
  chart.lines.push_back(horizontal_line(100.0, "compute"));
  // y = 10 x from x = 0 .. 10 on linear x / log y is a curve; on a log-log chart a power law
  // is straight. Here: through (1, 1) and (10, 1000) on log x [1, 10] shows the whole diagonal.
  chart.x = {"intensity", AxisScale::log10, 1.0, 10.0};
  chart.series[0].points = {{2.0, 10.0, "", ""}};
  ChartReferenceLine memory = line_through(1.0, 1.0, 10.0, 1000.0, "memory");
  memory.to_x = std::sqrt(10.0);  // Half way on the log axis: 80 + 148 = 228.
  chart.lines.push_back(memory);
  chart.lines.push_back(vertical_line(5.0, "x = 5"));
  const std::string svg = render_svg_chart(chart);
  EXPECT_THAT(svg, HasSubstr("data-label=\"compute\"><line x1=\"80.00\" y1=\"112.00\" "
                             "x2=\"376.00\" y2=\"112.00\""));
  EXPECT_THAT(svg, HasSubstr("data-label=\"memory\"><line x1=\"80.00\" y1=\"256.00\" "
                             "x2=\"228.00\" y2=\"148.00\""));
  EXPECT_THAT(svg, HasSubstr("data-label=\"x = 5\"><line x1=\"286.90\" y1=\"256.00\" "
                             "x2=\"286.90\" y2=\"40.00\""));
  // A steeper line leaves through the top: y = x^4 from (1, 1) reaches 1000 at x = 10^0.75.
  chart.lines = {line_through(1.0, 1.0, 10.0, 10000.0, "steep")};
  EXPECT_THAT(render_svg_chart(chart), HasSubstr("data-label=\"steep\"><line x1=\"80.00\" "
                                                 "y1=\"256.00\" x2=\"302.00\" y2=\"40.00\""));
  // The legend names the series and the labelled lines.
  chart.legend = true;
  const std::string with_legend = render_svg_chart(chart);
  EXPECT_THAT(with_legend, HasSubstr("<g class=\"legend\">"));
  EXPECT_THAT(with_legend, HasSubstr(">isolated</text>"));
  EXPECT_THAT(with_legend, HasSubstr(">steep</text>"));
}

TEST(SvgChart, EscapesEveryText) {
  Chart chart = tiny_chart();
  chart.title = "a<b & \"c\"";
  chart.x.label = "x<1>";
  chart.series[0].name = "s&t";
  chart.series[0].points[0].tooltip = "<script>alert('x')</script>";
  chart.series[0].points[0].link = "#a\"b";
  chart.legend = true;
  const std::string svg = render_svg_chart(chart);
  EXPECT_THAT(svg, HasSubstr("aria-label=\"a&lt;b &amp; &quot;c&quot;\""));
  EXPECT_THAT(svg, HasSubstr(">x&lt;1&gt;</text>"));
  EXPECT_THAT(svg, HasSubstr("data-series=\"s&amp;t\""));
  EXPECT_THAT(svg, HasSubstr("<title>&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;</title>"));
  EXPECT_THAT(svg, HasSubstr("<a href=\"#a&quot;b\">"));
  EXPECT_THAT(svg, Not(HasSubstr("<script")));
}

TEST(SvgChart, RefusesWhatItCannotDraw) {
  Chart chart = tiny_chart();
  chart.series[0].points[1].y = 0.0;
  try {
    render_svg_chart(chart);
    FAIL() << "a zero on a log axis was drawn";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "[svg_chart] chart 'tiny': series 'isolated' point 1: y = 0 is not positive on "
                 "the log10 y axis");
  }
  chart.series[0].points[1].y = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(
      {
        try {
          chart_frame(chart);
        } catch (const std::invalid_argument& error) {
          EXPECT_THAT(error.what(), HasSubstr("point 1: y = nan is not finite"));
          throw;
        }
      },
      std::invalid_argument);
  chart = tiny_chart();
  chart.y.min = -1.0;
  EXPECT_THROW(chart_frame(chart), std::invalid_argument);
  chart = tiny_chart();
  chart.x.min = 10.0;
  chart.x.max = 10.0;
  EXPECT_THROW(chart_frame(chart), std::invalid_argument);
  chart = tiny_chart();
  chart.lines = {line_through(2.0, 1.0, 2.0, 5.0, "vertical")};
  EXPECT_THROW(chart_frame(chart), std::invalid_argument);
  chart = tiny_chart();
  chart.width = 100;
  EXPECT_THROW(chart_frame(chart), std::invalid_argument);
}

}  // namespace
}  // namespace ttt

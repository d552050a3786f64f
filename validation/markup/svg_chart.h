// Small SVG charts for TTTv2's self-contained HTML reports: one x and one y axis (linear or
// log10, with ticks and labels), line and scatter series whose points carry <title> tooltips
// (shown by any browser on hover, no script), horizontal, vertical and sloped reference lines,
// and a legend. The output is an inline <svg> element, deterministic for a given Chart (no
// clock, no randomness), with every text XML-escaped.
//
// The DOM it writes, for tests and CSS: <svg id=chart.id class="chart">, one
// <g class="series" data-series=NAME> per series holding a <polyline class="series-line"> (line
// series) and one <circle class="point" data-x=X data-y=Y> per point (X, Y: the data values;
// a <title> when it has a tooltip; inside <a href=LINK> when it has a link), one <g class="reference-line" data-label=LABEL> per
// reference line, and <g class="legend">.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ttt {

enum class AxisScale {
  linear,
  log10,  // REQUIRES: every value drawn on the axis, and its min and max, > 0.
};

struct ChartAxis {
  // The axis title, drawn beside the axis ("layer", "NMSE").
  std::string label;
  AxisScale scale = AxisScale::linear;
  // The range shown. Default (unset): from the data and the horizontal/vertical reference
  // lines, widened to round ticks (linear: multiples of 1, 2 or 5 x 10^k; log10: whole decades).
  std::optional<double> min;
  std::optional<double> max;
};

struct ChartPoint {
  double x = 0.0;
  double y = 0.0;
  // Shown on hover (<title>); "" for none.
  std::string tooltip;
  // Where a click on the point goes ("#call-12"); "" for none.
  std::string link;
};

struct ChartSeries {
  // Named in the legend and in the group's data-series attribute.
  std::string name;
  // Any CSS color ("#1f77b4").
  std::string color = "#2b5797";
  // Join the points, in the given order, by a polyline.
  bool line = true;
  // Draw a circle at each point (a scatter series: line = false, markers = true).
  bool markers = true;
  std::vector<ChartPoint> points;
};

// A straight line across the plot (clipped to it), for thresholds and ceilings.
struct ChartReferenceLine {
  enum class Kind {
    horizontal,  // y = y1.
    vertical,    // x = x1.
    through,     // Through (x1, y1) and (x2, y2), straight as drawn: a power law y = a x^b on
                 // log-log axes (a roofline's memory ceiling), y = a + b x on linear ones.
  };
  Kind kind = Kind::horizontal;
  double x1 = 0.0;
  double y1 = 0.0;
  double x2 = 0.0;
  double y2 = 0.0;
  // Drawn only for x in [from_x, to_x] (horizontal and through lines); default: the whole plot.
  std::optional<double> from_x;
  std::optional<double> to_x;
  // Written at the line's end and as its <title>; "" for none.
  std::string label;
  std::string color = "#7a8190";
  bool dashed = true;
};

// A horizontal line at `y`, a vertical line at `x`, and the line through two points.
ChartReferenceLine horizontal_line(double y, std::string label);
ChartReferenceLine vertical_line(double x, std::string label);
ChartReferenceLine line_through(double x1, double y1, double x2, double y2, std::string label);

struct Chart {
  // The <svg> element's id ("" for none) and the title drawn above the plot (also its
  // aria-label).
  std::string id;
  std::string title;
  // Size of the <svg> in pixels. REQUIRES: large enough for the margins (width >= 160,
  // height >= 120).
  int width = 640;
  int height = 320;
  ChartAxis x;
  ChartAxis y;
  std::vector<ChartSeries> series;
  std::vector<ChartReferenceLine> lines;
  // A legend row under the title naming every series (and labelled reference line).
  bool legend = true;
};

// Where a chart draws: the axis ranges after defaults, and the plot rectangle in SVG pixels
// (y grows downwards). to_pixel_x/y map a data value to its pixel coordinate.
struct ChartFrame {
  AxisScale x_scale = AxisScale::linear;
  AxisScale y_scale = AxisScale::linear;
  double x_min = 0.0;
  double x_max = 1.0;
  double y_min = 0.0;
  double y_max = 1.0;
  double left = 0.0;
  double top = 0.0;
  double right = 0.0;
  double bottom = 0.0;

  double to_pixel_x(double x) const;
  double to_pixel_y(double y) const;
};

// The frame `chart` is drawn in. Throws std::invalid_argument, prefixed "[svg_chart]" and naming
// the chart, the series and the point (or the axis or the line), for a non-finite value, a value
// <= 0 on a log10 axis, min >= max, or a size too small.
ChartFrame chart_frame(const Chart& chart);

// The chart as one <svg> element (no XML declaration), to inline in HTML. Throws as chart_frame.
// Coordinates print with two decimals.
std::string render_svg_chart(const Chart& chart);

}  // namespace ttt

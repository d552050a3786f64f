#include "validation/markup/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "validation/markup/markup.h"
#include "validation/markup/number.h"

namespace ttt {
namespace {

// The margins around the plot, in pixels: the title (and legend row) above, the y tick labels
// and axis title on the left, the x tick labels and axis title below.
constexpr double kTitleRow = 32.0;
constexpr double kLegendRow = 20.0;
constexpr double kLeft = 80.0;
constexpr double kRight = 24.0;
constexpr double kBottom = 44.0;
constexpr double kMarker = 3.5;  // Circle radius; the plot clips this far outside its rectangle.
constexpr int kMinWidth = 160;
constexpr int kMinHeight = 120;

std::string px(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", value);
  return text;
}

const char* scale_name(AxisScale scale) { return scale == AxisScale::log10 ? "log10" : "linear"; }

std::invalid_argument chart_error(const Chart& chart, const std::string& what) {
  return std::invalid_argument("[svg_chart] chart '" + (chart.id.empty() ? chart.title : chart.id) +
                               "': " + what);
}

// Checks that `value`, drawn on an axis of `scale`, can be: finite, and positive on a log axis.
void check_value(const Chart& chart, const std::string& where, const char* axis, double value,
                 AxisScale scale) {
  if (!std::isfinite(value)) {
    throw chart_error(chart, where + ": " + axis + " = " + format_number(value) + " is not finite");
  }
  if (scale == AxisScale::log10 && value <= 0.0) {
    throw chart_error(chart, where + ": " + axis + " = " + format_number(value) +
                                 " is not positive on the log10 " + axis + " axis");
  }
}

// The value range of one axis as the data and the axis-parallel reference lines need it.
struct Extent {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  void add(double value) {
    low = std::min(low, value);
    high = std::max(high, value);
  }
  bool empty() const { return low > high; }
};

// 1, 2 or 5 x 10^k: the round step nearest above `raw`.
double nice_step(double raw) {
  const double decade = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (factor * decade >= raw * (1 - 1e-9)) return factor * decade;
  }
  return 10.0 * decade;
}

constexpr int kLinearTicks = 6;

// Resolves an axis's [min, max]: the explicit ends, else the data widened to round ticks.
std::pair<double, double> resolve_range(const Chart& chart, const ChartAxis& axis, const char* name,
                                        Extent extent) {
  const bool log = axis.scale == AxisScale::log10;
  for (const auto& end : {axis.min, axis.max}) {
    if (end) check_value(chart, std::string(name) + " axis range", name, *end, axis.scale);
  }
  if (axis.min) extent.add(*axis.min);
  if (axis.max) extent.add(*axis.max);
  if (extent.empty()) extent = log ? Extent{1.0, 10.0} : Extent{0.0, 1.0};
  double low = axis.min.value_or(extent.low);
  double high = axis.max.value_or(extent.high);
  if (axis.min && axis.max && low >= high) {
    throw chart_error(chart, std::string(name) + " axis: min " + format_number(low) +
                                 " is not below max " + format_number(high));
  }
  if (log) {
    double low_decade = std::floor(std::log10(low));
    double high_decade = std::ceil(std::log10(high));
    if (low_decade == high_decade) high_decade += 1.0;
    if (!axis.min) low = std::pow(10.0, low_decade);
    if (!axis.max) high = std::pow(10.0, high_decade);
    return {low, high};
  }
  if (low == high) {
    const double pad = low == 0.0 ? 1.0 : std::abs(low) * 0.1;
    if (!axis.min) low -= pad;
    if (!axis.max) high += pad;
  }
  const double step = nice_step((high - low) / kLinearTicks);
  if (!axis.min) low = std::floor(low / step) * step;
  if (!axis.max) high = std::ceil(high / step) * step;
  return {low, high};
}

struct Tick {
  double value;
  std::string label;
};

std::vector<Tick> axis_ticks(AxisScale scale, double low, double high) {
  std::vector<Tick> ticks;
  if (scale == AxisScale::log10) {
    const double first = std::ceil(std::log10(low) - 1e-9);
    const double last = std::floor(std::log10(high) + 1e-9);
    const double every = std::max(1.0, std::ceil((last - first + 1) / 10.0));
    for (double decade = first; decade <= last; decade += every) {
      const double value = std::pow(10.0, decade);
      ticks.push_back({value, format_number(value)});
    }
    if (ticks.empty()) {
      ticks = {{low, format_significant(low, 3)}, {high, format_significant(high, 3)}};
    }
    return ticks;
  }
  const double step = nice_step((high - low) / kLinearTicks);
  const auto first = static_cast<long long>(std::ceil(low / step - 1e-9));
  const auto last = static_cast<long long>(std::floor(high / step + 1e-9));
  for (long long i = first; i <= last; ++i) {
    const double value = static_cast<double>(i) * step;
    ticks.push_back({value, format_significant(value, 12)});
  }
  return ticks;
}

double position(AxisScale scale, double value, double low, double high, double from, double to) {
  if (scale == AxisScale::log10) {
    value = std::log10(value);
    low = std::log10(low);
    high = std::log10(high);
  }
  return from + (value - low) / (high - low) * (to - from);
}

// A reference line as a pixel segment clipped to the plot; empty when it misses the plot.
struct Segment {
  double x1, y1, x2, y2;
};

std::optional<Segment> reference_segment(const ChartFrame& frame, const ChartReferenceLine& line) {
  const double from = line.from_x ? std::max(frame.left, frame.to_pixel_x(*line.from_x)) : frame.left;
  const double to = line.to_x ? std::min(frame.right, frame.to_pixel_x(*line.to_x)) : frame.right;
  Segment segment{};
  switch (line.kind) {
    case ChartReferenceLine::Kind::vertical: {
      const double x = frame.to_pixel_x(line.x1);
      segment = {x, frame.bottom, x, frame.top};
      break;
    }
    case ChartReferenceLine::Kind::horizontal: {
      const double y = frame.to_pixel_y(line.y1);
      segment = {from, y, to, y};
      break;
    }
    case ChartReferenceLine::Kind::through: {
      const double ax = frame.to_pixel_x(line.x1);
      const double ay = frame.to_pixel_y(line.y1);
      const double slope = (frame.to_pixel_y(line.y2) - ay) / (frame.to_pixel_x(line.x2) - ax);
      segment = {from, ay + slope * (from - ax), to, ay + slope * (to - ax)};
      break;
    }
  }
  if (segment.x1 > segment.x2 || segment.x1 < frame.left - 1e-6 ||
      segment.x2 > frame.right + 1e-6) {
    return std::nullopt;
  }
  // Keep the part with top <= y <= bottom (t runs from the first end to the second).
  double t_low = 0.0;
  double t_high = 1.0;
  const double dy = segment.y2 - segment.y1;
  for (const double bound : {frame.top, frame.bottom}) {
    if (dy == 0.0) continue;
    const double t = (bound - segment.y1) / dy;
    const bool entering = (bound == frame.top) == (dy > 0);
    if (entering) {
      t_low = std::max(t_low, t);
    } else {
      t_high = std::min(t_high, t);
    }
  }
  if (dy == 0.0 && (segment.y1 < frame.top - 1e-6 || segment.y1 > frame.bottom + 1e-6)) {
    return std::nullopt;
  }
  if (t_low > t_high) return std::nullopt;
  const double dx = segment.x2 - segment.x1;
  return Segment{segment.x1 + t_low * dx, segment.y1 + t_low * dy, segment.x1 + t_high * dx,
                 segment.y1 + t_high * dy};
}

// A rough text width for laying out the legend (system-ui at 12 px).
double text_width(const std::string& text) { return 6.5 * static_cast<double>(text.size()); }

void render_axes(std::ostringstream& out, const Chart& chart, const ChartFrame& frame) {
  out << "<g class=\"x-axis\">";
  for (const Tick& tick : axis_ticks(frame.x_scale, frame.x_min, frame.x_max)) {
    const std::string x = px(frame.to_pixel_x(tick.value));
    out << "<line x1=\"" << x << "\" y1=\"" << px(frame.top) << "\" x2=\"" << x << "\" y2=\""
        << px(frame.bottom + 4) << "\" stroke=\"#e6e9ef\"/><text x=\"" << x << "\" y=\""
        << px(frame.bottom + 17) << "\" text-anchor=\"middle\">" << xml_escape(tick.label)
        << "</text>";
  }
  out << "<text class=\"axis-label\" x=\"" << px((frame.left + frame.right) / 2) << "\" y=\""
      << px(chart.height - 6) << "\" text-anchor=\"middle\">" << xml_escape(chart.x.label)
      << "</text></g>\n<g class=\"y-axis\">";
  for (const Tick& tick : axis_ticks(frame.y_scale, frame.y_min, frame.y_max)) {
    const std::string y = px(frame.to_pixel_y(tick.value));
    out << "<line x1=\"" << px(frame.left - 4) << "\" y1=\"" << y << "\" x2=\"" << px(frame.right)
        << "\" y2=\"" << y << "\" stroke=\"#e6e9ef\"/><text x=\"" << px(frame.left - 7)
        << "\" y=\"" << px(frame.to_pixel_y(tick.value) + 4) << "\" text-anchor=\"end\">"
        << xml_escape(tick.label) << "</text>";
  }
  const std::string middle = px((frame.top + frame.bottom) / 2);
  out << "<text class=\"axis-label\" x=\"14\" y=\"" << middle << "\" transform=\"rotate(-90 14 "
      << middle << ")\" text-anchor=\"middle\">" << xml_escape(chart.y.label) << "</text></g>\n";
  out << "<rect class=\"plot-area\" x=\"" << px(frame.left) << "\" y=\"" << px(frame.top)
      << "\" width=\"" << px(frame.right - frame.left) << "\" height=\""
      << px(frame.bottom - frame.top) << "\" fill=\"none\" stroke=\"#9aa1ad\"/>\n";
}

void render_legend(std::ostringstream& out, const Chart& chart, const ChartFrame& frame) {
  out << "<g class=\"legend\">";
  double x = frame.left;
  const double y = kTitleRow + kLegendRow / 2;
  const auto swatch = [&](const std::string& color, bool dashed, bool marker,
                          const std::string& name) {
    out << "<g class=\"legend-entry\"><line x1=\"" << px(x) << "\" y1=\"" << px(y) << "\" x2=\""
        << px(x + 18) << "\" y2=\"" << px(y) << "\" stroke=\"" << xml_escape(color)
        << "\" stroke-width=\"2\"" << (dashed ? " stroke-dasharray=\"5 3\"" : "") << "/>";
    if (marker) {
      out << "<circle cx=\"" << px(x + 9) << "\" cy=\"" << px(y) << "\" r=\"" << px(kMarker)
          << "\" fill=\"" << xml_escape(color) << "\"/>";
    }
    out << "<text x=\"" << px(x + 23) << "\" y=\"" << px(y + 4) << "\">" << xml_escape(name)
        << "</text></g>";
    x += 23 + text_width(name) + 16;
  };
  for (const ChartSeries& series : chart.series) {
    swatch(series.color, false, series.markers, series.name);
  }
  for (const ChartReferenceLine& line : chart.lines) {
    if (!line.label.empty()) swatch(line.color, line.dashed, false, line.label);
  }
  out << "</g>\n";
}

void render_series(std::ostringstream& out, const ChartFrame& frame, const ChartSeries& series) {
  const std::string color = xml_escape(series.color);
  out << "<g class=\"series\" data-series=\"" << xml_escape(series.name) << "\">";
  if (series.line && series.points.size() > 1) {
    out << "<polyline class=\"series-line\" fill=\"none\" stroke=\"" << color
        << "\" stroke-width=\"1.5\" points=\"";
    for (std::size_t i = 0; i < series.points.size(); ++i) {
      out << (i == 0 ? "" : " ") << px(frame.to_pixel_x(series.points[i].x)) << ","
          << px(frame.to_pixel_y(series.points[i].y));
    }
    out << "\"/>";
  }
  if (series.markers) {
    for (const ChartPoint& point : series.points) {
      if (!point.link.empty()) out << "<a href=\"" << xml_escape(point.link) << "\">";
      out << "<circle class=\"point\" cx=\"" << px(frame.to_pixel_x(point.x)) << "\" cy=\""
          << px(frame.to_pixel_y(point.y)) << "\" r=\"" << px(kMarker) << "\" fill=\"" << color
          << "\" data-x=\"" << format_number(point.x) << "\" data-y=\"" << format_number(point.y)
          << "\">";
      if (!point.tooltip.empty()) out << "<title>" << xml_escape(point.tooltip) << "</title>";
      out << "</circle>";
      if (!point.link.empty()) out << "</a>";
    }
  }
  out << "</g>\n";
}

void render_reference_line(std::ostringstream& out, const ChartFrame& frame,
                           const ChartReferenceLine& line) {
  const std::optional<Segment> segment = reference_segment(frame, line);
  if (!segment) return;
  const std::string color = xml_escape(line.color);
  out << "<g class=\"reference-line\" data-label=\"" << xml_escape(line.label) << "\"><line x1=\""
      << px(segment->x1) << "\" y1=\"" << px(segment->y1) << "\" x2=\"" << px(segment->x2)
      << "\" y2=\"" << px(segment->y2) << "\" stroke=\"" << color << "\" stroke-width=\"1.5\""
      << (line.dashed ? " stroke-dasharray=\"5 3\"" : "") << ">";
  if (!line.label.empty()) out << "<title>" << xml_escape(line.label) << "</title>";
  out << "</line>";
  if (!line.label.empty()) {
    const bool vertical = line.kind == ChartReferenceLine::Kind::vertical;
    out << "<text x=\"" << px(vertical ? segment->x2 + 4 : segment->x2 - 4) << "\" y=\""
        << px(vertical ? segment->y2 + 12 : segment->y2 - 5) << "\" text-anchor=\""
        << (vertical ? "start" : "end") << "\" fill=\"" << color << "\" font-size=\"11\">"
        << xml_escape(line.label) << "</text>";
  }
  out << "</g>\n";
}

}  // namespace

ChartReferenceLine horizontal_line(double y, std::string label) {
  ChartReferenceLine line;
  line.kind = ChartReferenceLine::Kind::horizontal;
  line.y1 = y;
  line.label = std::move(label);
  return line;
}

ChartReferenceLine vertical_line(double x, std::string label) {
  ChartReferenceLine line;
  line.kind = ChartReferenceLine::Kind::vertical;
  line.x1 = x;
  line.label = std::move(label);
  return line;
}

ChartReferenceLine line_through(double x1, double y1, double x2, double y2, std::string label) {
  ChartReferenceLine line;
  line.kind = ChartReferenceLine::Kind::through;
  line.x1 = x1;
  line.y1 = y1;
  line.x2 = x2;
  line.y2 = y2;
  line.label = std::move(label);
  return line;
}

double ChartFrame::to_pixel_x(double x) const {
  return position(x_scale, x, x_min, x_max, left, right);
}

double ChartFrame::to_pixel_y(double y) const {
  return position(y_scale, y, y_min, y_max, bottom, top);
}

ChartFrame chart_frame(const Chart& chart) {
  if (chart.width < kMinWidth || chart.height < kMinHeight) {
    throw chart_error(chart, "size " + std::to_string(chart.width) + "x" +
                                 std::to_string(chart.height) + " is below the minimum " +
                                 std::to_string(kMinWidth) + "x" + std::to_string(kMinHeight));
  }
  Extent x_extent;
  Extent y_extent;
  for (const ChartSeries& series : chart.series) {
    for (std::size_t i = 0; i < series.points.size(); ++i) {
      const std::string where = "series '" + series.name + "' point " + std::to_string(i);
      check_value(chart, where, "x", series.points[i].x, chart.x.scale);
      check_value(chart, where, "y", series.points[i].y, chart.y.scale);
      x_extent.add(series.points[i].x);
      y_extent.add(series.points[i].y);
    }
  }
  for (const ChartReferenceLine& line : chart.lines) {
    const std::string where = "reference line '" + line.label + "'";
    switch (line.kind) {
      case ChartReferenceLine::Kind::horizontal:
        check_value(chart, where, "y", line.y1, chart.y.scale);
        y_extent.add(line.y1);
        break;
      case ChartReferenceLine::Kind::vertical:
        check_value(chart, where, "x", line.x1, chart.x.scale);
        x_extent.add(line.x1);
        break;
      case ChartReferenceLine::Kind::through:
        for (const auto& [x, y] : {std::pair{line.x1, line.y1}, std::pair{line.x2, line.y2}}) {
          check_value(chart, where, "x", x, chart.x.scale);
          check_value(chart, where, "y", y, chart.y.scale);
        }
        if (line.x1 == line.x2) {
          throw chart_error(chart, where + ": both points have x = " + format_number(line.x1) +
                                       " (use vertical_line)");
        }
        break;
    }
    for (const auto& end : {line.from_x, line.to_x}) {
      if (end) check_value(chart, where + " extent", "x", *end, chart.x.scale);
    }
  }
  ChartFrame frame;
  frame.x_scale = chart.x.scale;
  frame.y_scale = chart.y.scale;
  std::tie(frame.x_min, frame.x_max) = resolve_range(chart, chart.x, "x", x_extent);
  std::tie(frame.y_min, frame.y_max) = resolve_range(chart, chart.y, "y", y_extent);
  frame.left = kLeft;
  frame.right = chart.width - kRight;
  frame.top = kTitleRow + (chart.legend ? kLegendRow : 0.0) + 8.0;
  frame.bottom = chart.height - kBottom;
  return frame;
}

std::string render_svg_chart(const Chart& chart) {
  const ChartFrame frame = chart_frame(chart);
  std::ostringstream out;
  out << "<svg";
  if (!chart.id.empty()) out << " id=\"" << xml_escape(chart.id) << "\"";
  out << " class=\"chart\" width=\"" << chart.width << "\" height=\"" << chart.height
      << "\" viewBox=\"0 0 " << chart.width << " " << chart.height << "\" role=\"img\" aria-label=\""
      << xml_escape(chart.title)
      << "\" font-family=\"system-ui, sans-serif\" font-size=\"12\" fill=\"#1d2330\" "
         "data-x-scale=\""
      << scale_name(chart.x.scale) << "\" data-y-scale=\"" << scale_name(chart.y.scale) << "\">\n";
  out << "<text class=\"chart-title\" x=\"" << px(frame.left) << "\" y=\"20\" font-size=\"14\" "
                                                                    "font-weight=\"600\">"
      << xml_escape(chart.title) << "</text>\n";
  if (chart.legend) render_legend(out, chart, frame);
  render_axes(out, chart, frame);
  // The plot's content in a nested viewport: it clips lines and points that an explicit range
  // leaves outside, keeping whole the markers on its edges.
  const double x = frame.left - kMarker - 1;
  const double y = frame.top - kMarker - 1;
  const double width = frame.right - frame.left + 2 * (kMarker + 1);
  const double height = frame.bottom - frame.top + 2 * (kMarker + 1);
  out << "<svg class=\"plot\" x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(width)
      << "\" height=\"" << px(height) << "\" viewBox=\"" << px(x) << " " << px(y) << " "
      << px(width) << " " << px(height) << "\">\n";
  for (const ChartReferenceLine& line : chart.lines) render_reference_line(out, frame, line);
  for (const ChartSeries& series : chart.series) render_series(out, frame, series);
  out << "</svg>\n</svg>\n";
  return out.str();
}

}  // namespace ttt

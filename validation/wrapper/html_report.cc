#include "validation/wrapper/html_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "validation/markup/html_page.h"
#include "validation/markup/markup.h"
#include "validation/markup/number.h"
#include "validation/markup/svg_chart.h"
#include "validation/metrics/metrics.h"
#include "validation/trace/token_golden.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

// An nmse of 0 (an exact match) has no place on a log axis: it is drawn at this floor, and its
// tooltip says so.
constexpr double kNmseFloor = 1e-12;

constexpr const char* kIsolatedColor = "#2b5797";
constexpr const char* kAccumulatedColor = "#d73027";

std::string call_label(const HtmlReportCall& call) {
  return call.name + " #" + std::to_string(call.call_index);
}

std::string optional_text(const std::optional<double>& value) {
  return value ? format_significant(*value, 6) : "-";
}

// The index of the largest value in [begin, begin + count) of `tensor` (flat).
std::int64_t argmax(const Tensor& tensor, std::int64_t begin, std::int64_t count) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < count; ++i) {
    if (tensor.at_flat(begin + i) > tensor.at_flat(begin + best)) best = i;
  }
  return best;
}

// The worst (largest nmse, lowest pcc) of each layer, in layer order.
struct LayerPoint {
  std::int64_t layer = 0;
  std::optional<double> isolated_nmse, accumulated_nmse, isolated_pcc, accumulated_pcc;
  std::string isolated_call, accumulated_call;
};

void keep_max(std::optional<double>& worst, std::string& worst_call, const std::optional<double>& v,
              const std::string& call) {
  if (v && (!worst || *v > *worst)) {
    worst = v;
    worst_call = call;
  }
}

void keep_min(std::optional<double>& worst, const std::optional<double>& v) {
  if (v && (!worst || *v < *worst)) worst = v;
}

std::vector<LayerPoint> layer_points(const std::vector<HtmlReportCall>& calls) {
  std::map<std::int64_t, LayerPoint> layers;
  for (const HtmlReportCall& call : calls) {
    if (!call.layer) continue;
    LayerPoint& point = layers[*call.layer];
    point.layer = *call.layer;
    keep_max(point.isolated_nmse, point.isolated_call, call.isolated_nmse, call_label(call));
    keep_max(point.accumulated_nmse, point.accumulated_call, call.accumulated_nmse,
             call_label(call));
    keep_min(point.isolated_pcc, call.isolated_pcc);
    keep_min(point.accumulated_pcc, call.accumulated_pcc);
  }
  std::vector<LayerPoint> result;
  for (auto& [layer, point] : layers) result.push_back(point);
  return result;
}

// The calls of the worst-calls table: by isolated nmse, then accumulated nmse, largest first;
// calls without either last.
std::vector<std::size_t> worst_calls(const HtmlReportInput& input) {
  std::vector<std::size_t> order(input.calls.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const auto key = [&](std::size_t i) {
    const HtmlReportCall& call = input.calls[i];
    return std::pair{
        call.failed || call.out_of_band,
        std::max(call.isolated_nmse.value_or(-1.0), call.accumulated_nmse.value_or(-1.0))};
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return key(a) > key(b); });
  order.resize(std::min(order.size(), input.worst_calls));
  return order;
}

ChartSeries series(const char* name, const char* color) {
  ChartSeries result;
  result.name = name;
  result.color = color;
  return result;
}

double drawable_nmse(double nmse) { return std::max(nmse, kNmseFloor); }

std::string nmse_tooltip(const std::string& what, double nmse) {
  return what + ": nmse " + format_significant(nmse, 4) +
         (nmse < kNmseFloor ? " (drawn at " + format_number(kNmseFloor) + ")" : "");
}

// An NMSE chart (log10 y) and a PCC chart of the same points, each with an isolated and an
// accumulated series.
class ErrorCharts {
 public:
  ErrorCharts(const std::string& id, const std::string& nmse_title, const std::string& pcc_title,
              int width, const std::string& x_label) {
    nmse_.id = id + "-nmse";
    nmse_.title = nmse_title;
    nmse_.width = width;
    nmse_.x = {x_label, AxisScale::linear, std::nullopt, std::nullopt};
    nmse_.y = {"nmse", AxisScale::log10, std::nullopt, std::nullopt};
    pcc_ = nmse_;
    pcc_.id = id + "-pcc";
    pcc_.title = pcc_title;
    pcc_.y = {"pcc", AxisScale::linear, std::nullopt, std::nullopt};
  }

  // One point at `x` (a layer or a call) named `name` in the PCC tooltips; the NMSE tooltips name
  // it `isolated_what` and `accumulated_what`. A metric without a value adds no point.
  void add(double x, const std::string& name, const std::string& isolated_what,
           const std::string& accumulated_what, const std::optional<double>& isolated_nmse,
           const std::optional<double>& accumulated_nmse, const std::optional<double>& isolated_pcc,
           const std::optional<double>& accumulated_pcc, const std::string& link) {
    if (isolated_nmse) {
      isolated_nmse_.points.push_back(
          {x, drawable_nmse(*isolated_nmse), nmse_tooltip(isolated_what, *isolated_nmse), link});
    }
    if (accumulated_nmse) {
      accumulated_nmse_.points.push_back({x, drawable_nmse(*accumulated_nmse),
                                          nmse_tooltip(accumulated_what, *accumulated_nmse), link});
    }
    if (isolated_pcc) {
      isolated_pcc_.points.push_back(
          {x, *isolated_pcc, name + " isolated: pcc " + format_number(*isolated_pcc), link});
    }
    if (accumulated_pcc) {
      accumulated_pcc_.points.push_back(
          {x, *accumulated_pcc, name + " accumulated: pcc " + format_number(*accumulated_pcc),
           link});
    }
  }

  // The NMSE chart, to which a caller may add reference lines before render().
  Chart& nmse() { return nmse_; }

  // Both charts' SVG, with the accumulated series when `with_accumulated`.
  std::string render(bool with_accumulated) {
    nmse_.series = {isolated_nmse_};
    pcc_.series = {isolated_pcc_};
    if (with_accumulated) {
      nmse_.series.push_back(accumulated_nmse_);
      pcc_.series.push_back(accumulated_pcc_);
    }
    return render_svg_chart(nmse_) + render_svg_chart(pcc_);
  }

 private:
  Chart nmse_, pcc_;
  ChartSeries isolated_nmse_ = series("isolated", kIsolatedColor);
  ChartSeries accumulated_nmse_ = series("accumulated", kAccumulatedColor);
  ChartSeries isolated_pcc_ = series("isolated", kIsolatedColor);
  ChartSeries accumulated_pcc_ = series("accumulated", kAccumulatedColor);
};

std::string layer_charts(const HtmlReportInput& input) {
  const std::vector<LayerPoint> layers = layer_points(input.calls);
  if (layers.empty()) return "<p class=\"sub\">No call belongs to a layer.</p>\n";
  ErrorCharts charts("layer", "NMSE per layer (the layer's worst call)",
                     "PCC per layer (the layer's lowest)", 560, "layer");
  for (const LayerPoint& layer : layers) {
    const std::string name = "layer " + std::to_string(layer.layer);
    charts.add(static_cast<double>(layer.layer), name,
               name + " isolated (" + layer.isolated_call + ")",
               name + " accumulated (" + layer.accumulated_call + ")", layer.isolated_nmse,
               layer.accumulated_nmse, layer.isolated_pcc, layer.accumulated_pcc, "");
  }
  if (input.flagged_layer) {
    charts.nmse().lines.push_back(
        vertical_line(static_cast<double>(*input.flagged_layer), "out of band"));
    charts.nmse().lines.back().color = kAccumulatedColor;
  }
  return "<div class=\"charts\">" + charts.render(input.has_accumulated) + "</div>\n";
}

std::string call_charts(const HtmlReportInput& input, const std::vector<std::size_t>& worst) {
  ErrorCharts charts("call",
                     "NMSE per call along the model (click a worst call for its replay line)",
                     "PCC per call along the model", 1100, "call (in call order)");
  for (std::size_t i = 0; i < input.calls.size(); ++i) {
    const HtmlReportCall& call = input.calls[i];
    const std::string label = std::to_string(i) + " " + call_label(call);
    const bool listed = std::find(worst.begin(), worst.end(), i) != worst.end();
    charts.add(static_cast<double>(i), label, label + " isolated", label + " accumulated",
               call.isolated_nmse, call.accumulated_nmse, call.isolated_pcc, call.accumulated_pcc,
               listed ? "#call-" + std::to_string(i) : "");
  }
  return charts.render(input.has_accumulated);
}

std::string token_strip(const HtmlReportInput& input) {
  std::ostringstream out;
  std::int64_t misses = 0;
  std::int64_t top_k_hits = 0;
  for (const HtmlTokenPosition& token : input.tokens) {
    if (token.device != token.reference) ++misses;
    if (token.in_top_k) ++top_k_hits;
  }
  const auto positions = static_cast<std::int64_t>(input.tokens.size());
  out << "<p class=\"sub\">" << xml_escape(input.tokens_source) << ": <span id=\"token-summary\">"
      << positions - misses << "/" << positions << " top-1, " << top_k_hits << "/" << positions
      << " top-" << input.top_k << "</span>. Each cell is one position (hover for the tokens); "
      << "a red cell's top-1 differs from the reference's, an orange one's differs but is in "
         "the reference's top-"
      << input.top_k << ".</p>\n<div id=\"token-strip\" class=\"strip\">";
  for (std::size_t p = 0; p < input.tokens.size(); ++p) {
    const HtmlTokenPosition& token = input.tokens[p];
    const bool match = token.device == token.reference;
    const char* state = match ? "match" : token.in_top_k ? "diverge near" : "diverge far";
    std::string title = "position " + std::to_string(p) + ": device " +
                        std::to_string(token.device) + ", reference " +
                        std::to_string(token.reference);
    if (!match) {
      title += token.in_top_k ? " (in the reference's top-" + std::to_string(input.top_k) + ")"
                              : " (not in the reference's top-" + std::to_string(input.top_k) + ")";
    }
    std::string text = token.text;
    if (text == "\n") text = "\u21b5";
    if (text == " ") text = "\u2423";
    out << "<span class=\"tok " << state << "\" data-position=\"" << p << "\" title=\""
        << xml_escape(title) << "\">" << xml_escape(text) << "</span>";
  }
  out << "</div>\n";
  return out.str();
}

std::string worst_table(const HtmlReportInput& input, const std::vector<std::size_t>& worst) {
  std::ostringstream out;
  out << "<table id=\"worst-calls\">\n<tr><th>#</th><th>call</th><th>layer</th>"
         "<th>isolated pcc</th><th>isolated nmse</th>";
  if (input.has_accumulated) out << "<th>accumulated pcc</th><th>accumulated nmse</th>";
  out << "<th>verdict</th><th>replay</th></tr>\n";
  for (const std::size_t i : worst) {
    const HtmlReportCall& call = input.calls[i];
    out << "<tr id=\"call-" << i << "\"><td class=\"num\">" << i << "</td><td>"
        << xml_escape(call_label(call)) << "</td><td class=\"num\">"
        << (call.layer ? std::to_string(*call.layer) : "-") << "</td><td class=\"num\">"
        << optional_text(call.isolated_pcc) << "</td><td class=\"num\">"
        << optional_text(call.isolated_nmse) << "</td>";
    if (input.has_accumulated) {
      out << "<td class=\"num\">" << optional_text(call.accumulated_pcc)
          << "</td><td class=\"num\">" << optional_text(call.accumulated_nmse) << "</td>";
    }
    out << "<td>"
        << (call.failed        ? "<span class=\"bad\">failed</span>"
            : call.out_of_band ? "<span class=\"bad\">out of band</span>"
                               : "pass")
        << "</td><td>";
    if (input.trace_path.empty()) {
      out << "(no trace)";
    } else {
      out << "<code class=\"replay\">" << xml_escape(replay_command(input.trace_path, call.name))
          << "</code>";
    }
    out << "</td></tr>\n";
  }
  out << "</table>\n";
  return out.str();
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::optional<Metrics> first_output_metrics(const nlohmann::json& outputs) {
  for (const nlohmann::json& output : outputs) {
    const auto metrics = output.find("metrics");
    if (metrics != output.end() && metrics->is_object()) return metrics_from_json(*metrics);
  }
  return std::nullopt;
}

}  // namespace

std::vector<HtmlReportCall> html_calls(const ErrorPropagation& propagation) {
  std::vector<HtmlReportCall> calls;
  for (const PropagationCall& call : propagation.calls) {
    calls.push_back({call.name, call.call_index, call.layer, call.local.pcc, call.local.nmse,
                     call.accumulated.pcc, call.accumulated.nmse, false, call.out_of_band});
  }
  return calls;
}

std::vector<HtmlReportCall> html_calls(const std::vector<ValidationRecord>& records) {
  std::vector<HtmlReportCall> calls;
  for (const ValidationRecord& record : records) {
    HtmlReportCall call;
    call.name = record.name;
    call.call_index = record.call_index;
    std::string module;
    call.layer = call_layer(record.name, module);
    for (const OutputCheck& output : record.outputs) {
      if (!output.metrics) continue;
      call.isolated_pcc = output.metrics->pcc;
      call.isolated_nmse = output.metrics->nmse;
      break;
    }
    call.failed = !record.passed;
    calls.push_back(call);
  }
  return calls;
}

std::vector<HtmlTokenPosition> html_token_strip(const TokenGolden& golden,
                                                const std::vector<std::int64_t>& predicted) {
  if (static_cast<std::int64_t>(predicted.size()) != golden.positions()) {
    throw std::invalid_argument("[html_report] " + std::to_string(predicted.size()) +
                                " predicted tokens for a golden of " +
                                std::to_string(golden.positions()) + " positions");
  }
  std::vector<HtmlTokenPosition> strip;
  for (std::int64_t p = 0; p < golden.positions(); ++p) {
    HtmlTokenPosition token;
    token.device = predicted[static_cast<std::size_t>(p)];
    token.reference = golden.top_id(p, 0);
    token.in_top_k = false;
    for (std::int64_t rank = 0; rank < golden.top_k; ++rank) {
      token.in_top_k = token.in_top_k || golden.top_id(p, rank) == token.device;
    }
    strip.push_back(token);
  }
  return strip;
}

HtmlReportInput html_report_of_trace(const TraceReader& trace) {
  HtmlReportInput input;
  input.title = "Trace report";
  input.source = trace.path();
  input.trace_path = trace.path();
  input.tokens_source = "LM head calls, device output against the captured reference output";
  for (const std::int64_t seq : trace.sequence_numbers()) {
    const TraceCall call = trace.call(seq);
    HtmlReportCall entry;
    entry.name = call.name;
    std::string module;
    entry.layer = call_layer(call.name, module);
    entry.failed = call.verdict == "fail";
    const nlohmann::json metrics = nlohmann::json::parse(call.metrics_json, nullptr, false);
    if (metrics.is_discarded()) {
      throw std::invalid_argument("[html_report] " + trace.path() + ":" + call.path +
                                  ": attribute metrics is not JSON");
    }
    if (metrics.contains("outputs") && metrics.at("outputs").is_array()) {
      if (const std::optional<Metrics> first = first_output_metrics(metrics.at("outputs"))) {
        entry.isolated_pcc = first->pcc;
        entry.isolated_nmse = first->nmse;
      }
    }
    input.calls.push_back(entry);
    // The token the LM head's last row predicts, on the device and in the reference.
    if (call.name.rfind("lm_head.", 0) == 0 && !call.outputs.empty() &&
        !call.reference_outputs.empty()) {
      const Tensor device = trace.read(call.outputs.front());
      const Tensor reference = trace.read(call.reference_outputs.front());
      if (device.rank() == 0 || device.numel() != reference.numel()) continue;
      const std::int64_t vocab = device.dim(-1);
      const std::int64_t last = device.numel() - vocab;
      HtmlTokenPosition token;
      token.device = argmax(device, last, vocab);
      token.reference = argmax(reference, last, vocab);
      // Rank of the device's token among the reference's logits of that row.
      std::int64_t above = 0;
      for (std::int64_t v = 0; v < vocab; ++v) {
        above += reference.at_flat(last + v) > reference.at_flat(last + token.device) ? 1 : 0;
      }
      token.in_top_k = above < input.top_k;
      input.tokens.push_back(token);
    }
  }
  // Call indices per name, in capture order.
  std::map<std::string, std::int64_t> seen;
  for (HtmlReportCall& call : input.calls) call.call_index = seen[call.name]++;
  return input;
}

std::string replay_command(const std::string& trace_path, const std::string& name) {
  return "ttt replay " + shell_quote(trace_path) + " --filter " + shell_quote(name);
}

std::string render_html_report(const HtmlReportInput& input) {
  const std::vector<std::size_t> worst = worst_calls(input);
  std::ostringstream out;
  out << html_page_head(input.title, R"(.charts { display: flex; gap: 1em; flex-wrap: wrap; }
tr:target { background: #fff4c2; }
.bad { color: #d73027; font-weight: 600; }
.strip { display: flex; flex-wrap: wrap; gap: 1px; font: 12px/1.6 ui-monospace, monospace; }
.tok { min-width: 0.9em; height: 1.6em; padding: 0 1px; text-align: center; background: #d9f0d3;
       white-space: pre; }
.tok.diverge.near { background: #fdae61; }
.tok.diverge.far { background: #d73027; color: #fff; }
)");
  out << R"()";
  out << "<h1>" << xml_escape(input.title) << "</h1>\n<p class=\"sub\">" << xml_escape(input.source)
      << "</p>\n";

  // Summary cards.
  std::optional<double> worst_pcc;
  std::int64_t failed = 0;
  for (const HtmlReportCall& call : input.calls) {
    keep_min(worst_pcc, call.isolated_pcc);
    failed += call.failed ? 1 : 0;
  }
  out << "<div class=\"cards\">\n<div class=\"card\"><div class=\"big\" id=\"summary-calls\">"
      << input.calls.size() << "</div>calls, " << failed << " failed</div>\n"
      << "<div class=\"card\"><div class=\"big\" id=\"summary-worst-pcc\">"
      << optional_text(worst_pcc) << "</div>lowest isolated PCC</div>\n"
      << "<div class=\"card\"><div class=\"big\" id=\"summary-flagged\">"
      << (input.flagged_layer ? "layer " + std::to_string(*input.flagged_layer)
                              : std::string(input.has_accumulated ? "none" : "-"))
      << "</div>layer whose isolated error leaves its band</div>\n";
  if (!input.tokens.empty()) {
    const auto matches =
        std::count_if(input.tokens.begin(), input.tokens.end(),
                      [](const HtmlTokenPosition& t) { return t.device == t.reference; });
    out << "<div class=\"card\"><div class=\"big\" id=\"summary-top1\">" << matches << "/"
        << input.tokens.size() << "</div>positions with the reference's top-1</div>\n";
  }
  out << "</div>\n";

  out << "<h2>Per layer</h2>\n<p class=\"sub\">"
      << (input.has_accumulated
              ? "Isolated: each block teacher forced, on exact inputs (its own error). "
                "Accumulated: the free-running model against the exact value (what the layer "
                "received and passes on)."
              : "Isolated: each block against its reference on the inputs it was given. The "
                "accumulated error needs a run: ttt demo --html FILE.")
      << "</p>\n"
      << layer_charts(input);
  out << "<h2>Per call</h2>\n" << call_charts(input, worst);
  if (!input.tokens.empty()) out << "<h2>Token accuracy</h2>\n" << token_strip(input);
  out << "<h2>Worst calls</h2>\n<p class=\"sub\">The " << worst.size()
      << " calls with the largest error (failed or out-of-band calls first); each line replays "
         "the calls of that name from the trace.</p>\n"
      << worst_table(input, worst);
  out << html_page_tail();
  return out.str();
}

}  // namespace ttt

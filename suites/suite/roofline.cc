#include "suites/suite/roofline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "blocks/common/matmul.h"
#include "suites/suite/machine.h"
#include "validation/markup/html_page.h"
#include "validation/markup/markup.h"
#include "validation/markup/number.h"
#include "validation/markup/svg_chart.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

// The CPU measurements: a buffer well beyond any last-level cache, a GEMM large enough that its
// panel preparation (O(n^2)) is small beside its product (O(n^3)), a few repetitions each.
constexpr std::size_t kReadBufferBytes = std::size_t{256} << 20;
constexpr std::int64_t kGemmSide = 1024;
constexpr int kRepetitions = 3;

// The chart's colors: the markers of each mode, the memory roof.
constexpr const char* kMemoryColor = "#b2182b";
const char* mode_color(Mode mode) { return mode == Mode::prefill ? "#2b5797" : "#e66101"; }
constexpr double kMargin = 1.5;
// Right of the highest ridge point the flat roofs run a decade, room for their labels.
constexpr double kRoofRoom = 10.0;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The best of kRepetitions sequential reads of the buffer. Four independent sums let the compiler
// vectorize the loop, so that the reads, not the additions, set its speed.
double measure_read_bytes_per_second() {
  std::vector<std::uint64_t> buffer(kReadBufferBytes / sizeof(std::uint64_t));
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = i;  // Touches every page.
  double best = std::numeric_limits<double>::infinity();
  std::uint64_t checksum = 0;
  for (int repetition = 0; repetition < kRepetitions; ++repetition) {
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t sums[4] = {0, 0, 0, 0};
    for (std::size_t i = 0; i + 4 <= buffer.size(); i += 4) {
      sums[0] += buffer[i];
      sums[1] += buffer[i + 1];
      sums[2] += buffer[i + 2];
      sums[3] += buffer[i + 3];
    }
    best = std::min(best, seconds_since(start));
    checksum += sums[0] + sums[1] + sums[2] + sums[3];
  }
  // The sums are used, so the reads cannot be optimized away: n (n - 1) / 2 per repetition.
  const std::uint64_t n = buffer.size();
  if (checksum != std::uint64_t{kRepetitions} * (n * (n - 1) / 2)) {
    throw std::runtime_error("[roofline] the bandwidth measurement read wrong values");
  }
  return static_cast<double>(kReadBufferBytes) / best;
}

// The best of kRepetitions float32 products [n, n] x [n, n] through DeviceMatmul (OpenBLAS),
// after one untimed product.
double measure_gemm_ops_per_second() {
  const DeviceMatmul matmul(MatmulConfig{.activation_dtype = DType::float32,
                                         .weight_dtype = DType::float32,
                                         .output_dtype = DType::float32,
                                         .fidelity = MathFidelity::LoFi,
                                         .accumulation = Accumulation::fp32});
  const DeviceMatrix weight = matmul.prepare(random_normal({kGemmSide, kGemmSide}, 1));
  const Tensor x = random_normal({kGemmSide, kGemmSide}, 2);
  Tensor y = matmul(x, weight);
  double best = std::numeric_limits<double>::infinity();
  for (int repetition = 0; repetition < kRepetitions; ++repetition) {
    const auto start = std::chrono::steady_clock::now();
    y = matmul(x, weight);
    best = std::min(best, seconds_since(start));
  }
  const double n = static_cast<double>(kGemmSide);
  return 2.0 * n * n * n / best;
}

bool positive_finite(double value) { return std::isfinite(value) && value > 0.0; }

// "147.5 TOP/s", "288 GB/s": three or four significant digits with an SI prefix.
std::string si(double value, const char* unit) {
  static constexpr struct {
    double scale;
    const char* prefix;
  } kPrefixes[] = {{1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
  for (const auto& prefix : kPrefixes) {
    if (std::abs(value) >= prefix.scale) {
      return format_significant(value / prefix.scale, 4) + " " + prefix.prefix + unit;
    }
  }
  return format_significant(value, 4) + " " + unit;
}

RooflinePoint make_point(const DeviceBlockCost& block, Mode mode, const std::string& topology) {
  RooflinePoint point;
  point.module = block.module;
  point.kind = block.kind;
  point.mode = mode;
  point.topology = topology;
  point.instances = block.instances;
  point.ops = static_cast<double>(block.cost.total_matmul_ops() + block.cost.vector_ops);
  point.bytes = static_cast<double>(block.cost.dram_bytes());
  point.intensity = point.on_chart() ? point.ops / point.bytes : 0.0;
  return point;
}

// Both modes' blocks of `composition`, throughput and bound left to the caller.
std::vector<RooflinePoint> composition_points(const DeviceComposition& composition,
                                              const std::string& topology) {
  std::vector<RooflinePoint> points;
  for (const DeviceModePrediction* prediction : {&composition.prefill, &composition.decode}) {
    for (const DeviceBlockCost& block : prediction->blocks) {
      points.push_back(make_point(block, prediction->mode, topology));
    }
  }
  return points;
}

nlohmann::json ceilings_json(const RooflineCeilings& ceilings) {
  nlohmann::json compute = nlohmann::json::array();
  for (std::size_t i = 0; i < ceilings.compute.size(); ++i) {
    compute.push_back({{"name", ceilings.compute[i].name},
                       {"ops_per_second", ceilings.compute[i].ops_per_second},
                       {"ridge_point", ceilings.ridge_point(i)}});
  }
  return {{"processor", ceilings.processor},
          {"description", ceilings.description},
          {"bytes_per_second", ceilings.bytes_per_second},
          {"compute", std::move(compute)}};
}

nlohmann::json point_json(const RooflinePoint& point) {
  return {{"block", point.module},          {"kind", point.kind},
          {"mode", mode_name(point.mode)},  {"topology", point.topology},
          {"instances", point.instances},   {"ops", point.ops},
          {"bytes", point.bytes},           {"intensity", point.intensity},
          {"throughput", point.throughput}, {"bound", point.bound}};
}

std::string ceiling_label(const RooflineCeilings& ceilings, std::size_t index) {
  return ceilings.compute[index].name + ": " + si(ceilings.compute[index].ops_per_second, "OP/s") +
         ", ridge " + format_significant(ceilings.ridge_point(index), 4) + " op/B";
}

std::string memory_label(const RooflineCeilings& ceilings) {
  return "memory: " + si(ceilings.bytes_per_second, "B/s") + " x intensity";
}

// The roofs' labels on a chart: short, since they are written at the lines' ends (the ridge
// points are in the table beside the chart).
std::string chart_ceiling_label(const RooflineCeilings& ceilings, std::size_t index) {
  return ceilings.compute[index].name + " " + si(ceilings.compute[index].ops_per_second, "OP/s");
}

std::string chart_memory_label(const RooflineCeilings& ceilings) {
  return "DRAM " + si(ceilings.bytes_per_second, "B/s");
}

std::string point_label(const RooflinePoint& point) {
  return point.module + " (" + point.kind + ") " + std::string(mode_name(point.mode)) + " x" +
         std::to_string(point.instances);
}

// The chart of one processor: memory roof up to the highest ridge point, each compute roof from
// its ridge point on, prefill and decode markers. The ranges hug the data and the roofs (a margin
// of 1.5x; a decade right of the highest ridge point), so that the roofs, close on a log axis, are
// drawn far enough apart to read.
std::string roofline_svg(const Roofline& roofline) {
  const RooflineCeilings& roofs = roofline.ceilings;
  double x_low = roofs.ridge_point(roofs.compute.size() - 1);
  double x_high = roofs.ridge_point(0);
  double y_low = roofs.compute.back().ops_per_second;
  for (const RooflinePoint& point : roofline.points) {
    if (!point.on_chart()) continue;
    x_low = std::min(x_low, point.intensity);
    x_high = std::max(x_high, point.intensity);
    y_low = std::min(y_low, point.throughput);
  }
  Chart chart;
  chart.id = "roofline-" + roofs.processor;
  chart.title = "Roofline: " + roofs.processor;
  chart.width = 880;
  chart.height = 600;
  chart.legend = false;  // Too many roofs for one row: the page writes the legend.
  chart.x = {.label = "arithmetic intensity (operations per DRAM byte)",
             .scale = AxisScale::log10,
             .min = x_low / kMargin,
             .max = x_high * kRoofRoom};
  chart.y = {.label = "throughput (operations per second)",
             .scale = AxisScale::log10,
             .min = std::min(y_low, roofs.bytes_per_second * *chart.x.min) / kMargin,
             .max = roofs.compute.front().ops_per_second * kMargin};
  for (const Mode mode : {Mode::prefill, Mode::decode}) {
    ChartSeries series{.name = std::string(mode_name(mode)),
                       .color = mode_color(mode),
                       .line = false,
                       .markers = true,
                       .points = {}};
    for (const RooflinePoint& point : roofline.points) {
      if (point.mode != mode || !point.on_chart()) continue;
      series.points.push_back(
          {.x = point.intensity,
           .y = point.throughput,
           .tooltip = point_label(point) + ": " + format_significant(point.intensity, 4) +
                      " op/B, " + si(point.throughput, "OP/s") + ", " + point.bound + " bound",
           .link = ""});
    }
    chart.series.push_back(std::move(series));
  }
  const double top_ridge = roofs.ridge_point(0);
  ChartReferenceLine memory =
      line_through(1.0, roofs.bytes_per_second, top_ridge, roofs.compute.front().ops_per_second,
                   chart_memory_label(roofs));
  memory.to_x = top_ridge;
  memory.color = kMemoryColor;
  memory.dashed = false;
  chart.lines.push_back(std::move(memory));
  for (std::size_t i = 0; i < roofs.compute.size(); ++i) {
    ChartReferenceLine roof =
        horizontal_line(roofs.compute[i].ops_per_second, chart_ceiling_label(roofs, i));
    roof.from_x = roofs.ridge_point(i);
    roof.dashed = i > 0;
    roof.color = i == 0 ? "#1d2330" : "#7a8190";
    chart.lines.push_back(std::move(roof));
  }
  return render_svg_chart(chart);
}

std::string points_table(const Roofline& roofline) {
  std::ostringstream out;
  out << "<table class=\"points\" data-processor=\"" << xml_escape(roofline.ceilings.processor)
      << "\">\n<tr><th>mode</th><th>block</th><th>kind</th><th>calls</th><th>op/call</th>"
         "<th>DRAM bytes/call</th><th>intensity "
         "(op/B)</th><th>throughput</th><th>bound</th></tr>\n";
  for (const RooflinePoint& point : roofline.points) {
    out << "<tr class=\"point" << (point.on_chart() ? "" : " off-chart") << "\"><td>"
        << mode_name(point.mode) << "</td><td>" << xml_escape(point.module) << "</td><td>"
        << xml_escape(point.kind) << "</td><td class=\"num\">" << point.instances
        << "</td><td class=\"num\">" << si(point.ops, "") << "</td><td class=\"num\">"
        << si(point.bytes, "B") << "</td><td class=\"num\">"
        << (point.on_chart() ? format_significant(point.intensity, 4) : "-")
        << "</td><td class=\"num\">" << (point.on_chart() ? si(point.throughput, "OP/s") : "-")
        << "</td><td>" << (point.on_chart() ? point.bound : "not drawn: no operations")
        << "</td></tr>\n";
  }
  out << "</table>\n";
  return out.str();
}

std::string ceilings_table(const RooflineCeilings& roofs) {
  std::ostringstream out;
  out << "<table class=\"ceilings\" data-processor=\"" << xml_escape(roofs.processor)
      << "\">\n<tr><th>roof</th><th>rate</th><th>ridge point (op/B)</th></tr>\n"
      << "<tr><td>memory</td><td class=\"num\">" << si(roofs.bytes_per_second, "B/s")
      << "</td><td></td></tr>\n";
  for (std::size_t i = 0; i < roofs.compute.size(); ++i) {
    out << "<tr><td>" << xml_escape(roofs.compute[i].name) << "</td><td class=\"num\">"
        << si(roofs.compute[i].ops_per_second, "OP/s") << "</td><td class=\"num ridge\">"
        << format_significant(roofs.ridge_point(i), 4) << "</td></tr>\n";
  }
  out << "</table>\n";
  return out.str();
}

std::string chart_legend() {
  std::string out = "<p class=\"legend\">";
  for (const Mode mode : {Mode::prefill, Mode::decode}) {
    out += "<span class=\"dot\" style=\"background: " + std::string(mode_color(mode)) +
           "\"></span>" + std::string(mode_name(mode)) + " ";
  }
  return out + "<span class=\"roof\" style=\"border-color: " + kMemoryColor +
         "\"></span>memory roof <span class=\"roof\"></span>compute roofs (the highest solid); "
         "hover a marker for its block</p>\n";
}

std::string roofline_section(const Roofline& roofline, const std::string& heading) {
  std::string out = "<section class=\"roofline\" id=\"section-" +
                    xml_escape(roofline.ceilings.processor) + "\">\n<h2>" + xml_escape(heading) +
                    "</h2>\n<p class=\"sub\">" + xml_escape(roofline.ceilings.description) +
                    "</p>\n";
  out += chart_legend() + roofline_svg(roofline) + "\n";
  out += ceilings_table(roofline.ceilings) + points_table(roofline) + "</section>\n";
  return out;
}

std::string text_section(const Roofline& roofline) {
  const RooflineCeilings& roofs = roofline.ceilings;
  std::string out =
      "\n" + roofs.processor + ": " + roofs.description + "\n  " + memory_label(roofs) + "\n";
  for (std::size_t i = 0; i < roofs.compute.size(); ++i) {
    out += "  " + ceiling_label(roofs, i) + "\n";
  }
  char line[320];
  std::snprintf(line, sizeof line, "  %-7s %-30s %-16s %12s %14s  %s\n", "mode", "block", "kind",
                "op/B", "throughput", "bound");
  out += line;
  for (const RooflinePoint& point : roofline.points) {
    std::snprintf(line, sizeof line, "  %-7s %-30s %-16s %12s %14s  %s\n",
                  std::string(mode_name(point.mode)).c_str(), point.module.c_str(),
                  point.kind.c_str(),
                  point.on_chart() ? format_significant(point.intensity, 4).c_str() : "-",
                  point.on_chart() ? si(point.throughput, "OP/s").c_str() : "-",
                  point.on_chart() ? point.bound.c_str() : "not drawn: no operations");
    out += line;
  }
  return out;
}

}  // namespace

double RooflineCeilings::ridge_point(std::size_t index) const {
  return compute.at(index).ops_per_second / bytes_per_second;
}

double RooflineCeilings::attainable(double intensity, std::size_t index) const {
  return std::min(bytes_per_second * intensity, compute.at(index).ops_per_second);
}

RooflineCeilings device_ceilings(const DeviceModel& device) {
  const double core_cycles = device.cores_per_chip * device.clock_hz;
  RooflineCeilings ceilings{.processor = device.name,
                            .description = device.description +
                                           "; roofs per chip from the cost model's constants "
                                           "(docs/cost-model.md)",
                            .bytes_per_second = device.dram_bytes_per_second,
                            .compute = {}};
  for (int f = 0; f < 4; ++f) {
    ceilings.compute.push_back(
        {"matmul " + std::string(math_fidelity_name(static_cast<MathFidelity>(f))),
         core_cycles * device.matmul_ops_per_cycle / (f + 1)});
  }
  ceilings.compute.push_back({"element-wise", core_cycles * device.vector_ops_per_cycle});
  return ceilings;
}

CpuCeilings measure_cpu_ceilings() {
  CpuCeilings cpu;
  cpu.read_bytes_per_second = measure_read_bytes_per_second();
  cpu.gemm_ops_per_second = measure_gemm_ops_per_second();
  cpu.measured = true;
  cpu.cpu_model = current_machine().cpu_model;
  cpu.blas_threads = blas_threads();
  return cpu;
}

CpuCeilings parse_cpu_ceilings(std::string_view text) {
  const std::string value(text);
  const auto fail = [&] {
    return std::invalid_argument("--cpu-ceilings '" + value +
                                 "': expected GBPS,GFLOPS, two positive numbers (e.g. 20,100)");
  };
  const std::size_t comma = value.find(',');
  if (comma == std::string::npos || value.find(',', comma + 1) != std::string::npos) throw fail();
  double figures[2] = {0.0, 0.0};
  const std::string parts[2] = {value.substr(0, comma), value.substr(comma + 1)};
  for (int i = 0; i < 2; ++i) {
    std::size_t used = 0;
    try {
      figures[i] = std::stod(parts[i], &used);
    } catch (const std::exception&) {
      throw fail();
    }
    if (used != parts[i].size() || !positive_finite(figures[i])) throw fail();
  }
  CpuCeilings cpu;
  cpu.read_bytes_per_second = figures[0] * 1e9;
  cpu.gemm_ops_per_second = figures[1] * 1e9;
  cpu.cpu_model = current_machine().cpu_model;
  return cpu;
}

RooflineCeilings cpu_roofline_ceilings(const CpuCeilings& cpu) {
  const std::string how = cpu.measured ? "measured: best of " + std::to_string(kRepetitions) +
                                             " sequential reads of 256 MiB, best of " +
                                             std::to_string(kRepetitions) + " float32 GEMMs " +
                                             std::to_string(kGemmSide) + "^3 through OpenBLAS (" +
                                             std::to_string(cpu.blas_threads) + " threads)"
                                       : "given by --cpu-ceilings";
  return {.processor = "CPU",
          .description = cpu.cpu_model + "; " + how,
          .bytes_per_second = cpu.read_bytes_per_second,
          .compute = {{"float32 GEMM", cpu.gemm_ops_per_second}}};
}

Roofline device_roofline(const DeviceComposition& composition) {
  Roofline roofline{.ceilings = device_ceilings(composition.device),
                    .points = composition_points(composition, composition.device.name)};
  std::size_t index = 0;
  for (const DeviceModePrediction* prediction : {&composition.prefill, &composition.decode}) {
    for (const DeviceBlockCost& block : prediction->blocks) {
      RooflinePoint& point = roofline.points[index++];
      point.throughput = block.time.total_ns > 0.0 ? point.ops / (block.time.total_ns * 1e-9) : 0.0;
      point.bound = std::string(cost_bound_name(block.time.bound));
    }
  }
  return roofline;
}

Roofline cpu_roofline(const DeviceComposition& composition, const CpuCeilings& cpu) {
  Roofline roofline{.ceilings = cpu_roofline_ceilings(cpu),
                    .points = composition_points(composition, "CPU")};
  for (RooflinePoint& point : roofline.points) {
    point.throughput = roofline.ceilings.attainable(point.intensity, 0);
    point.bound = point.intensity < roofline.ceilings.ridge_point(0) ? "memory" : "compute";
  }
  return roofline;
}

RooflineReport build_roofline_report(const std::vector<DeviceComposition>& compositions,
                                     const CpuCeilings& cpu) {
  if (compositions.empty()) {
    throw std::invalid_argument("[roofline] no topology to draw: give at least one device");
  }
  const DeviceComposition& first = compositions.front();
  RooflineReport report{.model = first.model,
                        .preset = first.preset,
                        .seq_len = first.prefill.shapes.seq_len,
                        .context_len = first.decode.shapes.context_len,
                        .batch = first.prefill.shapes.batch,
                        .devices = {},
                        .cpu = cpu_roofline(first, cpu),
                        .cpu_ceilings = cpu};
  for (const DeviceComposition& composition : compositions) {
    report.devices.push_back(device_roofline(composition));
  }
  return report;
}

nlohmann::json to_json(const RooflineReport& report) {
  nlohmann::json ceilings = nlohmann::json::array();
  nlohmann::json points = nlohmann::json::array();
  std::vector<const Roofline*> charts;
  for (const Roofline& roofline : report.devices) charts.push_back(&roofline);
  charts.push_back(&report.cpu);
  for (const Roofline* roofline : charts) {
    ceilings.push_back(ceilings_json(roofline->ceilings));
    for (const RooflinePoint& point : roofline->points) points.push_back(point_json(point));
  }
  return {{"format", "ttt-roofline"},
          {"version", 1},
          {"model", report.model},
          {"preset", report.preset.empty() ? nlohmann::json() : nlohmann::json(report.preset)},
          {"seq_len", report.seq_len},
          {"context_len", report.context_len},
          {"batch", report.batch},
          {"ceilings", std::move(ceilings)},
          {"cpu",
           {{"measured", report.cpu_ceilings.measured},
            {"cpu_model", report.cpu_ceilings.cpu_model},
            {"blas_threads", report.cpu_ceilings.blas_threads}}},
          {"points", std::move(points)}};
}

std::string format_roofline_text(const RooflineReport& report) {
  std::string out = report.model + ": prefill of " + std::to_string(report.seq_len) +
                    " tokens, decode at " + std::to_string(report.context_len) +
                    " past positions, batch " + std::to_string(report.batch) + ", preset " +
                    (report.preset.empty() ? "none" : report.preset) +
                    "; operations and DRAM bytes per call and device (docs/cost-model.md)\n";
  for (const Roofline& roofline : report.devices) out += text_section(roofline);
  out += text_section(report.cpu);
  return out;
}

std::string format_roofline_html(const RooflineReport& report) {
  std::ostringstream out;
  out << html_page_head("TTTv2 roofline: " + report.model, R"(td.num { white-space: nowrap; }
.legend { margin: 0.5em 0 0; }
.dot { display: inline-block; width: 0.7em; height: 0.7em; border-radius: 50%;
       margin: 0 0.3em 0 0.8em; }
.roof { display: inline-block; width: 1.6em; border-top: 2px solid #1d2330;
        vertical-align: middle; margin: 0 0.3em 0 0.8em; }
tr.off-chart { color: #5b6475; }
)");
  out << R"(<h1>Roofline: )" << xml_escape(report.model) << "</h1>\n<p class=\"sub\">Prefill of "
      << report.seq_len << " tokens, decode at " << report.context_len << " past positions, batch "
      << report.batch << ", preset " << xml_escape(report.preset.empty() ? "none" : report.preset)
      << ". Each marker is one block of the forward (every layer with the same configuration "
         "shares one), placed at its operations per DRAM byte and the operations per second it "
         "attains; the roofs are the memory bandwidth times the intensity and the peak rate of "
         "each kind of math. Operations and bytes are per call and per device, as the device "
         "cost model counts them (docs/cost-model.md \"Roofline\").</p>\n";
  for (const Roofline& roofline : report.devices) {
    out << roofline_section(roofline, "Device " + roofline.ceilings.processor);
  }
  out << roofline_section(report.cpu,
                          "The CPU the emulation runs on (the " +
                              (report.devices.empty() ? std::string("device")
                                                      : report.devices.front().ceilings.processor) +
                              " counts on its roofs)");
  out << html_page_tail();
  return out.str();
}

}  // namespace ttt

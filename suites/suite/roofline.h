// The roofline picture of a model (docs/cost-model.md "Roofline", `ttt roofline`): every block of
// a device composition (suites/suite/device_compose.h) placed at its arithmetic intensity
// (operations per DRAM byte) and the throughput it attains (operations per second), under the
// ceilings of the processor: the memory roof (bandwidth x intensity) and one flat roof per kind
// of math (the matrix engine at each fidelity, the element-wise rate).
//
// Two processors are drawn: each Tenstorrent topology, from the cost model's constants and its
// predicted times (deterministic), and the CPU the emulation runs on, from a measured read
// bandwidth and a measured float32 GEMM rate (or ceilings given by the caller, for deterministic
// output). A block's operations are its matrix-engine plus element-wise operations per call and
// its bytes its DRAM traffic per call, per device, as the cost model counts them.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/common/device.h"
#include "suites/suite/device_compose.h"

namespace ttt {

// A flat roof: the peak rate of one kind of math.
struct ComputeCeiling {
  std::string name;  // "matmul LoFi", "element-wise", "float32 GEMM".
  double ops_per_second = 0.0;
};

// The roofs of one processor.
struct RooflineCeilings {
  std::string processor;                // "N150", "CPU".
  std::string description;              // What the figures are and where they come from.
  double bytes_per_second = 0.0;        // The memory roof's slope (DRAM bandwidth).
  std::vector<ComputeCeiling> compute;  // Highest first.

  // The intensity (operations per byte) where the memory roof meets compute roof `index`:
  // compute[index].ops_per_second / bytes_per_second. REQUIRES: index < compute.size().
  double ridge_point(std::size_t index) const;
  // min(bytes_per_second x intensity, compute[index].ops_per_second).
  double attainable(double intensity, std::size_t index) const;
};

// The roofs of one chip of `device`: its DRAM bandwidth; the matrix engine at LoFi, HiFi2, HiFi3
// and HiFi4 (cores x clock x matmul_ops_per_cycle / passes); the element-wise rate (cores x
// clock x vector_ops_per_cycle). Every count of the cost model is per chip, so are the roofs.
RooflineCeilings device_ceilings(const DeviceModel& device);

// The CPU's roofs: a read bandwidth and a float32 GEMM rate.
struct CpuCeilings {
  double read_bytes_per_second = 0.0;
  double gemm_ops_per_second = 0.0;   // 2 operations per multiply-add.
  bool measured = false;              // false: given by the caller (--cpu-ceilings).
  std::string cpu_model = "unknown";  // /proc/cpuinfo "model name".
  int blas_threads = 0;               // OpenBLAS threads of the GEMM measurement (0: given).
};

// Measures this CPU, about a second in all: the best of a few sequential reads of a 256 MiB
// buffer (larger than any cache) and the best of a few float32 [512, 512] x [512, 512] products
// through the emulation's matmul path (blocks/common/matmul.h, OpenBLAS at its current thread
// count). The figures vary from run to run and with the machine's load.
CpuCeilings measure_cpu_ceilings();

// "GBPS,GFLOPS" (--cpu-ceilings): two positive finite numbers, GB/s and GFLOP/s (10^9). Throws
// std::invalid_argument naming the flag and the text: "--cpu-ceilings 'x': expected
// GBPS,GFLOPS, two positive numbers (e.g. 20,100)".
CpuCeilings parse_cpu_ceilings(std::string_view text);

// The CPU's roofs as RooflineCeilings (one compute roof: "float32 GEMM").
RooflineCeilings cpu_roofline_ceilings(const CpuCeilings& cpu);

// One block group of a composition (one row of `ttt compose --device-cost`) on a roofline.
struct RooflinePoint {
  std::string module;  // "layers.*.ffn".
  std::string kind;    // "gated_mlp".
  Mode mode = Mode::prefill;
  std::string topology;        // "N150", or "CPU".
  std::int64_t instances = 0;  // Calls per forward.
  double ops = 0.0;            // Matrix-engine + element-wise operations of one call.
  double bytes = 0.0;          // DRAM bytes of one call.
  // ops / bytes; 0 when the call does no operations (a pure gather: an embedding without scale),
  // which a log-log chart cannot place.
  double intensity = 0.0;
  // Operations per second: on a device ops / predicted time of the call (overheads included);
  // on the CPU the roofline's attainable rate at the intensity (min of the two roofs).
  double throughput = 0.0;
  std::string bound;  // "memory", "compute" or "link" (the device's prediction); CPU: which roof.

  bool on_chart() const { return ops > 0.0 && bytes > 0.0; }
};

// One processor's chart: its roofs and the blocks of both modes.
struct Roofline {
  RooflineCeilings ceilings;
  std::vector<RooflinePoint> points;  // Prefill blocks in model order, then decode blocks.
};

// The blocks of `composition` on its device's roofs: throughput = ops / time.total_ns, bound as
// predicted.
Roofline device_roofline(const DeviceComposition& composition);

// The blocks of `composition` (its counts: the device formats and tile padding, per device) on
// the CPU's roofs, at the throughput those roofs allow. It shows which roof limits each block's
// work on this CPU, not a measured time of the emulation (whose float32 panels move more bytes).
Roofline cpu_roofline(const DeviceComposition& composition, const CpuCeilings& cpu);

// A model's roofline report: one chart per topology, and the CPU's.
struct RooflineReport {
  std::string model;
  std::string preset;             // "" when none.
  std::int64_t seq_len = 0;       // Prefill tokens per user.
  std::int64_t context_len = 0;   // Decode past positions.
  std::int64_t batch = 0;         // Users.
  std::vector<Roofline> devices;  // One per topology, in the order asked.
  Roofline cpu;                   // The first topology's blocks on the CPU's roofs.
  CpuCeilings cpu_ceilings;
};

// The report of `compositions` (one per topology, the same model and options; at least one).
// Throws std::invalid_argument when empty.
RooflineReport build_roofline_report(const std::vector<DeviceComposition>& compositions,
                                     const CpuCeilings& cpu);

// {"format": "ttt-roofline", "version": 1, "model", "preset", "seq_len", "context_len", "batch",
//  "ceilings": [{"processor", "description", "bytes_per_second", "compute": [{"name",
//  "ops_per_second", "ridge_point"}]}], "cpu": {"measured", "cpu_model", "blas_threads"},
//  "points": [{"block", "kind", "mode", "topology", "instances", "ops", "bytes", "intensity",
//  "throughput", "bound"}]}: every topology's points, then the CPU's.
nlohmann::json to_json(const RooflineReport& report);

// Per topology and the CPU: the roofs with their ridge points, and each block's intensity,
// throughput and bound.
std::string format_roofline_text(const RooflineReport& report);

// One self-contained HTML page (no scripts, no network): a log-log SVG chart per topology and
// one for the CPU, each with its roofs, one marker per block and mode (a <title> naming it) and
// the ridge points; below each chart a table of the points.
std::string format_roofline_html(const RooflineReport& report);

}  // namespace ttt

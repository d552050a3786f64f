#include "blocks/common/device_model.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace ttt {
namespace {

constexpr std::int64_t kMiB = std::int64_t{1} << 20;
constexpr std::int64_t kGiB = std::int64_t{1} << 30;
// Every figure below is cited in docs/cost-model.md "Constants" (source and what it says).
constexpr double kWormholeClockHz = 1.0e9;                 // Wormhole card specifications.
constexpr double kWormholeChipDramBytesPerSecond = 288e9;  // n150: 288 GB/s; n300: 576 per 2.
constexpr std::int64_t kWormholeChipDram = 12 * kGiB;      // 12 GB GDDR6 per chip.
constexpr std::int64_t kSramPerCore = 3 * kMiB / 2;        // 1.5 MB per Tensix core.
constexpr int kWormholeEthLinks = 16;                      // 16 Ethernet tiles per chip,
constexpr double kWormholeEthLinkBytesPerSecond = 12.5e9;  // 100 Gb/s each.
constexpr double kBlackholeClockHz = 1.35e9;               // "Up to 1.35 GHz".
constexpr double kBlackholeEthLinkBytesPerSecond = 50e9;   // 400 Gb/s per Ethernet tile.
constexpr double kMatmulOpsPerCycle = 4096;  // 8x16 x 16x16 per cycle: 2 * 8 * 16 * 16 at LoFi.
constexpr double kVectorOpsPerCycle = 128;   // 8x16 element-wise per cycle.

DeviceModel wormhole(std::string name, std::string description, const char* mesh, int cores,
                     Device block_defaults) {
  return {.name = std::move(name),
          .description = std::move(description),
          .architecture = "Wormhole",
          .mesh = parse_mesh(mesh),
          .cores_per_chip = cores,
          .clock_hz = kWormholeClockHz,
          .dram_bytes_per_second = kWormholeChipDramBytesPerSecond,
          .dram_bytes = kWormholeChipDram,
          .sram_bytes = cores * kSramPerCore,
          .eth_links_per_chip = kWormholeEthLinks,
          .eth_link_bytes_per_second = kWormholeEthLinkBytesPerSecond,
          .matmul_ops_per_cycle = kMatmulOpsPerCycle,
          .vector_ops_per_cycle = kVectorOpsPerCycle,
          .block_defaults = block_defaults};
}

DeviceModel blackhole(std::string name, std::string description, int cores,
                      double dram_bytes_per_second, std::int64_t dram_bytes, int eth_links) {
  return {.name = std::move(name),
          .description = std::move(description),
          .architecture = "Blackhole",
          .mesh = Mesh{},
          .cores_per_chip = cores,
          .clock_hz = kBlackholeClockHz,
          .dram_bytes_per_second = dram_bytes_per_second,
          .dram_bytes = dram_bytes,
          .sram_bytes = cores * kSramPerCore,
          .eth_links_per_chip = eth_links,
          .eth_link_bytes_per_second = eth_links > 0 ? kBlackholeEthLinkBytesPerSecond : 0.0,
          .matmul_ops_per_cycle = kMatmulOpsPerCycle,
          .vector_ops_per_cycle = kVectorOpsPerCycle};
}

std::vector<DeviceModel> make_device_models() {
  std::vector<DeviceModel> models{
      wormhole("N150", "Wormhole n150: one chip, 72 Tensix cores", "1x1", 72, Device::N150),
      wormhole("N300", "Wormhole n300: two chips, 64 Tensix cores each", "1x2", 64, Device::N300),
      // Assumption t3k_chips: four n300 cards (eight chips of 64 cores) in a 1x8 line.
      wormhole("T3K", "Wormhole T3000: eight n300 chips (assumption t3k_chips)", "1x8", 64,
               Device::T3K),
      // Assumption galaxy_cores_per_chip: Galaxy's enabled cores per chip are not published; the
      // n150's 72 are taken.
      wormhole("TG", "Wormhole Galaxy: 32 chips (assumption galaxy_cores_per_chip = 72)", "8x4", 72,
               Device::TG),
      blackhole("P100", "Blackhole p100a: one chip, 120 Tensix cores, no Ethernet", 120, 448e9,
                28 * kGiB, 0),
      // Two Ethernet tiles per QSFP-DD port, four ports.
      blackhole("P150", "Blackhole p150a: one chip, 140 Tensix cores", 140, 512e9, 32 * kGiB, 8)};
  return models;
}

int passes(int fidelity_index) { return fidelity_index + 1; }

}  // namespace

std::string_view cost_bound_name(CostBound bound) {
  switch (bound) {
    case CostBound::memory:
      return "memory";
    case CostBound::compute:
      return "compute";
    case CostBound::link:
      return "link";
  }
  return "memory";
}

const std::vector<DeviceModel>& device_models() {
  static const std::vector<DeviceModel> models = make_device_models();
  return models;
}

std::string device_model_names() {
  std::string names;
  for (const DeviceModel& model : device_models()) {
    names += (names.empty() ? "" : ", ") + model.name;
  }
  return names;
}

const DeviceModel& find_device_model(std::string_view name) {
  for (const DeviceModel& model : device_models()) {
    if (model.name == name) return model;
  }
  throw std::invalid_argument("[device cost] unknown device '" + std::string(name) +
                              "' (known: " + device_model_names() + ")");
}

CostTime predict_time(const DeviceCost& cost, const DeviceModel& model,
                      const CostOverheads& overheads) {
  if (cost.devices > model.mesh.size()) {
    throw std::invalid_argument("[device cost] the call runs on " + std::to_string(cost.devices) +
                                " devices, " + model.name + " has " +
                                std::to_string(model.mesh.size()));
  }
  if (cost.eth_bytes > 0 && cost.eth_links > model.eth_links_per_chip) {
    throw std::invalid_argument("[device cost] the call's collectives use " +
                                std::to_string(cost.eth_links) + " Ethernet links, " + model.name +
                                " has " + std::to_string(model.eth_links_per_chip) + " per chip");
  }
  CostTime time;
  time.dram_ns = static_cast<double>(cost.dram_bytes()) / model.dram_bytes_per_second * 1e9;
  const double cycles_per_ns = model.clock_hz / 1e9 * model.cores_per_chip;
  double matmul_cycles = 0.0;
  for (int f = 0; f < 4; ++f) {
    matmul_cycles +=
        static_cast<double>(cost.matmul_ops[f]) * passes(f) / model.matmul_ops_per_cycle;
  }
  const double vector_cycles = static_cast<double>(cost.vector_ops) / model.vector_ops_per_cycle;
  time.math_ns = (matmul_cycles + vector_cycles) / cycles_per_ns;
  if (cost.eth_bytes > 0) {
    time.eth_ns = static_cast<double>(cost.eth_bytes) /
                  (std::max(cost.eth_links, 1) * model.eth_link_bytes_per_second) * 1e9;
  }
  time.overhead_ns = static_cast<double>(cost.ops) * overheads.op_dispatch_ns +
                     static_cast<double>(cost.eth_steps) * overheads.eth_hop_ns;
  const double roof = std::max({time.dram_ns, time.math_ns, time.eth_ns});
  time.total_ns = roof + time.overhead_ns;
  time.bound = roof == time.eth_ns && time.eth_ns > 0.0              ? CostBound::link
               : roof == time.math_ns && time.math_ns > time.dram_ns ? CostBound::compute
                                                                     : CostBound::memory;
  return time;
}

void to_json(nlohmann::json& json, const DeviceModel& model) {
  json = {{"name", model.name},
          {"description", model.description},
          {"architecture", model.architecture},
          {"mesh", mesh_name(model.mesh)},
          {"chips", model.mesh.size()},
          {"cores_per_chip", model.cores_per_chip},
          {"clock_hz", model.clock_hz},
          {"dram_bytes_per_second", model.dram_bytes_per_second},
          {"dram_bytes", model.dram_bytes},
          {"sram_bytes", model.sram_bytes},
          {"eth_links_per_chip", model.eth_links_per_chip},
          {"eth_link_bytes_per_second", model.eth_link_bytes_per_second},
          {"matmul_ops_per_cycle", model.matmul_ops_per_cycle},
          {"vector_ops_per_cycle", model.vector_ops_per_cycle},
          {"block_defaults", device_name(model.block_defaults)}};
}

void to_json(nlohmann::json& json, const CostTime& time) {
  json = {{"dram_ns", time.dram_ns},   {"math_ns", time.math_ns},
          {"eth_ns", time.eth_ns},     {"overhead_ns", time.overhead_ns},
          {"total_ns", time.total_ns}, {"bound", std::string(cost_bound_name(time.bound))}};
}

}  // namespace ttt

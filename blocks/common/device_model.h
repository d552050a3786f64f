// The Tenstorrent devices the cost model knows, with their published hardware figures, and the
// predicted time of a block call's work (blocks/common/device_cost.h) on one of them.
//
// Every constant comes from a published specification and is cited in docs/cost-model.md; where
// no figure is published the value is a named assumption listed there. Nothing here is fitted
// to model-level results (those check the model; they never tune it).
//
// The time of one call is a roofline: the largest of its DRAM time, its math time and its
// Ethernet time (the three overlap on the device: data movement and math run on different
// processors of each core), plus the named overheads that do not overlap (dispatch per device
// operation, latency per Ethernet hop). Its bound is the largest of the three.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/common/device.h"
#include "blocks/common/device_cost.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// One topology: a number of identical chips and their figures per chip.
struct DeviceModel {
  std::string name;          // "N150", "N300", "T3K", "TG", "P100", "P150".
  std::string description;   // "Wormhole n150: one chip".
  std::string architecture;  // "Wormhole" or "Blackhole".
  Mesh mesh{};               // The chips: N150 1x1, N300 1x2, T3K 1x8, TG 8x4, P100/P150 1x1.
  int cores_per_chip = 0;    // Tensix cores available to a program.
  double clock_hz = 0.0;     // AI clock.
  double dram_bytes_per_second = 0.0;      // DRAM bandwidth of one chip.
  std::int64_t dram_bytes = 0;             // DRAM capacity of one chip.
  std::int64_t sram_bytes = 0;             // On-chip SRAM (L1) of one chip.
  int eth_links_per_chip = 0;              // Ethernet links; 0: none (P100).
  double eth_link_bytes_per_second = 0.0;  // One link, one direction.
  // Matrix-engine operations per core per cycle at LoFi (2 per multiply-add); HiFi2, HiFi3,
  // HiFi4 take 2, 3, 4 cycles for the same work.
  double matmul_ops_per_cycle = 0.0;
  // Element-wise operations per core per cycle (the matrix engine's element-wise rate).
  double vector_ops_per_cycle = 0.0;
  // The target whose ImplConfig defaults the blocks take on this topology (device.h has only
  // Wormhole targets: a Blackhole card takes the N150's, one chip).
  Device block_defaults = Device::N150;
};

// The overheads that do not overlap with the roofline terms. Neither has a published figure:
// both default to 0 (the prediction is then a lower bound) and are named in every report.
struct CostOverheads {
  double op_dispatch_ns = 0.0;  // Per device operation: dispatch and op-to-op gap.
  double eth_hop_ns = 0.0;      // Per sequential Ethernet step of a collective.
};

// What is limiting a call.
enum class CostBound : std::uint8_t { memory, compute, link };
std::string_view cost_bound_name(CostBound bound);

// The predicted time of one call.
struct CostTime {
  double dram_ns = 0.0;      // dram_bytes / DRAM bandwidth.
  double math_ns = 0.0;      // matmul passes / (cores * rate * clock) + vector ops likewise.
  double eth_ns = 0.0;       // eth_bytes / (links * link rate).
  double overhead_ns = 0.0;  // ops * op_dispatch_ns + eth_steps * eth_hop_ns.
  double total_ns = 0.0;     // max(dram_ns, math_ns, eth_ns) + overhead_ns.
  CostBound bound = CostBound::memory;  // The largest of the three terms.
};

// The known topologies, in the order above.
const std::vector<DeviceModel>& device_models();
// The topology called `name` (case-sensitive, as listed). Throws std::invalid_argument:
// "[device cost] unknown device 'X' (known: N150, N300, T3K, TG, P100, P150)".
const DeviceModel& find_device_model(std::string_view name);
// Every known name, comma-separated ("N150, N300, ...").
std::string device_model_names();

// The time of `cost` on one chip of `model`. Throws std::invalid_argument when the call needs
// more devices than the topology has ("[device cost] the call runs on 8 devices, N300 has 2") or
// Ethernet links the chip lacks.
CostTime predict_time(const DeviceCost& cost, const DeviceModel& model,
                      const CostOverheads& overheads = {});

// {"name": "N150", "description": ..., "architecture": ..., "mesh": "1x1", "chips": 1,
//  "cores_per_chip": 72, "clock_hz": 1e9, "dram_bytes_per_second": 2.88e11, ...}
void to_json(nlohmann::json& json, const DeviceModel& model);
// {"dram_ns": .., "math_ns": .., "eth_ns": .., "overhead_ns": .., "total_ns": .., "bound": ..}
void to_json(nlohmann::json& json, const CostTime& time);

}  // namespace ttt

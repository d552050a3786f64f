// Composition on the device: a model's predicted time to first token and decode speed on a
// Tenstorrent topology from the device cost model alone (docs/cost-model.md, `ttt compose
// --device-cost`). Nothing runs: every module of the model is configured with the topology's
// defaults (tensor parallel on a mesh, patterns/tensor_parallel.h), and each module call's cost
// is its block kind's declared cost (BlockKind::cost) timed on the topology
// (blocks/common/device_model.h). Per-block shares and bounds say what limits the model.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "blocks/common/block_kind.h"
#include "blocks/common/device.h"
#include "blocks/common/device_cost.h"
#include "blocks/common/device_model.h"
#include "models/model.h"

namespace ttt {

// What to predict. Every field has a default.
struct DeviceComposeOptions {
  std::int64_t seq_len = 128;                   // Prefill tokens per user (time to first token).
  std::int64_t context_len = 128;               // Decode: past positions per user.
  std::int64_t batch = 1;                       // Users.
  std::optional<Preset> preset = std::nullopt;  // TTTv1 precision preset of every block.
  CostOverheads overheads{};                    // Named overheads (default none).
};

// The module instances of one group in a forward and what one of them costs.
struct DeviceBlockCost {
  std::string
      module;  // "embedding", "layers.*.ffn" (every layer with this configuration), "lm_head".
  std::string kind;            // The block kind the module runs: "gated_mlp", "tp_attention", ...
  std::int64_t instances = 0;  // Calls per forward.
  DeviceCost cost;             // One call, per device.
  CostTime time;               // One call.
  double latency_ns = 0.0;     // instances * time.total_ns.
  double share = 0.0;          // Of the mode's latency.
};

// One mode's prediction: the sum over the forward's module calls.
struct DeviceModePrediction {
  Mode mode = Mode::prefill;
  CallShapes shapes;
  double latency_ns = 0.0;
  std::vector<DeviceBlockCost> blocks;  // In model order.
  std::int64_t dram_bytes = 0;          // Per device, the whole forward.
  std::int64_t eth_bytes = 0;           // Per device, the whole forward.
};

struct DeviceComposition {
  std::string model;
  DeviceModel device;
  std::string preset;  // "" when none.
  CostOverheads overheads;
  DeviceModePrediction prefill;
  DeviceModePrediction decode;
  double ttft_ms = 0.0;                   // prefill.latency_ns in ms.
  double decode_tokens_per_s_user = 0.0;  // 1e9 / decode.latency_ns.
};

// Predicts `model` on `device`. Throws std::invalid_argument naming what is wrong: bad options
// ("[compose --device-cost] seq_len must be >= 1"), a module without a block kind, a kind
// without declared costs (device_cost), a model the mesh cannot split (its TP configuration's
// message).
DeviceComposition compose_device_cost(const ModelDefinition& model, const DeviceModel& device,
                                      const DeviceComposeOptions& options = {});

nlohmann::json to_json(const DeviceComposition& composition);
// A table per mode: the blocks in model order with instances, time per call, total, share, bound
// and the bytes and operations that set it; then TTFT and tokens/s/user.
std::string format_device_composition(const DeviceComposition& composition);

}  // namespace ttt

// The work one block call does on a Tenstorrent device, counted from its Spec, ImplConfig and
// shapes alone (no values, no emulation): bytes at each memory level, matrix-engine operations per
// math fidelity, vector operations, Ethernet traffic of its collectives and device operations
// dispatched. A block kind declares it (BlockKind::cost, defined in blocks/<family>/kinds.cc);
// blocks/common/device_model.h turns it into a predicted time on a device. docs/cost-model.md
// gives every rule and its source.
//
// Every count is per device: the device with the most work (on a mesh the devices of a
// tensor-parallel block do equal shares). Tensors are counted in TTNN's tile layout (32 x 32
// tiles): a [rows, cols] tensor occupies ceil(rows / 32) * ceil(cols / 32) tiles, and a tile of
// bfloat16 takes 2048 bytes, of bfloat8_b 1088 (1024 mantissa bytes and 64 shared exponents),
// of bfloat4_b 576 (512 + 64), of float32 4096.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "blocks/common/device.h"
#include "validation/tensor/dtype.h"

namespace ttt {

// What one call costs one device.
struct DeviceCost {
  // DRAM traffic in bytes, in each tensor's storage format.
  std::int64_t dram_weight_bytes = 0;      // Weights read (re-read once per prefill chunk).
  std::int64_t dram_activation_bytes = 0;  // Activations read and written (input, intermediates,
                                           // output: each crosses DRAM once).
  std::int64_t dram_kv_bytes = 0;          // KV cache read (decode) and written.
  // Bytes through on-chip SRAM (L1): every matmul operand unpacked once and its result packed
  // once. Reported, not timed (no published L1 bandwidth: docs/cost-model.md).
  std::int64_t sram_bytes = 0;
  // Matrix-engine operations (2 per multiply-add, shapes padded to whole tiles), by the math
  // fidelity they run at: index static_cast<int>(MathFidelity).
  std::array<std::int64_t, 4> matmul_ops{};
  // Element-wise and reduction operations (norms, softmax, activations, rotary embedding, the
  // additions of a reduction), one per element per pass.
  std::int64_t vector_ops = 0;
  // Bytes this device sends over Ethernet for its collectives, the sequential steps (hops) they
  // take, and the Ethernet links each hop uses (the collective's num_links; 0: no collective).
  std::int64_t eth_bytes = 0;
  std::int64_t eth_steps = 0;
  int eth_links = 0;
  // Device operations dispatched (each pays the dispatch overhead of the device model).
  std::int64_t ops = 0;
  // Devices the call runs on (its Spec's mesh): a device model with fewer chips cannot run it.
  int devices = 1;

  std::int64_t dram_bytes() const {
    return dram_weight_bytes + dram_activation_bytes + dram_kv_bytes;
  }
  std::int64_t total_matmul_ops() const {
    return matmul_ops[0] + matmul_ops[1] + matmul_ops[2] + matmul_ops[3];
  }
  // Adds `other`'s counts (a block made of others: tensor-parallel blocks, an MoE's experts).
  // eth_links and devices take the larger value.
  DeviceCost& operator+=(const DeviceCost& other);
  bool operator==(const DeviceCost&) const = default;
};

// The side of a tile: TTNN tensors are stored as 32 x 32 tiles.
inline constexpr std::int64_t kTileSide = 32;

// `value` rounded up to whole tiles (a multiple of 32). REQUIRES: value >= 0.
std::int64_t pad_to_tile(std::int64_t value);

// Bytes of a [rows, cols] tensor in `dtype`, tile layout: tiles * bytes per tile (bfloat16 2048,
// bfloat8_b 1088, bfloat4_b 576, float32 4096, float16 2048). int32/int64 (ids, positions) take
// 4 / 8 bytes per value without tile padding. Throws std::invalid_argument for float64 (never on a
// device) or negative sizes.
std::int64_t tensor_bytes(DType dtype, std::int64_t rows, std::int64_t cols);

// One matmul [m, k] x [k, n] repeated `count` times (heads, users): adds 2 * m * k * n * count
// operations (each dimension padded to whole tiles) at `fidelity`, and to SRAM the bytes of both
// operands in their formats and of the result. DRAM traffic is the caller's (a weight read once
// serves all rows). REQUIRES: sizes >= 0, count >= 0.
void add_matmul(DeviceCost& cost, std::int64_t m, std::int64_t k, std::int64_t n,
                MathFidelity fidelity, DType a_dtype, DType b_dtype, DType out_dtype,
                std::int64_t count = 1);

// The collective algorithms of blocks/ccl, as their Ethernet traffic: for a group of n devices
// and a whole tensor of B bytes (the gathered result; the partial sums being reduced):
//   all_gather      each device sends (n - 1) / n * B over n - 1 steps;
//   reduce_scatter  each device sends (n - 1) / n * B over n - 1 steps, and adds (n - 1) / n of
//                   the elements;
//   all_reduce      a reduce_scatter then an all_gather: 2 (n - 1) / n * B over 2 (n - 1) steps;
//   broadcast       each device forwards B once, n - 1 steps.
// Ring and line cost alike (docs/cost-model.md "Collectives": optimistic for a line of n > 2).
enum class Collective : std::uint8_t { all_gather, reduce_scatter, all_reduce, broadcast };

// Adds the collective over `group` devices of a whole [rows, cols] tensor in `dtype` (B =
// tensor_bytes(dtype, rows, cols)) using `links` Ethernet links per hop: Ethernet bytes and
// steps, the DRAM read of this device's input and write of its output, the vector additions of a
// reduction, and one device operation. A group of 1 adds nothing. REQUIRES: group >= 1,
// rows, cols >= 0, links >= 1.
void add_collective(DeviceCost& cost, Collective collective, int group, std::int64_t rows,
                    std::int64_t cols, DType dtype, int links);

// {"dram_bytes": {"weights": .., "activations": .., "kv_cache": .., "total": ..}, "sram_bytes":
//  .., "matmul_ops": {"LoFi": .., "HiFi2": .., "HiFi3": .., "HiFi4": ..}, "vector_ops": ..,
//  "eth_bytes": .., "eth_steps": .., "eth_links": .., "ops": .., "devices": ..}
void to_json(nlohmann::json& json, const DeviceCost& cost);

}  // namespace ttt

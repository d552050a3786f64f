#include "blocks/common/device_cost.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace ttt {
namespace {

void require_size(std::int64_t value, const char* what) {
  if (value < 0) {
    throw std::invalid_argument(std::string("[device cost] ") + what + " must be >= 0, got " +
                                std::to_string(value));
  }
}

// Bytes of one 32 x 32 tile (docs/cost-model.md "Formats"): the values, plus for the block
// formats one shared 8-bit exponent per 16 values (64 per tile).
std::int64_t tile_bytes(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return 4096;
    case DType::float16:
    case DType::bfloat16:
      return 2048;
    case DType::bfloat8_b:
      return 1088;
    case DType::bfloat4_b:
      return 576;
    default:
      throw std::invalid_argument("[device cost] " + std::string(dtype_name(dtype)) +
                                  " has no tile format on the device");
  }
}

}  // namespace

DeviceCost& DeviceCost::operator+=(const DeviceCost& other) {
  dram_weight_bytes += other.dram_weight_bytes;
  dram_activation_bytes += other.dram_activation_bytes;
  dram_kv_bytes += other.dram_kv_bytes;
  sram_bytes += other.sram_bytes;
  for (std::size_t i = 0; i < matmul_ops.size(); ++i) matmul_ops[i] += other.matmul_ops[i];
  vector_ops += other.vector_ops;
  eth_bytes += other.eth_bytes;
  eth_steps += other.eth_steps;
  eth_links = std::max(eth_links, other.eth_links);
  ops += other.ops;
  devices = std::max(devices, other.devices);
  return *this;
}

std::int64_t pad_to_tile(std::int64_t value) {
  require_size(value, "a tensor dimension");
  return (value + kTileSide - 1) / kTileSide * kTileSide;
}

std::int64_t tensor_bytes(DType dtype, std::int64_t rows, std::int64_t cols) {
  require_size(rows, "rows");
  require_size(cols, "cols");
  if (dtype == DType::int32 || dtype == DType::int64) {
    return rows * cols * static_cast<std::int64_t>(element_size(dtype));
  }
  const std::int64_t tiles = (pad_to_tile(rows) / kTileSide) * (pad_to_tile(cols) / kTileSide);
  return tiles * tile_bytes(dtype);
}

void add_matmul(DeviceCost& cost, std::int64_t m, std::int64_t k, std::int64_t n,
                MathFidelity fidelity, DType a_dtype, DType b_dtype, DType out_dtype,
                std::int64_t count) {
  require_size(count, "a matmul's count");
  cost.matmul_ops[static_cast<int>(fidelity)] +=
      2 * pad_to_tile(m) * pad_to_tile(k) * pad_to_tile(n) * count;
  cost.sram_bytes +=
      (tensor_bytes(a_dtype, m, k) + tensor_bytes(b_dtype, k, n) + tensor_bytes(out_dtype, m, n)) *
      count;
}

void add_collective(DeviceCost& cost, Collective collective, int group, std::int64_t rows,
                    std::int64_t cols, DType dtype, int links) {
  if (group < 1 || links < 1) {
    throw std::invalid_argument("[device cost] a collective needs group >= 1 and links >= 1, got " +
                                std::to_string(group) + " and " + std::to_string(links));
  }
  if (group == 1) return;
  const std::int64_t n = group;
  const std::int64_t whole = tensor_bytes(dtype, rows, cols);
  const std::int64_t share = whole / n;  // One device's part of the whole tensor.
  const std::int64_t sent = whole * (n - 1) / n;
  switch (collective) {
    case Collective::all_gather:
      cost.eth_bytes += sent;
      cost.eth_steps += n - 1;
      cost.dram_activation_bytes += share + whole;
      break;
    case Collective::reduce_scatter:
      cost.eth_bytes += sent;
      cost.eth_steps += n - 1;
      cost.dram_activation_bytes += whole + share;
      cost.vector_ops += pad_to_tile(rows) * pad_to_tile(cols) * (n - 1) / n;
      break;
    case Collective::all_reduce:
      cost.eth_bytes += 2 * sent;
      cost.eth_steps += 2 * (n - 1);
      cost.dram_activation_bytes += 2 * whole;
      cost.vector_ops += pad_to_tile(rows) * pad_to_tile(cols) * (n - 1) / n;
      break;
    case Collective::broadcast:
      cost.eth_bytes += whole;
      cost.eth_steps += n - 1;
      cost.dram_activation_bytes += 2 * whole;
      break;
  }
  cost.eth_links = std::max(cost.eth_links, links);
  cost.ops += 1;
}

void to_json(nlohmann::json& json, const DeviceCost& cost) {
  json = {{"dram_bytes",
           {{"weights", cost.dram_weight_bytes},
            {"activations", cost.dram_activation_bytes},
            {"kv_cache", cost.dram_kv_bytes},
            {"total", cost.dram_bytes()}}},
          {"sram_bytes", cost.sram_bytes},
          {"matmul_ops",
           {{"LoFi", cost.matmul_ops[0]},
            {"HiFi2", cost.matmul_ops[1]},
            {"HiFi3", cost.matmul_ops[2]},
            {"HiFi4", cost.matmul_ops[3]}}},
          {"vector_ops", cost.vector_ops},
          {"eth_bytes", cost.eth_bytes},
          {"eth_steps", cost.eth_steps},
          {"eth_links", cost.eth_links},
          {"ops", cost.ops},
          {"devices", cost.devices}};
}

}  // namespace ttt

// The shared vocabulary of every block: target device, execution mode, math fidelity,
// accumulation and the TTTv1 precision presets, with names, parsers and JSON conversions.
//
// Names are the canonical spellings used in JSON, identity strings and reports ("N300",
// "prefill", "HiFi2", "fp32", "performance"). Parsers throw std::invalid_argument listing the
// accepted names, so an unknown value in a JSON file is a clear error.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

namespace ttt {

// A Tenstorrent target the blocks emulate (see docs/blocks.md). There is no hardware: the device
// only changes defaults (how a reduction is split across chips, chunk sizes).
enum class Device : std::uint8_t {
  N150,  // One Wormhole chip.
  N300,  // Two chips on one card.
  T3K,   // Eight chips.
  TG,    // Galaxy: thirty-two chips.
};

// The logical mesh of chips: rows x cols.
struct MeshShape {
  int rows = 1;
  int cols = 1;
  int num_devices() const { return rows * cols; }
};

// "N150", "N300", "T3K", "TG".
std::string_view device_name(Device device);
// Parses a canonical name (case-sensitive). Throws std::invalid_argument naming the text.
Device parse_device(std::string_view name);
// N150 1x1, N300 1x2, T3K 1x8, TG 8x4: parse_mesh(device_name(device)) (validation/mesh).
MeshShape mesh_shape(Device device);

// Prefill runs a whole prompt (many tokens per user); decode runs one token per user.
enum class Mode : std::uint8_t { prefill, decode };
std::string_view mode_name(Mode mode);
Mode parse_mode(std::string_view name);

// How many multiplier passes the matrix unit makes over the operands' mantissas. The multiplier
// takes 5 bits (implicit one and 4 mantissa bits) of SrcA (weights) and 7 bits (implicit one and 6
// mantissa bits) of SrcB (activations) per pass; each fidelity phase adds the product of another
// pair of bit groups. docs/numerics.md gives the exact model.
enum class MathFidelity : std::uint8_t {
  LoFi,   // Phase 0: high bits of both operands.
  HiFi2,  // Phases 0-1: all weight bits, high activation bits.
  HiFi3,  // Phases 0-2: everything but low weight bits x low activation bits.
  HiFi4,  // Phases 0-3: the full bfloat16 x bfloat16 product.
};
std::string_view math_fidelity_name(MathFidelity fidelity);
MathFidelity parse_math_fidelity(std::string_view name);

// The precision of the matrix unit's destination register where products are accumulated.
enum class Accumulation : std::uint8_t {
  fp32,  // fp32_dest_acc_en = True: partial sums kept in float32.
  bf16,  // fp32_dest_acc_en = False: partial sums rounded to bfloat16 (TTTv1's "FP16" settings).
};
std::string_view accumulation_name(Accumulation accumulation);
Accumulation parse_accumulation(std::string_view name);

// TTTv1's precision presets (tt-transformers ModelOptimizations). Without a preset a block takes
// TTTv1's default settings: weights bfloat8_b, MLP matmuls HiFi2 with bf16 accumulation,
// attention HiFi2, prefill SDPA HiFi4.
enum class Preset : std::uint8_t {
  accuracy,     // Attention weights and KV cache bfloat16 with HiFi4; the MLP keeps the defaults.
  performance,  // FF1/FF3 weights bfloat4_b with LoFi; everything else keeps the defaults.
};
std::string_view preset_name(Preset preset);
Preset parse_preset(std::string_view name);

// JSON as the canonical name string. from_json throws std::invalid_argument for a non-string or
// an unknown name (found by nlohmann::json through argument-dependent lookup).
void to_json(nlohmann::json& json, Device value);
void from_json(const nlohmann::json& json, Device& value);
void to_json(nlohmann::json& json, Mode value);
void from_json(const nlohmann::json& json, Mode& value);
void to_json(nlohmann::json& json, MathFidelity value);
void from_json(const nlohmann::json& json, MathFidelity& value);
void to_json(nlohmann::json& json, Accumulation value);
void from_json(const nlohmann::json& json, Accumulation& value);
void to_json(nlohmann::json& json, Preset value);
void from_json(const nlohmann::json& json, Preset& value);

}  // namespace ttt

#include "blocks/common/device.h"

#include <array>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

// One name table per enum: the single place a spelling is written down.
template <typename Enum, std::size_t N>
using NameTable = std::array<std::pair<Enum, std::string_view>, N>;

constexpr NameTable<Device, 4> kDeviceNames{
    {{Device::N150, "N150"}, {Device::N300, "N300"}, {Device::T3K, "T3K"}, {Device::TG, "TG"}}};
constexpr NameTable<Mode, 2> kModeNames{{{Mode::prefill, "prefill"}, {Mode::decode, "decode"}}};
constexpr NameTable<MathFidelity, 4> kFidelityNames{{{MathFidelity::LoFi, "LoFi"},
                                                     {MathFidelity::HiFi2, "HiFi2"},
                                                     {MathFidelity::HiFi3, "HiFi3"},
                                                     {MathFidelity::HiFi4, "HiFi4"}}};
constexpr NameTable<Accumulation, 2> kAccumulationNames{
    {{Accumulation::fp32, "fp32"}, {Accumulation::bf16, "bf16"}}};
constexpr NameTable<Preset, 2> kPresetNames{
    {{Preset::accuracy, "accuracy"}, {Preset::performance, "performance"}}};

template <typename Enum, std::size_t N>
std::string_view name_of(const NameTable<Enum, N>& table, Enum value, const char* what) {
  for (const auto& [entry, name] : table) {
    if (entry == value) return name;
  }
  throw std::invalid_argument(std::string("invalid ") + what + " value " +
                              std::to_string(static_cast<int>(value)));
}

template <typename Enum, std::size_t N>
Enum parse_name(const NameTable<Enum, N>& table, std::string_view text, const char* what) {
  std::string expected;
  for (const auto& [entry, name] : table) {
    if (name == text) return entry;
    expected += (expected.empty() ? "" : ", ") + std::string(name);
  }
  throw std::invalid_argument("unknown " + std::string(what) + " '" + std::string(text) +
                              "' (expected one of " + expected + ")");
}

template <typename Enum, std::size_t N>
Enum parse_json(const NameTable<Enum, N>& table, const nlohmann::json& json, const char* what) {
  if (!json.is_string()) {
    throw std::invalid_argument(std::string("expected a ") + what + " name string, got " +
                                json.dump());
  }
  return parse_name(table, json.get_ref<const std::string&>(), what);
}

}  // namespace

std::string_view device_name(Device device) { return name_of(kDeviceNames, device, "device"); }
Device parse_device(std::string_view name) { return parse_name(kDeviceNames, name, "device"); }

MeshShape mesh_shape(Device device) {
  // The device's name is its mesh's name: validation/mesh holds the one table of mesh shapes.
  const Mesh mesh = parse_mesh(device_name(device));
  return {mesh.rows, mesh.cols};
}

std::string_view mode_name(Mode mode) { return name_of(kModeNames, mode, "mode"); }
Mode parse_mode(std::string_view name) { return parse_name(kModeNames, name, "mode"); }

std::string_view math_fidelity_name(MathFidelity fidelity) {
  return name_of(kFidelityNames, fidelity, "math fidelity");
}
MathFidelity parse_math_fidelity(std::string_view name) {
  return parse_name(kFidelityNames, name, "math fidelity");
}

std::string_view accumulation_name(Accumulation accumulation) {
  return name_of(kAccumulationNames, accumulation, "accumulation");
}
Accumulation parse_accumulation(std::string_view name) {
  return parse_name(kAccumulationNames, name, "accumulation");
}

std::string_view preset_name(Preset preset) { return name_of(kPresetNames, preset, "preset"); }
Preset parse_preset(std::string_view name) { return parse_name(kPresetNames, name, "preset"); }

void to_json(nlohmann::json& json, Device value) { json = std::string(device_name(value)); }
void from_json(const nlohmann::json& json, Device& value) {
  value = parse_json(kDeviceNames, json, "device");
}
void to_json(nlohmann::json& json, Mode value) { json = std::string(mode_name(value)); }
void from_json(const nlohmann::json& json, Mode& value) {
  value = parse_json(kModeNames, json, "mode");
}
void to_json(nlohmann::json& json, MathFidelity value) {
  json = std::string(math_fidelity_name(value));
}
void from_json(const nlohmann::json& json, MathFidelity& value) {
  value = parse_json(kFidelityNames, json, "math fidelity");
}
void to_json(nlohmann::json& json, Accumulation value) {
  json = std::string(accumulation_name(value));
}
void from_json(const nlohmann::json& json, Accumulation& value) {
  value = parse_json(kAccumulationNames, json, "accumulation");
}
void to_json(nlohmann::json& json, Preset value) { json = std::string(preset_name(value)); }
void from_json(const nlohmann::json& json, Preset& value) {
  value = parse_json(kPresetNames, json, "preset");
}

}  // namespace ttt

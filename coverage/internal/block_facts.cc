#include "coverage/internal/block_facts.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "blocks/common/block_kind.h"
#include "blocks/common/device.h"
#include "validation/markup/number.h"
#include "validation/mesh/mesh.h"

namespace ttt::coverage_detail {
namespace {

// The kind that describes each family coverage knows: the first of the family's kinds with
// coverage facts (the kinds of one family share them: attention.prefill and attention.decode).
const std::map<std::string, const BlockKind*, std::less<>>& families() {
  static const auto* table = [] {
    auto* result = new std::map<std::string, const BlockKind*, std::less<>>();
    for (const BlockKind& kind : block_kinds()) {
      if (kind.facts) result->emplace(kind.family, &kind);
    }
    return result;
  }();
  return *table;
}

}  // namespace

std::string call_topology(const nlohmann::json& spec, const std::string& device) {
  const bool names_mesh = spec.is_object() && spec.contains("mesh") && spec.at("mesh").is_string();
  const std::string text = names_mesh ? spec.at("mesh").get<std::string>() : device;
  if (text.empty()) return "";
  try {
    const Mesh mesh = parse_mesh(text);
    return mesh.size() == 1 ? "" : mesh_name(mesh);
  } catch (const std::invalid_argument&) {
    return "";
  }
}

std::pair<std::string, std::string> split_kind(std::string_view kind) {
  for (const std::string_view mode : {std::string_view(".prefill"), std::string_view(".decode")}) {
    if (kind.size() > mode.size() && kind.substr(kind.size() - mode.size()) == mode) {
      return {std::string(kind.substr(0, kind.size() - mode.size())), std::string(mode.substr(1))};
    }
  }
  return {std::string(kind), ""};
}

BlockFacts describe_block(const std::string& block, const nlohmann::json& spec,
                          const nlohmann::json& impl_config, const std::string& device,
                          const std::string& mode) {
  BlockFacts facts;
  facts.block = block;
  facts.topology = call_topology(spec, device);
  facts.spec = spec;
  facts.impl_config = impl_config;
  facts.identity = block + spec.dump();
  if (impl_config.is_object() && impl_config.contains("weight_dtype") &&
      impl_config.at("weight_dtype").is_string()) {
    facts.weight_dtype = impl_config.at("weight_dtype").get<std::string>();
  }
  const auto it = families().find(block);
  if (it == families().end()) {
    facts.problem = "'" + block + "' is not a TTTv2 block family";
    return facts;
  }
  Device parsed_device = Device::N150;
  try {
    if (!device.empty()) parsed_device = parse_device(device);
  } catch (const std::exception&) {  // An unknown device name takes N150's defaults.
  }
  const Mode parsed_mode = mode == "decode" ? Mode::decode : Mode::prefill;
  try {
    KindFacts described = it->second->facts(spec, impl_config, parsed_device, parsed_mode);
    BlockFacts typed = facts;
    typed.known = true;
    if (it->second->single_device) typed.block = it->second->single_device->family;
    typed.identity = std::move(described.identity);
    typed.spec = std::move(described.spec);
    typed.impl_config = std::move(described.impl_config);
    typed.weight_dtype = std::move(described.weight_dtype);
    typed.derived = std::move(described.derived);
    return typed;
  } catch (const std::exception& error) {
    facts.problem = error.what();
    return facts;
  }
}

const std::vector<std::string>& known_block_families() {
  static const auto* names = [] {
    auto* result = new std::vector<std::string>();
    for (const auto& [name, facts] : families()) result->push_back(name);
    return result;
  }();
  return *names;
}

std::string single_device_member(std::string_view block) {
  const auto it = families().find(block);
  if (it == families().end() || !it->second->single_device) return "";
  return it->second->single_device->spec_member;
}

std::string activation_input(std::string_view block) {
  const auto it = families().find(block);
  return it == families().end() ? std::string() : it->second->activation_input;
}

}  // namespace ttt::coverage_detail

namespace ttt::coverage_detail {
namespace {

int type_rank(const nlohmann::json& value) {
  if (value.is_boolean()) return 0;
  if (value.is_number()) return 1;
  if (value.is_string()) return 2;
  return 3;
}

// The value at a dot-separated path inside `object`, or null.
nlohmann::json at_path(const nlohmann::json& object, std::string_view path) {
  const nlohmann::json* node = &object;
  while (!path.empty()) {
    const std::size_t dot = path.find('.');
    const std::string key(path.substr(0, dot));
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &node->at(key);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
  return *node;
}

}  // namespace

bool valid_field(std::string_view field) {
  for (const std::string_view plain :
       {"mode", "device", "batch", "seq_len", "weight_dtype", "identity", "topology"}) {
    if (field == plain) return true;
  }
  for (const std::string_view prefix : {"spec.", "impl.", "derived."}) {
    if (field.size() > prefix.size() && field.substr(0, prefix.size()) == prefix &&
        field.back() != '.' && field.find("..") == std::string_view::npos) {
      return true;
    }
  }
  return false;
}

nlohmann::json field_value(std::string_view field, const FieldContext& context) {
  const auto text_or_null = [](const std::string& text) -> nlohmann::json {
    if (text.empty()) return nullptr;
    return text;
  };
  const auto count_or_null = [](std::int64_t count) -> nlohmann::json {
    if (count <= 0) return nullptr;
    return count;
  };
  if (field == "mode") return text_or_null(context.mode);
  if (field == "device") return text_or_null(context.device);
  if (field == "batch") return count_or_null(context.batch);
  if (field == "seq_len") return count_or_null(context.seq_len);
  if (context.facts == nullptr) return nullptr;
  const BlockFacts& facts = *context.facts;
  if (field == "weight_dtype") return text_or_null(facts.weight_dtype);
  if (field == "identity") return text_or_null(facts.identity);
  if (field == "topology") return facts.topology.empty() ? "N150" : facts.topology;
  if (field.substr(0, 5) == "spec.") return at_path(facts.spec, field.substr(5));
  if (field.substr(0, 5) == "impl.") return at_path(facts.impl_config, field.substr(5));
  if (field.substr(0, 8) == "derived.") return at_path(facts.derived, field.substr(8));
  return nullptr;
}

bool value_less(const nlohmann::json& a, const nlohmann::json& b) {
  const int rank_a = type_rank(a);
  const int rank_b = type_rank(b);
  if (rank_a != rank_b) return rank_a < rank_b;
  if (rank_a == 0) return !a.get<bool>() && b.get<bool>();
  if (rank_a == 1) return !same_value(a, b) && a.get<double>() < b.get<double>();
  if (rank_a == 2) return a.get<std::string>() < b.get<std::string>();
  return a.dump() < b.dump();
}

bool same_value(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>();
    const double y = b.get<double>();
    return x == y || std::abs(x - y) <= 1e-9 * std::max(std::abs(x), std::abs(y));
  }
  return a == b;
}

std::string value_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (number == std::floor(number) && std::abs(number) < 1e15) {
      return std::to_string(static_cast<std::int64_t>(number));
    }
    return format_number(number);
  }
  return value.dump();
}

}  // namespace ttt::coverage_detail

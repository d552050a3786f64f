#include "coverage/internal/block_facts.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <map>
#include <string>

#include "blocks/attention/attention.h"
#include "blocks/common/device.h"
#include "blocks/embeddings/embedding.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"
#include "blocks/lm_head/lm_head.h"
#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"
#include "validation/markup/number.h"

namespace ttt::coverage_detail {
namespace {

std::string dims(std::int64_t a, std::int64_t b) {
  return std::to_string(a) + "x" + std::to_string(b);
}

std::string weight_of(const MatmulConfig& matmul) {
  return std::string(dtype_name(matmul.weight_dtype));
}

// The facts only the Spec and ImplConfig types know, filled in after parsing.
template <typename Spec, typename Config>
using Extras = std::function<void(const Spec&, const Config&, BlockFacts&)>;

template <typename Spec, typename Config>
void describe_typed(const nlohmann::json& spec_json, const nlohmann::json& impl_json, Device device,
                    Mode mode, const Extras<Spec, Config>& extras, BlockFacts& facts) {
  Spec spec;
  from_json(spec_json, spec);
  spec.validate();
  Config config = default_impl_config(spec, device, mode);
  if (!impl_json.is_object()) throw std::invalid_argument("impl_config is not a JSON object");
  from_json(impl_json, config);
  facts.identity = spec.identity();
  to_json(facts.spec, spec);
  to_json(facts.impl_config, config);
  extras(spec, config, facts);
  facts.known = true;
}

using Describer =
    std::function<void(const nlohmann::json&, const nlohmann::json&, Device, Mode, BlockFacts&)>;

template <typename Spec, typename Config>
Describer describer(Extras<Spec, Config> extras) {
  return [extras](const nlohmann::json& spec, const nlohmann::json& impl, Device device, Mode mode,
                  BlockFacts& facts) {
    describe_typed<Spec, Config>(spec, impl, device, mode, extras, facts);
  };
}

// What coverage knows about a block family: which input carries the call's tokens (its shape gives
// batch and seq_len) and how to describe a configuration. One entry per family.
struct FamilyFacts {
  std::string activation;
  Describer describe;
};

const std::map<std::string, FamilyFacts, std::less<>>& families() {
  static const auto* table = new std::map<std::string, FamilyFacts, std::less<>>{
      {"rms_norm",
       {"x", describer<RmsNormSpec, RmsNormImplConfig>(
                 [](const RmsNormSpec&, const RmsNormImplConfig& config, BlockFacts& facts) {
                   facts.weight_dtype = std::string(dtype_name(config.weight_dtype));
                 })}},
      {"layer_norm",
       {"x", describer<LayerNormSpec, LayerNormImplConfig>(
                 [](const LayerNormSpec&, const LayerNormImplConfig& config, BlockFacts& facts) {
                   facts.weight_dtype = std::string(dtype_name(config.weight_dtype));
                 })}},
      {"attention",
       {"x",
        describer<AttentionSpec, AttentionImplConfig>(
            [](const AttentionSpec& spec, const AttentionImplConfig& config, BlockFacts& facts) {
              facts.weight_dtype = weight_of(config.qkv);
              facts.derived["head_dim"] = spec.dim_per_head();
              facts.derived["kv_heads"] = spec.kv_heads();
              facts.derived["group_size"] = spec.num_heads / spec.kv_heads();
              facts.derived["windowed"] = spec.sliding_window > 0;
              facts.derived["softcapped"] = spec.logit_softcap > 0.0;
              facts.derived["kv_cache_dtype"] = std::string(dtype_name(config.kv_cache_dtype));
            })}},
      {"mlp",
       {"x", describer<MlpSpec, MlpImplConfig>(
                 [](const MlpSpec& spec, const MlpImplConfig& config, BlockFacts& facts) {
                   facts.weight_dtype = weight_of(config.ff1);
                   facts.derived["dims"] = dims(spec.hidden_dim, spec.ffn_dim);
                 })}},
      {"gated_mlp",
       {"x", describer<GatedMlpSpec, GatedMlpImplConfig>(
                 [](const GatedMlpSpec& spec, const GatedMlpImplConfig& config, BlockFacts& facts) {
                   facts.weight_dtype = weight_of(config.ff1_ff3);
                   facts.derived["dims"] = dims(spec.hidden_dim, spec.ffn_dim);
                 })}},
      {"moe",
       {"x", describer<MoeSpec, MoeImplConfig>(
                 [](const MoeSpec& spec, const MoeImplConfig& config, BlockFacts& facts) {
                   facts.weight_dtype = weight_of(config.expert.ff1_ff3);
                   facts.derived["dims"] = dims(spec.hidden_dim, spec.ffn_dim);
                   facts.derived["routing"] =
                       std::to_string(spec.num_experts) + "/top" + std::to_string(spec.top_k);
                 })}},
      {"lm_head",
       {"x", describer<LmHeadSpec, LmHeadImplConfig>(
                 [](const LmHeadSpec& spec, const LmHeadImplConfig& config, BlockFacts& facts) {
                   facts.weight_dtype = weight_of(config.matmul);
                   facts.derived["softcapped"] = spec.logit_softcap > 0.0;
                 })}},
      {"embedding",
       {"ids",
        describer<EmbeddingSpec, EmbeddingImplConfig>(
            [](const EmbeddingSpec& spec, const EmbeddingImplConfig& config, BlockFacts& facts) {
              facts.weight_dtype = std::string(dtype_name(config.weight_dtype));
              facts.derived["scaled"] = spec.scale != 1.0;
            })}},
  };
  return *table;
}

}  // namespace

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
  BlockFacts typed = facts;
  try {
    it->second.describe(spec, impl_config, parsed_device, parsed_mode, typed);
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

std::string activation_input(std::string_view block) {
  const auto it = families().find(block);
  return it == families().end() ? std::string() : it->second.activation;
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
       {"mode", "device", "batch", "seq_len", "weight_dtype", "identity"}) {
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

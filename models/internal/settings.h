// The settings a mapping file may set: each one is a knob of the causal LM's Spec, fed by a
// config.json field ("fields") or fixed by the architecture ("constants"). docs/models.md has the
// same table for users.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::models_detail {

enum class SettingKind { integer, number, boolean, text, object };

struct Setting {
  std::string_view name;
  SettingKind kind;
  // Used when neither the config.json nor the mapping gives a value: a JSON literal or an
  // expression ("heads", "hidden / heads"); empty: the Spec's own default stays.
  std::string_view fallback;
  bool required = false;                       // Every mapping must set it (a field or a constant).
  std::vector<std::string_view> choices = {};  // text: the accepted values.

  bool accepts(const std::string& value) const {
    if (choices.empty()) return true;
    for (std::string_view choice : choices) {
      if (choice == value) return true;
    }
    return false;
  }
  // "an integer", "one of rms_norm, layer_norm", ...
  std::string describe() const {
    switch (kind) {
      case SettingKind::integer:
        return "an integer > 0 or an expression";
      case SettingKind::number:
        return "a number or an expression";
      case SettingKind::boolean:
        return "true or false";
      case SettingKind::object:
        return "an object";
      case SettingKind::text:
        break;
    }
    std::string text = "one of ";
    for (std::size_t i = 0; i < choices.size(); ++i) {
      text += (i == 0 ? "" : ", ") + std::string(choices[i]);
    }
    return text;
  }
};

// Every setting, in the order docs/models.md lists them.
inline const std::vector<Setting>& settings() {
  static const std::vector<Setting> kSettings = {
      {"hidden", SettingKind::integer, "", true},
      {"layers", SettingKind::integer, "", true},
      {"heads", SettingKind::integer, "", true},
      {"kv_heads", SettingKind::integer, "heads"},
      {"head_dim", SettingKind::integer, "hidden / heads"},
      {"vocab", SettingKind::integer, "", true},
      {"max_positions", SettingKind::integer, ""},
      {"norm", SettingKind::text, "", true, {"rms_norm", "layer_norm"}},
      {"norm_eps", SettingKind::number, "", true},
      {"norm_bias", SettingKind::boolean, "false"},
      {"norm_unit_offset", SettingKind::boolean, "false"},
      {"post_norms", SettingKind::boolean, "false"},
      {"embedding_norm", SettingKind::boolean, "false"},
      {"positions", SettingKind::text, "\"rope\"", false, {"rope", "learned", "alibi", "none"}},
      {"rope_theta", SettingKind::number, ""},
      {"rotary_fraction", SettingKind::number, "1"},
      {"rope_scaling", SettingKind::object, ""},
      {"rope_original_max_positions", SettingKind::integer, ""},
      {"qkv_bias", SettingKind::boolean, "false"},
      {"output_bias", SettingKind::boolean, "false"},
      {"qk_norm", SettingKind::boolean, "false"},
      {"query_pre_attn_scalar", SettingKind::number, ""},
      {"attn_softcap", SettingKind::number, ""},
      {"final_softcap", SettingKind::number, ""},
      {"sliding_window", SettingKind::integer, ""},
      {"sliding_window_layers", SettingKind::text, "\"all\"", false, {"all", "even"}},
      {"embedding_scale", SettingKind::text, "\"none\"", false, {"none", "sqrt_hidden"}},
      {"ffn", SettingKind::text, "", true, {"gated_mlp", "mlp", "moe"}},
      {"activation",
       SettingKind::text,
       "",
       true,
       {"silu", "swish", "gelu", "gelu_pytorch_tanh", "gelu_new", "relu"}},
      {"ffn_dim", SettingKind::integer, "", true},
      {"mlp_bias", SettingKind::boolean, "false"},
      {"experts", SettingKind::integer, ""},
      {"experts_per_token", SettingKind::integer, ""},
      {"tied_embeddings", SettingKind::boolean, "false"},
  };
  return kSettings;
}

inline const Setting* find_setting(std::string_view name) {
  for (const Setting& setting : settings()) {
    if (setting.name == name) return &setting;
  }
  return nullptr;
}

// An expression is a string naming a setting, or "a / b", "a * b" of settings and integers.
inline bool is_expression(const nlohmann::json& value) { return value.is_string(); }

}  // namespace ttt::models_detail

// The one reader of config.json: applies an architecture mapping (settings from fields, defaults
// and constants), checks what the settings must satisfy, and builds the causal LM's Spec.
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "models/internal/architecture.h"
#include "models/internal/settings.h"

namespace ttt::models_detail {
namespace {

// Fields every config.json may carry: they do not change what the model computes.
constexpr const char* kCommonIgnored[] = {
    "architectures",        "model_type",        "bos_token_id",     "eos_token_id",
    "pad_token_id",         "torch_dtype",       "use_cache",        "_name_or_path",
    "transformers_version", "attention_dropout", "initializer_range"};

// A positive integer field: sizes and counts.
std::int64_t positive_integer(const JsonNode& field) { return field.integer_at_least(1); }

// The field `name` of `object`, which must be present and not null.
JsonNode required(const JsonNode& object, std::string_view name) {
  if (const std::optional<JsonNode> field = present(object, name)) return *field;
  object.fail("missing field '" + std::string(name) + "'");
}

// The field, or `fallback` when absent or null.
double number_or(const JsonNode& object, std::string_view name, double fallback) {
  const std::optional<JsonNode> field = present(object, name);
  return field ? field->number() : fallback;
}

std::vector<double> numbers_of(const JsonNode& array) {
  std::vector<double> values(array.size());
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = array.at(i).number();
  return values;
}

// The fields each RoPE type reads (besides rope_type and type); others are refused.
std::vector<std::string_view> rope_scaling_fields(const std::string& type) {
  std::vector<std::string_view> fields = {"rope_type", "type"};
  const auto add = [&](std::initializer_list<std::string_view> names) {
    fields.insert(fields.end(), names);
  };
  if (type == "linear") add({"factor"});
  if (type == "llama3") {
    add({"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"});
  }
  if (type == "yarn") {
    add({"factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "mscale",
         "mscale_all_dim", "attention_factor", "truncate"});
  }
  if (type == "longrope" || type == "su") {
    add({"short_factor", "long_factor", "factor", "original_max_position_embeddings",
         "attention_factor"});
  }
  return fields;
}

// rope_scaling, read into `rope` (whose head_dim, theta, max_position_embeddings and, from the
// mapping, original_max_position_embeddings are set).
void read_rope_scaling(const JsonNode& config, RopeSpec& rope) {
  const JsonNode fields = config.at("rope_scaling");
  if (!fields.is_object()) {
    fields.fail("expected an object or null, got " + fields.json().dump());
  }
  const std::optional<JsonNode> rope_type = present(fields, "rope_type");
  const std::optional<JsonNode> legacy = present(fields, "type");
  if (!rope_type && !legacy) fields.fail("missing field 'rope_type'");
  const std::string type = rope_type ? rope_type->string() : legacy->string();
  if (rope_type && legacy && legacy->string() != type) {
    legacy->fail("'" + legacy->string() + "' contradicts rope_type '" + type + "'");
  }
  const std::int64_t original = rope.original_max_position_embeddings;
  const auto original_or = [&](std::int64_t fallback) {
    const std::optional<JsonNode> field = present(fields, "original_max_position_embeddings");
    return field ? positive_integer(*field) : fallback;
  };
  if (type == "default") {
    rope.scaling = RopeScaling::none;
  } else if (type == "linear") {
    rope.scaling = RopeScaling::linear;
    rope.factor = required(fields, "factor").number();
  } else if (type == "llama3") {
    rope.scaling = RopeScaling::llama3;
    rope.factor = required(fields, "factor").number();
    rope.low_freq_factor = required(fields, "low_freq_factor").number();
    rope.high_freq_factor = required(fields, "high_freq_factor").number();
    rope.original_max_position_embeddings =
        positive_integer(required(fields, "original_max_position_embeddings"));
  } else if (type == "yarn") {
    rope.scaling = RopeScaling::yarn;
    rope.factor = required(fields, "factor").number();
    rope.original_max_position_embeddings = original_or(original);
    rope.beta_fast = number_or(fields, "beta_fast", rope.beta_fast);
    rope.beta_slow = number_or(fields, "beta_slow", rope.beta_slow);
    rope.mscale = number_or(fields, "mscale", 0.0);
    rope.mscale_all_dim = number_or(fields, "mscale_all_dim", 0.0);
    rope.attention_factor = number_or(fields, "attention_factor", 0.0);
    const std::optional<JsonNode> truncate = present(fields, "truncate");
    rope.truncate = truncate ? truncate->boolean() : true;
  } else if (type == "longrope" || type == "su") {
    rope.scaling = RopeScaling::longrope;
    rope.short_factor = numbers_of(required(fields, "short_factor"));
    rope.long_factor = numbers_of(required(fields, "long_factor"));
    rope.factor = number_or(fields, "factor", 1.0);
    rope.original_max_position_embeddings = original_or(original);
    rope.attention_factor = number_or(fields, "attention_factor", 0.0);
  } else {
    (rope_type ? *rope_type : *legacy)
        .fail("unknown RoPE type '" + type +
              "' (supported: default, linear, llama3, yarn, longrope; "
              "'dynamic' changes with the sequence length and is not)");
  }
  fields.allow_only(rope_scaling_fields(type));
}

// The settings of one config.json under one mapping: read from fields, else the mapping's
// default, else the mapping's constant, else the setting's fallback; unset otherwise.
class Settings {
 public:
  Settings(const Architecture& architecture, const JsonNode& config)
      : architecture_(architecture), config_(config) {}

  // Reads every mapped field (fields the mapping names, in its order).
  void read_fields() {
    for (const MappedField& mapped : architecture_.fields) {
      for (const std::string& setting : mapped.settings) field_of_[setting] = mapped.field;
      std::optional<JsonNode> field = present(config_, mapped.field);
      if (!field && !mapped.older_field.empty()) field = present(config_, mapped.older_field);
      if (!field) {
        if (mapped.fallback) {
          for (const std::string& setting : mapped.settings) defaults_[setting] = *mapped.fallback;
        }
        continue;
      }
      const nlohmann::json value = read(*find_setting(mapped.settings.front()), *field);
      for (const std::string& setting : mapped.settings) values_[setting] = value;
    }
  }

  // The value, or null when unset.
  const nlohmann::json& value(const std::string& name) {
    if (const auto it = values_.find(name); it != values_.end()) return it->second;
    if (++depth_ > 16) {
      static const nlohmann::json kMapping;  // Parsed already: only the file is named.
      JsonNode(kMapping, architecture_.file, "/fields")
          .fail("the defaults of '" + name + "' refer to each other");
    }
    const Setting& setting = *find_setting(name);
    nlohmann::json resolved;
    if (const auto it = defaults_.find(name); it != defaults_.end()) {
      resolved = evaluate(setting, it->second);
    } else if (const auto constant = architecture_.constants.find(name);
               constant != architecture_.constants.end()) {
      resolved = evaluate(setting, constant->second);
    } else if (!setting.fallback.empty()) {
      nlohmann::json fallback = nlohmann::json::parse(setting.fallback, nullptr, false);
      if (fallback.is_discarded()) fallback = std::string(setting.fallback);
      resolved = evaluate(setting, fallback);
    }
    --depth_;
    return values_[name] = resolved;
  }
  bool has(const std::string& name) { return !value(name).is_null(); }
  std::int64_t integer(const std::string& name) { return required(name).get<std::int64_t>(); }
  double number(const std::string& name) { return required(name).get<double>(); }
  bool boolean(const std::string& name) { return required(name).get<bool>(); }
  std::string text(const std::string& name) { return required(name).get<std::string>(); }

  // The config.json field feeding `name` ("num_key_value_heads"), else the setting's name.
  std::string field_of(const std::string& name) const {
    const auto it = field_of_.find(name);
    return it == field_of_.end() ? name : it->second;
  }
  [[noreturn]] void fail(const std::string& setting, const std::string& message) const {
    config_.fail_at(field_of(setting), message);
  }

 private:
  const nlohmann::json& required(const std::string& name) {
    const nlohmann::json& result = value(name);
    if (result.is_null()) config_.fail("missing field '" + field_of(name) + "'");
    return result;
  }

  // A config.json value of `setting`'s kind.
  static nlohmann::json read(const Setting& setting, const JsonNode& field) {
    switch (setting.kind) {
      case SettingKind::integer:
        return positive_integer(field);
      case SettingKind::number:
        return field.number();
      case SettingKind::boolean:
        return field.boolean();
      case SettingKind::object:
        return field.json();
      case SettingKind::text:
        break;
    }
    const std::string text = field.string();
    if (!setting.accepts(text)) {
      field.fail("unsupported " +
                 std::string(setting.name == "activation" ? "activation" : "value") + " '" + text +
                 "' (supported: " + setting.describe().substr(7) + ")");
    }
    return text;
  }

  // A literal, or an expression of other settings: "heads", "hidden / heads", "4 * hidden".
  nlohmann::json evaluate(const Setting& setting, const nlohmann::json& value) {
    if (!value.is_string() || setting.kind == SettingKind::text) return value;
    std::istringstream words(value.get<std::string>());
    std::string left, op, right;
    words >> left >> op >> right;
    const auto operand = [&](const std::string& word) -> std::int64_t {
      if (!word.empty() && std::isdigit(static_cast<unsigned char>(word[0]))) {
        return std::stoll(word);
      }
      return integer(word);
    };
    if (op.empty()) return value_of_word(left, operand);
    const std::int64_t a = operand(left);
    const std::int64_t b = operand(right);
    if (op == "*") return a * b;
    if (a % b != 0) {
      fail(right, std::to_string(b) + " does not divide " + field_of(left) + " " +
                      std::to_string(a) + " and " + field_of(std::string(setting.name)) +
                      " is not given");
    }
    return a / b;
  }
  template <typename Operand>
  nlohmann::json value_of_word(const std::string& word, const Operand& operand) {
    if (find_setting(word) != nullptr) return required(word);
    return operand(word);
  }

  const Architecture& architecture_;
  const JsonNode& config_;
  std::map<std::string, nlohmann::json> values_;
  std::map<std::string, nlohmann::json> defaults_;
  std::map<std::string, std::string> field_of_;
  int depth_ = 0;
};

// Refused field values and fields that are neither mapped, ignored nor refused.
void check_fields(const Architecture& architecture, const JsonNode& config) {
  std::set<std::string_view> known(std::begin(kCommonIgnored), std::end(kCommonIgnored));
  for (const MappedField& mapped : architecture.fields) {
    known.insert(mapped.field);
    if (!mapped.older_field.empty()) known.insert(mapped.older_field);
  }
  for (const RefusedField& refused : architecture.refused) {
    known.insert(refused.field);
    const std::optional<JsonNode> field = present(config, refused.field);
    if (!field || (refused.accepts && field->json() == *refused.accepts)) continue;
    field->fail(field->json().dump() + " needs " + refused.needs + " (" + architecture.file + ")");
  }
  known.insert(architecture.ignored.begin(), architecture.ignored.end());
  if (const std::optional<JsonNode> quantization = present(config, "quantization_config")) {
    quantization->fail("quantized checkpoints are not supported");
  }
  for (const auto& [field, value] : config.object().items()) {
    if (known.count(field) == 0) {
      config.fail_at(field, "unknown field '" + field + "' (the " + architecture.model_type +
                                " mapping, " + architecture.file +
                                ", neither reads, ignores nor refuses it)");
    }
  }
}

Activation activation_named(const std::string& name) {
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return Activation::gelu_tanh;
  if (name == "gelu") return Activation::gelu;
  return Activation::relu;  // The settings table accepts no other name.
}

AttentionSpec attention_of(Settings& settings, const std::vector<std::int64_t>& shape, double eps) {
  const auto [hidden, heads, kv_heads, head_dim] =
      std::tuple{shape[0], shape[1], shape[2], shape[3]};
  AttentionSpec attention;
  attention.hidden_dim = hidden;
  attention.num_heads = heads;
  attention.num_kv_heads = kv_heads;
  attention.head_dim = head_dim;
  attention.qkv_bias = settings.boolean("qkv_bias");
  attention.output_bias = settings.boolean("output_bias");
  attention.qk_norm = settings.boolean("qk_norm");
  if (attention.qk_norm) attention.qk_norm_eps = eps;
  if (settings.has("query_pre_attn_scalar")) {
    attention.query_pre_attn_scalar = settings.number("query_pre_attn_scalar");
  }
  if (settings.has("attn_softcap")) attention.logit_softcap = settings.number("attn_softcap");
  attention.rope.head_dim = head_dim;
  const std::string positions = settings.text("positions");
  attention.positions = positions == "rope"    ? AttentionPositions::rope
                        : positions == "alibi" ? AttentionPositions::alibi
                                               : AttentionPositions::none;
  return attention;
}

// RoPE: theta, length, partial rotation and scaling.
void read_rope(Settings& settings, const JsonNode& config, RopeSpec& rope) {
  if (settings.has("rope_theta")) rope.theta = settings.number("rope_theta");
  if (settings.has("max_positions")) {
    rope.max_position_embeddings = settings.integer("max_positions");
  }
  const double fraction = settings.number("rotary_fraction");
  if (!(fraction > 0.0 && fraction <= 1.0)) {
    settings.fail("rotary_fraction", "must be in (0, 1]");
  }
  if (fraction < 1.0) {
    rope.rotary_dim = static_cast<std::int64_t>(static_cast<double>(rope.head_dim) * fraction);
  }
  if (settings.has("rope_scaling")) {
    if (settings.has("rope_original_max_positions")) {
      rope.original_max_position_embeddings = settings.integer("rope_original_max_positions");
    }
    read_rope_scaling(config, rope);
  }
}

}  // namespace

std::optional<JsonNode> present(const JsonNode& config, std::string_view name) {
  std::optional<JsonNode> field = config.find(name);
  if (field && field->json().is_null()) return std::nullopt;
  return field;
}

ModelDefinition read_config(const Architecture& architecture, const JsonNode& config) {
  Settings settings(architecture, config);
  settings.read_fields();
  check_fields(architecture, config);

  ModelDefinition model;
  model.name = config.source();
  model.architecture = architecture.model_type;
  model.config = config.json();
  model.initializer_range = number_or(config, "initializer_range", 0.02);
  if (!(model.initializer_range >= 0.0)) config.fail_at("initializer_range", "must be >= 0");

  const std::int64_t hidden = settings.integer("hidden");
  const std::int64_t heads = settings.integer("heads");
  const std::int64_t kv_heads = settings.integer("kv_heads");
  if (heads % kv_heads != 0) {
    settings.fail("kv_heads", std::to_string(kv_heads) + " does not divide " +
                                  settings.field_of("heads") + " " + std::to_string(heads));
  }
  const std::int64_t head_dim = settings.integer("head_dim");
  const bool rope = settings.text("positions") == "rope";
  if (rope && head_dim % 2 != 0) {
    settings.fail("head_dim",
                  "must be even and > 0 (RoPE rotates pairs), got " + std::to_string(head_dim));
  }
  const std::int64_t vocab = settings.integer("vocab");
  const double eps = settings.number("norm_eps");
  NormSpec norm = RmsNormSpec{hidden, eps, settings.boolean("norm_unit_offset")};
  if (settings.text("norm") == "layer_norm") {
    norm = LayerNormSpec{hidden, eps, settings.boolean("norm_bias")};
  }

  DecoderLayerSpec layer;
  layer.attention_norm = norm;
  layer.attention = attention_of(settings, {hidden, heads, kv_heads, head_dim}, eps);
  if (rope) read_rope(settings, config, layer.attention.rope);
  layer.ffn_norm = norm;
  const std::string ffn = settings.text("ffn");
  const Activation activation = activation_named(settings.text("activation"));
  const std::int64_t ffn_dim = settings.integer("ffn_dim");
  if (ffn == "gated_mlp") {
    layer.ffn = GatedMlpSpec{hidden, ffn_dim, activation};
  } else if (ffn == "mlp") {
    layer.ffn = MlpSpec{hidden, ffn_dim, activation, settings.boolean("mlp_bias")};
  } else {
    layer.ffn = MoeSpec{hidden, ffn_dim, settings.integer("experts"),
                        settings.integer("experts_per_token"), activation};
  }
  if (settings.boolean("post_norms")) {
    layer.post_attention_norm = norm;
    layer.post_ffn_norm = norm;
  }

  CausalLmSpec& spec = model.spec;
  spec.embedding.vocab_size = vocab;
  spec.embedding.hidden_dim = hidden;
  if (settings.text("embedding_scale") == "sqrt_hidden") {
    spec.embedding.scale = std::sqrt(static_cast<double>(hidden));
  }
  if (settings.text("positions") == "learned") {
    spec.embedding.positions = PositionEmbedding::learned;
    spec.embedding.max_positions = settings.integer("max_positions");
  }
  if (settings.boolean("embedding_norm")) spec.embedding_norm = norm;
  spec.layers.assign(static_cast<std::size_t>(settings.integer("layers")), layer);
  if (settings.has("sliding_window")) {
    const std::size_t step = settings.text("sliding_window_layers") == "even" ? 2 : 1;
    for (std::size_t i = 0; i < spec.layers.size(); i += step) {
      spec.layers[i].attention.sliding_window = settings.integer("sliding_window");
    }
  }
  spec.norm = norm;
  spec.lm_head = LmHeadSpec{hidden, vocab, settings.boolean("tied_embeddings"),
                            settings.has("final_softcap") ? settings.number("final_softcap") : 0.0};
  if (!architecture.unsupported.empty()) {
    config.fail_at("model_type", "'" + architecture.model_type + "' needs " +
                                     architecture.unsupported + " (" + architecture.file + ")");
  }
  try {
    spec.validate();
  } catch (const std::invalid_argument& error) {
    config.fail(error.what());
  }
  return model;
}

}  // namespace ttt::models_detail

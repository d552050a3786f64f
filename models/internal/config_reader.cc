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

// Reads the fields of one JSON object (the config, or its rope_scaling), naming the source and
// the field in errors: "[model_config] <source>: field '<prefix><name>': <message>".
class FieldReader {
 public:
  FieldReader(const nlohmann::json& json, std::string source, std::string prefix)
      : json_(json), source_(std::move(source)), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& name, const std::string& message) const {
    throw std::invalid_argument("[model_config] " + source_ + ": field '" + prefix_ + name +
                                "': " + message);
  }
  bool has(const std::string& name) const {
    return json_.contains(name) && !json_.at(name).is_null();
  }
  const nlohmann::json& raw(const std::string& name) {
    seen_.insert(name);
    return json_.at(name);
  }
  void ignore(const std::string& name) { seen_.insert(name); }
  // A reader of the object at `name` (REQUIRES: has(name) and an object), naming its fields
  // "<name>.<field>".
  FieldReader child(const std::string& name) {
    seen_.insert(name);
    return FieldReader(json_.at(name), source_, prefix_ + name + ".");
  }

  std::int64_t integer(const std::string& name, std::optional<std::int64_t> fallback = {}) {
    seen_.insert(name);
    if (!has(name)) return fallback ? *fallback : missing(name);
    const nlohmann::json& value = json_.at(name);
    if (!value.is_number_integer()) fail(name, "expected an integer, got " + value.dump());
    const std::int64_t result = value.get<std::int64_t>();
    if (result <= 0) fail(name, "must be > 0, got " + std::to_string(result));
    return result;
  }
  double number(const std::string& name, std::optional<double> fallback = {}) {
    seen_.insert(name);
    if (!has(name)) {
      if (fallback) return *fallback;
      missing(name);
    }
    const nlohmann::json& value = json_.at(name);
    if (!value.is_number()) fail(name, "expected a number, got " + value.dump());
    return value.get<double>();
  }
  bool boolean(const std::string& name, bool fallback) {
    seen_.insert(name);
    if (!has(name)) return fallback;
    const nlohmann::json& value = json_.at(name);
    if (!value.is_boolean()) fail(name, "expected a boolean, got " + value.dump());
    return value.get<bool>();
  }
  std::string text(const std::string& name) {
    seen_.insert(name);
    if (!has(name)) missing(name);
    const nlohmann::json& value = json_.at(name);
    if (!value.is_string()) fail(name, "expected a string, got " + value.dump());
    return value.get<std::string>();
  }
  std::vector<double> numbers(const std::string& name) {
    seen_.insert(name);
    if (!has(name)) missing(name);
    const nlohmann::json& value = json_.at(name);
    std::vector<double> values;
    if (value.is_array()) {
      for (const nlohmann::json& item : value) {
        if (!item.is_number()) break;
        values.push_back(item.get<double>());
      }
    }
    if (!value.is_array() || values.size() != value.size()) {
      fail(name, "expected an array of numbers, got " + value.dump());
    }
    return values;
  }
  // Rejects the first field never read: `what` says whose fields these are.
  void finish(const std::string& what) const {
    for (const auto& [name, value] : json_.items()) {
      if (seen_.count(name) == 0) fail(name, "is not a field " + what + " knows");
    }
  }

 private:
  [[noreturn]] std::int64_t missing(const std::string& name) const { fail(name, "is required"); }

  const nlohmann::json& json_;
  std::string source_;
  std::string prefix_;
  std::set<std::string> seen_;
};

// rope_scaling, read into `rope` (whose head_dim, theta, max_position_embeddings and, from the
// mapping, original_max_position_embeddings are set).
void read_rope_scaling(FieldReader& config, RopeSpec& rope) {
  if (!config.raw("rope_scaling").is_object()) {
    config.fail("rope_scaling",
                "expected an object or null, got " + config.raw("rope_scaling").dump());
  }
  FieldReader fields = config.child("rope_scaling");
  std::string type;
  if (fields.has("rope_type") && fields.has("type")) {
    const std::string rope_type = fields.text("rope_type");
    const std::string legacy = fields.text("type");
    if (rope_type != legacy) {
      fields.fail("type", "'" + legacy + "' contradicts rope_type '" + rope_type + "'");
    }
    type = rope_type;
  } else if (fields.has("rope_type")) {
    type = fields.text("rope_type");
  } else if (fields.has("type")) {
    type = fields.text("type");
  } else {
    fields.fail("rope_type", "is required in rope_scaling");
  }
  const std::string type_field = fields.has("rope_type") ? "rope_type" : "type";
  const std::int64_t original = rope.original_max_position_embeddings;
  if (type == "default") {
    rope.scaling = RopeScaling::none;
  } else if (type == "linear") {
    rope.scaling = RopeScaling::linear;
    rope.factor = fields.number("factor");
  } else if (type == "llama3") {
    rope.scaling = RopeScaling::llama3;
    rope.factor = fields.number("factor");
    rope.low_freq_factor = fields.number("low_freq_factor");
    rope.high_freq_factor = fields.number("high_freq_factor");
    rope.original_max_position_embeddings = fields.integer("original_max_position_embeddings");
  } else if (type == "yarn") {
    rope.scaling = RopeScaling::yarn;
    rope.factor = fields.number("factor");
    rope.original_max_position_embeddings =
        fields.integer("original_max_position_embeddings", original);
    rope.beta_fast = fields.number("beta_fast", rope.beta_fast);
    rope.beta_slow = fields.number("beta_slow", rope.beta_slow);
    rope.mscale = fields.number("mscale", 0.0);
    rope.mscale_all_dim = fields.number("mscale_all_dim", 0.0);
    rope.attention_factor = fields.number("attention_factor", 0.0);
    rope.truncate = fields.boolean("truncate", true);
  } else if (type == "longrope" || type == "su") {
    rope.scaling = RopeScaling::longrope;
    rope.short_factor = fields.numbers("short_factor");
    rope.long_factor = fields.numbers("long_factor");
    rope.factor = fields.number("factor", 1.0);
    rope.original_max_position_embeddings =
        fields.integer("original_max_position_embeddings", original);
    rope.attention_factor = fields.number("attention_factor", 0.0);
  } else {
    fields.fail(type_field, "unknown RoPE type '" + type +
                                "' (supported: default, linear, llama3, yarn, longrope; "
                                "'dynamic' changes with the sequence length and is not)");
  }
  fields.finish("rope_scaling");
}

// The settings of one config.json under one mapping: read from fields, else the mapping's
// default, else the mapping's constant, else the setting's fallback; unset otherwise.
class Settings {
 public:
  Settings(const Architecture& architecture, FieldReader& config)
      : architecture_(architecture), config_(config) {}

  // Reads every mapped field (fields the mapping names, in its order).
  void read_fields() {
    for (const MappedField& mapped : architecture_.fields) {
      for (const std::string& setting : mapped.settings) field_of_[setting] = mapped.field;
      std::string field = mapped.field;
      if (!config_.has(field) && !mapped.older_field.empty() && config_.has(mapped.older_field)) {
        field = mapped.older_field;
      }
      config_.ignore(mapped.field);
      if (!mapped.older_field.empty()) config_.ignore(mapped.older_field);
      if (!config_.has(field)) {
        if (mapped.fallback) {
          for (const std::string& setting : mapped.settings) defaults_[setting] = *mapped.fallback;
        }
        continue;
      }
      const nlohmann::json value = read(*find_setting(mapped.settings.front()), field);
      for (const std::string& setting : mapped.settings) values_[setting] = value;
    }
  }

  // The value, or null when unset.
  const nlohmann::json& value(const std::string& name) {
    if (const auto it = values_.find(name); it != values_.end()) return it->second;
    if (++depth_ > 16) {
      throw std::invalid_argument("[model_mapping] " + architecture_.file + ": the defaults of '" +
                                  name + "' refer to each other");
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
    config_.fail(field_of(setting), message);
  }

 private:
  const nlohmann::json& required(const std::string& name) {
    const nlohmann::json& result = value(name);
    if (result.is_null()) fail(name, "is required");
    return result;
  }

  // A config.json value of `setting`'s kind.
  nlohmann::json read(const Setting& setting, const std::string& field) {
    switch (setting.kind) {
      case SettingKind::integer:
        return config_.integer(field);
      case SettingKind::number:
        return config_.number(field);
      case SettingKind::boolean:
        return config_.boolean(field, false);
      case SettingKind::object:
        return config_.raw(field);
      case SettingKind::text:
        break;
    }
    const std::string text = config_.text(field);
    if (!setting.accepts(text)) {
      config_.fail(field, "unsupported " +
                              std::string(setting.name == "activation" ? "activation" : "value") +
                              " '" + text + "' (supported: " + setting.describe().substr(7) + ")");
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
  FieldReader& config_;
  std::map<std::string, nlohmann::json> values_;
  std::map<std::string, nlohmann::json> defaults_;
  std::map<std::string, std::string> field_of_;
  int depth_ = 0;
};

// Refused field values and fields that are neither mapped, ignored nor refused.
void check_fields(const Architecture& architecture, FieldReader& config) {
  for (const RefusedField& refused : architecture.refused) {
    config.ignore(refused.field);
    if (!config.has(refused.field)) continue;
    const nlohmann::json& value = config.raw(refused.field);
    if (refused.accepts && value == *refused.accepts) continue;
    config.fail(refused.field,
                value.dump() + " needs " + refused.needs + " (" + architecture.file + ")");
  }
  for (const std::string& field : architecture.ignored) config.ignore(field);
  for (const char* field : kCommonIgnored) config.ignore(field);
  if (config.has("quantization_config")) {
    config.fail("quantization_config", "quantized checkpoints are not supported");
  }
  config.finish("the " + architecture.model_type + " mapping (" + architecture.file + ")");
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
void read_rope(Settings& settings, FieldReader& config, RopeSpec& rope) {
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

ModelDefinition read_config(const Architecture& architecture, const nlohmann::json& json,
                            const std::string& source) {
  FieldReader config(json, source, "");
  Settings settings(architecture, config);
  settings.read_fields();
  check_fields(architecture, config);

  ModelDefinition model;
  model.name = source;
  model.architecture = architecture.model_type;
  model.config = json;
  model.initializer_range = config.number("initializer_range", 0.02);
  if (!(model.initializer_range >= 0.0)) config.fail("initializer_range", "must be >= 0");

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
    throw std::invalid_argument("[model_config] " + source + ": model_type '" +
                                architecture.model_type + "' needs " + architecture.unsupported +
                                " (" + architecture.file + ")");
  }
  try {
    spec.validate();
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[model_config] " + source + ": " + error.what());
  }
  return model;
}

}  // namespace ttt::models_detail

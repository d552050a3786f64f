#include "models/llama/config.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "blocks/ffn/activation.h"
#include "validation/input/input_file.h"

namespace ttt::llama {
namespace {

// Reads the fields of one JSON object, remembering which were read so that finish() can reject
// the rest. Errors: "[llama_config] <source>: field '<prefix><name>': <message>".
class FieldReader {
 public:
  FieldReader(const nlohmann::json& json, std::string source, std::string prefix)
      : json_(json), source_(std::move(source)), prefix_(std::move(prefix)) {}

  bool has(const std::string& name) const {
    return json_.contains(name) && !json_.at(name).is_null();
  }

  // The raw value (marked as read). REQUIRES: has(name).
  const nlohmann::json& raw(const std::string& name) {
    seen_.insert(name);
    return json_.at(name);
  }

  // Marks fields the adapter knowingly ignores.
  void ignore(std::initializer_list<const char*> names) {
    for (const char* name : names) seen_.insert(name);
  }

  std::int64_t integer(const std::string& name, std::optional<std::int64_t> fallback = {}) {
    seen_.insert(name);
    if (!has(name)) return fallback.has_value() ? *fallback : missing(name);
    const nlohmann::json& value = json_.at(name);
    if (!value.is_number_integer()) fail(name, "expected an integer, got " + value.dump());
    return value.get<std::int64_t>();
  }

  double number(const std::string& name, std::optional<double> fallback = {}) {
    seen_.insert(name);
    if (!has(name)) {
      if (fallback.has_value()) return *fallback;
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
    if (!value.is_boolean()) fail(name, "expected true or false, got " + value.dump());
    return value.get<bool>();
  }

  std::string text(const std::string& name, std::optional<std::string> fallback = {}) {
    seen_.insert(name);
    if (!has(name)) {
      if (fallback.has_value()) return *fallback;
      missing(name);
    }
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

  // Rejects the first field that was never read.
  void finish() const {
    for (const auto& [name, value] : json_.items()) {
      if (seen_.count(name) == 0) fail(name, "is not a field the Llama adapter knows");
    }
  }

  [[noreturn]] void fail(const std::string& name, const std::string& message) const {
    throw std::invalid_argument("[llama_config] " + source_ + ": field '" + prefix_ + name +
                                "': " + message);
  }

 private:
  [[noreturn]] std::int64_t missing(const std::string& name) const { fail(name, "is required"); }

  const nlohmann::json& json_;
  std::string source_;
  std::string prefix_;
  std::set<std::string> seen_;
};

// The architectures the adapter maps, with their model_type.
const std::map<std::string, std::string>& architectures() {
  static const std::map<std::string, std::string> kArchitectures = {
      {"LlamaForCausalLM", "llama"}, {"MistralForCausalLM", "mistral"}};
  return kArchitectures;
}

Activation parse_hidden_act(FieldReader& fields) {
  static const std::map<std::string, Activation> kActivations = {
      {"silu", Activation::silu},          {"swish", Activation::silu},
      {"gelu", Activation::gelu},          {"gelu_pytorch_tanh", Activation::gelu_tanh},
      {"gelu_new", Activation::gelu_tanh}, {"relu", Activation::relu}};
  const std::string name = fields.text("hidden_act", "silu");
  const auto it = kActivations.find(name);
  if (it == kActivations.end()) {
    fields.fail("hidden_act", "unsupported activation '" + name +
                                  "' (supported: silu, swish, gelu, gelu_pytorch_tanh, gelu_new, "
                                  "relu)");
  }
  return it->second;
}

// rope_scaling, read into `rope` (whose head_dim, theta and max_position_embeddings are set).
void read_rope_scaling(const nlohmann::json& scaling, const std::string& source, RopeSpec& rope) {
  FieldReader outer(nlohmann::json::object(), source, "");
  if (!scaling.is_object()) {
    outer.fail("rope_scaling", "expected an object or null, got " + scaling.dump());
  }
  FieldReader fields(scaling, source, "rope_scaling.");
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
    rope.original_max_position_embeddings = fields.integer("original_max_position_embeddings", 0);
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
    rope.original_max_position_embeddings = fields.integer("original_max_position_embeddings", 0);
    rope.attention_factor = fields.number("attention_factor", 0.0);
  } else {
    fields.fail(type_field, "unknown RoPE type '" + type +
                                "' (supported: default, linear, llama3, yarn, longrope; "
                                "'dynamic' changes with the sequence length and is not)");
  }
  fields.finish();
}

}  // namespace

LlamaConfig llama_config_from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) {
    throw std::invalid_argument("[llama_config] " + source + ": expected a JSON object");
  }
  FieldReader fields(json, source, "");
  LlamaConfig config;
  config.source = source;

  // Architecture and model type, which must agree.
  const nlohmann::json& listed =
      fields.has("architectures") ? fields.raw("architectures") : nlohmann::json::array();
  if (!listed.is_array() || listed.size() != 1 || !listed[0].is_string()) {
    fields.fail("architectures",
                "expected one architecture, e.g. [\"LlamaForCausalLM\"], got " + listed.dump());
  }
  config.architecture = listed[0].get<std::string>();
  const auto known = architectures().find(config.architecture);
  if (known == architectures().end()) {
    fields.fail("architectures", "unmapped architecture '" + config.architecture +
                                     "' (the Llama adapter maps LlamaForCausalLM and "
                                     "MistralForCausalLM)");
  }
  config.model_type = fields.text("model_type", known->second);
  if (config.model_type != known->second) {
    fields.fail("model_type", "'" + config.model_type + "' contradicts architecture " +
                                  config.architecture + " (model_type '" + known->second + "')");
  }
  if (fields.has("quantization_config")) {
    fields.fail("quantization_config", "quantized checkpoints are not supported");
  }

  // Dimensions.
  const std::int64_t hidden = fields.integer("hidden_size");
  const std::int64_t intermediate = fields.integer("intermediate_size");
  const std::int64_t layers = fields.integer("num_hidden_layers");
  const std::int64_t heads = fields.integer("num_attention_heads");
  const std::int64_t kv_heads = fields.integer("num_key_value_heads", heads);
  const std::int64_t vocab = fields.integer("vocab_size");
  for (const auto& [name, value] :
       {std::pair{"hidden_size", hidden}, std::pair{"intermediate_size", intermediate},
        std::pair{"num_hidden_layers", layers}, std::pair{"num_attention_heads", heads},
        std::pair{"num_key_value_heads", kv_heads}, std::pair{"vocab_size", vocab}}) {
    if (value <= 0) fields.fail(name, "must be > 0, got " + std::to_string(value));
  }
  if (heads % kv_heads != 0) {
    fields.fail(
        "num_key_value_heads",
        std::to_string(kv_heads) + " does not divide num_attention_heads " + std::to_string(heads));
  }
  if (!fields.has("head_dim") && hidden % heads != 0) {
    fields.fail("num_attention_heads", std::to_string(heads) + " does not divide hidden_size " +
                                           std::to_string(hidden) + " and head_dim is not given");
  }
  const std::int64_t head_dim = fields.integer("head_dim", hidden / heads);
  if (head_dim <= 0 || head_dim % 2 != 0) {
    fields.fail("head_dim",
                "must be even and > 0 (RoPE rotates pairs), got " + std::to_string(head_dim));
  }
  config.max_position_embeddings = fields.integer("max_position_embeddings", 2048);
  config.initializer_range = fields.number("initializer_range", 0.02);
  if (!(config.initializer_range >= 0.0)) {
    fields.fail("initializer_range", "must be >= 0");
  }
  const double eps = fields.number("rms_norm_eps", 1e-6);
  const bool attention_bias = fields.boolean("attention_bias", false);
  if (fields.boolean("mlp_bias", false)) {
    fields.fail("mlp_bias", "biases on the gated MLP are not supported by gated_mlp");
  }
  const Activation activation = parse_hidden_act(fields);
  const bool tied = fields.boolean("tie_word_embeddings", false);
  const double attention_dropout = fields.number("attention_dropout", 0.0);
  if (attention_dropout < 0.0 || attention_dropout >= 1.0) {
    fields.fail("attention_dropout", "must be in [0, 1) (inference ignores it)");
  }
  std::int64_t sliding_window = 0;
  if (config.model_type == "mistral") sliding_window = fields.integer("sliding_window", 0);

  // RoPE.
  RopeSpec rope;
  rope.head_dim = head_dim;
  rope.theta = fields.number("rope_theta", 10000.0);
  rope.max_position_embeddings = config.max_position_embeddings;
  const double partial = fields.number("partial_rotary_factor", 1.0);
  if (!(partial > 0.0 && partial <= 1.0)) {
    fields.fail("partial_rotary_factor", "must be in (0, 1]");
  }
  if (partial < 1.0)
    rope.rotary_dim = static_cast<std::int64_t>(static_cast<double>(head_dim) * partial);
  if (fields.has("rope_scaling")) read_rope_scaling(fields.raw("rope_scaling"), source, rope);
  fields.ignore({"rope_scaling", "bos_token_id", "eos_token_id", "pad_token_id", "torch_dtype",
                 "transformers_version", "use_cache", "pretraining_tp", "_name_or_path"});
  fields.finish();

  // The Spec.
  AttentionSpec attention;
  attention.hidden_dim = hidden;
  attention.num_heads = heads;
  attention.num_kv_heads = kv_heads;
  attention.head_dim = head_dim;
  attention.qkv_bias = attention_bias;
  attention.output_bias = attention_bias;
  attention.sliding_window = sliding_window;
  attention.positions = AttentionPositions::rope;
  attention.rope = rope;
  const RmsNormSpec norm{hidden, eps, false};

  DecoderLayerSpec layer;
  layer.attention_norm = norm;
  layer.attention = attention;
  layer.ffn_norm = norm;
  layer.ffn = GatedMlpSpec{hidden, intermediate, activation};

  CausalLmSpec& spec = config.spec;
  spec.embedding.vocab_size = vocab;
  spec.embedding.hidden_dim = hidden;
  spec.layers.assign(static_cast<std::size_t>(layers), layer);
  spec.norm = norm;
  spec.lm_head = LmHeadSpec{hidden, vocab, tied, 0.0};
  try {
    spec.validate();
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[llama_config] " + source + ": " + error.what());
  }
  return config;
}

LlamaConfig load_llama_config(const std::string& path) {
  nlohmann::json json;
  try {
    json = read_json_file(path);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[llama_config] " + std::string(error.what()));
  }
  return llama_config_from_json(json, path);
}

}  // namespace ttt::llama

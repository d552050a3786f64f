#include "coverage/catalog/catalog.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "blocks/attention/attention.h"
#include "blocks/common/device.h"
#include "blocks/embeddings/embedding.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"
#include "blocks/lm_head/lm_head.h"
#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"
#include "coverage/internal/block_facts.h"
#include "coverage/internal/catalog_data.h"
#include "validation/input/input_file.h"

namespace ttt {
namespace {

using coverage_detail::BlockFacts;
using coverage_detail::describe_block;

// Reads a model's config fields: every field must be read or knowingly ignored, so a typo or a
// field whose meaning the mapping does not know is an error rather than a silent default.
class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& config, std::string where)
      : config_(config), where_(std::move(where)) {
    if (!config_.is_object()) fail("", "expected a JSON object");
    // Fields of a released config.json that do not shape any block, so a whole file can be used.
    ignore({"_name_or_path", "architectures", "attention_dropout", "attention_probs_dropout_prob",
            "attn_pdrop", "bos_token_id", "embd_pdrop", "eos_token_id", "hidden_dropout",
            "hidden_dropout_prob", "initializer_range", "pad_token_id", "resid_pdrop",
            "torch_dtype", "transformers_version", "unk_token_id", "use_cache"});
  }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw std::invalid_argument(where_ + (field.empty() ? "" : ": field '" + field + "'") + ": " +
                                message);
  }
  // Present and not null.
  bool has(const std::string& field) {
    used_.insert(field);
    return config_.contains(field) && !config_.at(field).is_null();
  }
  std::int64_t integer(const std::string& field) {
    if (!has(field)) fail(field, "is required");
    const nlohmann::json& value = config_.at(field);
    if (!value.is_number_integer() || value.get<std::int64_t>() <= 0) {
      fail(field, "expected an integer > 0, got " + value.dump());
    }
    return value.get<std::int64_t>();
  }
  std::int64_t integer(const std::string& field, std::int64_t fallback) {
    return has(field) ? integer(field) : fallback;
  }
  double number(const std::string& field) {
    if (!has(field)) fail(field, "is required");
    const nlohmann::json& value = config_.at(field);
    if (!value.is_number()) fail(field, "expected a number, got " + value.dump());
    return value.get<double>();
  }
  double number(const std::string& field, double fallback) {
    return has(field) ? number(field) : fallback;
  }
  bool boolean(const std::string& field, bool fallback) {
    if (!has(field)) return fallback;
    const nlohmann::json& value = config_.at(field);
    if (!value.is_boolean()) fail(field, "expected true or false, got " + value.dump());
    return value.get<bool>();
  }
  std::string text(const std::string& field, const std::string& fallback) {
    if (!has(field)) return fallback;
    const nlohmann::json& value = config_.at(field);
    if (!value.is_string()) fail(field, "expected a string, got " + value.dump());
    return value.get<std::string>();
  }
  // An object field, or nullopt when absent or null.
  std::optional<nlohmann::json> object(const std::string& field) {
    if (!has(field)) return std::nullopt;
    const nlohmann::json& value = config_.at(field);
    if (!value.is_object()) fail(field, "expected an object or null, got " + value.dump());
    return value;
  }
  // A field whose value must be `expected` when present (a variant the mapping does not cover).
  void require_default(const std::string& field, bool expected) {
    if (boolean(field, expected) != expected) {
      fail(field, std::string("only ") + (expected ? "true" : "false") + " is supported");
    }
  }
  void ignore(std::initializer_list<const char*> fields) {
    for (const char* field : fields) used_.insert(field);
  }
  // Fails naming the first field neither read nor ignored.
  void finish() const {
    for (const auto& [key, value] : config_.items()) {
      if (used_.count(key) == 0)
        fail(key, "is not a field the " + architecture() + " mapping knows");
    }
  }
  std::string architecture() const {
    return config_.contains("model_type") && config_.at("model_type").is_string()
               ? config_.at("model_type").get<std::string>()
               : "?";
  }
  const std::string& where() const { return where_; }

 private:
  const nlohmann::json& config_;
  std::string where_;
  std::set<std::string> used_;
};

Activation activation_of(ConfigReader& config, const std::string& field,
                         const std::string& fallback) {
  const std::string name = config.text(field, fallback);
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return Activation::gelu_tanh;
  if (name == "gelu") return Activation::gelu;
  if (name == "relu") return Activation::relu;
  config.fail(field, "unsupported activation '" + name + "'");
}

// rope_scaling of a config (absent or null: none). `rope` already holds head_dim, theta and
// max_position_embeddings.
void read_rope_scaling(ConfigReader& config, RopeSpec& rope) {
  const std::optional<nlohmann::json> scaling = config.object("rope_scaling");
  if (!scaling.has_value()) return;
  ConfigReader fields(*scaling, config.where() + ": field 'rope_scaling'");
  const std::string type =
      fields.has("rope_type") ? fields.text("rope_type", "") : fields.text("type", "default");
  fields.ignore({"rope_type", "type"});
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
    rope.attention_factor = fields.number("attention_factor", 0.0);
  } else {
    fields.fail("rope_type", "unsupported RoPE scaling '" + type + "'");
  }
  fields.finish();
}

// Collects a model's configurations: every added Spec in every mode under every preset.
class ModelBuilder {
 public:
  explicit ModelBuilder(std::vector<Mode> modes) : modes_(std::move(modes)) {}

  // Adds a block that runs `count` times per forward.
  template <typename Spec>
  void add(const std::string& block, const Spec& spec, std::int64_t count) {
    nlohmann::json spec_json;
    to_json(spec_json, spec);
    for (const Mode mode : modes_) {
      std::set<std::string> counted;
      for (const auto& [preset_name, preset] : presets()) {
        nlohmann::json impl_json;
        if (preset.has_value()) {
          to_json(impl_json, default_impl_config(spec, Device::N150, mode, *preset));
        } else {
          to_json(impl_json, default_impl_config(spec, Device::N150, mode));
        }
        const std::string mode_text(mode_name(mode));
        const BlockFacts facts = describe_block(block, spec_json, impl_json, "N150", mode_text);
        if (!facts.known) {
          throw std::logic_error("[catalog] " + block +
                                 " spec derived from a config is invalid: " + facts.problem);
        }
        CatalogConfig candidate;
        candidate.block = block;
        candidate.mode = mode_text;
        candidate.identity = facts.identity;
        candidate.weight_dtype = facts.weight_dtype;
        const std::string key = candidate.key();
        auto it = std::find_if(configurations_.begin(), configurations_.end(),
                               [&](const CatalogConfig& c) { return c.key() == key; });
        if (it == configurations_.end()) {
          candidate.spec = facts.spec;
          candidate.impl_config = facts.impl_config;
          configurations_.push_back(std::move(candidate));
          it = configurations_.end() - 1;
        }
        if (std::find(it->presets.begin(), it->presets.end(), preset_name) == it->presets.end()) {
          it->presets.push_back(preset_name);
        }
        if (counted.insert(key).second) it->count += count;
      }
    }
  }

  std::vector<CatalogConfig> take() { return std::move(configurations_); }

 private:
  static const std::vector<std::pair<std::string, std::optional<Preset>>>& presets() {
    static const auto* all = new std::vector<std::pair<std::string, std::optional<Preset>>>{
        {"default", std::nullopt},
        {"accuracy", Preset::accuracy},
        {"performance", Preset::performance}};
    return *all;
  }

  std::vector<Mode> modes_;
  std::vector<CatalogConfig> configurations_;
};

const std::vector<Mode> kDecoderModes = {Mode::prefill, Mode::decode};

// Llama and the architectures that share its layout: llama, mistral, mixtral, qwen2, qwen3, phi3.
void derive_llama_like(ConfigReader& config, const std::string& type, CatalogModel& model) {
  config.ignore({"model_type"});
  const std::int64_t hidden = config.integer("hidden_size");
  const std::int64_t ffn = config.integer("intermediate_size");
  const std::int64_t layers = config.integer("num_hidden_layers");
  const std::int64_t heads = config.integer("num_attention_heads");
  const std::int64_t kv_heads = config.integer("num_key_value_heads", heads);
  if (!config.has("head_dim") && hidden % heads != 0) {
    config.fail("num_attention_heads", "does not divide hidden_size");
  }
  const std::int64_t head_dim = config.integer("head_dim", hidden / heads);
  const std::int64_t vocab = config.integer("vocab_size");
  const double eps = config.number("rms_norm_eps");
  const bool tied = config.boolean("tie_word_embeddings", false);
  const Activation activation = activation_of(config, "hidden_act", "silu");
  config.require_default("mlp_bias", false);

  AttentionSpec attention;
  attention.hidden_dim = hidden;
  attention.num_heads = heads;
  attention.num_kv_heads = kv_heads;
  attention.head_dim = head_dim;
  attention.qkv_bias = config.boolean("attention_bias", type == "qwen2");
  attention.qk_norm = type == "qwen3";
  if (attention.qk_norm) attention.qk_norm_eps = eps;
  attention.rope.head_dim = head_dim;
  attention.rope.theta = config.number("rope_theta", 10000.0);
  attention.rope.max_position_embeddings = config.integer("max_position_embeddings");
  read_rope_scaling(config, attention.rope);
  if (type == "mistral" || type == "mixtral" || type == "phi3") {
    attention.sliding_window = config.integer("sliding_window", 0);
  } else if (type == "qwen2" || type == "qwen3") {
    if (config.boolean("use_sliding_window", false)) {
      config.fail("use_sliding_window", "Qwen's per-layer sliding window is not mapped");
    }
    config.ignore({"sliding_window"});
  }
  if (type == "phi3") config.ignore({"original_max_position_embeddings"});

  ModelBuilder builder(kDecoderModes);
  builder.add("embedding", EmbeddingSpec{vocab, hidden, 1.0, PositionEmbedding::none, 0, 10000.0},
              1);
  builder.add("rms_norm", RmsNormSpec{hidden, eps, false}, 2 * layers + 1);
  builder.add("attention", attention, layers);
  if (type == "mixtral") {
    builder.add("moe",
                MoeSpec{hidden, ffn, config.integer("num_local_experts"),
                        config.integer("num_experts_per_tok"), activation},
                layers);
  } else {
    builder.add("gated_mlp", GatedMlpSpec{hidden, ffn, activation}, layers);
  }
  builder.add("lm_head", LmHeadSpec{hidden, vocab, tied, 0.0}, 1);
  model.configurations = builder.take();
}

void derive_gemma2(ConfigReader& config, CatalogModel& model) {
  config.ignore({"model_type"});
  const std::int64_t hidden = config.integer("hidden_size");
  const std::int64_t ffn = config.integer("intermediate_size");
  const std::int64_t layers = config.integer("num_hidden_layers");
  const std::int64_t heads = config.integer("num_attention_heads");
  const std::int64_t head_dim = config.integer("head_dim");
  const std::int64_t vocab = config.integer("vocab_size");
  const double eps = config.number("rms_norm_eps");
  // Hugging Face reads hidden_activation; older files only have hidden_act.
  const Activation activation =
      activation_of(config, config.has("hidden_activation") ? "hidden_activation" : "hidden_act",
                    "gelu_pytorch_tanh");
  config.ignore({"hidden_act"});
  config.require_default("attention_bias", false);

  AttentionSpec global;
  global.hidden_dim = hidden;
  global.num_heads = heads;
  global.num_kv_heads = config.integer("num_key_value_heads", heads);
  global.head_dim = head_dim;
  global.query_pre_attn_scalar =
      config.number("query_pre_attn_scalar", static_cast<double>(head_dim));
  global.logit_softcap = config.number("attn_logit_softcapping", 0.0);
  global.rope.head_dim = head_dim;
  global.rope.theta = config.number("rope_theta", 10000.0);
  global.rope.max_position_embeddings = config.integer("max_position_embeddings");
  read_rope_scaling(config, global.rope);
  AttentionSpec windowed = global;
  windowed.sliding_window = config.integer("sliding_window");

  const RmsNormSpec norm{hidden, eps, true};
  ModelBuilder builder(kDecoderModes);
  builder.add("embedding",
              EmbeddingSpec{vocab, hidden, std::sqrt(static_cast<double>(hidden)),
                            PositionEmbedding::none, 0, 10000.0},
              1);
  // Four norms per layer (input, post-attention, pre-FFN, post-FFN) and the final one.
  builder.add("rms_norm", norm, 4 * layers + 1);
  // Hugging Face's Gemma2DecoderLayer: even layers attend within the sliding window.
  builder.add("attention", windowed, (layers + 1) / 2);
  builder.add("attention", global, layers / 2);
  builder.add("gated_mlp", GatedMlpSpec{hidden, ffn, activation}, layers);
  builder.add("lm_head",
              LmHeadSpec{hidden, vocab, config.boolean("tie_word_embeddings", true),
                         config.number("final_logit_softcapping", 0.0)},
              1);
  model.configurations = builder.take();
}

void derive_gpt2(ConfigReader& config, CatalogModel& model) {
  config.ignore({"model_type"});
  const std::int64_t hidden = config.integer("n_embd");
  const std::int64_t layers = config.integer("n_layer");
  const std::int64_t heads = config.integer("n_head");
  if (hidden % heads != 0) config.fail("n_head", "does not divide n_embd");
  const std::int64_t vocab = config.integer("vocab_size");
  const double eps = config.number("layer_norm_epsilon");

  AttentionSpec attention;
  attention.hidden_dim = hidden;
  attention.num_heads = heads;
  attention.num_kv_heads = heads;
  attention.head_dim = hidden / heads;
  attention.qkv_bias = true;
  attention.output_bias = true;
  attention.positions = AttentionPositions::none;
  attention.rope.head_dim = hidden / heads;

  ModelBuilder builder(kDecoderModes);
  builder.add("embedding",
              EmbeddingSpec{vocab, hidden, 1.0, PositionEmbedding::learned,
                            config.integer("n_positions"), 10000.0},
              1);
  builder.add("layer_norm", LayerNormSpec{hidden, eps, true}, 2 * layers + 1);
  builder.add("attention", attention, layers);
  builder.add("mlp",
              MlpSpec{hidden, config.integer("n_inner", 4 * hidden),
                      activation_of(config, "activation_function", "gelu_new"), true},
              layers);
  builder.add("lm_head",
              LmHeadSpec{hidden, vocab, config.boolean("tie_word_embeddings", true), 0.0}, 1);
  model.configurations = builder.take();
}

void derive_bloom(ConfigReader& config, CatalogModel& model) {
  config.ignore({"model_type"});
  // BloomConfig accepts the older n_embed for hidden_size, and n_layer / n_head.
  const std::int64_t hidden =
      config.has("hidden_size") ? config.integer("hidden_size") : config.integer("n_embed");
  const std::int64_t layers =
      config.has("n_layer") ? config.integer("n_layer") : config.integer("num_hidden_layers");
  const std::int64_t heads =
      config.has("n_head") ? config.integer("n_head") : config.integer("num_attention_heads");
  if (hidden % heads != 0) config.fail("n_head", "does not divide hidden_size");
  const std::int64_t vocab = config.integer("vocab_size");
  const double eps = config.number("layer_norm_epsilon");
  // Post-layernorm residuals rewire the layer, not a block; only the released layout is mapped.
  config.require_default("apply_residual_connection_post_layernorm", false);

  AttentionSpec attention;
  attention.hidden_dim = hidden;
  attention.num_heads = heads;
  attention.num_kv_heads = heads;
  attention.head_dim = hidden / heads;
  attention.qkv_bias = true;
  attention.output_bias = true;
  attention.positions = AttentionPositions::alibi;
  attention.rope.head_dim = hidden / heads;

  ModelBuilder builder(kDecoderModes);
  builder.add("embedding", EmbeddingSpec{vocab, hidden, 1.0, PositionEmbedding::none, 0, 10000.0},
              1);
  // word_embeddings_layernorm, two per layer, and ln_f.
  builder.add("layer_norm", LayerNormSpec{hidden, eps, true}, 2 * layers + 2);
  builder.add("attention", attention, layers);
  builder.add("mlp", MlpSpec{hidden, 4 * hidden, Activation::gelu_tanh, true}, layers);
  builder.add("lm_head",
              LmHeadSpec{hidden, vocab, config.boolean("tie_word_embeddings", true), 0.0}, 1);
  model.configurations = builder.take();
}

void derive_bert(ConfigReader& config, CatalogModel& model) {
  config.ignore({"model_type"});
  const std::int64_t hidden = config.integer("hidden_size");
  const std::int64_t layers = config.integer("num_hidden_layers");
  const std::int64_t heads = config.integer("num_attention_heads");
  const std::int64_t vocab = config.integer("vocab_size");
  const double eps = config.number("layer_norm_eps");
  const std::string positions = config.text("position_embedding_type", "absolute");
  if (positions != "absolute") {
    config.fail("position_embedding_type",
                "only \"absolute\" is mapped, got \"" + positions + "\"");
  }
  const std::int64_t token_types = config.integer("type_vocab_size", 2);

  // An encoder runs whole sequences only.
  ModelBuilder builder({Mode::prefill});
  builder.add("embedding",
              EmbeddingSpec{vocab, hidden, 1.0, PositionEmbedding::learned,
                            config.integer("max_position_embeddings"), 10000.0},
              1);
  // The embedding LayerNorm and two per layer (after attention and after the MLP).
  builder.add("layer_norm", LayerNormSpec{hidden, eps, true}, 2 * layers + 1);
  builder.add("mlp",
              MlpSpec{hidden, config.integer("intermediate_size"),
                      activation_of(config, "hidden_act", "gelu"), true},
              layers);
  model.configurations = builder.take();
  model.unsupported = {
      "bidirectional (encoder) self-attention with " + std::to_string(heads) +
          " heads: the attention block is causal",
      "token type embeddings (type_vocab_size " + std::to_string(token_types) + ")",
      "masked-LM head: dense + GELU + LayerNorm transform, then the tied decoder with a bias"};
}

nlohmann::json parse_json_text(const std::string& text, const std::string& where) {
  try {
    return parse_json(text, where);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[catalog] " + std::string(error.what()));
  }
}

std::string read_file(const std::string& path) {
  try {
    require_regular_file(path);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[catalog] " + std::string(error.what()));
  }
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("[catalog] " + path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

// Sorted, without duplicates (same_value).
std::vector<nlohmann::json> sorted_values(std::vector<nlohmann::json> values) {
  std::sort(values.begin(), values.end(), coverage_detail::value_less);
  std::vector<nlohmann::json> unique;
  for (nlohmann::json& value : values) {
    if (unique.empty() || !coverage_detail::same_value(unique.back(), value)) {
      unique.push_back(std::move(value));
    }
  }
  return unique;
}

BlockDomain parse_domain(const std::string& block, const nlohmann::json& json,
                         const std::string& where, const std::vector<CatalogModel>& models) {
  const auto fail = [&](const std::string& path, const std::string& message) {
    throw std::invalid_argument("[catalog] " + where + ": " + path + ": " + message);
  };
  const std::string base = "/blocks/" + block;
  if (!json.is_object()) fail(base, "expected an object");
  for (const auto& [key, value] : json.items()) {
    if (key != "parameters" && key != "constraints") fail(base + "/" + key, "unknown field");
  }
  if (!json.contains("parameters") || !json.at("parameters").is_array()) {
    fail(base + "/parameters", "expected an array");
  }
  BlockDomain domain;
  domain.block = block;
  const nlohmann::json& parameters = json.at("parameters");
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const std::string path = base + "/parameters/" + std::to_string(i);
    const nlohmann::json& item = parameters[i];
    if (!item.is_object()) fail(path, "expected an object");
    for (const auto& [key, value] : item.items()) {
      if (key != "name" && key != "field" && key != "values" && key != "catalog" && key != "tway") {
        fail(path + "/" + key, "unknown field");
      }
    }
    DomainParameter parameter;
    if (!item.contains("name") || !item.at("name").is_string()) {
      fail(path + "/name", "expected a string");
    }
    parameter.name = item.at("name").get<std::string>();
    for (const DomainParameter& other : domain.parameters) {
      if (other.name == parameter.name) fail(path + "/name", "'" + parameter.name + "' repeats");
    }
    if (!item.contains("field") || !item.at("field").is_string() ||
        !coverage_detail::valid_field(item.at("field").get<std::string>())) {
      fail(path + "/field",
           "expected mode, device, batch, seq_len, weight_dtype, identity, spec.<path>, "
           "impl.<path> or derived.<name>");
    }
    parameter.field = item.at("field").get<std::string>();
    parameter.from_catalog = item.value("catalog", false);
    if (item.contains("tway")) {
      if (!item.at("tway").is_boolean()) fail(path + "/tway", "expected true or false");
      parameter.tway = item.at("tway").get<bool>();
    }
    if (parameter.from_catalog == item.contains("values")) {
      fail(path, "give exactly one of \"values\" and \"catalog\": true");
    }
    if (parameter.from_catalog) {
      for (const CatalogModel& model : models) {
        for (const CatalogConfig& config : model.configurations) {
          if (config.block != block) continue;
          const BlockFacts facts =
              describe_block(block, config.spec, config.impl_config, "N150", config.mode);
          coverage_detail::FieldContext context{&facts, config.mode, "", 0, 0};
          nlohmann::json value = coverage_detail::field_value(parameter.field, context);
          if (!value.is_null()) parameter.values.push_back(std::move(value));
        }
      }
    } else {
      const nlohmann::json& values = item.at("values");
      if (!values.is_array() || values.empty())
        fail(path + "/values", "expected a non-empty array");
      for (const nlohmann::json& value : values) {
        if (!value.is_primitive() || value.is_null()) {
          fail(path + "/values", "expected numbers, strings or booleans, got " + value.dump());
        }
        for (const nlohmann::json& earlier : parameter.values) {
          if (coverage_detail::same_value(earlier, value)) {
            fail(path + "/values", "value " + value.dump() + " repeats");
          }
        }
        parameter.values.push_back(value);
      }
    }
    // Declared values keep their order (prefill before decode); catalog values are sorted.
    if (parameter.from_catalog) parameter.values = sorted_values(std::move(parameter.values));
    domain.parameters.push_back(std::move(parameter));
  }
  const auto find_parameter = [&](const std::string& name) {
    return std::find_if(domain.parameters.begin(), domain.parameters.end(),
                        [&](const DomainParameter& p) { return p.name == name; });
  };
  if (json.contains("constraints")) {
    const nlohmann::json& constraints = json.at("constraints");
    if (!constraints.is_array()) fail(base + "/constraints", "expected an array");
    for (std::size_t i = 0; i < constraints.size(); ++i) {
      const std::string path = base + "/constraints/" + std::to_string(i);
      const nlohmann::json& item = constraints[i];
      if (!item.is_object() || item.size() != 2 || !item.contains("if") || !item.contains("then") ||
          !item.at("if").is_object() || item.at("if").size() != 1 || !item.at("then").is_object() ||
          item.at("then").size() != 1) {
        fail(path,
             "expected {\"if\": {\"<parameter>\": value}, \"then\": {\"<parameter>\": [values]}}");
      }
      DomainConstraint constraint;
      constraint.if_parameter = item.at("if").begin().key();
      constraint.if_value = item.at("if").begin().value();
      constraint.then_parameter = item.at("then").begin().key();
      for (const std::string& name : {constraint.if_parameter, constraint.then_parameter}) {
        if (find_parameter(name) == domain.parameters.end()) {
          fail(path, "names no parameter '" + name + "'");
        }
      }
      const nlohmann::json& allowed = item.at("then").begin().value();
      if (!allowed.is_array()) fail(path + "/then", "expected an array of values");
      for (const nlohmann::json& value : allowed) constraint.allowed.push_back(value);
      domain.constraints.push_back(std::move(constraint));
    }
  }
  return domain;
}

}  // namespace

std::string CatalogConfig::key() const {
  return block + "|" + mode + "|" + identity + "|" + weight_dtype;
}

const CatalogModel* Catalog::find_model(std::string_view name) const {
  const std::string wanted = lower(name);
  for (const CatalogModel& model : models) {
    if (lower(model.name) == wanted) return &model;
  }
  return nullptr;
}

CatalogModel derive_model(const std::string& name, const std::string& hf_id,
                          const nlohmann::json& config, const std::string& source) {
  ConfigReader reader(config, "[catalog] " + source + ": model '" + name + "'");
  CatalogModel model;
  model.name = name;
  model.hf_id = hf_id;
  model.config = config;
  model.architecture = reader.text("model_type", "");
  const std::string& type = model.architecture;
  if (type == "llama" || type == "mistral" || type == "mixtral" || type == "qwen2" ||
      type == "qwen3" || type == "phi3") {
    derive_llama_like(reader, type, model);
  } else if (type == "gemma2") {
    derive_gemma2(reader, model);
  } else if (type == "gpt2") {
    derive_gpt2(reader, model);
  } else if (type == "bloom") {
    derive_bloom(reader, model);
  } else if (type == "bert") {
    derive_bert(reader, model);
  } else {
    reader.fail("model_type", "unknown architecture '" + type +
                                  "' (known: llama, mistral, mixtral, qwen2, qwen3, phi3, "
                                  "gemma2, gpt2, bloom, bert)");
  }
  reader.finish();
  return model;
}

Catalog build_catalog(const nlohmann::json& models, const nlohmann::json& domains,
                      const std::string& source) {
  Catalog catalog;
  catalog.source = source;
  const std::string models_where = source + "/models.json";
  if (!models.is_object() || !models.contains("models") || !models.at("models").is_array()) {
    throw std::invalid_argument("[catalog] " + models_where + ": /models: expected an array");
  }
  const nlohmann::json& list = models.at("models");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = "/models/" + std::to_string(i);
    const nlohmann::json& item = list[i];
    if (!item.is_object() || !item.contains("name") || !item.at("name").is_string() ||
        !item.contains("config")) {
      throw std::invalid_argument("[catalog] " + models_where + ": " + path +
                                  ": expected {\"name\": ..., \"config\": {...}}");
    }
    const std::string name = item.at("name").get<std::string>();
    if (catalog.find_model(name) != nullptr) {
      throw std::invalid_argument("[catalog] " + models_where + ": " + path + ": model '" + name +
                                  "' repeats");
    }
    const std::string hf_id = item.contains("hf_id") && item.at("hf_id").is_string()
                                  ? item.at("hf_id").get<std::string>()
                                  : "";
    catalog.models.push_back(derive_model(name, hf_id, item.at("config"), models_where));
  }
  const std::string domains_where = source + "/domains.json";
  if (!domains.is_object() || !domains.contains("blocks") || !domains.at("blocks").is_object()) {
    throw std::invalid_argument("[catalog] " + domains_where + ": /blocks: expected an object");
  }
  for (const auto& [block, json] : domains.at("blocks").items()) {
    catalog.domains[block] = parse_domain(block, json, domains_where, catalog.models);
  }
  return catalog;
}

Catalog load_catalog(const std::string& directory) {
  const std::string models_path = directory + "/models.json";
  const std::string domains_path = directory + "/domains.json";
  const nlohmann::json models = parse_json_text(read_file(models_path), models_path);
  const nlohmann::json domains = parse_json_text(read_file(domains_path), domains_path);
  return build_catalog(models, domains, directory);
}

const Catalog& builtin_catalog() {
  static const Catalog* catalog = new Catalog(build_catalog(
      parse_json_text(coverage_detail::builtin_models_json(), "builtin models.json"),
      parse_json_text(coverage_detail::builtin_domains_json(), "builtin domains.json"), "builtin"));
  return *catalog;
}

}  // namespace ttt

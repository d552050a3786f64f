#include "models/model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <stdexcept>
#include <utility>

#include "models/llama/config.h"
#include "validation/tensor/fnv.h"
#include "validation/input/input_file.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

// Published config.json files (Hugging Face), as released.
struct CatalogEntry {
  std::string_view name;
  std::string_view config;
};

constexpr CatalogEntry kCatalog[] = {
    {"gemma-2-9b", R"json({
  "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2",
  "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "head_dim": 256,
  "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
  "hidden_size": 3584, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 8192, "num_attention_heads": 16, "num_hidden_layers": 42,
  "num_key_value_heads": 8, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06,
  "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": true,
  "vocab_size": 256000, "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, "cache_implementation": "hybrid",
  "torch_dtype": "float32", "transformers_version": "4.42.0.dev0", "use_cache": true})json"},
    {"gpt2", R"json({
  "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
  "attn_pdrop": 0.1, "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256,
  "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "n_ctx": 1024, "n_embd": 768,
  "n_head": 12, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1,
  "summary_activation": null, "summary_first_dropout": 0.1, "summary_proj_to_labels": true,
  "summary_type": "cls_index", "summary_use_proj": true,
  "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
  "vocab_size": 50257})json"},
    {"llama-3.1-70b", R"json({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 8192,
  "initializer_range": 0.02, "intermediate_size": 28672, "max_position_embeddings": 131072,
  "mlp_bias": false, "model_type": "llama", "num_attention_heads": 64, "num_hidden_layers": 80,
  "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256})json"},
    {"llama-3.1-8b", R"json({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 131072,
  "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256})json"},
    {"llama-3.2-1b", R"json({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256})json"},
    {"llama-3.2-3b", R"json({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 3072, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 24, "num_hidden_layers": 28, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256})json"},
    {"mistral-7b", R"json({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000})json"},
    {"mixtral-8x7b", R"json({
  "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
  "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mixtral",
  "num_attention_heads": 32, "num_experts_per_tok": 2, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "num_local_experts": 8, "output_router_logits": false,
  "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02,
  "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.36.0.dev0", "use_cache": true, "vocab_size": 32000})json"},
    {"qwen2.5-0.5b", R"json({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936})json"},
    {"qwen2.5-72b", R"json({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 8192, "initializer_range": 0.02,
  "intermediate_size": 29568, "max_position_embeddings": 131072, "max_window_layers": 80,
  "model_type": "qwen2", "num_attention_heads": 64, "num_hidden_layers": 80,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 131072, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 152064})json"},
    {"qwen2.5-7b", R"json({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02,
  "intermediate_size": 18944, "max_position_embeddings": 131072, "max_window_layers": 28,
  "model_type": "qwen2", "num_attention_heads": 28, "num_hidden_layers": 28,
  "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 131072, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 152064})json"},
};

// Reads a config.json's fields: every field must be mapped or knowingly ignored.
class ConfigFields {
 public:
  ConfigFields(const nlohmann::json& json, std::string source)
      : json_(json), source_(std::move(source)) {
    if (!json_.is_object()) fail("", "expected a JSON object");
  }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw std::invalid_argument("[model_config] " + source_ +
                                (field.empty() ? "" : ": field '" + field + "'") + ": " + message);
  }
  bool has(const std::string& field) const {
    return json_.contains(field) && !json_.at(field).is_null();
  }
  const nlohmann::json& raw(const std::string& field) {
    used_.insert(field);
    return json_.at(field);
  }
  std::int64_t integer(const std::string& field) {
    used_.insert(field);
    if (!has(field)) fail(field, "is required");
    const nlohmann::json& value = json_.at(field);
    if (!value.is_number_integer()) fail(field, "expected an integer, got " + value.dump());
    const std::int64_t result = value.get<std::int64_t>();
    if (result <= 0) fail(field, "must be > 0, got " + std::to_string(result));
    return result;
  }
  std::int64_t integer(const std::string& field, std::int64_t fallback) {
    used_.insert(field);
    return has(field) ? integer(field) : fallback;
  }
  double number(const std::string& field, double fallback) {
    used_.insert(field);
    if (!has(field)) return fallback;
    const nlohmann::json& value = json_.at(field);
    if (!value.is_number()) fail(field, "expected a number, got " + value.dump());
    return value.get<double>();
  }
  bool boolean(const std::string& field, bool fallback) {
    used_.insert(field);
    if (!has(field)) return fallback;
    const nlohmann::json& value = json_.at(field);
    if (!value.is_boolean()) fail(field, "expected a boolean, got " + value.dump());
    return value.get<bool>();
  }
  std::string text(const std::string& field, const std::string& fallback) {
    used_.insert(field);
    if (!has(field)) return fallback;
    const nlohmann::json& value = json_.at(field);
    if (!value.is_string()) fail(field, "expected a string, got " + value.dump());
    return value.get<std::string>();
  }
  // Marks fields that do not change inference (token ids, dropout, versions).
  void ignore(std::initializer_list<const char*> fields) {
    for (const char* field : fields) used_.insert(field);
  }
  // Fails naming the first field that was neither read nor ignored.
  void finish() const {
    for (const auto& [key, value] : json_.items()) {
      if (used_.count(key) == 0) fail(key, "is not a field this architecture's mapping knows");
    }
  }

 private:
  const nlohmann::json& json_;
  std::string source_;
  std::set<std::string> used_;
};

void ignore_common(ConfigFields& fields) {
  fields.ignore({"architectures", "model_type", "bos_token_id", "eos_token_id", "pad_token_id",
                 "torch_dtype", "transformers_version", "use_cache", "_name_or_path",
                 "attention_dropout", "initializer_range"});
}

Activation activation_of(ConfigFields& fields, const std::string& field,
                         const std::string& fallback) {
  const std::string name = fields.text(field, fallback);
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return Activation::gelu_tanh;
  if (name == "gelu") return Activation::gelu;
  if (name == "relu") return Activation::relu;
  fields.fail(field, "unsupported activation '" + name + "'");
}

// What the Llama-like architectures (qwen2, mixtral, gemma2) share.
struct LlamaLike {
  std::int64_t hidden = 0, ffn = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0,
               max_positions = 0;
  double eps = 1e-6, theta = 10000.0;
  bool tied = false;
};

LlamaLike read_llama_like(ConfigFields& fields, double default_eps, bool default_tied) {
  LlamaLike shape;
  shape.hidden = fields.integer("hidden_size");
  shape.ffn = fields.integer("intermediate_size");
  shape.layers = fields.integer("num_hidden_layers");
  shape.heads = fields.integer("num_attention_heads");
  shape.kv_heads = fields.integer("num_key_value_heads", shape.heads);
  if (shape.heads % shape.kv_heads != 0) {
    fields.fail("num_key_value_heads", std::to_string(shape.kv_heads) +
                                           " does not divide num_attention_heads " +
                                           std::to_string(shape.heads));
  }
  if (!fields.has("head_dim") && shape.hidden % shape.heads != 0) {
    fields.fail("num_attention_heads", "does not divide hidden_size");
  }
  shape.head_dim = fields.integer("head_dim", shape.hidden / shape.heads);
  shape.vocab = fields.integer("vocab_size");
  shape.max_positions = fields.integer("max_position_embeddings", 4096);
  shape.eps = fields.number("rms_norm_eps", default_eps);
  shape.theta = fields.number("rope_theta", 10000.0);
  shape.tied = fields.boolean("tie_word_embeddings", default_tied);
  if (fields.has("rope_scaling")) {
    fields.fail("rope_scaling", "RoPE scaling is mapped for llama and mistral only");
  }
  fields.ignore({"rope_scaling"});
  return shape;
}

AttentionSpec llama_like_attention(const LlamaLike& shape) {
  AttentionSpec attention;
  attention.hidden_dim = shape.hidden;
  attention.num_heads = shape.heads;
  attention.num_kv_heads = shape.kv_heads;
  attention.head_dim = shape.head_dim;
  attention.rope.head_dim = shape.head_dim;
  attention.rope.theta = shape.theta;
  attention.rope.max_position_embeddings = shape.max_positions;
  return attention;
}

CausalLmSpec llama_like_model(const LlamaLike& shape, const DecoderLayerSpec& layer,
                              const NormSpec& final_norm) {
  CausalLmSpec spec;
  spec.embedding.vocab_size = shape.vocab;
  spec.embedding.hidden_dim = shape.hidden;
  spec.layers.assign(static_cast<std::size_t>(shape.layers), layer);
  spec.norm = final_norm;
  spec.lm_head = LmHeadSpec{shape.hidden, shape.vocab, shape.tied, 0.0};
  return spec;
}

CausalLmSpec qwen2_spec(ConfigFields& fields) {
  const LlamaLike shape = read_llama_like(fields, 1e-6, false);
  if (fields.boolean("use_sliding_window", false)) {
    fields.fail("use_sliding_window", "Qwen2's per-layer sliding window is not mapped");
  }
  fields.ignore({"sliding_window", "max_window_layers"});
  DecoderLayerSpec layer;
  const RmsNormSpec norm{shape.hidden, shape.eps, false};
  layer.attention_norm = norm;
  layer.attention = llama_like_attention(shape);
  layer.attention.qkv_bias = true;
  layer.ffn_norm = norm;
  layer.ffn = GatedMlpSpec{shape.hidden, shape.ffn, activation_of(fields, "hidden_act", "silu")};
  return llama_like_model(shape, layer, norm);
}

CausalLmSpec mixtral_spec(ConfigFields& fields) {
  const LlamaLike shape = read_llama_like(fields, 1e-5, false);
  DecoderLayerSpec layer;
  const RmsNormSpec norm{shape.hidden, shape.eps, false};
  layer.attention_norm = norm;
  layer.attention = llama_like_attention(shape);
  if (fields.has("sliding_window"))
    layer.attention.sliding_window = fields.integer("sliding_window");
  fields.ignore(
      {"sliding_window", "output_router_logits", "router_aux_loss_coef", "router_jitter_noise"});
  layer.ffn_norm = norm;
  layer.ffn =
      MoeSpec{shape.hidden, shape.ffn, fields.integer("num_local_experts"),
              fields.integer("num_experts_per_tok"), activation_of(fields, "hidden_act", "silu")};
  return llama_like_model(shape, layer, norm);
}

CausalLmSpec gemma2_spec(ConfigFields& fields) {
  const LlamaLike shape = read_llama_like(fields, 1e-6, true);
  // Hugging Face reads hidden_activation; older files only have hidden_act.
  const std::string activation_field =
      fields.has("hidden_activation") ? "hidden_activation" : "hidden_act";
  const Activation activation = activation_of(fields, activation_field, "gelu_pytorch_tanh");
  fields.ignore({"hidden_act", "hidden_activation", "cache_implementation"});
  if (fields.boolean("attention_bias", false)) {
    fields.fail("attention_bias", "Gemma-2 with attention biases is not mapped");
  }
  const RmsNormSpec norm{shape.hidden, shape.eps, true};
  DecoderLayerSpec layer;
  layer.attention_norm = norm;
  layer.attention = llama_like_attention(shape);
  layer.attention.query_pre_attn_scalar =
      fields.number("query_pre_attn_scalar", static_cast<double>(shape.head_dim));
  layer.attention.logit_softcap = fields.number("attn_logit_softcapping", 0.0);
  layer.post_attention_norm = norm;
  layer.ffn_norm = norm;
  layer.ffn = GatedMlpSpec{shape.hidden, shape.ffn, activation};
  layer.post_ffn_norm = norm;
  CausalLmSpec spec = llama_like_model(shape, layer, norm);
  spec.embedding.scale = std::sqrt(static_cast<double>(shape.hidden));
  spec.lm_head.logit_softcap = fields.number("final_logit_softcapping", 0.0);
  // Hugging Face's Gemma2DecoderLayer: even layers attend within the sliding window.
  const std::int64_t window = fields.integer("sliding_window", 4096);
  for (std::size_t i = 0; i < spec.layers.size(); i += 2) {
    spec.layers[i].attention.sliding_window = window;
  }
  return spec;
}

CausalLmSpec gpt2_spec(ConfigFields& fields) {
  const std::int64_t hidden = fields.integer("n_embd");
  const std::int64_t layers = fields.integer("n_layer");
  const std::int64_t heads = fields.integer("n_head");
  if (hidden % heads != 0) fields.fail("n_head", "does not divide n_embd");
  const std::int64_t positions = fields.integer("n_positions", 1024);
  const std::int64_t vocab = fields.integer("vocab_size");
  const std::int64_t inner = fields.integer("n_inner", 4 * hidden);
  const double eps = fields.number("layer_norm_epsilon", 1e-5);
  const Activation activation = activation_of(fields, "activation_function", "gelu_new");
  fields.ignore({"n_ctx", "attn_pdrop", "embd_pdrop", "resid_pdrop", "summary_activation",
                 "summary_first_dropout", "summary_proj_to_labels", "summary_type",
                 "summary_use_proj", "task_specific_params", "scale_attn_weights",
                 "reorder_and_upcast_attn", "scale_attn_by_inverse_layer_idx"});
  const LayerNormSpec norm{hidden, eps, true};
  DecoderLayerSpec layer;
  layer.attention_norm = norm;
  layer.attention.hidden_dim = hidden;
  layer.attention.num_heads = heads;
  layer.attention.num_kv_heads = heads;
  layer.attention.head_dim = hidden / heads;
  layer.attention.qkv_bias = true;
  layer.attention.output_bias = true;
  layer.attention.positions = AttentionPositions::none;
  layer.attention.rope.head_dim = hidden / heads;
  layer.ffn_norm = norm;
  layer.ffn = MlpSpec{hidden, inner, activation, true};
  CausalLmSpec spec;
  spec.embedding.vocab_size = vocab;
  spec.embedding.hidden_dim = hidden;
  spec.embedding.positions = PositionEmbedding::learned;
  spec.embedding.max_positions = positions;
  spec.layers.assign(static_cast<std::size_t>(layers), layer);
  spec.norm = norm;
  spec.lm_head = LmHeadSpec{hidden, vocab, true, 0.0};
  return spec;
}

// Draws one seeded tensor when loaded.
WeightSource seeded(const std::string& path, Shape shape, double mean, double stddev,
                    std::uint64_t seed) {
  const std::uint64_t tensor_seed = fnv1a64(path) ^ seed;
  return WeightSource(shape, [shape, tensor_seed, mean, stddev] {
    return random_normal(shape, tensor_seed, mean, stddev);
  });
}

NormWeights seeded_norm(const NormSpec& spec, const std::string& path, double stddev,
                        std::uint64_t seed) {
  NormWeights weights;
  if (const auto* rms = std::get_if<RmsNormSpec>(&spec)) {
    weights.weight =
        seeded(path + ".weight", {rms->dim}, rms->add_unit_offset ? 0.0 : 1.0, stddev, seed);
  } else {
    const auto& layer_norm = std::get<LayerNormSpec>(spec);
    weights.weight = seeded(path + ".weight", {layer_norm.dim}, 1.0, stddev, seed);
    if (layer_norm.bias) {
      weights.bias = seeded(path + ".bias", {layer_norm.dim}, 0.0, stddev, seed);
    }
  }
  return weights;
}

GatedMlpWeights seeded_gated(const std::string& path, std::int64_t hidden, std::int64_t ffn,
                             double stddev, std::uint64_t seed) {
  return {seeded(path + ".w_gate", {hidden, ffn}, 0.0, stddev, seed),
          seeded(path + ".w_up", {hidden, ffn}, 0.0, stddev, seed),
          seeded(path + ".w_down", {ffn, hidden}, 0.0, stddev, seed)};
}

FfnWeights seeded_ffn(const FfnSpec& spec, const std::string& path, double stddev,
                      std::uint64_t seed) {
  if (const auto* gated = std::get_if<GatedMlpSpec>(&spec)) {
    return seeded_gated(path, gated->hidden_dim, gated->ffn_dim, stddev, seed);
  }
  if (const auto* mlp = std::get_if<MlpSpec>(&spec)) {
    MlpWeights weights{seeded(path + ".w_up", {mlp->hidden_dim, mlp->ffn_dim}, 0.0, stddev, seed),
                       seeded(path + ".w_down", {mlp->ffn_dim, mlp->hidden_dim}, 0.0, stddev, seed),
                       WeightSource(), WeightSource()};
    if (mlp->bias) {
      weights.b_up = seeded(path + ".b_up", {mlp->ffn_dim}, 0.0, stddev, seed);
      weights.b_down = seeded(path + ".b_down", {mlp->hidden_dim}, 0.0, stddev, seed);
    }
    return weights;
  }
  const auto& moe = std::get<MoeSpec>(spec);
  MoeWeights weights;
  weights.router = seeded(path + ".router", {moe.hidden_dim, moe.num_experts}, 0.0, stddev, seed);
  for (std::int64_t e = 0; e < moe.num_experts; ++e) {
    weights.experts.push_back(seeded_gated(path + ".expert" + std::to_string(e), moe.hidden_dim,
                                           moe.ffn_dim, stddev, seed));
  }
  return weights;
}

AttentionWeights seeded_attention(const AttentionSpec& spec, const std::string& path, double stddev,
                                  std::uint64_t seed) {
  const std::int64_t q = spec.num_heads * spec.dim_per_head();
  const std::int64_t kv = spec.kv_heads() * spec.dim_per_head();
  AttentionWeights weights;
  weights.wq = seeded(path + ".wq", {spec.hidden_dim, q}, 0.0, stddev, seed);
  weights.wk = seeded(path + ".wk", {spec.hidden_dim, kv}, 0.0, stddev, seed);
  weights.wv = seeded(path + ".wv", {spec.hidden_dim, kv}, 0.0, stddev, seed);
  weights.wo = seeded(path + ".wo", {q, spec.hidden_dim}, 0.0, stddev, seed);
  if (spec.qkv_bias) {
    weights.bq = seeded(path + ".bq", {q}, 0.0, stddev, seed);
    weights.bk = seeded(path + ".bk", {kv}, 0.0, stddev, seed);
    weights.bv = seeded(path + ".bv", {kv}, 0.0, stddev, seed);
  }
  if (spec.output_bias) weights.bo = seeded(path + ".bo", {spec.hidden_dim}, 0.0, stddev, seed);
  if (spec.qk_norm) {
    weights.q_norm = seeded(path + ".q_norm", {spec.dim_per_head()}, 1.0, stddev, seed);
    weights.k_norm = seeded(path + ".k_norm", {spec.dim_per_head()}, 1.0, stddev, seed);
  }
  return weights;
}

}  // namespace

std::vector<std::string> catalog_model_names() {
  std::vector<std::string> names;
  for (const CatalogEntry& entry : kCatalog) names.emplace_back(entry.name);
  std::sort(names.begin(), names.end());
  return names;
}

bool is_catalog_model(std::string_view name) {
  for (const CatalogEntry& entry : kCatalog) {
    if (entry.name == name) return true;
  }
  return false;
}

nlohmann::json catalog_config(std::string_view name) {
  for (const CatalogEntry& entry : kCatalog) {
    if (entry.name == name) return nlohmann::json::parse(entry.config);
  }
  std::string names;
  for (const std::string& known : catalog_model_names())
    names += (names.empty() ? "" : ", ") + known;
  throw std::invalid_argument("[model_catalog] unknown model '" + std::string(name) +
                              "' (catalog: " + names + ")");
}

ModelDefinition model_from_config(const nlohmann::json& config, const std::string& source) {
  ModelDefinition model;
  model.name = source;
  model.config = config;
  if (!config.is_object()) {
    throw std::invalid_argument("[model_config] " + source + ": expected a JSON object");
  }
  std::string type = config.contains("model_type") && config.at("model_type").is_string()
                         ? config.at("model_type").get<std::string>()
                         : "";
  if (type.empty() && config.contains("architectures") && config.at("architectures").is_array() &&
      !config.at("architectures").empty()) {
    const std::string architecture = config.at("architectures").front().get<std::string>();
    if (architecture == "LlamaForCausalLM") type = "llama";
    if (architecture == "MistralForCausalLM") type = "mistral";
  }
  model.architecture = type;
  if (type == "llama" || type == "mistral") {
    const llama::LlamaConfig llama = llama::llama_config_from_json(config, source);
    model.spec = llama.spec;
    model.initializer_range = llama.initializer_range;
  } else {
    ConfigFields fields(config, source);
    ignore_common(fields);
    if (type == "qwen2") {
      model.spec = qwen2_spec(fields);
    } else if (type == "mixtral") {
      model.spec = mixtral_spec(fields);
    } else if (type == "gemma2") {
      model.spec = gemma2_spec(fields);
    } else if (type == "gpt2") {
      model.spec = gpt2_spec(fields);
    } else {
      fields.fail("model_type", "unmapped architecture '" + type +
                                    "' (mapped: llama, mistral, qwen2, mixtral, gemma2, gpt2)");
    }
    model.initializer_range = fields.number("initializer_range", 0.02);
    fields.finish();
  }
  try {
    model.spec.validate();
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[model_config] " + source + ": " + error.what());
  }
  return model;
}

ModelDefinition load_model(const std::string& name_or_path) {
  if (is_catalog_model(name_or_path)) {
    ModelDefinition model = model_from_config(catalog_config(name_or_path), name_or_path);
    model.name = name_or_path;
    return model;
  }
  require_regular_file(name_or_path);
  std::ifstream in(name_or_path);
  if (!in) {
    std::string names;
    for (const std::string& known : catalog_model_names()) {
      names += (names.empty() ? "" : ", ") + known;
    }
    throw std::invalid_argument("[model_catalog] '" + name_or_path +
                                "' is neither a catalog model (" + names +
                                ") nor a readable config.json");
  }
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json config;
  try {
    config = parse_json(text.str(), name_or_path);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument("[model_config] " + std::string(error.what()));
  }
  return model_from_config(config, name_or_path);
}

CausalLmSpec slice_spec(const CausalLmSpec& spec, std::int64_t layers, std::int64_t vocab_size) {
  if (layers < 1 || layers > static_cast<std::int64_t>(spec.layers.size())) {
    throw std::invalid_argument("[slice_spec] layers must be in [1, " +
                                std::to_string(spec.layers.size()) + "], got " +
                                std::to_string(layers));
  }
  if (vocab_size < 0) {
    throw std::invalid_argument("[slice_spec] vocab_size must be >= 1, got " +
                                std::to_string(vocab_size));
  }
  CausalLmSpec slice = spec;
  slice.layers.resize(static_cast<std::size_t>(layers));
  if (vocab_size > 0) {
    slice.embedding.vocab_size = vocab_size;
    slice.lm_head.vocab_size = vocab_size;
  }
  return slice;
}

CausalLmWeights seeded_model_weights(const CausalLmSpec& spec, double stddev, std::uint64_t seed) {
  CausalLmWeights weights;
  weights.token_embedding =
      seeded("embedding.token_weight", {spec.embedding.vocab_size, spec.embedding.hidden_dim}, 0.0,
             stddev, seed);
  if (spec.embedding.positions == PositionEmbedding::learned) {
    weights.position_embedding =
        seeded("embedding.position_weight",
               {spec.embedding.max_positions, spec.embedding.hidden_dim}, 0.0, stddev, seed);
  }
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const DecoderLayerSpec& layer = spec.layers[i];
    const std::string path = "layers." + std::to_string(i);
    DecoderLayerWeights layer_weights;
    layer_weights.attention_norm =
        seeded_norm(layer.attention_norm, path + ".attention_norm", stddev, seed);
    layer_weights.attention = seeded_attention(layer.attention, path + ".attention", stddev, seed);
    if (layer.post_attention_norm) {
      layer_weights.post_attention_norm =
          seeded_norm(*layer.post_attention_norm, path + ".post_attention_norm", stddev, seed);
    }
    layer_weights.ffn_norm = seeded_norm(layer.ffn_norm, path + ".ffn_norm", stddev, seed);
    layer_weights.ffn = seeded_ffn(layer.ffn, path + ".ffn", stddev, seed);
    if (layer.post_ffn_norm) {
      layer_weights.post_ffn_norm =
          seeded_norm(*layer.post_ffn_norm, path + ".post_ffn_norm", stddev, seed);
    }
    weights.layers.push_back(std::move(layer_weights));
  }
  weights.norm = seeded_norm(spec.norm, "norm", stddev, seed);
  if (!spec.lm_head.tied_embeddings) {
    weights.lm_head = seeded("lm_head.weight", {spec.lm_head.hidden_dim, spec.lm_head.vocab_size},
                             0.0, stddev, seed);
  }
  return weights;
}

}  // namespace ttt

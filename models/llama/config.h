// A Hugging Face config.json of the Llama family (model_type llama or mistral) read into the
// causal LM's Spec through the one config.json reader and its mappings
// (models/architectures/llama.json, mistral.json; docs/models.md has the format).
//
// Every field of the file must be one the mapping reads, ignores or refuses: an unmapped
// architecture, an unknown field, a value the blocks cannot compute (mlp_bias, a "dynamic" RoPE
// scaling, a quantization_config) and contradictory fields (model_type vs architectures,
// rope_scaling "type" vs "rope_type", heads that do not divide) are errors naming the file and the
// field's JSON Pointer: "config.json: /rope_scaling/rope_type: unknown RoPE type 'dynamic' (...)".
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "patterns/causal_lm.h"

namespace ttt::llama {

// What the adapter read from a config.json.
struct LlamaConfig {
  // The causal LM: token embedding, num_hidden_layers pre-norm layers (RMSNorm, attention with
  // RoPE, SwiGLU), final RMSNorm, LM head (tied to the embedding with tie_word_embeddings).
  CausalLmSpec spec;
  std::string architecture;  // "LlamaForCausalLM" or "MistralForCausalLM".
  std::string model_type;    // "llama" or "mistral".
  // initializer_range: the standard deviation of seeded weights. Default: 0.02 (Hugging Face's).
  double initializer_range = 0.02;
  // max_position_embeddings: the longest sequence the model was configured for.
  std::int64_t max_position_embeddings = 0;
  std::string source;  // The file it came from (for messages), e.g. "config.json".
};

// Reads a parsed config.json; `source` names it in errors. Throws std::invalid_argument as above,
// and for a config.json of another architecture (which model_from_config reads).
LlamaConfig llama_config_from_json(const nlohmann::json& json, const std::string& source);

// Reads the config.json at `path`. Throws std::invalid_argument naming the file when it cannot be
// read or is not JSON, and as llama_config_from_json otherwise.
LlamaConfig load_llama_config(const std::string& path);

}  // namespace ttt::llama

// A Llama-family config.json small enough for quick CLI runs (`ttt demo --config`): 2 layers,
// hidden 128, 4 query and 2 key/value heads of 32, ffn 256, vocab 512, tied embeddings.
#pragma once

#include <nlohmann/json.hpp>

namespace ttt::cli_test {

inline nlohmann::json small_llama_config() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", 128},
          {"intermediate_size", 256},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"vocab_size", 512},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 500000.0},
          {"max_position_embeddings", 64},
          {"tie_word_embeddings", true}};
}

}  // namespace ttt::cli_test

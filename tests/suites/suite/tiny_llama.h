// The Llama-shaped model the suites tests run: Llama-3.2-1B's config with 2 layers, hidden 64,
// 4 query and 2 key/value heads of 16, ffn 128, so every case runs in milliseconds.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "models/model.h"

namespace ttt::suites_test {

// Its config.json, with a vocabulary of `vocab_size` tokens.
inline nlohmann::json tiny_llama_config(std::int64_t vocab_size) {
  nlohmann::json config = catalog_config("llama-3.2-1b");
  config["hidden_size"] = 64;
  config["intermediate_size"] = 128;
  config["num_attention_heads"] = 4;
  config["num_key_value_heads"] = 2;
  config["head_dim"] = 16;
  config["num_hidden_layers"] = 2;
  config["vocab_size"] = vocab_size;
  return config;
}

}  // namespace ttt::suites_test

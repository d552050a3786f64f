#include "models/llama/config.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "models/model.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"

namespace ttt::llama {

LlamaConfig llama_config_from_json(const nlohmann::json& json, const std::string& source) {
  const ModelDefinition model = model_from_config(json, source);
  if (model.architecture != "llama" && model.architecture != "mistral") {
    JsonNode(json, source)
        .fail_at("model_type",
                 "'" + model.architecture + "' is not of the Llama family (llama, mistral)");
  }
  LlamaConfig config;
  config.spec = model.spec;
  config.architecture = json.at("architectures").at(0).get<std::string>();
  config.model_type = model.architecture;
  config.initializer_range = model.initializer_range;
  config.max_position_embeddings = model.spec.layers.front().attention.rope.max_position_embeddings;
  config.source = source;
  return config;
}

LlamaConfig load_llama_config(const std::string& path) {
  return llama_config_from_json(read_json_file(path), path);
}

}  // namespace ttt::llama

// The mapping files themselves: every shipped one parses, and a malformed one is refused naming
// the file and the key (models/internal/architecture.h, docs/models.md "Adding a model").
#include "models/internal/architecture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace ttt::models_detail {
namespace {

using ::testing::ThrowsMessage;

nlohmann::json minimal_mapping() {
  return nlohmann::json::parse(R"({
    "model_type": "tiny", "architectures": ["TinyForCausalLM"],
    "fields": {"hidden_size": "hidden", "intermediate_size": "ffn_dim", "n_layer": "layers",
               "n_head": "heads", "vocab_size": "vocab", "eps": "norm_eps"},
    "constants": {"norm": "rms_norm", "ffn": "gated_mlp", "activation": "silu"}})");
}

std::string error_of(const nlohmann::json& mapping) {
  try {
    parse_architecture(mapping, "tiny.json");
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no error";
}

TEST(Architecture, TheShippedMappingsParse) {
  std::string types;
  for (const Architecture& architecture : architectures()) {
    types += architecture.model_type + " ";
  }
  EXPECT_EQ(types, "bloom gemma2 gpt2 llama mistral mixtral phi3 qwen2 qwen3 stablelm ");
}

TEST(Architecture, RefusesMalformedMappingsNamingTheKey) {
  EXPECT_EQ(error_of(minimal_mapping()), "no error");
  nlohmann::json mapping = minimal_mapping();
  mapping["fieldz"] = nlohmann::json::object();
  EXPECT_EQ(
      error_of(mapping),
      "tiny.json: /fieldz: unknown field 'fieldz' (expected one of: model_type, "
      "architectures, description, fields, constants, ignored, refused, unsupported, weights, "
      "base_model_prefix)");
  mapping = minimal_mapping();
  mapping["fields"]["d"] = "hiden";
  EXPECT_EQ(error_of(mapping),
            "tiny.json: /fields/d: unknown setting 'hiden' (docs/models.md lists "
            "them)");
  mapping = minimal_mapping();
  mapping["constants"]["hidden"] = 64;
  EXPECT_EQ(error_of(mapping),
            "tiny.json: /constants/hidden: setting 'hidden' is already set by "
            "/fields/hidden_size");
  mapping = minimal_mapping();
  mapping["constants"].erase("norm");
  EXPECT_EQ(error_of(mapping),
            "tiny.json: /fields: no field or constant sets the required setting "
            "'norm'");
  mapping = minimal_mapping();
  mapping["constants"]["norm"] = "batch_norm";
  EXPECT_EQ(error_of(mapping),
            "tiny.json: /constants/norm: \"batch_norm\" is not a value of setting "
            "'norm' (one of rms_norm, layer_norm)");
  mapping = minimal_mapping();
  mapping["fields"]["n_head"] = {{"sets", "heads"}, {"default", true}};
  EXPECT_EQ(error_of(mapping),
            "tiny.json: /fields/n_head/default: true is not a value of setting "
            "'heads' (an integer > 0 or an expression)");
  mapping = minimal_mapping();
  mapping["refused"] = {{"x", {{"accepts", false}}}};
  EXPECT_EQ(error_of(mapping), "tiny.json: /refused/x: missing field 'needs'");
  mapping = minimal_mapping();
  mapping.erase("model_type");
  EXPECT_EQ(error_of(mapping), "tiny.json: /: missing field 'model_type'");
  mapping = minimal_mapping();
  mapping["architectures"] = {"TinyForCausalLM", 3};
  EXPECT_EQ(error_of(mapping), "tiny.json: /architectures/1: expected a string, got 3");
  mapping = minimal_mapping();
  mapping["fields"]["n_head"] = {{"sets", "heads"}, {"defualt", 4}};
  EXPECT_EQ(error_of(mapping),
            "tiny.json: /fields/n_head/defualt: unknown field 'defualt' (expected one of: sets, "
            "default, or)");
  mapping = minimal_mapping();
  mapping["constants"] = {"norm", "rms_norm"};
  EXPECT_EQ(error_of(mapping),
            "tiny.json: /constants: expected an object, got [\"norm\",\"rms_norm\"]");
}

TEST(Architecture, ReadsAConfigThroughAMapping) {
  const Architecture tiny = parse_architecture(minimal_mapping(), "tiny.json");
  const nlohmann::json config = {{"hidden_size", 64}, {"intermediate_size", 128}, {"n_layer", 2},
                                 {"n_head", 4},       {"vocab_size", 100},        {"eps", 1e-5}};
  const ModelDefinition model = read_config(tiny, JsonNode(config, "c.json"));
  EXPECT_EQ(model.spec.layers.size(), 2u);
  EXPECT_EQ(model.spec.layers[0].attention.head_dim, 16);  // The fallback: hidden / heads.
  EXPECT_EQ(model.spec.layers[0].attention.num_kv_heads, 4);
  EXPECT_EQ(std::get<GatedMlpSpec>(model.spec.layers[0].ffn),
            (GatedMlpSpec{64, 128, Activation::silu}));
  nlohmann::json unknown = config;
  unknown["n_embd"] = 64;
  EXPECT_THAT([&] { read_config(tiny, JsonNode(unknown, "c.json")); },
              ThrowsMessage<std::invalid_argument>(
                  "c.json: /n_embd: unknown field 'n_embd' (the tiny mapping, tiny.json, neither "
                  "reads, ignores nor refuses it)"));
}

// A mapping with "unsupported" reads the config.json (a typo is named first), then refuses the
// whole architecture naming the feature and the mapping file. No shipped mapping needs it now that
// BLOOM's embedding LayerNorm is embedding_norm.
TEST(Architecture, AnUnsupportedArchitectureIsRefusedAfterItsFieldsAreRead) {
  nlohmann::json mapping = minimal_mapping();
  mapping["unsupported"] = "a bidirectional attention, which no TTTv2 pattern expresses";
  const Architecture tiny = parse_architecture(mapping, "tiny.json");
  nlohmann::json config = {{"hidden_size", 64}, {"intermediate_size", 128}, {"n_layer", 2},
                           {"n_head", 4},       {"vocab_size", 100},        {"eps", 1e-5}};
  EXPECT_THAT([&] { read_config(tiny, JsonNode(config, "c.json")); },
              ThrowsMessage<std::invalid_argument>(
                  "c.json: /model_type: 'tiny' needs a bidirectional attention, which no TTTv2 "
                  "pattern expresses (tiny.json)"));
  config["n_heads"] = 4;
  EXPECT_THAT([&] { read_config(tiny, JsonNode(config, "c.json")); },
              ThrowsMessage<std::invalid_argument>(
                  ::testing::HasSubstr("c.json: /n_heads: unknown field 'n_heads'")));
}

// A mapping may add the layers' norm on the token embeddings (BLOOM's word_embeddings_layernorm).
TEST(Architecture, EmbeddingNormIsTheLayersNormOnTheEmbeddings) {
  nlohmann::json mapping = minimal_mapping();
  mapping["constants"]["embedding_norm"] = true;
  const Architecture tiny = parse_architecture(mapping, "tiny.json");
  const nlohmann::json config = {{"hidden_size", 64}, {"intermediate_size", 128}, {"n_layer", 2},
                                 {"n_head", 4},       {"vocab_size", 100},        {"eps", 1e-6}};
  const ModelDefinition model = read_config(tiny, JsonNode(config, "c.json"));
  ASSERT_TRUE(model.spec.embedding_norm.has_value());
  EXPECT_EQ(std::get<RmsNormSpec>(*model.spec.embedding_norm), (RmsNormSpec{64, 1e-6, false}));
  EXPECT_FALSE(
      read_config(parse_architecture(minimal_mapping(), "tiny.json"), JsonNode(config, "c.json"))
          .spec.embedding_norm.has_value());
  mapping["constants"]["embedding_norm"] = "layer_norm";
  EXPECT_EQ(error_of(mapping),
            "tiny.json: /constants/embedding_norm: \"layer_norm\" is not a value of setting "
            "'embedding_norm' (true or false)");
}

// Defaults that refer to each other cannot be resolved: the mapping file is named, not looped.
TEST(Architecture, RefusesDefaultsThatReferToEachOther) {
  nlohmann::json mapping = minimal_mapping();
  mapping["fields"]["n_head"] = {{"sets", "heads"}, {"default", "kv_heads"}};
  mapping["fields"]["n_kv"] = {{"sets", "kv_heads"}, {"default", "heads"}};
  const Architecture tiny = parse_architecture(mapping, "tiny.json");
  const nlohmann::json config = {{"hidden_size", 64},
                                 {"intermediate_size", 128},
                                 {"n_layer", 2},
                                 {"vocab_size", 100},
                                 {"eps", 1e-5}};
  EXPECT_THAT([&] { read_config(tiny, JsonNode(config, "c.json")); },
              ThrowsMessage<std::invalid_argument>(
                  "tiny.json: /fields: the defaults of 'heads' refer to each other"));
}

}  // namespace
}  // namespace ttt::models_detail

// The catalog's index (models/catalog.h, models/catalog/catalog.json): the one catalog suites and
// coverage share, read strictly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "models/catalog.h"
#include "models/model.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// model_configs.md lists 17 models; the catalog holds each, in that table's order, with its
// published config.json.
TEST(CatalogIndex, HoldsTheModelsOfTheReferenceTable) {
  std::vector<std::string> ids;
  for (const ModelCatalogEntry& entry : model_catalog()) ids.push_back(entry.id);
  EXPECT_THAT(
      ids, ElementsAre("llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b",
                       "mistral-7b", "mixtral-8x7b", "qwen2.5-0.5b", "qwen2.5-7b", "qwen2.5-72b",
                       "deepseek-r1-distill-qwen-1.5b", "qwen3-8b", "gemma-2-9b", "phi-3-mini-4k",
                       "stablelm-2-1.6b", "gpt2", "bert-base-uncased", "bloom-560m"));
  const ModelCatalogEntry* deepseek = find_catalog_model("deepseek-r1-distill-qwen-1.5b");
  ASSERT_NE(deepseek, nullptr);
  EXPECT_EQ(deepseek->name, "DeepSeek-R1-Distill-Qwen-1.5B");
  EXPECT_EQ(deepseek->hf_id, "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B");
  EXPECT_EQ(deepseek->config_file, "deepseek-r1-distill-qwen-1.5b.json");
  // model_configs.md: hidden 1536, ffn 8960, L 28, H 12, KV 2, vocab 151936.
  EXPECT_EQ(deepseek->config.at("hidden_size"), 1536);
  EXPECT_EQ(deepseek->config.at("num_key_value_heads"), 2);
  // A suite can name it: the Qwen2 mapping reads it.
  const ModelDefinition model = load_model("deepseek-r1-distill-qwen-1.5b");
  EXPECT_EQ(model.architecture, "qwen2");
  EXPECT_EQ(model.spec.layers.size(), 28u);

  const ModelCatalogEntry* bert = find_catalog_model("bert-base-uncased");
  ASSERT_NE(bert, nullptr);
  EXPECT_EQ(bert->config.at("model_type"), "bert");
  ASSERT_EQ(bert->unsupported.size(), 4u);
  EXPECT_THAT(bert->unsupported[0], HasSubstr("bidirectional"));
  EXPECT_EQ(find_catalog_model("llama-4"), nullptr);
  EXPECT_THAT(find_catalog_model("llama-3.1-70b")->topologies, ElementsAre("T3K", "TG"));
}

// A two-file folder for parse_model_catalog.
std::optional<std::string> two_files(const std::string& file) {
  static const std::map<std::string, std::string> files = {{"a.json", R"({"model_type": "llama"})"},
                                                           {"broken.json", "{\"model_type\": "}};
  const auto it = files.find(file);
  if (it == files.end()) return std::nullopt;
  return it->second;
}

std::string error_of(const nlohmann::json& index) {
  try {
    parse_model_catalog(JsonNode(index, "catalog.json"), two_files);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no error";
}

nlohmann::json index_with(nlohmann::json entry) {
  return {{"format", "ttt-model-catalog"}, {"models", {std::move(entry)}}};
}

nlohmann::json good_entry() {
  return {{"id", "a"},
          {"name", "A-1B"},
          {"hf_id", "org/A-1B"},
          {"config", "a.json"},
          {"topologies", {"N150", "1x2"}}};
}

TEST(CatalogIndex, ReadsAnEntry) {
  nlohmann::json entry = good_entry();
  entry["unsupported"] = {"a feature"};
  const std::vector<ModelCatalogEntry> entries =
      parse_model_catalog(JsonNode(index_with(entry), "catalog.json"), two_files);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].id, "a");
  EXPECT_EQ(entries[0].name, "A-1B");
  EXPECT_EQ(entries[0].hf_id, "org/A-1B");
  EXPECT_EQ(entries[0].config_file, "a.json");
  EXPECT_EQ(entries[0].config, nlohmann::json({{"model_type", "llama"}}));
  EXPECT_THAT(entries[0].topologies, ElementsAre("N150", "1x2"));
  EXPECT_THAT(entries[0].unsupported, ElementsAre("a feature"));
}

TEST(CatalogIndex, BadInputNamesTheFileAndTheJsonPointer) {
  nlohmann::json entry = good_entry();
  entry["topolgies"] = {"N150"};
  EXPECT_THAT(error_of(index_with(entry)),
              StartsWith("catalog.json: /models/0/topolgies: unknown field 'topolgies'"));

  entry = good_entry();
  entry["topologies"] = {"N150", "T4K"};
  EXPECT_THAT(error_of(index_with(entry)), StartsWith("catalog.json: /models/0/topologies/1: "));
  EXPECT_THAT(error_of(index_with(entry)), HasSubstr("T4K"));
  entry["topologies"] = {"N300", "1x2"};
  EXPECT_EQ(error_of(index_with(entry)),
            "catalog.json: /models/0/topologies/1: '1x2' names the mesh of 'N300' again");
  entry["topologies"] = nlohmann::json::array();
  EXPECT_EQ(error_of(index_with(entry)),
            "catalog.json: /models/0/topologies: expected a non-empty array");
  entry.erase("topologies");
  EXPECT_EQ(error_of(index_with(entry)), "catalog.json: /models/0: missing field 'topologies'");

  entry = good_entry();
  entry["config"] = "missing.json";
  EXPECT_EQ(error_of(index_with(entry)),
            "catalog.json: /models/0/config: no file 'missing.json' beside the index");
  entry["config"] = "../a.json";
  EXPECT_THAT(error_of(index_with(entry)),
              StartsWith("catalog.json: /models/0/config: expected a file name ending in .json"));
  entry["config"] = "broken.json";
  EXPECT_THAT(error_of(index_with(entry)), HasSubstr("models/catalog/broken.json"));

  entry = good_entry();
  entry["unsupported"] = {"x", ""};
  EXPECT_EQ(error_of(index_with(entry)),
            "catalog.json: /models/0/unsupported/1: expected a non-empty string");
  entry = good_entry();
  entry["id"] = 7;
  EXPECT_EQ(error_of(index_with(entry)), "catalog.json: /models/0/id: expected a string, got 7");

  nlohmann::json repeated = index_with(good_entry());
  nlohmann::json second = good_entry();
  second["name"] = "A-2B";
  repeated["models"].push_back(second);
  EXPECT_EQ(error_of(repeated), "catalog.json: /models/1/id: 'a' repeats");

  nlohmann::json index = index_with(good_entry());
  index["format"] = "ttt-coverage-models";
  EXPECT_EQ(error_of(index),
            "catalog.json: /format: expected \"ttt-model-catalog\", got \"ttt-coverage-models\"");
  index = index_with(good_entry());
  index["modles"] = nlohmann::json::array();
  EXPECT_THAT(error_of(index), StartsWith("catalog.json: /modles: unknown field 'modles'"));
}

}  // namespace
}  // namespace ttt

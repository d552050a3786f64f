// The behaviour guard of the models layer (issue 13): every model the C++ readers mapped before
// the mapping files replaced them gives, read through its mapping file, exactly the Spec it gave
// then. data/catalog_specs.jsonl was recorded from that C++ code (suites/suite/model_catalog.cc
// and suites/models/llama/config.cc as of commit cc77a67, through an installed build of the tree
// before the mapping files): nlohmann::json(spec) per catalog model, with runs of equal layers
// written once as {"count", "layer"}. The models added with the mapping files (qwen3-8b,
// phi-3-mini-4k, stablelm-2-1.6b, bloom-560m) are checked by hand in model_test.cc.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "models/model.h"

namespace ttt {
namespace {

std::map<std::string, nlohmann::json> recorded_specs() {
  std::map<std::string, nlohmann::json> specs;
  std::ifstream in(TTT_CATALOG_SPECS);
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json entry = nlohmann::json::parse(line);
    specs[entry.at("model").get<std::string>()] = entry.at("spec");
  }
  return specs;
}

// The Spec's JSON with runs of equal layers as {"count", "layer"}, as recorded.
nlohmann::json with_layer_runs(const CausalLmSpec& spec) {
  nlohmann::json json = spec;
  nlohmann::json runs = nlohmann::json::array();
  for (const nlohmann::json& layer : json.at("layers")) {
    if (!runs.empty() && runs.back().at("layer") == layer) {
      runs.back()["count"] = runs.back().at("count").get<int>() + 1;
    } else {
      runs.push_back({{"count", 1}, {"layer", layer}});
    }
  }
  json["layers"] = runs;
  return json;
}

TEST(CatalogSpecs, EveryModelOfTheOldReadersMapsToItsRecordedSpec) {
  const std::map<std::string, nlohmann::json> recorded = recorded_specs();
  ASSERT_EQ(recorded.size(), 11u);
  for (const auto& [name, expected] : recorded) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(is_catalog_model(name));
    const nlohmann::json actual = with_layer_runs(load_model(name).spec);
    EXPECT_EQ(actual, expected) << "actual:   " << actual.dump()
                                << "\nexpected: " << expected.dump();
  }
}

}  // namespace
}  // namespace ttt

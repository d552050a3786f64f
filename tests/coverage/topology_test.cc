// Topology as a coverage parameter (docs/coverage.md "Topologies"): the catalog says which meshes
// each model targets, a report has one row per (model, topology), and a record covers a row only
// when it ran on that row's mesh.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "coverage/catalog/catalog.h"
#include "coverage/record.h"
#include "coverage/report.h"
#include "tests/coverage/tiny_catalog.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> row_names(const CoverageReport& report) {
  std::vector<std::string> names;
  for (const ModelCoverage& model : report.models) names.push_back(model.name);
  return names;
}

// issue 14 item 6: Llama-3.1-70B and Qwen2.5-72B on T3K and TG, Mixtral-8x7B on T3K, the 8B
// models (and smaller) on N150 and N300.
TEST(Topologies, TheBuiltinCatalogNamesTheMeshesOfIssue14) {
  const Catalog& catalog = builtin_catalog();
  EXPECT_THAT(catalog.find_model("Llama-3.1-70B")->topologies, ElementsAre("T3K", "TG"));
  EXPECT_THAT(catalog.find_model("Qwen2.5-72B")->topologies, ElementsAre("T3K", "TG"));
  EXPECT_THAT(catalog.find_model("Mixtral-8x7B-v0.1")->topologies, ElementsAre("T3K"));
  EXPECT_THAT(catalog.find_model("Llama-3.1-8B")->topologies, ElementsAre("N150", "N300"));
  EXPECT_THAT(catalog.find_model("Llama-3.2-1B")->topologies, ElementsAre("N150", "N300"));
  EXPECT_EQ(catalog.find_model("Llama-3.1-8B")->id, "llama-3.1-8b");
}

// Every model has its row on one device; each multi-device topology adds a row named
// "<model>@<topology>" that nothing covers until a suite runs the model on that mesh. N150 is
// one device: no row of its own.
TEST(Topologies, AReportHasOneRowPerModelAndMultiDeviceTopology) {
  const CoverageReport report = build_coverage_report({}, builtin_catalog());
  const std::vector<std::string> names = row_names(report);
  const auto has = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (const char* name : {"Llama-3.1-8B", "Llama-3.1-8B@N300", "Llama-3.1-70B",
                           "Llama-3.1-70B@T3K", "Llama-3.1-70B@TG", "Mixtral-8x7B-v0.1@T3K"}) {
    EXPECT_TRUE(has(name)) << name;
  }
  EXPECT_FALSE(has("Llama-3.1-8B@N150"));
  EXPECT_FALSE(has("Mixtral-8x7B-v0.1@TG"));
  const ModelCoverage* tg = report.find_model("llama-3.1-70b@tg");  // Case-insensitive.
  ASSERT_NE(tg, nullptr);
  EXPECT_EQ(tg->topology, "TG");
  // The same 14 configurations as on one device (model_configs.md: a Llama-3 like the 8B).
  EXPECT_EQ(tg->counts.configurations, 14);
  EXPECT_EQ(tg->configurations[0].config.topology, "TG");
  EXPECT_THAT(tg->configurations[0].config.key(), ::testing::EndsWith("|TG"));
  EXPECT_EQ(report.find_model("Llama-3.1-70B")->topology, "");
}

// A hand-made catalog: one model, one configuration of a block coverage does not know (its
// identity is the block followed by its Spec), targeting N150 and T3K. A record whose Spec names
// the mesh T3K ("1x8") covers the T3K row only, though both rows hold the same configuration; a
// record on TG is a configuration no model needs, listed with its topology.
TEST(Topologies, ARecordCoversTheRowOfItsMeshOnly) {
  const nlohmann::json spec = {{"mesh", "1x8"}, {"dim", 8}};
  CatalogConfig config;
  config.block = "hand_block";
  config.mode = "prefill";
  config.identity = "hand_block" + spec.dump();
  CatalogModel model;
  model.name = "Hand";
  model.configurations = {config};
  model.topologies = {"N150", "T3K"};
  Catalog catalog;
  catalog.source = "test";
  catalog.models = {model};

  CallObservation observation;
  observation.source = "suite";
  observation.kind = "hand_block";
  observation.mode = "prefill";
  observation.spec = spec;
  observation.outcome = CallObservation::Outcome::passed;
  const CoverageRecord on_t3k = make_coverage_record(observation);
  observation.spec["mesh"] = "TG";
  const CoverageRecord on_tg = make_coverage_record(observation);

  const CoverageReport report = build_coverage_report({on_t3k, on_tg}, catalog);
  ASSERT_THAT(row_names(report), ElementsAre("Hand", "Hand@T3K"));
  EXPECT_EQ(report.models[0].configurations[0].status, ConfigStatus::missing);
  EXPECT_EQ(report.models[1].configurations[0].status, ConfigStatus::passing);
  EXPECT_EQ(report.models[1].counts.passing, 1);
  // Two distinct configurations: on one device and on T3K; one passes.
  EXPECT_EQ(report.summary.configurations, 2);
  EXPECT_EQ(report.summary.passing, 1);
  ASSERT_EQ(report.unmatched.size(), 1u);
  EXPECT_EQ(report.unmatched[0].topology, "TG");
  EXPECT_THAT(format_coverage_console(report), HasSubstr(" on TG: 1 calls"));
  const nlohmann::json json = to_json(report);
  EXPECT_FALSE(json.at("models")[0].contains("topology"));
  EXPECT_EQ(json.at("models")[1].at("topology"), "T3K");
  EXPECT_EQ(json.at("unmatched")[0].at("topology"), "TG");
}

// A single-device call's topology is its device's mesh: Llama-3.2-1B's final norm (RMSNorm of
// 2048, eps 1e-5, model_configs.md) run with T3K's configuration covers the T3K row (TTTv1 runs
// the norms replicated on every chip), on N150 the one-device row.
TEST(Topologies, ASingleDeviceCallCountsOnItsDevicesMesh) {
  const nlohmann::json domains = {{"blocks", nlohmann::json::object()}};
  const Catalog catalog = build_catalog(
      {{"models",
        {{{"name", "Small"}, {"model", "llama-3.2-1b"}, {"topologies", {"N150", "T3K"}}}}}},
      domains, "dir");
  using testing_coverage::norm_record;
  const CoverageReport report =
      build_coverage_report({norm_record(2048, "decode", "T3K", {32, 2048}, true),
                             norm_record(2048, "prefill", "N150", {1, 8, 2048}, true)},
                            catalog);
  ASSERT_THAT(row_names(report), ElementsAre("Small", "Small@T3K"));
  const auto passing = [](const ModelCoverage& row) {
    std::vector<std::string> found;
    for (const ConfigCoverage& config : row.configurations) {
      if (config.status == ConfigStatus::passing) {
        found.push_back(config.config.block + " " + config.config.mode);
      }
    }
    return found;
  };
  EXPECT_THAT(passing(report.models[0]), ElementsAre("rms_norm prefill"));
  EXPECT_THAT(passing(report.models[1]), ElementsAre("rms_norm decode"));
  EXPECT_TRUE(report.unmatched.empty());
}

// A --catalog directory's models.json may name topologies; each goes through parse_mesh.
TEST(Topologies, AnOwnCatalogNamesTopologiesStrictly) {
  const nlohmann::json domains = {{"blocks", nlohmann::json::object()}};
  const auto entry = [](nlohmann::json topologies) {
    return nlohmann::json{
        {"models",
         {{{"name", "Small"}, {"model", "llama-3.2-1b"}, {"topologies", std::move(topologies)}}}}};
  };
  const Catalog catalog = build_catalog(entry({"N300", "2x4"}), domains, "dir");
  EXPECT_THAT(catalog.models[0].topologies, ElementsAre("N300", "2x4"));
  EXPECT_EQ(catalog.models[0].id, "llama-3.2-1b");
  EXPECT_THAT(row_names(build_coverage_report({}, catalog)),
              ElementsAre("Small", "Small@N300", "Small@2x4"));
  const auto error_of = [&](nlohmann::json topologies) {
    try {
      build_catalog(entry(std::move(topologies)), domains, "dir");
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of({"N150", "T4K"}),
              HasSubstr("[catalog] dir/models.json: /models/0/topologies/1: "));
  EXPECT_THAT(error_of({"N150", "T4K"}), HasSubstr("T4K"));
  EXPECT_THAT(error_of({"T3K", "1x8"}),
              HasSubstr("/models/0/topologies/1: '1x8' names the mesh of 'T3K' again"));
  EXPECT_THAT(error_of(nlohmann::json::array()),
              HasSubstr("/models/0/topologies: expected a non-empty array"));
  EXPECT_THAT(error_of("T3K"), HasSubstr("/models/0/topologies: expected an array"));
}

}  // namespace
}  // namespace ttt

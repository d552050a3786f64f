// Suite results as coverage data, and the coverage a suite file plans
// (coverage/suite_coverage.h).
#include "coverage/suite_coverage.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/common/scratch_dir.h"
#include "tests/coverage/tiny_catalog.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

CaseResult norm_case(const std::string& id, const std::string& mode, CaseStatus status) {
  CaseResult result;
  result.id = id;
  result.kind = "rms_norm";
  result.mode = mode;
  result.spec = {{"dim", 64}, {"eps", 1e-5}, {"add_unit_offset", false}};
  result.device = "T3K";
  result.inputs = {{"x", {1, 64}, DType::bfloat16}, {"weight", {64}, DType::float32}};
  result.status = status;
  return result;
}

RunResults results_of(std::vector<CaseResult> cases) {
  RunResults results;
  SuiteResult suite;
  suite.name = "tiny";
  suite.fingerprint = "f";
  suite.cases = std::move(cases);
  results.suites.push_back(std::move(suite));
  return results;
}

TEST(SuiteCoverage, OneRecordPerCaseThatRan) {
  CaseResult wrapped = norm_case("wrapped", "decode", CaseStatus::pass);
  wrapped.kind = "wrapped";
  const std::vector<CoverageRecord> records = coverage_records(results_of(
      {norm_case("a", "decode", CaseStatus::pass), norm_case("b", "prefill", CaseStatus::fail),
       norm_case("c", "decode", CaseStatus::error), norm_case("d", "decode", CaseStatus::not_run),
       wrapped}));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].source, "suite");
  EXPECT_EQ(records[0].origin, "tiny");
  EXPECT_EQ(records[0].mode, "decode");
  EXPECT_EQ(records[0].device, "T3K");
  EXPECT_EQ(records[0].passed, 1);
  EXPECT_EQ(records[1].mode, "prefill");
  EXPECT_EQ(records[1].failed, 1);
  EXPECT_EQ(records[2].failed, 1);  // An error counts as a failure.
}

TEST(SuiteCoverage, ReportOfSuiteResults) {
  // On one device (N150) the cases cover the one-device row; the same cases with T3K's settings
  // run on a T3K (docs/coverage.md "Topologies"), a topology the tiny catalog's model does not
  // target, so they cover nothing of it.
  std::vector<CaseResult> cases = {norm_case("a", "decode", CaseStatus::pass),
                                   norm_case("b", "prefill", CaseStatus::fail)};
  const CoverageReport on_t3k =
      coverage_report(results_of(cases), testing_coverage::tiny_catalog());
  ASSERT_NE(on_t3k.find_model("Tiny"), nullptr);
  EXPECT_EQ(on_t3k.find_model("Tiny")->counts.exercised, 0);
  for (CaseResult& result : cases) result.device = "N150";
  const CoverageReport report =
      coverage_report(results_of(cases), testing_coverage::tiny_catalog());
  const ModelCoverage* tiny = report.find_model("Tiny");
  ASSERT_NE(tiny, nullptr);
  EXPECT_EQ(tiny->counts.exercised, 2);
  EXPECT_EQ(tiny->counts.passing, 1);
}

TEST(SuiteCoverage, ReadsResultsJsonOrCoverageLines) {
  const test_support::ScratchDir scratch;
  const std::filesystem::path& dir = scratch.path();
  const std::string results = (dir / "R.json").string();
  write_run_results(results, results_of({norm_case("a", "decode", CaseStatus::pass)}));
  const std::string lines = (dir / "c.jsonl").string();
  write_coverage_file(lines,
                      coverage_records(results_of({norm_case("b", "prefill", CaseStatus::pass)})));
  const std::vector<CoverageRecord> records = read_coverage_data({results, lines});
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].mode, "decode");
  EXPECT_EQ(records[1].mode, "prefill");
  const std::string other = (dir / "other.json").string();
  std::ofstream(other) << R"({"format": "ttt-gate-decision"})";
  EXPECT_THAT([&] { read_coverage_data(other); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr(other + ":1: not a coverage record")));
}

// A one-layer Llama-3.2-1B with its vocabulary cut to 256: the LM head split in 8 runs shards of
// 32 rows, so the whole suite runs in a moment.
SuiteFile planned_suite() {
  const nlohmann::json json = nlohmann::json::parse(R"({
    "suite": "plan",
    "model": {"name": "llama-3.2-1b", "num_layers": 1, "vocab_size": 256},
    "seed": 7,
    "defaults": {"shapes": {"batch": 3, "seq_len": 100, "context_len": 5},
                 "expect": {"pcc": 0.99}},
    "cases": [
      {"module": "norm", "mode": "prefill"},
      {"module": "lm_head", "mode": "decode", "split": {"vocab_size": 8}},
      {"module": "layers.0.attention", "mode": "decode", "preset": "accuracy"},
      {"module": "layers.0.ffn", "mode": "decode", "preset": "performance"}
    ]})");
  return parse_suite_file(json, "plan.json", "");
}

TEST(PlannedCoverage, OneUncheckedRecordPerCaseWithTheRunsConfiguration) {
  const std::vector<CoverageRecord> plan = planned_coverage_records(planned_suite());
  ASSERT_EQ(plan.size(), 4u);
  for (const CoverageRecord& record : plan) {
    EXPECT_EQ(record.source, "plan");
    EXPECT_EQ(record.origin, "plan");
    EXPECT_EQ(record.device, "N150");
    EXPECT_TRUE(record.inputs.empty());
    EXPECT_EQ(record.calls, 1u);
    EXPECT_EQ(record.passed, 0u);
    EXPECT_EQ(record.failed, 0u);
  }
  // The final norm in prefill: 3 users of 100 tokens fall in the buckets 4 and 128.
  EXPECT_EQ(plan[0].kind, "rms_norm");
  EXPECT_EQ(plan[0].mode, "prefill");
  EXPECT_EQ(plan[0].spec.at("dim"), 2048);
  EXPECT_EQ(plan[0].batch, 4);
  EXPECT_EQ(plan[0].seq_len, 128);
  // One of 8 shards of 32 rows stands for the 256-row vocabulary.
  EXPECT_EQ(plan[1].kind, "lm_head");
  EXPECT_EQ(plan[1].vocab_shards, 8);
  EXPECT_EQ(plan[1].spec.at("vocab_size"), 256);
  EXPECT_EQ(plan[1].batch, 4);
  EXPECT_EQ(plan[1].seq_len, 1);
  // Presets give the ImplConfig: bfloat16 attention weights (accuracy), bfloat4_b FFN weights
  // (performance), as the catalog's configurations of those presets have them.
  EXPECT_EQ(plan[2].kind, "attention.decode");
  EXPECT_EQ(plan[2].impl_config.at("qkv").at("weight_dtype"), "bfloat16");
  EXPECT_EQ(plan[3].kind, "gated_mlp");
  EXPECT_EQ(plan[3].impl_config.at("ff1_ff3").at("weight_dtype"), "bfloat4_b");
}

TEST(PlannedCoverage, MatchesTheRecordsOfARun) {
  const SuiteFile file = planned_suite();
  const std::vector<CoverageRecord> plan = planned_coverage_records(file);
  Suite suite = make_suite(file);
  suite.options().repetitions = kMinRepetitions;
  suite.options().warmup = 0;
  const std::vector<CoverageRecord> ran = coverage_records(suite.run());
  ASSERT_EQ(ran.size(), plan.size());
  for (std::size_t i = 0; i < plan.size(); ++i) {
    SCOPED_TRACE(file.cases[i].id);
    EXPECT_EQ(plan[i].kind, ran[i].kind);
    EXPECT_EQ(plan[i].block, ran[i].block);
    EXPECT_EQ(plan[i].mode, ran[i].mode);
    EXPECT_EQ(plan[i].identity, ran[i].identity);
    EXPECT_EQ(plan[i].spec, ran[i].spec);
    EXPECT_EQ(plan[i].impl_config, ran[i].impl_config);
    EXPECT_EQ(plan[i].device, ran[i].device);
    EXPECT_EQ(plan[i].vocab_shards, ran[i].vocab_shards);
    EXPECT_EQ(plan[i].batch, ran[i].batch);
    EXPECT_EQ(plan[i].seq_len, ran[i].seq_len);
    EXPECT_FALSE(ran[i].inputs.empty());
  }
}

TEST(PlannedCoverage, TracedCaseHasNoTokenDimensions) {
  const nlohmann::json json = nlohmann::json::parse(R"({
    "suite": "traced",
    "defaults": {"expect": {"pcc": 0.99}},
    "cases": [{"block": "rms_norm", "mode": "decode", "spec": {"dim": 64, "eps": 1e-5},
               "inputs": {"source": "trace", "file": "t.h5", "call": "norm"}}]})");
  const std::vector<CoverageRecord> plan =
      planned_coverage_records(parse_suite_file(json, "traced.json", ""));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].batch, 0);
  EXPECT_EQ(plan[0].seq_len, 0);
}

TEST(PlannedCoverage, UnexercisedConfigurationsOfAModel) {
  // The norm (prefill), the attention (decode, accuracy: bfloat16 weights) and the FFN (decode,
  // performance: bfloat4_b) of the one-layer slice are three of Llama-3.2-1B's 14 configurations;
  // the LM head's 256-row vocabulary matches none of them.
  const std::vector<CatalogConfig> missing =
      unexercised_configurations(planned_coverage_records(planned_suite()), "llama-3.2-1b");
  EXPECT_EQ(missing.size(), 11u);
  const auto is_missing = [&missing](const std::string& block, const std::string& mode,
                                     const std::string& weight_dtype) {
    return std::any_of(missing.begin(), missing.end(), [&](const CatalogConfig& config) {
      return config.block == block && config.mode == mode && config.weight_dtype == weight_dtype;
    });
  };
  EXPECT_FALSE(is_missing("rms_norm", "prefill", "bfloat16"));
  EXPECT_FALSE(is_missing("attention", "decode", "bfloat16"));
  EXPECT_FALSE(is_missing("gated_mlp", "decode", "bfloat4_b"));
  EXPECT_TRUE(is_missing("lm_head", "decode", "bfloat8_b"));
  EXPECT_THAT([] { unexercised_configurations({}, "no-such-model"); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("no-such-model")));
}

// Issue 12: every shipped model suite plans every configuration its model needs in the catalog
// (each precision preset's weight formats, both modes, the LM head and embedding at the full
// vocabulary their shards stand for); issue 14: a suite on a mesh plans them on that mesh, the
// report row "<model>@<mesh>" (suites/llama-3.1-70b-t3k.json: Llama-3.1-70B@T3K). The files and
// their models come from suites/ and the catalog: a new suite file is checked without an edit.
TEST(PlannedCoverage, ShippedSuitesPlanEveryConfigurationOfTheirModel) {
  std::vector<fs::path> suites;
  for (const auto& entry : fs::directory_iterator(fs::path(TTT_SOURCE_DIR) / "suites")) {
    if (entry.path().extension() == ".json") suites.push_back(entry.path());
  }
  std::sort(suites.begin(), suites.end());
  ASSERT_FALSE(suites.empty());
  const std::vector<CatalogModel>& models = builtin_catalog().models;
  bool on_a_mesh = false;
  for (const fs::path& path : suites) {
    SCOPED_TRACE(path.filename().string());
    const SuiteFile file = load_suite_file(path.string());
    const auto model = std::find_if(models.begin(), models.end(),
                                    [&](const CatalogModel& m) { return m.id == file.model_name; });
    ASSERT_NE(model, models.end()) << "model '" << file.model_name << "' is not in the catalog";
    ASSERT_FALSE(model->configurations.empty()) << model->name;
    const bool mesh = file.mesh.size() > 1;
    on_a_mesh = on_a_mesh || mesh;
    const std::string row = mesh ? model->name + "@" + mesh_name(file.mesh) : model->name;
    for (const CatalogConfig& config :
         unexercised_configurations(planned_coverage_records(file), row)) {
      ADD_FAILURE() << path.filename().string() << " does not plan " << config.key();
    }
  }
  EXPECT_TRUE(on_a_mesh) << "no suite on a mesh: the topology rows went unchecked";
}

}  // namespace
}  // namespace ttt

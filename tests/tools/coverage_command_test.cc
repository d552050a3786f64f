// `ttt coverage report|merge|catalog`, run as a subprocess: outputs, floors, bad input (exit 2),
// and coverage collected end to end from `ttt demo` (TTT_COVERAGE) and `ttt replay --coverage`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "tests/tools/small_llama.h"
#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::RunResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A coverage record line: `calls` passing calls of an RMSNorm with Llama-3.1-8B's dimensions
// (also Mistral-7B's and Mixtral's) in decode.
nlohmann::json llama_norm_record(std::int64_t calls, std::int64_t batch) {
  return {{"ttt_coverage", 1},
          {"source", "suite"},
          {"origin", "test"},
          {"kind", "rms_norm"},
          {"block", "rms_norm"},
          {"mode", "decode"},
          {"identity", "RMS_NORM(dim=4096,eps=1e-05,offset=0)"},
          {"spec", {{"dim", 4096}, {"eps", 1e-5}}},
          {"impl_config", nlohmann::json::object()},
          {"device", "N150"},
          {"inputs", {{{"name", "x"}, {"shape", {batch, 4096}}, {"dtype", "bfloat16"}}}},
          {"batch", batch},
          {"seq_len", 1},
          {"calls", calls},
          {"passed", calls},
          {"failed", 0}};
}

const nlohmann::json& model_entry(const nlohmann::json& report, const std::string& name) {
  for (const nlohmann::json& model : report.at("models")) {
    if (model.at("name") == name) return model;
  }
  throw std::runtime_error("no model " + name);
}

class CoverageCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = path("cov.jsonl");
    std::ofstream(data_) << llama_norm_record(3, 32).dump() << "\n";
  }

  std::string path(const std::string& name) const { return scratch_.file(name); }
  RunResult ttt(const std::vector<std::string>& args, const std::string& env = "") const {
    return cli_test::run_ttt(scratch_.path(), args, env);
  }

  test_support::ScratchDir scratch_;
  std::string data_;
};

TEST_F(CoverageCommand, ReportPrintsPerModelSharesAndExitsZero) {
  const RunResult run = ttt({"coverage", "report", data_});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("Coverage of 1 records (3 calls: 3 passed, 0 failed)"));
  EXPECT_THAT(run.out, HasSubstr("rms_norm: 1 records, 3 calls (0 failed)"));
  EXPECT_THAT(run.out, HasSubstr("missing  attention prefill ATTENTION(hidden=4096"));
  EXPECT_EQ(run.err, "");
}

TEST_F(CoverageCommand, JsonCountsTheConfigurationsEveryModelShares) {
  const RunResult run = ttt({"coverage", "report", data_, "--json", "-"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json report = nlohmann::json::parse(run.out);
  EXPECT_EQ(report.at("calls"), 3);
  // One configuration of 14 for Llama-3.1-8B; the same RMSNorm serves Mistral and Mixtral.
  for (const std::string name : {"Llama-3.1-8B", "Mistral-7B-v0.1", "Mixtral-8x7B-v0.1"}) {
    EXPECT_EQ(model_entry(report, name).at("passing"), 1) << name;
  }
  EXPECT_EQ(model_entry(report, "Llama-3.1-8B").at("configurations"), 14);
  EXPECT_EQ(model_entry(report, "Gemma-2-9B").at("passing"), 0);
  EXPECT_EQ(report.at("strength"), 2);
}

// --json FILE and --markdown FILE write files and leave the console text on standard output; a
// report written to '-' replaces it there, and only one report may.
TEST_F(CoverageCommand, ReportsGoToFilesOrStandardOutput) {
  RunResult run =
      ttt({"coverage", "report", data_, "--json", path("r.json"), "--markdown", path("r.md")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("Coverage of 1 records (3 calls: 3 passed, 0 failed)"));
  const nlohmann::json report = nlohmann::json::parse(read_text(path("r.json")));
  EXPECT_EQ(report.at("calls"), 3);
  EXPECT_EQ(model_entry(report, "Llama-3.1-8B").at("passing"), 1);
  EXPECT_THAT(read_text(path("r.md")), StartsWith("## Block coverage"));

  run = ttt({"coverage", "report", data_, "--json", "-", "--markdown", path("s.md")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(nlohmann::json::parse(run.out).at("calls"), 3);  // Only the JSON on stdout.
  EXPECT_THAT(read_text(path("s.md")), StartsWith("## Block coverage"));

  run = ttt({"coverage", "report", data_, "--json", "-", "--markdown", "-"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err,
            "ttt: error: [coverage report] only one of --json, --markdown and --html may write "
            "to standard output ('-')\n");
  EXPECT_EQ(run.out, "");
  // The old flag form: --json without a FILE is a usage error, not a report.
  run = ttt({"coverage", "report", data_, "--json"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, StartsWith("ttt: error: "));
  EXPECT_THAT(run.err, HasSubstr("--json"));
  run = ttt({"coverage", "report", data_, "--json", path("no-such-dir/r.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr(path("no-such-dir/r.json") + ": cannot write"));
}

TEST_F(CoverageCommand, MarkdownHtmlAndStrength) {
  RunResult run = ttt({"coverage", "report", data_, "--markdown", "-", "--html", path("r.html")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, StartsWith("## Block coverage"));
  EXPECT_THAT(read_text(path("r.html")), StartsWith("<!DOCTYPE html>"));
  EXPECT_THAT(read_text(path("r.html")), HasSubstr("id=\"heatmap\""));
  run = ttt({"coverage", "report", data_, "--strength", "3"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("3-way coverage:"));
  EXPECT_EQ(ttt({"coverage", "report", data_, "--strength", "9"}).exit_code, 2);
}

TEST_F(CoverageCommand, FailUnderAndRequireModel) {
  RunResult run = ttt({"coverage", "report", data_, "--fail-under", "50"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("coverage below the floor: catalog:"));
  run = ttt({"coverage", "report", data_, "--require-model", "Llama-3.1-8B", "--fail-under", "7"});
  EXPECT_EQ(run.exit_code, 0) << run.err;  // 1/14 = 7.1%.
  run = ttt({"coverage", "report", data_, "--require-model", "llama-3.1-8b"});
  EXPECT_EQ(run.exit_code, 1);  // Default floor with a required model: 100%.
  EXPECT_THAT(run.err, HasSubstr("Llama-3.1-8B: 7.143% (1/14) of configurations pass, below 100%"));
  run = ttt(
      {"coverage", "report", data_, "--require-model", "Llama-3.1-8B", "--fail-under", "99.99999"});
  EXPECT_EQ(run.exit_code, 1);  // The floor prints as given, not as "100.0%".
  EXPECT_THAT(run.err,
              HasSubstr("Llama-3.1-8B: 7.143% (1/14) of configurations pass, below 99.99999%"));
  run = ttt({"coverage", "report", data_, "--require-model", "Llama-9"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("no model 'Llama-9' in the catalog"));
  // The same model on N300 (1x2) is its own row: the single-device records cover none of it.
  run = ttt({"coverage", "report", data_, "--require-model", "llama-3.1-8b@n300"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err,
              HasSubstr("Llama-3.1-8B@N300: 0% (0/14) of configurations pass, below 100%"));
}

TEST_F(CoverageCommand, MergeAggregatesFiles) {
  std::ofstream(path("b.jsonl")) << llama_norm_record(2, 32).dump() << "\n"
                                 << llama_norm_record(1, 1).dump() << "\n";
  const RunResult run = ttt({"coverage", "merge", data_, path("b.jsonl"), "-o", path("all.jsonl")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("merged 2 files into 2 records"));
  std::ifstream merged(path("all.jsonl"));
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(merged, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  std::int64_t calls_32 = 0;
  for (const nlohmann::json& line : lines) {
    if (line.at("batch") == 32) calls_32 = line.at("calls").get<std::int64_t>();
  }
  EXPECT_EQ(calls_32, 5);
}

TEST_F(CoverageCommand, BadDataIsExitTwoNamingTheFileAndLine) {
  std::ofstream(path("bad.jsonl")) << llama_norm_record(1, 1).dump() << "\n{oops\n";
  RunResult run = ttt({"coverage", "report", path("bad.jsonl")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr(path("bad.jsonl") + ":2: not JSON"));
  run = ttt({"coverage", "report", path("missing.jsonl")});
  EXPECT_EQ(run.exit_code, 2);
  run = ttt({"coverage", "merge", path("bad.jsonl"), "-o", path("out.jsonl")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(path("out.jsonl")));
  run = ttt({"coverage", "report", data_, "--catalog", path("no-catalog")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("no-catalog/models.json: cannot open"));
}

TEST_F(CoverageCommand, SuiteResultsAreCoverageData) {
  Metrics metrics;
  metrics.shape = {1, 4096};
  metrics.numel = 4096;
  metrics.pcc = 0.9999;
  const nlohmann::json gated = {
      {"id", "ffn.decode"},
      {"index", 0},
      {"kind", "gated_mlp"},
      {"mode", "decode"},
      {"spec", {{"hidden_dim", 4096}, {"ffn_dim", 14336}, {"activation", "silu"}}},
      {"impl_config", nlohmann::json::object()},
      {"device", "N150"},
      {"inputs", {{{"name", "x"}, {"shape", {1, 4096}}, {"dtype", "bfloat16"}}}},
      {"status", "pass"},
      {"outputs", {{{"name", "y"}, {"metrics", to_json(metrics)}}}}};
  const nlohmann::json results = {{"format", "ttt-suite-results"},
                                  {"format_version", 1},
                                  {"machine", {{"cpu_model", "x"}, {"cores", 2}}},
                                  {"suites",
                                   {{{"name", "llama"},
                                     {"fingerprint", "f"},
                                     {"total_cases", 1},
                                     {"shard", {{"indices", {0}}, {"total", 1}}},
                                     {"cases", {gated}}}}}};
  std::ofstream(path("R.json")) << results.dump(2);
  const RunResult run = ttt({"coverage", "report", path("R.json"), data_, "--json", "-"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json report = nlohmann::json::parse(run.out);
  EXPECT_EQ(model_entry(report, "Llama-3.1-8B").at("passing"), 2);  // The MLP and the norm.
  EXPECT_EQ(model_entry(report, "Llama-3.1-8B").at("blocks").at("gated_mlp").at("passing"), 1);
}

TEST_F(CoverageCommand, CatalogListsDerivedConfigurations) {
  RunResult run = ttt({"coverage", "catalog", "--model", "gemma-2-9b"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("Gemma-2-9B (gemma2, 18 configurations; on N150, N300)"));
  EXPECT_THAT(run.out,
              HasSubstr("rms_norm decode x169 bfloat16 RMS_NORM(dim=3584,eps=1e-06,offset=1)"));
  run = ttt({"coverage", "catalog", "--json", "-"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(nlohmann::json::parse(run.out).size(), 17u);
  // --json FILE: the JSON in the file, the listing on stdout.
  run = ttt({"coverage", "catalog", "--model", "gemma-2-9b", "--json", path("catalog.json")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, StartsWith("Gemma-2-9B (gemma2, 18 configurations; on N150, N300)\n"));
  const nlohmann::json catalog = nlohmann::json::parse(read_text(path("catalog.json")));
  ASSERT_EQ(catalog.size(), 1u);
  EXPECT_EQ(catalog[0].at("id"), "gemma-2-9b");
  EXPECT_EQ(catalog[0].at("topologies"), nlohmann::json({"N150", "N300"}));
  EXPECT_EQ(catalog.at(0).at("name"), "Gemma-2-9B");
  EXPECT_EQ(catalog.at(0).at("configurations").size(), 18u);
  run = ttt({"coverage", "catalog", "--model", "nope"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("no model 'nope'"));
}

TEST_F(CoverageCommand, ReplayOfAnInteropTraceWritesOneRecordPerReplayedCall) {
  // tests/data/interop_trace.h5 (written by h5py): four ttt.scale calls and one without a block.
  const RunResult run = ttt({"replay", std::string(TTT_TEST_DATA_DIR) + "/interop_trace.h5",
                             "--coverage", path("replay.jsonl")});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::ifstream lines(path("replay.jsonl"));
  std::int64_t calls = 0;
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json record = nlohmann::json::parse(line);
    EXPECT_EQ(record.at("source"), "replay");
    EXPECT_EQ(record.at("block"), "ttt.scale");
    EXPECT_EQ(record.at("passed"), record.at("calls"));
    calls += record.at("calls").get<std::int64_t>();
  }
  EXPECT_EQ(calls, 4);
}

// A Llama-family config small enough for a quick `ttt demo`, and the same config as the only
// model of a catalog: every configuration the demo's default preset runs must then match.
TEST_F(CoverageCommand, DemoAndReplayCoverEveryDefaultConfigurationOfTheirModel) {
  const nlohmann::json config = cli_test::small_llama_config();
  std::ofstream(path("config.json")) << config.dump(2);
  const std::string wrapper = path("wrapper.jsonl");
  RunResult run = ttt({"demo", "--out-dir", path("out"), "--config", path("config.json"),
                       "--prompt-tokens", "4", "--decode-steps", "1"},
                      "TTT_COVERAGE=" + cli_test::shell_quote(wrapper));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  // Replay writes a record for each call it replayed (passed or failed), none for skipped ones.
  run = ttt({"replay", path("out") + "/trace.h5", "--coverage", path("replay.jsonl"), "--json",
             path("replay.json")});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const nlohmann::json summary =
      nlohmann::json::parse(read_text(path("replay.json"))).at("summary");
  std::int64_t replayed_calls = 0;
  std::ifstream replayed(path("replay.jsonl"));
  for (std::string line; std::getline(replayed, line);) {
    const nlohmann::json record = nlohmann::json::parse(line);
    EXPECT_EQ(record.at("source"), "replay");
    replayed_calls += record.at("calls").get<std::int64_t>();
  }
  EXPECT_EQ(replayed_calls,
            summary.at("passed").get<std::int64_t>() + summary.at("failed").get<std::int64_t>());

  const std::string catalog = path("catalog");
  std::filesystem::create_directories(catalog);
  std::ofstream(catalog + "/models.json")
      << nlohmann::json{{"models", {{{"name", "Small"}, {"config", config}}}}}.dump();
  std::filesystem::copy_file(std::string(TTT_SOURCE_DIR) + "/coverage/catalog/domains.json",
                             catalog + "/domains.json");

  run = ttt({"coverage", "report", wrapper, "--catalog", catalog, "--json", "-"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  nlohmann::json report = nlohmann::json::parse(run.out);
  // 2 forward passes of 1 + 2 * 4 + 2 validated calls.
  EXPECT_EQ(report.at("calls"), 22);
  EXPECT_EQ(report.at("failed"), 0);
  const nlohmann::json& small = model_entry(report, "Small");
  // 14 configurations; the default preset's 5 blocks in 2 modes all ran and passed; the
  // accuracy preset's attention and the performance preset's MLP (2 modes each) did not.
  EXPECT_EQ(small.at("configurations"), 14);
  EXPECT_EQ(small.at("exercised"), 10);
  EXPECT_EQ(small.at("passing"), 10);
  EXPECT_TRUE(report.at("unmatched").empty()) << report.at("unmatched").dump(2);

  run = ttt({"coverage", "report", wrapper, "--catalog", catalog, "--require-model", "Small",
             "--fail-under", "70"});
  EXPECT_EQ(run.exit_code, 0) << run.err;  // 10/14 = 71.4%.
}

}  // namespace
}  // namespace ttt

// The behaviour guard's tools (docs/guard.md): ttt_guard_facts turns what `ttt` writes into
// canonical JSON Lines without timings or paths, hashes seeded inputs as the suites draw them and
// reports coverage facts; compare.sh tells identical recordings from different ones; record.sh
// refuses bad usage. Each tool runs as a subprocess (tests/tools/cli_run.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../tools/cli_run.h"
#include "suites/suite/suite.h"
#include "suites/suite/suite_file.h"
#include "tests/common/scratch_dir.h"
#include "validation/tensor/tensor.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ttt::cli_test::run_shell;
using ttt::cli_test::RunResult;
using ttt::cli_test::shell_quote;

namespace {

class GuardToolsTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = scratch_.path() / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }
  RunResult facts(const std::vector<std::string>& args) {
    std::string command = shell_quote(TTT_GUARD_FACTS_PATH);
    for (const std::string& arg : args) command += " " + shell_quote(arg);
    return run_shell(scratch_.path(), command);
  }
  RunResult script(const std::string& name, const std::vector<std::string>& args) {
    std::string command =
        "bash " + shell_quote(std::string(TTT_SOURCE_DIR) + "/tools/guard/" + name);
    for (const std::string& arg : args) command += " " + shell_quote(arg);
    return run_shell(scratch_.path(), command);
  }
  static std::vector<json> lines(const std::string& text) {
    std::vector<json> parsed;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) parsed.push_back(json::parse(line));
    return parsed;
  }

  ttt::test_support::ScratchDir scratch_;
};

TEST_F(GuardToolsTest, SuiteResultsKeepMetricsAndDropTimings) {
  const std::string results = write("r.json", R"({
    "format": "ttt-suite-results", "created_utc": "2026-01-01T00:00:00Z",
    "machine": {"hostname": "box"},
    "suites": [{"name": "toy", "file": "/abs/toy.json", "cases": [
      {"id": "b.decode", "kind": "rms_norm", "mode": "decode", "status": "pass",
       "outputs": [{"name": "out0", "reference_rms": 1.5, "metrics": {"pcc": 0.99990000000000001}}],
       "verdicts": [{"expectation": "accuracy:out0", "passed": true, "message": ""},
                    {"expectation": "latency", "passed": true, "message": "p90 1.2 ms"}],
       "timing": {"wall_ns": [5]}, "seconds": 0.25},
      {"id": "a.prefill", "kind": "mlp", "mode": "prefill", "status": "error",
       "error": "boom", "verdicts": [], "timing": null, "seconds": 0.5}]}]})");
  const RunResult run = facts({"suite-results", results});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // Sorted lines, naming fields first; timing, seconds and the latency verdict are gone, the
  // suite's file path and machine are not carried (they are not case fields).
  EXPECT_EQ(run.out,
            "{\"suite\":\"toy\",\"id\":\"a.prefill\",\"kind\":\"mlp\",\"mode\":\"prefill\","
            "\"status\":\"error\",\"verdicts\":[],\"error\":\"boom\"}\n"
            "{\"suite\":\"toy\",\"id\":\"b.decode\",\"kind\":\"rms_norm\",\"mode\":\"decode\","
            "\"status\":\"pass\",\"verdicts\":[{\"expectation\":\"accuracy:out0\",\"message\":\"\","
            "\"passed\":true}],\"outputs\":[{\"metrics\":{\"pcc\":0.9999},\"name\":\"out0\","
            "\"reference_rms\":1.5}]}\n");
}

TEST_F(GuardToolsTest, ValidationAndReplayReportsDropTimesAndPaths) {
  const std::string report = write("report.json", R"({"records": [
    {"sequence": 0, "name": "norm.decode", "call_index": 0, "passed": true, "verdict": "pass",
     "location": {"file": "/src/x.cc", "line": 3}, "device_ns": 120, "reference_ns": 400,
     "outputs": [{"name": "out0", "metrics": {"nmse": 0.5}}]}]})");
  RunResult run = facts({"validation-report", report});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "{\"name\":\"norm.decode\",\"call_index\":0,\"passed\":true,\"verdict\":\"pass\","
            "\"outputs\":[{\"metrics\":{\"nmse\":0.5},\"name\":\"out0\"}],\"sequence\":0}\n");

  const std::string replay = write("replay.json", R"({"trace": "/some/where/gpt-2.h5",
    "calls": [{"seq": 1, "path": "/calls/000001", "name": "ffn", "block": "mlp",
               "status": "pass", "message": "", "comparisons": []}],
    "summary": {"total": 1, "passed": 1}})");
  run = facts({"replay-report", replay});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "{\"trace\":\"gpt-2.h5\",\"seq\":1,\"name\":\"ffn\",\"status\":\"pass\",\"block\":"
            "\"mlp\",\"comparisons\":[],\"message\":\"\",\"path\":\"/calls/000001\"}\n"
            "{\"trace\":\"gpt-2.h5\",\"summary\":{\"passed\":1,\"total\":1}}\n");
}

// The hashes are those of the inputs the suite draws for each case, with the seed the docs give
// (FNV-1a of the case id XOR the suite seed): drawn again here through the public API and hashed
// with an FNV-1a written here.
TEST_F(GuardToolsTest, SeededInputsHashWhatTheSuiteDraws) {
  const std::string suite = write("s.json", R"({"suite": "tiny", "seed": 7, "cases": [
    {"name": "norm", "block": "rms_norm", "spec": {"dim": 4}, "mode": "decode",
     "expect": {"pcc": 0.9}}]})");
  const RunResult run = facts({"seeded-inputs", suite});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<json> rows = lines(run.out);
  ASSERT_EQ(rows.size(), 1u);
  const json& row = rows[0];
  EXPECT_EQ(row["suite"], "tiny");
  EXPECT_EQ(row["case"], "norm");
  EXPECT_EQ(row["kind"], "rms_norm");
  EXPECT_EQ(row["mode"], "decode");

  std::uint64_t case_seed = 0xcbf29ce484222325ULL;
  for (unsigned char c : std::string("norm")) case_seed = (case_seed ^ c) * 0x100000001b3ULL;
  case_seed ^= 7;
  char seed_hex[17];
  std::snprintf(seed_hex, sizeof(seed_hex), "%016llx", static_cast<unsigned long long>(case_seed));
  EXPECT_EQ(row["seed"], std::string(seed_hex));

  const ttt::SuiteFile file = ttt::load_suite_file(suite);
  const ttt::Suite built = ttt::make_suite(file);
  const auto inputs = built.case_at(0).target().seeded_inputs(file.cases[0].shapes,
                                                              file.cases[0].seeded, case_seed);
  ASSERT_TRUE(inputs.has_value());
  ASSERT_EQ(row["inputs"].size(), 2u);
  for (const json& input : row["inputs"]) {
    const ttt::Tensor& tensor = inputs->tensor(input["name"].get<std::string>());
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    const auto* bytes = reinterpret_cast<const unsigned char*>(tensor.floats().data());
    for (std::size_t i = 0; i < tensor.nbytes(); ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
    EXPECT_EQ(input["fnv1a64"], std::string(hex)) << input;
  }
  // docs/suites.md: x is [batch, dim] in bfloat16 in decode, the weight [dim].
  EXPECT_EQ(row["inputs"][0]["name"], "x");
  EXPECT_EQ(row["inputs"][0]["shape"], json::array({1, 4}));
  EXPECT_EQ(row["inputs"][0]["dtype"], "bfloat16");
  EXPECT_EQ(row["inputs"][1]["name"], "weight");
  EXPECT_EQ(row["inputs"][1]["shape"], json::array({4}));
}

// Llama-3.2-1B's FFN in decode on N150 with TTTv1's defaults (bfloat8_b FF1/FF3 at HiFi2), as a
// coverage record: the report matches it to that model's configuration and reads every domain
// parameter of gated_mlp (coverage/catalog/domains.json).
TEST_F(GuardToolsTest, CoverageFactsMatchTheCatalogAndReadTheDomains) {
  const std::string records = write(
      "c.jsonl",
      R"j({"ttt_coverage": 1, "source": "plan", "origin": "x", "kind": "gated_mlp", "block": "gated_mlp", "mode": "decode", "identity": "GATED_MLP(hidden=2048,ffn=8192,act=silu)", "spec": {"hidden_dim": 2048, "ffn_dim": 8192, "activation": "silu"}, "impl_config": {}, "device": "N150", "inputs": [], "batch": 1, "seq_len": 1, "calls": 1, "passed": 0, "failed": 0})j"
      "\n");
  const RunResult run = facts({"coverage-facts", records});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<json> rows = lines(run.out);
  ASSERT_EQ(rows.size(), 1u);
  const json& row = rows[0];
  EXPECT_NE(
      std::find(row["matches"].begin(), row["matches"].end(),
                json("Llama-3.2-1B: gated_mlp|decode|GATED_MLP(hidden=2048,ffn=8192,act=silu)|"
                     "bfloat8_b")),
      row["matches"].end())
      << row["matches"];
  EXPECT_EQ(row["unmatched"], json::array());
  EXPECT_EQ(row["parameters"], json({{"gated_mlp.hidden_dim", 2048},
                                     {"gated_mlp.ffn_dim", 8192},
                                     {"gated_mlp.dims", "2048x8192"},
                                     {"gated_mlp.activation", "silu"},
                                     {"gated_mlp.weight_dtype", "bfloat8_b"},
                                     {"gated_mlp.fidelity", "HiFi2"},
                                     {"gated_mlp.mode", "decode"},
                                     {"gated_mlp.seq_len", 1},
                                     {"gated_mlp.batch", 1},
                                     {"gated_mlp.device", "N150"}}));
}

TEST_F(GuardToolsTest, BadInputIsNamedWithExitTwo) {
  RunResult run = facts({"frobnicate", "x"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err, "ttt_guard_facts: error: unknown command 'frobnicate' (see --help)\n");

  run = facts({"suite-results", scratch_.file("missing.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("missing.json"), std::string::npos) << run.err;

  const std::string no_suites = write("bad.json", R"({"format": "ttt-suite-results"})");
  run = facts({"suite-results", no_suites});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err, "ttt_guard_facts: error: " + no_suites + ": /: missing field 'suites'\n");
  const std::string bad_case = write(
      "bad_case.json", R"({"suites": [{"name": "s", "cases": [{"id": "a", "kind": "mlp"}]}]})");
  run = facts({"suite-results", bad_case});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err,
            "ttt_guard_facts: error: " + bad_case + ": /suites/0/cases/0: missing field 'mode'\n");
  const std::string bad_calls = write("bad_calls.json", R"({"trace": "t.h5", "calls": {}})");
  run = facts({"replay-report", bad_calls});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err,
            "ttt_guard_facts: error: " + bad_calls + ": /calls: expected an array, got {}\n");

  run = facts({"catalog", "a.json", "b.json"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err, "ttt_guard_facts: error: 'catalog' takes one file, got 2\n");
}

TEST_F(GuardToolsTest, CompareTellsIdenticalFromDifferentRecordings) {
  write("base/suites/x.jsonl", "{\"a\":1}\n{\"b\":2}\n");
  write("same/suites/x.jsonl", "{\"a\":1}\n{\"b\":2}\n");
  write("head/suites/x.jsonl", "{\"a\":1}\n{\"b\":3}\n");
  write("head/extra.jsonl", "{}\n");
  const std::string base = scratch_.file("base");
  const std::string head = scratch_.file("head");

  RunResult run = script("compare.sh", {base, scratch_.file("same")});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;

  run = script("compare.sh", {base, head});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.out.find("only in " + head + ": extra.jsonl\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("differs: suites/x.jsonl (1 lines removed, 1 added)\n"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("\n-{\"b\":2}\n+{\"b\":3}\n"), std::string::npos) << run.out;

  run = script("compare.sh", {base, scratch_.file("nowhere")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("no directory"), std::string::npos) << run.err;
}

TEST_F(GuardToolsTest, RecordRefusesANonEmptyDirectoryAndUnknownOptions) {
  write("full/old.txt", "x\n");
  RunResult run = script("record.sh", {"--build", TTT_BINARY_DIR, scratch_.file("full")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("is not empty"), std::string::npos) << run.err;

  run = script("record.sh", {"--fast", scratch_.file("out")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("unknown option '--fast'"), std::string::npos) << run.err;
}

}  // namespace

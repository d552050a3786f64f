// `ttt registry list|show|check|diff|update` and `ttt suite run --registry` as a user runs them:
// exit codes, what is printed, and the bad-input rules (docs/cli.md "ttt registry").
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_run.h"
#include "tests/common/scratch_dir.h"
#include "tests/suites/suite/tiny_suite.h"
#include "tests/tools/small_llama.h"

namespace ttt::cli_test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Json = nlohmann::json;
namespace fs = std::filesystem;

class RegistryCommandTest : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(path("tiny.json")) << test_support::kTinySuite; }
  std::string path(const std::string& name) const { return dir_.file(name); }
  RunResult ttt(const std::vector<std::string>& args) const { return run_ttt(dir_.path(), args); }

  // Runs the tiny suite and records it in dir/registry.json.
  void make_registry() const {
    const RunResult run =
        ttt({"suite", "run", path("tiny.json"), "--json", path("r.json"), "--quiet"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const RunResult update = ttt({"registry", "update", "--registry", path("registry.json"),
                                  "--results", path("r.json"), "--description", "test run"});
    ASSERT_EQ(update.exit_code, 0) << update.err;
    EXPECT_THAT(update.out,
                HasSubstr(": 2 added, 0 updated, 0 dropped, 0 cases skipped; 2 fingerprints\n"));
  }

  Json registry_json() const { return Json::parse(read_text(path("registry.json"))); }
  void write_registry_json(const Json& json) const {
    std::ofstream(path("registry.json")) << json.dump(2);
  }

  test_support::ScratchDir dir_;
};

TEST_F(RegistryCommandTest, UpdateListShowAndCheck) {
  make_registry();
  const Json json = registry_json();
  EXPECT_EQ(json.at("format"), "ttt-fingerprint-registry");
  EXPECT_EQ(json.at("description"), "test run");
  const std::string id = json.at("entries").at(0).at("fingerprint").at("id");

  const RunResult list = ttt({"registry", "list", "--registry", path("registry.json")});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, StartsWith(id + "  "));
  EXPECT_THAT(list.out, HasSubstr("(1 case, 1 result)\n"));
  EXPECT_THAT(list.out, HasSubstr("2 fingerprints in " + path("registry.json") + "\n"));

  const RunResult show =
      ttt({"registry", "show", id.substr(0, 6), "--registry", path("registry.json")});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, StartsWith("fp " + id + "  "));
  EXPECT_THAT(show.out, HasSubstr("  evidence (1):\n    tiny.json / "));
  const RunResult show_json =
      ttt({"registry", "show", id, "--registry", path("registry.json"), "--json", "-"});
  EXPECT_EQ(Json::parse(show_json.out), json.at("entries").at(0));

  const RunResult check = ttt({"registry", "check", "--registry", path("registry.json")});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out, path("registry.json") + ": ok (2 fingerprints, 2 evidence cases)\n");

  // A new registry needs a description; results with no passing block case change nothing.
  const RunResult no_description =
      ttt({"registry", "update", "--registry", path("new.json"), "--results", path("r.json")});
  EXPECT_EQ(no_description.exit_code, 2);
  EXPECT_THAT(no_description.err, HasSubstr("a new registry needs --description"));
  Json failed = Json::parse(read_text(path("r.json")));
  for (Json& c : failed["suites"][0]["cases"]) c["status"] = "fail";
  std::ofstream(path("failed.json")) << failed.dump();
  const RunResult nothing = ttt({"registry", "update", "--registry", path("registry.json"),
                                 "--results", path("failed.json")});
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_THAT(nothing.err, HasSubstr("no passing block case in the results"));
  EXPECT_EQ(registry_json(), json);
}

TEST_F(RegistryCommandTest, CheckListsEveryStaleEntryAndExitsOne) {
  make_registry();
  Json json = registry_json();
  json["entries"][0]["fingerprint"]["id"] = "0123456789abcdef";  // Hand-edited.
  json["entries"][1]["config"]["kind"] = "conv9";
  write_registry_json(json);
  const RunResult check = ttt({"registry", "check", "--registry", path("registry.json")});
  EXPECT_EQ(check.exit_code, 1);
  const std::string file = path("registry.json");
  EXPECT_THAT(check.out, HasSubstr(file + ": /entries/0: stale fingerprint 0123456789abcdef: its "
                                          "config hashes to "));
  EXPECT_THAT(check.out,
              HasSubstr(file + ": /entries/1/config/kind: unknown block kind 'conv9' (known: "));
  // The hand-edited id no longer matches its case's fingerprint either.
  EXPECT_THAT(check.out, HasSubstr(": stale evidence: the case now runs fp="));
  EXPECT_THAT(check.out, HasSubstr("3 problems in " + file + " (2 entries)\n"));

  std::ofstream(path("registry.json")) << "{\"format\": [";
  const RunResult corrupt = ttt({"registry", "check", "--registry", path("registry.json")});
  EXPECT_EQ(corrupt.exit_code, 2);
  EXPECT_THAT(corrupt.err, StartsWith("ttt: error: " + file + ": "));
  const RunResult missing = ttt({"registry", "list", "--registry", path("absent.json")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr(path("absent.json")));
}

TEST_F(RegistryCommandTest, DiffExitsOneOnDifferences) {
  make_registry();
  fs::copy_file(path("registry.json"), path("old.json"));
  const RunResult same = ttt({"registry", "diff", path("old.json"), path("registry.json")});
  EXPECT_EQ(same.exit_code, 0);
  EXPECT_EQ(same.out, "no differences\n");
  Json json = registry_json();
  const std::string removed = json["entries"][0]["fingerprint"]["id"];
  json["entries"].erase(0);
  write_registry_json(json);
  const RunResult diff = ttt({"registry", "diff", path("old.json"), path("registry.json")});
  EXPECT_EQ(diff.exit_code, 1);
  EXPECT_THAT(diff.out, StartsWith("- " + removed + " "));
  EXPECT_EQ(ttt({"registry", "diff", path("old.json")}).exit_code, 2);
}

TEST_F(RegistryCommandTest, SuiteRunReportsFingerprintsWithoutEvidence) {
  make_registry();
  // A third case no run has recorded: the report names it; the recorded two are not reported.
  Json suite = Json::parse(test_support::kTinySuite);
  suite["cases"].push_back(Json::parse(
      R"({"name": "wide", "block": "rms_norm", "mode": "decode", "spec": {"dim": 96}})"));
  std::ofstream(path("tiny.json")) << suite.dump();
  const RunResult run =
      ttt({"suite", "run", path("tiny.json"), "--registry", path("registry.json"), "--quiet"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("1 fingerprint has no evidence in " + path("registry.json")));
  EXPECT_THAT(run.out, HasSubstr(" (rms_norm decode, RMS_NORM(dim=96"));
  EXPECT_THAT(run.out, HasSubstr("): case 'wide' of " + path("tiny.json") + " runs it;"));
  const RunResult bad_registry =
      ttt({"suite", "run", path("tiny.json"), "--registry", path("absent.json"), "--quiet"});
  EXPECT_EQ(bad_registry.exit_code, 2);
}

// A model run's misses, end to end: `ttt demo --registry` prints a case line per fingerprint
// without evidence; those lines, put in a suite file and run, give every one of them evidence,
// so that `ttt replay --registry` of the same trace then reports none.
TEST_F(RegistryCommandTest, DemoMissLinesAreCasesThatGiveTheRunEvidence) {
  make_registry();
  std::ofstream(path("config.json")) << small_llama_config().dump();
  const RunResult demo =
      ttt({"demo", "--out-dir", path("demo"), "--config", path("config.json"), "--prompt-tokens",
           "4", "--decode-steps", "1", "--quiet", "--registry", path("registry.json")});
  ASSERT_EQ(demo.exit_code, 0) << demo.out << demo.err;
  std::istringstream lines(demo.out.substr(demo.out.find(" no evidence in ")));
  std::string line;
  Json cases = Json::array();
  std::size_t misses = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("no evidence for fp=", 0) == 0) {
      ++misses;
      EXPECT_THAT(line, HasSubstr("): add a case with device N150 and mesh N150 (the suite file's "
                                  "\"device\" and \"mesh\") to a suite file:"));
    } else if (line.rfind("  {", 0) == 0) {
      cases.push_back(Json::parse(line));
    }
  }
  // Embedding, the two norms, attention, FFN, final norm and LM head, in prefill and decode
  // (the two layers share their configurations).
  EXPECT_GE(misses, 10u);
  ASSERT_EQ(cases.size(), misses);
  const Json suite = {{"suite", "demo-evidence"},
                      {"device", "N150"},
                      {"mesh", "N150"},
                      {"defaults", {{"warmup", 0}}},
                      {"cases", cases}};
  std::ofstream(path("demo-evidence.json")) << suite.dump(2);
  const RunResult run = ttt({"suite", "run", path("demo-evidence.json"), "--json",
                             path("demo-evidence-results.json"), "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const RunResult update = ttt({"registry", "update", "--registry", path("registry.json"),
                                "--results", path("demo-evidence-results.json")});
  ASSERT_EQ(update.exit_code, 0) << update.err;
  const RunResult replay = ttt({"replay", path("demo/trace.h5"), "--against", "captured", "--quiet",
                                "--registry", path("registry.json")});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_THAT(replay.out, ::testing::Not(HasSubstr("no evidence")));
}

}  // namespace
}  // namespace ttt::cli_test

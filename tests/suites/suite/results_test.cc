// Results: expectations JSON with path-naming errors, the results JSON round trip the gate reads,
// JUnit XML, merging shards (and refusing what cannot be merged), the console summary.
#include "suites/suite/results.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "tests/common/scratch_dir.h"

namespace ttt {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// A finished case with hand-made metrics and timings.
CaseResult make_case(const std::string& id, std::int64_t index, CaseStatus status) {
  CaseResult result;
  result.id = id;
  result.index = index;
  result.identity = "RMS_NORM(dim=64,eps=1e-05,offset=0)";
  result.kind = "rms_norm";
  result.mode = "decode";
  result.module = "layers.*.attention_norm";
  result.spec = {{"dim", 64}};
  result.shapes = {{"batch", 1}};
  result.input_source = "seeded";
  result.inputs = {{"x", {1, 64}, DType::bfloat16}, {"weight", {64}, DType::float32}};
  result.occurrences = 2;
  result.tags = {"quick"};
  result.expectations.accuracy.pcc = 0.99;
  result.expectations.latency = LatencyBudget{0.9, 5.0, 0.1, TimingClock::cpu};
  result.status = status;
  result.verdicts = {{"accuracy:y", status == CaseStatus::pass,
                      status == CaseStatus::pass ? "pass" : "pcc 0.9812 < 0.99"}};
  OutputResult output;
  output.name = "y";
  output.metrics.shape = {1, 64};
  output.metrics.numel = 64;
  output.metrics.finite_pairs = 64;
  output.metrics.pcc = status == CaseStatus::pass ? 0.99991 : 0.9812;
  output.metrics.nmse = 1.5e-4;
  output.metrics.rmse = 0.01;
  output.reference_rms = 0.8;
  result.outputs = {output};
  result.timing = TimingSamples{2,
                                {1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800},
                                {900, 950, 1000, 1050, 1100, 1150, 1200, 1250, 1300}};
  result.seconds = 0.25;
  return result;
}

RunResults make_results(const std::vector<CaseResult>& cases, std::int64_t shard,
                        std::int64_t shards) {
  RunResults results;
  results.machine.cpu_model = "AMD EPYC";
  results.machine.cores = 2;
  results.machine.build_type = "RelWithDebInfo";
  results.machine.commit = "abc123";
  results.machine.hostname = "ci-1";
  results.created_utc = "2026-11-21T14:00:00Z";
  SuiteResult suite;
  suite.name = "tiny";
  suite.file = "suites/tiny.json";
  suite.model = "llama-3.2-1b";
  suite.fingerprint = "00112233aabbccdd";
  suite.total_cases = 4;
  suite.seed = 1234;
  suite.shards = {shard};
  suite.shard_total = shards;
  suite.cases = cases;
  results.suites.push_back(suite);
  return results;
}

TEST(Expectations, ReadsEveryThresholdAndTheLatencyBudget) {
  const Expectations expectations = expectations_from_json(
      nlohmann::json::parse(R"({"pcc": 0.99, "max_abs_error": 0.05, "nmse": 1e-4,
          "latency": {"p": 0.5, "ms": 2.5, "tolerance": 0.2, "clock": "cpu"}})"),
      "/cases/0/expect");
  EXPECT_EQ(expectations.accuracy.pcc, 0.99);
  EXPECT_EQ(expectations.accuracy.max_abs_error, 0.05);
  EXPECT_EQ(expectations.accuracy.nmse, 1e-4);
  ASSERT_TRUE(expectations.latency.has_value());
  EXPECT_DOUBLE_EQ(expectations.latency->p, 0.5);
  EXPECT_DOUBLE_EQ(expectations.latency->limit_ns(), 2.5e6 * 1.2);
  EXPECT_EQ(expectations.latency->clock, TimingClock::cpu);
  EXPECT_FALSE(expectations.empty());
  EXPECT_TRUE(Expectations{}.empty());
  const Expectations back = expectations_from_json(to_json(expectations));
  EXPECT_EQ(back.accuracy.nmse, 1e-4);
  EXPECT_DOUBLE_EQ(back.latency->tolerance, 0.2);
}

TEST(Expectations, ErrorsNameTheJsonPath) {
  const auto error_of = [](const char* text) -> std::string {
    try {
      expectations_from_json(nlohmann::json::parse(text), "/cases/3/expect");
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "no error";
  };
  EXPECT_EQ(error_of(R"({"pcc": "high"})"), "/cases/3/expect/pcc: expected a number, got \"high\"");
  EXPECT_THAT(error_of(R"({"pcc": 1.5})"), HasSubstr("/cases/3/expect/pcc: expected a PCC"));
  EXPECT_THAT(error_of(R"({"latency": {"p": 1.5, "ms": 1}})"),
              HasSubstr("/cases/3/expect/latency/p: expected a number in [0, 1]"));
  EXPECT_THAT(error_of(R"({"latency": {"p": 0.9}})"),
              HasSubstr("/cases/3/expect/latency: missing field 'ms'"));
  EXPECT_THAT(error_of(R"({"latency": {"ms": 0}})"),
              HasSubstr("/cases/3/expect/latency/ms: expected a number > 0"));
  EXPECT_THAT(error_of(R"({"latency": {"ms": 1, "clock": "gpu"}})"),
              HasSubstr("/cases/3/expect/latency/clock: unknown clock 'gpu'"));
  EXPECT_THAT(error_of(R"({"pcc_min": 0.9})"),
              HasSubstr("/cases/3/expect/pcc_min: unknown field 'pcc_min'"));
}

TEST(RunResults, RoundTripsThroughJsonWithRawTimes) {
  const RunResults results = make_results({make_case("rms_norm.decode", 0, CaseStatus::pass),
                                           make_case("ffn.decode", 1, CaseStatus::fail)},
                                          0, 1);
  const nlohmann::json json = to_json(results);
  EXPECT_EQ(json.at("format"), "ttt-suite-results");
  EXPECT_EQ(json.at("format_version"), 1);
  EXPECT_EQ(json.at("summary").at("failed"), 1);
  EXPECT_EQ(json.at("summary").at("ok"), false);
  const nlohmann::json& first = json.at("suites").at(0).at("cases").at(0);
  EXPECT_EQ(first.at("timing").at("wall_ns").size(), 9u);
  EXPECT_EQ(first.at("timing").at("wall").at("p50"), 1400.0);
  EXPECT_EQ(first.at("timing").at("cpu").at("min"), 900.0);

  const RunResults back = run_results_from_json(json);
  ASSERT_EQ(back.suites.size(), 1u);
  ASSERT_EQ(back.suites[0].cases.size(), 2u);
  const CaseResult& again = back.suites[0].cases[1];
  EXPECT_EQ(again.id, "ffn.decode");
  EXPECT_EQ(again.status, CaseStatus::fail);
  EXPECT_EQ(again.timing->cpu_ns,
            (std::vector<std::int64_t>{900, 950, 1000, 1050, 1100, 1150, 1200, 1250, 1300}));
  EXPECT_DOUBLE_EQ(again.outputs[0].metrics.pcc, 0.9812);
  EXPECT_DOUBLE_EQ(again.outputs[0].reference_rms, 0.8);
  EXPECT_EQ(again.inputs[0].dtype, DType::bfloat16);
  EXPECT_EQ(again.expectations.latency->clock, TimingClock::cpu);
  EXPECT_EQ(again.verdicts[0].message, "pcc 0.9812 < 0.99");
  EXPECT_EQ(back.machine.commit, "abc123");
  EXPECT_EQ(back.suites[0].fingerprint, "00112233aabbccdd");
  EXPECT_EQ(to_json(back), json);
}

TEST(RunResults, BadFilesAreNamedWithThePathOfTheBadField) {
  const test_support::ScratchDir scratch;
  const std::filesystem::path& dir = scratch.path();
  nlohmann::json json = to_json(make_results({make_case("a", 0, CaseStatus::pass)}, 0, 1));
  json["suites"][0]["cases"][0]["timing"]["wall_ns"][2] = "slow";
  const std::string path = (dir / "bad.json").string();
  std::ofstream(path) << json.dump();
  try {
    load_run_results(path);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(),
                AllOf(HasSubstr(path), HasSubstr("/suites/0/cases/0/timing/wall_ns/2"),
                      HasSubstr("expected an integer")));
  }
  std::ofstream(dir / "garbage.json") << "{not json";
  EXPECT_THROW(load_run_results((dir / "garbage.json").string()), std::invalid_argument);
  json = to_json(make_results({}, 0, 1));
  json["format"] = "ttt-validation-report";
  std::ofstream(dir / "other.json") << json.dump();
  try {
    load_run_results((dir / "other.json").string());
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("/format: is 'ttt-validation-report'"));
  }
  json["format"] = "ttt-suite-results";
  json["format_version"] = 2;
  std::ofstream(dir / "newer.json") << json.dump();
  EXPECT_THROW(load_run_results((dir / "newer.json").string()), std::invalid_argument);
  EXPECT_THROW(load_run_results((dir / "missing.json").string()), std::invalid_argument);
}

// Nonsense repetition times (a -5 ns baseline would hide any slowdown in a gate) are refused
// naming the file and the JSON path; so is a load figure out of range.
TEST(RunResults, NegativeTimesAndBadLoadAreRefusedNamingThePath) {
  const test_support::ScratchDir scratch;
  const std::filesystem::path& dir = scratch.path();
  const std::string path = (dir / "negative.json").string();
  const auto error_of = [&path](const nlohmann::json& json) -> std::string {
    std::ofstream(path) << json.dump();
    try {
      load_run_results(path);
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "no error";
  };
  const nlohmann::json good = to_json(make_results({make_case("a", 0, CaseStatus::pass)}, 0, 1));
  nlohmann::json json = good;
  json["suites"][0]["cases"][0]["timing"]["wall_ns"][0] = -5;
  EXPECT_EQ(error_of(json),
            path + ": /suites/0/cases/0/timing/wall_ns/0: expected an integer >= 1, got -5");
  json = good;
  json["suites"][0]["cases"][0]["timing"]["wall_ns"][3] = 0;
  EXPECT_THAT(error_of(json),
              HasSubstr("/suites/0/cases/0/timing/wall_ns/3: expected an integer >= 1"));
  json = good;
  json["suites"][0]["cases"][0]["timing"]["cpu_ns"][1] = -1;
  EXPECT_THAT(error_of(json),
              HasSubstr("/suites/0/cases/0/timing/cpu_ns/1: expected an integer >= 0"));
  json = good;
  json["suites"][0]["cases"][0]["timing"]["wall_ns"][0] = 1.5;
  EXPECT_THAT(error_of(json), HasSubstr("/suites/0/cases/0/timing/wall_ns/0: expected an integer"));
  json = good;
  json["machine"]["load"] = {{"load_average", {1.0, -0.5, 0.2}}, {"cpu_steal", 0.0}};
  EXPECT_THAT(error_of(json), HasSubstr(path + ": /machine/load/load_average/1: expected a finite "
                                               "number >= 0, got -0.5"));
  json["machine"]["load"] = {{"load_average", {1.0, 0.5, 0.2}}, {"cpu_steal", 1.5}};
  EXPECT_THAT(error_of(json),
              HasSubstr(path + ": /machine/load/cpu_steal: expected a number in [0, 1], got 1.5"));
  json["machine"]["load"] = {{"load_average", {1.0, 0.5, 0.2}}, {"cpu_stael", 0.1}};
  EXPECT_THAT(error_of(json),
              HasSubstr(path + ": /machine/load/cpu_stael: unknown field 'cpu_stael' (expected one "
                               "of: load_average, cpu_steal)"));
}

// /proc/stat and /proc/loadavg as Linux writes them, with the figures worked out by hand.
TEST(MachineLoad, ParsesProcFilesAndRoundTrips) {
  const std::optional<CpuTimes> times = cpu_times_from_proc_stat(
      "cpu  100 5 50 800 20 3 2 20 7 0\ncpu0 50 2 25 400 10 1 1 10 0 0\nintr 12345\n");
  ASSERT_TRUE(times.has_value());
  EXPECT_EQ(times->total, 1000u);  // 100 + 5 + 50 + 800 + 20 + 3 + 2 + 20; guest is in user.
  EXPECT_EQ(times->steal, 20u);
  EXPECT_FALSE(cpu_times_from_proc_stat("cpu0 1 2 3\n").has_value());
  EXPECT_FALSE(cpu_times_from_proc_stat("cpu  1 2 3\n").has_value());

  const std::optional<MachineLoad> load = load_from_proc_loadavg("3.10 2.05 1.20 4/467 12345\n");
  ASSERT_TRUE(load.has_value());
  EXPECT_DOUBLE_EQ(load->load_1min, 3.10);
  EXPECT_DOUBLE_EQ(load->load_5min, 2.05);
  EXPECT_DOUBLE_EQ(load->load_15min, 1.20);
  EXPECT_FALSE(load_from_proc_loadavg("busy").has_value());
  EXPECT_FALSE(load_from_proc_loadavg("-1 0 0").has_value());

  // This machine has /proc: a run records its load, steal within [0, 1].
  const std::optional<MachineLoad> now = machine_load_since(current_cpu_times());
  ASSERT_TRUE(now.has_value());
  EXPECT_GE(now->cpu_steal, 0.0);
  EXPECT_LE(now->cpu_steal, 1.0);
  EXPECT_FALSE(machine_load_since(std::nullopt).has_value());

  RunResults results = make_results({make_case("a", 0, CaseStatus::pass)}, 0, 1);
  results.machine.load = MachineLoad{3.10, 2.05, 1.20, 0.02};
  const nlohmann::json json = to_json(results);
  EXPECT_EQ(json.at("machine").at("load"),
            nlohmann::json::parse(R"({"load_average": [3.1, 2.05, 1.2], "cpu_steal": 0.02})"));
  const RunResults back = run_results_from_json(json);
  ASSERT_TRUE(back.machine.load.has_value());
  EXPECT_DOUBLE_EQ(back.machine.load->load_5min, 2.05);
  EXPECT_DOUBLE_EQ(back.machine.load->cpu_steal, 0.02);
  // Results written before the load was recorded read back without it.
  nlohmann::json old = json;
  old["machine"].erase("load");
  EXPECT_FALSE(run_results_from_json(old).machine.load.has_value());
}

TEST(MergeRunResults, KeepsTheBusiestPartsLoad) {
  RunResults first = make_results({make_case("c0", 0, CaseStatus::pass)}, 0, 2);
  RunResults second = make_results({make_case("c1", 1, CaseStatus::pass)}, 1, 2);
  first.machine.load = MachineLoad{0.5, 2.5, 0.2, 0.01};
  second.machine.load = MachineLoad{1.5, 0.5, 0.3, 0.0};
  const RunResults merged = merge_run_results({first, second}, {"a.json", "b.json"});
  ASSERT_TRUE(merged.machine.load.has_value());
  EXPECT_DOUBLE_EQ(merged.machine.load->load_1min, 1.5);
  EXPECT_DOUBLE_EQ(merged.machine.load->load_5min, 2.5);
  EXPECT_DOUBLE_EQ(merged.machine.load->load_15min, 0.3);
  EXPECT_DOUBLE_EQ(merged.machine.load->cpu_steal, 0.01);
  second.machine.load.reset();
  EXPECT_FALSE(merge_run_results({first, second}, {"a.json", "b.json"}).machine.load.has_value());
}

TEST(JunitXml, ListsEveryCaseWithFailuresAndProperties) {
  RunResults results = make_results({make_case("rms_norm.decode", 0, CaseStatus::pass),
                                     make_case("ffn.decode", 1, CaseStatus::fail)},
                                    0, 1);
  CaseResult errored = make_case("lm_head.decode", 2, CaseStatus::error);
  errored.error = "block kind 'lm_head' is not registered";
  errored.verdicts.clear();
  results.suites[0].cases.push_back(errored);
  CaseResult later;
  later.id = "later";
  later.index = 3;
  results.suites[0].cases.push_back(later);
  const std::string xml = to_junit_xml(results);
  // Four cases of 0.25 s, except `later` (never ran: 0 s).
  EXPECT_THAT(xml, HasSubstr("<testsuites name=\"ttt.suites\" tests=\"4\" failures=\"1\" "
                             "errors=\"1\" skipped=\"1\" time=\"0.750000\">"));
  EXPECT_THAT(xml, HasSubstr("<testsuite name=\"tiny\" tests=\"4\" failures=\"1\" errors=\"1\" "
                             "skipped=\"1\" time=\"0.750000\" timestamp=\"2026-11-21T14:00:00Z\" "
                             "hostname=\"ci-1\">"));
  EXPECT_THAT(xml,
              HasSubstr("<testcase classname=\"tiny\" name=\"ffn.decode\" time=\"0.250000\">"));
  EXPECT_THAT(xml, HasSubstr("<failure message=\"accuracy:y: pcc 0.9812 &lt; 0.99\" "
                             "type=\"ExpectationFailure\">"));
  EXPECT_THAT(xml,
              HasSubstr("<error message=\"block kind &apos;lm_head&apos; is not registered\""));
  EXPECT_THAT(xml, HasSubstr("<skipped message="));
  // Properties are measurements read back by tools: printed in full.
  EXPECT_THAT(xml, HasSubstr("<property name=\"worst_pcc\" value=\"0.99991\"/>"));
  EXPECT_THAT(xml, HasSubstr("<property name=\"wall_p50_ms\" value=\"0.0014\"/>"));
}

TEST(MergeRunResults, CombinesShardsInSuiteOrder) {
  const RunResults first = make_results(
      {make_case("c0", 0, CaseStatus::pass), make_case("c2", 2, CaseStatus::pass)}, 0, 2);
  const RunResults second = make_results(
      {make_case("c1", 1, CaseStatus::fail), make_case("c3", 3, CaseStatus::pass)}, 1, 2);
  const RunResults merged = merge_run_results({second, first}, {"b.json", "a.json"});
  ASSERT_EQ(merged.suites.size(), 1u);
  const SuiteResult& suite = merged.suites[0];
  EXPECT_EQ(suite.shards, (std::vector<std::int64_t>{0, 1}));
  EXPECT_TRUE(suite.complete());
  ASSERT_EQ(suite.cases.size(), 4u);
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(suite.cases[i].index, i);
  EXPECT_EQ(merged.summary().failed, 1);
  // One shard alone is incomplete.
  EXPECT_FALSE(first.suites[0].complete());
}

TEST(MergeRunResults, RefusesWhatCannotBeMerged) {
  const RunResults base = make_results({make_case("c0", 0, CaseStatus::pass)}, 0, 2);
  const auto refusal = [&](RunResults other) -> std::string {
    try {
      merge_run_results({base, other}, {"a.json", "b.json"});
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "merged";
  };
  RunResults other = make_results({make_case("c1", 1, CaseStatus::pass)}, 1, 2);
  EXPECT_EQ(refusal(other), "merged");

  RunResults changed = other;
  changed.suites[0].fingerprint = "ffffffffffffffff";
  EXPECT_THAT(refusal(changed), AllOf(HasSubstr("suite 'tiny' in b.json does not match a.json"),
                                      HasSubstr("different definitions")));
  changed = other;
  changed.suites[0].seed = 7;
  EXPECT_THAT(refusal(changed), HasSubstr("different seeds (7 vs 1234)"));
  changed = other;
  changed.suites[0].filter = "ffn*";
  EXPECT_THAT(refusal(changed), HasSubstr("different filters"));
  changed = other;
  changed.suites[0].shard_total = 3;
  EXPECT_THAT(refusal(changed), HasSubstr("different shard counts (3 vs 2)"));
  changed = other;
  changed.suites[0].shards = {0};
  EXPECT_THAT(refusal(changed), HasSubstr("both hold shard 0/2"));
  changed = make_results({make_case("c0", 0, CaseStatus::pass)}, 1, 2);
  EXPECT_THAT(refusal(changed), HasSubstr("both hold case 'c0'"));
  changed = other;
  changed.machine.commit = "def456";
  EXPECT_THAT(refusal(changed), HasSubstr("different commits ('abc123' vs 'def456')"));
  changed = other;
  changed.machine.cpu_model = "Intel Xeon";
  EXPECT_THAT(refusal(changed), HasSubstr("different CPU models"));
  EXPECT_THROW(merge_run_results({}, {}), std::invalid_argument);
}

TEST(MergeRunResults, KeepsDifferentSuitesSideBySide) {
  RunResults other = make_results({make_case("c0", 0, CaseStatus::pass)}, 0, 1);
  other.suites[0].name = "other";
  other.suites[0].fingerprint = "1234";
  const RunResults merged = merge_run_results(
      {make_results({make_case("c0", 0, CaseStatus::pass)}, 0, 1), other}, {"a", "b"});
  EXPECT_EQ(merged.suites.size(), 2u);
}

TEST(RunSummary, FormatsOneLinePerCaseAndTheFailures) {
  const RunResults results = make_results({make_case("rms_norm.decode", 0, CaseStatus::pass),
                                           make_case("ffn.decode", 1, CaseStatus::fail)},
                                          0, 1);
  const std::string text = format_run_summary(results);
  EXPECT_THAT(text, HasSubstr("suite tiny (model llama-3.2-1b)"));
  EXPECT_THAT(text, HasSubstr("PASS     rms_norm.decode"));
  EXPECT_THAT(text, HasSubstr("fail ffn.decode: accuracy:y: pcc 0.9812 < 0.99"));
  EXPECT_THAT(text, HasSubstr("2 cases: 1 passed, 1 failed, 0 errors"));
  EXPECT_THAT(text, HasSubstr("commit abc123"));
}

TEST(FormatNs, PicksTheUnit) {
  EXPECT_EQ(format_ns(812), "812 ns");
  EXPECT_EQ(format_ns(12345), "12.3 us");
  EXPECT_EQ(format_ns(4.56e6), "4.56 ms");
  EXPECT_EQ(format_ns(1.234e9), "1.23 s");
}

TEST(LatencyBudget, ValidatesItsFields) {
  EXPECT_NO_THROW((LatencyBudget{0.9, 5.0, 0.1}.validate()));
  EXPECT_THROW((LatencyBudget{1.1, 5.0, 0.1}.validate()), std::invalid_argument);
  EXPECT_THROW((LatencyBudget{0.9, 0.0, 0.1}.validate()), std::invalid_argument);
  EXPECT_THROW((LatencyBudget{0.9, 5.0, -0.1}.validate()), std::invalid_argument);
}

TEST(CaseStatus, NamesRoundTrip) {
  for (CaseStatus status :
       {CaseStatus::pass, CaseStatus::fail, CaseStatus::error, CaseStatus::not_run}) {
    EXPECT_EQ(parse_case_status(case_status_name(status)), status);
  }
  EXPECT_THROW(parse_case_status("skipped"), std::invalid_argument);
}

}  // namespace
}  // namespace ttt

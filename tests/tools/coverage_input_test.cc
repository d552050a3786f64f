// Coverage inputs a newcomer or a hostile user hits, through the `ttt` binary: replay's records
// equal the ones TTT_COVERAGE wrote for the same calls (token dimensions from the activation, not
// from the alphabetically first input of the trace), call counts past 2^31 and 2^63, and floors
// that are not percentages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "tests/tools/small_llama.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::RunResult;
using ::testing::HasSubstr;

class CoverageInput : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_.file(name); }
  RunResult ttt(const std::vector<std::string>& args, const std::string& env = "") const {
    return cli_test::run_ttt(scratch_.path(), args, env);
  }

  test_support::ScratchDir scratch_;
};

// (kind, mode) -> the records' JSON without what differs by source: source, origin, counts.
std::map<std::pair<std::string, std::string>, std::set<std::string>> by_kind(
    const std::string& file) {
  std::map<std::pair<std::string, std::string>, std::set<std::string>> records;
  std::ifstream lines(file);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    nlohmann::json record = nlohmann::json::parse(line);
    for (const char* key : {"source", "origin", "calls", "passed", "failed"}) record.erase(key);
    records[{record.at("kind"), record.at("mode")}].insert(record.dump());
  }
  return records;
}

TEST_F(CoverageInput, ReplayRecordsEqualTheWrapperRecordsOfTheSameCalls) {
  std::ofstream(path("config.json")) << cli_test::small_llama_config().dump(2);
  const std::string wrapper = path("wrapper.jsonl");
  RunResult run = ttt({"demo", "--out-dir", path("out"), "--config", path("config.json"),
                       "--prompt-tokens", "4", "--decode-steps", "1", "--quiet"},
                      "TTT_COVERAGE=" + cli_test::shell_quote(wrapper));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  run = ttt({"replay", path("out") + "/trace.h5", "--coverage", path("replay.jsonl")});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;

  const auto wrapped = by_kind(wrapper);
  const auto replayed = by_kind(path("replay.jsonl"));
  // Every kind the demo runs, in both modes; the trace lists inputs by name (k_cache, w_down,
  // weight before x), the wrapper in call order.
  const std::set<std::pair<std::string, std::string>> kinds = {
      {"attention.decode", "decode"}, {"attention.prefill", "prefill"}, {"embedding", "decode"},
      {"embedding", "prefill"},       {"gated_mlp", "decode"},          {"gated_mlp", "prefill"},
      {"lm_head", "decode"},          {"lm_head", "prefill"},           {"rms_norm", "decode"},
      {"rms_norm", "prefill"}};
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& [kind, records] : wrapped) seen.insert(kind);
  EXPECT_EQ(seen, kinds);
  for (const auto& kind : kinds) {
    EXPECT_EQ(replayed.count(kind) ? replayed.at(kind) : std::set<std::string>{},
              wrapped.count(kind) ? wrapped.at(kind) : std::set<std::string>{})
        << kind.first;
  }
  // The real token dimensions: one user, a 4-token prompt, then 1 token per decode step.
  for (const auto& [kind, records] : replayed) {
    for (const std::string& text : records) {
      const nlohmann::json record = nlohmann::json::parse(text);
      EXPECT_EQ(record.at("batch"), 1) << text;
      EXPECT_EQ(record.at("seq_len"), kind.second == "prefill" ? 4 : 1) << text;
    }
  }
}

// A record of an RMSNorm with `calls` passing calls.
std::string norm_line(const std::string& calls) {
  return R"({"ttt_coverage":1,"source":"suite","origin":"t","kind":"rms_norm","block":"rms_norm",)"
         R"("mode":"decode","identity":"","spec":{"dim":4096},"impl_config":{},"device":"N150",)"
         R"("inputs":[{"name":"x","shape":[1,4096],"dtype":"bfloat16"}],"batch":1,"seq_len":1,)"
         R"("calls":)" +
         calls + R"(,"passed":)" + calls + R"(,"failed":0})";
}

TEST_F(CoverageInput, CallCountsPast32And63BitsAddUpAndOverflowIsAnError) {
  // 2^31 - 1 + 2: past a 32-bit count.
  std::ofstream(path("a.jsonl")) << norm_line("2147483647") << "\n" << norm_line("2") << "\n";
  RunResult run = ttt({"coverage", "merge", path("a.jsonl"), "-o", path("a_merged.jsonl")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  nlohmann::json merged = nlohmann::json::parse(read_text(path("a_merged.jsonl")));
  EXPECT_EQ(merged.at("calls").get<std::uint64_t>(), 2147483649u);
  // (2^63 - 1) * 2 = 2^64 - 2: past a signed 64-bit count, still a 64-bit unsigned one.
  std::ofstream(path("b.jsonl")) << norm_line("9223372036854775807") << "\n"
                                 << norm_line("9223372036854775807") << "\n";
  run = ttt({"coverage", "merge", path("b.jsonl"), "-o", path("b_merged.jsonl")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  merged = nlohmann::json::parse(read_text(path("b_merged.jsonl")));
  EXPECT_EQ(merged.at("calls").get<std::uint64_t>(), 18446744073709551614u);
  EXPECT_THAT(read_text(path("b_merged.jsonl")), HasSubstr("\"calls\":18446744073709551614"));
  // 2^63 + 2^63 = 2^64 does not fit: an error, not a wrapped-around count.
  std::ofstream(path("c.jsonl")) << norm_line("9223372036854775808") << "\n"
                                 << norm_line("9223372036854775808") << "\n";
  for (const char* command : {"merge", "report"}) {
    std::vector<std::string> args = {"coverage", command, path("c.jsonl")};
    if (std::string(command) == "merge") args.insert(args.end(), {"-o", path("c_merged.jsonl")});
    run = ttt(args);
    EXPECT_EQ(run.exit_code, 2) << command;
    EXPECT_THAT(run.err, HasSubstr("ttt: error: [coverage]")) << command;
    EXPECT_THAT(run.err, HasSubstr("9223372036854775808 + 9223372036854775808 overflows 64 bits"))
        << command;
  }
  // 2^64 is not a count at all: the file and line are named.
  std::ofstream(path("d.jsonl")) << norm_line("18446744073709551616") << "\n";
  run = ttt({"coverage", "merge", path("d.jsonl"), "-o", "-"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("d.jsonl:1: /calls: expected an integer in [0, "
                                 "18446744073709551615]"));
}

TEST_F(CoverageInput, FailUnderMustBeAPercentage) {
  std::ofstream(path("a.jsonl")) << norm_line("1") << "\n";
  for (const char* floor : {"nan", "NaN", "inf", "-inf", "-1", "100.5"}) {
    const RunResult run = ttt({"coverage", "report", path("a.jsonl"), "--fail-under", floor});
    EXPECT_EQ(run.exit_code, 2) << floor;
    EXPECT_THAT(run.err, HasSubstr("ttt: error: [coverage report] --fail-under: expected a "
                                   "percentage in [0, 100]"))
        << floor;
  }
  EXPECT_EQ(ttt({"coverage", "report", path("a.jsonl"), "--fail-under", "0"}).exit_code, 0);
  // The rejected value prints as given ("%g" made it "100").
  EXPECT_THAT(ttt({"coverage", "report", path("a.jsonl"), "--fail-under", "100.00001"}).err,
              HasSubstr("expected a percentage in [0, 100], got 100.00001"));
}

}  // namespace
}  // namespace ttt

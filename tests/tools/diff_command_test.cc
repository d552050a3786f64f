// `ttt diff`, run as a subprocess on traces of `ttt demo --model models/trained/tiny-llama-bytes`
// (4 layers: 19 calls per step). Two runs with the same flags agree (exit 0). A run at the
// performance preset (only the FFNs' FF1/FF3 weights bfloat4_b with LoFi, blocks/common/device.h)
// against the default run diverges (exit 1) where the preset's construction says: every call
// before layers.0.ffn.prefill (call 4) computes the same values, so that call is the first whose
// outputs differ, on identical inputs; layer 0's K and V come before any FFN, from the token and
// its position alone: identical before the first divergent token, and after it exactly where the
// fed tokens differ; layers 1-3 read layer 0's FFN output at every position and differ at each.
// The first divergent token is where the two demos' printed generated tokens first differ. The
// library's own proof with an injected fault is tests/patterns/run_diff_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"

namespace ttt {
namespace {

using cli_test::run_ttt;
using cli_test::RunResult;
using ::testing::HasSubstr;

const std::string kModel = std::string(TTT_SOURCE_DIR) + "/models/trained/tiny-llama-bytes";

// What a demo run left: its trace, its prompt length and its printed generated tokens.
struct DemoRun {
  std::string trace;
  std::int64_t prompt_tokens = 0;
  std::vector<std::int64_t> generated;
};

class DiffCommand : public ::testing::Test {
 protected:
  RunResult ttt(const std::vector<std::string>& args) { return run_ttt(scratch_.path(), args); }

  // `exit_code`: the demo's own verdict (1 when a validated call fails; its trace is written).
  DemoRun demo(const std::string& name, std::vector<std::string> flags, int exit_code = 0) {
    const std::string dir = scratch_.file(name);
    std::vector<std::string> args = {"demo", "--model", kModel, "--out-dir", dir, "--quiet"};
    args.insert(args.end(), flags.begin(), flags.end());
    const RunResult run = ttt(args);
    EXPECT_EQ(run.exit_code, exit_code) << run.out << run.err;
    DemoRun result;
    result.trace = dir + "/trace.h5";
    std::smatch match;
    if (std::regex_search(run.out, match, std::regex("prompt (\\d+) tokens"))) {
      result.prompt_tokens = std::stoll(match[1]);
    }
    if (std::regex_search(run.out, match, std::regex("generated tokens: ([0-9 ]+)\n"))) {
      std::istringstream tokens(match[1].str());
      for (std::int64_t token; tokens >> token;) result.generated.push_back(token);
    }
    return result;
  }

  test_support::ScratchDir scratch_;
};

TEST_F(DiffCommand, TwoRunsOfTheSameFlagsAgree) {
  const DemoRun a = demo("a", {"--decode-steps", "8"});
  const DemoRun b = demo("b", {"--decode-steps", "8"});
  const RunResult run = ttt({"diff", a.trace, b.trace});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_THAT(run.out, HasSubstr("tokens: no divergence: top-1 agrees at all 9 steps"));
  EXPECT_THAT(run.out, HasSubstr("calls compared: 171, 0 beyond their band"));
  EXPECT_THAT(run.out, HasSubstr("layer 3 (positions 0-33 of call 166 layers.3.attention.decode"));
  EXPECT_THAT(run.out, HasSubstr("K and V identical at every position"));
  EXPECT_THAT(run.out, HasSubstr("verdict: no divergence: the runs agree within their bands"));
}

TEST_F(DiffCommand, APresetNamesItsFirstBlockTheDivergentTokenAndTheKvPositions) {
  const std::vector<std::string> flags = {"--prompt", "count from 7: 7 8", "--decode-steps", "40"};
  std::vector<std::string> performance = flags;
  performance.insert(performance.end(), {"--preset", "performance"});
  // At 40 steps one of the preset's 779 calls leaves its (default-numerics) check: exit 1.
  const DemoRun a = demo("performance", performance, 1);
  const DemoRun b = demo("default", flags);
  ASSERT_EQ(a.prompt_tokens, 17);  // "count from 7: 7 8", one token per byte.
  ASSERT_EQ(a.generated.size(), 40u);
  ASSERT_EQ(b.generated.size(), 40u);
  // The first divergent token, from the demos' own printed tokens.
  std::size_t step = 0;
  while (step < a.generated.size() && a.generated[step] == b.generated[step]) ++step;
  ASSERT_LT(step, a.generated.size()) << "the preset must change a greedy token in 40 steps";
  const std::int64_t divergence = a.prompt_tokens + static_cast<std::int64_t>(step);

  const std::string json_file = scratch_.file("diff.json");
  const RunResult run = ttt({"diff", a.trace, b.trace, "--json", json_file});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("first divergent token: position " + std::to_string(divergence) +
                                 " (decode step " + std::to_string(step - 1) + "): A " +
                                 std::to_string(a.generated[step]) + ", B " +
                                 std::to_string(b.generated[step])));
  EXPECT_THAT(run.out, HasSubstr("first call whose outputs differ: 4 layers.0.ffn.prefill "
                                 "(gated_mlp, layer 0): y: "));
  EXPECT_THAT(run.out, HasSubstr("its input x: identical (the divergence starts in this call)"));
  EXPECT_THAT(run.out, HasSubstr("verdict: the runs diverge"));

  std::ifstream file(json_file);
  const nlohmann::json json = nlohmann::json::parse(file);
  EXPECT_EQ(json.at("agree"), false);
  EXPECT_EQ(json.at("divergence").at("step"), step);
  EXPECT_EQ(json.at("divergence").at("position"), divergence);
  EXPECT_EQ(json.at("first_difference").at("seq"), 4);
  EXPECT_EQ(json.at("first_difference").at("block"), "gated_mlp");
  // Calls compared: the 19 of each step through the divergent one.
  EXPECT_EQ(json.at("calls").size(), 19 * (step + 1));

  // The last decode call (position 17 + 39) holds positions 0-55; positions 17-55 hold the
  // generated tokens 0-38 that were fed back.
  const std::int64_t positions = a.prompt_tokens + 39;
  std::vector<std::int64_t> layer0_after;  // Where the fed tokens differ, after the divergence.
  for (std::int64_t p = divergence; p < positions; ++p) {
    const auto fed = static_cast<std::size_t>(p - a.prompt_tokens);
    if (a.generated[fed] != b.generated[fed]) layer0_after.push_back(p);
  }
  const nlohmann::json& kv = json.at("kv");
  ASSERT_EQ(kv.size(), 4u);
  for (const nlohmann::json& layer : kv) {
    SCOPED_TRACE("layer " + layer.at("layer").dump());
    EXPECT_EQ(layer.at("positions"), positions);
    EXPECT_EQ(layer.at("judged_positions"), divergence);
    std::vector<std::int64_t> before;
    std::vector<std::int64_t> after;
    for (const nlohmann::json& position : layer.at("differing")) {
      (position.at("judged").get<bool>() ? before : after).push_back(position.at("position"));
    }
    std::vector<std::int64_t> all_before;
    for (std::int64_t p = 0; p < divergence; ++p) all_before.push_back(p);
    if (layer.at("layer") == 0) {
      // Layer 0's K and V come from its token and position alone (the preset changes only FFNs).
      EXPECT_TRUE(before.empty());
      EXPECT_EQ(after, layer0_after);
    } else {
      // Layers 1-3 read layer 0's FFN output at every position.
      EXPECT_EQ(before, all_before);
    }
  }
  EXPECT_THAT(run.out, HasSubstr("layer 1 (positions 0-55 of call 766 layers.1.attention.decode"));
}

TEST_F(DiffCommand, BadInputIsRefusedNamingWhatDiffers) {
  const DemoRun base = demo("base", {"--decode-steps", "8"});
  // The golden's prompt is "count from 120: 120 121 122"; this one differs at character 13.
  const DemoRun prompt =
      demo("prompt", {"--decode-steps", "8", "--prompt", "count from 130: 130 131 132"});
  RunResult run = ttt({"diff", base.trace, prompt.trace});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_THAT(run.err,
              HasSubstr("ttt: error: [diff] the runs have different prompts: token 12 is "));
  EXPECT_THAT(run.err, HasSubstr(" in " + base.trace + ", "));
  EXPECT_THAT(run.err, HasSubstr(" in " + prompt.trace + "\n"));

  const DemoRun steps = demo("steps", {"--decode-steps", "6"});
  run = ttt({"diff", base.trace, steps.trace});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("[diff] the runs made different calls: " + base.trace +
                                 " has 171 calls, " + steps.trace +
                                 " 133; call 133 (embedding.decode) is only in " + base.trace));

  run = ttt({"diff", base.trace, scratch_.file("absent.h5")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("ttt: error: "));
  EXPECT_THAT(run.err, HasSubstr("absent.h5"));

  // An HDF5 file that is not a trace (the model's token golden), and a file that is not HDF5.
  run = ttt({"diff", base.trace, kModel + "/reference_tokens.h5"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("reference_tokens.h5"));
  EXPECT_THAT(run.err, HasSubstr("not a ttt trace"));
  const std::string text = scratch_.file("notes.txt");
  std::ofstream(text) << "not a trace\n";
  run = ttt({"diff", text, base.trace});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("notes.txt"));

  run = ttt({"diff", base.trace, base.trace, "--top-k", "1000"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("top_k"));
}

}  // namespace
}  // namespace ttt

// The degenerate-output check (models/degenerate_output.h) on hand-made token sequences whose
// repetition is counted by hand.
#include "models/degenerate_output.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace ttt {
namespace {

std::vector<std::int64_t> bytes(std::string_view text) { return {text.begin(), text.end()}; }

TEST(DegenerateOutput, TheSeededDemoLoopIsFlagged) {
  // The demo output: three tokens, then one token 13 times.
  std::vector<std::int64_t> tokens = {8141, 6490, 4444};
  tokens.insert(tokens.end(), 13, 6685);
  const DegenerateOutputVerdict verdict = check_degenerate_output(tokens);
  EXPECT_TRUE(verdict.degenerate);
  EXPECT_DOUBLE_EQ(verdict.adjacent_repetition, 12.0 / 15.0);  // 12 of the 15 pairs repeat.
  EXPECT_EQ(verdict.loop_period, 1);
  EXPECT_EQ(verdict.loop_tokens, 13);
  EXPECT_EQ(verdict.summary,
            "degenerate: adjacent repetition 0.80 (limit 0.50), the last 13 of 16 tokens repeat a "
            "1-token n-gram (13.0 times)");
}

TEST(DegenerateOutput, AnNgramLoopWithoutAdjacentRepetitionIsFlagged) {
  const DegenerateOutputVerdict verdict =
      check_degenerate_output(bytes("xythe dog the dog the dog "));
  // 26 bytes: "xy", then "the dog " 3 times: the tail of period 8 is the 24 bytes after "xy".
  EXPECT_TRUE(verdict.degenerate);
  EXPECT_DOUBLE_EQ(verdict.adjacent_repetition, 0.0);
  EXPECT_EQ(verdict.loop_period, 8);
  EXPECT_EQ(verdict.loop_tokens, 24);
}

TEST(DegenerateOutput, CountingAndShortRepeatsAreNot) {
  const DegenerateOutputVerdict counting = check_degenerate_output(bytes(" 123 124 125 126.\n"));
  EXPECT_FALSE(counting.degenerate);
  EXPECT_EQ(counting.loop_period, 0);
  EXPECT_EQ(counting.summary,
            "not degenerate: adjacent repetition 0.00 (limit 0.50), no n-gram loop");
  // A 1-token loop of 3 at the end of 21 tokens covers 3/21 < 0.15 of them; of 16, 3/16 >= 0.15
  // (the default demo's seeded output ends "4522 4522 4522").
  std::vector<std::int64_t> tokens = {1,  2,  3,  4,  5,  6,  7,  8,  9,
                                      10, 11, 12, 13, 14, 15, 16, 17, 18};
  tokens.insert(tokens.end(), 3, 5);
  const DegenerateOutputVerdict tail = check_degenerate_output(tokens);
  EXPECT_FALSE(tail.degenerate);
  EXPECT_DOUBLE_EQ(tail.adjacent_repetition, 2.0 / 20.0);
  tokens.erase(tokens.begin(), tokens.begin() + 5);
  const DegenerateOutputVerdict shorter = check_degenerate_output(tokens);
  EXPECT_TRUE(shorter.degenerate);
  EXPECT_EQ(shorter.loop_tokens, 3);
  // Two repeats of a period are not three.
  EXPECT_FALSE(check_degenerate_output(bytes("abcabc")).degenerate);
  EXPECT_TRUE(check_degenerate_output(bytes("abcabcabc")).degenerate);
  EXPECT_FALSE(check_degenerate_output(std::vector<std::int64_t>{}).degenerate);
  EXPECT_FALSE(check_degenerate_output(std::vector<std::int64_t>{7}).degenerate);
}

TEST(DegenerateOutput, OptionsChangeTheVerdictAndAreChecked) {
  const std::vector<std::int64_t> tokens = {1, 1, 2, 3};  // 1 of 3 pairs repeats.
  EXPECT_FALSE(check_degenerate_output(tokens).degenerate);
  EXPECT_TRUE(check_degenerate_output(tokens, {.max_adjacent_repetition = 0.3}).degenerate);
  EXPECT_THROW(check_degenerate_output(tokens, {.max_adjacent_repetition = 1.5}),
               std::invalid_argument);
  EXPECT_THROW(check_degenerate_output(tokens, {.max_loop_period = 0}), std::invalid_argument);
}

}  // namespace
}  // namespace ttt

// t-way combinatorial coverage (coverage/tway.h) on examples counted by hand.
#include "coverage/tway.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

namespace ttt {
namespace {

using ::testing::ElementsAre;
using Tests = std::vector<std::vector<std::optional<std::size_t>>>;

TEST(TwayCoverage, HeaderExampleThreeBinaryParametersTwoTests) {
  // Tests (0,0,0) and (1,1,0). ab covers 00, 11; ac covers 00, 10; bc covers 00, 10: 6 of 12.
  const TwayCoverage coverage = compute_tway_coverage({2, 2, 2}, {{0, 0, 0}, {1, 1, 0}}, 2);
  EXPECT_EQ(coverage.strength, 2);
  EXPECT_EQ(coverage.combinations, 3);
  EXPECT_EQ(coverage.complete_combinations, 0);
  EXPECT_EQ(coverage.tuples, 12);
  EXPECT_EQ(coverage.covered_tuples, 6);
  EXPECT_DOUBLE_EQ(coverage.total_coverage, 0.5);
  EXPECT_DOUBLE_EQ(coverage.simple_coverage, 0.0);
  ASSERT_EQ(coverage.missing.size(), 6u);
  // ab misses 01 and 10, in index order.
  EXPECT_THAT(coverage.missing[0], ElementsAre(TwayAssignment{0, 0}, TwayAssignment{1, 1}));
  EXPECT_THAT(coverage.missing[1], ElementsAre(TwayAssignment{0, 1}, TwayAssignment{1, 0}));
  // ac misses 01 and 11.
  EXPECT_THAT(coverage.missing[2], ElementsAre(TwayAssignment{0, 0}, TwayAssignment{2, 1}));
  EXPECT_THAT(coverage.missing[3], ElementsAre(TwayAssignment{0, 1}, TwayAssignment{2, 1}));
}

TEST(TwayCoverage, KuhnEtAlFourBinaryVariablesExample) {
  // The worked example of Kuhn, Dominguez Mendoza, Kacker and Lei (2013): four binary variables,
  // four tests; 19 of 24 2-way tuples covered (79.2%), 2 of 6 combinations complete (bd, cd).
  const Tests tests = {{0, 0, 0, 0}, {0, 1, 1, 0}, {1, 0, 0, 1}, {0, 1, 1, 1}};
  const TwayCoverage coverage = compute_tway_coverage({2, 2, 2, 2}, tests, 2);
  EXPECT_EQ(coverage.tuples, 24);
  EXPECT_EQ(coverage.covered_tuples, 19);
  EXPECT_NEAR(coverage.total_coverage, 19.0 / 24.0, 1e-15);
  EXPECT_EQ(coverage.complete_combinations, 2);
  EXPECT_NEAR(coverage.simple_coverage, 2.0 / 6.0, 1e-15);
  ASSERT_EQ(coverage.per_combination.size(), 6u);
  // Combinations in order ab, ac, ad, bc, bd, cd with 3, 3, 3, 2, 4, 4 tuples covered.
  const std::vector<std::int64_t> covered = {3, 3, 3, 2, 4, 4};
  for (std::size_t i = 0; i < covered.size(); ++i) {
    EXPECT_EQ(coverage.per_combination[i].covered, covered[i]) << "combination " << i;
    EXPECT_EQ(coverage.per_combination[i].tuples, 4);
  }
  EXPECT_THAT(coverage.per_combination[3].parameters, ElementsAre(1, 2));
}

TEST(TwayCoverage, FullFactorialCoversEverything) {
  Tests tests;
  for (std::size_t a = 0; a < 3; ++a) {
    for (std::size_t b = 0; b < 2; ++b) tests.push_back({a, b});
  }
  const TwayCoverage coverage = compute_tway_coverage({3, 2}, tests, 2);
  EXPECT_EQ(coverage.tuples, 6);
  EXPECT_EQ(coverage.covered_tuples, 6);
  EXPECT_DOUBLE_EQ(coverage.simple_coverage, 1.0);
  EXPECT_DOUBLE_EQ(coverage.total_coverage, 1.0);
  EXPECT_TRUE(coverage.missing.empty());
}

TEST(TwayCoverage, OneWayIsTheShareOfValuesSeen) {
  // a in {0,1,2} sees 0 and 2; b in {0,1} sees 1: 3 of 5 values, no parameter complete.
  const TwayCoverage coverage = compute_tway_coverage({3, 2}, {{0, 1}, {2, 1}}, 1);
  EXPECT_EQ(coverage.combinations, 2);
  EXPECT_EQ(coverage.tuples, 5);
  EXPECT_EQ(coverage.covered_tuples, 3);
  EXPECT_EQ(coverage.complete_combinations, 0);
  ASSERT_EQ(coverage.missing.size(), 2u);
  EXPECT_THAT(coverage.missing[0], ElementsAre(TwayAssignment{0, 1}));
  EXPECT_THAT(coverage.missing[1], ElementsAre(TwayAssignment{1, 0}));
}

TEST(TwayCoverage, ThreeWayOverThreeParametersIsOneCombination) {
  const TwayCoverage coverage = compute_tway_coverage({2, 2, 2}, {{0, 0, 0}, {1, 1, 1}}, 3);
  EXPECT_EQ(coverage.strength, 3);
  EXPECT_EQ(coverage.combinations, 1);
  EXPECT_EQ(coverage.tuples, 8);
  EXPECT_EQ(coverage.covered_tuples, 2);
  EXPECT_DOUBLE_EQ(coverage.total_coverage, 0.25);
}

TEST(TwayCoverage, StrengthIsClampedToTheParameterCount) {
  const TwayCoverage coverage = compute_tway_coverage({2, 2}, {{0, 0}}, 5);
  EXPECT_EQ(coverage.strength, 2);
  EXPECT_EQ(coverage.tuples, 4);
  EXPECT_EQ(coverage.covered_tuples, 1);
}

TEST(TwayCoverage, AnUnknownValueCoversNoTupleWithThatParameter) {
  // The second test has no value for b: it covers a=1 only with c (1,1), never with b.
  const TwayCoverage coverage =
      compute_tway_coverage({2, 2, 2}, {{0, 0, 0}, {1, std::nullopt, 1}}, 2);
  // ab: 00; ac: 00, 11; bc: 00 -> 4 of 12.
  EXPECT_EQ(coverage.covered_tuples, 4);
  EXPECT_EQ(coverage.tuples, 12);
}

TEST(TwayCoverage, ConstraintsRemoveImpossibleTuples) {
  // mode in {prefill, decode}, seq_len in {1, 128, 1024}; decode only with 1, prefill only with
  // 128 or 1024: 3 valid (mode, seq_len) tuples. Tests (prefill, 128) and (decode, 1).
  const std::vector<TwayConstraint> constraints = {{0, 1, 1, {0}}, {0, 0, 1, {1, 2}}};
  const TwayCoverage coverage = compute_tway_coverage({2, 3}, {{0, 1}, {1, 0}}, 2, constraints);
  EXPECT_EQ(coverage.tuples, 3);
  EXPECT_EQ(coverage.covered_tuples, 2);
  ASSERT_EQ(coverage.missing.size(), 1u);
  EXPECT_THAT(coverage.missing[0], ElementsAre(TwayAssignment{0, 0}, TwayAssignment{1, 2}));
}

TEST(TwayCoverage, NoParametersIsFullyCovered) {
  const TwayCoverage coverage = compute_tway_coverage({}, {}, 2);
  EXPECT_EQ(coverage.tuples, 0);
  EXPECT_DOUBLE_EQ(coverage.total_coverage, 1.0);
  EXPECT_DOUBLE_EQ(coverage.simple_coverage, 1.0);
}

TEST(TwayCoverage, BadInputThrowsNamingWhatIsWrong) {
  EXPECT_THAT(
      [] {
        compute_tway_coverage({2, 2}, {{0}}, 2);
      },
      ::testing::ThrowsMessage<std::invalid_argument>(
          ::testing::HasSubstr("test 0 has 1 values, expected 2")));
  EXPECT_THAT(
      [] {
        compute_tway_coverage({2, 2}, {{0, 2}}, 2);
      },
      ::testing::ThrowsMessage<std::invalid_argument>(
          ::testing::HasSubstr("gives parameter 1 value 2, its domain has 2")));
  EXPECT_THROW(compute_tway_coverage({2, 2}, {}, 2, {{0, 0, 5, {0}}}), std::invalid_argument);
}

}  // namespace
}  // namespace ttt

// The logits oracle on rows small enough to rank by hand: top-1, top-k containment and overlap,
// the near-tie rule at the first divergent row and the stop after it, and bad input.
#include "validation/metrics/logits_oracle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

namespace ttt {
namespace {

using ::testing::HasSubstr;

Tensor logits(std::int64_t rows, std::vector<float> values, DType dtype = DType::float32) {
  const auto vocab = static_cast<std::int64_t>(values.size()) / rows;
  return Tensor::from_floats({rows, vocab}, std::move(values), dtype);
}

TEST(LogitsOracle, AgreeingRows) {
  // Row 0: device top-3 = {2, 0, 1}, reference top-3 = {2, 0, 3}: overlap 2/3.
  // Row 1: the same order on both sides: overlap 1.
  const Tensor device = logits(2, {3, 2, 5, 1, 0, /**/ 1, 2, 3, 4, 5});
  const Tensor reference = logits(2, {3, 1, 5, 2, 0, /**/ 1, 2, 3, 4, 6});
  const LogitsOracleResult r = compare_logits(device, reference, {.top_k = 3});
  EXPECT_TRUE(r.passed);
  EXPECT_FALSE(r.first_divergent_row.has_value());
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].device_top1, 2);
  EXPECT_TRUE(r.rows[0].top1_match);
  EXPECT_DOUBLE_EQ(r.rows[0].top_k_overlap, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.rows[0].max_abs_error, 1.0);
  EXPECT_DOUBLE_EQ(r.rows[1].top_k_overlap, 1.0);
  EXPECT_EQ(r.rows[1].device_top1, 4);
  EXPECT_EQ(r.rows[1].max_abs_error, 1.0);
  // Row 1: deviations -2..2 against -2.2, -1.2, -0.2, 0.8, 2.8: co-moment 12, sums of squares
  // 10 and 14.8, Pearson 12 / sqrt(148) = 0.98639.
  EXPECT_NEAR(r.rows[1].pcc, 12.0 / std::sqrt(148.0), 1e-12);
  EXPECT_EQ(r.text, "2 rows, top-1 agrees on all");
}

TEST(LogitsOracle, NearTieAtTheFirstDivergenceThenStop) {
  // Row 1: device prefers token 1 (5 against 4.75), the reference token 2: each is the other's
  // second: a near tie with k = 2. Row 2 is never compared (the texts diverged).
  const Tensor device = logits(3, {0, 1, 2, 3, /**/ 0, 5, 4.75, 1, /**/ 9, 0, 0, 0});
  const Tensor reference = logits(3, {0, 1, 2, 3, /**/ 0, 4.75, 5, 1, /**/ 0, 0, 0, 9});
  const LogitsOracleResult r = compare_logits(device, reference, {.top_k = 2});
  EXPECT_TRUE(r.passed);
  ASSERT_TRUE(r.first_divergent_row.has_value());
  EXPECT_EQ(*r.first_divergent_row, 1);
  EXPECT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.total_rows, 3);
  EXPECT_THAT(r.text, HasSubstr("top-1 diverges at row 1 of 3 (device 1, reference 2"));
  EXPECT_THAT(r.text, HasSubstr("a near tie, each in the other's top-2"));
}

TEST(LogitsOracle, ADivergenceThatIsNoTieFails) {
  // Device top-1 is token 3, the reference's fourth; the reference's top-1 (0) is the device's
  // second.
  const Tensor device = logits(1, {5, 1, 2, 6});
  const Tensor reference = logits(1, {6, 5, 4, 3});
  const LogitsOracleResult r = compare_logits(device, reference, {.top_k = 2});
  EXPECT_FALSE(r.passed);
  EXPECT_FALSE(r.rows[0].device_top1_in_reference_top_k);
  EXPECT_TRUE(r.rows[0].reference_top1_in_device_top_k);
  EXPECT_DOUBLE_EQ(r.rows[0].top_k_overlap, 0.5);  // {3, 0} against {0, 1}.
  EXPECT_THAT(r.text, HasSubstr("device's 3 not in the reference's top-2"));
  // With k = 4 every token is in every top-k: a tie by the rule.
  EXPECT_TRUE(compare_logits(device, reference, {.top_k = 4}).passed);
}

TEST(LogitsOracle, TiesRankByTheLowerIdAndNanLast) {
  const Tensor device = logits(1, {NAN, 2, 2, 1});
  const Tensor reference = logits(1, {0, 2, 2, 1});
  const LogitsOracleResult r = compare_logits(device, reference, {.top_k = 3});
  EXPECT_EQ(r.rows[0].device_top1, 1);
  EXPECT_EQ(r.rows[0].reference_top1, 1);
  // Device top-3 {1, 2, 3} (NaN last), reference {1, 2, 3}.
  EXPECT_DOUBLE_EQ(r.rows[0].top_k_overlap, 1.0);
}

TEST(LogitsOracle, LeadingDimensionsAreRowsAndDtypesMayDiffer) {
  const Tensor device = Tensor::from_floats({1, 2, 3}, {1, 2, 3, 3, 2, 1}, DType::bfloat16);
  const Tensor reference = Tensor::from_doubles({1, 2, 3}, {1, 2, 3, 3, 2, 1});
  const LogitsOracleResult r = compare_logits(device, reference, {.top_k = 1});
  EXPECT_EQ(r.total_rows, 2);
  EXPECT_EQ(r.rows[1].device_top1, 0);
  const nlohmann::json json = to_json(r);
  EXPECT_EQ(json.at("total_rows"), 2);
  EXPECT_TRUE(json.at("first_divergent_row").is_null());
  EXPECT_EQ(json.at("rows").at(1).at("reference_top1"), 0);
}

TEST(LogitsOracle, BadInput) {
  const Tensor a = logits(1, {1, 2, 3});
  EXPECT_THAT(
      [&] {
        compare_logits(a, logits(3, {1, 2, 3}));
      },
      ::testing::ThrowsMessage<std::invalid_argument>(
          "[compare_logits] shapes differ: device [1, 3], reference [3, 1]"));
  EXPECT_THAT([&] { compare_logits(a, a, {.top_k = 4}); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  "[compare_logits] top_k 4 must be in [1, 3] (the vocabulary size)"));
  EXPECT_THROW(compare_logits(a, a, {.top_k = 0}), std::invalid_argument);
  const Tensor ids = Tensor::from_int64({3}, {1, 2, 3});
  EXPECT_THAT([&] { compare_logits(ids, ids); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("device logits must be a floating tensor of rank >= 1 [..., vocab]")));
}

}  // namespace
}  // namespace ttt

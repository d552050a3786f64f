// Token accuracy (models/llama/token_accuracy.h): scoring on hand-made logits, the targets file,
// the golden's fit to the model, and the whole run on the shipped trained model.
#include "models/llama/token_accuracy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"

namespace ttt::llama {
namespace {

using ::testing::HasSubstr;

const std::string kModel = std::string(TTT_SOURCE_DIR) + "/models/trained/tiny-llama-bytes";

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "no error";
}

// Prompt {3, 5}, continuation {7}, vocabulary 8; the reference's top-5 per position.
TokenGolden hand_golden() {
  TokenGolden golden;
  golden.prompt = {3, 5};
  golden.continuation = {7};
  golden.top_ids = {5, 1, 2, 3, 4, 7, 0, 1, 2, 3, 6, 5, 4, 3, 2};
  golden.top_log_probs = {-0.1, -2, -3, -4, -5, -0.5, -1, -1.5, -2, -2.5, -0.2, -1, -2, -3, -4};
  golden.provenance = {"tiny", 8, "fnv1a64:00", "hand", "none", "", ""};
  return golden;
}

TEST(TokenAccuracy, ScoresTopOneAndTopFiveAgainstTheReferenceLists) {
  // Device logits whose argmax is 5 (the reference's top-1), 0 (its rank 1), 7 (not in its top-5
  // {6, 5, 4, 3, 2}).
  std::vector<float> logits(3 * 8, 0.0f);
  logits[0 * 8 + 5] = 2.0f;
  logits[1 * 8 + 0] = 1.0f;
  logits[2 * 8 + 7] = 3.0f;
  const TokenAccuracy accuracy =
      score_token_accuracy(hand_golden(), Tensor::from_floats({1, 3, 8}, logits));
  EXPECT_EQ(accuracy.positions, 3);
  EXPECT_EQ(accuracy.top1_matches, 1);
  EXPECT_EQ(accuracy.top5_matches, 2);
  EXPECT_DOUBLE_EQ(accuracy.top1(), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(accuracy.top5(), 2.0 / 3.0);
  EXPECT_EQ(accuracy.first_top1_miss, 1);
  EXPECT_EQ(accuracy.predicted, (std::vector<std::int64_t>{5, 0, 7}));
  // Position 1: the device's 0 is the reference's rank 1, and the reference's 7 is exceeded by
  // one logit only (0's): a near tie.
  EXPECT_TRUE(accuracy.first_miss_near_tie);

  // The first miss at position 2: the device's 7 is not in the reference's top-5 {6, 5, 4, 3, 2}.
  logits[1 * 8 + 0] = 0.0f;
  logits[1 * 8 + 7] = 1.0f;
  const TokenAccuracy far =
      score_token_accuracy(hand_golden(), Tensor::from_floats({3, 8}, logits));
  EXPECT_EQ(far.first_top1_miss, 2);
  EXPECT_FALSE(far.first_miss_near_tie);
  // The first miss at position 1 again, the device's 0 in the reference's top-5, but the
  // reference's 7 (logit -1) below six others: outside the device's top-5.
  logits[1 * 8 + 0] = 5.0f;
  logits[1 * 8 + 7] = -1.0f;
  const TokenAccuracy one_sided =
      score_token_accuracy(hand_golden(), Tensor::from_floats({3, 8}, logits));
  EXPECT_EQ(one_sided.first_top1_miss, 1);
  EXPECT_FALSE(one_sided.first_miss_near_tie);

  EXPECT_EQ(error_of([] {
              score_token_accuracy(hand_golden(), Tensor({3, 9}, DType::float32));
            }),
            "[accuracy] logits of shape [3, 9] do not hold the golden's 3 positions of "
            "vocabulary 8");
}

TEST(TokenAccuracy, TargetsFileIsReadStrictly) {
  test_support::ScratchDir scratch;
  const auto targets_error = [&](const std::string& text) {
    const std::string path = scratch.file("targets.json");
    std::ofstream(path) << text;
    return error_of([&] { read_accuracy_targets(path); });
  };
  const std::string path = scratch.file("targets.json");
  std::ofstream(path) << R"({"targets": [
      {"model": "tiny", "device": "N150", "top1": 0.95, "top5": 1.0, "tolerance": 0.01},
      {"model": "tiny", "device": "T3K", "top1": 0.9, "top5": 0.99, "tolerance": 0.02}]})";
  const std::vector<AccuracyTarget> targets = read_accuracy_targets(path);
  ASSERT_EQ(targets.size(), 2u);
  const AccuracyTarget& t3k = find_accuracy_target(targets, "tiny", "T3K", path);
  EXPECT_EQ(t3k.top1, 0.9);
  EXPECT_EQ(t3k.top5, 0.99);
  EXPECT_EQ(t3k.tolerance, 0.02);
  EXPECT_EQ(error_of([&] { find_accuracy_target(targets, "other", "N150", path); }),
            "[accuracy] " + path +
                " has no target for model 'other' on N150 (it has: tiny on "
                "N150, tiny on T3K)");
  EXPECT_EQ(error_of([&] { find_accuracy_target(targets, "tiny", "TG", path); }),
            "[accuracy] " + path +
                " has no target for model 'tiny' on TG (it has: tiny on N150, "
                "tiny on T3K)");

  EXPECT_EQ(targets_error(R"({"targets": [{"model": "m", "device": "N151", "top1": 1, "top5": 1,
            "tolerance": 0}]})"),
            path +
                ": /targets/0/device: unknown device 'N151' (expected one of: N150, N300, T3K, "
                "TG)");
  EXPECT_EQ(targets_error(R"({"targets": [{"model": "m", "device": "N150", "top1": 1.5, "top5": 1,
            "tolerance": 0}]})"),
            path + ": /targets/0/top1: expected a fraction in [0, 1], got 1.5");
  EXPECT_THAT(targets_error(R"({"targets": [{"model": "m", "device": "N150", "top1": 1, "top5": 1,
            "tolerence": 0}]})"),
              HasSubstr("/targets/0/tolerence: unknown field 'tolerence'"));
  EXPECT_EQ(targets_error(R"({"targets": [
            {"model": "m", "device": "N150", "top1": 1, "top5": 1, "tolerance": 0},
            {"model": "m", "device": "N150", "top1": 1, "top5": 1, "tolerance": 0}]})"),
            path + ": /targets/1: model 'm' on N150 is listed twice");
}

TEST(TokenAccuracy, GoldenOfAnotherModelIsRefused) {
  const ModelDirectory directory = open_model_directory(kModel);
  TokenGolden golden = hand_golden();
  EXPECT_EQ(error_of([&] { check_golden_fits(golden, "g.h5", directory); }),
            "[accuracy] the golden g.h5 was made from another model than " + kModel +
                " (golden vs run: model 'tiny' vs 'tiny-llama-bytes'; vocab_size 8 vs 288; "
                "weights fnv1a64:00 vs fnv1a64:1f0491f2fee6b83a); make one for this model with "
                "ttt accuracy --model " +
                kModel + " --make-golden FILE");
  golden.provenance = golden_provenance(directory);
  EXPECT_NO_THROW(check_golden_fits(golden, "g.h5", directory));
}

TEST(TokenAccuracy, TrainedModelOnN150MeetsItsGoldenAndSelfChecks) {
  const ModelDirectory directory = open_model_directory(kModel);
  const LlamaModel built = build_llama_model(directory, {.validate = false});
  const TokenGolden golden =
      make_token_golden(built.model, ByteTokenizer().encode("count from 120: 120 121 122"), 24, 5,
                        golden_provenance(directory));
  ASSERT_EQ(golden.positions(), 27 + 24);

  const GoldenSelfCheck check = self_check_token_golden(built.model, golden);
  EXPECT_TRUE(check.passed());
  EXPECT_EQ(check.accuracy.top1_matches, 51);
  EXPECT_EQ(check.differing_top_ids, 0);
  EXPECT_EQ(check.max_log_prob_difference, 0.0);

  // A golden whose top-1 at one position is swapped with its rank 1 fails the self-check there.
  TokenGolden tampered = golden;
  std::swap(tampered.top_ids[10 * 5], tampered.top_ids[10 * 5 + 1]);
  const GoldenSelfCheck broken = self_check_token_golden(built.model, tampered);
  EXPECT_FALSE(broken.passed());
  EXPECT_EQ(broken.differing_top_ids, 1);
  EXPECT_EQ(broken.accuracy.first_top1_miss, 10);

  TokenAccuracyOptions options;
  options.target = AccuracyTarget{"tiny-llama-bytes", "N150", 0.9, 0.98, 0.02};
  const TokenAccuracyReport report = run_token_accuracy(directory, golden, options);
  EXPECT_EQ(report.accuracy.positions, 51);
  // TTTv1's N150 defaults (bfloat8_b weights, bfloat16 activations) keep the model's choices.
  EXPECT_GE(report.accuracy.top1(), 0.9);
  EXPECT_GE(report.accuracy.top5(), 0.98);
  EXPECT_TRUE(report.self_check.passed());
  EXPECT_FALSE(report.device_output.degenerate);
  EXPECT_FALSE(report.reference_output.degenerate);
  EXPECT_TRUE(report.target_met);
  EXPECT_TRUE(report.passed());
  const std::string text = format_token_accuracy(report, golden, directory.tokenizer);
  EXPECT_THAT(text, HasSubstr("token accuracy of tiny-llama-bytes on N150 (preset default)"));
  EXPECT_THAT(text, HasSubstr("reference: \" 123 124 125 126.\\ncount \""));
  EXPECT_THAT(text, HasSubstr("token accuracy: PASS"));

  // An unreachable target fails the run (and only the target).
  options.target = AccuracyTarget{"tiny-llama-bytes", "N150", 1.0, 1.0, 0.0};
  const TokenAccuracyReport strict = run_token_accuracy(directory, golden, options);
  EXPECT_EQ(strict.target_met, strict.accuracy.top1_matches == 51);
}

}  // namespace
}  // namespace ttt::llama

// The token and KV diff of two runs (patterns/run_diff.h) on the tiny causal LM (4 layers) decoding
// greedily: a run whose layer 1 attention computes with a wrong softmax scale (A) against the
// correct run (B). What the diff must find follows from the fault:
//   - the first divergent token is where the two runs' greedy tokens, computed here from their
//     logits, first differ;
//   - the first call beyond its band, in the run and at the divergent token's step, is layer 1's
//     attention, on identical inputs (layers 0 and 1 before it compute the same values);
//   - K and V of layers 0 and 1 are projections of inputs the fault never reaches: identical at
//     every position before the divergent token; layers 2 and 3 read layer 1's output, which
//     differs at every position but 0 (position 0 attends to itself alone: a softmax over one
//     score is 1 whatever the scale), so their K and V differ at positions 1, 2, ... only;
//   - from the divergent token's position on, the runs were fed different tokens: every layer
//     differs there, not judged.
// Two correct runs agree; traces of other prompts or calls are refused, naming what differs.
#include "patterns/run_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "patterns/causal_lm.h"
#include "tests/common/scratch_dir.h"
#include "tiny_model.h"
#include "validation/trace/capture.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"
#include "wrong_scale_attention.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using namespace testing_patterns;

constexpr std::int64_t kPromptLength = 6;
constexpr std::int64_t kDecodeSteps = 12;

// Prefills `prompt` and decodes kDecodeSteps tokens greedily with a trace at `path`; returns the
// greedy tokens of every step (the prefill's, then each decode step's), from the logits.
std::vector<std::int64_t> run_greedy(const std::string& path, bool faulty,
                                     const std::vector<std::int64_t>& prompt,
                                     std::int64_t decode_steps = kDecodeSteps) {
  PatternOptions options;
  options.device = "N150";
  const CausalLm model(tiny_modules(tiny_spec(4), faulty), options);
  set_validation_enabled(true);
  validation_registry().reset();
  ScopedTrace trace(path);
  register_weights(model, trace.session());
  const auto length = static_cast<std::int64_t>(prompt.size());
  CausalLmCache cache = model.make_cache(1, length + decode_steps);
  const Tensor logits = model.prefill(Tensor::from_int64({1, length}, prompt), cache);
  std::vector<std::int64_t> tokens{argmax_tokens(logits).data<std::int64_t>()[length - 1]};
  for (std::int64_t step = 0; step < decode_steps; ++step) {
    const Tensor next = model.decode(Tensor::from_int64({1}, {tokens.back()}),
                                     Tensor::from_int64({1}, {length + step}), cache);
    tokens.push_back(argmax_tokens(next).data<std::int64_t>()[0]);
  }
  return tokens;
}

// The tiny LM's seeded weights and tied embeddings make it repeat its last token; with this prompt
// the faulty run leaves the loop at a later step (the test finds which from the tokens).
const std::vector<std::int64_t> kPrompt = {1, 2, 3, 4, 5, 6};

std::int64_t first_difference(const std::vector<std::int64_t>& a,
                              const std::vector<std::int64_t>& b) {
  std::int64_t i = 0;
  while (i < static_cast<std::int64_t>(a.size()) &&
         a[static_cast<std::size_t>(i)] == b[static_cast<std::size_t>(i)]) {
    ++i;
  }
  return i;
}

std::string diff_error(const std::string& a, const std::string& b) {
  try {
    diff_runs(TraceReader::open(a), TraceReader::open(b));
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no error";
}

TEST(RunDiff, NamesTheFaultyLayerAndTheKvPositionsItReaches) {
  const test_support::ScratchDir scratch;
  const std::string faulty = scratch.file("faulty.h5");
  const std::string correct = scratch.file("correct.h5");
  const std::vector<std::int64_t> tokens_a = run_greedy(faulty, true, kPrompt);
  const std::vector<std::int64_t> tokens_b = run_greedy(correct, false, kPrompt);
  const std::int64_t step = first_difference(tokens_a, tokens_b);
  // The construction needs the tokens to diverge before the last decode step, so that the last
  // call's cache holds positions written after the divergence.
  ASSERT_LT(step, kDecodeSteps - 1) << "the wrong scale must change a greedy token";

  const RunDiff diff = diff_runs(TraceReader::open(faulty), TraceReader::open(correct));
  EXPECT_EQ(diff.prompt, kPrompt);
  EXPECT_EQ(diff.steps, kDecodeSteps + 1);
  EXPECT_EQ(diff.layers, 4);
  EXPECT_EQ(diff.tokens_a, tokens_a);
  EXPECT_EQ(diff.tokens_b, tokens_b);
  ASSERT_TRUE(diff.divergence.has_value()) << format_run_diff(diff);
  EXPECT_EQ(diff.divergence->step, step);
  EXPECT_EQ(diff.divergence->position, kPromptLength + step);
  EXPECT_EQ(diff.divergence->token_a, tokens_a[static_cast<std::size_t>(step)]);
  EXPECT_EQ(diff.divergence->token_b, tokens_b[static_cast<std::size_t>(step)]);
  EXPECT_FALSE(diff.agree());

  // The first call beyond its band: layer 1's attention, on inputs identical in both runs.
  // A step is 1 + 4 * 4 + 2 = 19 calls (embedding, 4 per layer, norm, LM head); the prefill's
  // seventh call (seq 6) is layers.1.attention.prefill.
  ASSERT_TRUE(diff.first_difference.has_value());
  EXPECT_EQ(diff.first_difference, diff.first_out_of_band);
  ASSERT_TRUE(diff.first_out_of_band.has_value());
  const CallDiff& first = diff.calls[*diff.first_out_of_band];
  EXPECT_EQ(first.seq, 6);
  EXPECT_EQ(first.name, "layers.1.attention.prefill");
  EXPECT_EQ(first.block, "attention.prefill");
  EXPECT_EQ(first.layer, 1);
  ASSERT_TRUE(first.input_x.has_value());
  EXPECT_EQ(first.input_x->max_abs_error, 0.0);
  ASSERT_TRUE(diff.first_out_of_band_at_divergence.has_value());
  const CallDiff& at = diff.calls[*diff.first_out_of_band_at_divergence];
  EXPECT_EQ(at.seq, 19 * step + 6);
  EXPECT_EQ(at.name, step == 0 ? "layers.1.attention.prefill" : "layers.1.attention.decode");
  EXPECT_EQ(at.layer, 1);
  EXPECT_EQ(at.input_x->max_abs_error, 0.0);
  // Every call of layer 0 (and the embedding) is identical through the divergent step.
  for (const CallDiff& call : diff.calls) {
    if (call.layer == 0 || call.name.rfind("embedding.", 0) == 0) {
      EXPECT_EQ(call.outputs.at(0).metrics.max_abs_error, 0.0) << call.seq << " " << call.name;
    }
  }
  EXPECT_EQ(diff.calls.size(), static_cast<std::size_t>(19 * (step + 1)));

  // The KV cache of the last decode call, at position kPromptLength + kDecodeSteps - 1, holds
  // positions [0, kPromptLength + kDecodeSteps - 1).
  const std::int64_t divergence = kPromptLength + step;
  const std::int64_t positions = kPromptLength + kDecodeSteps - 1;
  ASSERT_EQ(diff.kv.size(), 4u);
  for (const KvLayerDiff& layer : diff.kv) {
    SCOPED_TRACE("layer " + std::to_string(layer.layer));
    EXPECT_EQ(layer.call, "layers." + std::to_string(layer.layer) + ".attention.decode");
    EXPECT_EQ(layer.positions, positions);
    EXPECT_EQ(layer.judged_positions, divergence);
    std::vector<std::int64_t> differing;
    for (const KvPositionDiff& position : layer.differing) {
      differing.push_back(position.position);
      EXPECT_EQ(position.judged, position.position < divergence);
    }
    std::vector<std::int64_t> expected;
    for (std::int64_t p = layer.layer < 2 ? divergence : 1; p < positions; ++p) {
      expected.push_back(p);
    }
    EXPECT_EQ(differing, expected);
  }
  const std::string text = format_run_diff(diff);
  EXPECT_THAT(text, HasSubstr("first divergent token: position " + std::to_string(divergence)));
  EXPECT_THAT(text, HasSubstr("first call beyond its band in the run: 6 layers.1.attention.prefill "
                              "(attention.prefill, layer 1): y: "));
  EXPECT_THAT(text, HasSubstr("its input x: identical (the divergence starts in this call)"));
  EXPECT_THAT(text, HasSubstr("verdict: the runs diverge"));
  const nlohmann::json json = to_json(diff);
  EXPECT_EQ(json.at("divergence").at("position"), divergence);
  EXPECT_EQ(json.at("first_out_of_band").at("name"), "layers.1.attention.prefill");
  EXPECT_EQ(json.at("kv").at(2).at("differing").at(0).at("position"), 1);
  EXPECT_EQ(json.at("agree"), false);
}

TEST(RunDiff, TwoCorrectRunsAgree) {
  const test_support::ScratchDir scratch;
  run_greedy(scratch.file("a.h5"), false, kPrompt);
  run_greedy(scratch.file("b.h5"), false, kPrompt);
  const RunDiff diff =
      diff_runs(TraceReader::open(scratch.file("a.h5")), TraceReader::open(scratch.file("b.h5")));
  EXPECT_TRUE(diff.agree());
  EXPECT_FALSE(diff.divergence.has_value());
  EXPECT_FALSE(diff.first_out_of_band.has_value());
  EXPECT_FALSE(diff.first_difference.has_value());
  EXPECT_EQ(diff.calls.size(), static_cast<std::size_t>(19 * (kDecodeSteps + 1)));
  for (const KvLayerDiff& layer : diff.kv) EXPECT_TRUE(layer.differing.empty());
  const std::string text = format_run_diff(diff);
  EXPECT_THAT(text, HasSubstr("tokens: no divergence: top-1 agrees at all 13 steps"));
  EXPECT_THAT(text, HasSubstr("verdict: no divergence: the runs agree within their bands"));
}

TEST(RunDiff, RefusesRunsOfOtherPromptsOrCalls) {
  const test_support::ScratchDir scratch;
  const std::string base = scratch.file("base.h5");
  run_greedy(base, false, kPrompt);
  // Another prompt: token 3 differs.
  const std::string prompt = scratch.file("prompt.h5");
  run_greedy(prompt, false, {1, 2, 3, 9, 5, 6});
  EXPECT_EQ(diff_error(base, prompt),
            "[diff] the runs have different prompts: token 3 is 4 in " + base + ", 9 in " + prompt);
  const std::string short_prompt = scratch.file("short.h5");
  run_greedy(short_prompt, false, {1, 2, 3});
  EXPECT_EQ(diff_error(base, short_prompt), "[diff] the runs have different prompts: 6 tokens in " +
                                                base + ", 3 in " + short_prompt);
  // Fewer decode steps: the calls of the last 2 steps (19 each) are missing.
  const std::string steps = scratch.file("steps.h5");
  run_greedy(steps, false, kPrompt, kDecodeSteps - 2);
  EXPECT_EQ(diff_error(base, steps), "[diff] the runs made different calls: " + base +
                                         " has 247 calls, " + steps +
                                         " 209; call 209 "
                                         "(embedding.decode) is only in " +
                                         base);
  // A trace of other calls: no causal LM.
  const std::string other = scratch.file("other.h5");
  {
    TraceSession session(other);
    CapturedCall call;
    call.name = "model.scale";
    call.inputs = {{"x", Tensor::from_floats({2}, {1.0f, 2.0f})}};
    call.outputs = {{"y", Tensor::from_floats({2}, {2.0f, 4.0f})}};
    session.capture(call);
  }
  EXPECT_THAT(diff_error(other, base),
              HasSubstr("[diff] " + other +
                        " has no embedding.prefill call: ttt diff reads the "
                        "prompt and each step's logits"));
}

}  // namespace
}  // namespace ttt

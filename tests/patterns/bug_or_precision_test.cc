// Bug or precision, end to end (issue 16's "Done when"): the tiny causal LM with one injected
// fault (layer 1's attention computes with a wrong softmax scale) is captured, and `ttt explain`'s
// library replays every call against the emulation of its device numerics and the float64
// reference: it names layers.1.attention.prefill as the first call precision does not explain
// and blames nothing else, while a run at the performance preset (bfloat4_b FF1/FF3 weights with
// LoFi) is far from float64 in its FFNs and called precision-limited, never a bug.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "patterns/causal_lm.h"
#include "tests/common/scratch_dir.h"
#include "tiny_model.h"
#include "validation/trace/capture.h"
#include "validation/trace/explain.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"
#include "wrong_scale_attention.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace testing_patterns;

// Prefills 6 tokens and decodes 3 (free running) with a trace, optionally with layer 1's
// attention replaced by the faulty one and at a preset.
void run_traced(const std::string& path, bool faulty, std::optional<Preset> preset) {
  PatternOptions options;
  options.device = "N150";
  const CausalLm model(tiny_modules(tiny_spec(3), faulty, preset), options);
  set_validation_enabled(true);
  validation_registry().reset();
  ScopedTrace trace(path);
  register_weights(model, trace.session());
  CausalLmCache cache = model.make_cache(1, 9);
  run_prompt(model, cache, 3);
}

ReplayReport explain(const std::string& path) {
  return replay_trace(TraceReader::open(path), explain_options({}));
}

TEST(BugOrPrecision, AnInjectedFaultIsABugInItsLayerOnly) {
  const test_support::ScratchDir scratch;
  const std::string path = scratch.file("faulty.h5");
  run_traced(path, /*faulty=*/true, std::nullopt);
  const ReplayReport report = explain(path);
  const ExplainSummary summary = summarize_explanations(report);
  ASSERT_TRUE(summary.first_not_explained_seq.has_value()) << format_explanations(report);
  EXPECT_EQ(summary.first_not_explained_name, "layers.1.attention.prefill");
  EXPECT_THAT(summary.first_not_explained_text,
              StartsWith("y: not explained by precision: device vs emulation nmse"));
  EXPECT_EQ(summary.not_explained, 4);  // The prefill and the 3 decode steps of layer 1.
  EXPECT_EQ(summary.not_judged, 0);
  for (const ReplayedCall& call : report.calls) {
    ASSERT_TRUE(call.finding.has_value()) << call.name << ": " << call.message;
    if (call.name.rfind("layers.1.attention.", 0) == 0) {
      EXPECT_EQ(*call.finding, PrecisionFinding::not_explained) << call.name;
    } else {
      // Every other call, downstream of the fault too, is what its numerics make of the
      // (diverged) inputs it received.
      EXPECT_NE(*call.finding, PrecisionFinding::not_explained)
          << call.name << ": " << call.explanations.front().explanation.text;
    }
  }
  EXPECT_THAT(format_explanations(report), HasSubstr("first call not explained by precision: "));
}

TEST(BugOrPrecision, ABfloat4PresetIsPrecision) {
  const test_support::ScratchDir scratch;
  const std::string path = scratch.file("performance.h5");
  run_traced(path, /*faulty=*/false, Preset::performance);
  const ReplayReport report = explain(path);
  const ExplainSummary summary = summarize_explanations(report);
  EXPECT_EQ(summary.not_explained, 0) << format_explanations(report);
  EXPECT_EQ(summary.not_judged, 0);
  std::int64_t ffn_calls = 0;
  for (const ReplayedCall& call : report.calls) {
    if (call.name.find(".ffn.") == std::string::npos) continue;
    ++ffn_calls;
    ASSERT_TRUE(call.finding.has_value()) << call.name;
    EXPECT_EQ(*call.finding, PrecisionFinding::precision_limited)
        << call.name << ": " << call.explanations.front().explanation.text;
    EXPECT_THAT(call.explanations.front().explanation.text,
                StartsWith("precision-limited, as expected for this ImplConfig: device vs "
                           "float64 nmse"));
  }
  EXPECT_EQ(ffn_calls, 12);  // 3 layers, a prefill and 3 decode steps each.
  EXPECT_GE(summary.precision_limited, 12);
}

}  // namespace
}  // namespace ttt

// Finding the first bad layer: a model injects, by constructor, an attention whose softmax scale
// is wrong into layer 1 of 4. The validation report and the offline replay of the captured trace
// both name layers.1.attention.prefill as the first failing call; with teacher forcing every later
// call passes and the model's logits stay those of the correct model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "patterns/causal_lm.h"
#include "tests/common/scratch_dir.h"
#include "tiny_model.h"
#include "validation/metrics/metrics.h"
#include "validation/trace/capture.h"
#include "validation/trace/replay.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/report.h"
#include "validation/wrapper/switches.h"
#include "wrong_scale_attention.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace testing_patterns;

struct ModelRun {
  std::vector<ValidationRecord> records;
  Tensor last_logits;
};

// Prefills 6 tokens and decodes 3, optionally with layer 1's attention replaced and a trace.
ModelRun run_model(bool faulty, bool teacher_forcing, const std::string& trace_path = "") {
  PatternOptions options;
  options.device = "N150";
  options.teacher_forcing = teacher_forcing;
  const CausalLm model(tiny_modules(tiny_spec(4), faulty), options);

  validation_registry().reset();
  std::optional<ScopedTrace> trace;
  if (!trace_path.empty()) {
    trace.emplace(trace_path);
    register_weights(model, trace->session());
  }
  CausalLmCache cache = model.make_cache(1, 9);
  ModelRun run;
  run.last_logits = run_prompt(model, cache, 3);
  trace.reset();
  run.records = validation_registry().records();
  return run;
}

class FirstBadLayerTest : public ::testing::Test {
 protected:
  void SetUp() override { set_validation_enabled(true); }
};

TEST_F(FirstBadLayerTest, ReportAndReplayNameTheInjectedLayer) {
  const test_support::ScratchDir scratch;
  const std::string path = scratch.file("first_bad_layer.h5");
  const ModelRun run = run_model(/*faulty=*/true, /*teacher_forcing=*/true, path);

  // The report: the first failing call is layer 1's attention, and only its calls fail.
  const std::optional<ValidationRecord> first = validation_registry().first_failure();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->name, "layers.1.attention.prefill");
  EXPECT_THAT(first->verdict_text(), HasSubstr("pcc"));
  std::int64_t failed = 0;
  bool after_fault = false;
  for (const ValidationRecord& record : run.records) {
    if (!record.passed) {
      ++failed;
      EXPECT_THAT(record.name, StartsWith("layers.1.attention.")) << record.verdict_text();
    }
    after_fault = after_fault || record.name == "layers.1.attention.prefill";
    if (after_fault && record.name.rfind("layers.1.attention.", 0) != 0) {
      // Teacher forcing: every later module runs on the reference's inputs and passes.
      EXPECT_TRUE(record.passed) << record.name << ": " << record.verdict_text();
      EXPECT_TRUE(record.teacher_forced) << record.name;
    }
  }
  EXPECT_EQ(failed, 4);  // The prefill and the 3 decode steps of layer 1's attention.
  const std::string report = render_console_report(run.records);
  EXPECT_THAT(report, HasSubstr("layers.1.attention.prefill"));

  // The replay of the captured trace, without the model: the same first failure.
  const TraceReader trace = TraceReader::open(path);
  const ReplayReport replay = replay_trace(trace);
  ASSERT_TRUE(replay.summary.first_failure_seq.has_value()) << format_replay_summary(replay);
  EXPECT_EQ(replay.summary.first_failure_name, "layers.1.attention.prefill");
  EXPECT_THAT(replay.summary.first_failure_message, HasSubstr("captured_device"));
  for (const ReplayedCall& call : replay.calls) {
    if (call.status == ReplayStatus::fail) {
      EXPECT_THAT(call.name, StartsWith("layers.1.attention.")) << call.message;
    }
  }
  EXPECT_EQ(replay.summary.failed, 4);
}

TEST_F(FirstBadLayerTest, TeacherForcingKeepsTheLogitsOfTheCorrectModel) {
  const ModelRun clean = run_model(false, false);
  for (const ValidationRecord& record : clean.records) {
    EXPECT_TRUE(record.passed) << record.name << ": " << record.verdict_text();
  }
  const ModelRun forced = run_model(true, true);
  const ModelRun free_running = run_model(true, false);

  // Without teacher forcing each later call still passes against a reference run on its own
  // (diverged) inputs, but the model's output has left the correct model's.
  for (const ValidationRecord& record : free_running.records) {
    if (record.name.rfind("layers.1.attention.", 0) != 0) {
      EXPECT_TRUE(record.passed) << record.name << ": " << record.verdict_text();
    }
  }
  const double forced_pcc = compute_metrics(forced.last_logits, clean.last_logits).pcc;
  const double free_pcc = compute_metrics(free_running.last_logits, clean.last_logits).pcc;
  EXPECT_GE(forced_pcc, 0.999);  // Measured 0.9999.
  EXPECT_LT(free_pcc, 0.97);     // Measured 0.92.
}

}  // namespace
}  // namespace ttt

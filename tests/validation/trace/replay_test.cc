// replay_trace: the three comparisons, the first failing call in capture order, filters,
// --fail-fast, --strict, tolerance overrides, reports (JSON, JUnit) and bad input.
//
// Test blocks live in a test registry: "test.scale" (y = x * s in float32, or x * s + drift when
// impl_config says so, to stand for a changed implementation), "test.throws", "test.wrong".
#include "validation/trace/replay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/validation/trace/trace_test_util.h"
#include "validation/tensor/random.h"
#include "validation/trace/capture.h"

namespace ttt {
namespace {

using test_support::ScratchDir;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;

Tensor times(const Tensor& x, double scale, double drift) {
  std::vector<float> values(x.floats().begin(), x.floats().end());
  for (float& value : values) value = static_cast<float>(value * scale + drift);
  return Tensor::from_floats(x.shape(), std::move(values));
}

// A registry with the test blocks.
BlockRegistry& test_registry() {
  static BlockRegistry* registry = [] {
    auto* created = new BlockRegistry();
    created->add(
        {.kind = "test.scale",
         .inputs = {"x"},
         .outputs = {"y"},
         // Absolute thresholds make the expected failure lines easy to derive by hand.
         .tolerances = Tolerances::tt_metal_default(),
         .bind = [](const BlockCall& call) {
           const Tensor x = call.input("x");
           const double s = call.scalars.at("s").get<double>();
           const double drift = call.impl_config.value("drift", 0.0);
           if (call.spec.contains("n") && call.spec.at("n").get<std::int64_t>() != x.numel()) {
             throw std::invalid_argument("[test.scale] input x has " + std::to_string(x.numel()) +
                                         " elements, spec says " + call.spec.at("n").dump());
           }
           return BoundCall{[=] {
                              return named({{"y", times(x, s, drift)}});
                            },
                            [=] {
                              return named({{"y", times(x, s, 0.0)}});
                            }};
         }});
    created->add(
        {.kind = "test.throws", .inputs = {}, .outputs = {"y"}, .bind = [](const BlockCall&) {
           return BoundCall{
               []() -> std::vector<NamedTensor> { throw std::runtime_error("kernel exploded"); },
               [] {
                 return named({{"y", Tensor::scalar(1.0f)}});
               }};
         }});
    created->add(
        {.kind = "test.wrong", .inputs = {}, .outputs = {"y"}, .bind = [](const BlockCall&) {
           return BoundCall{[] {
                              return named({{"z", Tensor::scalar(1.0f)}});
                            },
                            [] {
                              return named({{"y", Tensor::scalar(1.0f)}});
                            }};
         }});
    return created;
  }();
  return *registry;
}

// A captured test.scale call: device output with `captured_drift` (what the implementation did
// at capture time), reference exact.
CapturedCall scale(const std::string& name, std::uint64_t seed, double s, double captured_drift) {
  CapturedCall call;
  call.name = name;
  call.block = "test.scale";
  call.scalars_json = "{\"s\": " + std::to_string(s) + "}";
  const Tensor x = random_normal({4, 8}, seed);
  call.inputs = {{"x", x}};
  call.outputs = {{"y", times(x, s, captured_drift)}};
  call.reference_outputs = {{"y", times(x, s, 0.0)}};
  return call;
}

class Replay : public ::testing::Test {
 protected:
  // Writes `calls` to a trace and opens it.
  TraceReader write(const std::vector<CapturedCall>& calls, TraceOptions options = {}) {
    {
      TraceSession session(path_, options);
      for (const CapturedCall& call : calls) session.capture(call);
      EXPECT_EQ(session.error(), std::nullopt);
    }
    return TraceReader::open(path_);
  }
  ReplayOptions options() {
    ReplayOptions replay;
    replay.registry = &test_registry();
    return replay;
  }
  ScratchDir dir_;
  std::string path_ = dir_.file("t.h5");
};

TEST_F(Replay, AllThreeComparisonsPass) {
  const TraceReader trace = write({scale("a", 1, 2.0, 0.0), scale("b", 2, 0.5, 0.0)});
  const ReplayReport report = replay_trace(trace, options());
  EXPECT_EQ(report.trace, path_);
  EXPECT_EQ(report.summary.total, 2);
  EXPECT_EQ(report.summary.passed, 2);
  EXPECT_FALSE(report.summary.first_failure_seq.has_value());
  ASSERT_EQ(report.calls.size(), 2u);
  const ReplayedCall& call = report.calls[1];
  EXPECT_EQ(call.seq, 1);
  EXPECT_EQ(call.path, "/calls/000001");
  EXPECT_EQ(call.name, "b");
  EXPECT_EQ(call.block, "test.scale");
  ASSERT_EQ(call.comparisons.size(), 3u);
  for (const ReplayComparison& comparison : call.comparisons) {
    EXPECT_EQ(comparison.output, "y");
    EXPECT_EQ(comparison.metrics.max_abs_error, 0.0);
    EXPECT_EQ(comparison.metrics.pcc, 1.0);
    EXPECT_TRUE(comparison.verdict.passed);
  }
}

TEST_F(Replay, ChangedImplementationFailsAgainstCapturedAndNamesTheFirstFailingCall) {
  // Captured before a change: calls 0-1 as now; calls 2-3 were captured with a drift that the
  // implementation no longer has, so device-now differs from the captured device output there.
  const TraceReader trace =
      write({scale("layers.0", 1, 1.0, 0.0), scale("layers.1", 2, 1.0, 0.0),
             scale("layers.2", 3, 1.0, 0.25), scale("layers.3", 4, 1.0, 0.5)});
  const ReplayReport report = replay_trace(trace, options());
  EXPECT_EQ(report.summary.passed, 2);
  EXPECT_EQ(report.summary.failed, 2);
  ASSERT_TRUE(report.summary.first_failure_seq.has_value());
  EXPECT_EQ(*report.summary.first_failure_seq, 2);
  EXPECT_EQ(report.summary.first_failure_name, "layers.2");
  EXPECT_EQ(report.summary.first_failure_path, "/calls/000002");
  EXPECT_THAT(report.summary.first_failure_message,
              ::testing::StartsWith("captured_device y: max_abs_error 0.25 > 0.01 at ["));
  const ReplayedCall& failed = report.calls[2];
  EXPECT_TRUE(failed.comparisons[0].verdict.passed);   // reference_now: accuracy is fine.
  EXPECT_FALSE(failed.comparisons[1].verdict.passed);  // captured_device: it changed.
  EXPECT_TRUE(failed.comparisons[2].verdict.passed);   // captured_reference: fine.
  EXPECT_NEAR(failed.comparisons[1].metrics.max_abs_error, 0.25, 1e-6);
  EXPECT_THAT(format_replay_summary(report),
              HasSubstr("first failing call: 2 layers.2 (/calls/000002): captured_device y"));

  ReplayOptions fail_fast = options();
  fail_fast.fail_fast = true;
  const ReplayReport stopped = replay_trace(trace, fail_fast);
  EXPECT_EQ(stopped.calls.size(), 3u);
  EXPECT_EQ(stopped.summary.not_run, 1);
  EXPECT_EQ(stopped.summary.failed, 1);

  ReplayOptions reference_only = options();
  reference_only.against = ReplayAgainst::reference;
  const ReplayReport accuracy = replay_trace(trace, reference_only);
  EXPECT_EQ(accuracy.summary.passed, 4);
  EXPECT_EQ(accuracy.calls[2].comparisons.size(), 1u);
  EXPECT_EQ(accuracy.calls[2].comparisons[0].against, "reference_now");

  ReplayOptions captured_only = options();
  captured_only.against = ReplayAgainst::captured;
  const ReplayReport captured = replay_trace(trace, captured_only);
  EXPECT_EQ(captured.summary.failed, 2);
  EXPECT_EQ(captured.calls[0].comparisons.size(), 2u);
  EXPECT_EQ(captured.calls[0].comparisons[0].against, "captured_device");
}

TEST_F(Replay, DeviceNowDriftFailsAgainstTheReferenceNow) {
  CapturedCall drifted = scale("a", 1, 1.0, 0.0);
  drifted.impl_config_json = R"({"drift": 0.5})";
  const TraceReader trace = write({drifted});
  const ReplayReport report = replay_trace(trace, options());
  ASSERT_EQ(report.calls[0].status, ReplayStatus::fail);
  EXPECT_EQ(report.calls[0].message, "reference_now y: max_abs_error 0.5 > 0.01 at [0, 0]");
}

TEST_F(Replay, FilterSelectsCallsByGlob) {
  const TraceReader trace =
      write({scale("layers.0.mlp", 1, 1.0, 0.0), scale("layers.0.attention", 2, 1.0, 0.0),
             scale("layers.1.mlp", 3, 1.0, 0.0)});
  ReplayOptions filtered = options();
  filtered.filter = "layers.*.mlp";
  const ReplayReport report = replay_trace(trace, filtered);
  EXPECT_EQ(report.summary.total, 2);
  EXPECT_EQ(report.calls[1].seq, 2);
}

TEST_F(Replay, ToleranceOverridesReplaceTheBlockDefaultsFieldByField) {
  CapturedCall call = scale("a", 1, 1.0, 0.0);
  call.impl_config_json = R"({"drift": 0.001})";
  const TraceReader trace = write({call});
  EXPECT_EQ(replay_trace(trace, options()).summary.passed, 1);  // 0.001 <= 1e-2.
  ReplayOptions tight = options();
  tight.tolerance_overrides.max_abs_error = 1e-4;
  const ReplayReport report = replay_trace(trace, tight);
  EXPECT_EQ(report.summary.failed, 1);
  EXPECT_THAT(report.calls[0].message, HasSubstr("max_abs_error 0.001 > 1e-04"));
}

TEST_F(Replay, UnknownOrMissingBlocksAreSkippedOrFailWhenStrict) {
  CapturedCall unknown = scale("a", 1, 1.0, 0.0);
  unknown.block = "not.registered";
  CapturedCall none = scale("b", 2, 1.0, 0.0);
  none.block = "";
  const TraceReader trace = write({unknown, none, scale("c", 3, 1.0, 0.0)});
  const ReplayReport report = replay_trace(trace, options());
  EXPECT_EQ(report.summary.skipped, 2);
  EXPECT_EQ(report.summary.passed, 1);
  EXPECT_EQ(report.calls[0].message, "unknown block kind 'not.registered'");
  EXPECT_EQ(report.calls[1].message, "the call names no block kind");
  ReplayOptions strict = options();
  strict.strict = true;
  const ReplayReport strict_report = replay_trace(trace, strict);
  EXPECT_EQ(strict_report.summary.failed, 2);
  EXPECT_EQ(strict_report.summary.first_failure_seq, 0);
}

TEST_F(Replay, NothingCapturedToCompareWithIsSkipped) {
  CapturedCall bare = scale("a", 1, 1.0, 0.0);
  bare.outputs.clear();
  bare.reference_outputs.clear();
  const TraceReader trace = write({bare});
  ReplayOptions captured_only = options();
  captured_only.against = ReplayAgainst::captured;
  EXPECT_EQ(replay_trace(trace, captured_only).calls[0].status, ReplayStatus::skipped);
  captured_only.strict = true;
  EXPECT_EQ(replay_trace(trace, captured_only).calls[0].status, ReplayStatus::fail);
  EXPECT_EQ(replay_trace(trace, options()).calls[0].status, ReplayStatus::pass);
}

TEST_F(Replay, BlocksThatThrowOrReturnOtherOutputsFailTheirCall) {
  CapturedCall throws;
  throws.name = "boom";
  throws.block = "test.throws";
  CapturedCall wrong;
  wrong.name = "wrong";
  wrong.block = "test.wrong";
  const TraceReader trace = write({throws, wrong});
  const ReplayReport report = replay_trace(trace, options());
  EXPECT_EQ(report.summary.failed, 2);
  EXPECT_EQ(report.calls[0].message, "the device implementation threw: kernel exploded");
  EXPECT_EQ(report.calls[1].message,
            "the device implementation returned outputs [z], the block declares [y]");
}

TEST_F(Replay, BadInputNamesTheFileAndThePathInside) {
  CapturedCall missing = scale("a", 1, 1.0, 0.0);
  missing.inputs[0].name = "not_x";
  {
    const TraceReader trace = write({missing});
    try {
      replay_trace(trace, options());
      FAIL() << "expected a TraceError";
    } catch (const TraceError& error) {
      EXPECT_EQ(error.object(), "/calls/000000/inputs/x");
      EXPECT_EQ(std::string(error.what()),
                path_ +
                    ":/calls/000000/inputs/x: missing dataset (block test.scale needs "
                    "input 'x')");
    }
  }
  CapturedCall contradicts = scale("a", 1, 1.0, 0.0);
  contradicts.spec_json = R"({"n": 5})";
  {
    const TraceReader trace = write({contradicts});
    try {
      replay_trace(trace, options());
      FAIL() << "expected a TraceError";
    } catch (const TraceError& error) {
      EXPECT_EQ(std::string(error.what()),
                path_ + ":/calls/000000: [test.scale] input x has 32 elements, spec says 5");
    }
  }
  CapturedCall captured_shape = scale("a", 1, 1.0, 0.0);
  captured_shape.outputs[0].tensor = random_normal({3}, 1);
  {
    const TraceReader trace = write({captured_shape});
    try {
      replay_trace(trace, options());
      FAIL() << "expected a TraceError";
    } catch (const TraceError& error) {
      EXPECT_EQ(error.object(), "/calls/000000/outputs/y");
      EXPECT_THAT(error.what(), HasSubstr("has shape [3], but the replayed output 'y' has shape "
                                          "[4, 8]"));
    }
  }
}

TEST_F(Replay, JsonReportHasCallsAndSummary) {
  const TraceReader trace = write({scale("a", 1, 1.0, 0.0), scale("b", 2, 1.0, 0.5)});
  const nlohmann::json json = to_json(replay_trace(trace, options()));
  EXPECT_EQ(json.at("trace"), path_);
  ASSERT_EQ(json.at("calls").size(), 2u);
  const nlohmann::json& call = json.at("calls").at(1);
  EXPECT_EQ(call.at("seq"), 1);
  EXPECT_EQ(call.at("name"), "b");
  EXPECT_EQ(call.at("block"), "test.scale");
  EXPECT_EQ(call.at("status"), "fail");
  ASSERT_EQ(call.at("comparisons").size(), 3u);
  const nlohmann::json& comparison = call.at("comparisons").at(1);
  EXPECT_EQ(comparison.at("against"), "captured_device");
  EXPECT_EQ(comparison.at("output"), "y");
  EXPECT_EQ(comparison.at("passed"), false);
  EXPECT_NEAR(comparison.at("metrics").at("max_abs_error").get<double>(), 0.5, 1e-6);
  EXPECT_TRUE(comparison.at("metrics").contains("pcc"));
  const nlohmann::json& summary = json.at("summary");
  EXPECT_EQ(summary.at("total"), 2);
  EXPECT_EQ(summary.at("passed"), 1);
  EXPECT_EQ(summary.at("failed"), 1);
  EXPECT_EQ(summary.at("skipped"), 0);
  EXPECT_EQ(summary.at("first_failure").at("seq"), 1);
  EXPECT_EQ(summary.at("first_failure").at("name"), "b");
  EXPECT_TRUE(to_json(replay_trace(TraceReader::open(path_),
                                   [&] {
                                     ReplayOptions filtered = options();
                                     filtered.filter = "a";
                                     return filtered;
                                   }()))
                  .at("summary")
                  .at("first_failure")
                  .is_null());
}

TEST_F(Replay, JunitReportMarksFailuresAndSkips) {
  CapturedCall unknown = scale("u<1>", 3, 1.0, 0.0);
  unknown.block = "nope";
  const TraceReader trace = write({scale("a", 1, 1.0, 0.0), scale("b", 2, 1.0, 0.5), unknown});
  const std::string xml = to_junit_xml(replay_trace(trace, options()));
  EXPECT_THAT(xml, HasSubstr("<testsuite name=\"ttt replay " + path_ +
                             "\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\""));
  // Every case has a time; the block kind is the classname, its dot replaced (Jenkins would
  // read "test" as a Java package).
  EXPECT_THAT(xml, ContainsRegex("<testcase classname=\"test_scale\" name=\"0 a\" "
                                 "time=\"[0-9]+\\.[0-9]{6}\"/>"));
  EXPECT_THAT(xml, HasSubstr("<failure message=\"captured_device y: max_abs_error 0.5 &gt; 0.01 "
                             "at ["));
  EXPECT_THAT(xml, HasSubstr("type=\"ReplayFailure\">"));
  EXPECT_THAT(xml, HasSubstr("name=\"2 u&lt;1&gt;\""));
  EXPECT_THAT(xml, HasSubstr("<skipped message=\"unknown block kind &apos;nope&apos;\"/>"));
}

TEST_F(Replay, ProgressIsReportedAfterEachCall) {
  const TraceReader trace = write({scale("a", 1, 1.0, 0.0), scale("b", 2, 1.0, 0.0)});
  std::vector<std::pair<std::size_t, std::size_t>> progress;
  ReplayOptions with_progress = options();
  with_progress.on_call_done = [&](std::size_t done, std::size_t total, const ReplayedCall&) {
    progress.emplace_back(done, total);
  };
  replay_trace(trace, with_progress);
  EXPECT_EQ(progress, (std::vector<std::pair<std::size_t, std::size_t>>{{1, 2}, {2, 2}}));
}

// Issue 12: `ttt replay --json` on 100k calls held 915 MB. The JSON is now written call by call
// while the report keeps no comparisons; the text must be the one to_json(report) gave.
TEST_F(Replay, StreamedJsonIsTheWholeReportWithBoundedMemory) {
  CapturedCall unknown = scale("u<1>", 3, 1.0, 0.0);
  unknown.block = "nope";
  const TraceReader trace = write({scale("a", 1, 1.0, 0.0), scale("b\"quoted\"", 2, 1.0, 0.5),
                                   unknown, scale("d", 4, 2.0, 0.0)});
  const ReplayReport whole = replay_trace(trace, options());
  const std::string expected = to_json(whole).dump(2) + "\n";

  std::ostringstream streamed;
  ReplayJsonWriter writer(streamed, trace.path());
  ReplayOptions streaming = options();
  streaming.keep_comparisons = false;
  std::size_t seen = 0;
  streaming.on_call_done = [&](std::size_t, std::size_t, const ReplayedCall& call) {
    EXPECT_FALSE(call.status != ReplayStatus::skipped && call.comparisons.empty());
    writer.add(call);
    ++seen;
  };
  const ReplayReport kept = replay_trace(trace, streaming);
  writer.finish(kept.summary);

  EXPECT_EQ(seen, 4u);
  EXPECT_EQ(streamed.str(), expected);
  const nlohmann::json parsed = nlohmann::json::parse(streamed.str());
  ASSERT_EQ(parsed.at("calls").size(), 4u);
  EXPECT_EQ(parsed.at("calls").at(1).at("comparisons").size(), 3u);  // Against both.
  // What the report keeps: status and message, no metrics.
  ASSERT_EQ(kept.calls.size(), 4u);
  for (const ReplayedCall& call : kept.calls) EXPECT_TRUE(call.comparisons.empty());
  EXPECT_EQ(kept.calls[1].status, ReplayStatus::fail);
  EXPECT_EQ(kept.summary.failed, whole.summary.failed);
}

TEST_F(Replay, StreamedJsonOfNoCallsMatchesToo) {
  const TraceReader trace = write({scale("a", 1, 1.0, 0.0)});
  ReplayOptions none = options();
  none.filter = "nothing*";
  const ReplayReport report = replay_trace(trace, none);
  std::ostringstream streamed;
  ReplayJsonWriter writer(streamed, trace.path());
  writer.finish(report.summary);
  EXPECT_EQ(streamed.str(), to_json(report).dump(2) + "\n");
}

TEST(ReplayAgainstNames, ParseAndReject) {
  EXPECT_EQ(parse_replay_against("reference"), ReplayAgainst::reference);
  EXPECT_EQ(parse_replay_against("captured"), ReplayAgainst::captured);
  EXPECT_EQ(parse_replay_against("both"), ReplayAgainst::both);
  EXPECT_THROW(parse_replay_against("all"), std::invalid_argument);
}

}  // namespace
}  // namespace ttt

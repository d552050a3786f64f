// The registry: queries, first failure, clear/reset, and the per-name summary.
#include "validation/wrapper/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::SizeIs;

OutputCheck check(const std::string& name, double pcc, double max_abs_error, bool passed) {
  OutputCheck output;
  output.name = name;
  Metrics metrics;
  metrics.pcc = pcc;
  metrics.max_abs_error = max_abs_error;
  output.metrics = metrics;
  output.verdict.passed = passed;
  if (!passed) output.verdict.failures.push_back("pcc " + std::to_string(pcc) + " < 0.99");
  return output;
}

ValidationRecord record(const std::string& name, std::int64_t call_index, std::int64_t device_ns,
                        std::int64_t reference_ns, std::vector<OutputCheck> outputs) {
  ValidationRecord r;
  r.name = name;
  r.call_index = call_index;
  r.first_call = call_index == 0;
  r.device_ns = device_ns;
  r.reference_ns = reference_ns;
  r.outputs = std::move(outputs);
  r.passed = true;
  for (const auto& o : r.outputs) r.passed = r.passed && o.verdict.passed;
  r.location = {"/src/model.cc", 42, "forward"};
  return r;
}

TEST(ValidationRecord, FailureLinesListStagesThenOutputs) {
  ValidationRecord r = record("a", 0, 1, 1, {check("out0", 0.5, 1.0, false)});
  r.errors.push_back({"teacher_forcing", "shape differs"});
  EXPECT_THAT(r.failure_lines(),
              ElementsAre("teacher_forcing: shape differs", "out0: pcc 0.500000 < 0.99"));
  EXPECT_EQ(r.verdict_text(), "teacher_forcing: shape differs; out0: pcc 0.500000 < 0.99");
  EXPECT_EQ(record("b", 0, 1, 1, {}).verdict_text(), "pass");
  EXPECT_EQ(r.location.text(), "/src/model.cc:42");
}

TEST(Summarize, PerNameWorstMetricsMediansAndSpeedup) {
  // "attn": the first call (warm-up, 1000 ns) is left out of the medians: device median of
  // 10, 30, 20 is 20; reference median of 80 and 40 (one call did not run the reference) is 60.
  const std::vector<ValidationRecord> records = {
      record("attn", 0, 1000, 5000, {check("out", 0.999, 0.001, true)}),
      record("mlp", 0, 7, 21, {check("out", 0.9999, 0.0001, true)}),
      record("attn", 1, 10, 80, {check("out", 0.95, 0.2, false), check("k", 0.99, 0.3, true)}),
      record("attn", 2, 30, -1, {}),
      record("attn", 3, 20, 40, {check("out", 0.998, 0.01, true)}),
  };
  const ValidationSummary summary = summarize(records);
  EXPECT_EQ(summary.calls, 5);
  EXPECT_EQ(summary.passed, 4);
  EXPECT_EQ(summary.failed, 1);
  ASSERT_THAT(summary.names, SizeIs(2));
  const NameSummary& attn = summary.names[0];
  EXPECT_EQ(attn.name, "attn");
  EXPECT_EQ(attn.calls, 4);
  EXPECT_EQ(attn.passed, 3);
  EXPECT_EQ(attn.failed, 1);
  EXPECT_EQ(attn.worst_pcc, 0.95);
  EXPECT_EQ(attn.worst_max_abs_error, 0.3);
  EXPECT_EQ(attn.median_device_ns, 20.0);
  EXPECT_EQ(attn.median_reference_ns, 60.0);
  EXPECT_EQ(attn.speedup, 3.0);
  EXPECT_EQ(attn.location.line, 42u);
  const NameSummary& mlp = summary.names[1];
  EXPECT_EQ(mlp.calls, 1);
  // Only a first call: its times are used.
  EXPECT_EQ(mlp.median_device_ns, 7.0);
  EXPECT_EQ(mlp.median_reference_ns, 21.0);
  EXPECT_EQ(mlp.speedup, 3.0);
}

TEST(Summarize, NaNIsTheWorstAndMissingMetricsStayUnset) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const ValidationSummary summary = summarize({
      record("x", 0, 1, -1, {check("out", 0.5, 1.0, false)}),
      record("x", 1, 1, -1, {check("out", nan, nan, false)}),
      record("x", 2, 1, -1, {check("out", 0.1, 9.0, false)}),
      record("y", 0, 1, -1, {}),
  });
  EXPECT_TRUE(std::isnan(*summary.names[0].worst_pcc));
  EXPECT_TRUE(std::isnan(*summary.names[0].worst_max_abs_error));
  EXPECT_FALSE(summary.names[0].median_reference_ns.has_value());
  EXPECT_FALSE(summary.names[0].speedup.has_value());
  EXPECT_FALSE(summary.names[1].worst_pcc.has_value());
  EXPECT_FALSE(summary.names[1].worst_max_abs_error.has_value());
}

TEST(ValidationRegistry, QueriesFirstFailureClearAndReset) {
  ValidationRegistry registry;
  EXPECT_EQ(registry.add(record("layers.0.attn", 0, 1, 1, {check("o", 1, 0, true)})), 0);
  EXPECT_EQ(registry.add(record("layers.0.mlp", 0, 1, 1, {check("o", 0.5, 1, false)})), 1);
  EXPECT_EQ(registry.add(record("layers.1.mlp", 0, 1, 1, {check("o", 0.4, 1, false)})), 2);
  EXPECT_EQ(registry.size(), 3u);
  EXPECT_EQ(registry.next_sequence(), 3);

  EXPECT_THAT(registry.records({.name_filter = "*.mlp"}), SizeIs(2));
  EXPECT_THAT(registry.records({.failed_only = true}), SizeIs(2));
  EXPECT_THAT(registry.records({.name_filter = "layers.*,-*.mlp"}), SizeIs(1));
  const auto since = registry.records({.min_sequence = 2});
  ASSERT_THAT(since, SizeIs(1));
  EXPECT_EQ(since[0].name, "layers.1.mlp");
  ASSERT_TRUE(registry.first_failure().has_value());
  EXPECT_EQ(registry.first_failure()->name, "layers.0.mlp");
  EXPECT_EQ(registry.summary({.name_filter = "*.mlp"}).failed, 2);

  auto state = registry.name_state("layers.0.attn");
  EXPECT_EQ(state, registry.name_state("layers.0.attn"));
  state->calls = 5;
  registry.clear();
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_FALSE(registry.first_failure().has_value());
  EXPECT_EQ(state->calls, 5);                            // clear() keeps counting calls.
  EXPECT_EQ(registry.add(record("z", 0, 1, 1, {})), 3);  // Sequences keep increasing.
  registry.reset();
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_EQ(state->calls, 0);
}

// Spellings of std::source_location::function_name() by GCC and Clang, reduced to the name.
TEST(ReadableFunctionNameTest, KeepsTheQualifiedNameOnly) {
  EXPECT_EQ(readable_function_name("int main(int, char**)"), "main");
  EXPECT_EQ(readable_function_name("virtual void ttt::{anonymous}::Foo_Bar_Test::TestBody()"),
            "ttt::{anonymous}::Foo_Bar_Test::TestBody");
  EXPECT_EQ(readable_function_name("virtual void ttt::(anonymous namespace)::Foo_Test::TestBody()"),
            "ttt::(anonymous namespace)::Foo_Test::TestBody");
  EXPECT_EQ(readable_function_name(
                "std::function<ttt::Tensor(std::vector<ttt::pattern_detail::CallInput>&)> "
                "ttt::pattern_detail::{anonymous}::make_call(const std::string&, ttt::"
                "CompareOptions, FixedArity<std::integer_sequence<long unsigned int, 0, 1> >) "
                "[with long unsigned int ...I = {0, 1}]"),
            "ttt::pattern_detail::{anonymous}::make_call");
  EXPECT_EQ(readable_function_name("ttt::Tensor ttt::Model<float>::forward(const ttt::Tensor&) "
                                   "const"),
            "ttt::Model::forward");
  EXPECT_EQ(readable_function_name("auto ttt::Model::run() const::<lambda(int)>"),
            "ttt::Model::run");
  EXPECT_EQ(readable_function_name("bool ttt::Model::operator()(int) const"),
            "ttt::Model::operator()");
  EXPECT_EQ(readable_function_name("bool ttt::operator<(const A&, const A&)"), "ttt::operator<");
  EXPECT_EQ(readable_function_name(""), "");
}

}  // namespace
}  // namespace ttt

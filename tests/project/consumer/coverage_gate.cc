// Coverage collection and a gate decision through the installed library: a validated call is
// collected into a coverage file, a one-case suite runs, and the gate judges its results with
// their coverage. Exits 0 only when every step gives the expected, hand-checked outcome.
#include <cstdio>
#include <string>

#include "coverage/collector.h"
#include "coverage/suite_coverage.h"
#include "gate/gate.h"
#include "suites/suite/suite.h"
#include "suites/suite/targets.h"
#include "validation/tensor/random.h"
#include "validation/wrapper/compare_to_reference.h"

namespace {

ttt::Tensor twice(const ttt::Tensor& x) {
  ttt::Tensor y = x.clone();
  for (float& v : y.mutable_floats()) v *= 2.0f;
  return y;
}
ttt::Tensor twice_bfloat16(const ttt::Tensor& x) { return twice(x).to(ttt::DType::bfloat16); }

}  // namespace

int main() {
  const std::string path = "consumer_coverage.jsonl";
  std::remove(path.c_str());
  std::int64_t written = 0;
  {
    // Three validated calls of one wrapped function aggregate into one record of 3 calls.
    ttt::ScopedCoverage coverage(path, {.origin = "consumer"});
    auto scale = ttt::compare_to_reference("consumer.twice", twice_bfloat16, twice);
    for (int seed = 1; seed <= 3; ++seed) scale(ttt::random_normal({2, 8}, seed));
    written = coverage.collector().records_written();
  }
  const std::vector<ttt::CoverageRecord> records = ttt::read_coverage_data(path);
  std::int64_t calls = 0;
  for (const ttt::CoverageRecord& record : records) calls += record.calls;
  std::printf("coverage: %lld records written, %lld calls read back\n",
              static_cast<long long>(written), static_cast<long long>(calls));

  ttt::Suite suite("consumer", {.seed = 1});
  suite.add_case(ttt::block_case({.kind = "gated_mlp",
                                  .spec = {{"hidden_dim", 64}, {"ffn_dim", 128}},
                                  .mode = ttt::Mode::decode}))
      .with_seeded_inputs({.batch = 1})
      .expect_pcc(0.99);
  ttt::GateInputs inputs;
  inputs.results = suite.run();
  inputs.coverage = ttt::coverage_report(inputs.results);
  const ttt::GateDecision decision = ttt::decide_gate(inputs);
  std::printf("gate: %lld case(s), %lld blocking, %s\n", static_cast<long long>(decision.cases),
              static_cast<long long>(decision.blocking),
              decision.may_merge ? "may merge" : "blocked");
  const bool ok = written == 3 && calls == 3 && decision.cases == 1 && decision.may_merge;
  return ok ? 0 : 1;
}

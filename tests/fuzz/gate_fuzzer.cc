// libFuzzer target for `ttt gate` inputs: the same bytes are read as a gate policy, and as a
// baseline (a ttt-gate-baseline file or plain suite results) whose results are then judged
// against themselves as `ttt gate --results R.json --baseline R.json` does, in every rendering.
// Every path must end in success or a std::exception. docs/testing.md "Fuzzing".
#include <cstddef>
#include <cstdint>
#include <exception>

#include "coverage/suite_coverage.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = ttt::fuzz::write_input("gate.json", data, size);
  try {
    ttt::to_json(ttt::load_gate_policy(path));
  } catch (const std::exception&) {
  }
  try {
    const ttt::GateBaseline baseline = ttt::load_gate_baseline(path);
    ttt::to_json(baseline);
    ttt::GateInputs inputs;
    inputs.results = baseline.results;
    inputs.results_path = path;
    inputs.baseline = baseline;
    inputs.coverage = ttt::coverage_report(baseline.results);
    const ttt::GateDecision decision = ttt::decide_gate(inputs);
    ttt::format_gate_console(decision);
    ttt::format_gate_markdown(decision);
    ttt::format_gate_junit(decision);
    ttt::to_json(decision).dump();
  } catch (const std::exception&) {
  }
  return 0;
}

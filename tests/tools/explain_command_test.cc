// `ttt explain`, run as a subprocess on traces of the builtin ttt.scale kind (one product rounded
// to bfloat16; metric policy: within 1 ULP of its emulation): a device output equal to its
// emulation is accurate, a negated one is not explained by precision (exit 1, named as the first),
// an accuracy check tighter than bfloat16 makes the matching one precision-limited; JSON, calls
// that cannot be judged, bad input. The block-level proof (a wrong softmax scale in one layer is a
// bug, a bfloat4_b preset is precision) is tests/patterns/bug_or_precision_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "validation/tensor/random.h"
#include "validation/trace/capture.h"

namespace ttt {
namespace {

using cli_test::run_ttt;
using cli_test::RunResult;
using ::testing::HasSubstr;

// A ttt.scale call (scale 1.5, bfloat16 output) whose captured device output is the emulation's
// (x * 1.5 rounded to bfloat16), negated when `negated`; without a block kind when `no_block`.
CapturedCall scale_call(const std::string& name, std::uint64_t seed, bool negated,
                        bool no_block = false) {
  CapturedCall call;
  call.name = name;
  call.block = no_block ? "" : "ttt.scale";
  call.scalars_json = R"({"scale": 1.5})";
  call.impl_config_json = R"({"output_dtype": "bfloat16"})";
  const Tensor x = random_normal({4, 16}, seed);
  std::vector<float> y(x.floats().begin(), x.floats().end());
  for (float& value : y) value = value * 1.5f * (negated ? -1.0f : 1.0f);
  call.inputs = {{"x", x}};
  call.outputs = {{"y", Tensor::from_floats({4, 16}, y, DType::bfloat16)}};
  return call;
}

class ExplainCommand : public ::testing::Test {
 protected:
  RunResult ttt(const std::vector<std::string>& args) { return run_ttt(scratch_.path(), args); }

  // layers.0.scale as emulated, layers.1.scale negated (the bug), and a call naming no kind.
  std::string trace() {
    const std::string file = scratch_.file("t.h5");
    TraceSession session(file);
    session.capture(scale_call("layers.0.scale", 1, false));
    session.capture(scale_call("layers.1.scale", 2, true));
    session.capture(scale_call("layers.2.scale", 3, false, /*no_block=*/true));
    return file;
  }

  test_support::ScratchDir scratch_;
};

TEST_F(ExplainCommand, NamesTheFirstCallPrecisionDoesNotExplain) {
  const std::string file = trace();
  const RunResult result = ttt({"explain", file, "--quiet"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_THAT(result.out, HasSubstr("1 layers.1.scale (ttt.scale) y: not explained by precision: "
                                    "device vs emulation max_ulp_error "));
  EXPECT_THAT(result.out, HasSubstr("> 1 ULPs of bfloat16; device vs float64: pcc -0.99"));
  EXPECT_THAT(result.out, HasSubstr("not judged: 1 call: the call names no block kind\n"));
  EXPECT_THAT(result.out, HasSubstr(file + ": 3 calls: 1 accurate, 0 precision-limited, 1 not "
                                           "explained by precision, 1 not judged\n"));
  EXPECT_THAT(result.out,
              HasSubstr("first call not explained by precision: 1 layers.1.scale: y: not "
                        "explained by precision: "));
  EXPECT_THAT(result.out, ::testing::Not(HasSubstr("layers.0.scale")));
}

TEST_F(ExplainCommand, ATighterCheckMakesAMatchingDevicePrecisionLimited) {
  const std::string file = trace();
  // bfloat16 rounding is far beyond nmse 1e-12, and the device is its emulation: precision.
  const RunResult result =
      ttt({"explain", file, "--filter", "layers.0.*", "--nmse", "1e-12", "--quiet"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out,
              HasSubstr("0 layers.0.scale (ttt.scale) y: precision-limited, as expected for this "
                        "ImplConfig: device vs float64 nmse "));
  EXPECT_THAT(result.out, HasSubstr("> 1e-12, and device vs emulation max_ulp_error 0 <= 1 ULPs "
                                    "of bfloat16"));
  EXPECT_THAT(result.out, HasSubstr("1 calls: 0 accurate, 1 precision-limited, 0 not explained"));
}

TEST_F(ExplainCommand, Json) {
  const std::string file = trace();
  const RunResult result = ttt({"explain", file, "--json", "-", "--quiet"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  const nlohmann::json json = nlohmann::json::parse(result.out);
  const nlohmann::json& summary = json.at("summary");
  EXPECT_EQ(summary.at("total"), 3);
  EXPECT_EQ(summary.at("accurate"), 1);
  EXPECT_EQ(summary.at("not_explained"), 1);
  EXPECT_EQ(summary.at("not_judged"), 1);
  EXPECT_EQ(summary.at("first_not_explained").at("name"), "layers.1.scale");
  const nlohmann::json& bug = json.at("calls").at(1);
  EXPECT_EQ(bug.at("finding"), "not explained by precision");
  const nlohmann::json& output = bug.at("explanations").at(0);
  EXPECT_EQ(output.at("output"), "y");
  EXPECT_EQ(output.at("within_band"), false);
  EXPECT_EQ(output.at("band"), 1.0);
  EXPECT_LT(output.at("device_vs_reference").at("pcc").get<double>(), -0.999);
  EXPECT_FALSE(json.at("calls").at(2).contains("finding"));  // Not judged.
}

TEST_F(ExplainCommand, BadInput) {
  const std::string file = trace();
  const RunResult none = ttt({"explain", file, "--filter", "nothing.*"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("nothing to explain: no call matches --filter 'nothing.*'"));
  const RunResult missing = ttt({"explain", scratch_.file("absent.h5")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("ttt: error: "));
  EXPECT_THAT(missing.err, HasSubstr("absent.h5"));
  const RunResult flag = ttt({"explain", file, "--nmse", "x"});
  EXPECT_EQ(flag.exit_code, 2);
}

}  // namespace
}  // namespace ttt

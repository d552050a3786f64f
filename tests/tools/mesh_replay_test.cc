// Collectives captured through compare_to_reference with MeshTensor inputs and outputs, then read
// by the `ttt` binary (docs/multi-device.md, docs/trace-format.md "Mesh tensors"): `ttt replay`
// passes with the wrapper's metrics, `ttt inspect` shows the meshes and placements, a tampered
// shard fails the replay naming the device, and hand-broken mesh groups are exit 2 with one line
// naming the file, the group and what is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "blocks/ccl/all_reduce.h"
#include "blocks/ccl/reduce_scatter.h"
#include "tests/common/raw_h5.h"
#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "validation/mesh/mesh.h"
#include "validation/trace/capture.h"
#include "validation/trace/trace_error.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/compare_to_reference.h"
#include "validation/wrapper/registry.h"

namespace ttt {
namespace {

using cli_test::run_ttt;
using cli_test::RunResult;
using test_support::set_string_attribute;
using ::testing::EndsWith;
using ::testing::StartsWith;

const Mesh kT3K = parse_mesh("T3K");

// The partials of a row-parallel matmul on T3K: device d holds [1, 4, 8] with x[i][c] = c - d + i,
// laid out as shard(0) along the columns (composed: [8, 4, 8]). Every partial sum of a column
// is an integer in [-28, 80], exact in bfloat16, so device and reference agree exactly: the sum
// over d = 0..7 is 8 (c + i) - 28.
MeshTensor partials() {
  Tensor whole({8, 4, 8}, DType::float32);
  for (std::int64_t d = 0; d < 8; ++d) {
    for (std::int64_t i = 0; i < 4; ++i) {
      for (std::int64_t c = 0; c < 8; ++c) whole.set({d, i, c}, static_cast<double>(c - d + i));
    }
  }
  return distribute(whole, kT3K, {Placement::replicate(), Placement::shard(0)});
}

Tolerances pcc_floor() {
  Tolerances tolerances;
  tolerances.pcc = 0.99;  // The reducing collectives' replay tolerance (blocks/ccl/kinds.cc).
  return tolerances;
}

// Wraps `Block` with compare_to_reference under a trace session writing `file`, calls it once on
// partials() and returns the wrapper's record.
template <typename Spec, typename Block>
ValidationRecord capture(const std::string& file, const std::string& name, const Spec& spec,
                         Tensor (*reference)(const Spec&, const MeshTensor&)) {
  validation_registry().reset();
  const CclReduceImplConfig config = default_impl_config(spec, Device::T3K, Mode::prefill);
  const Block block(spec, config);
  TraceOptions options;
  options.capture_reference = true;
  ScopedTrace trace(file, options);
  auto wrapped = compare_to_reference(
      name, [&](const MeshTensor& x) { return block.forward(x); },
      [&](const MeshTensor& x) { return reference(spec, x); },
      {.input_names = {"x"},
       .output_names = {"y"},
       .tolerances = pcc_floor(),
       .block = std::string(Spec::kind),
       .spec_json = nlohmann::json(spec).dump(),
       .impl_config_json = nlohmann::json(config).dump(),
       .device = "T3K"});
  wrapped(partials());
  EXPECT_EQ(trace.session().calls_written(), 1) << trace.session().error().value_or("");
  return validation_registry().records().at(0);
}

ValidationRecord capture_all_reduce(const std::string& file) {
  return capture<AllReduceSpec, AllReduce>(
      file, "layers.0.mlp.all_reduce", {.mesh = kT3K, .axis = 1, .dim = 2}, all_reduce_reference);
}

ValidationRecord capture_reduce_scatter(const std::string& file) {
  return capture<ReduceScatterSpec, ReduceScatter>(file, "layers.0.mlp.reduce_scatter",
                                                   {.mesh = kT3K, .axis = 1, .dim = 2},
                                                   reduce_scatter_reference);
}

// Copies call 0 of `from` into a new trace `to` through the library, with the shard of `device`
// of the captured device output y changed by `change`.
void write_tampered(const std::string& from, const std::string& to, int device,
                    const std::function<void(Tensor&)>& change) {
  const TraceReader reader = TraceReader::open(from);
  const TraceCall call = reader.call(0);
  CapturedCall copy;
  copy.name = call.name;
  copy.block = call.block;
  copy.spec_json = call.spec_json;
  copy.impl_config_json = call.impl_config_json;
  copy.device = call.device;
  copy.scalars_json = call.scalars_json;
  copy.verdict = call.verdict;
  copy.inputs = reader.read_all(call.inputs);
  copy.reference_outputs = reader.read_all(call.reference_outputs);
  MeshTensor y = reader.read_mesh(call.outputs.at(0));
  y.shards[device] = y.shards[device].clone();
  change(y.shards[device]);
  copy.outputs = {{"y", Tensor(), std::make_shared<const MeshTensor>(std::move(y))}};
  TraceSession session(to);
  session.capture(copy);
}

class MeshReplay : public ::testing::Test {
 protected:
  void TearDown() override { validation_registry().reset(); }

  RunResult ttt(const std::vector<std::string>& args) { return run_ttt(scratch_.path(), args); }
  std::string path(const std::string& name) const { return scratch_.file(name); }

  test_support::ScratchDir scratch_;
};

// The comparison `against` of the only call of a `ttt replay --json -` report.
nlohmann::json comparison(const nlohmann::json& report, const std::string& against) {
  for (const nlohmann::json& entry : report["calls"][0]["comparisons"]) {
    if (entry["against"] == against) return entry;
  }
  ADD_FAILURE() << "no comparison " << against;
  return nlohmann::json::object();
}

TEST_F(MeshReplay, ACapturedAllReduceAndReduceScatterReplayWithTheWrappersMetrics) {
  for (const auto& capture_call : {capture_all_reduce, capture_reduce_scatter}) {
    const std::string file = path("ccl.h5");
    const ValidationRecord record = capture_call(file);
    ASSERT_TRUE(record.passed);
    const Metrics& captured = *record.outputs.at(0).metrics;
    // Every partial sum is exact: the device output is the float64 sum.
    EXPECT_EQ(captured.max_abs_error, 0.0);
    EXPECT_EQ(captured.pcc, 1.0);

    const RunResult replay = ttt({"replay", file, "--json", "-"});
    ASSERT_EQ(replay.exit_code, 0) << replay.out << replay.err;
    const nlohmann::json report = nlohmann::json::parse(replay.out);
    SCOPED_TRACE(report.dump(2));
    EXPECT_EQ(report["calls"][0]["status"], "pass");
    const nlohmann::json now = comparison(report, "reference_now");
    EXPECT_EQ(now["metrics"]["max_abs_error"], captured.max_abs_error);
    EXPECT_EQ(now["metrics"]["pcc"], captured.pcc);
    EXPECT_EQ(now["metrics"]["mean_abs_error"], captured.mean_abs_error);
    EXPECT_EQ(comparison(report, "captured_device")["metrics"]["max_abs_error"], 0.0);
    EXPECT_EQ(comparison(report, "captured_reference")["metrics"]["max_abs_error"], 0.0);
  }
}

TEST_F(MeshReplay, InspectShowsTheMeshesAndPlacements) {
  const std::string file = path("all_reduce.h5");
  capture_all_reduce(file);
  const RunResult inspect = ttt({"inspect", file, "--call", "0"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  // x: c - d + i over d, i, c in [0, 8) x [0, 4) x [0, 8): min -7, max 10, mean 1.5. y on every
  // device: 8 (c + i) - 28: min -28, max 52, mean 12; the reference is a plain tensor.
  const std::string listing = inspect.out.substr(inspect.out.find("inputs:"));
  EXPECT_EQ(
      listing,
      "inputs:\n"
      "  x              [8, 4, 8]        float32    min -7          max 10          mean 1.5"
      "  (mesh 1x8: replicated, shard(0))\n"
      "outputs:\n"
      "  y              [1, 4, 8]        bfloat16   min -28         max 52          mean 12"
      "  (mesh 1x8: replicated, replicated)\n"
      "reference:\n"
      "  y              [1, 4, 8]        float64    min -28         max 52          mean 12\n");
}

TEST_F(MeshReplay, ATamperedShardFailsTheReplayNamingTheDevice) {
  // reduce_scatter's y is sharded along the columns: device 2 holds column 2 of the sum,
  // 8 (2 + i) - 28 = -12, -4, 4, 12. Setting its first element to 1000 fails the whole pcc and
  // device 2's own; the other devices still match.
  const std::string scattered = path("reduce_scatter.h5");
  capture_reduce_scatter(scattered);
  const std::string tampered = path("tampered.h5");
  write_tampered(scattered, tampered, 2, [](Tensor& shard) { shard.set({0, 0, 0}, 1000.0); });
  RunResult replay = ttt({"replay", tampered});
  EXPECT_EQ(replay.exit_code, 1) << replay.err;
  // Device 2: pcc of (-12, -4, 4, 12) against (1000, -4, 4, 12) is
  // -11824 / sqrt(320 * 744140) = -0.7662 and nmse 1012^2 / (1000^2 + 16 + 16 + 144) = 1.024
  // (the reduce-scatter's ceiling is 0.05^2); it is the only device named.
  const std::string failure = replay.out.substr(0, replay.out.find('\n'));
  EXPECT_THAT(failure, StartsWith("FAIL 0 layers.0.mlp.reduce_scatter (reduce_scatter): "
                                  "captured_device y: pcc "));
  EXPECT_THAT(failure,
              EndsWith("; device 2 (row 0, col 2): pcc -0.7662 < 0.99; nmse 1.024 > 0.0025"));
  EXPECT_EQ(failure.find("(row "), failure.rfind("(row "));

  // all_reduce's y is replicated along the columns: a changed copy on device 5 does not compose.
  const std::string reduced = path("all_reduce.h5");
  capture_all_reduce(reduced);
  const std::string tampered_copy = path("tampered_copy.h5");
  write_tampered(reduced, tampered_copy, 5, [](Tensor& shard) { shard.set({0, 1, 3}, 0.5); });
  replay = ttt({"replay", tampered_copy});
  EXPECT_EQ(replay.exit_code, 1) << replay.err;
  // Element 11 is [0, 1, 3]: 8 (3 + 1) - 28 = 4 on device 0.
  EXPECT_THAT(replay.out,
              StartsWith("FAIL 0 layers.0.mlp.all_reduce (all_reduce): captured_device y: compose: "
                         "[compose] mesh 1x8: device 0 (row 0, col 0) and device 5 (row 0, col 5) "
                         "hold different copies of a replicated axis (first at element 11: 4 vs "
                         "0.5)\n"));
}

// Hand-made mesh groups (docs/trace-format.md "Mesh tensors") broken one way each with the raw
// HDF5 API: the reader names the file, the group and what is wrong; `ttt inspect` and `ttt replay`
// exit 2 with that one line.
class BrokenMeshGroup : public MeshReplay {
 protected:
  void SetUp() override {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    capture_all_reduce(file_);
  }

  // Opens the group of input x read-write and lets `change` break it.
  void edit(const std::function<void(hid_t)>& change) {
    const hid_t file = H5Fopen(file_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t group = H5Gopen2(file, kGroup, H5P_DEFAULT);
    ASSERT_GE(group, 0);
    change(group);
    H5Gclose(group);
    H5Fclose(file);
  }

  // Checks the library's TraceError and both commands' one line against `what` (after the group).
  void expect_error(const std::string& what) {
    const std::string expected = file_ + ":" + kGroup + ": " + what;
    try {
      TraceReader::open(file_).call(0);
      ADD_FAILURE() << "no error, expected " << expected;
    } catch (const TraceError& error) {
      EXPECT_EQ(std::string(error.what()), expected);
    }
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"replay", file_},
          std::vector<std::string>{"inspect", file_, "--call", "0"}}) {
      const RunResult result = ttt(args);
      EXPECT_EQ(result.exit_code, 2) << args[0];
      EXPECT_EQ(result.err, "ttt: error: " + expected + "\n") << args[0];
    }
  }

  static constexpr const char* kGroup = "/calls/000000/inputs/x";
  const std::string file_ = path("broken.h5");
};

TEST_F(BrokenMeshGroup, AMeshThatDoesNotParse) {
  edit([](hid_t group) { set_string_attribute(group, "ttt_mesh", "1x"); });
  expect_error(
      "attribute 'ttt_mesh': [parse_mesh] unknown mesh '1x' (expected N150, N300, T3K, TG or "
      "ROWSxCOLS such as 2x4, with 1..1024 devices)");
}

TEST_F(BrokenMeshGroup, AMissingPlacementsAttribute) {
  edit([](hid_t group) { H5Adelete(group, "ttt_placements"); });
  expect_error("missing attribute 'ttt_placements'");
}

TEST_F(BrokenMeshGroup, PlacementsThatAreNotJson) {
  edit([](hid_t group) { set_string_attribute(group, "ttt_placements", R"(["replicated", )"); });
  expect_error(
      "attribute 'ttt_placements': not JSON: [json.exception.parse_error.101] parse error at "
      "line 1, column 16: syntax error while parsing value - unexpected end of input; "
      "expected '[', '{', or a literal");
}

TEST_F(BrokenMeshGroup, PlacementsThatAreNotTwoPlacementNames) {
  edit([](hid_t group) { set_string_attribute(group, "ttt_placements", R"(["replicated"])"); });
  expect_error(
      "attribute 'ttt_placements': expected a JSON array of two placement names (rows, "
      "columns), got [\"replicated\"]");
  edit([](hid_t group) {
    set_string_attribute(group, "ttt_placements", R"j(["replicated", "split(0)"])j");
  });
  expect_error(
      "attribute 'ttt_placements': [parse_placement] unknown placement 'split(0)' (expected "
      "replicated or shard(DIM) with DIM 0..7)");
}

TEST_F(BrokenMeshGroup, AMissingShard) {
  // Eight members, but device 3's is called 9.
  edit([](hid_t group) { H5Lmove(group, "3", group, "9", H5P_DEFAULT, H5P_DEFAULT); });
  expect_error("the shard of device 3 is missing");
}

TEST_F(BrokenMeshGroup, AWrongNumberOfShards) {
  edit([](hid_t group) { H5Ldelete(group, "7", H5P_DEFAULT); });
  expect_error("mesh 1x8 has 8 devices but the group holds 7 members (the shards 0..7)");
}

}  // namespace
}  // namespace ttt

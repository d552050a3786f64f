// Mesh tensors in traces (docs/trace-format.md "Mesh tensors"): a wrapped call with a sharded
// input and output is captured as shard datasets under groups carrying ttt_mesh and
// ttt_placements, reads back composed or as shards, keeps its per-device metrics, and inspect
// shows the mesh and placements. A failed call whose replicas differ is captured as it was.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/validation/wrapper/mesh_outputs.h"
#include "tests/validation/wrapper/wrapper_state.h"
#include "validation/mesh/mesh.h"
#include "validation/trace/capture.h"
#include "validation/trace/inspect.h"
#include "validation/trace/trace_error.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/compare_to_reference.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::ThrowsMessage;

const Placement kRep = Placement::replicate();

std::vector<std::string> names_of(const std::vector<TraceTensor>& tensors) {
  std::vector<std::string> names;
  for (const TraceTensor& tensor : tensors) names.push_back(tensor.name);
  return names;
}

class MeshTraceTest : public ::testing::Test {
 protected:
  void SetUp() override { reset_wrapper_state(); }
  void TearDown() override { reset_wrapper_state(); }

  // Captures one call of a block taking a weight sharded on 1x2 (rows) and returning `output`.
  void capture(const MeshTensor& output) {
    TraceOptions options;
    options.capture_reference = true;
    ScopedTrace trace(path_, options);
    auto f = compare_to_reference(
        "layers.0.sharded", [&](const MeshTensor&) { return output; },
        [](const MeshTensor& w) { return compose(w); },
        {.input_names = {"w"}, .output_names = {"y"}, .tolerances = max_abs(1e-3)});
    f(distribute(reference_values(), {1, 2}, {kRep, Placement::shard(0)}));
    ASSERT_EQ(trace.session().calls_written(), 1) << trace.session().error().value_or("");
  }

  static Tolerances max_abs(double bound) {
    Tolerances tolerances;
    tolerances.max_abs_error = bound;
    return tolerances;
  }

  test_support::ScratchDir scratch_;
  const std::string path_ = scratch_.file("mesh.h5");
};

TEST_F(MeshTraceTest, AShardedCallReadsBackAsShardsWithTheirPlacements) {
  capture(perturbed({1, 4}, {kRep, Placement::shard(1)}, 2, {1, 1}, 0.5));
  const TraceReader reader = TraceReader::open(path_);
  const TraceCall call = reader.call(0);
  EXPECT_EQ(call.verdict, "fail");

  ASSERT_THAT(call.inputs, SizeIs(1));
  const TraceTensor& w = call.inputs[0];
  EXPECT_EQ(w.name, "w");
  EXPECT_EQ(w.mesh, "1x2");
  EXPECT_THAT(w.placements, ElementsAre("replicated", "shard(0)"));
  EXPECT_EQ(w.shape, (Shape{2, 8}));
  EXPECT_THAT(names_of(w.shards), ElementsAre("w/0", "w/1"));
  EXPECT_EQ(w.shards[1].shape, (Shape{1, 8}));
  const NamedTensor w_read = reader.read_named(w);
  ASSERT_NE(w_read.mesh, nullptr);
  EXPECT_EQ(w_read.mesh->placements[1], Placement::shard(0));
  EXPECT_EQ(w_read.tensor.at({1, 7}), 3.75);

  ASSERT_THAT(call.outputs, SizeIs(1));
  const TraceTensor& y = call.outputs[0];
  EXPECT_EQ(y.mesh, "1x4");
  EXPECT_THAT(y.placements, ElementsAre("replicated", "shard(1)"));
  EXPECT_EQ(y.shape, (Shape{2, 8}));
  ASSERT_THAT(y.shards, SizeIs(4));
  EXPECT_EQ(y.shards[2].path, "/calls/000000/outputs/y/2");
  EXPECT_EQ(y.shards[2].shape, (Shape{2, 2}));
  // Device 2 holds columns 4 and 5; its [1, 1] is the whole output's [1, 5]: 3.25 + 0.5.
  EXPECT_EQ(reader.read_mesh(y).shards[2].at({1, 1}), 3.75);
  EXPECT_EQ(reader.read(y).at({1, 5}), 3.75);
  EXPECT_EQ(reader.read(y).at({1, 4}), 3.0);
  // The reference output was a plain tensor.
  ASSERT_THAT(call.reference_outputs, SizeIs(1));
  EXPECT_TRUE(call.reference_outputs[0].mesh.empty());

  // The call's metrics keep the per-device checks: device 2 diverges.
  const nlohmann::json metrics = nlohmann::json::parse(call.metrics_json);
  const nlohmann::json& devices = metrics["outputs"][0]["devices"];
  ASSERT_EQ(devices.size(), 4u);
  EXPECT_EQ(devices[2]["passed"], false);
  EXPECT_EQ(devices[3]["passed"], true);
}

TEST_F(MeshTraceTest, InspectShowsTheMeshAndPlacements) {
  capture(perturbed({1, 4}, {kRep, Placement::shard(1)}, 2, {1, 1}, 0.5));
  const TraceReader reader = TraceReader::open(path_);
  const CallDetails details = describe_call(reader, 0);
  const std::string text = format_call_details(details);
  EXPECT_THAT(text, HasSubstr("(mesh 1x2: replicated, shard(0))"));
  EXPECT_THAT(text, HasSubstr("(mesh 1x4: replicated, shard(1))"));
  const nlohmann::json json = to_json(details);
  EXPECT_EQ(json["outputs"][0]["mesh"], "1x4");
  EXPECT_EQ(json["outputs"][0]["placements"], nlohmann::json({"replicated", "shard(1)"}));
  EXPECT_EQ(json["outputs"][0]["max"], 3.75);
  EXPECT_FALSE(json["reference"][0].contains("mesh"));
}

TEST_F(MeshTraceTest, ReplicasThatDifferAreCapturedAsTheyWereAndNamedOnRead) {
  capture(perturbed({2, 2}, {kRep, kRep}, 3, {0, 1}, 1.0));
  const TraceReader reader = TraceReader::open(path_);
  const TraceCall call = reader.call(0);
  EXPECT_EQ(call.verdict, "fail");
  const TraceTensor& y = call.outputs[0];
  EXPECT_EQ(reader.read_mesh(y).shards[3].at({0, 1}), 1.25);
  EXPECT_THAT([&] { reader.read(y); },
              ThrowsMessage<TraceError>(HasSubstr(
                  "/calls/000000/outputs/y: [compose] mesh 2x2: device 0 (row 0, col 0) and "
                  "device 3 (row 1, col 1) hold different copies")));
  // Inspect still shows the call: statistics over every shard.
  EXPECT_THAT(format_call_details(describe_call(reader, 0)),
              HasSubstr("(mesh 2x2: replicated, replicated)"));
}

}  // namespace
}  // namespace ttt

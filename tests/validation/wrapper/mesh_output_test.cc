// compare_to_reference with tensors laid out on a mesh (validation/mesh): outputs are composed and
// compared whole, every device's shard against its slice of the reference; a compose failure is
// the output's verdict naming both devices; records carry "devices" in JSON and the failing chip
// in their failure lines; mesh inputs are recorded composed; teacher forcing redistributes; a
// process that does not hold every shard gathers them through the transport.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/validation/wrapper/mesh_outputs.h"
#include "tests/validation/wrapper/wrapper_state.h"
#include "validation/mesh/mesh.h"
#include "validation/mesh/transport.h"
#include "validation/wrapper/compare_to_reference.h"
#include "validation/wrapper/report.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const Placement kRep = Placement::replicate();

Tolerances max_abs_within(double max_abs_error) {
  Tolerances tolerances;
  tolerances.max_abs_error = max_abs_error;
  return tolerances;
}

ValidationRecord only_record(const std::string& name) {
  const auto records = validation_registry().records({.name_filter = name});
  if (records.size() != 1) throw std::runtime_error(name + ": expected one record");
  return records.front();
}

class MeshOutputTest : public ::testing::Test {
 protected:
  void SetUp() override { reset_wrapper_state(); }
  void TearDown() override { reset_wrapper_state(); }
};

TEST_F(MeshOutputTest, AShardedOutputIsComparedWholeAndPerDevice) {
  // 1x4, dimension 1 sharded: device d holds columns 2d, 2d + 1. Device 2's element [1, 1] is
  // column 5 of row 1 of the whole output, off by 0.5.
  auto f = compare_to_reference(
      "sharded",
      [](const Tensor&) { return perturbed({1, 4}, {kRep, Placement::shard(1)}, 2, {1, 1}, 0.5); },
      [](const Tensor&) { return reference_values(); },
      {.output_names = {"y"}, .tolerances = max_abs_within(1e-3)});
  const MeshTensor returned = f(Tensor::scalar(1.0f));
  EXPECT_EQ(returned.shards[2].at({1, 1}), 3.25 + 0.5);  // The device output, unchanged.

  const ValidationRecord record = only_record("sharded");
  EXPECT_FALSE(record.passed);
  ASSERT_THAT(record.outputs, SizeIs(1));
  const OutputCheck& output = record.outputs[0];
  ASSERT_TRUE(output.metrics.has_value());
  EXPECT_EQ(output.metrics->max_abs_error, 0.5);
  ASSERT_THAT(output.devices, SizeIs(4));
  for (int device : {0, 1, 3}) {
    EXPECT_TRUE(output.devices[device].verdict.passed) << device;
    EXPECT_EQ(output.devices[device].metrics->max_abs_error, 0.0) << device;
  }
  const DeviceCheck& diverging = output.devices[2];
  EXPECT_EQ(diverging.device, 2);
  EXPECT_EQ(diverging.row, 0);
  EXPECT_EQ(diverging.col, 2);
  EXPECT_FALSE(diverging.verdict.passed);
  EXPECT_EQ(diverging.metrics->max_abs_error, 0.5);
  EXPECT_THAT(record.failure_lines(),
              ElementsAre("y: max_abs_error 0.5 > 0.001 at [1, 5]",
                          "y device 2 (row 0, col 2): max_abs_error 0.5 > 0.001 at [1, 1]"));

  // JSON: the output lists its devices; reading it back gives the same checks.
  const nlohmann::json json = record_to_json(record);
  const nlohmann::json& devices = json["outputs"][0]["devices"];
  ASSERT_EQ(devices.size(), 4u);
  EXPECT_EQ(devices[2]["device"], 2);
  EXPECT_EQ(devices[2]["row"], 0);
  EXPECT_EQ(devices[2]["col"], 2);
  EXPECT_EQ(devices[2]["passed"], false);
  EXPECT_EQ(devices[2]["metrics"]["max_abs_error"], 0.5);
  EXPECT_EQ(devices[1]["passed"], true);
  const ValidationRecord back = record_from_json(json);
  ASSERT_THAT(back.outputs[0].devices, SizeIs(4));
  EXPECT_FALSE(back.outputs[0].devices[2].verdict.passed);
  EXPECT_EQ(back.outputs[0].devices[2].col, 2);
  EXPECT_EQ(record_to_json(back), json);
  // The markdown report names the diverging chip.
  EXPECT_THAT(render_report({record}, ReportFormat::markdown),
              HasSubstr("y device 2 (row 0, col 2): max_abs_error 0.5"));
}

TEST_F(MeshOutputTest, ATwoDimensionalLayoutComparesEachDeviceWithItsBlock) {
  // 2x2, rows split dimension 0 and columns dimension 1: device 3 (row 1, col 1) holds the block
  // rows 1, columns 4..7; its element [0, 2] is column 6 of row 1.
  auto f = compare_to_reference(
      "grid",
      [](const Tensor&) {
        return perturbed({2, 2}, {Placement::shard(0), Placement::shard(1)}, 3, {0, 2}, -0.25);
      },
      [](const Tensor&) { return reference_values(); },
      {.tolerances = max_abs_within(1e-3)});
  f(Tensor::scalar(1.0f));
  const ValidationRecord record = only_record("grid");
  EXPECT_THAT(record.failure_lines(),
              ElementsAre("out0: max_abs_error 0.25 > 0.001 at [1, 6]",
                          "out0 device 3 (row 1, col 1): max_abs_error 0.25 > 0.001 at [0, 2]"));
}

TEST_F(MeshOutputTest, APassingMeshOutputKeepsItsDevicesAndPlainOutputsHaveNone) {
  auto f = compare_to_reference(
      "exact",
      [](const Tensor& x) {
        return std::make_tuple(distribute(reference_values(), {2, 2}, {kRep, Placement::shard(1)}),
                               x);
      },
      [](const Tensor& x) { return std::make_tuple(reference_values(), x); },
      {.tolerances = max_abs_within(0.0)});
  f(Tensor::scalar(1.0f));
  const ValidationRecord record = only_record("exact");
  EXPECT_TRUE(record.passed) << record.verdict_text();
  ASSERT_THAT(record.outputs[0].devices, SizeIs(4));
  for (const DeviceCheck& device : record.outputs[0].devices) EXPECT_TRUE(device.verdict.passed);
  EXPECT_TRUE(record.outputs[1].devices.empty());
  const nlohmann::json json = record_to_json(record);
  EXPECT_TRUE(json["outputs"][0].contains("devices"));
  EXPECT_FALSE(json["outputs"][1].contains("devices"));
}

TEST_F(MeshOutputTest, ReplicasThatDifferFailNamingBothDevices) {
  // Fully replicated on 2x2: device 3's copy differs from device 0's in one element.
  auto f = compare_to_reference(
      "replicated",
      [](const Tensor&) { return perturbed({2, 2}, {kRep, kRep}, 3, {0, 1}, 1.0); },
      [](const Tensor&) { return reference_values(); },
      {.tolerances = max_abs_within(1e-3)});
  f(Tensor::scalar(1.0f));
  const ValidationRecord record = only_record("replicated");
  EXPECT_FALSE(record.passed);
  ASSERT_THAT(record.outputs, SizeIs(1));
  EXPECT_FALSE(record.outputs[0].metrics.has_value());  // Never a silent pick of one copy.
  EXPECT_THAT(record.outputs[0].verdict.failures,
              ElementsAre("compose: [compose] mesh 2x2: device 0 (row 0, col 0) and device 3 "
                          "(row 1, col 1) hold different copies of a replicated axis (first at "
                          "element 1: 0.25 vs 1.25)"));
  ASSERT_THAT(record.outputs[0].devices, SizeIs(4));
  EXPECT_TRUE(record.outputs[0].devices[0].verdict.passed);
  EXPECT_FALSE(record.outputs[0].devices[3].verdict.passed);
  EXPECT_THAT(record.verdict_text(), HasSubstr("out0 device 3 (row 1, col 1): max_abs_error 1"));
}

TEST_F(MeshOutputTest, MeshInputsAreRecordedComposedAndTheReferenceGetsTheMeshTensor) {
  const MeshTensor weight = distribute(reference_values(), {1, 2}, {kRep, Placement::shard(0)});
  auto f = compare_to_reference(
      "input", [](const MeshTensor& w) { return compose(w); },
      [](const MeshTensor& w) {
        EXPECT_EQ(w.shards.size(), 2u);
        return compose(w);
      },
      {.input_names = {"w"}});
  f(weight);
  const ValidationRecord record = only_record("input");
  EXPECT_TRUE(record.passed) << record.verdict_text();
  ASSERT_THAT(record.inputs, SizeIs(1));
  EXPECT_EQ(record.inputs[0].name, "w");
  EXPECT_EQ(record.inputs[0].shape, (Shape{2, 8}));
}

TEST_F(MeshOutputTest, TeacherForcingDistributesTheReferenceLikeTheDeviceOutput) {
  auto f = compare_to_reference(
      "forced",
      [](const Tensor&) { return perturbed({1, 4}, {kRep, Placement::shard(1)}, 0, {0, 0}, 9.0); },
      [](const Tensor&) { return reference_values(); }, {.return_reference_output = true});
  const MeshTensor out = f(Tensor::scalar(1.0f));
  EXPECT_EQ(out.placements[1], Placement::shard(1));
  ASSERT_THAT(out.shards, SizeIs(4));
  EXPECT_EQ(out.shards[0].at({0, 0}), 0.0);
  EXPECT_EQ(out.shards[3].at({1, 1}), 3.75);
  EXPECT_TRUE(only_record("forced").teacher_forced);
}

// A transport for a process that holds device 0 only: gathering fills the other shards with the
// values the test gives it, as an MPI all-gather would.
class HoldsDeviceZero final : public MeshTransport {
 public:
  explicit HoldsDeviceZero(std::vector<Tensor> all) : all_(std::move(all)) {}
  std::string name() const override { return "test"; }
  bool holds(const Mesh&, int device) const override { return device == 0; }
  std::vector<Tensor> all_gather_shards(const MeshTensor& tensor) const override {
    std::vector<Tensor> shards = all_;
    shards[0] = tensor.shards[0];
    ++gathers;
    return shards;
  }
  mutable int gathers = 0;

 private:
  std::vector<Tensor> all_;
};

TEST_F(MeshOutputTest, AProcessThatDoesNotHoldEveryShardGathersThemThroughTheTransport) {
  const MeshTensor whole = distribute(reference_values(), {1, 2}, {kRep, Placement::shard(1)});
  auto transport = std::make_shared<HoldsDeviceZero>(whole.shards);
  const ScopedMeshTransport scoped(transport);
  auto f = compare_to_reference(
      "gathered",
      [&](const Tensor&) {
        MeshTensor local = whole;
        local.shards[1] = Tensor();  // Device 1 lives on another process.
        return local;
      },
      [](const Tensor&) { return reference_values(); }, {.tolerances = max_abs_within(0.0)});
  f(Tensor::scalar(1.0f));
  const ValidationRecord record = only_record("gathered");
  EXPECT_TRUE(record.passed) << record.verdict_text();
  EXPECT_EQ(transport->gathers, 1);
  ASSERT_THAT(record.outputs[0].devices, SizeIs(2));
}

}  // namespace
}  // namespace ttt

// The PyTorch goldens of the collectives (goldens/collectives.h5, tools/goldens/make_ccl_goldens.py):
// every call replays through the block registry; the float64 reference matches PyTorch's exact
// result (reference/y) to float32 rounding, and the device path reproduces PyTorch's ring/line
// emulation (outputs/y, torch bfloat16/float32 additions in that order) bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "blocks/registration.h"
#include "validation/registry/block_registry.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

const TraceTensor& output_y(const std::vector<TraceTensor>& outputs, const std::string& call) {
  for (const TraceTensor& output : outputs) {
    if (output.name == "y") return output;
  }
  throw std::runtime_error(call + ": no y");
}

TEST(CclGoldens, ReplayMatchesPyTorchBitForBit) {
  BlockRegistry registry;
  register_builtin_blocks(registry);
  const TraceReader reader =
      TraceReader::open(std::string(TTT_SOURCE_DIR) + "/goldens/collectives.h5");
  std::set<std::string> kinds;
  for (const std::int64_t seq : reader.sequence_numbers()) {
    const TraceCall traced = reader.call(seq);
    SCOPED_TRACE(traced.name);
    BlockCall call;
    call.kind = traced.block;
    call.spec = nlohmann::json::parse(traced.spec_json);
    call.impl_config = nlohmann::json::parse(traced.impl_config_json);
    call.device = traced.device;
    call.scalars = nlohmann::json::parse(traced.scalars_json);
    for (const TraceTensor& input : traced.inputs) {
      call.inputs.push_back({input.name, reader.read(input)});
    }
    kinds.insert(call.kind);
    const BlockReplayer* replayer = registry.find(call.kind);
    ASSERT_NE(replayer, nullptr);
    const BoundCall bound = replayer->bind(call);
    const Tensor device = bound.run_device().at(0).tensor;
    const Tensor torch_device = reader.read(output_y(traced.outputs, traced.name));
    const Tensor reference = bound.run_reference().at(0).tensor;
    const Tensor torch_exact = reader.read(output_y(traced.reference_outputs, traced.name));
    ASSERT_EQ(device.shape(), torch_device.shape());
    ASSERT_EQ(reference.shape(), torch_exact.shape());
    std::int64_t differing = 0;
    double scale = 0.0;
    for (std::int64_t i = 0; i < device.numel(); ++i) {
      if (device.at_flat(i) != torch_device.at_flat(i)) ++differing;
      scale = std::max(scale, std::fabs(torch_exact.at_flat(i)));
    }
    EXPECT_EQ(differing, 0) << "elements differing from PyTorch's emulation";
    for (std::int64_t i = 0; i < reference.numel(); ++i) {
      EXPECT_NEAR(reference.at_flat(i), torch_exact.at_flat(i), 1e-6 * scale) << "element " << i;
    }
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"all_gather", "all_reduce", "broadcast",
                                          "reduce_scatter"}));
}

}  // namespace
}  // namespace ttt

// A decoder layer on T3K captured through the pattern (TTTv1's T3K defaults: bfloat8_b KV caches,
// bfloat16 ring collectives), prefill then one decode step, replays call by call from the trace:
// the attention calls as tp_attention (the decode reads every device's KV cache from the trace),
// the FFN as tp_gated_mlp or, for a Mixtral-shaped layer, ep_moe; nothing is skipped, every call
// passes, and the replayed device outputs are the captured ones bit for bit. The mesh calls carry
// their mode, so that a decode call replays through the block's decode forward.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mesh_layer.h"
#include "tests/common/scratch_dir.h"
#include "validation/tensor/random.h"
#include "validation/trace/capture.h"
#include "validation/trace/replay.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"

namespace ttt {
namespace {

using namespace testing_patterns;

class MeshReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_validation_enabled(true);
    validation_registry().reset();
  }

  // Captures `spec` on T3K into a trace and replays it; the calls' blocks in capture order.
  static void expect_replay_passes(const DecoderLayerSpec& spec, const std::string& ffn_kind) {
    const test_support::ScratchDir scratch;
    const std::string path = scratch.file("mesh_layer.h5");
    {
      ScopedTrace trace(path);
      run_layer_on_mesh(spec, parse_mesh("T3K"), 7, random_normal({1, 5, kHidden}, 41, 0.0, 1.0),
                        random_normal({1, kHidden}, 42, 0.0, 1.0), false, Device::T3K);
    }
    // The mesh calls record their mode (the Mode's value: 0 prefill, 1 decode), so replay runs
    // the decode calls' decode forward; the single-device norms record none.
    const TraceReader reader = TraceReader::open(path);
    std::vector<std::string> modes;
    for (const std::int64_t seq : reader.sequence_numbers()) {
      const nlohmann::json scalars = nlohmann::json::parse(reader.call(seq).scalars_json);
      modes.push_back(scalars.contains("mode") ? scalars.at("mode").dump() : "-");
    }
    EXPECT_EQ(modes, (std::vector<std::string>{"-", "0", "-", "0", "-", "1", "-", "1"}));
    const ReplayReport replay = replay_trace(reader);
    EXPECT_EQ(replay.summary.passed, 8) << format_replay_summary(replay);
    EXPECT_EQ(replay.summary.skipped, 0) << format_replay_summary(replay);
    std::vector<std::string> blocks;
    int captured = 0;
    for (const ReplayedCall& call : replay.calls) {
      SCOPED_TRACE(call.name);
      blocks.push_back(call.block);
      EXPECT_EQ(call.status, ReplayStatus::pass) << call.message;
      for (const ReplayComparison& comparison : call.comparisons) {
        if (comparison.against == "captured_device") {
          ++captured;
          EXPECT_EQ(comparison.metrics.max_abs_error, 0.0) << "replay reruns what the layer ran";
        }
      }
    }
    EXPECT_EQ(captured, 8);
    const std::vector<std::string> layer{"rms_norm", "tp_attention", "rms_norm", ffn_kind};
    std::vector<std::string> expected = layer;
    expected.insert(expected.end(), layer.begin(), layer.end());  // Prefill, then decode.
    EXPECT_EQ(blocks, expected);
    EXPECT_EQ(replay.calls.at(5).name, "layers.0.attention.decode");
  }
};

TEST_F(MeshReplayTest, DenseLayerReplaysItsAttentionPrefillAndDecode) {
  expect_replay_passes(tiny_mesh_layer(), "tp_gated_mlp");
}

TEST_F(MeshReplayTest, MixtralShapedLayerReplaysItsExpertParallelMoe) {
  expect_replay_passes(tiny_moe_mesh_layer(), "ep_moe");
}

}  // namespace
}  // namespace ttt

// run_demo() in process: a small Llama config end to end (every call validated and captured,
// reports written, trace replayed), the switches it restores, and its bad options.
#include "models/llama/demo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/llama/config.h"
#include "tests/common/scratch_dir.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/switches.h"

namespace ttt::llama {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// 2 layers, hidden 128, 4 query and 2 key/value heads of 32, ffn 256, vocab 256, untied.
std::string small_config(const fs::path& dir) {
  const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                                 {"hidden_size", 128},
                                 {"intermediate_size", 256},
                                 {"num_hidden_layers", 2},
                                 {"num_attention_heads", 4},
                                 {"num_key_value_heads", 2},
                                 {"vocab_size", 256},
                                 {"rms_norm_eps", 1e-5},
                                 {"max_position_embeddings", 32}};
  const std::string path = (dir / "config.json").string();
  std::ofstream(path) << config.dump();
  return path;
}

TEST(Demo, RunsASmallModelEndToEnd) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  DemoOptions options;
  options.out_dir = (dir / "out").string();
  options.config_path = small_config(dir);
  options.prompt_tokens = 6;
  options.decode_steps = 2;
  set_validation_enabled(false);  // The demo switches validation on for its run only.
  std::ostringstream out;
  const DemoResult result = run_demo(options, out);
  EXPECT_FALSE(validation_enabled());

  EXPECT_TRUE(result.passed()) << out.str();
  EXPECT_EQ(result.prompt.size(), 6u);
  EXPECT_EQ(result.generated.size(), 2u);
  for (const std::int64_t token : result.generated) {
    EXPECT_GE(token, 0);
    EXPECT_LT(token, 256);
  }
  // 3 forward passes of 1 + 2 * 4 + 2 calls.
  EXPECT_EQ(result.validation.calls, 33);
  EXPECT_EQ(result.validation.failed, 0);
  EXPECT_EQ(result.replay.total, 33);
  EXPECT_EQ(result.replay.failed, 0);
  EXPECT_GT(result.replay.passed, 0);
  EXPECT_TRUE(fs::exists(result.report_json_path));
  EXPECT_TRUE(fs::exists(result.report_xml_path));
  EXPECT_EQ(TraceReader::open(result.trace_path).sequence_numbers().size(), 33u);
  EXPECT_THAT(out.str(), HasSubstr("== Validation report (33 calls"));
  EXPECT_THAT(out.str(), HasSubstr("PASS: 33/33 validated calls passed"));

  // The same seed gives the same tokens; another seed another prompt.
  std::ostringstream again;
  EXPECT_EQ(run_demo(options, again).generated, result.generated);
  options.seed = 1;
  std::ostringstream other;
  EXPECT_NE(run_demo(options, other).prompt, result.prompt);
  set_validation_enabled(true);
}

TEST(Demo, DefaultConfigIsLlama32_1BShapedWithTwoLayers) {
  const LlamaConfig config = llama_config_from_json(demo_default_config(), "demo");
  const AttentionSpec& attention = config.spec.layers[0].attention;
  EXPECT_EQ(config.spec.layers.size(), 2u);
  EXPECT_EQ(attention.hidden_dim, 2048);
  EXPECT_EQ(attention.num_heads, 32);
  EXPECT_EQ(attention.num_kv_heads, 8);
  EXPECT_EQ(attention.head_dim, 64);
  EXPECT_DOUBLE_EQ(attention.rope.theta, 500000.0);
  EXPECT_EQ(attention.rope.scaling, RopeScaling::llama3);
  EXPECT_DOUBLE_EQ(attention.rope.factor, 32.0);
  EXPECT_EQ(std::get<GatedMlpSpec>(config.spec.layers[0].ffn).ffn_dim, 4096);
  EXPECT_EQ(config.spec.embedding.vocab_size, 8192);
  EXPECT_TRUE(config.spec.lm_head.tied_embeddings);
}

TEST(Demo, RefusesBadOptions) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  DemoOptions options;
  options.out_dir = (dir / "out").string();
  options.config_path = small_config(dir);
  std::ostringstream out;
  options.prompt_tokens = 0;
  EXPECT_THAT([&] { run_demo(options, out); },
              testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("--prompt-tokens must be >= 1, got 0")));
  options.prompt_tokens = 30;
  options.decode_steps = 16;
  EXPECT_THAT([&] { run_demo(options, out); },
              testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("= 46 exceed max_position_embeddings 32")));
  options.decode_steps = -2;
  EXPECT_THROW(run_demo(options, out), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir / "out" / "trace.h5"));
}

}  // namespace
}  // namespace ttt::llama

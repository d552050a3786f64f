// The Llama-family model: a checkpoint written from the seeded weights computes the seeded
// model's logits bit for bit (the mapping's names and transposes are right end to end).
#include "models/llama/model.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "models/weights.h"
#include "tests/common/scratch_dir.h"
#include "tests/models/test_files.h"
#include "validation/tensor/random.h"
#include "validation/wrapper/switches.h"

namespace ttt::llama {
namespace {

namespace fs = std::filesystem;
using testing_files::write_file;

// A tiny Llama: 2 layers, hidden 64, 4 query / 2 key-value heads of 16, ffn 128, vocab 96.
LlamaConfig tiny_config() {
  nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                           {"hidden_size", 64},
                           {"intermediate_size", 128},
                           {"num_hidden_layers", 2},
                           {"num_attention_heads", 4},
                           {"num_key_value_heads", 2},
                           {"vocab_size", 96},
                           {"rms_norm_eps", 1e-5},
                           {"rope_theta", 500000.0},
                           {"max_position_embeddings", 256},
                           {"tie_word_embeddings", false}};
  return llama_config_from_json(config, "tiny/config.json");
}

TEST(LlamaModel, CheckpointAndSeededModelsComputeTheSameLogits) {
  const test_support::ScratchDir scratch;
  const fs::path& dir = scratch.path();
  const LlamaConfig config = tiny_config();
  const std::string path = write_file(
      dir / "model.safetensors",
      seeded_checkpoint(config.spec, config.model_type, config.initializer_range, 0, "F32"));
  set_validation_enabled(false);
  LlamaModelOptions seeded_options;
  LlamaModelOptions checkpoint_options;
  checkpoint_options.checkpoint = path;
  const LlamaModel seeded = build_llama_model(config, seeded_options);
  const LlamaModel loaded = build_llama_model(config, checkpoint_options);
  const Tensor ids = random_integers({1, 6}, 11, 0, 96);
  CausalLmCache seeded_cache = seeded.model.make_cache(1, 8);
  CausalLmCache loaded_cache = loaded.model.make_cache(1, 8);
  const Tensor a = seeded.model.prefill(ids, seeded_cache);
  const Tensor b = loaded.model.prefill(ids, loaded_cache);
  set_validation_enabled(true);
  ASSERT_EQ(a.shape(), (Shape{1, 6, 96}));
  EXPECT_EQ(0, std::memcmp(a.floats().data(), b.floats().data(), a.nbytes()));
}

}  // namespace
}  // namespace ttt::llama

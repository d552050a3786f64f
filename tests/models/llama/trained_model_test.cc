// The shipped model with learned weights (models/trained/tiny-llama-bytes, written by
// tools/train_tiny_llama.py): it loads through the Hugging Face adapter, TTTv2's float64
// reference reproduces PyTorch's logits (check_logits.npy, PyTorch float64), and it continues
// the prompt as PyTorch does. Also the byte tokenizer and the reference model's contract.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "models/llama/model.h"
#include "models/llama/token_accuracy.h"
#include "models/tokenizer.h"
#include "patterns/reference_model.h"
#include "tests/common/scratch_dir.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/npy.h"

namespace ttt::llama {
namespace {

const std::string kModel = std::string(TTT_SOURCE_DIR) + "/models/trained/tiny-llama-bytes";
// The prompt tools/train_tiny_llama.py writes PyTorch's logits of (CHECK_PROMPT).
constexpr const char* kPrompt = "count from 120: 120 121 122";

TEST(TrainedModel, LoadsThroughTheHuggingFaceAdapter) {
  const ModelDirectory directory = open_model_directory(kModel);
  EXPECT_EQ(directory.name, "tiny-llama-bytes");
  EXPECT_EQ(directory.config.architecture, "LlamaForCausalLM");
  const CausalLmSpec& spec = directory.config.spec;
  EXPECT_EQ(spec.layers.size(), 4u);
  EXPECT_EQ(spec.embedding.vocab_size, 288);
  EXPECT_EQ(spec.embedding.hidden_dim, 128);
  EXPECT_EQ(spec.layers[0].attention.num_heads, 4);
  EXPECT_EQ(spec.layers[0].attention.kv_heads(), 2);
  EXPECT_TRUE(spec.lm_head.tied_embeddings);
  // FNV-1a 64 of model.safetensors, computed independently with Python.
  EXPECT_EQ(directory.weights_hash, "fnv1a64:1f0491f2fee6b83a");
  ASSERT_TRUE(directory.tokenizer.has_value());
  // A trailing slash names the same directory.
  EXPECT_EQ(open_model_directory(kModel + "/").name, "tiny-llama-bytes");
}

TEST(TrainedModel, Float64ReferenceReproducesPyTorchLogits) {
  const ModelDirectory directory = open_model_directory(kModel);
  const LlamaModel built = build_llama_model(directory, {.validate = false});
  const CausalLm reference = reference_model(built.model);
  const std::vector<std::int64_t> ids = ByteTokenizer().encode(kPrompt);
  const auto n = static_cast<std::int64_t>(ids.size());
  CausalLmCache cache = reference.make_cache(1, n);
  const Tensor logits = reference.prefill(Tensor::from_int64({1, n}, ids), cache);
  const Tensor pytorch = read_npy(kModel + "/check_logits.npy");  // float64 [n, 288]
  ASSERT_EQ(pytorch.shape(), (Shape{n, 288}));
  double max_error = 0.0;
  double max_magnitude = 0.0;
  for (std::int64_t i = 0; i < pytorch.numel(); ++i) {
    max_error = std::max(max_error, std::abs(logits.at_flat(i) - pytorch.at_flat(i)));
    max_magnitude = std::max(max_magnitude, std::abs(pytorch.at_flat(i)));
  }
  // float32 between modules, float64 inside them: float32 rounding (measured 1e-6) on logits
  // of magnitude above 5.
  RecordProperty("max_abs_error", std::to_string(max_error));
  EXPECT_GT(max_magnitude, 5.0);
  EXPECT_LT(max_error, 1e-5) << "max |logit| " << max_magnitude;
  const Metrics metrics = compute_metrics(logits.reshape({n, 288}), pytorch);
  EXPECT_GT(metrics.pcc, 0.9999999);
}

TEST(TrainedModel, ReferenceContinuesThePromptAsPyTorchDoes) {
  const ModelDirectory directory = open_model_directory(kModel);
  const LlamaModel built = build_llama_model(directory, {.validate = false});
  const ByteTokenizer tokenizer;
  const TokenGolden golden = make_token_golden(built.model, tokenizer.encode(kPrompt), 24, 5,
                                               golden_provenance(directory));
  // PyTorch's greedy continuation (PROVENANCE.md): the model learned to count.
  EXPECT_EQ(tokenizer.decode(golden.continuation), " 123 124 125 126.\ncount ");
  EXPECT_EQ(golden.provenance.model, "tiny-llama-bytes");
  EXPECT_EQ(golden.provenance.vocab_size, 288);
  // Greedy: each continuation token is the reference's top-1 at the position before it.
  for (std::size_t i = 0; i < golden.continuation.size(); ++i) {
    EXPECT_EQ(golden.continuation[i],
              golden.top_id(static_cast<std::int64_t>(golden.prompt.size() + i) - 1, 0));
  }
}

TEST(TrainedModel, ByteTokenizer) {
  const ByteTokenizer tokenizer;
  EXPECT_EQ(tokenizer.encode("ab\n"), (std::vector<std::int64_t>{100, 101, 13}));
  const std::vector<std::int64_t> ids = {0, 1, 2, 300, 100};
  EXPECT_EQ(tokenizer.decode(ids), "<pad></s><unk><id 300>a");
  EXPECT_EQ(quoted_text("a\nb\"\xff"), "\"a\\nb\\\"\xef\xbf\xbd\"");

  test_support::ScratchDir scratch;
  EXPECT_FALSE(read_byte_tokenizer(scratch.path().string()).has_value());
  std::ofstream(scratch.file("tokenizer_config.json"))
      << R"({"tokenizer_class": "LlamaTokenizer"})";
  try {
    read_byte_tokenizer(scratch.path().string());
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()),
              scratch.file("tokenizer_config.json") +
                  ": /tokenizer_class: 'LlamaTokenizer' is not a byte-level tokenizer TTTv2 can "
                  "encode with (ByT5Tokenizer)");
  }
}

TEST(TrainedModel, ReferenceModelRunsPrefillOnly) {
  const ModelDirectory directory = open_model_directory(kModel);
  const LlamaModel built = build_llama_model(directory, {.validate = false});
  const CausalLm reference = reference_model(built.model);
  CausalLmCache cache = reference.make_cache(1, 4);
  reference.prefill(Tensor::from_int64({1, 2}, {100, 101}), cache);
  EXPECT_THROW(
      reference.decode(Tensor::from_int64({1}, {102}), Tensor::from_int64({1}, {2}), cache),
      std::logic_error);
}

TEST(TrainedModel, NotADirectoryIsRefused) {
  EXPECT_THROW(open_model_directory(kModel + "/config.json"), std::invalid_argument);
  test_support::ScratchDir scratch;
  try {
    open_model_directory(scratch.path().string());
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(std::string(error.what()), ::testing::HasSubstr("config.json"));
  }
}

}  // namespace
}  // namespace ttt::llama

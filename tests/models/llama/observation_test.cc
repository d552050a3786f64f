// Observation does not perturb (issue 16 item 7): the demo models compute bitwise-identical
// device outputs (every logit of the prefill and of each greedy decode step, and so the tokens)
// with validation and trace capture on as with both off. Validation computes references beside
// the device path and capture copies tensors; neither may feed back into what the device computes.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "models/llama/demo.h"
#include "models/llama/model.h"
#include "tests/common/scratch_dir.h"
#include "validation/trace/capture.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"

namespace ttt::llama {
namespace {

struct Run {
  std::vector<Tensor> logits;  // Prefill, then each decode step.
  std::vector<std::int64_t> tokens;
};

// Prefill of `prompt`, then `steps` greedy decode steps.
Run run(const CausalLm& model, const std::vector<std::int64_t>& prompt, std::int64_t steps) {
  Run result;
  const auto n = static_cast<std::int64_t>(prompt.size());
  CausalLmCache cache = model.make_cache(1, n + steps);
  result.logits.push_back(model.prefill(Tensor::from_int64({1, n}, prompt), cache));
  std::int64_t next = argmax_tokens(result.logits.back()).data<std::int64_t>()[n - 1];
  for (std::int64_t step = 0; step < steps; ++step) {
    result.tokens.push_back(next);
    result.logits.push_back(
        model.decode(Tensor::from_int64({1}, {next}), Tensor::from_int64({1}, {n + step}), cache));
    next = argmax_tokens(result.logits.back()).data<std::int64_t>()[0];
  }
  return result;
}

// The same run unobserved (validation off, no trace) and observed (every call validated and
// captured); a fresh model for each.
void expect_observation_does_not_perturb(const std::function<LlamaModel()>& build,
                                         const std::vector<std::int64_t>& prompt,
                                         std::int64_t steps) {
  set_validation_enabled(false);
  const Run plain = run(build().model, prompt, steps);

  test_support::ScratchDir scratch;
  const std::string trace_path = scratch.file("trace.h5");
  set_validation_enabled(true);
  set_validation_filter("*");
  const std::int64_t mark = validation_registry().next_sequence();
  Run observed;
  {
    const LlamaModel built = build();
    ScopedTrace trace(trace_path);
    register_weights(built.model, trace.session());
    observed = run(built.model, prompt, steps);
    trace.session().close();
    ASSERT_FALSE(trace.session().error().has_value());
  }
  // It was observed: every call validated and captured.
  const std::size_t records = validation_registry().records({.min_sequence = mark}).size();
  EXPECT_GT(records, 0u);
  EXPECT_EQ(TraceReader::open(trace_path).sequence_numbers().size(), records);

  EXPECT_EQ(observed.tokens, plain.tokens);
  ASSERT_EQ(observed.logits.size(), plain.logits.size());
  for (std::size_t i = 0; i < plain.logits.size(); ++i) {
    const Tensor& a = plain.logits[i];
    const Tensor& b = observed.logits[i];
    ASSERT_EQ(a.shape(), b.shape()) << "call " << i;
    ASSERT_EQ(a.dtype(), b.dtype()) << "call " << i;
    EXPECT_EQ(std::memcmp(a.bytes(), b.bytes(), a.nbytes()), 0)
        << (i == 0 ? "prefill" : "decode step " + std::to_string(i)) << " logits differ";
  }
}

TEST(ObservationDoesNotPerturb, TrainedModel) {
  const ModelDirectory directory =
      open_model_directory(TTT_SOURCE_DIR "/models/trained/tiny-llama-bytes");
  const std::vector<std::int64_t> prompt =
      directory.tokenizer->encode("count from 120: 120 121 122");
  expect_observation_does_not_perturb([&] { return build_llama_model(directory); }, prompt, 12);
}

TEST(ObservationDoesNotPerturb, DefaultDemoModel) {
  // `ttt demo`'s default model (Llama-3.2-1B's shapes, 2 layers, seeded weights).
  const LlamaConfig config =
      llama_config_from_json(demo_default_config(), "the built-in demo config");
  expect_observation_does_not_perturb([&] { return build_llama_model(config); },
                                      {17, 4000, 123, 8191, 5, 77, 1024, 3}, 3);
}

}  // namespace
}  // namespace ttt::llama

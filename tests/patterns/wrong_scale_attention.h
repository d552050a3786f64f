// A fault to inject into a model: TTTv2's attention computed with a wrong softmax scale while it
// declares the correct block, and the tiny LM runs built with it. Used by the first-bad-layer,
// the bug-or-precision and the error-propagation tests.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "blocks/attention/attention.h"
#include "patterns/causal_lm.h"
#include "patterns/module.h"
#include "tiny_model.h"

namespace ttt::testing_patterns {

// TTTv2's attention computed with scores scaled by 8 / sqrt(head_dim) instead of 1 / sqrt(head_dim)
// (the bug), while it declares the correct block: its reference, Spec, tolerances and weights are
// those of the correct module.
class WrongScaleAttention final : public AttentionModule {
 public:
  WrongScaleAttention(std::shared_ptr<const AttentionModule> correct, AttentionSpec spec,
                      const PerMode<AttentionImplConfig>& configs, const AttentionWeights& weights)
      : correct_(std::move(correct)),
        prefill_(wrong_scale(spec), configs.prefill, weights),
        decode_(wrong_scale(spec), configs.decode, weights) {}

  KVCache make_cache(std::int64_t max_batch, std::int64_t max_seq_len) const override {
    return correct_->make_cache(max_batch, max_seq_len);
  }
  Tensor prefill(const Tensor& x, KVCache& cache, std::int64_t first_slot) const override {
    return prefill_.prefill_forward(x, &cache, first_slot);
  }
  Tensor decode(const Tensor& x, const Tensor& positions, KVCache& cache) const override {
    return decode_.decode_forward(x, positions, cache);
  }
  Tensor prefill_reference(const Tensor& x) const override {
    return correct_->prefill_reference(x);
  }
  Tensor decode_reference(const Tensor& x, const Tensor& positions,
                          const KVCache& cache) const override {
    return correct_->decode_reference(x, positions, cache);
  }
  ModuleInfo info(Mode mode) const override { return correct_->info(mode); }
  std::vector<NamedTensor> weights() const override { return correct_->weights(); }

 private:
  static AttentionSpec wrong_scale(AttentionSpec spec) {
    spec.query_pre_attn_scalar = static_cast<double>(spec.dim_per_head()) / 64.0;
    return spec;
  }

  std::shared_ptr<const AttentionModule> correct_;
  Attention prefill_;
  Attention decode_;
};

// The modules of the tiny LM of `spec` with SeededWeights(21) and N150's default ImplConfigs at
// `preset`; layer 1's attention is a WrongScaleAttention when `faulty`.
inline CausalLmModules tiny_modules(const CausalLmSpec& spec, bool faulty,
                                    std::optional<Preset> preset = std::nullopt) {
  const PerMode<CausalLmImplConfig> configs = default_impl_configs(spec, Device::N150, preset);
  SeededWeights seeded(21);
  const CausalLmWeights weights = seeded.model(spec);
  CausalLmModules modules = make_causal_lm_modules(spec, configs, weights);
  if (faulty) {
    modules.layers[1].attention = std::make_shared<const WrongScaleAttention>(
        modules.layers[1].attention, spec.layers[1].attention,
        PerMode<AttentionImplConfig>{configs.prefill.layers[1].attention,
                                     configs.decode.layers[1].attention},
        weights.layers[1].attention);
  }
  return modules;
}

// Prefills the prompt 11 42 7 93 0 56 into `cache` and decodes `steps` tokens (20, 21, ... at
// positions 6, 7, ...); returns the last logits.
inline Tensor run_prompt(const CausalLm& model, CausalLmCache& cache, std::int64_t steps) {
  Tensor logits = model.prefill(Tensor::from_int64({1, 6}, {11, 42, 7, 93, 0, 56}), cache);
  for (std::int64_t step = 0; step < steps; ++step) {
    logits = model.decode(Tensor::from_int64({1}, {20 + step}), Tensor::from_int64({1}, {6 + step}),
                          cache);
  }
  return logits;
}

}  // namespace ttt::testing_patterns

// A fault to inject into a model: TTTv2's attention computed with a wrong softmax scale while it
// declares the correct block. Used by the first-bad-layer and the bug-or-precision tests.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "blocks/attention/attention.h"
#include "patterns/module.h"

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

}  // namespace ttt::testing_patterns

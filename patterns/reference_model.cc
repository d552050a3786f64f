#include "patterns/reference_model.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace ttt {
namespace {

[[noreturn]] void no_decode(const char* what) {
  throw std::logic_error(std::string("[reference_model] ") + what +
                         ": a reference model runs prefill only (re-run the prefill on the "
                         "longer sequence instead of decoding)");
}

class ReferencePositionwise final : public PositionwiseModule {
 public:
  explicit ReferencePositionwise(std::shared_ptr<const PositionwiseModule> module)
      : module_(std::move(module)) {}
  Tensor forward(const Tensor& x, Mode /*mode*/) const override { return module_->reference(x); }
  Tensor reference(const Tensor& x) const override { return module_->reference(x); }
  ModuleInfo info(Mode mode) const override { return module_->info(mode); }
  std::vector<NamedTensor> weights() const override { return module_->weights(); }

 private:
  std::shared_ptr<const PositionwiseModule> module_;
};

class ReferenceAttention final : public AttentionModule {
 public:
  explicit ReferenceAttention(std::shared_ptr<const AttentionModule> module)
      : module_(std::move(module)) {}
  KVCache make_cache(std::int64_t max_batch, std::int64_t max_seq_len) const override {
    return module_->make_cache(max_batch, max_seq_len);
  }
  Tensor prefill(const Tensor& x, KVCache& /*cache*/, std::int64_t /*first_slot*/) const override {
    return module_->prefill_reference(x);
  }
  Tensor decode(const Tensor& /*x*/, const Tensor& /*positions*/,
                KVCache& /*cache*/) const override {
    no_decode("attention");
  }
  Tensor prefill_reference(const Tensor& x) const override { return module_->prefill_reference(x); }
  Tensor decode_reference(const Tensor& /*x*/, const Tensor& /*positions*/,
                          const KVCache& /*cache*/) const override {
    no_decode("attention");
  }
  ModuleInfo info(Mode mode) const override { return module_->info(mode); }
  std::vector<NamedTensor> weights() const override { return module_->weights(); }

 private:
  std::shared_ptr<const AttentionModule> module_;
};

class ReferenceEmbedding final : public EmbeddingModule {
 public:
  explicit ReferenceEmbedding(std::shared_ptr<const EmbeddingModule> module)
      : module_(std::move(module)) {}
  Tensor prefill(const Tensor& ids) const override { return module_->prefill_reference(ids); }
  Tensor decode(const Tensor& ids, const Tensor& positions) const override {
    return module_->decode_reference(ids, positions);
  }
  Tensor prefill_reference(const Tensor& ids) const override {
    return module_->prefill_reference(ids);
  }
  Tensor decode_reference(const Tensor& ids, const Tensor& positions) const override {
    return module_->decode_reference(ids, positions);
  }
  ModuleInfo info(Mode mode) const override { return module_->info(mode); }
  std::vector<NamedTensor> weights() const override { return module_->weights(); }

 private:
  std::shared_ptr<const EmbeddingModule> module_;
};

std::shared_ptr<const PositionwiseModule> positionwise(
    const std::shared_ptr<const PositionwiseModule>& module) {
  if (module == nullptr) return nullptr;
  return std::make_shared<const ReferencePositionwise>(module);
}

}  // namespace

CausalLmModules reference_modules(const CausalLmModules& modules) {
  CausalLmModules reference;
  reference.embedding = std::make_shared<const ReferenceEmbedding>(modules.embedding);
  reference.embedding_norm = positionwise(modules.embedding_norm);
  for (const DecoderLayerModules& layer : modules.layers) {
    DecoderLayerModules copy;
    copy.attention_norm = positionwise(layer.attention_norm);
    copy.attention = std::make_shared<const ReferenceAttention>(layer.attention);
    copy.post_attention_norm = positionwise(layer.post_attention_norm);
    copy.ffn_norm = positionwise(layer.ffn_norm);
    copy.ffn = positionwise(layer.ffn);
    copy.post_ffn_norm = positionwise(layer.post_ffn_norm);
    copy.residual_dtype = {DType::float32, DType::float32};
    reference.layers.push_back(std::move(copy));
  }
  reference.norm = positionwise(modules.norm);
  reference.lm_head = positionwise(modules.lm_head);
  return reference;
}

CausalLm reference_model(const CausalLm& model) {
  PatternOptions options;
  options.validate = false;
  return CausalLm(reference_modules(model.modules()), options);
}

}  // namespace ttt

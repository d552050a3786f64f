#include "blocks/registration.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "blocks/attention/attention.h"
#include "blocks/embeddings/embedding.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"
#include "blocks/lm_head/lm_head.h"
#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"
#include "blocks/rope/rope.h"

namespace ttt {
namespace {

// The mode a call asks for: scalar "mode", default prefill.
Mode call_mode(const BlockCall& call) {
  if (!call.scalars.contains("mode")) return Mode::prefill;
  try {
    return call.scalars.at("mode").get<Mode>();
  } catch (const std::exception& error) {
    throw std::invalid_argument("[" + call.kind + "] scalar 'mode': " + error.what());
  }
}

Device call_device(const BlockCall& call) {
  if (call.device.empty()) return Device::N150;
  try {
    return parse_device(call.device);
  } catch (const std::exception& error) {
    throw std::invalid_argument("[" + call.kind + "] device: " + error.what());
  }
}

// The call's Spec, and its ImplConfig: the defaults for the call's device and mode overlaid with
// the call's impl_config JSON.
template <typename Spec>
auto configure(const BlockCall& call, Mode mode) {
  const Spec spec = call.spec.get<Spec>();
  spec.validate();
  auto config = default_impl_config(spec, call_device(call), mode);
  nlohmann::json merged = config;
  merged.merge_patch(call.impl_config);
  config = merged.get<decltype(config)>();
  return std::pair{spec, config};
}

// A block and the weight tensors its cache key names (held so that their storage is not reused
// for other values while the block is cached).
struct CachedBlock {
  std::shared_ptr<const void> block;
  std::vector<Tensor> weights;
};

// The block `make` builds for `call`, or the one an earlier call of the same replay built with the
// same kind, Spec, complete ImplConfig and weight tensors (call.cache): its weights are then
// prepared once per replay, not once per call.
template <typename Block, typename Config, typename Make>
std::shared_ptr<const Block> reuse_block(const BlockCall& call, const Config& config,
                                         const std::vector<Tensor>& weights, Make make) {
  if (call.cache == nullptr) return make();
  std::string key = call.kind + "|" + call.spec.dump() + "|" + nlohmann::json(config).dump();
  for (const Tensor& weight : weights) key += "|" + tensor_cache_key(weight);
  const auto cached = call.cache->get_or_make<CachedBlock>(key, [&] {
    return std::make_shared<const CachedBlock>(CachedBlock{make(), weights});
  });
  return std::static_pointer_cast<const Block>(cached->block);
}

// Binds a block object: device runs the mode's forward, reference runs `reference`.
template <typename Block, typename Reference>
BoundCall bind_block(std::shared_ptr<const Block> block, Mode mode, Tensor x, Reference reference) {
  BoundCall bound;
  bound.run_device = [block, mode, x] {
    return named(
        {{"y", mode == Mode::decode ? block->decode_forward(x) : block->prefill_forward(x)}});
  };
  bound.run_reference = [reference = std::move(reference)] { return named({{"y", reference()}}); };
  return bound;
}

Tensor optional_input(const BlockCall& call, bool present, const char* name) {
  return present ? call.input(name) : Tensor();
}

WeightSource source_of(const Tensor& tensor) {
  return tensor.defined() ? WeightSource(tensor) : WeightSource();
}

BoundCall bind_rms_norm(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure<RmsNormSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor weight = call.input("weight");
  auto block = reuse_block<RmsNorm>(call, config, {weight}, [&] {
    return std::make_shared<const RmsNorm>(spec, config, weight);
  });
  return bind_block(block, mode, x,
                    [spec, x, weight] { return rms_norm_reference(spec, x, weight); });
}

BoundCall bind_layer_norm(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure<LayerNormSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor weight = call.input("weight");
  const Tensor bias = optional_input(call, spec.bias, "bias");
  auto block = reuse_block<LayerNorm>(call, config, {weight, bias}, [&] {
    return std::make_shared<const LayerNorm>(spec, config, weight, source_of(bias));
  });
  return bind_block(block, mode, x, [spec, x, weight, bias] {
    return layer_norm_reference(spec, x, weight, bias);
  });
}

BoundCall bind_mlp(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure<MlpSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor w_up = call.input("w_up");
  const Tensor w_down = call.input("w_down");
  const Tensor b_up = optional_input(call, spec.bias, "b_up");
  const Tensor b_down = optional_input(call, spec.bias, "b_down");
  auto block = reuse_block<Mlp>(call, config, {w_up, w_down, b_up, b_down}, [&] {
    return std::make_shared<const Mlp>(
        spec, config, MlpWeights{w_up, w_down, source_of(b_up), source_of(b_down)});
  });
  return bind_block(block, mode, x, [spec, x, w_up, w_down, b_up, b_down] {
    return mlp_reference(spec, x, w_up, w_down, b_up, b_down);
  });
}

BoundCall bind_gated_mlp(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure<GatedMlpSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor w_gate = call.input("w_gate");
  const Tensor w_up = call.input("w_up");
  const Tensor w_down = call.input("w_down");
  auto block = reuse_block<GatedMlp>(call, config, {w_gate, w_up, w_down}, [&] {
    return std::make_shared<const GatedMlp>(spec, config, GatedMlpWeights{w_gate, w_up, w_down});
  });
  return bind_block(block, mode, x, [spec, x, w_gate, w_up, w_down] {
    return gated_mlp_reference(spec, x, w_gate, w_up, w_down);
  });
}

BoundCall bind_moe(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure<MoeSpec>(call, mode);
  const Tensor x = call.input("x");
  MoeReferenceWeights reference{call.input("router"), call.container("w_gate"),
                                call.container("w_up"), call.container("w_down")};
  const auto experts = static_cast<std::size_t>(spec.num_experts);
  if (reference.w_gate.size() != experts || reference.w_up.size() != experts ||
      reference.w_down.size() != experts) {
    throw std::invalid_argument(
        "[moe] expected inputs w_gate/0..w_gate/" + std::to_string(experts - 1) +
        " (and w_up, w_down) for spec.num_experts " + std::to_string(experts));
  }
  std::vector<Tensor> all_weights{reference.router};
  for (std::size_t e = 0; e < experts; ++e) {
    all_weights.insert(all_weights.end(),
                       {reference.w_gate[e], reference.w_up[e], reference.w_down[e]});
  }
  auto block = reuse_block<Moe>(call, config, all_weights, [&] {
    MoeWeights weights{reference.router, {}};
    for (std::size_t e = 0; e < experts; ++e) {
      weights.experts.push_back({reference.w_gate[e], reference.w_up[e], reference.w_down[e]});
    }
    return std::make_shared<const Moe>(spec, config, std::move(weights));
  });
  return bind_block(block, mode, x, [spec, x, reference = std::move(reference)] {
    return moe_reference(spec, x, reference);
  });
}

BoundCall bind_lm_head(const BlockCall& call) {
  const Mode mode = call_mode(call);
  const auto [spec, config] = configure<LmHeadSpec>(call, mode);
  const Tensor x = call.input("x");
  const Tensor weight = call.input("weight");
  auto block = reuse_block<LmHead>(
      call, config, {weight}, [&] { return std::make_shared<const LmHead>(spec, config, weight); });
  return bind_block(block, mode, x,
                    [spec, x, weight] { return lm_head_reference(spec, x, weight); });
}

BoundCall bind_embedding(const BlockCall& call) {
  // A decode call carries the positions of its tokens; a prefill call numbers them 0..seq-1.
  const bool decode =
      call_mode(call) == Mode::decode ||
      std::any_of(call.inputs.begin(), call.inputs.end(),
                  [](const NamedTensor& input) { return input.name == "positions"; });
  const Mode mode = decode ? Mode::decode : Mode::prefill;
  const auto [spec, config] = configure<EmbeddingSpec>(call, mode);
  const Tensor ids = call.input("ids");
  const Tensor token = call.input("token_weight");
  const Tensor position =
      optional_input(call, spec.positions == PositionEmbedding::learned, "position_weight");
  Tensor positions = decode ? call.input("positions") : Tensor(ids.shape(), DType::int64);
  if (!decode && ids.rank() >= 1 && ids.dim(-1) > 0) {
    for (std::int64_t i = 0; i < positions.numel(); ++i) {
      positions.data<std::int64_t>()[i] = i % ids.dim(-1);
    }
  }
  auto block = reuse_block<Embedding>(call, config, {token, position}, [&] {
    return std::make_shared<const Embedding>(spec, config, token, source_of(position));
  });
  BoundCall bound;
  bound.run_device = [block, decode, ids, positions] {
    return named(
        {{"y", decode ? block->decode_forward(ids, positions) : block->prefill_forward(ids)}});
  };
  bound.run_reference = [spec, ids, positions, token, position] {
    return named({{"y", embedding_reference(spec, ids, positions, token, position)}});
  };
  return bound;
}

BoundCall bind_rope(const BlockCall& call) {
  const auto [spec, config] = configure<RopeSpec>(call, call_mode(call));
  const Tensor x = call.input("x");
  const Tensor positions = call.input("positions");
  auto block = reuse_block<Rope>(call, config, {},
                                 [&] { return std::make_shared<const Rope>(spec, config); });
  BoundCall bound;
  bound.run_device = [block, x, positions] { return named({{"y", block->forward(x, positions)}}); };
  bound.run_reference = [spec, x, positions] {
    return named({{"y", rope_reference(spec, x, positions)}});
  };
  return bound;
}

// The weight tensors of an attention call: wq, wk, wv, wo, bq, bk, bv, bo, q_norm, k_norm
// (undefined when the spec has none).
std::vector<Tensor> attention_tensors(const BlockCall& call, const AttentionSpec& spec) {
  return {call.input("wq"),
          call.input("wk"),
          call.input("wv"),
          call.input("wo"),
          optional_input(call, spec.qkv_bias, "bq"),
          optional_input(call, spec.qkv_bias, "bk"),
          optional_input(call, spec.qkv_bias, "bv"),
          optional_input(call, spec.output_bias, "bo"),
          optional_input(call, spec.qk_norm, "q_norm"),
          optional_input(call, spec.qk_norm, "k_norm")};
}

AttentionWeights attention_weights(const std::vector<Tensor>& tensors) {
  AttentionWeights weights;
  weights.wq = tensors[0];
  weights.wk = tensors[1];
  weights.wv = tensors[2];
  weights.wo = tensors[3];
  weights.bq = source_of(tensors[4]);
  weights.bk = source_of(tensors[5]);
  weights.bv = source_of(tensors[6]);
  weights.bo = source_of(tensors[7]);
  weights.q_norm = source_of(tensors[8]);
  weights.k_norm = source_of(tensors[9]);
  return weights;
}

// A prefill's output does not depend on the cache it fills, so replay runs it without one (the
// call's k_cache, v_cache and first_slot, when present, are not read).
BoundCall bind_attention_prefill(const BlockCall& call) {
  const auto [spec, config] = configure<AttentionSpec>(call, Mode::prefill);
  const Tensor x = call.input("x");
  const std::vector<Tensor> tensors = attention_tensors(call, spec);
  const AttentionWeights weights = attention_weights(tensors);
  auto block = reuse_block<Attention>(call, config, tensors, [&] {
    return std::make_shared<const Attention>(spec, config, weights);
  });
  BoundCall bound;
  bound.run_device = [block, x] { return named({{"y", block->prefill_forward(x)}}); };
  bound.run_reference = [spec, x, weights] {
    return named({{"y", attention_prefill_reference(spec, x, weights)}});
  };
  return bound;
}

// Decode writes the new key and value into the cache: replay works on copies of the call's.
BoundCall bind_attention_decode(const BlockCall& call) {
  const auto [spec, config] = configure<AttentionSpec>(call, Mode::decode);
  const Tensor x = call.input("x");
  const Tensor positions = call.input("positions");
  const Tensor k_cache = call.input("k_cache");
  const Tensor v_cache = call.input("v_cache");
  const std::vector<Tensor> tensors = attention_tensors(call, spec);
  const AttentionWeights weights = attention_weights(tensors);
  auto block = reuse_block<Attention>(call, config, tensors, [&] {
    return std::make_shared<const Attention>(spec, config, weights);
  });
  BoundCall bound;
  bound.run_device = [block, x, positions, k_cache, v_cache] {
    KVCache cache{k_cache.clone(), v_cache.clone()};
    return named({{"y", block->decode_forward(x, positions, cache)}});
  };
  bound.run_reference = [spec, x, positions, k_cache, v_cache, weights] {
    return named(
        {{"y", attention_decode_reference(spec, x, positions, k_cache, v_cache, weights)}});
  };
  return bound;
}

// Tolerances of the kinds whose arithmetic is lossier than their output's format (bfloat8_b or
// bfloat4_b weights, LoFi): TTTv1's PCC floor of 0.99; max abs error is left unchecked because it
// scales with the block's outputs (docs/blocks.md lists measured values). Norms, embeddings and
// RoPE set none: an output rounded once to its dtype is what they compute, and the dtype-aware
// default (default_tolerances) judges exactly that, at any scale and offset of the data.
Tolerances pcc_at_least(double pcc) {
  Tolerances tolerances;
  tolerances.pcc = pcc;
  return tolerances;
}

}  // namespace

// Embeddings, RoPE and attention (blocks-attention's kinds).
void register_position_and_attention_blocks(BlockRegistry& registry) {
  registry.add({.kind = "embedding",
                .inputs = {"ids", "token_weight"},
                .outputs = {"y"},
                .bind = bind_embedding});
  registry.add({.kind = "rope",
                .inputs = {"x", "positions"},
                .outputs = {"y"},
                .bind = bind_rope});
  registry.add({.kind = "attention.prefill",
                .inputs = {"x", "wq", "wk", "wv", "wo"},
                .outputs = {"y"},
                .tolerances = pcc_at_least(0.99),
                .bind = bind_attention_prefill});
  registry.add({.kind = "attention.decode",
                .inputs = {"x", "positions", "k_cache", "v_cache", "wq", "wk", "wv", "wo"},
                .outputs = {"y"},
                .tolerances = pcc_at_least(0.99),
                .bind = bind_attention_decode});
}

void register_builtin_blocks(BlockRegistry& registry) {
  registry.add({.kind = "rms_norm",
                .inputs = {"x", "weight"},
                .outputs = {"y"},
                .bind = bind_rms_norm});
  registry.add({.kind = "layer_norm",
                .inputs = {"x", "weight"},
                .outputs = {"y"},
                .bind = bind_layer_norm});
  registry.add({.kind = "mlp",
                .inputs = {"x", "w_up", "w_down"},
                .outputs = {"y"},
                .tolerances = pcc_at_least(0.99),
                .bind = bind_mlp});
  registry.add({.kind = "gated_mlp",
                .inputs = {"x", "w_gate", "w_up", "w_down"},
                .outputs = {"y"},
                .tolerances = pcc_at_least(0.99),
                .bind = bind_gated_mlp});
  registry.add({.kind = "moe",
                .inputs = {"x", "router"},
                .outputs = {"y"},
                .tolerances = pcc_at_least(0.99),
                .bind = bind_moe});
  registry.add({.kind = "lm_head",
                .inputs = {"x", "weight"},
                .outputs = {"y"},
                .tolerances = pcc_at_least(0.99),
                .bind = bind_lm_head});
  register_position_and_attention_blocks(registry);
}

void register_builtin_blocks() {
  static std::once_flag once;
  std::call_once(once, [] { register_builtin_blocks(BlockRegistry::global()); });
}

}  // namespace ttt

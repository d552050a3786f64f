// What the modules made from blocks share (internal to patterns/): their ModuleInfo in both
// modes, one block object per mode (shared when both modes are configured alike) and their
// weights named as the block kind's replayer reads them. block_modules.cc (single-device blocks)
// and tensor_parallel.cc (the tensor-parallel blocks on a mesh) use them.
#pragma once

#include <algorithm>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "blocks/common/block_kind.h"
#include "blocks/common/weights.h"
#include "blocks/ffn/moe.h"
#include "patterns/block_modules.h"
#include "patterns/module.h"

namespace ttt::pattern_detail {

// ModuleInfo of a block in both modes.
template <typename Spec, typename Config>
PerMode<ModuleInfo> block_infos(std::string_view prefill_kind, std::string_view decode_kind,
                                const Spec& spec, const PerMode<Config>& configs) {
  const std::string spec_json = nlohmann::json(spec).dump();
  return {ModuleInfo{std::string(prefill_kind), spec_json, nlohmann::json(configs.prefill).dump()},
          ModuleInfo{std::string(decode_kind), spec_json, nlohmann::json(configs.decode).dump()}};
}

// One block object per mode, shared when both modes are configured alike (its device weights are
// then prepared once).
template <typename Block, typename Config, typename Make>
PerMode<std::shared_ptr<const Block>> make_blocks(const PerMode<Config>& configs, Make make) {
  std::shared_ptr<const Block> prefill = make(configs.prefill);
  std::shared_ptr<const Block> decode =
      configs.decode == configs.prefill ? prefill : make(configs.decode);
  return {std::move(prefill), std::move(decode)};
}

// A module's weights, named as its kind's descriptor names them (BlockKind::weights, the input
// names replay reads): `sources` are the block's weights in the descriptor's order, undefined
// ones (a bias or norm the Spec has not) left out. A repeated group (an MoE's experts) comes name
// by name: w_gate/0..n-1, then w_up/0..n-1, then w_down/0..n-1.
template <typename Spec>
std::vector<NamedTensor> named_weights(std::string_view kind, const Spec& spec,
                                       const std::vector<const WeightSource*>& sources) {
  const BlockKind* descriptor = find_block_kind(kind);
  if (descriptor == nullptr) {
    throw std::logic_error("[" + std::string(kind) + "] no block kind of that name");
  }
  std::vector<std::string> names;
  for (const auto& entry : descriptor->weights(nlohmann::json(spec))) {
    if (const auto* rule = std::get_if<InputRule>(&entry)) {
      names.push_back(rule->name);
      continue;
    }
    const auto& group = std::get<RepeatedInputs>(entry);
    for (const InputRule& rule : group.each) {
      for (std::int64_t i = 0; i < group.count; ++i) {
        names.push_back(rule.name + "/" + std::to_string(i));
      }
    }
  }
  std::vector<const WeightSource*> defined;
  std::copy_if(sources.begin(), sources.end(), std::back_inserter(defined),
               [](const WeightSource* source) { return source->defined(); });
  if (defined.size() != names.size()) {
    throw std::logic_error("[" + std::string(kind) + "] the module has " +
                           std::to_string(defined.size()) + " weights, its kind names " +
                           std::to_string(names.size()));
  }
  std::vector<NamedTensor> out;
  for (std::size_t i = 0; i < names.size(); ++i) out.push_back({names[i], defined[i]->load()});
  return out;
}

// An attention module's weights, each loaded once, after checking that both modes' configs keep
// the KV cache in one format (the modes share one cache): the attention module's and, on a mesh,
// the tp_attention module's. `block` names the module's kind in the error.
inline AttentionWeights shared_attention_weights(std::string_view block,
                                                 const PerMode<AttentionImplConfig>& configs,
                                                 AttentionWeights weights) {
  if (configs.prefill.kv_cache_dtype != configs.decode.kv_cache_dtype) {
    throw std::invalid_argument("[" + std::string(block) +
                                "] the prefill and decode configs disagree on kv_cache_dtype (" +
                                std::string(dtype_name(configs.prefill.kv_cache_dtype)) + " vs " +
                                std::string(dtype_name(configs.decode.kv_cache_dtype)) +
                                "): both modes share one KV cache");
  }
  for (WeightSource* source :
       {&weights.wq, &weights.wk, &weights.wv, &weights.wo, &weights.bq, &weights.bk, &weights.bv,
        &weights.bo, &weights.q_norm, &weights.k_norm}) {
    *source = ttt::load_once(std::move(*source));
  }
  return weights;
}

// An MoE's weights, each loaded once (the modes' blocks and the reference share them): the moe
// module's and, on a mesh, the ep_moe module's.
inline MoeWeights load_once(MoeWeights weights) {
  MoeWeights loaded;
  loaded.router = ttt::load_once(std::move(weights.router));
  for (GatedMlpWeights& expert : weights.experts) {
    loaded.experts.push_back({ttt::load_once(std::move(expert.w_gate)),
                              ttt::load_once(std::move(expert.w_up)),
                              ttt::load_once(std::move(expert.w_down))});
  }
  return loaded;
}

// An MoE's weights in the order its kinds (moe, ep_moe) name them: the router, then w_gate of
// every expert, w_up of every expert, w_down of every expert (named_weights' repeated group).
inline std::vector<const WeightSource*> moe_weight_sources(const MoeWeights& weights) {
  std::vector<const WeightSource*> sources{&weights.router};
  for (WeightSource GatedMlpWeights::*member :
       {&GatedMlpWeights::w_gate, &GatedMlpWeights::w_up, &GatedMlpWeights::w_down}) {
    for (const GatedMlpWeights& expert : weights.experts) sources.push_back(&(expert.*member));
  }
  return sources;
}

}  // namespace ttt::pattern_detail

// Helpers the families' kinds.cc files share to fill a BlockKind (blocks/common/block_kind.h) from
// a block's typed Spec and ImplConfig: configure, identity and coverage facts, and the pieces of
// a replay bind (the call's mode and device, the block reused across a replay's calls).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "blocks/common/block_kind.h"
#include "blocks/common/weights.h"
#include "validation/input/json_reader.h"

namespace ttt::kind_support {

// BlockKind::configure of a typed block. The Spec is read from `spec_json` and the overrides
// from the merged ImplConfig placed at `overrides`' path (only the overrides can be at fault), so
// that errors name the caller's document and path (docs/design.md "Reading JSON").
template <typename Spec>
ConfiguredBlock configure(const JsonNode& spec_json, Device device, Mode mode,
                          const std::optional<Preset>& preset, const JsonNode& overrides) {
  Spec spec;
  read_json(spec_json, spec);
  spec.validate();
  auto config = preset ? default_impl_config(spec, device, mode, *preset)
                       : default_impl_config(spec, device, mode);
  try {
    nlohmann::json merged = config;
    merged.merge_patch(overrides.object());
    decltype(config) overridden;
    read_json(JsonNode(merged, overrides.source(), overrides.path()), overridden);
    config = overridden;
    if constexpr (requires { config.validate(spec); }) {
      config.validate(spec);
    } else {
      config.validate();
    }
  } catch (const std::invalid_argument& error) {
    throw ImplConfigError(error.what());
  }
  return {nlohmann::json(spec), nlohmann::json(config), spec.identity()};
}

// BlockKind::identity of a typed block.
template <typename Spec>
std::string identity(const nlohmann::json& spec_json) {
  return spec_json.get<Spec>().identity();
}

// BlockKind::facts of a typed block: identity, canonical Spec and ImplConfig, then `extras` adds
// the weight dtype and derived parameters only the types know.
template <typename Spec, typename Config, typename Extras>
auto facts(Extras extras) {
  return [extras](const nlohmann::json& spec_json, const nlohmann::json& impl_json, Device device,
                  Mode mode) {
    Spec spec;
    from_json(spec_json, spec);
    spec.validate();
    Config config = default_impl_config(spec, device, mode);
    from_json(impl_json, config);  // Over the defaults: fields it leaves out keep them.
    KindFacts facts;
    facts.identity = spec.identity();
    to_json(facts.spec, spec);
    to_json(facts.impl_config, config);
    extras(spec, config, facts);
    return facts;
  };
}

// The mode a replayed call asks for: its scalar "mode" ("prefill" or "decode", or as a trace
// holds it, the Mode's value 0 or 1), default prefill.
Mode call_mode(const BlockCall& call);
// The call's device, N150 when the trace names none.
Device call_device(const BlockCall& call);

// A replayed call's Spec, and its ImplConfig: the defaults for the call's device and mode
// overlaid with the call's impl_config JSON (fields it leaves out keep their defaults).
template <typename Spec>
auto configure_call(const BlockCall& call, Mode mode) {
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

// BlockKind::weights: the weights a call of a Spec carries.
using WeightRules = std::function<InputRules(const nlohmann::json& spec)>;

// The weight tensors of a replayed call, read by the names BlockKind::weights gives for the call's
// Spec: a single input by its name, a repeated group's inputs as containers ("w_gate/0", ...). A
// kind's bind therefore never spells which weights a Spec has: the weight rules say it once.
class CallWeights {
 public:
  // Reads every weight `rules` names from `call`. Throws std::invalid_argument naming a missing
  // input ("[mlp] missing input 'b_up'") or a group whose containers do not hold `count` tensors.
  CallWeights(const BlockCall& call, const InputRules& rules);

  // The single weight `name`; undefined when the rules do not name it (the Spec has no bias...).
  Tensor operator[](std::string_view name) const;
  // The same as a WeightSource (undefined when the rules do not name it).
  WeightSource source(std::string_view name) const;
  // The `count` tensors of group member `name` in index order; empty when the rules name none.
  std::vector<Tensor> group(std::string_view name) const;
  // Every tensor in the rules' order (a group's index by index): what a cached block keeps.
  const std::vector<Tensor>& all() const { return all_; }

 private:
  std::vector<NamedTensor> singles_;
  std::vector<std::pair<std::string, std::vector<Tensor>>> groups_;
  std::vector<Tensor> all_;
};

// What a replayed call binds: its Spec, its weights (as read by name, and as the block takes
// them) and its block.
template <typename Spec, typename Block, typename Weights>
struct CallBlock {
  Spec spec;
  CallWeights tensors;
  Weights weights;
  std::shared_ptr<const Block> block;
};

// The parts of a call in `mode`: the Spec and ImplConfig (configure_call), the weight tensors
// `weight_rules` names, the block's weights to_weights(tensors), and the Block built from
// (spec, config, weights) or reused across a replay's calls (reuse_block).
template <typename Spec, typename Block, typename ToWeights>
auto call_block(const BlockCall& call, Mode mode, const WeightRules& weight_rules,
                ToWeights to_weights) {
  const auto [spec, config] = configure_call<Spec>(call, mode);
  CallWeights tensors(call, weight_rules(call.spec));
  auto weights = to_weights(tensors);
  auto block = reuse_block<Block>(call, config, tensors.all(), [&] {
    return std::make_shared<const Block>(spec, config, weights);
  });
  return CallBlock<Spec, Block, decltype(weights)>{spec, std::move(tensors), std::move(weights),
                                                   std::move(block)};
}

// Binds a block object with prefill_forward(x) and decode_forward(x): device runs the mode's
// forward, reference runs `reference`; the output is "y".
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

// BlockKind::bind of a kind whose call is "x" and its weights (call_block: the weights read by
// `weight_rules`, handed to the Block as to_weights(tensors)): device runs the call's mode's
// forward, reference runs reference(spec, weights, x); the output is "y".
template <typename Spec, typename Block, typename ToWeights, typename Reference>
std::function<BoundCall(const BlockCall&)> bind_x_to_y(WeightRules weight_rules,
                                                       ToWeights to_weights, Reference reference) {
  return [weight_rules = std::move(weight_rules), to_weights, reference](const BlockCall& call) {
    const Mode mode = call_mode(call);
    auto parts = call_block<Spec, Block>(call, mode, weight_rules, to_weights);
    const Tensor x = call.input("x");
    return bind_block(parts.block, mode, x,
                      [spec = parts.spec, weights = parts.weights, x, reference] {
                        return reference(spec, weights, x);
                      });
  };
}

// A call's inputs: `call_inputs` (activations, positions, caches) followed by the kind's weights.
InputPlan plan(InputRules call_inputs, const InputRules& weights);

// Tolerances with a PCC floor only: TTTv1's 0.99 for kinds whose arithmetic is lossier than their
// output's format (bfloat8_b or bfloat4_b weights, LoFi). Max abs error is left unchecked because
// it scales with the block's outputs (docs/blocks.md lists measured values). Norms, embeddings and
// RoPE set none: an output rounded once to its dtype is what they compute, and the dtype-aware
// default (default_tolerances) judges exactly that.
Tolerances pcc_at_least(double pcc);
// A PCC floor and a relative RMSE ceiling (nmse <= max_relative_rmse^2): the lossy kinds'
// tolerances. PCC cannot see a uniform scale error; nmse can, whatever the noise: a device output
// s times what it should be has nmse(s a, e) = (s - 1)^2 + s^2 nmse(a, e) for noise uncorrelated
// with e, so a scale error of max_relative_rmse or more always fails (docs/testing.md "Metrics
// that see scale"). The ceiling sits a few times above the worst clean call measured.
Tolerances pcc_and_relative_rmse(double pcc, double max_relative_rmse);

// BlockKind::cost of a typed block: checks the call's shapes (require_call_shapes; decode reads
// context_len when `uses_context`), reads the configured Spec and ImplConfig, and returns
// `cost(spec, config, mode, shapes)` (docs/cost-model.md "Per-kind rules").
template <typename Spec, typename Config>
std::function<DeviceCost(const ConfiguredBlock&, Mode, const CallShapes&)> typed_cost(
    DeviceCost (*cost)(const Spec&, const Config&, Mode, const CallShapes&),
    bool uses_context = false) {
  return [cost, uses_context](const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
    require_call_shapes(shapes, mode, uses_context);
    return cost(block.spec.get<Spec>(), block.impl_config.get<Config>(), mode, shapes);
  };
}
// The tokens of a call: batch * seq_len in prefill, batch in decode.
std::int64_t call_tokens(Mode mode, const CallShapes& shapes);
// shapes.width for a kind whose Spec holds no width. Throws std::invalid_argument:
// "[all_gather] the device cost needs shapes.width (values per token of x): its Spec holds no
// tensor width".
std::int64_t required_width(std::string_view kind, const CallShapes& shapes);

}  // namespace ttt::kind_support

// The attention kinds. attention.prefill: x, wq, wk, wv, wo, bq/bk/bv (qkv_bias), bo
// (output_bias), q_norm/k_norm (qk_norm); k_cache, v_cache and scalar first_slot are accepted and
// not read by replay. attention.decode: x, positions, k_cache, v_cache and the same weights.
// tp_attention: the mesh tensor x and the whole attention's weights, as attention.prefill names
// them; a decode call also positions and the mesh tensors k_cache and v_cache (every device's
// cache, as the patterns record them; seeded calls are the single-device kinds' inputs laid out
// on the mesh). Tolerance: PCC >= 0.99 and relative RMSE <= 5% (bfloat8_b weights).
#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "blocks/attention/attention.h"
#include "blocks/attention/tp_attention.h"
#include "blocks/ccl/mesh_kind_support.h"
#include "blocks/common/kind_support.h"

namespace ttt {
namespace {

using namespace kind_support;

// The metric policy of every attention kind (docs/metrics.md): the QKV and output matmuls, the
// scores' softmax over the context and the weighted sum of values are long sums whose order and
// rounding differ between a device and its emulation: a reduction.
MetricPolicy attention_policy() {
  return nmse_policy(
      "matmuls, a softmax over the context and a weighted sum of values: long sums "
      "whose order and rounding differ between a device and its emulation");
}

// The weights the spec has: the projections, then the biases and q/k norms it asks for.
InputRules attention_weight_rules(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<AttentionSpec>();
  const std::int64_t q = spec.num_heads * spec.dim_per_head();
  const std::int64_t kv = spec.kv_heads() * spec.dim_per_head();
  InputRules weights;
  const auto add = [&weights](const char* name, Shape shape, Seeding seeding) {
    weights.emplace_back(InputRule{name, std::move(shape), seeding});
  };
  add("wq", {spec.hidden_dim, q}, Seeding::matrix);
  add("wk", {spec.hidden_dim, kv}, Seeding::matrix);
  add("wv", {spec.hidden_dim, kv}, Seeding::matrix);
  add("wo", {q, spec.hidden_dim}, Seeding::matrix);
  if (spec.qkv_bias) {
    add("bq", {q}, Seeding::matrix);
    add("bk", {kv}, Seeding::matrix);
    add("bv", {kv}, Seeding::matrix);
  }
  if (spec.output_bias) add("bo", {spec.hidden_dim}, Seeding::matrix);
  if (spec.qk_norm) {
    add("q_norm", {spec.dim_per_head()}, Seeding::norm_scale);
    add("k_norm", {spec.dim_per_head()}, Seeding::norm_scale);
  }
  return weights;
}

// The block's weights from the call's (biases and norms undefined when the spec has none).
AttentionWeights attention_weights(const CallWeights& w) {
  return {.wq = w["wq"],
          .wk = w["wk"],
          .wv = w["wv"],
          .wo = w["wo"],
          .bq = w.source("bq"),
          .bk = w.source("bk"),
          .bv = w.source("bv"),
          .bo = w.source("bo"),
          .q_norm = w.source("q_norm"),
          .k_norm = w.source("k_norm")};
}

// A prefill's output does not depend on the cache it fills, so replay runs it without one (the
// call's k_cache, v_cache and first_slot, when present, are not read).
BoundCall bind_attention_prefill(const BlockCall& call) {
  auto parts = call_block<AttentionSpec, Attention>(call, Mode::prefill, attention_weight_rules,
                                                    attention_weights);
  const Tensor x = call.input("x");
  BoundCall bound;
  bound.run_device = [block = parts.block, x] { return named({{"y", block->prefill_forward(x)}}); };
  bound.run_reference = [spec = parts.spec, x, weights = parts.weights] {
    return named({{"y", attention_prefill_reference(spec, weights, x)}});
  };
  return bound;
}

// Decode writes the new key and value into the cache: replay works on copies of the call's.
BoundCall bind_attention_decode(const BlockCall& call) {
  auto parts = call_block<AttentionSpec, Attention>(call, Mode::decode, attention_weight_rules,
                                                    attention_weights);
  const Tensor x = call.input("x");
  const Tensor positions = call.input("positions");
  const Tensor k_cache = call.input("k_cache");
  const Tensor v_cache = call.input("v_cache");
  BoundCall bound;
  bound.run_device = [block = parts.block, x, positions, k_cache, v_cache] {
    KVCache cache{k_cache.clone(), v_cache.clone()};
    return named({{"y", block->decode_forward(x, positions, cache)}});
  };
  bound.run_reference = [spec = parts.spec, x, positions, k_cache, v_cache,
                         weights = parts.weights] {
    return named(
        {{"y", attention_decode_reference(spec, weights, x, positions, k_cache, v_cache)}});
  };
  return bound;
}

// The inputs of both modes: x; positions in decode; the KV caches (empty in prefill, filled up to
// context_len in decode); the weights. A prefill also names its first cache slot.
InputPlan attention_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, mode == Mode::decode);
  const auto spec = block.spec.get<AttentionSpec>();
  const auto config = block.impl_config.get<AttentionImplConfig>();
  InputRules inputs{
      InputRule{"x", activation_shape(mode, shapes, spec.hidden_dim), Seeding::activation}};
  const std::int64_t filled = mode == Mode::prefill ? 0 : shapes.context_len;
  const std::int64_t needed = mode == Mode::prefill ? shapes.seq_len : shapes.context_len + 1;
  const Shape cache{shapes.batch, spec.kv_heads(), cache_length(needed), spec.dim_per_head()};
  if (mode == Mode::decode) {
    InputRule positions{"positions", {shapes.batch}, Seeding::positions};
    positions.position = shapes.context_len;
    inputs.emplace_back(positions);
  }
  for (const char* name : {"k_cache", "v_cache"}) {
    InputRule rule{name, cache, Seeding::kv_cache};
    rule.dtype = config.kv_cache_dtype;
    rule.filled = filled;
    inputs.emplace_back(rule);
  }
  InputPlan call = plan(std::move(inputs), attention_weight_rules(block.spec));
  if (mode == Mode::prefill) call.scalars["first_slot"] = 0;
  return call;
}

// The coverage facts of an attention (the single-device kinds', and each device's of tp_attention).
void attention_extras(const AttentionSpec& spec, const AttentionImplConfig& config,
                      KindFacts& facts) {
  facts.weight_dtype = std::string(dtype_name(config.qkv.weight_dtype));
  facts.derived["head_dim"] = spec.dim_per_head();
  facts.derived["kv_heads"] = spec.kv_heads();
  facts.derived["group_size"] = spec.num_heads / spec.kv_heads();
  facts.derived["windowed"] = spec.sliding_window > 0;
  facts.derived["softcapped"] = spec.logit_softcap > 0.0;
  facts.derived["kv_cache_dtype"] = std::string(dtype_name(config.kv_cache_dtype));
}

// The context a RoPE scaling extends (edge regime past_original_context): its
// original_max_position_embeddings, else max_position_embeddings / factor; 0 without scaling.
std::int64_t rope_original_context(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<AttentionSpec>();
  if (spec.positions != AttentionPositions::rope || spec.rope.scaling == RopeScaling::none) {
    return 0;
  }
  if (spec.rope.original_max_position_embeddings > 0) {
    return spec.rope.original_max_position_embeddings;
  }
  return static_cast<std::int64_t>(static_cast<double>(spec.rope.max_position_embeddings) /
                                   spec.rope.factor);
}

// Device cost (docs/cost-model.md "Attention"). With q = H d and kv = KV d:
//   weights   the fused [h, q + 2 kv] QKV weight and the [q, h] output weight in their formats,
//             the biases in bfloat16;
//   matmuls   [T, h] x [h, q + 2 kv] (config.qkv), [T, q] x [q, h] (config.output), and the
//             scores and values at config.sdpa_fidelity: prefill, per user and head, [S, d] x
//             [d, L] and [S, L] x [L, d] (no causal skipping); decode, per user and KV head, the
//             group of H / KV query rows against the L cached positions;
//   vector    rotary embedding 3 passes over q and k, softmax 4 over the scores, the
//             biases and q/k norms (4 passes) when the Spec has them;
//   KV cache  prefill writes the S new positions of every KV head; decode reads the L attended
//             positions and writes one tile row per KV head;
//   activations x and y, and q, k, v and the attention output each written and read once.
// L: the positions attended (S in prefill, context_len + 1 in decode), cut to the window.
DeviceCost attention_cost(const AttentionSpec& spec, const AttentionImplConfig& config, Mode mode,
                          const CallShapes& shapes) {
  const std::int64_t d = spec.dim_per_head();
  const std::int64_t heads = spec.num_heads;
  const std::int64_t kv_heads = spec.kv_heads();
  const std::int64_t q = heads * d;
  const std::int64_t kv = kv_heads * d;
  const std::int64_t tokens = call_tokens(mode, shapes);
  const std::int64_t batch = shapes.batch;
  std::int64_t attended = mode == Mode::prefill ? shapes.seq_len : shapes.context_len + 1;
  if (spec.sliding_window > 0) attended = std::min(attended, spec.sliding_window);
  const DType act = config.qkv.activation_dtype;
  DeviceCost cost;
  cost.dram_weight_bytes = tensor_bytes(config.qkv.weight_dtype, spec.hidden_dim, q + 2 * kv) +
                           tensor_bytes(config.output.weight_dtype, q, spec.hidden_dim);
  if (spec.qkv_bias) cost.dram_weight_bytes += tensor_bytes(DType::bfloat16, 1, q + 2 * kv);
  if (spec.output_bias) cost.dram_weight_bytes += tensor_bytes(DType::bfloat16, 1, spec.hidden_dim);
  cost.dram_activation_bytes = tensor_bytes(act, tokens, spec.hidden_dim) +
                               2 * tensor_bytes(act, tokens, q + 2 * kv) +
                               2 * tensor_bytes(config.query_dtype, tokens, q) +
                               tensor_bytes(config.output.output_dtype, tokens, spec.hidden_dim);
  add_matmul(cost, tokens, spec.hidden_dim, q + 2 * kv, config.qkv.fidelity, act,
             config.qkv.weight_dtype, config.qkv.output_dtype);
  add_matmul(cost, tokens, q, spec.hidden_dim, config.output.fidelity,
             config.output.activation_dtype, config.output.weight_dtype,
             config.output.output_dtype);
  const DType cache = config.kv_cache_dtype;
  std::int64_t score_elements = 0;
  if (mode == Mode::prefill) {
    const std::int64_t seq = shapes.seq_len;
    cost.dram_kv_bytes = 2 * batch * kv_heads * tensor_bytes(cache, seq, d);
    add_matmul(cost, seq, d, attended, config.sdpa_fidelity, config.query_dtype, cache,
               config.probs_dtype, batch * heads);
    add_matmul(cost, seq, attended, d, config.sdpa_fidelity, config.probs_dtype, cache,
               config.query_dtype, batch * heads);
    score_elements = batch * heads * pad_to_tile(seq) * pad_to_tile(attended);
  } else {
    const std::int64_t group = heads / kv_heads;
    cost.dram_kv_bytes = 2 * batch * kv_heads * (tensor_bytes(cache, attended, d) +
                                                 tensor_bytes(cache, 1, d));
    add_matmul(cost, group, d, attended, config.sdpa_fidelity, config.query_dtype, cache,
               config.probs_dtype, batch * kv_heads);
    add_matmul(cost, group, attended, d, config.sdpa_fidelity, config.probs_dtype, cache,
               config.query_dtype, batch * kv_heads);
    score_elements = batch * kv_heads * pad_to_tile(group) * pad_to_tile(attended);
  }
  const std::int64_t rows = pad_to_tile(tokens);
  cost.vector_ops = 4 * score_elements;
  if (spec.positions == AttentionPositions::rope) cost.vector_ops += 3 * rows * pad_to_tile(q + kv);
  if (spec.qkv_bias) cost.vector_ops += rows * pad_to_tile(q + 2 * kv);
  if (spec.output_bias) cost.vector_ops += rows * pad_to_tile(spec.hidden_dim);
  if (spec.qk_norm) cost.vector_ops += 4 * rows * pad_to_tile(q + kv);
  // QKV, head split, rotary on q and k, the two cache writes, SDPA, head concat, output.
  cost.ops = 9;
  return cost;
}

// What both modes share: configuration, identity, coverage facts, seeded inputs, the edge
// regimes of both modes (padding rows reach the q/k norms' eps, scores past the softcap).
BlockKind attention_kind(std::string name) {
  return {.name = std::move(name),
          .family = "attention",
          .tolerances = pcc_and_relative_rmse(0.99, 0.05),
          .metric_policy = attention_policy(),
          .configure = configure<AttentionSpec>,
          .identity = identity<AttentionSpec>,
          .facts = facts<AttentionSpec, AttentionImplConfig>(attention_extras),
          .depends_on = {"blocks/embeddings/alibi", "blocks/ffn/projection",
                         "blocks/normalization/rms_norm", "blocks/normalization/row_kernels",
                         "blocks/normalization/row_sums", "blocks/rope/rope"},
          .weights = attention_weight_rules,
          .seeded_inputs = attention_inputs,
          .edge_regimes = {edge_regimes::near_zero_rows(),
                           edge_regimes::saturated_softcap(
                               [](const nlohmann::json& spec) {
                                 return spec.get<AttentionSpec>().logit_softcap;
                               },
                               8.0)},
          .cost = typed_cost(attention_cost, true)};
}

// tp_attention: the whole attention's weights (each device's slices are cut inside the block).
InputRules tp_attention_weights(const nlohmann::json& spec_json) {
  return attention_weight_rules(nlohmann::json(spec_json.get<TpAttentionSpec>().attention));
}

// A call's mode: its scalar "mode" when it has one (the suites' calls); else decode when it
// carries positions (the patterns' decode calls: a traced scalar is a number, not a mode name),
// prefill otherwise.
Mode tp_attention_call_mode(const BlockCall& call) {
  if (call.scalars.contains("mode")) return call_mode(call);
  const bool positions =
      std::any_of(call.inputs.begin(), call.inputs.end(),
                  [](const NamedTensor& input) { return input.name == "positions"; });
  return positions ? Mode::decode : Mode::prefill;
}

// A prefill runs without caches (its output does not depend on the caches it fills, as
// attention.prefill). A decode reads x, positions and every device's k/v cache from the call's
// mesh tensors (one shard per device, as the patterns record them) and works on copies.
BoundCall bind_tp_attention(const BlockCall& call) {
  const Mode mode = tp_attention_call_mode(call);
  auto parts =
      call_block<TpAttentionSpec, TpAttention>(call, mode, tp_attention_weights, attention_weights);
  const MeshTensor x = mesh_input(call, parts.spec.mesh);
  BoundCall bound;
  if (mode == Mode::prefill) {
    bound.run_device = [block = parts.block, x] {
      return named({{"y", compose(block->prefill_forward(x))}});
    };
    bound.run_reference = [spec = parts.spec, weights = parts.weights, x] {
      return named({{"y", tp_attention_prefill_reference(spec, weights, x)}});
    };
    return bound;
  }
  const Tensor positions = call.input("positions");
  const MeshTensor k_caches = mesh_input(call, parts.spec.mesh, "k_cache");
  const MeshTensor v_caches = mesh_input(call, parts.spec.mesh, "v_cache");
  tp_attention_device_caches(parts.spec, k_caches, v_caches);  // Bad layouts fail the bind.
  bound.run_device = [block = parts.block, x, positions, k_caches, v_caches] {
    std::vector<KVCache> caches = tp_attention_device_caches(block->spec(), k_caches, v_caches);
    return named({{"y", compose(block->decode_forward(x, positions, caches))}});
  };
  bound.run_reference = [spec = parts.spec, weights = parts.weights, x, positions, k_caches,
                         v_caches] {
    return named(
        {{"y", tp_attention_decode_reference(spec, weights, x, positions, k_caches, v_caches)}});
  };
  return bound;
}

// x seeded whole and replicated on the mesh, then the whole weights. A decode call also has the
// single-device decode's positions and KV caches, each cache drawn whole from its name (the
// numbers of the attention.decode case with the same seed) and cut into every device's cache
// (tp_attention_split_cache: its KV heads, copied where devices share a head).
InputPlan tp_attention_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  const auto spec = block.spec.get<TpAttentionSpec>();
  if (mode == Mode::prefill) {
    require_call_shapes(shapes, mode, false);
    return plan({mesh_activation(spec.mesh, {}, mode, shapes, spec.attention.hidden_dim)},
                tp_attention_weights(block.spec));
  }
  const ConfiguredBlock single{block.spec.at("attention"), block.impl_config.at("device"), ""};
  InputPlan call = attention_inputs(single, mode, shapes);
  std::array<Placement, 2> cache_placements{};
  cache_placements[static_cast<std::size_t>(spec.axis)] = Placement::shard(1);
  for (auto& entry : call.inputs) {
    InputRule& rule = std::get<InputRule>(entry);
    if (rule.name == "x") {
      rule.mesh = MeshInputRule{.mesh = spec.mesh};
    } else if (rule.name == "k_cache" || rule.name == "v_cache") {
      rule.mesh = MeshInputRule{
          .mesh = spec.mesh,
          .placements = cache_placements,
          .layout = [spec](const Tensor& whole) { return tp_attention_split_cache(spec, whole); }};
    }
  }
  return call;
}

// Each device: the attention of its heads (TpAttentionSpec::device_spec), then the reduction of
// its [T, h] partial output over the axis.
DeviceCost tp_attention_cost(const TpAttentionSpec& spec, const TpAttentionImplConfig& config,
                             Mode mode, const CallShapes& shapes) {
  DeviceCost cost = attention_cost(spec.device_spec(0), config.device, mode, shapes);
  add_collective(cost,
                 config.reduction == TpReduction::all_reduce ? Collective::all_reduce
                                                             : Collective::reduce_scatter,
                 spec.mesh.axis_size(spec.axis), call_tokens(mode, shapes),
                 spec.attention.hidden_dim, config.ccl.reduce_dtype, config.ccl.num_links);
  cost.devices = spec.mesh.size();
  return cost;
}

}  // namespace

void add_attention_block_kinds(std::vector<BlockKind>& kinds) {
  BlockKind prefill = attention_kind("attention.prefill");
  prefill.replay_inputs = {"x", "wq", "wk", "wv", "wo"};
  prefill.bind = bind_attention_prefill;
  kinds.push_back(std::move(prefill));
  BlockKind decode = attention_kind("attention.decode");
  decode.replay_inputs = {"x", "positions", "k_cache", "v_cache", "wq", "wk", "wv", "wo"};
  decode.edge_regimes.push_back(edge_regimes::users_at_different_positions());
  decode.edge_regimes.push_back(edge_regimes::full_kv_cache());
  decode.edge_regimes.push_back(edge_regimes::past_original_context(rope_original_context));
  decode.bind = bind_attention_decode;
  decode.decode_reads_context = true;
  kinds.push_back(std::move(decode));
  kinds.push_back(
      {.name = std::string(TpAttentionSpec::kind),
       .family = std::string(TpAttentionSpec::kind),
       .tolerances = pcc_and_relative_rmse(0.99, 0.05),
       .metric_policy = attention_policy(),
       .bind = bind_tp_attention,
       .configure = configure<TpAttentionSpec>,
       .identity = identity<TpAttentionSpec>,
       .facts = sharded_facts<TpAttentionSpec, TpAttentionImplConfig>(
           [](const TpAttentionSpec& spec) { return spec.attention; },
           [](const TpAttentionSpec&, const TpAttentionImplConfig& config) {
             return config.device;
           },
           [](const TpAttentionSpec& spec, const TpAttentionImplConfig& config, KindFacts& facts) {
             attention_extras(spec.attention, config.device, facts);
             facts.derived["reduction"] = std::string(tp_reduction_name(config.reduction));
           }),
       .single_device = SingleDeviceBlock{"attention", "attention"},
       .depends_on = {"blocks/ccl/", "blocks/embeddings/alibi", "blocks/ffn/activation",
                      "blocks/ffn/ffn_common", "blocks/ffn/gated_mlp", "blocks/ffn/projection",
                      "blocks/ffn/tp_gated_mlp", "blocks/normalization/rms_norm",
                      "blocks/normalization/row_kernels", "blocks/normalization/row_sums",
                      "blocks/rope/rope"},
       .weights = tp_attention_weights,
       .decode_reads_context = true,
       .seeded_inputs = tp_attention_inputs,
       .cost = typed_cost(tp_attention_cost, true)});
}

}  // namespace ttt

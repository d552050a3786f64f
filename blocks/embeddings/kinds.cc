// The embedding kind: ids, token_weight, position_weight (learned positions); positions in decode
// (its presence, or scalar mode "decode", selects decode_forward). Tolerance: the dtype default.
// tp_embedding: the same inputs with ids a mesh tensor (replicated), its output composed.
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>

#include "blocks/ccl/mesh_kind_support.h"
#include "blocks/common/kind_support.h"
#include "blocks/embeddings/embedding.h"
#include "blocks/embeddings/tp_embedding.h"

namespace ttt {
namespace {

using namespace kind_support;

// The metric policy of both embedding kinds (docs/metrics.md): a lookup copies rows of the table
// as stored in its weight format (tp_embedding then gathers the shards), so a device and its
// emulation agree bit for bit; a Spec's scale or position table adds one rounded operation per
// element, which the emulation rounds as the device does.
MetricPolicy embedding_policy() {
  return exact_policy(
      "data movement: a lookup copies rows of the stored table (and an all_gather "
      "moves them), so any difference is a wrong row or a lost shard");
}

InputRules embedding_weights(const nlohmann::json& spec_json) {
  const auto spec = spec_json.get<EmbeddingSpec>();
  InputRules weights{
      InputRule{"token_weight", {spec.vocab_size, spec.hidden_dim}, Seeding::matrix}};
  if (spec.positions == PositionEmbedding::learned) {
    weights.emplace_back(
        InputRule{"position_weight", {spec.max_positions, spec.hidden_dim}, Seeding::matrix});
  }
  return weights;
}

// A decode call carries the positions of its tokens (or says scalar mode "decode").
bool is_decode_call(const BlockCall& call) {
  return call_mode(call) == Mode::decode ||
         std::any_of(call.inputs.begin(), call.inputs.end(),
                     [](const NamedTensor& input) { return input.name == "positions"; });
}

// The positions of a call's tokens: the decode call's own; a prefill's numbered 0..seq-1 along
// the last dimension of ids.
Tensor call_positions(const BlockCall& call, bool decode, const Shape& ids_shape) {
  if (decode) return call.input("positions");
  Tensor positions(ids_shape, DType::int64);
  if (!ids_shape.empty() && ids_shape.back() > 0) {
    for (std::int64_t i = 0; i < positions.numel(); ++i) {
      positions.data<std::int64_t>()[i] = i % ids_shape.back();
    }
  }
  return positions;
}

EmbeddingWeights embedding_weights_of(const CallWeights& w) {
  return EmbeddingWeights{w["token_weight"], w.source("position_weight")};
}

BoundCall bind_embedding(const BlockCall& call) {
  const bool decode = is_decode_call(call);
  const Mode mode = decode ? Mode::decode : Mode::prefill;
  auto parts =
      call_block<EmbeddingSpec, Embedding>(call, mode, embedding_weights, embedding_weights_of);
  const Tensor ids = call.input("ids");
  const Tensor positions = call_positions(call, decode, ids.shape());
  BoundCall bound;
  bound.run_device = [block = parts.block, decode, ids, positions] {
    return named(
        {{"y", decode ? block->decode_forward(ids, positions) : block->prefill_forward(ids)}});
  };
  bound.run_reference = [spec = parts.spec, weights = parts.weights, ids, positions] {
    return named({{"y", embedding_reference(spec, weights, ids, positions)}});
  };
  return bound;
}

// The ids and (decode) positions of a call of `spec`, checked against its position table.
InputRules embedding_call_inputs(const EmbeddingSpec& spec, Mode mode, const CallShapes& shapes) {
  require_call_shapes(shapes, mode, mode == Mode::decode);
  const std::int64_t last_position =
      mode == Mode::prefill ? shapes.seq_len - 1 : shapes.context_len;
  if (spec.positions != PositionEmbedding::none && last_position >= spec.max_positions) {
    throw std::invalid_argument("position " + std::to_string(last_position) +
                                " is beyond spec.max_positions " +
                                std::to_string(spec.max_positions));
  }
  InputRules inputs;
  if (mode == Mode::prefill) {
    InputRule ids{"ids", {shapes.batch, shapes.seq_len}, Seeding::ids};
    ids.vocab = spec.vocab_size;
    inputs.emplace_back(ids);
  } else {
    InputRule ids{"ids", {shapes.batch}, Seeding::ids};
    ids.vocab = spec.vocab_size;
    InputRule positions{"positions", {shapes.batch}, Seeding::positions};
    positions.position = shapes.context_len;
    inputs.emplace_back(ids);
    inputs.emplace_back(positions);
  }
  return inputs;
}

InputPlan embedding_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  return plan(embedding_call_inputs(block.spec.get<EmbeddingSpec>(), mode, shapes),
              embedding_weights(block.spec));
}

// tp_embedding: the whole tables (each device's columns are cut inside the block).
InputRules tp_embedding_weights(const nlohmann::json& spec_json) {
  return embedding_weights(nlohmann::json(spec_json.get<TpEmbeddingSpec>().embedding));
}

// The ids replicated on the mesh (TTTv1's ReplicateTensorToMesh tokens); positions and tables
// as the single-device embedding's.
InputPlan tp_embedding_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  const auto spec = block.spec.get<TpEmbeddingSpec>();
  InputRules inputs = embedding_call_inputs(spec.embedding, mode, shapes);
  std::get<InputRule>(inputs.front()).mesh = MeshInputRule{.mesh = spec.mesh};
  return plan(std::move(inputs), tp_embedding_weights(block.spec));
}

// The mesh tensor ids (a trace's or seeded mesh tensor, or the container ids/0, ids/1, ...).
BoundCall bind_tp_embedding(const BlockCall& call) {
  const bool decode = is_decode_call(call);
  const Mode mode = decode ? Mode::decode : Mode::prefill;
  auto parts = call_block<TpEmbeddingSpec, TpEmbedding>(call, mode, tp_embedding_weights,
                                                        embedding_weights_of);
  const MeshTensor ids = mesh_input(call, parts.spec.mesh, "ids");
  const Tensor positions = call_positions(call, decode, ids.global_shape());
  BoundCall bound;
  bound.run_device = [block = parts.block, decode, ids, positions] {
    return named({{"y", compose(decode ? block->decode_forward(ids, positions)
                                       : block->prefill_forward(ids))}});
  };
  bound.run_reference = [spec = parts.spec, weights = parts.weights, ids, positions] {
    return named({{"y", tp_embedding_reference(spec, weights, ids, positions)}});
  };
  return bound;
}

// Device cost (docs/cost-model.md "Embedding"): the ids read, T rows of the table (and of the
// learned position table) gathered from DRAM, a pass for the scale and one for the position
// addition when the Spec has them, y written.
DeviceCost embedding_cost(const EmbeddingSpec& spec, const EmbeddingImplConfig& config, Mode mode,
                          const CallShapes& shapes) {
  const std::int64_t tokens = call_tokens(mode, shapes);
  const bool learned = spec.positions == PositionEmbedding::learned;
  DeviceCost cost;
  cost.dram_weight_bytes =
      (learned ? 2 : 1) * tensor_bytes(config.weight_dtype, tokens, spec.hidden_dim);
  cost.dram_activation_bytes = tensor_bytes(DType::int32, 1, tokens) +
                               tensor_bytes(config.output_dtype, tokens, spec.hidden_dim);
  const int passes = (spec.scale != 1.0 ? 1 : 0) + (spec.positions != PositionEmbedding::none);
  cost.vector_ops = passes * pad_to_tile(tokens) * pad_to_tile(spec.hidden_dim);
  cost.ops = 1 + passes;
  return cost;
}

// Each device gathers its hidden / n columns; with config.all_gather the [T, hidden] output is
// then gathered along the axis.
DeviceCost tp_embedding_cost(const TpEmbeddingSpec& spec, const TpEmbeddingImplConfig& config,
                             Mode mode, const CallShapes& shapes) {
  const int n = spec.mesh.axis_size(spec.axis);
  EmbeddingSpec device = spec.embedding;
  device.hidden_dim /= n;
  DeviceCost cost = embedding_cost(device, config.device, mode, shapes);
  if (config.all_gather) {
    add_collective(cost, Collective::all_gather, n, call_tokens(mode, shapes),
                   spec.embedding.hidden_dim, config.device.output_dtype, config.ccl.num_links);
  }
  cost.devices = spec.mesh.size();
  return cost;
}

}  // namespace

void add_embeddings_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(
      {.name = "embedding",
       .family = "embedding",
       .replay_inputs = {"ids", "token_weight"},
       .metric_policy = embedding_policy(),
       .bind = bind_embedding,
       .configure = configure<EmbeddingSpec>,
       .identity = identity<EmbeddingSpec>,
       .activation_input = "ids",
       .facts = facts<EmbeddingSpec, EmbeddingImplConfig>(
           [](const EmbeddingSpec& spec, const EmbeddingImplConfig& config, KindFacts& facts) {
             facts.weight_dtype = std::string(dtype_name(config.weight_dtype));
             facts.derived["scaled"] = spec.scale != 1.0;
           }),
       .weights = embedding_weights,
       .decode_reads_context = true,
       .seeded_inputs = embedding_inputs,
       .edge_regimes = {edge_regimes::users_at_different_positions()},
       .cost = typed_cost(embedding_cost, true)});
  kinds.push_back(
      {.name = std::string(TpEmbeddingSpec::kind),
       .family = std::string(TpEmbeddingSpec::kind),
       .metric_policy = embedding_policy(),
       .bind = bind_tp_embedding,
       .configure = configure<TpEmbeddingSpec>,
       .identity = identity<TpEmbeddingSpec>,
       .activation_input = "ids",
       .facts = sharded_facts<TpEmbeddingSpec, TpEmbeddingImplConfig>(
           [](const TpEmbeddingSpec& spec) { return spec.embedding; },
           [](const TpEmbeddingSpec&, const TpEmbeddingImplConfig& config) {
             return config.device;
           },
           [](const TpEmbeddingSpec& spec, const TpEmbeddingImplConfig& config, KindFacts& facts) {
             facts.weight_dtype = std::string(dtype_name(config.device.weight_dtype));
             facts.derived["scaled"] = spec.embedding.scale != 1.0;
             facts.derived["all_gather"] = config.all_gather;
           }),
       .single_device = SingleDeviceBlock{"embedding", "embedding"},
       .depends_on = {"blocks/ccl/"},
       .weights = tp_embedding_weights,
       .decode_reads_context = true,
       .seeded_inputs = tp_embedding_inputs,
       .cost = typed_cost(tp_embedding_cost, true)});
}

}  // namespace ttt

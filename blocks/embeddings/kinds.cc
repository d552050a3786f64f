// The embedding kind: ids, token_weight, position_weight (learned positions); positions in decode
// (its presence, or scalar mode "decode", selects decode_forward). Tolerance: the dtype default.
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "blocks/common/kind_support.h"
#include "blocks/embeddings/embedding.h"

namespace ttt {
namespace {

using namespace kind_support;

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

BoundCall bind_embedding(const BlockCall& call) {
  // A decode call carries the positions of its tokens; a prefill call numbers them 0..seq-1.
  const bool decode =
      call_mode(call) == Mode::decode ||
      std::any_of(call.inputs.begin(), call.inputs.end(),
                  [](const NamedTensor& input) { return input.name == "positions"; });
  const Mode mode = decode ? Mode::decode : Mode::prefill;
  auto parts =
      call_block<EmbeddingSpec, Embedding>(call, mode, embedding_weights, [](const CallWeights& w) {
        return EmbeddingWeights{w["token_weight"], w.source("position_weight")};
      });
  const Tensor ids = call.input("ids");
  Tensor positions = decode ? call.input("positions") : Tensor(ids.shape(), DType::int64);
  if (!decode && ids.rank() >= 1 && ids.dim(-1) > 0) {
    for (std::int64_t i = 0; i < positions.numel(); ++i) {
      positions.data<std::int64_t>()[i] = i % ids.dim(-1);
    }
  }
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

InputPlan embedding_inputs(const ConfiguredBlock& block, Mode mode, const CallShapes& shapes) {
  const auto spec = block.spec.get<EmbeddingSpec>();
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
  return plan(std::move(inputs), embedding_weights(block.spec));
}

}  // namespace

void add_embeddings_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back(
      {.name = "embedding",
       .family = "embedding",
       .replay_inputs = {"ids", "token_weight"},
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
       .seeded_inputs = embedding_inputs});
}

}  // namespace ttt

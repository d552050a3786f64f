// The rope kind: x, positions; no weights. Tolerance: the dtype default. RoPE has no seeded
// inputs and no coverage facts yet (the suites and coverage do not plan it on its own: attention
// applies it).
#include <memory>

#include "blocks/common/kind_support.h"
#include "blocks/rope/rope.h"

namespace ttt {
namespace {

using namespace kind_support;

// The metric policy of RoPE (docs/metrics.md): each output element is x_i cos + x_j sin of its own
// inputs, a few roundings that a device may order differently (a fused multiply-add, another
// table rounding): a few ULPs of the output format apart from its emulation.
MetricPolicy rope_policy() {
  return ulp_policy(4.0,
                    "elementwise: each output element is x_i cos + x_j sin of its own "
                    "inputs, a few roundings a device may order differently");
}

BoundCall bind_rope(const BlockCall& call) {
  const auto [spec, config] = configure_call<RopeSpec>(call, call_mode(call));
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

// Device cost (docs/cost-model.md "Rotary embedding"): x [T, width] read (width = heads *
// head_dim, from the call's shapes: the Spec holds no head count), the cos and sin rows of the
// T positions read, three passes (two products and a sum) over x, y written.
DeviceCost rope_cost(const RopeSpec& spec, const RopeImplConfig& config, Mode mode,
                     const CallShapes& shapes) {
  const std::int64_t tokens = call_tokens(mode, shapes);
  const std::int64_t width = required_width("rope", shapes);
  DeviceCost cost;
  cost.dram_weight_bytes = 2 * tensor_bytes(config.table_dtype, tokens, spec.head_dim);
  cost.dram_activation_bytes = 2 * tensor_bytes(config.activation_dtype, tokens, width);
  cost.vector_ops = 3 * pad_to_tile(tokens) * pad_to_tile(width);
  cost.ops = 1;
  return cost;
}

}  // namespace

void add_rope_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back({.name = "rope",
                   .family = "rope",
                   .replay_inputs = {"x", "positions"},
                   .metric_policy = rope_policy(),
                   .bind = bind_rope,
                   .configure = configure<RopeSpec>,
                   .identity = identity<RopeSpec>,
                   .weights = [](const nlohmann::json&) { return InputRules{}; },
                   .cost = typed_cost(rope_cost)});
}

}  // namespace ttt

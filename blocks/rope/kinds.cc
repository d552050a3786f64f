// The rope kind: x, positions; no weights. Tolerance: the dtype default. RoPE has no seeded
// inputs and no coverage facts yet (the suites and coverage do not plan it on its own: attention
// applies it).
#include <memory>

#include "blocks/common/kind_support.h"
#include "blocks/rope/rope.h"

namespace ttt {
namespace {

using namespace kind_support;

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

}  // namespace

void add_rope_block_kinds(std::vector<BlockKind>& kinds) {
  kinds.push_back({.name = "rope",
                   .family = "rope",
                   .replay_inputs = {"x", "positions"},
                   .bind = bind_rope,
                   .configure = configure<RopeSpec>,
                   .identity = identity<RopeSpec>,
                   .weights = [](const nlohmann::json&) { return InputRules{}; }});
}

}  // namespace ttt

// Case targets: a block kind of the block registry, or a module of a decoder layer or causal LM.
//
//   suite.add_case(ttt::block_case({.kind = "gated_mlp",
//                                   .spec = {{"hidden_dim", 4096}, {"ffn_dim", 14336}},
//                                   .mode = ttt::Mode::decode}))
//       .with_seeded_inputs({.batch = 1})
//       .expect_pcc(0.99);
//   suite.add_case(ttt::module_case(model.layer(3), "ffn", ttt::Mode::decode))
//       .with_inputs_from(generate)
//       .expect_pcc(0.99);
//
// A block case is rebuilt by the kind's replayer (validation/registry/block_registry.h) from its
// Spec and ImplConfig JSON, exactly as `ttt replay` rebuilds a traced call, so any registered kind
// can be a case. For TTTv2's own kinds the suite also knows the inputs, so it can draw seeded
// ones, and the presets: rms_norm, layer_norm, mlp, gated_mlp, moe, lm_head, embedding,
// attention.prefill and attention.decode (docs/suites.md lists each kind's inputs).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/common/device.h"
#include "patterns/causal_lm.h"
#include "patterns/decoder_layer.h"
#include "suites/suite/suite.h"
#include "validation/registry/block_registry.h"

namespace ttt {

// One block configuration to test.
struct BlockCaseDefinition {
  // A registered block kind: "gated_mlp", "attention.decode", ... (attention's kinds fix the
  // mode: "attention.prefill" runs prefill, "attention.decode" decode).
  std::string kind = "";
  // The block's Spec as JSON (the block's own fields: docs/blocks.md).
  nlohmann::json spec = nlohmann::json::object();
  Mode mode = Mode::prefill;
  // The device whose defaults configure the block.
  Device device = Device::N150;
  // TTTv1's precision preset; unset: TTTv1's defaults.
  std::optional<Preset> preset = std::nullopt;
  // Fields merged over default_impl_config(spec, device, mode, preset) (JSON merge patch).
  nlohmann::json impl_config = nlohmann::json::object();
  // The model module the case stands for ("layers.*.ffn"), for composition. Default: none.
  std::string module = "";
  // Where the kind is looked up; nullptr: BlockRegistry::global() with TTTv2's blocks.
  const BlockRegistry* registry = nullptr;
};

// The kinds whose inputs the suite knows (it can draw seeded inputs and apply presets), sorted.
std::vector<std::string> known_block_kinds();

// A target for `definition`. For a known kind, parses and validates the Spec and builds the
// ImplConfig now: throws std::invalid_argument with the block's message ("[gated_mlp] field
// 'ffn_dim': expected an integer, got \"x\""). An unknown kind is accepted if registered when
// the suite runs (its problems() say otherwise); it needs given, captured or traced inputs.
std::shared_ptr<const CaseTarget> block_case(BlockCaseDefinition definition);

// A module of a decoder layer in `mode`: "attention_norm", "attention", "post_attention_norm",
// "ffn_norm", "ffn" or "post_ffn_norm". Its calls are named "<layer path>.<module>.<mode>"
// ("layers.3.ffn.decode"), which with_inputs_from captures; the case runs the module's device
// computation and its reference directly (an injected module too). Throws std::invalid_argument
// naming an unknown module or one the layer does not have.
std::shared_ptr<const CaseTarget> module_case(const DecoderLayer& layer, std::string_view module,
                                              Mode mode);
// A model-level module of a causal LM: "embedding", "embedding_norm" (when the model has one),
// "norm" or "lm_head"; or "layers.N.<module>".
std::shared_ptr<const CaseTarget> module_case(const CausalLm& model, std::string_view module,
                                              Mode mode);

}  // namespace ttt

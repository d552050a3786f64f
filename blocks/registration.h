// Registration of the building blocks for `ttt replay` (validation/registry).
//
// Each block kind rebuilds its block from a trace call: the Spec from the call's spec JSON, the
// ImplConfig from default_impl_config(spec, device, mode) overlaid with the call's impl_config
// JSON (fields it leaves out keep their defaults), the weights from the call's inputs. The
// optional scalar "mode" ("prefill", the default, or "decode") picks the forward. docs/blocks.md
// lists each kind's inputs:
//
//   rms_norm    x, weight
//   layer_norm  x, weight, bias (when spec.bias)
//   mlp         x, w_up, w_down, b_up and b_down (when spec.bias)
//   gated_mlp   x, w_gate, w_up, w_down
//   moe         x, router, w_gate/<e>, w_up/<e>, w_down/<e> for every expert e
//   lm_head     x, weight ([hidden, vocab], or the [vocab, hidden] embedding table when tied)
//   embedding   ids, token_weight, position_weight (learned positions); positions (decode: its
//               presence, or scalar mode "decode", selects decode_forward)
//   rope        x, positions
//   attention.prefill  x, wq, wk, wv, wo, bq/bk/bv (qkv_bias), bo (output_bias), q_norm/k_norm
//                      (qk_norm); k_cache, v_cache, first_slot are accepted and not read
//   attention.decode   x, positions, k_cache, v_cache and the weights of attention.prefill
//
// Every kind returns one output, "y".
#pragma once

#include "validation/registry/block_registry.h"

namespace ttt {

// Adds every building block kind to `registry`. Throws std::invalid_argument (from
// BlockRegistry::add) when a kind is already registered there.
void register_builtin_blocks(BlockRegistry& registry);

// Adds them to BlockRegistry::global() once per process; later calls do nothing.
void register_builtin_blocks();

}  // namespace ttt

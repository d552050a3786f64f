// Token and KV diff between two runs of a causal LM (`ttt diff A.h5 B.h5`; docs/debugging.md
// "Diffing two runs"): two traces of the same prompt and the same calls, e.g. a device run and a
// reference run, or a run before and after a change.
//
// What a trace of causal_lm.h holds, and what the diff reads from it:
//   tokens   the prompt is the input ids of "embedding.prefill"; each step's logits are the
//            output of its LM head call ("lm_head.prefill": the last position's row,
//            "lm_head.decode": the row), one row per generated token;
//   calls    every module call's outputs, in capture order, grouped by step (a step begins at
//            an embedding call: the prefill, then one per decode step);
//   KV cache the attention calls' inputs "k_cache"/"v_cache" as they were before the call
//            ([batch, kv_heads, max_seq_len, head_dim]) and "positions": a decode call at
//            position p holds positions [0, p) of its layer's cache. The last call's own writes
//            are in no trace (calls record inputs and outputs), so the diff compares positions
//            [0, p) of each layer's last decode call.
//
// The diff, in order:
//   1. the first divergent token: the logits oracle (validation/metrics/logits_oracle.h) over
//      the generated tokens' rows, A as the device and B as the reference: the first row whose
//      top-1 differs, with the near-tie rule (each side's token in the other's top-k), then stop;
//   2. the calls: every call pair up to the end of the step that produced that token (all calls
//      when no token diverges), each output of A against B's, judged by the tolerances of its
//      block kind (the replayer's, else default_tolerances of the dtypes: the band a device output
//      may be from its reference); the first call beyond its band at the divergent step names its
//      layer and block, with how far its input x already was, and the first call whose outputs
//      differ at all names where the runs part (a band is a block's distance from its reference on
//      its own inputs: downstream of a change within a loose band, such as bfloat4_b FFN weights,
//      a kind with a tight band, such as a norm, receives the difference and leaves its band);
//   3. the KV cache, position by position and layer by layer: which positions of K and V differ
//      and by how much; positions before the divergent token are judged against the cache
//      dtype's default band, later ones (written after different tokens) are only reported.
// The runs agree when the oracle passes (no divergence, or a near tie), every compared call is
// within its band and every judged KV position too.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "validation/metrics/logits_oracle.h"
#include "validation/metrics/metrics.h"

namespace ttt {

class TraceReader;

struct RunDiffOptions {
  // The near-tie rule's k: at the first divergent token each side's token must be among the
  // other's top_k. REQUIRES: 1 <= top_k <= vocabulary size. Default: 5.
  std::int64_t top_k = 5;
};

// One output of a call pair.
struct OutputDiff {
  std::string name;  // "y".
  Tolerances band;   // The kind's tolerances, else default_tolerances of the two dtypes.
  Metrics metrics;   // A's output against B's.
  Verdict verdict;   // Against the band.
};

// One call pair (the same call of both runs).
struct CallDiff {
  std::int64_t seq = 0;               // The call's sequence number in A.
  std::string name;                   // "layers.1.attention.decode".
  std::string block;                  // "attention.decode"; "" when the call names no kind.
  std::optional<std::int64_t> layer;  // 1 for "layers.1.…"; unset outside the layers.
  std::int64_t step = 0;              // 0: the prefill; s + 1: decode step s.
  std::vector<OutputDiff> outputs;
  // A's input "x" against B's, when the call has one: how far apart the call's inputs already
  // were (its own divergence, or what it received).
  std::optional<Metrics> input_x;

  bool within_band() const;
  // Some output differs at all (a value, or a non-finite one).
  bool differs() const;
};

// One position of one layer's cache whose K or V differ.
struct KvPositionDiff {
  std::int64_t position = 0;
  Metrics k;  // A's keys at this position (every KV head) against B's.
  Metrics v;
  // Before the first divergent token: judged against the cache dtype's band. After it the runs
  // were fed different tokens, and the difference is only reported.
  bool judged = true;
  bool within_band = true;  // Both K and V (true when not judged).
};

struct KvLayerDiff {
  std::int64_t layer = 0;
  std::int64_t seq = 0;  // The call whose input cache was read (the layer's last decode call).
  std::string call;      // Its name.
  std::int64_t positions = 0;             // Compared: [0, positions).
  std::int64_t judged_positions = 0;      // [0, judged_positions) are judged.
  std::string dtype;                      // The cache dtype (A's).
  std::vector<KvPositionDiff> differing;  // Positions where K or V differ at all, in order.

  bool within_band() const;
};

// The first divergent token.
struct TokenDivergence {
  std::int64_t step = 0;      // Its step (0: the prefill; s + 1: decode step s).
  std::int64_t position = 0;  // Its position in the sequence: prompt length + step.
  std::int64_t token_a = 0;   // Each run's most likely token there.
  std::int64_t token_b = 0;
  bool near_tie = false;  // Each in the other's top-k.
};

struct RunDiff {
  std::string trace_a;
  std::string trace_b;
  std::vector<std::int64_t> prompt;
  std::int64_t steps = 0;   // LM head calls: the prefill and each decode step.
  std::int64_t layers = 0;  // Distinct layers among the calls.
  // Each run's most likely next token at every step (greedy decoding's tokens).
  std::vector<std::int64_t> tokens_a;
  std::vector<std::int64_t> tokens_b;
  LogitsOracleResult logits;  // Row r is step r.
  std::optional<TokenDivergence> divergence;
  std::vector<CallDiff> calls;  // Compared, in capture order.
  // Indices into `calls`: the first whose outputs differ at all (where a change or a bug first
  // shows, even within its band), the first beyond its band in the run, and the first beyond its
  // band at the divergent token's step.
  std::optional<std::size_t> first_difference;
  std::optional<std::size_t> first_out_of_band;
  std::optional<std::size_t> first_out_of_band_at_divergence;
  std::vector<KvLayerDiff> kv;  // By layer; layers without a decode call have none.

  // The oracle passed, every compared call is within its band and every judged KV position.
  bool agree() const;
};

// Diffs two traces of causal_lm.h runs. Throws std::invalid_argument, with nothing judged, when
// they cannot be compared, naming what differs: another number of calls or another call at an
// index ("call 12 is layers.0.ffn.prefill in A.h5, layers.0.ffn_norm.prefill in B.h5"), another
// block kind, Spec or output shape of a call, another prompt (its length, or the first position
// and both tokens), or a trace without the calls the diff reads (one embedding.prefill of one
// user, an LM head call per step); TraceError when a trace cannot be read.
RunDiff diff_runs(const TraceReader& a, const TraceReader& b, const RunDiffOptions& options = {});

// The human summary `ttt diff` prints: tokens, the first divergent token, the calls beyond their
// band, a line per layer at the divergent step, the KV cache per layer, the verdict.
std::string format_run_diff(const RunDiff& diff);

// {"trace_a", "trace_b", "prompt", "steps", "tokens_a", "tokens_b", "logits" (the oracle's JSON),
// "divergence": {step, position, token_a, token_b, near_tie} | null, "calls": [{seq, name, block,
// layer|null, step, within_band, outputs: [{name, band, metrics, verdict}], input_x:
// metrics|null}], "first_difference", "first_out_of_band", "first_out_of_band_at_divergence"
// (call objects or null),
// "kv": [{layer, seq, call, positions, judged_positions, dtype, within_band, differing:
// [{position, judged, within_band, k: metrics, v: metrics}]}], "agree"}.
nlohmann::json to_json(const RunDiff& diff);

}  // namespace ttt

// The logits oracle: how the field judges a model's logits row by row (one row per position),
// rather than by one PCC over the whole tensor. Per row: PCC, max abs error, exact top-1, top-k
// containment (the device's top-1 among the reference's top-k) and top-k overlap. Rows are taken
// in order, as the positions of a generation; at the first row whose top-1 differs, each side's
// top-1 must be among the other side's top-k (the near-tie rule of vLLM's model tests,
// check_logprobs_close), and the comparison stops there: after a different token, the two runs
// continue from different text. docs/debugging.md "The logits oracle" shows a use.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "validation/tensor/tensor.h"

namespace ttt {

struct LogitsOracleOptions {
  // How many candidates count as "top-k". REQUIRES: 1 <= top_k <= vocabulary size.
  std::int64_t top_k = 5;
};

// One row (position) compared.
struct LogitsRow {
  std::int64_t row = 0;
  double pcc = 0.0;            // tt-metal's comp_pcc over the row (docs/metrics.md).
  double max_abs_error = 0.0;  // Over the row's finite pairs.
  std::int64_t device_top1 = -1;
  std::int64_t reference_top1 = -1;
  bool top1_match = false;                      // Exact top-1.
  bool device_top1_in_reference_top_k = false;  // Top-k containment.
  bool reference_top1_in_device_top_k = false;
  double top_k_overlap = 0.0;  // |top-k(device) ∩ top-k(reference)| / k.
};

struct LogitsOracleResult {
  std::int64_t top_k = 0;
  std::int64_t total_rows = 0;  // Rows in the tensors.
  // The rows compared, in order: all of them, or up to and including the first divergent row.
  std::vector<LogitsRow> rows;
  // The first row whose top-1 differs; unset when every row agrees.
  std::optional<std::int64_t> first_divergent_row;
  // True when no row diverges, or the first divergence is a near tie (each top-1 in the other's
  // top-k).
  bool passed = true;
  // One line: "12 rows, top-1 agrees on all" or "top-1 diverges at row 7 (device 41, reference
  // 17): a near tie, each in the other's top-5" / "... 41 not in the reference's top-5".
  std::string text;
};

// Compares device logits with reference logits: tensors of the same shape [..., vocab] (every
// leading dimension flattened into rows, in row-major order; any floating dtypes). Top-k orders
// by value, highest first, ties by the lower token id; NaN ranks below every number. Throws
// std::invalid_argument for different shapes, a rank-0 tensor, a non-floating dtype or a top_k
// outside [1, vocab].
LogitsOracleResult compare_logits(const Tensor& device, const Tensor& reference,
                                  const LogitsOracleOptions& options = {});

// {"top_k", "total_rows", "passed", "text", "first_divergent_row" (null when none), "rows":
// [{row, pcc, max_abs_error, device_top1, reference_top1, top1_match,
// device_top1_in_reference_top_k, reference_top1_in_device_top_k, top_k_overlap}]}.
nlohmann::json to_json(const LogitsOracleResult& result);

}  // namespace ttt

// The degenerate-output check: does a generated token sequence repeat itself the way a broken or
// untrained model's greedy output does (`generated tokens: 8141 6490 4444 6685 6685 6685 ...`)?
// `ttt demo` and `ttt accuracy` print its verdict (docs/debugging.md "Degenerate output").
//
// Two signs, either one is enough:
//   * adjacent repetition: the fraction of tokens equal to the token before them;
//   * an n-gram loop: the sequence ends with one n-gram repeated several times in a row
//     ("6685 6685 6685", "the dog the dog the dog").
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace ttt {

struct DegenerateOutputOptions {
  // Degenerate when more than this fraction of the tokens (after the first) equal the token
  // before them. Default: 0.5.
  double max_adjacent_repetition = 0.5;
  // n-gram loops of n = 1 .. max_loop_period tokens are looked for. Default: 32 (a byte-level
  // model's loops are whole phrases).
  std::int64_t max_loop_period = 32;
  // A loop is degenerate when its n-gram occurs at least min_loop_repeats times in a row at the
  // end of the sequence and the repeating tail covers at least min_loop_fraction of it (so that
  // a "..." at the end of a long text is not a loop, while 3 repeats closing 16 tokens are).
  // Defaults: 3 and 0.15.
  std::int64_t min_loop_repeats = 3;
  double min_loop_fraction = 0.15;
};

struct DegenerateOutputVerdict {
  bool degenerate = false;
  double adjacent_repetition = 0.0;  // Fraction of tokens equal to the one before (0 for < 2).
  std::int64_t loop_period = 0;      // n of the shortest n-gram loop found; 0: none.
  std::int64_t loop_tokens = 0;      // Tokens of the repeating tail (loop_period > 0 only).
  // One line: "degenerate: the last 15 of 16 tokens repeat a 1-token n-gram (15.0 times)" or
  // "not degenerate: adjacent repetition 0.06 (limit 0.50), no n-gram loop".
  std::string summary;
};

// Checks `tokens` (the generated ones, not the prompt). An empty or one-token sequence is not
// degenerate. Throws std::invalid_argument for options out of range (a fraction outside [0, 1],
// a period or repeat count < 1).
DegenerateOutputVerdict check_degenerate_output(std::span<const std::int64_t> tokens,
                                                const DegenerateOutputOptions& options = {});

}  // namespace ttt

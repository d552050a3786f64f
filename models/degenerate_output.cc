#include "models/degenerate_output.h"

#include <cstdio>
#include <stdexcept>

namespace ttt {
namespace {

std::string fixed(double value, int digits) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

void check_options(const DegenerateOutputOptions& options) {
  const auto fraction = [](double value, const char* name) {
    if (!(value >= 0.0 && value <= 1.0)) {
      throw std::invalid_argument(std::string("[degenerate_output] ") + name + " " +
                                  std::to_string(value) + " is not in [0, 1]");
    }
  };
  fraction(options.max_adjacent_repetition, "max_adjacent_repetition");
  fraction(options.min_loop_fraction, "min_loop_fraction");
  if (options.max_loop_period < 1 || options.min_loop_repeats < 1) {
    throw std::invalid_argument(
        "[degenerate_output] max_loop_period and min_loop_repeats must be "
        ">= 1, got " +
        std::to_string(options.max_loop_period) + " and " +
        std::to_string(options.min_loop_repeats));
  }
}

// The length of the longest tail of `tokens` that repeats with period `period` (at least
// `period`: the n-gram itself), or 0 when the sequence is shorter than the period.
std::int64_t periodic_tail(std::span<const std::int64_t> tokens, std::int64_t period) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (n < period) return 0;
  std::int64_t i = n - 1;
  while (i >= period &&
         tokens[static_cast<std::size_t>(i)] == tokens[static_cast<std::size_t>(i - period)]) {
    --i;
  }
  // tokens[i + 1 .. n) each equal the token one period before: the tail starts at i + 1 - period.
  return n - (i + 1) + period;
}

}  // namespace

DegenerateOutputVerdict check_degenerate_output(std::span<const std::int64_t> tokens,
                                                const DegenerateOutputOptions& options) {
  check_options(options);
  DegenerateOutputVerdict verdict;
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (n >= 2) {
    std::int64_t repeats = 0;
    for (std::size_t i = 1; i < tokens.size(); ++i) repeats += tokens[i] == tokens[i - 1] ? 1 : 0;
    verdict.adjacent_repetition = static_cast<double>(repeats) / static_cast<double>(n - 1);
  }
  for (std::int64_t period = 1; period <= options.max_loop_period && n >= 2; ++period) {
    const std::int64_t tail = periodic_tail(tokens, period);
    if (tail >= options.min_loop_repeats * period &&
        static_cast<double>(tail) >= options.min_loop_fraction * static_cast<double>(n) &&
        tail > period) {
      verdict.loop_period = period;
      verdict.loop_tokens = tail;
      break;
    }
  }
  const bool repetitive = verdict.adjacent_repetition > options.max_adjacent_repetition;
  verdict.degenerate = repetitive || verdict.loop_period > 0;
  std::string summary = verdict.degenerate ? "degenerate: " : "not degenerate: ";
  summary += "adjacent repetition " + fixed(verdict.adjacent_repetition, 2) + " (limit " +
             fixed(options.max_adjacent_repetition, 2) + "), ";
  if (verdict.loop_period > 0) {
    summary +=
        "the last " + std::to_string(verdict.loop_tokens) + " of " + std::to_string(n) +
        " tokens repeat a " + std::to_string(verdict.loop_period) + "-token n-gram (" +
        fixed(static_cast<double>(verdict.loop_tokens) / static_cast<double>(verdict.loop_period),
              1) +
        " times)";
  } else {
    summary += "no n-gram loop";
  }
  verdict.summary = std::move(summary);
  return verdict;
}

}  // namespace ttt

// Bug or precision, for every call of a trace: a replay with ReplayOptions::explain judges each
// captured device output (a real accelerator's, or any backend's) against the emulation of the
// device's numerics at the call's ImplConfig and the float64 reference
// (validation/metrics/bug_or_precision.h). This file counts the findings and writes the report of
// `ttt explain` (docs/cli.md); docs/debugging.md "Bug or precision?" walks through one.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "validation/trace/replay.h"

namespace ttt {

struct ExplainSummary {
  std::int64_t total = 0;  // Calls replayed.
  std::int64_t accurate = 0;
  std::int64_t precision_limited = 0;
  std::int64_t not_explained = 0;
  // Calls without a finding: skipped (unknown kind, nothing captured) or failed to replay.
  std::int64_t not_judged = 0;
  // The first call, in capture order, whose device output precision does not explain: where a
  // bug first shows.
  std::optional<std::int64_t> first_not_explained_seq;
  std::string first_not_explained_name;
  std::string first_not_explained_text;  // Its first unexplained output: "y: not explained ...".
};

// Counts the findings of a replay made with ReplayOptions::explain.
ExplainSummary summarize_explanations(const ReplayReport& report);

// The replay options `ttt explain` uses: the given ones with explain on and against both.
ReplayOptions explain_options(ReplayOptions options);

// {"trace", "calls": [to_json(ReplayedCall) with "finding" and "explanations"], "summary":
// {total, accurate, precision_limited, not_explained, not_judged, first_not_explained:
// {seq, name, text} | null}}.
nlohmann::json explain_report_json(const ReplayReport& report);

// Text: one line per call that is not accurate ("<seq> <name> (<block>) <output>: <finding
// text>", the unexplained first), the calls not judged by reason, then the counts and the first
// call not explained by precision.
std::string format_explanations(const ReplayReport& report);

}  // namespace ttt

// The HTML report of a run or a trace (issue 16 item 8; docs/debugging.md "The HTML report"):
// one self-contained page (inline CSS and SVG, no script, no external resource) with
//   - PCC and NMSE per layer and per call along the model, the isolated error (the block on
//     exact inputs, or on the inputs it was given) beside the accumulated one (free running,
//     against the exact value) when the run measured it (error_propagation.h);
//   - the token-accuracy strip: one cell per position, the positions whose top-1 differs from
//     the reference marked (and whether the reference's top-k still holds the device's token);
//   - the worst calls, each with the exact `ttt replay` line that re-runs it from the trace.
// `ttt report TRACE.h5|REPORT.json --format html` and `ttt demo --html FILE` write it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "validation/wrapper/error_propagation.h"
#include "validation/wrapper/registry.h"

namespace ttt {

class TraceReader;
struct TokenGolden;

// One call along the model, in call order.
struct HtmlReportCall {
  std::string name;  // "layers.1.attention.decode".
  std::int64_t call_index = 0;
  std::optional<std::int64_t> layer;  // call_layer(name); unset outside the layers.
  // Its first output's error on its own inputs (isolated) and, when measured, what it received
  // and passes on (accumulated). Unset: not measured (no metrics in the trace or record).
  std::optional<double> isolated_pcc;
  std::optional<double> isolated_nmse;
  std::optional<double> accumulated_pcc;
  std::optional<double> accumulated_nmse;
  bool failed = false;       // Its validation verdict failed.
  bool out_of_band = false;  // Its isolated error left its module's band (error_propagation.h).
};

// One position of the token strip.
struct HtmlTokenPosition {
  std::int64_t device = 0;     // The device's most likely next token.
  std::int64_t reference = 0;  // The reference's.
  bool in_top_k = true;        // The device's token is among the reference's top k.
  std::string text;            // The reference token as text ("" without a tokenizer).
};

struct HtmlReportInput {
  // The page's title and what it describes ("tiny-llama-bytes on N150", "run/trace.h5").
  std::string title = "TTTv2 run report";
  std::string source;
  // Where the calls were captured, for the replay lines; "" when there is no trace (the worst
  // calls are then listed without one).
  std::string trace_path;
  std::vector<HtmlReportCall> calls;
  // Whether the accumulated columns were measured (a run with error propagation).
  bool has_accumulated = false;
  // The layer whose isolated error left its band, if any (error_propagation.h).
  std::optional<std::int64_t> flagged_layer;
  std::vector<HtmlTokenPosition> tokens;  // Empty: no strip.
  std::int64_t top_k = 5;
  std::string tokens_source;  // What the strip compares ("teacher forced against golden.h5").
  // How many of the worst calls (by isolated nmse, then accumulated) the table lists.
  std::size_t worst_calls = 10;
};

// The calls of an error-propagation run (error_propagation.h), isolated and accumulated.
std::vector<HtmlReportCall> html_calls(const ErrorPropagation& propagation);
// The calls of validation records (isolated error only: device against reference on the inputs
// the device was given).
std::vector<HtmlReportCall> html_calls(const std::vector<ValidationRecord>& records);

// The token strip of a teacher-forced run: `predicted[p]` against the golden at each position.
// Throws std::invalid_argument when their lengths differ.
std::vector<HtmlTokenPosition> html_token_strip(const TokenGolden& golden,
                                                const std::vector<std::int64_t>& predicted);

// The report of a trace: every call's isolated error from its recorded metrics, and the token
// strip of its LM head calls ("lm_head.*": the last row of each call's device output against
// its captured reference output, when the trace holds them). Throws TraceError for an unreadable
// trace, std::invalid_argument for a call whose metrics are not the registry's JSON.
HtmlReportInput html_report_of_trace(const TraceReader& trace);

// The page. Throws std::invalid_argument when a call's error cannot be drawn (non-finite).
std::string render_html_report(const HtmlReportInput& input);

// The shell line that replays the calls named `name` of `trace_path`:
// "ttt replay 'run/trace.h5' --filter 'layers.1.attention.decode'" (single-quoted for POSIX
// shells). It replays every call of that name, the listed one among them.
std::string replay_command(const std::string& trace_path, const std::string& name);

}  // namespace ttt

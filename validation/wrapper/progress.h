// Progress of long work (`ttt demo`'s model run and replay, `ttt suite run`'s cases), written to
// standard error so that it never mixes with a report on standard output.
//
// Two forms, chosen once by who creates the reporter: on a terminal one live line, rewritten in
// place as steps finish; elsewhere (a CI log, a pipe) one line per finished step, since a log
// cannot rewrite a line and a carriage return would garble it.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string_view>

namespace ttt {

class ProgressReporter {
 public:
  // Writes to `out`. `live`: one line rewritten with '\r' (for a terminal: isatty), ended when the
  // last step of a phase finishes; otherwise one line per step.
  ProgressReporter(std::ostream& out, bool live);
  // Ends a live line that the last step of its phase has not ended (a replay stopped by
  // --fail-fast, an error thrown mid-run), so that what is printed next starts on its own line.
  ~ProgressReporter();
  // Not copyable: two copies would both end the same live line.
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // Step `done` of `total` of `phase` has finished; `detail` says which, e.g.
  //   step("replay", 12, 187, "layers.0.attention.decode")
  // prints "[replay 12/187] layers.0.attention.decode". Thread-compatible (one caller at a time).
  void step(std::string_view phase, std::size_t done, std::size_t total, std::string_view detail);

 private:
  std::ostream& out_;
  bool live_;
  bool line_open_ = false;  // A live line was written and not yet ended with '\n'.
};

// A reporter on standard error, live when standard error is a terminal.
ProgressReporter stderr_progress();

}  // namespace ttt

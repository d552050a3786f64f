#include "validation/wrapper/progress.h"

#include <unistd.h>

#include <iostream>

namespace ttt {

ProgressReporter::ProgressReporter(std::ostream& out, bool live) : out_(out), live_(live) {}

ProgressReporter::~ProgressReporter() {
  if (line_open_) out_ << '\n' << std::flush;
}

void ProgressReporter::step(std::string_view phase, std::size_t done, std::size_t total,
                            std::string_view detail) {
  if (live_) out_ << '\r';
  out_ << '[' << phase << ' ' << done << '/' << total << "] " << detail;
  // Erases what a longer previous line left to the right of this one.
  if (live_) out_ << "\x1b[K";
  line_open_ = live_ && done < total;
  if (!line_open_) out_ << '\n';
  out_.flush();
}

ProgressReporter stderr_progress() {
  return ProgressReporter(std::cerr, ::isatty(STDERR_FILENO) == 1);
}

}  // namespace ttt

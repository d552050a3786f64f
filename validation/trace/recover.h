// Recovering a trace whose capture did not finish (the process was killed, or crashed).
//
// While a TraceSession writes "run.h5" it keeps the journal "run.h5.journal" (capture.h). If the
// process dies, the HDF5 file may be inconsistent, but the journal lists every call that was
// complete and where its bytes are in the file. recover_trace() rebuilds a valid trace from the
// two: every call whose capture() had returned, with its shared tensors, and nothing else.
#pragma once

#include <cstdint>
#include <string>

namespace ttt {

// The journal of a trace being written: `trace_path` + ".journal".
std::string trace_journal_path(const std::string& trace_path);

// What recover_trace() did.
struct RecoveryReport {
  std::string output;                         // The recovered trace.
  std::int64_t calls = 0;                     // Calls it holds.
  std::int64_t shared_tensors = 0;            // Tensors under /tensors.
  std::uint64_t discarded_journal_bytes = 0;  // A torn last journal record (a call in progress).
  // True when `output` had already been recovered from this journal (a recovery interrupted after
  // its rename): only the journal was removed.
  bool already_recovered = false;
};

// Rebuilds the trace at `trace_path` from its journal and writes it to `output_path` ("" means
// `trace_path` itself, replaced atomically; the journal is then removed). With another output
// path, the damaged trace and its journal are left as they are. The recovered file has the root
// attribute `ttt_recovered_session` (docs/trace-format.md).
// Refuses while the capturing process is still running: its session holds a lock on the journal
// (internal/journal.h) that the kernel releases when the process ends, even by SIGKILL.
// Throws TraceError naming the file when there is no journal (nothing to recover), the journal is
// locked (the capture is running, or another recovery is; the message gives the capturing
// process's id), the journal has no header record, a journal record points outside the trace
// file, or the recovered trace cannot be written (a full disk: the partial output is removed).
// Throws std::invalid_argument for a malformed journal record, in the strict JSON reader's format
// with records numbered from 0 ("t.h5.journal: /3/datasets/0/shape: expected an array, got 5").
RecoveryReport recover_trace(const std::string& trace_path, const std::string& output_path = "");

}  // namespace ttt

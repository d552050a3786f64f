// Capturing wrapped calls into an HDF5 trace (docs/trace-format.md).
//
// A TraceSession owns one trace file being written. The compare_to_reference wrapper asks
// active_trace_session() on every wrapped call; when a session is active and wants the call's
// name, it fills a CapturedCall and hands it to capture(). Sessions are started by the API
// (ScopedTrace, start_trace) or by the environment variable TTT_TRACE=path.h5.
//
// Crash safety: every captured call's values are in the file before capture() returns, and a
// small append-only journal next to the trace ("<trace>.journal") records where they are. A process
// killed at any moment (even SIGKILL) leaves a journal from which `ttt trace recover` (or
// recover_trace() in recover.h) rebuilds a valid trace holding every call whose capture() had
// returned. A clean close removes the journal.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "validation/fingerprint/fingerprint.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// One call as the wrapper saw it, ready to be written to /calls/<seq> of a trace.
struct CapturedCall {
  std::string name;                     // Wrapped name, e.g. "layers.3.attention.decode".
  std::string block;                    // Registered block kind for replay; "" if none.
  std::string spec_json = "{}";         // Block Spec as JSON text.
  std::string impl_config_json = "{}";  // Block ImplConfig as JSON text.
  std::string device;                   // E.g. "N150"; "" if unknown.
  std::string scalars_json = "{}";      // JSON object: scalar arguments by name.
  std::int64_t device_ns = 0;
  std::int64_t reference_ns = -1;     // -1: the reference did not run.
  std::string verdict = "unchecked";  // "pass" | "fail" | "unchecked".
  std::string metrics_json = "{}";    // Per-output metrics, as in the registry record.
  // The configuration's fingerprint, when the caller supplied one (attribute "fingerprint").
  std::optional<Fingerprint> fingerprint;
  std::vector<NamedTensor> inputs;    // Names may contain '/' for container elements: "kv/0".
  std::vector<NamedTensor> outputs;   // Device outputs.
  std::vector<NamedTensor> reference_outputs;  // Empty when the reference did not run.
};

// How a session captures. Plain values; every field has a default.
struct TraceOptions {
  // Which calls to capture.
  std::string name_filter = "*";         // Glob on the wrapped name ('*', '?', '[...]').
  std::int64_t max_calls_per_name = -1;  // Calls captured per distinct name; -1: unlimited.
  bool capture_reference = true;         // Write reference outputs when the reference ran.

  // Storage.
  int compression_level = 0;  // 0: contiguous, uncompressed; 1-9: chunked, deflate at this level.
  bool shuffle = true;        // Byte shuffle before deflate (only with compression).
  std::int64_t chunk_bytes = 1 << 20;  // Target chunk size when compressing.
  // The same tensor (same storage, shape, dtype and values) passed again as an input is written
  // once and hard-linked under /tensors/<key>.
  bool share_tensors = true;

  // Root attribute `meta`: a JSON object (model, device, command line, free-form). The session
  // adds "command_line" when it is missing and the platform tells it.
  std::string meta_json = "{}";
  // Root attribute `config`: the run's configuration dump (docs/fingerprints.md), a JSON
  // object; "" writes no attribute.
  std::string config_json = "";
};

// A capture in progress: owns the trace file being written. Thread-safe: calls may arrive from
// many threads; each is written whole, in the order capture() is entered.
class TraceSession {
 public:
  // Creates (or truncates) the trace at `path`, writes the root attributes and the journal.
  // Throws std::runtime_error naming the file when it cannot be created, std::invalid_argument
  // for bad options (meta_json not a JSON object, compression_level outside 0-9, ...).
  explicit TraceSession(std::string path, TraceOptions options = {});
  // Closes the trace (see close()); errors are reported on stderr, never thrown.
  ~TraceSession();
  TraceSession(const TraceSession&) = delete;
  TraceSession& operator=(const TraceSession&) = delete;

  // Cheap pre-check so the wrapper can skip building a CapturedCall: the name filter and the
  // per-name limit. False once the session is closed or has failed.
  bool wants(std::string_view name) const;

  // Writes one call as /calls/<seq> and journals it (crash safety, above). Never throws into the
  // model run: a call that cannot be written (an undefined tensor, a bad name, text that is not
  // JSON) is dropped and recorded in error(); an I/O error stops the session (later calls are
  // dropped) and is printed once to stderr. Calls the filter or the limit rejects are ignored.
  void capture(const CapturedCall& call);

  // Whether the wrapper should pass reference outputs (TraceOptions::capture_reference).
  bool capture_reference_outputs() const;

  // Writes `tensor` once as /tensors/<key> now, so that every later input with the same storage,
  // shape and dtype is a hard link to it (a model registers its weights this way).
  // REQUIRES: the tensor's values do not change while the session is open.
  // Throws std::invalid_argument for an empty key, a key containing '/', the keys "." and "..", a
  // key already in use, or an undefined tensor; TraceError (a std::runtime_error) on an I/O error.
  void register_shared_tensor(const std::string& key, const Tensor& tensor);

  // Finishes the file: closes it and removes the journal. Idempotent. Throws std::runtime_error
  // naming the file if the final write fails (the journal is then kept for recovery).
  void close();

  // The trace file's path.
  const std::string& path() const;
  // Calls written so far.
  std::int64_t calls_written() const;
  // Calls dropped because they could not be written (not those the filter rejected).
  std::int64_t calls_dropped() const;
  // The first error met while capturing, if any.
  std::optional<std::string> error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The process-wide session the wrapper writes to: the one started by the API (start_trace or
// ScopedTrace), else one opened lazily from TTT_TRACE=path.h5 on first query (closed at exit);
// nullptr when capture is off. After the first call this is one atomic load.
TraceSession* active_trace_session();

// Starts the process-wide session, replacing (and closing) any active one. Returns it.
// Throws like the TraceSession constructor.
TraceSession& start_trace(const std::string& path, const TraceOptions& options = {});

// Closes the process-wide session, if any. The session object stays alive until process exit, so
// a pointer a thread obtained from active_trace_session() never dangles (it just stops
// accepting calls). Throws like TraceSession::close().
void stop_trace();

// RAII: start_trace() in the constructor, stop_trace() in the destructor (errors to stderr).
class ScopedTrace {
 public:
  explicit ScopedTrace(const std::string& path, const TraceOptions& options = {});
  ~ScopedTrace();
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;
  TraceSession& session() { return *session_; }

 private:
  TraceSession* session_;
};

}  // namespace ttt

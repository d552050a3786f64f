// Validation records: one per validated call, kept by a process-wide, thread-safe registry.
//
// Every call that compare_to_reference validates adds a ValidationRecord: what was called, where
// it was wrapped, the inputs' shapes, every output's metrics and verdict, the stage failures
// (input mapping, reference, output mapping, ...) and the times. Query the registry, summarize it
// per name, or render it (report.h). Records hold metrics, never tensors.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "validation/fingerprint/fingerprint.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"
#include "validation/wrapper/tensor_visit.h"

namespace ttt {

// Where compare_to_reference was called (the wrapping site), from std::source_location.
struct SourceLocation {
  std::string file;
  std::uint32_t line = 0;
  std::string function;  // A readable name: readable_function_name() of the compiler's.
  // "file:line" (just the file name's last component is kept by reports).
  std::string text() const;
};

// The site `location` names, its function reduced by readable_function_name().
SourceLocation source_location_of(const std::source_location& location);

// The qualified name of a function as std::source_location::function_name() spells it, without
// return type, parameters or template arguments: "auto ttt::f(T) [with T = int]" -> "ttt::f",
// "virtual void ttt::Foo_Test::TestBody()" -> "ttt::Foo_Test::TestBody". Compilers spell a
// template instance's full signature, hundreds of characters no report can show.
std::string readable_function_name(std::string_view pretty);

// One tensor input as the reference saw it (after input mapping).
struct InputInfo {
  std::string name;  // "x", or "kv/0" for an element of a container argument.
  Shape shape;
  DType dtype = DType::float32;
};

// One scalar input (integers, floating point, bool, enums), kept as its exact value.
struct ScalarInput {
  std::string name;
  ScalarValue value;
};

// One device's shard of a mesh-tensor output against the matching slice of the reference (the
// slice along the sharded mesh axes; a replicated axis compares every copy with the same slice).
struct DeviceCheck {
  int device = 0;  // Row-major index on the mesh.
  int row = 0;
  int col = 0;
  std::optional<Metrics> metrics;  // Absent when the metrics could not be computed.
  Verdict verdict;                 // Under the output's tolerances.
};

// The comparison of one output: device (actual) against reference (expected).
struct OutputCheck {
  std::string name;                // "out0", "k_cache/1", ...
  std::optional<Metrics> metrics;  // Absent when the metrics could not be computed.
  Tolerances tolerances;           // The thresholds this output was judged with.
  Verdict verdict;                 // Failures name the metric and the threshold.
  // For a mesh-tensor output, one entry per device in device order (which chip diverges); empty
  // otherwise. The verdict above is the composed output's: device checks explain it.
  std::vector<DeviceCheck> devices{};
};

// A stage of the call that failed before or instead of a comparison, recorded as a failed
// pseudo-metric: the wrapper never loses it and never lets it crash the model run.
struct StageFailure {
  // One of: "input_mapping", "device" (device_fn threw; the exception is rethrown), "reference"
  // (reference_fn threw), "output_mapping", "reference_output_mapping", "output_structure" (an
  // output exists on one side only), "teacher_forcing".
  std::string stage;
  std::string message;
};

// Everything the wrapper knows about one validated call.
struct ValidationRecord {
  std::int64_t sequence = 0;    // Order in which calls completed, from 0 (set by the registry).
  std::string name;             // The wrapped name.
  std::int64_t call_index = 0;  // Per name, from 0 (counts the calls the wrapper saw).
  bool first_call = false;      // Call index 0: includes warm-up (compilation, caches).
  SourceLocation location;      // The wrapping site.
  std::vector<InputInfo> inputs;
  std::vector<ScalarInput> scalars;
  std::vector<OutputCheck> outputs;
  std::vector<StageFailure> errors;
  bool passed = true;              // No error, every output's verdict passed.
  std::int64_t device_ns = 0;      // Steady-clock time of device_fn.
  std::int64_t reference_ns = -1;  // Of reference_fn; -1 when it did not run.
  bool teacher_forced = false;     // The call returned the reference output.
  // Provenance when the callable comes from a block (CompareOptions); JSON text "{}" otherwise.
  std::string block;
  std::string spec_json = "{}";
  std::string impl_config_json = "{}";
  std::string device;
  // The configuration's fingerprint when the caller supplied one (CompareOptions::fingerprint).
  std::optional<Fingerprint> fingerprint;

  // One line per failure: "out0: pcc 0.9812 < 0.99", "reference: threw: index out of range"; a
  // failed mesh-tensor output adds one line per failing device:
  // "out0 device 2 (row 0, col 2): pcc 0.41 < 0.99".
  std::vector<std::string> failure_lines() const;
  // failure_lines() joined with "; ", or "pass".
  std::string verdict_text() const;
};

// Per-name figures of a set of records.
struct NameSummary {
  std::string name;
  std::int64_t calls = 0;
  std::int64_t passed = 0;
  std::int64_t failed = 0;
  std::optional<double> worst_pcc;            // Lowest PCC of any output; unset without metrics.
  std::optional<double> worst_max_abs_error;  // Highest max_abs_error of any output.
  // Medians over the calls that are not first calls (all calls when there are only first calls).
  std::optional<double> median_device_ns;
  std::optional<double> median_reference_ns;  // Over calls where the reference ran.
  std::optional<double> speedup;              // median_reference_ns / median_device_ns.
  SourceLocation location;                    // Of the name's first record.
  std::string block;
};

struct ValidationSummary {
  std::int64_t calls = 0;
  std::int64_t passed = 0;
  std::int64_t failed = 0;
  std::vector<NameSummary> names;  // In order of each name's first record.
};

// Summarizes `records` (in the given order).
ValidationSummary summarize(const std::vector<ValidationRecord>& records);

// Which records a query returns. Default: all.
struct RecordQuery {
  std::string name_filter = "*";  // Filter syntax of switches.h (globs, '-' excludes).
  bool failed_only = false;
  std::int64_t min_sequence = 0;  // Records with sequence >= this (records since a point in time).
};

namespace detail {
class RegistrySink;
// Per-name state shared by every callable wrapped under that name.
struct NameState {
  explicit NameState(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::atomic<std::int64_t> calls{0};
  // (filter generation << 1) | matches; ~0 until first evaluated.
  std::atomic<std::uint64_t> filter_cache{~std::uint64_t{0}};
};
}  // namespace detail

// The process-wide store of records. Every member function is thread-safe.
class ValidationRegistry {
 public:
  // Appends a record, setting its sequence number. Returns the sequence.
  std::int64_t add(ValidationRecord record);

  // Copies of the records matching `query`, in sequence order.
  std::vector<ValidationRecord> records(const RecordQuery& query = {}) const;
  // The first failed record in sequence order: the first call that diverged.
  std::optional<ValidationRecord> first_failure() const;
  // Number of records held.
  std::size_t size() const;
  // The sequence number the next record will get (records(...{.min_sequence = mark})).
  std::int64_t next_sequence() const;
  // summarize(records(query)).
  ValidationSummary summary(const RecordQuery& query = {}) const;

  // Removes every record. Call counters (call_index, first_call, sampling) keep counting, so
  // warm-up is not flagged twice; sequence numbers keep increasing.
  void clear();
  // clear() and also restarts every name's call counter at 0 (tests, or a new model run).
  void reset();

  // The state shared by every callable wrapped as `name` (created on first request).
  std::shared_ptr<detail::NameState> name_state(const std::string& name);

  // Other receivers of validated calls (coverage, traces, your own) are call sinks
  // (call_sink.h); the registry is the first of them.

 private:
  friend class detail::RegistrySink;
  // The next sequence number; the call sinks' dispatch numbers a validated call before any sink
  // sees it, so every sink sees the number the registry stores.
  std::int64_t reserve_sequence();
  // Stores a record numbered by reserve_sequence(), keeping sequence order.
  void store(ValidationRecord record);

  mutable std::mutex mutex_;
  std::vector<ValidationRecord> records_;
  std::int64_t next_sequence_ = 0;
  std::map<std::string, std::shared_ptr<detail::NameState>, std::less<>> names_;
};

// The registry every wrapped callable records into.
ValidationRegistry& validation_registry();

}  // namespace ttt

// Collecting coverage records of validated wrapper calls into a JSON Lines file while a program
// runs (docs/coverage.md "Collecting").
//
// With the environment variable TTT_COVERAGE=path.jsonl set, every program that links
// tttv2::coverage appends one record per validated compare_to_reference call to that file: the
// library adds a call sink (validation/wrapper/call_sink.h) at start-up that receives every
// validated call, and opens the file on the first record. Nothing else changes: calls that are not
// validated add no record, so the wrapper with validation off stays as cheap as before, and a
// program that validates nothing never creates the file. The API does the same for a scope:
//
//   ttt::ScopedCoverage coverage("coverage.jsonl");
//   model.generate(...);   // Every validated call appends a record.
//
// Records are appended (O_APPEND, one write per record), so many processes - a CTest run of many
// test programs - can share one file; delete it first for a fresh run. `ttt coverage merge`
// aggregates the lines.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace ttt {

// How a collection writes. Every field has a default.
struct CoverageCollectOptions {
  // Copied into every record's "origin" (a model name, a CI job). Default: none.
  std::string origin = "";
  // Open the file when the session starts (errors throw there) rather than at the first record.
  bool open_now = true;
};

// One collection in progress: a call sink of validated calls appending to a file.
// Thread-safe: records may arrive from many threads; each is written with one write() call.
class CoverageCollector {
 public:
  // Adds the sink; with options.open_now opens (creating, appending to) `path` and throws
  // std::runtime_error naming the file when it cannot be opened.
  explicit CoverageCollector(std::string path, CoverageCollectOptions options = {});
  // Removes the sink and closes the file. Never throws.
  ~CoverageCollector();
  CoverageCollector(const CoverageCollector&) = delete;
  CoverageCollector& operator=(const CoverageCollector&) = delete;

  const std::string& path() const;
  // Records written so far.
  std::int64_t records_written() const;
  // The first error met (the file could not be opened or written), if any. A collector that met
  // an error drops later records and prints the error once on stderr.
  std::optional<std::string> error() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::int64_t sink_id_ = -1;
};

// RAII for a scope: a CoverageCollector that lives as long as this object.
class ScopedCoverage {
 public:
  explicit ScopedCoverage(const std::string& path, CoverageCollectOptions options = {})
      : collector_(path, std::move(options)) {}
  CoverageCollector& collector() { return collector_; }

 private:
  CoverageCollector collector_;
};

// The collector TTT_COVERAGE started (with origin from TTT_COVERAGE_ORIGIN), or nullptr when the
// variable was unset or empty at start-up.
CoverageCollector* environment_coverage_collector();

}  // namespace ttt

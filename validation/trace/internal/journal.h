// The capture journal: an append-only file next to a trace being written ("<trace>.journal") that
// makes the trace crash-safe (docs/trace-format.md, "Crash safety").
//
// Each record is framed as: the 4 bytes "TTJ1", the payload length (uint32 little-endian), the
// CRC-32 of the payload (uint32 little-endian), then the payload: one JSON object, a "commit".
// A record is appended with one write() after the HDF5 objects it describes were written and
// flushed, so every record that reads back whole describes bytes that are in the trace file. A
// process killed mid-append leaves a torn last record, which readers detect and drop.
//
// A commit describes what recovery must re-create, in order:
//   {"seq": 12,                                   calls only
//    "session": "9f3c...", "pid": 4242,            the first record (root) only
//    "groups": ["/calls/000012", ...],
//    "datasets": [{"path": "/calls/000012/inputs/x", "type": "float32", "shape": [2, 3],
//                  "offset": 4096, "bytes": 24}                      contiguous, or
//                 {..., "chunk": [1, 3], "deflate": 4, "shuffle": true,
//                  "chunks": [[address, size, filter_mask, [0, 0]], ...]}],
//    "links": [{"path": "/calls/000012/inputs/w", "target": "/tensors/w"}],
//    "attributes": [["/calls/000012", "name", "layers.0.mlp"], ...]}
// An attribute's JSON type gives its HDF5 type: string, integer (int64), float (float64) or an
// array of integers (int64[]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace ttt::trace_internal {

// CRC-32 (IEEE 802.3, the zlib polynomial) of `bytes`.
std::uint32_t crc32(std::span<const std::byte> bytes);

// Appends records to a journal file. Move-only; the destructor closes the file (it never removes
// it: only a clean close of the trace does).
//
// The writer holds an exclusive lock on the journal (flock) for its whole life, and recovery takes
// the same lock (JournalLock): recovering a trace whose capture is still running would replace the
// file under the writer. The kernel releases the lock when the writer's process ends, however it
// ends (SIGKILL included), so a killed capture stays recoverable.
class JournalWriter {
 public:
  JournalWriter() = default;
  // Creates or truncates `path` and locks it. Throws TraceError naming it when it cannot be
  // created, or another process holds its lock (a capture or a recovery in progress).
  explicit JournalWriter(std::string path);
  JournalWriter(JournalWriter&& other) noexcept;
  JournalWriter& operator=(JournalWriter&& other) noexcept;
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;
  ~JournalWriter();

  // Appends one framed record. Throws TraceError naming the journal on a write error.
  void append(const nlohmann::json& commit);
  // Closes and deletes the journal file. Throws TraceError naming it when it cannot be deleted.
  void close_and_remove();

  // Deletes the journal at `path` (absent is fine). Throws TraceError naming it on failure.
  static void remove(const std::string& path);

  // Throws TraceError naming the journal when it was deleted or replaced while being written
  // (check_file_in_place in raw_file.h).
  void check_in_place() const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int descriptor_ = -1;
};

// Recovery's hold on a journal: the lock a JournalWriter holds (above), taken without waiting.
// Move-only; the destructor releases it.
class JournalLock {
 public:
  // Locks the journal at `path`. Throws TraceError naming it when it cannot be opened, or when a
  // capture (or another recovery) holds the lock: the message gives the capturing process's id,
  // from the journal's first record.
  explicit JournalLock(const std::string& path);
  JournalLock(JournalLock&& other) noexcept;
  JournalLock& operator=(JournalLock&&) = delete;
  JournalLock(const JournalLock&) = delete;
  JournalLock& operator=(const JournalLock&) = delete;
  ~JournalLock();

 private:
  int descriptor_ = -1;
};

// The records of a journal, up to the first one that is torn or corrupt.
struct JournalContents {
  std::vector<nlohmann::json> commits;
  std::uint64_t valid_bytes = 0;      // Bytes of the whole records.
  std::uint64_t discarded_bytes = 0;  // Bytes after them (a torn last record).
};

// Reads a journal. Throws TraceError naming it when it cannot be read.
JournalContents read_journal(const std::string& path);

// Parses journal bytes held in memory (recovery and fuzzing); `name` stands for the file in
// messages.
JournalContents parse_journal(std::span<const std::byte> bytes, const std::string& name);

}  // namespace ttt::trace_internal

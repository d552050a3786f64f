// Byte-level access to a trace file beside HDF5: capture writes the values of contiguous datasets
// straight to their file offsets (one pwrite, as fast as a raw write: H5Dwrite costs an extra pass
// over the data), and recovery copies values out of a damaged trace by offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ttt::trace_internal {

// A file descriptor that is closed by the destructor. Move-only.
class RawFile {
 public:
  enum class Mode { read, write };
  // No file (assign an opened one).
  RawFile() = default;
  // Opens an existing file. Throws TraceError naming it.
  RawFile(std::string path, Mode mode);
  RawFile(RawFile&& other) noexcept;
  RawFile& operator=(RawFile&& other) noexcept;
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;
  ~RawFile();

  // The file's size when it was opened.
  std::uint64_t size() const { return size_; }

  // Reads `bytes` bytes at `offset`. Throws TraceError naming the file and `object` (the dataset
  // the bytes belong to) when the range lies outside the file or cannot be read.
  std::vector<std::byte> read(std::uint64_t offset, std::uint64_t bytes,
                              const std::string& object) const;

  // Writes `bytes` bytes at `offset`. Throws TraceError naming the file and `object`. A range of
  // kAllocateFirstBytes or more is allocated first (fallocate, where the file system has it):
  // ext4 then skips the per-page bookkeeping of delayed allocation, which made writing 96 MiB
  // into the page cache about 30% slower than a plain sequential write (docs/PERFORMANCE.md,
  // "Trace capture throughput").
  static constexpr std::size_t kAllocateFirstBytes = 64 * 1024;
  void write(std::uint64_t offset, const void* data, std::size_t bytes,
             const std::string& object) const;

  // Throws TraceError naming the file when its path no longer leads to the file this object has
  // open (check_file_in_place).
  void check_in_place() const;

 private:
  std::string path_;
  int descriptor_ = -1;
  std::uint64_t size_ = 0;
};

// A writer keeps writing through its descriptor after its file was deleted, or replaced by a rename
// (another process, a `rm`): every later byte would be lost without a word. Throws TraceError
// naming `path` when the open `descriptor` has no link left, or `path` is now another file or no
// file. `what` names the file's role in the message ("the trace", "the capture journal").
void check_file_in_place(int descriptor, const std::string& path, const std::string& what);

}  // namespace ttt::trace_internal

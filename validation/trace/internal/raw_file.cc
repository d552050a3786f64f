#include "validation/trace/internal/raw_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "validation/trace/trace_error.h"

namespace ttt::trace_internal {

RawFile::RawFile(std::string path, Mode mode) : path_(std::move(path)) {
  descriptor_ = ::open(path_.c_str(), (mode == Mode::read ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
  if (descriptor_ < 0) {
    throw TraceError(path_, "", std::string("cannot open the trace: ") + std::strerror(errno));
  }
  struct stat status {};
  if (::fstat(descriptor_, &status) == 0) size_ = static_cast<std::uint64_t>(status.st_size);
}

RawFile::RawFile(RawFile&& other) noexcept
    : path_(std::move(other.path_)),
      descriptor_(std::exchange(other.descriptor_, -1)),
      size_(other.size_) {}

RawFile& RawFile::operator=(RawFile&& other) noexcept {
  if (this != &other) {
    if (descriptor_ >= 0) ::close(descriptor_);
    path_ = std::move(other.path_);
    descriptor_ = std::exchange(other.descriptor_, -1);
    size_ = other.size_;
  }
  return *this;
}

RawFile::~RawFile() {
  if (descriptor_ >= 0) ::close(descriptor_);
}

std::vector<std::byte> RawFile::read(std::uint64_t offset, std::uint64_t bytes,
                                     const std::string& object) const {
  if (offset > size_ || bytes > size_ - offset) {
    throw TraceError(path_, object,
                     "the journal places " + std::to_string(bytes) + " bytes at offset " +
                         std::to_string(offset) + ", but the trace file ends at " +
                         std::to_string(size_));
  }
  std::vector<std::byte> buffer(bytes);
  std::uint64_t done = 0;
  while (done < bytes) {
    const ssize_t n =
        ::pread(descriptor_, buffer.data() + done, bytes - done, static_cast<off_t>(offset + done));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      throw TraceError(path_, object,
                       std::string("cannot read the trace: ") +
                           (n < 0 ? std::strerror(errno) : "unexpected end"));
    }
    done += static_cast<std::uint64_t>(n);
  }
  return buffer;
}

void RawFile::write(std::uint64_t offset, const void* data, std::size_t bytes,
                    const std::string& object) const {
#if defined(__linux__)
  if (bytes >= kAllocateFirstBytes) {
    // Only an optimisation: a file system without fallocate (EOPNOTSUPP) still gets the values,
    // and a real failure (no space) shows again in pwrite below.
    while (::fallocate(descriptor_, 0, static_cast<off_t>(offset), static_cast<off_t>(bytes)) !=
               0 &&
           errno == EINTR) {
    }
  }
#endif
  const auto* from = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n =
        ::pwrite(descriptor_, from + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw TraceError(path_, object,
                       std::string("cannot write dataset values: ") +
                           (n < 0 ? std::strerror(errno) : "nothing written"));
    }
    done += static_cast<std::size_t>(n);
  }
}

void RawFile::check_in_place() const { check_file_in_place(descriptor_, path_, "the trace"); }

void check_file_in_place(int descriptor, const std::string& path, const std::string& what) {
  struct stat open_file {};
  if (::fstat(descriptor, &open_file) != 0) {
    throw TraceError(path, "", "cannot check " + what + ": " + std::strerror(errno));
  }
  struct stat at_path {};
  const bool path_exists = ::stat(path.c_str(), &at_path) == 0;
  // A rename over the path also leaves the open file with no link: "replaced" says more.
  if (path_exists && (at_path.st_dev != open_file.st_dev || at_path.st_ino != open_file.st_ino)) {
    throw TraceError(path, "",
                     what + " was replaced by another file while this process was writing it");
  }
  if (!path_exists || open_file.st_nlink == 0) {
    throw TraceError(path, "",
                     what + " was deleted (or moved away) while this process was writing it");
  }
}

}  // namespace ttt::trace_internal

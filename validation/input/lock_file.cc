#include "validation/input/lock_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace ttt {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& action) {
  throw std::runtime_error(path + ": cannot " + action + " (" + std::strerror(errno) + ")");
}

// The process id the lock file names: its first line, "" when it is empty or unreadable (the
// holder is between taking the lock and writing its id; the lock, not the id, is the answer).
std::string holder_named_in(int descriptor) {
  char text[32] = {};
  const ssize_t n = ::pread(descriptor, text, sizeof text - 1, 0);
  std::string pid = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : "";
  pid = pid.substr(0, pid.find('\n'));
  while (!pid.empty() && pid.back() == ' ') pid.pop_back();
  return pid;
}

}  // namespace

bool try_lock_exclusive(int descriptor, const std::string& path) {
  while (::flock(descriptor, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    fail(path, "lock the file");
  }
  return true;
}

LockFileHeld::LockFileHeld(const std::string& path, const std::string& holder)
    : std::runtime_error(path + " is locked by " +
                         (holder.empty() ? std::string("another process") : "process " + holder)),
      path_(path),
      holder_(holder) {}

LockFile::LockFile(const std::string& path) {
  descriptor_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (descriptor_ < 0) fail(path, "create the lock file");
  try {
    if (!try_lock_exclusive(descriptor_, path))
      throw LockFileHeld(path, holder_named_in(descriptor_));
    // Truncated only once locked: a held file keeps its holder's id.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(descriptor_, 0) != 0 ||
        ::pwrite(descriptor_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
      fail(path, "write the lock file");
    }
  } catch (...) {
    ::close(std::exchange(descriptor_, -1));
    throw;
  }
}

LockFile::LockFile(LockFile&& other) noexcept : descriptor_(std::exchange(other.descriptor_, -1)) {}

LockFile::~LockFile() {
  if (descriptor_ >= 0) ::close(descriptor_);
}

}  // namespace ttt

// Exclusive locks that fail at once instead of waiting, so that a second process on the same
// files says who holds them rather than hanging or overwriting their work: `ttt demo` holds its
// output directory (LockFile), a capture holds its journal against a recovery
// (validation/trace/internal/journal.h, through try_lock_exclusive).
//
// The locks are flock(2) locks: the kernel releases one when its holder's process ends, however it
// ends (SIGKILL included), so a lock is never stale and a file left behind is harmless. Two open()s
// of one file in the same process exclude each other as two processes do.
#pragma once

#include <stdexcept>
#include <string>

namespace ttt {

// Takes the exclusive lock of the open file `descriptor` without waiting. Returns false when
// another open file holds it. Throws std::runtime_error "<path>: cannot lock the file (<reason>)"
// for any other failure; `path` only names the file in that message.
bool try_lock_exclusive(int descriptor, const std::string& path);

// Thrown by LockFile when another process (or another LockFile of this one) holds the lock.
class LockFileHeld : public std::runtime_error {
 public:
  LockFileHeld(const std::string& path, const std::string& holder);
  // The lock file.
  const std::string& path() const { return path_; }
  // The holder's process id as the file says it, "" when it says none (the holder had not yet
  // written it).
  const std::string& holder() const { return holder_; }

 private:
  std::string path_;
  std::string holder_;
};

// A lock file that names its holder: holding one means holding whatever the file stands for (an
// output directory). Move-only; the destructor releases the lock and leaves the file.
class LockFile {
 public:
  // Creates `path` when absent, takes its lock without waiting and writes this process's id into
  // it ("4242\n"). Throws LockFileHeld (what(): "<path> is locked by process 4242") when it is
  // held, std::runtime_error "<path>: cannot create the lock file (<reason>)" or "... cannot write
  // the lock file (<reason>)" when the file cannot be created or written.
  explicit LockFile(const std::string& path);
  LockFile(LockFile&& other) noexcept;
  LockFile& operator=(LockFile&&) = delete;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();

 private:
  int descriptor_ = -1;
};

}  // namespace ttt

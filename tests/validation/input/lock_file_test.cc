// validation/input/lock_file.h: a lock file held by one LockFile refuses another at once, naming
// the file and the holder's process id (another process's, or this one's from a second LockFile);
// the lock goes with its holder, even a killed one; try_lock_exclusive on raw descriptors.
#include "validation/input/lock_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>

#include "tests/common/scratch_dir.h"

namespace ttt {
namespace {

class LockFileTest : public ::testing::Test {
 protected:
  void SetUp() override { lock_path_ = scratch_.file("run.lock"); }

  std::string content() const {
    std::ifstream in(lock_path_);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  // The LockFileHeld that locking lock_path_ throws; fails the test if it does not throw one.
  std::optional<LockFileHeld> refusal() const {
    try {
      const LockFile lock(lock_path_);
    } catch (const LockFileHeld& held) {
      return held;
    }
    ADD_FAILURE() << lock_path_ << " was locked although it is held";
    return std::nullopt;
  }

  test_support::ScratchDir scratch_;
  std::string lock_path_;
};

TEST_F(LockFileTest, ASecondLockInThisProcessIsRefusedNamingTheFileAndThisProcess) {
  const std::string me = std::to_string(::getpid());
  {
    const LockFile first(lock_path_);
    EXPECT_EQ(content(), me + "\n");
    const std::optional<LockFileHeld> held = refusal();
    ASSERT_TRUE(held.has_value());
    EXPECT_EQ(held->path(), lock_path_);
    EXPECT_EQ(held->holder(), me);
    EXPECT_EQ(std::string(held->what()), lock_path_ + " is locked by process " + me);
    EXPECT_EQ(content(), me + "\n") << "a refused lock leaves the holder's id";
  }
  // Released with the first: locking again succeeds, and the file stays.
  EXPECT_NO_THROW(LockFile{lock_path_});
  EXPECT_TRUE(std::filesystem::exists(lock_path_));
}

TEST_F(LockFileTest, AnotherProcessHoldsItUntilItIsKilled) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    const LockFile lock(lock_path_);
    const char byte = 1;
    (void)!::write(ready[1], &byte, 1);
    ::pause();  // Holds the lock until killed.
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1) << "the child could not take the lock";
  ::close(ready[0]);

  const std::optional<LockFileHeld> held = refusal();
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(std::string(held->what()),
            lock_path_ + " is locked by process " + std::to_string(child));

  // SIGKILL runs no destructor: the kernel releases the lock with the process.
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  {
    const LockFile mine(lock_path_);
    EXPECT_EQ(content(), std::to_string(::getpid()) + "\n");
  }
}

// A holder between taking the lock and writing its id: the refusal says the file names no one.
TEST_F(LockFileTest, AHolderThatNamedNoOneIsAnotherProcess) {
  const int descriptor = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(descriptor, 0);
  ASSERT_TRUE(try_lock_exclusive(descriptor, lock_path_));
  const std::optional<LockFileHeld> held = refusal();
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->holder(), "");
  EXPECT_EQ(std::string(held->what()), lock_path_ + " is locked by another process");
  ::close(descriptor);
}

TEST_F(LockFileTest, TryLockExclusiveOnTwoDescriptorsOfOneFile) {
  std::ofstream(lock_path_).put('x');
  const int first = ::open(lock_path_.c_str(), O_RDONLY | O_CLOEXEC);
  const int second = ::open(lock_path_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  EXPECT_TRUE(try_lock_exclusive(first, lock_path_));
  EXPECT_FALSE(try_lock_exclusive(second, lock_path_));
  ::close(first);
  EXPECT_TRUE(try_lock_exclusive(second, lock_path_));
  ::close(second);
  try {
    try_lock_exclusive(second, lock_path_);  // Closed: not a refusal but an error.
    ADD_FAILURE() << "a closed descriptor was locked";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              lock_path_ + ": cannot lock the file (Bad file descriptor)");
  }
}

TEST_F(LockFileTest, ALockFileThatCannotBeCreatedIsNamed) {
  const std::string missing = (scratch_.path() / "absent" / "run.lock").string();
  try {
    const LockFile lock(missing);
    ADD_FAILURE() << "locked " << missing;
  } catch (const LockFileHeld&) {
    ADD_FAILURE() << "an absent directory is not a held lock";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              missing + ": cannot create the lock file (No such file or directory)");
  }
}

}  // namespace
}  // namespace ttt

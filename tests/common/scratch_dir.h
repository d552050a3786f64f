// The scratch directory of a test: every test that writes files makes one, so that tests never
// share a path (CTest runs the tests of one file as parallel processes, and several build trees
// may run the same test at once).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ttt::test_support {

// A new empty directory <gtest TempDir>/<prefix>_XXXXXX (mkdtemp: unique to this process),
// removed with everything in it when the object goes. `prefix` defaults to the running test's
// "<suite>.<name>" (with '/' of parameterized names replaced), so that a left-over directory of
// a crashed test names its test. Throws std::runtime_error when the directory cannot be made.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view prefix = "") {
    std::string name(prefix);
    if (name.empty()) {
      const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
      name =
          info == nullptr ? "ttt_test" : std::string(info->test_suite_name()) + "." + info->name();
      for (char& c : name) c = c == '/' ? '_' : c;
    }
    std::string pattern =
        (std::filesystem::path(::testing::TempDir()) / (name + "_XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("[ScratchDir] cannot create " + pattern);
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;  // A destructor never throws; a left-over directory is harmless.
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path()/name as a string.
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace ttt::test_support

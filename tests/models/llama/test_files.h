// Scratch files of the Llama adapter's tests: one fresh directory per test (CTest runs the tests
// of a file as parallel processes), and whole files written from bytes.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace ttt::llama::testing_files {

// <TempDir>/<suite>/<the running test's name>, emptied.
inline std::filesystem::path test_dir(const std::string& suite) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / suite / info->name();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Writes `bytes` to `path`; returns the path.
inline std::string write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}

}  // namespace ttt::llama::testing_files

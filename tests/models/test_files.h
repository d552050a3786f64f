// Whole files written from bytes, for the models tests (their directories are
// tests/common/scratch_dir.h's).
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace ttt::testing_files {

// Writes `bytes` to `path`; returns the path.
inline std::string write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}

}  // namespace ttt::testing_files

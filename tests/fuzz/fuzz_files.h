// Shared by the fuzz targets: a private scratch directory per process, and the bytes of an input
// written to a file there, for readers that take a path (as users call them).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

namespace ttt::fuzz {

// /tmp/ttt_fuzz_<pid>, created on first use.
inline const std::string& scratch_directory() {
  static const std::string directory = [] {
    std::string path = "/tmp/ttt_fuzz_" + std::to_string(::getpid());
    ::mkdir(path.c_str(), 0755);
    return path;
  }();
  return directory;
}

// Writes `size` bytes at `data` to scratch_directory()/name and returns the path.
inline std::string write_input(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const std::string path = scratch_directory() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace ttt::fuzz

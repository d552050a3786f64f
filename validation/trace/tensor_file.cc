#include "validation/trace/tensor_file.h"

#include <cstring>
#include <fstream>

#include "validation/input/input_file.h"
#include "validation/tensor/npy.h"
#include "validation/trace/internal/h5.h"
#include "validation/trace/internal/tensor_io.h"
#include "validation/trace/trace_error.h"

namespace ttt {
namespace {

bool starts_with_bytes(const std::string& path, const char* magic, std::size_t size) {
  std::ifstream in(path, std::ios::binary);
  std::string head(size, '\0');
  in.read(head.data(), static_cast<std::streamsize>(size));
  return in.gcount() == static_cast<std::streamsize>(size) &&
         std::memcmp(head.data(), magic, size) == 0;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Tensor load_tensor_file(const std::string& spec) {
  const std::size_t separator = spec.rfind(":/");
  if (separator != std::string::npos && separator > 0) {
    const std::string file = spec.substr(0, separator);
    const std::string path = spec.substr(separator + 1);
    h5::FileId handle = h5::open_file_read_only(file);
    return trace_internal::read_tensor_node(handle.get(), file, path);
  }
  require_regular_file(spec);  // Sniffing a FIFO's first bytes would block.
  if (ends_with(spec, ".npy") || starts_with_bytes(spec, "\x93NUMPY", 6)) return read_npy(spec);
  if (starts_with_bytes(spec, "\x89HDF\r\n\x1a\n", 8)) {
    throw TraceError(
        spec, "",
        "an HDF5 file needs the path of a dataset inside it: " + spec + ":/path/to/dataset");
  }
  // Let the .npy reader name the problem (a missing file, or not a .npy file).
  return read_npy(spec);
}

}  // namespace ttt

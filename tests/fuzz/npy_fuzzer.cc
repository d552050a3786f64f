// libFuzzer target for .npy parsing: the input is a whole .npy file. parse_npy() must return a
// tensor or throw a std::exception; a tensor it returns must survive a write and a re-read: the
// re-read tensor has the same shape and serializes to the same bytes (a mismatch aborts: a
// finding). Not the same dtype: float16 is written as '<f4', as npy.h says.
// docs/testing.md "Fuzzing".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <span>
#include <vector>

#include "validation/tensor/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ttt::Tensor tensor;
  try {
    tensor = ttt::parse_npy(std::as_bytes(std::span(data, size)), "fuzz.npy");
  } catch (const std::exception&) {
    return 0;
  }
  const std::vector<std::byte> bytes = ttt::serialize_npy(tensor);
  const ttt::Tensor again = ttt::parse_npy(bytes, "round-trip.npy");
  if (again.shape() != tensor.shape() || ttt::serialize_npy(again) != bytes) {
    std::abort();
  }
  return 0;
}

// Reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0).
//
// Supported element types, little-endian and C (row-major) order only:
//   '<f2' -> float16, '<f4' -> float32, '<f8' -> float64 (kept exactly), '<i4' -> int32,
//   '<i8' -> int64.
// Everything else (Fortran order, big-endian, other types, structured arrays, rank above
// kMaxRank, a shape whose nonzero dimensions multiply to 2^60 elements or more even when a zero
// dimension leaves it empty, as numpy refuses it, a header that does not parse, data shorter or
// longer than the shape says) throws
// std::runtime_error with one line naming the file and what is wrong, e.g.
//   "[read_npy] w.npy: Fortran-order arrays are not supported (save a C-order array:
//    np.save(path, np.ascontiguousarray(a)))".
//
// Writing: the float32-held dtypes are written as '<f4' (every device value is exactly a float32,
// so a bfloat8_b tensor reads back as float32 with the same values), float64 as '<f8', int32 as
// '<i4', int64 as '<i8'; version 1.0 unless the header needs 2.0. docs/cli.md describes what `ttt
// compare` accepts.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "validation/tensor/tensor.h"

namespace ttt {

// Reads the .npy file at `path` into an owning tensor. Throws std::runtime_error naming `path`
// when the file cannot be opened or read, or is not a supported .npy array.
Tensor read_npy(const std::string& path);

// Parses the bytes of a whole .npy file held in memory (archives, fuzzing). `name` stands for the
// file in error messages. Throws std::runtime_error exactly as read_npy does.
Tensor parse_npy(std::span<const std::byte> bytes, const std::string& name);

// Writes `tensor` to `path` as a .npy file, replacing any existing file. Throws
// std::invalid_argument for an undefined tensor or a shape the reader refuses (nonzero
// dimensions multiplying to 2^60 or more: what is written reads back) and std::runtime_error
// naming `path` when the file cannot be written.
void write_npy(const std::string& path, const Tensor& tensor);

// The bytes write_npy would write for `tensor`.
std::vector<std::byte> serialize_npy(const Tensor& tensor);

}  // namespace ttt

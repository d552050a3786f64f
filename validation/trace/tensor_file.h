// Loading one tensor from a file named on a command line: `ttt compare A B`, `ttt replay` inputs.
#pragma once

#include <string>

#include "validation/tensor/tensor.h"

namespace ttt {

// Loads the tensor named by `spec`:
//   "file.npy"              a NumPy array (validation/tensor/npy.h: <f2 <f4 <f8 <i4 <i8, C order);
//   "file.h5:/path/to/x"    an HDF5 dataset of float32, float64, int32 or int64 (any byte order),
//                           or a generator node of the trace format (docs/trace-format.md).
// For HDF5 datasets the attribute `ttt_dtype`, when present, names the logical dtype (e.g.
// "bfloat16"); every value must then be exactly representable in it. Without it, a float32
// dataset loads as float32, a float64 dataset as float64 (exactly, as .npy '<f8' is) and integers
// as int32/int64.
// The part after the last ":/" is the path inside the HDF5 file.
//
// Throws TraceError (validation/trace/trace_error.h) for HDF5 problems and std::runtime_error for
// .npy problems, each naming the file and, inside an HDF5 file, the path: a missing file, a file
// that is neither HDF5 nor .npy, a missing dataset, a group where a dataset was expected, an
// unsupported type, an unknown ttt_dtype.
Tensor load_tensor_file(const std::string& spec);

}  // namespace ttt

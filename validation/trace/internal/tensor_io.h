// Reading one tensor node of an HDF5 file: a dataset (the trace format's tensors, or any
// float32/float64/int32/int64 dataset) or a generator node (a group that describes seeded random
// values instead of storing them: docs/trace-format.md, "Generated tensors").
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

#include "validation/tensor/tensor.h"

namespace ttt::trace_internal {

enum class NodeSource { dataset, generator };

// What a tensor node holds, without its values.
struct TensorNode {
  NodeSource source = NodeSource::dataset;
  Shape shape;
  DType dtype = DType::float32;   // The logical dtype (ttt_dtype, else from the HDF5 type).
  std::string stored_type;        // "float32", "float64", "int32", "int64"; the generator's
                                  // name for generator nodes.
  std::int64_t stored_bytes = 0;  // Bytes in the file (0 for generator nodes).
};

// True when the group at `path` is a generator node (it has a `ttt_generator` attribute).
bool is_generator_node(hid_t group, const std::string& file, const std::string& path);

// Describes the dataset or generator node at absolute `path` of `file_id`. Throws TraceError
// naming `file` and `path` for a missing node, an unsupported type (with what is supported), a
// ttt_dtype that is unknown or contradicts the stored type, or a bad generator description.
TensorNode describe_tensor_node(hid_t file_id, const std::string& file, const std::string& path);

// Reads the values of the node at `path`. Floating values must be exactly representable in the
// logical dtype (else TraceError naming the first element that is not); float64 datasets are
// rounded to float32 (nearest, ties to even; beyond the float32 range: +-Inf).
Tensor read_tensor_node(hid_t file_id, const std::string& file, const std::string& path);

// Opens the object at absolute `path`, walking it component by component so that a missing part
// is named: "does not exist ('/calls/000001' has no member 'inputs')".
void require_path(hid_t file_id, const std::string& file, const std::string& path);

}  // namespace ttt::trace_internal

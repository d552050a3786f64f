// Reading a trace lazily (docs/trace-format.md): opening a trace reads its root attributes only;
// listing calls reads the names under /calls; describing a call reads its attributes and the
// shapes and dtypes of its tensors; values are read only when asked for.
//
// Every problem throws TraceError naming the file and the path inside it: not an HDF5 file, a
// truncated file, an HDF5 file that is not a trace (no ttt_format), a newer ttt_format_version, a
// missing required attribute or dataset, an unsupported dataset type.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "validation/fingerprint/fingerprint.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/tensor.h"
#include "validation/trace/trace_error.h"

namespace ttt {

// The newest ttt_format_version this reader understands.
inline constexpr std::int64_t kTraceFormatVersion = 1;

// The root attributes. Only ttt_format and ttt_format_version are required of other writers.
struct TraceHeader {
  std::string format;  // "ttt-trace".
  std::int64_t format_version = 0;
  std::string producer;     // E.g. "tttv2 2.0.0"; "" when absent.
  std::string created_utc;  // ISO 8601; "" when absent.
  std::string meta_json = "{}";
  // The run's configuration dump (attribute "config"); "" when the trace has none.
  std::string config_json = "";
};

// Where a tensor's values come from.
enum class TensorSource {
  dataset,    // Stored values.
  generator,  // A generator node: seeded random values (docs/trace-format.md).
};

// A tensor as a trace lists it, without its values.
struct TraceTensor {
  std::string name;  // In the call: "x", or "kv/0" for an element of a container.
  std::string path;  // Absolute path in the file: "/calls/000003/inputs/kv/0".
  Shape shape;
  DType dtype = DType::float32;  // Logical dtype: ttt_dtype, else from the stored type.
  TensorSource source = TensorSource::dataset;
  std::string stored_type;        // "float32", "float64", "int32", "int64", or the generator name.
  std::int64_t stored_bytes = 0;  // Bytes in the file (0 for generator nodes).
  std::string shared_key;         // Key under /tensors when this input is a shared tensor, else "".
  // A mesh tensor (docs/trace-format.md "Mesh tensors"): `path` is its group, `shape` the
  // composed shape, `shards` its shard datasets in device order, with the mesh ("1x8") and one
  // placement per mesh axis ("replicated", "shard(1)"). Empty for a plain tensor.
  std::string mesh;
  std::vector<std::string> placements;
  std::vector<TraceTensor> shards;
};

// One call's attributes and tensor listing. Optional attributes take the defaults shown when a
// writer left them out; `name` and `block` are required.
struct TraceCall {
  std::int64_t seq = 0;
  std::string path;  // "/calls/000003".
  std::string name;
  std::string block;  // "" when the call has no replayable block.
  std::string spec_json = "{}";
  std::string impl_config_json = "{}";
  std::string device;
  std::string scalars_json = "{}";
  std::int64_t device_ns = 0;
  std::int64_t reference_ns = -1;
  std::string verdict = "unchecked";
  std::string metrics_json = "{}";
  std::optional<Fingerprint> fingerprint;  // Unset when the call has none (older traces).
  std::vector<TraceTensor> inputs;
  std::vector<TraceTensor> outputs;
  std::vector<TraceTensor> reference_outputs;  // Empty when the trace holds none.
};

// A shared tensor under /tensors.
struct SharedTensor {
  TraceTensor tensor;      // name = the key.
  std::int64_t links = 0;  // Hard links to it besides /tensors/<key> (uses by calls).
};

// An open trace file. Move-only. Not thread-safe: use one reader per thread.
class TraceReader {
 public:
  // Opens `path` and checks its root attributes. Throws TraceError when the file is missing, not
  // HDF5, truncated, not a trace, of a newer format version, or has an unfinished capture's
  // journal beside it (recover it first: recover.h, `ttt trace recover`).
  static TraceReader open(const std::string& path);

  TraceReader(TraceReader&&) noexcept;
  TraceReader& operator=(TraceReader&&) noexcept;
  ~TraceReader();

  const std::string& path() const;
  const TraceHeader& header() const;

  // Sequence numbers of the calls, in capture order (reads only the names under /calls).
  // Throws TraceError for a name under /calls that is not a decimal sequence number.
  const std::vector<std::int64_t>& sequence_numbers() const;

  // Attributes and tensor listing of call `seq` (no tensor values). Throws TraceError when there
  // is no such call or it is malformed.
  TraceCall call(std::int64_t seq) const;

  // The values of a tensor of this trace (a mesh tensor: composed). Throws TraceError naming its
  // path (a mesh tensor whose replicas differ: naming both devices).
  Tensor read(const TraceTensor& tensor) const;
  // The shards of a mesh tensor (TraceTensor::shards not empty), not composed.
  MeshTensor read_mesh(const TraceTensor& tensor) const;
  // The values of the tensor at an absolute path (a dataset or a generator node).
  Tensor read(const std::string& path) const;
  // A tensor's values with its name; a mesh tensor is composed and keeps its shards in
  // NamedTensor::mesh (throws TraceError naming both devices when its replicas differ).
  NamedTensor read_named(const TraceTensor& tensor) const;
  // read_named() of each tensor of a list (the inputs of a call, for replay).
  std::vector<NamedTensor> read_all(const std::vector<TraceTensor>& tensors) const;

  // The tensors under /tensors, by key.
  std::vector<SharedTensor> shared_tensors() const;

 private:
  struct Impl;
  explicit TraceReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ttt

// What the four collectives (all_gather, reduce_scatter, all_reduce, broadcast) share: the
// topology, the ImplConfigs, the groups of devices a collective acts in, the input checks, and the
// one reduction every reducing collective runs (internal to blocks/ccl).
//
// A collective moves data only through mesh_transport().all_gather_shards() and then computes
// every device's result locally, in one fixed order, so that the in-process and the MPI transport
// give bit-identical results (docs/multi-device.md "Collectives").
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "blocks/common/device.h"
#include "validation/input/json_reader.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// How the devices of one mesh axis are linked. Ring: the last device links back to the first, a
// reduce-scatter chunk starts at the device after its owner and travels once around. Line: no
// wrap-around link, chunks accumulate from the first device of the axis to the last.
enum class Topology : std::uint8_t { ring, line };
// "ring", "line"; parse_topology throws std::invalid_argument naming the text.
std::string_view topology_name(Topology topology);
Topology parse_topology(std::string_view name);

// The device knobs of the collectives that only move data (all_gather, broadcast).
struct CclImplConfig {
  // The links of the axis. Default: ring on a T3K (or an 8-chip Galaxy submesh), line elsewhere
  // (tt-transformers ModelArgs.ccl_topology). Moving data is exact: it changes no value.
  Topology topology = Topology::line;
  // Ethernet links used per hop (1..4); cost only, values do not depend on it. Default: 2 on TG,
  // else 1 (tt-transformers num_all_gather_links).
  int num_links = 1;
  // The dtype of the result (a floating dtype). Default: bfloat16, TTTv1's activations.
  DType output_dtype = DType::bfloat16;

  // Throws "[all_gather] config.num_links must be 1..4, got 0".
  void validate(std::string_view block) const;
  // The same for the block of `Spec` (its Spec::kind names the errors).
  template <typename Spec>
  void validate(const Spec&) const {
    validate(Spec::kind);
  }
  bool operator==(const CclImplConfig&) const = default;
};

// The device knobs of the reducing collectives (reduce_scatter, all_reduce).
struct CclReduceImplConfig {
  // The order partial sums travel in (see Topology). Default as CclImplConfig.
  Topology topology = Topology::line;
  // Ethernet links (1..4); cost only. Default: 1 (tt-transformers num_reduce_scatter_links).
  int num_links = 1;
  // The dtype partial sums travel in: every device's input is rounded to it before it is sent and
  // every hop's sum is rounded to it. float32, bfloat16, float16, bfloat8_b or bfloat4_b.
  // Default: bfloat16 (the dtype of TTTv1's FF2 output off Galaxy); bfloat8_b on TG
  // (tt-transformers ccl_dtype, the dtype of its Galaxy FF2 output).
  DType reduce_dtype = DType::bfloat16;
  // The dtype of the result. Default: bfloat16.
  DType output_dtype = DType::bfloat16;

  // Throws "[all_reduce] config.reduce_dtype is float64, expected float32, bfloat16, ...".
  void validate(std::string_view block) const;
  // The same for the block of `Spec` (its Spec::kind names the errors).
  template <typename Spec>
  void validate(const Spec&) const {
    validate(Spec::kind);
  }
  bool operator==(const CclReduceImplConfig&) const = default;
};

// JSON: {"topology": "ring", "num_links": 1, "output_dtype": "bfloat16"} (+ "reduce_dtype").
// Reading is strict (unknown fields and wrong types name the JSON path).
void to_json(nlohmann::json& json, const CclImplConfig& config);
void from_json(const nlohmann::json& json, CclImplConfig& config);
void read_json(const JsonNode& node, CclImplConfig& config);
void to_json(nlohmann::json& json, const CclReduceImplConfig& config);
void from_json(const nlohmann::json& json, CclReduceImplConfig& config);
void read_json(const JsonNode& node, CclReduceImplConfig& config);

namespace ccl_detail {

[[noreturn]] void fail(std::string_view block, const std::string& message);

// The Spec fields every collective has: the mesh and the axis it acts along.
struct MeshAxis {
  Mesh mesh{};
  int axis = 1;  // 0: along a column (the rows' devices), 1: along a row (the columns' devices).
};
// Throws "[all_gather] spec.axis must be 0 (rows) or 1 (columns), got 2".
void validate_mesh_axis(std::string_view block, const MeshAxis& spec);
// Spec JSON of a collective: {"mesh": "T3K", "axis": 1, <extra int fields>} and its strict reader.
nlohmann::json mesh_axis_json(const MeshAxis& spec);
// Reads "mesh" (required) and "axis" (default 1) into a Spec's two fields.
void read_mesh_axis(const JsonNode& node, Mesh& mesh, int& axis);
// Reads the required "mesh" ("T3K", "8x4", ...); errors name the JSON path.
Mesh read_mesh(const JsonNode& node);

// The four collectives' Spec fields beside the mesh and axis: one integer (`field`: "dim" or
// "root") and the optional `width`, the last dimension of the input a seeded call draws (0: unset;
// docs/multi-device.md "Seeded collective inputs"). The JSON and the identity name `width` only
// when it is set, so a Spec without it reads, writes and prints as before:
// {"mesh": "T3K", "axis": 1, "dim": 2, "width": 8192} and "ALL_GATHER(mesh=T3K,axis=1,dim=2,
// width=8192)".
nlohmann::json collective_json(const MeshAxis& spec, std::string_view field, int value,
                               std::int64_t width);
std::string collective_identity(std::string_view op, const MeshAxis& spec, std::string_view field,
                                int value, std::int64_t width);
// "width" when present (an integer >= 1), else 0.
std::int64_t read_width(const JsonNode& node);
// Throws "[all_gather] spec.width must be >= 0 (0: unset), got -1".
void validate_width(std::string_view block, std::int64_t width);

// TTTv1's defaults (tt-transformers ModelArgs): ring when the device is a T3K or a Galaxy and the
// mesh has 8 chips (ccl_topology: "ring on a T3K or 6U galaxy submesh"), else line (N300, and the
// whole 8x4 Galaxy, where ccl_topology returns Linear for 32 devices). Data-moving collectives use
// num_all_gather_links (2 on Galaxy, else 1); reducing ones num_reduce_scatter_links (1) and
// partial sums in the dtype of the FF2 output they reduce: bfloat16, ccl_dtype bfloat8_b on TG.
CclImplConfig default_move_config(const Mesh& mesh, Device device);
CclReduceImplConfig default_reduce_config(const Mesh& mesh, Device device);

// Devices of the group `group` along `axis`, in axis order: axis 1 (a row) group r is r*cols + 0..
// cols-1; axis 0 (a column) group c is c, cols + c, ... Every device is in exactly one group.
int group_count(const Mesh& mesh, int axis);
std::vector<int> group_devices(const Mesh& mesh, int axis, int group);

// Every device's shard from the transport, checked: the input's mesh is the Spec's, every shard
// is defined with one shape and dtype, `dim` (>= 0, or -1 for none) is a dimension of the shards
// and, when `divide`, the axis's device count divides it. Errors name the block, the mesh, the
// dim and the device.
std::vector<Tensor> gather_checked(std::string_view block, const MeshAxis& spec,
                                   const MeshTensor& x, int dim, bool divide);

// `count` slices of `tensor` along `dim` starting at `begin` (float32-held or float64 values,
// copied, same dtype) and their concatenation along `dim` (one dtype, shapes equal but at `dim`).
Tensor slice(const Tensor& tensor, int dim, std::int64_t begin, std::int64_t count);
Tensor concat(const std::vector<Tensor>& parts, int dim);

// Which group position's chunk is added at hop k = 0..n-1 of chunk c: ring (c + 1 + k) % n
// (starting after the chunk's owner, ending at it), line k (device order).
using HopOrder = int (*)(int chunk, int hop, int n);
HopOrder hop_order(Topology topology);

// Reduce-scatter of one group (inputs in axis order, held as float32): chunk c along `dim` is
// summed over the group in `order`, the sum rounded to `reduce_dtype` at every hop (float32
// additions, then rounding), the inputs rounded to `reduce_dtype` before they travel. Returns the
// n chunks in reduce_dtype. REQUIRES: n divides the size of `dim`.
std::vector<Tensor> reduce_scatter_group(const std::vector<Tensor>& inputs, int dim,
                                         DType reduce_dtype, HopOrder order);
// The float64 reference of it: chunk c is the sum in double of every input's chunk c.
std::vector<Tensor> reduce_scatter_group_reference(const std::vector<Tensor>& inputs, int dim);

// `tensor` in `dtype` (no copy when it already is).
Tensor in_dtype(const Tensor& tensor, DType dtype);

// Every device's result: compute(inputs of a group in axis order) returns the results of the
// group's positions in axis order. The result is placed `along_axis` on the axis and as `x` on the
// other axis. With `held_only` only the devices this process holds get their shard (the others
// stay undefined, as under the MPI transport); otherwise every device does (the reference).
using GroupResult = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;
MeshTensor per_group(const MeshAxis& spec, const MeshTensor& x,
                     const std::vector<Tensor>& gathered, Placement along_axis, bool held_only,
                     const GroupResult& compute);

}  // namespace ccl_detail
}  // namespace ttt

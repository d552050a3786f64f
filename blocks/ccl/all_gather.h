// All-gather along one mesh axis: every device of a row (axis 1) or column (axis 0) ends with the
// concatenation, in axis order, of the group's shards along tensor dimension `dim`. TTNN's
// ttnn.all_gather(x, dim, cluster_axis=axis); TTTv1 gathers attention and MLP outputs with it.
//
// Device numerics: moving data is exact; the result is rounded once to config.output_dtype. The
// input's placement along `axis` is not read (each device's shard is its piece); the output is
// replicated along `axis` and keeps the input's placement on the other axis.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "blocks/ccl/ccl_common.h"
#include "blocks/common/device.h"
#include "validation/mesh/mesh.h"

namespace ttt {

// The mathematics of the block.
struct AllGatherSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "all_gather";

  Mesh mesh{};   // The devices. The group size is mesh.axis_size(axis).
  int axis = 1;  // 0: within each column (over rows), 1: within each row (over columns).
  int dim = 0;   // The tensor dimension the shards are concatenated along. REQUIRES: >= 0.
  // The last dimension of the whole input a seeded call draws (suites; 0: unset). Not read by
  // forward(): any input fits the collective. docs/multi-device.md "Seeded collective inputs".
  std::int64_t width = 0;

  // Throws "[all_gather] spec.axis must be 0 (rows) or 1 (columns), got 2".
  void validate() const;
  // "ALL_GATHER(mesh=T3K,axis=1,dim=3)".
  std::string identity() const;
  bool operator==(const AllGatherSpec&) const = default;
};

// TTTv1's choices (ccl_common.h): topology ring on T3K, line elsewhere; 2 links on TG, else 1;
// bfloat16 output. Presets do not change collectives (TTTv1's presets change matmuls only).
CclImplConfig default_impl_config(const AllGatherSpec& spec, Device device, Mode mode);
CclImplConfig default_impl_config(const AllGatherSpec& spec, Device device, Mode mode,
                                  Preset preset);

// JSON: {"mesh": "T3K", "axis": 1, "dim": 3} (+ "width" when set); reading is strict.
void to_json(nlohmann::json& json, const AllGatherSpec& spec);
void from_json(const nlohmann::json& json, AllGatherSpec& spec);
void read_json(const JsonNode& node, AllGatherSpec& spec);

class AllGather {
 public:
  // Validates spec and config.
  AllGather(AllGatherSpec spec, CclImplConfig config);

  const AllGatherSpec& spec() const { return spec_; }
  const CclImplConfig& config() const { return config_; }

  // x on spec.mesh, shards [..., s, ...] (s at `dim`) -> shards [..., n * s, ...] in
  // config.output_dtype, for the devices this process holds. Throws std::invalid_argument naming
  // the mesh, the dim or the device for an input that does not fit the spec.
  MeshTensor forward(const MeshTensor& x) const;
  // A collective has no prefill/decode difference: both are forward().
  MeshTensor prefill_forward(const MeshTensor& x) const { return forward(x); }
  MeshTensor decode_forward(const MeshTensor& x) const { return forward(x); }

 private:
  AllGatherSpec spec_;
  CclImplConfig config_;
};

// The float64 reference: the composed result (every group's concatenation, composed over the
// mesh as the output's placements say).
Tensor all_gather_reference(const AllGatherSpec& spec, const MeshTensor& x);

}  // namespace ttt

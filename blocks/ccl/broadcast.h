// Broadcast along one mesh axis: every device of a row (axis 1) or column (axis 0) ends with the
// shard of the group's device at position `root` (TTNN's broadcast from a sender device; TTTv1
// sends the decode inputs of a user group from one chip).
//
// Device numerics: moving data is exact; the result is rounded once to config.output_dtype. The
// output is replicated along `axis` and keeps the input's placement on the other axis.
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
struct BroadcastSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "broadcast";

  Mesh mesh{};   // The devices. The group size is mesh.axis_size(axis).
  int axis = 1;  // 0: within each column (over rows), 1: within each row (over columns).
  int root = 0;  // The sender's position in its group. REQUIRES: 0 <= root < group size.
  // The last dimension of the whole input a seeded call draws (suites; 0: unset). Not read by
  // forward(): any input fits the collective. docs/multi-device.md "Seeded collective inputs".
  std::int64_t width = 0;

  // Throws "[broadcast] spec.root 8 is not a position on mesh T3K axis 1 (8 devices)".
  void validate() const;
  // "BROADCAST(mesh=T3K,axis=1,root=0)".
  std::string identity() const;
  bool operator==(const BroadcastSpec&) const = default;
};

// As all_gather's (ccl_common.h): ring on T3K, line elsewhere; 2 links on TG, else 1; bfloat16.
CclImplConfig default_impl_config(const BroadcastSpec& spec, Device device, Mode mode);
CclImplConfig default_impl_config(const BroadcastSpec& spec, Device device, Mode mode,
                                  Preset preset);

// JSON: {"mesh": "T3K", "axis": 1, "root": 0} (+ "width" when set); reading is strict.
void to_json(nlohmann::json& json, const BroadcastSpec& spec);
void from_json(const nlohmann::json& json, BroadcastSpec& spec);
void read_json(const JsonNode& node, BroadcastSpec& spec);

class Broadcast {
 public:
  // Validates spec and config.
  Broadcast(BroadcastSpec spec, CclImplConfig config);

  const BroadcastSpec& spec() const { return spec_; }
  const CclImplConfig& config() const { return config_; }

  // x on spec.mesh -> every device holds its group root's shard in config.output_dtype (for the
  // devices this process holds). Throws std::invalid_argument naming the mesh or the device.
  MeshTensor forward(const MeshTensor& x) const;
  // A collective has no prefill/decode difference: both are forward().
  MeshTensor prefill_forward(const MeshTensor& x) const { return forward(x); }
  MeshTensor decode_forward(const MeshTensor& x) const { return forward(x); }

 private:
  BroadcastSpec spec_;
  CclImplConfig config_;
};

// The float64 reference: the composed result.
Tensor broadcast_reference(const BroadcastSpec& spec, const MeshTensor& x);

}  // namespace ttt

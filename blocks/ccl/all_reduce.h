// All-reduce along one mesh axis: the n devices of a row (axis 1) or column (axis 0) each hold a
// partial tensor of one shape and all end with their sum. TTTv1 (tt-transformers tt_all_reduce)
// all-reduces row-parallel matmul outputs (the MLP's FF2, attention's WO) this way.
//
// Device numerics (docs/numerics.md "Collectives"): a reduce-scatter along `dim` (chunk c of n
// summed in ring or line order, rounded to config.reduce_dtype at every hop: reduce_scatter.h)
// followed by an all-gather of the chunks, rounded once to config.output_dtype. Every device of a
// group therefore holds identical bits. `dim` only says how the sum is chunked, which decides
// where each element's ring starts and so how it rounds. The output is replicated along `axis`
// and keeps the input's placement on the other axis.
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
struct AllReduceSpec {
  // The block kind traces and errors name.
  static constexpr std::string_view kind = "all_reduce";

  Mesh mesh{};   // The devices. The group size n is mesh.axis_size(axis).
  int axis = 1;  // 0: within each column (over rows), 1: within each row (over columns).
  int dim = 0;   // The tensor dimension the reduce-scatter chunks (TTTv1: 3, the hidden one).
                 // REQUIRES: >= 0; at forward time n must divide it.
  // The last dimension of the whole input a seeded call draws (suites; 0: unset). Not read by
  // forward(): any input fits the collective. docs/multi-device.md "Seeded collective inputs".
  std::int64_t width = 0;

  // Throws "[all_reduce] spec.axis must be 0 (rows) or 1 (columns), got 2".
  void validate() const;
  // "ALL_REDUCE(mesh=T3K,axis=1,dim=3)".
  std::string identity() const;
  bool operator==(const AllReduceSpec&) const = default;
};

// As reduce_scatter's (ccl_common.h): ring on T3K, line elsewhere; 1 link; partial sums in
// bfloat16 (bfloat8_b on TG); bfloat16 output. Presets do not change collectives.
CclReduceImplConfig default_impl_config(const AllReduceSpec& spec, Device device, Mode mode);
CclReduceImplConfig default_impl_config(const AllReduceSpec& spec, Device device, Mode mode,
                                        Preset preset);

// JSON: {"mesh": "T3K", "axis": 1, "dim": 3} (+ "width" when set); reading is strict.
void to_json(nlohmann::json& json, const AllReduceSpec& spec);
void from_json(const nlohmann::json& json, AllReduceSpec& spec);
void read_json(const JsonNode& node, AllReduceSpec& spec);

class AllReduce {
 public:
  // Validates spec and config; chooses the hop order of the topology once.
  AllReduce(AllReduceSpec spec, CclReduceImplConfig config);

  const AllReduceSpec& spec() const { return spec_; }
  const CclReduceImplConfig& config() const { return config_; }

  // x on spec.mesh -> the group's sum on every device (shape of a shard) in config.output_dtype,
  // for the devices this process holds. Throws std::invalid_argument naming the mesh, the dim or
  // the device for an input that does not fit the spec.
  MeshTensor forward(const MeshTensor& x) const;
  // A collective has no prefill/decode difference: both are forward().
  MeshTensor prefill_forward(const MeshTensor& x) const { return forward(x); }
  MeshTensor decode_forward(const MeshTensor& x) const { return forward(x); }

 private:
  AllReduceSpec spec_;
  CclReduceImplConfig config_;
  ccl_detail::HopOrder order_ = nullptr;
};

// The float64 reference: the composed result (each group's sum in double).
Tensor all_reduce_reference(const AllReduceSpec& spec, const MeshTensor& x);

}  // namespace ttt

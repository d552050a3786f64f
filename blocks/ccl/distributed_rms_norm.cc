#include "blocks/ccl/distributed_rms_norm.h"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "blocks/common/checks.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/normalization/row_sums.h"
#include "validation/mesh/transport.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

constexpr std::string_view kBlock = DistributedRmsNormSpec::kind;
constexpr const char* kBlockName = "distributed_rms_norm";

[[noreturn]] void fail(const std::string& message) { ccl_detail::fail(kBlock, message); }

// "mesh T3K axis 1 (8 devices)".
std::string axis_text(const DistributedRmsNormSpec& spec) {
  return "mesh " + mesh_name(spec.mesh) + " axis " + std::to_string(spec.axis) + " (" +
         std::to_string(spec.mesh.axis_size(spec.axis)) + " devices)";
}

// The position of `device` along `axis` (its column for axis 1, its row for axis 0).
int axis_position(const Mesh& mesh, int axis, int device) {
  return axis == 1 ? device % mesh.cols : device / mesh.cols;
}

// The input must lie as the spec says: on spec.mesh, its last (hidden) dimension split along
// spec.axis and not along the other axis, each shard holding dim / n of it. Undefined shards (of
// devices another process holds) are not read.
void check_input(const DistributedRmsNormSpec& spec, const MeshTensor& x) {
  const std::string mesh = mesh_name(spec.mesh);
  if (!(x.mesh == spec.mesh)) {
    fail("the input is on mesh " + mesh_name(x.mesh) + ", spec.mesh is " + mesh);
  }
  if (static_cast<int>(x.shards.size()) != spec.mesh.size()) {
    fail("the input has " + std::to_string(x.shards.size()) + " shards, mesh " + mesh + " has " +
         std::to_string(spec.mesh.size()) + " devices");
  }
  const MeshTransport& transport = mesh_transport();
  int rank = -1;
  for (int device = 0; device < spec.mesh.size(); ++device) {
    const Tensor& shard = x.shards[device];
    if (!shard.defined()) {
      if (transport.holds(spec.mesh, device)) {
        fail("mesh " + mesh + ": the shard of device " + std::to_string(device) + " is missing");
      }
      continue;
    }
    if (rank < 0) rank = static_cast<int>(shard.rank());
  }
  if (rank < 1) fail("mesh " + mesh + ": the input has no shard of rank >= 1");
  const Placement hidden = Placement::shard(rank - 1);
  if (!(x.placements[spec.axis] == hidden)) {
    fail("the input on " + axis_text(spec) + " is " + placement_name(x.placements[spec.axis]) +
         " along the axis, expected " + placement_name(hidden) + ": the hidden dim (spec.dim " +
         std::to_string(spec.dim) + ") split across the axis");
  }
  if (x.placements[1 - spec.axis] == hidden) {
    fail("the input on mesh " + mesh + " also splits the hidden dim along axis " +
         std::to_string(1 - spec.axis) + "; only spec.axis " + std::to_string(spec.axis) + " may");
  }
  const std::int64_t local = spec.dim / spec.mesh.axis_size(spec.axis);
  for (int device = 0; device < spec.mesh.size(); ++device) {
    const Tensor& shard = x.shards[device];
    if (!shard.defined()) continue;
    if (static_cast<int>(shard.rank()) != rank || shard.dim(rank - 1) != local) {
      fail("the shard of device " + std::to_string(device) + " has shape " +
           shape_to_string(shard.shape()) + ", expected [..., " + std::to_string(local) +
           "] (spec.dim " + std::to_string(spec.dim) + " split over " + axis_text(spec) + ")");
    }
  }
}

constexpr auto kConfigFields =
    std::tuple{json_optional("activation_dtype", &DistributedRmsNormImplConfig::activation_dtype),
               json_optional("weight_dtype", &DistributedRmsNormImplConfig::weight_dtype),
               json_optional("output_dtype", &DistributedRmsNormImplConfig::output_dtype),
               json_optional("accumulation", &DistributedRmsNormImplConfig::accumulation),
               json_optional("stats_dtype", &DistributedRmsNormImplConfig::stats_dtype),
               json_optional("all_gather", &DistributedRmsNormImplConfig::all_gather)};

// A group of one device exchanges nothing: its statistics stay float32, as RmsNorm's with
// stat_shards 1.
bool exchanges(const DistributedRmsNormSpec& spec) { return spec.mesh.axis_size(spec.axis) > 1; }

// The all-gather of the statistics, [rows, 1] per device, along dim 1. Validates the spec and the
// config first, so that their errors name this block rather than the all_gather.
AllGather make_gather(const DistributedRmsNormSpec& spec,
                      const DistributedRmsNormImplConfig& config) {
  spec.validate();
  config.validate(spec);
  CclImplConfig gather = config.all_gather;
  if (!exchanges(spec)) gather.output_dtype = DType::float32;
  return AllGather(AllGatherSpec{spec.mesh, spec.axis, 1}, gather);
}

}  // namespace

void DistributedRmsNormSpec::validate() const {
  ccl_detail::validate_mesh_axis(kBlock, {mesh, axis});
  if (dim <= 0) fail("spec.dim must be > 0, got " + std::to_string(dim));
  if (!std::isfinite(eps) || eps < 0.0) fail("spec.eps must be finite and >= 0");
  if (dim % mesh.axis_size(axis) != 0) {
    fail(axis_text(*this) + " does not divide spec.dim " + std::to_string(dim));
  }
}

std::string DistributedRmsNormSpec::identity() const {
  return Identity("DISTRIBUTED_RMS_NORM")
      .add("dim", dim)
      .add("eps", eps)
      .add("offset", add_unit_offset)
      .add("mesh", mesh_name(mesh))
      .add("axis", axis)
      .str();
}

void DistributedRmsNormImplConfig::validate(const DistributedRmsNormSpec&) const {
  for (const auto& [dtype, field] :
       {std::pair{activation_dtype, "activation_dtype"}, std::pair{weight_dtype, "weight_dtype"},
        std::pair{output_dtype, "output_dtype"}, std::pair{stats_dtype, "stats_dtype"}}) {
    if (!is_floating(dtype)) {
      fail(std::string("config.") + field + " is " + std::string(dtype_name(dtype)) +
           ", expected a floating dtype");
    }
  }
  all_gather.validate(kBlock);
  // The post-gather kernel reads the statistics as float32 values.
  if (!is_held_as_float32(all_gather.output_dtype)) {
    fail("config.all_gather.output_dtype is " + std::string(dtype_name(all_gather.output_dtype)) +
         ", expected float32, bfloat16, float16, bfloat8_b or bfloat4_b");
  }
}

DistributedRmsNormImplConfig default_impl_config(const DistributedRmsNormSpec& spec, Device device,
                                                 Mode) {
  DistributedRmsNormImplConfig config;
  // tt_distributed_rmsnorm: tt_all_gather(..., num_links=1, topology=ccl_topology()).
  config.all_gather.topology = ccl_detail::default_move_config(spec.mesh, device).topology;
  config.all_gather.num_links = 1;
  return config;
}

DistributedRmsNormImplConfig default_impl_config(const DistributedRmsNormSpec& spec, Device device,
                                                 Mode mode, Preset) {
  return default_impl_config(spec, device, mode);
}

void to_json(nlohmann::json& json, const DistributedRmsNormSpec& spec) {
  json = {{"dim", spec.dim}, {"eps", spec.eps}, {"add_unit_offset", spec.add_unit_offset}};
  json.update(ccl_detail::mesh_axis_json({spec.mesh, spec.axis}));
}

void read_json(const JsonNode& node, DistributedRmsNormSpec& spec) {
  node.allow_only({"dim", "eps", "add_unit_offset", "mesh", "axis"});
  ccl_detail::read_mesh_axis(node, spec.mesh, spec.axis);
  spec.dim = node.at("dim").integer();
  if (const auto eps = node.find("eps")) spec.eps = eps->number();
  if (const auto offset = node.find("add_unit_offset")) spec.add_unit_offset = offset->boolean();
}

void from_json(const nlohmann::json& json, DistributedRmsNormSpec& spec) {
  read_json(JsonNode(json, "distributed_rms_norm spec"), spec);
}

TTT_DEFINE_JSON_FIELDS(DistributedRmsNormImplConfig, "distributed_rms_norm impl_config",
                       kConfigFields)

void validate(const DistributedRmsNormSpec& spec, const DistributedRmsNormWeights& weights) {
  check_weight(kBlockName, "weight", weights.weight, {spec.dim});
}

DistributedRmsNorm::DistributedRmsNorm(DistributedRmsNormSpec spec,
                                       DistributedRmsNormImplConfig config,
                                       DistributedRmsNormWeights weights)
    : spec_(std::move(spec)), config_(config), gather_(make_gather(spec_, config_)) {
  validate(spec_, weights);
  sum_of_squares_ = norm_detail::sum_of_squares(config_.accumulation);
  round_intermediate_ = norm_detail::intermediate_rounding(config_.accumulation);
  exchanged_stats_dtype_ = exchanges(spec_) ? config_.stats_dtype : DType::float32;
  weight_ = norm_detail::prepared_rms_scale(std::move(weights.weight), spec_.add_unit_offset,
                                            config_.weight_dtype);
}

MeshTensor DistributedRmsNorm::prefill_forward(const MeshTensor& x) const {
  return forward(x, "prefill_forward", false);
}

MeshTensor DistributedRmsNorm::decode_forward(const MeshTensor& x) const {
  return forward(x, "decode_forward", true);
}

MeshTensor DistributedRmsNorm::forward(const MeshTensor& x, const char* forward_name,
                                       bool decode) const {
  check_input(spec_, x);
  const Mesh& mesh = spec_.mesh;
  const MeshTransport& transport = mesh_transport();
  const int n = mesh.axis_size(spec_.axis);
  const std::int64_t local = spec_.dim / n;

  // 1. Every held device's sums of squares, [rows, 1], rounded to the exchanged format.
  std::vector<Tensor> inputs(mesh.size());
  MeshTensor stats{mesh, {}, std::vector<Tensor>(mesh.size())};
  stats.placements[spec_.axis] = Placement::shard(1);
  for (int device = 0; device < mesh.size(); ++device) {
    if (!transport.holds(mesh, device)) continue;
    check_features_input(kBlockName, x.shards[device], local, forward_name,
                         decode ? InputRows::batch : InputRows::any);
    inputs[device] = ccl_detail::in_dtype(x.shards[device], config_.activation_dtype);
    const std::int64_t rows = inputs[device].numel() / local;
    const float* values = inputs[device].data<float>();
    std::vector<float> sums(static_cast<std::size_t>(rows));
    for (std::int64_t r = 0; r < rows; ++r) sums[r] = sum_of_squares_(values + r * local, local);
    stats.shards[device] = Tensor::from_floats({rows, 1}, std::move(sums), exchanged_stats_dtype_);
  }

  // 2. Every device of a group gets the group's statistics, [rows, n] in axis order.
  const MeshTensor gathered = gather_.forward(stats);

  // 3. Each device sums them in axis order and normalises its shard with its slice of the weight.
  const float* weight = weight_.get().data<float>();
  const float eps = static_cast<float>(spec_.eps);
  const float inverse_dim = 1.0f / static_cast<float>(spec_.dim);
  MeshTensor y{mesh, x.placements, std::vector<Tensor>(mesh.size())};
  for (int device = 0; device < mesh.size(); ++device) {
    if (!inputs[device].defined()) continue;
    const float* scale = weight + axis_position(mesh, spec_.axis, device) * local;
    const float* statistics = gathered.shards[device].data<float>();
    const float* in = inputs[device].data<float>();
    const std::int64_t rows = inputs[device].numel() / local;
    std::vector<float> out(static_cast<std::size_t>(inputs[device].numel()));
    for (std::int64_t r = 0; r < rows; ++r) {
      float sum = 0.0f;
      for (int k = 0; k < n; ++k) sum += statistics[r * n + k];
      norm_detail::rms_normalize_row(in + r * local, local, sum, inverse_dim, eps, scale,
                                     round_intermediate_, out.data() + r * local);
    }
    y.shards[device] =
        Tensor::from_floats(x.shards[device].shape(), std::move(out), config_.output_dtype);
  }
  return y;
}

Tensor distributed_rms_norm_reference(const DistributedRmsNormSpec& spec,
                                      const DistributedRmsNormWeights& weights,
                                      const MeshTensor& x) {
  spec.validate();
  validate(spec, weights);
  check_input(spec, x);
  MeshTensor whole = x;
  whole.shards = mesh_transport().all_gather_shards(x);
  return rms_norm_reference(spec.norm(), RmsNormWeights{weights.weight}, compose(whole));
}

}  // namespace ttt

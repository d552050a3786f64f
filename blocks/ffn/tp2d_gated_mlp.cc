#include "blocks/ffn/tp2d_gated_mlp.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "blocks/ccl/tensor_parallel.h"
#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "blocks/ffn/ffn_common.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

constexpr const char* kBlock = "tp2d_gated_mlp";
// TTTv1 (mlp.py) reduce-scatters the FF1/FF3 partials on TG in prefill and when dim == 8192 (the
// 70B models), else all-reduces them in decode.
constexpr std::int64_t kScatterHiddenDim = 8192;

ccl_detail::MeshAxis hidden_axis_of(const Tp2dGatedMlpSpec& spec) {
  return {spec.mesh, spec.hidden_axis};
}

ccl_detail::MeshAxis ffn_axis_of(const Tp2dGatedMlpSpec& spec) {
  return {spec.mesh, spec.ffn_axis()};
}

std::string axis_label(const Tp2dGatedMlpSpec& spec, int axis) {
  return "mesh " + mesh_name(spec.mesh) + " axis " + std::to_string(axis);
}

// x as the block needs it: split along its last (hidden) dimension on the hidden axis, replicated
// on the ffn axis (the devices of an ffn group sum partials of the same tokens), every held shard
// [..., hidden / H].
void check_split_input(const Tp2dGatedMlpSpec& spec, const MeshTensor& x, const char* forward,
                       InputRows rows) {
  tp_detail::check_input_shards(kBlock, spec.mesh, x);
  const int last = tp_detail::feature_dim(x);
  const Placement along = x.placements[spec.hidden_axis];
  if (along.kind != Placement::Kind::sharded || along.dim != last) {
    ccl_detail::fail(kBlock, "input x must be split along its hidden dimension (shard(" +
                                 std::to_string(last) + ")) on " +
                                 axis_label(spec, spec.hidden_axis) + " (the hidden axis), got " +
                                 placement_name(along));
  }
  const Placement other = x.placements[spec.ffn_axis()];
  if (other.kind != Placement::Kind::replicated) {
    ccl_detail::fail(kBlock,
                     "input x must be replicated along " + axis_label(spec, spec.ffn_axis()) +
                         " (the ffn axis: its devices sum partials of the same tokens), got " +
                         placement_name(other));
  }
  const std::int64_t width = spec.mlp.hidden_dim / spec.mesh.axis_size(spec.hidden_axis);
  for (const Tensor& shard : x.shards) {
    if (shard.defined()) check_features_input(kBlock, shard, width, forward, rows);
  }
}

// `x`'s leading shape with `width` columns, from rows x width values in `dtype`.
Tensor with_width(const Tensor& x, std::int64_t width, std::vector<float> values, DType dtype) {
  Shape shape = x.shape();
  shape.back() = width;
  return Tensor::from_floats(std::move(shape), std::move(values), dtype);
}

// rows x K values of `input` (already in the projection's activation dtype) times its weight.
Tensor project(const ffn_detail::ShardedProjection& projection, const Tensor& like,
               const std::vector<float>& input, std::int64_t width) {
  const std::int64_t rows = like.numel() / like.shape().back();
  std::vector<float> out(static_cast<std::size_t>(rows * width));
  projection.run(input.data(), rows, out.data());
  return with_width(like, width, std::move(out), projection.matmul().config().output_dtype);
}

// TTTv1's choices on top of the gated MLP's (possibly preset) matmul defaults.
Tp2dGatedMlpImplConfig tp2d_defaults(const GatedMlpImplConfig& mlp, const Tp2dGatedMlpSpec& spec,
                                     Device device, Mode mode) {
  Tp2dGatedMlpImplConfig config;
  config.ff1_ff3 = mlp.ff1_ff3;
  config.ff2 = mlp.ff2;
  config.ff1_ccl = ccl_detail::default_reduce_config(spec.mesh, device);
  config.ff2_ccl = config.ff1_ccl;
  if (device != Device::TG) return config;
  // mlp.py on Galaxy: FF1/FF3 output bfloat8_b; FF2 output in ccl_dtype (bfloat8_b).
  config.ff1_ff3.output_dtype = DType::bfloat8_b;
  config.ff2.output_dtype = DType::bfloat8_b;
  if (mode == Mode::prefill || spec.mlp.hidden_dim >= kScatterHiddenDim) {
    // reduce_scatter_minimal_async of the bfloat8_b partials (Topology.Linear, cluster_axis 1,
    // get_num_links(1) = 3 links for w1); the product is all-gathered back (exact).
    config.ff1_ccl.topology = Topology::line;
    config.ff1_ccl.num_links = 3;
    config.ff1_ccl.reduce_dtype = DType::bfloat8_b;
    config.ff1_ccl.output_dtype = DType::bfloat8_b;
  } else {
    // tt_all_reduce(cluster_axis=1, num_all_gather_links=2) at its default dtype bfloat16: the
    // partials are cast to bfloat16, all-gathered and summed.
    config.ff1_ccl.num_links = 2;
    config.ff1_ccl.reduce_dtype = DType::bfloat16;
    config.ff1_ccl.output_dtype = DType::bfloat16;
  }
  // tt_all_reduce(cluster_axis=0, dtype=ccl_dtype): partials and result in bfloat8_b.
  config.ff2_ccl.reduce_dtype = DType::bfloat8_b;
  config.ff2_ccl.output_dtype = DType::bfloat8_b;
  return config;
}

}  // namespace

void Tp2dGatedMlpSpec::validate() const {
  mlp.validate();
  if (hidden_axis != 0 && hidden_axis != 1) {
    ccl_detail::fail(kBlock, "spec.hidden_axis must be 0 (rows) or 1 (columns), got " +
                                 std::to_string(hidden_axis));
  }
  const ccl_detail::MeshAxis hidden{mesh, hidden_axis};
  const ccl_detail::MeshAxis ffn{mesh, ffn_axis()};
  tp_detail::check_divides(kBlock, ffn, mlp.ffn_dim, "spec.mlp.ffn_dim");
  tp_detail::check_divides(kBlock, hidden, mlp.hidden_dim, "spec.mlp.hidden_dim");
  // The FF1 all-reduce chunks a device's ffn slice over the hidden axis, the FF2 all-reduce its
  // hidden slice over the ffn axis.
  const int ffn_devices = mesh.axis_size(ffn_axis());
  const int hidden_devices = mesh.axis_size(hidden_axis);
  tp_detail::check_divides(
      kBlock, hidden, mlp.ffn_dim / ffn_devices,
      "the per-device slice spec.mlp.ffn_dim / " + std::to_string(ffn_devices) + " =");
  tp_detail::check_divides(
      kBlock, ffn, mlp.hidden_dim / hidden_devices,
      "the per-device slice spec.mlp.hidden_dim / " + std::to_string(hidden_devices) + " =");
}

std::string Tp2dGatedMlpSpec::identity() const {
  return Identity("TP2D_GATED_MLP")
      .add("hidden", mlp.hidden_dim)
      .add("ffn", mlp.ffn_dim)
      .add("act", activation_name(mlp.activation))
      .add("mesh", mesh_name(mesh))
      .add("hidden_axis", hidden_axis)
      .str();
}

void Tp2dGatedMlpImplConfig::validate(const Tp2dGatedMlpSpec&) const {
  ffn_detail::check_matmul_config(kBlock, "ff1_ff3", ff1_ff3);
  ffn_detail::check_matmul_config(kBlock, "ff2", ff2);
  ff1_ccl.validate(std::string_view("tp2d_gated_mlp.ff1_ccl"));
  ff2_ccl.validate(std::string_view("tp2d_gated_mlp.ff2_ccl"));
}

Tp2dGatedMlpImplConfig default_impl_config(const Tp2dGatedMlpSpec& spec, Device device, Mode mode) {
  return tp2d_defaults(default_impl_config(spec.mlp, device, mode), spec, device, mode);
}

Tp2dGatedMlpImplConfig default_impl_config(const Tp2dGatedMlpSpec& spec, Device device, Mode mode,
                                           Preset preset) {
  return tp2d_defaults(default_impl_config(spec.mlp, device, mode, preset), spec, device, mode);
}

void to_json(nlohmann::json& json, const Tp2dGatedMlpSpec& spec) {
  json = {{"mlp", spec.mlp}, {"mesh", mesh_name(spec.mesh)}, {"hidden_axis", spec.hidden_axis}};
}

void read_json(const JsonNode& node, Tp2dGatedMlpSpec& spec) {
  node.allow_only({"mlp", "mesh", "hidden_axis"});
  read_json(node.at("mlp"), spec.mlp);
  spec.mesh = ccl_detail::read_mesh(node);
  if (const auto axis = node.find("hidden_axis")) {
    spec.hidden_axis = static_cast<int>(axis->integer_in(0, 1));
  }
}

void from_json(const nlohmann::json& json, Tp2dGatedMlpSpec& spec) {
  read_json(JsonNode(json, "tp2d_gated_mlp spec"), spec);
}

namespace {

constexpr auto kConfigFields =
    std::tuple{json_optional("ff1_ff3", &Tp2dGatedMlpImplConfig::ff1_ff3),
               json_optional("ff2", &Tp2dGatedMlpImplConfig::ff2),
               json_optional("ff1_ccl", &Tp2dGatedMlpImplConfig::ff1_ccl),
               json_optional("ff2_ccl", &Tp2dGatedMlpImplConfig::ff2_ccl)};

}  // namespace

TTT_DEFINE_JSON_FIELDS(Tp2dGatedMlpImplConfig, "tp2d_gated_mlp impl_config", kConfigFields)

Tp2dGatedMlp::Tp2dGatedMlp(Tp2dGatedMlpSpec spec, Tp2dGatedMlpImplConfig config,
                           GatedMlpWeights weights)
    : spec_(std::move(spec)), config_(std::move(config)) {
  spec_.validate();
  config_.validate(spec_);
  validate(spec_.mlp, weights);
  const ccl_detail::MeshAxis hidden = hidden_axis_of(spec_);
  const ccl_detail::MeshAxis ffn = ffn_axis_of(spec_);
  // Device (f, h)'s block of a [rows_of, cols_of] weight: rows cut along `rows_axis`, columns
  // along the other axis.
  const auto cut = [](const WeightSource& weight, const ccl_detail::MeshAxis& rows_axis,
                      const ccl_detail::MeshAxis& cols_axis, int device) {
    return tp_detail::slice_weight(tp_detail::slice_weight(weight, 0, rows_axis, device), 1,
                                   cols_axis, device);
  };
  for (int device = 0; device < spec_.mesh.size(); ++device) {
    devices_.push_back(
        {ffn_detail::ShardedProjection(config_.ff1_ff3, cut(weights.w_gate, hidden, ffn, device),
                                       WeightSource(), 1, "tp2d_gated_mlp.w_gate"),
         ffn_detail::ShardedProjection(config_.ff1_ff3, cut(weights.w_up, hidden, ffn, device),
                                       WeightSource(), 1, "tp2d_gated_mlp.w_up"),
         ffn_detail::ShardedProjection(config_.ff2, cut(weights.w_down, ffn, hidden, device),
                                       WeightSource(), 1, "tp2d_gated_mlp.w_down")});
  }
  activation_ = activation_kernel(spec_.mlp.activation);
  ff1_reduce_ = tp_detail::partial_sum(hidden, true, config_.ff1_ccl);
  ff2_reduce_ = tp_detail::partial_sum(ffn, true, config_.ff2_ccl);
}

MeshTensor Tp2dGatedMlp::forward(const MeshTensor& x, const char* name, InputRows rows) const {
  check_split_input(spec_, x, name, rows);
  const int last = tp_detail::feature_dim(x);
  const std::int64_t ffn_width = spec_.mlp.ffn_dim / spec_.mesh.axis_size(spec_.ffn_axis());
  const std::int64_t hidden_width = spec_.mlp.hidden_dim / spec_.mesh.axis_size(spec_.hidden_axis);

  // FF1 and FF3: each device's partial sums over its hidden slice, split along ffn on the ffn axis.
  const auto ff1 = [&](ffn_detail::ShardedProjection Projections::*member) {
    MeshTensor partial = tp_detail::map_held_shards(x, [&](int device, const Tensor& shard) {
      const std::vector<float> input =
          ffn_detail::rows_in_dtype(shard.data<float>(), shard.numel() / hidden_width, hidden_width,
                                    config_.ff1_ff3.activation_dtype);
      return project(devices_[device].*member, shard, input, ffn_width);
    });
    partial.placements[spec_.ffn_axis()] = Placement::shard(last);
    return ff1_reduce_(partial, last);
  };
  const MeshTensor gate = ff1(&Projections::gate);
  const MeshTensor up = ff1(&Projections::up);

  // act(gate) * up on the device's ffn columns, then FF2: partial sums over them, split along
  // hidden on the hidden axis.
  MeshTensor partial = tp_detail::map_held_shards(gate, [&](int device, const Tensor& gate_shard) {
    std::vector<float> product(gate_shard.data<float>(),
                               gate_shard.data<float>() + gate_shard.numel());
    activation_(product);
    const float* up_values = up.shards[device].data<float>();
    for (std::size_t i = 0; i < product.size(); ++i) product[i] *= up_values[i];
    quantize_in_place(product, ffn_width, config_.ff2.activation_dtype);
    return project(devices_[device].down, gate_shard, product, hidden_width);
  });
  partial.placements[spec_.hidden_axis] = Placement::shard(last);
  return ff2_reduce_(partial, last);
}

MeshTensor Tp2dGatedMlp::prefill_forward(const MeshTensor& x) const {
  return forward(x, "prefill_forward", InputRows::any);
}

MeshTensor Tp2dGatedMlp::decode_forward(const MeshTensor& x) const {
  return forward(x, "decode_forward", InputRows::batch);
}

Tensor tp2d_gated_mlp_reference(const Tp2dGatedMlpSpec& spec, const GatedMlpWeights& weights,
                                const MeshTensor& x) {
  spec.validate();
  check_split_input(spec, x, "reference", InputRows::any);
  return gated_mlp_reference(spec.mlp, weights, tp_detail::compose_gathered(x));
}

}  // namespace ttt

#include "blocks/ccl/ccl_common.h"

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "blocks/common/identity.h"
#include "blocks/common/json_fields.h"
#include "validation/mesh/transport.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

constexpr auto kGatherFields =
    std::tuple{json_named("topology", &CclImplConfig::topology, topology_name, parse_topology),
               json_optional("num_links", &CclImplConfig::num_links),
               json_optional("output_dtype", &CclImplConfig::output_dtype)};

constexpr auto kReduceFields = std::tuple{
    json_named("topology", &CclReduceImplConfig::topology, topology_name, parse_topology),
    json_optional("num_links", &CclReduceImplConfig::num_links),
    json_optional("reduce_dtype", &CclReduceImplConfig::reduce_dtype),
    json_optional("output_dtype", &CclReduceImplConfig::output_dtype)};

void check_links(std::string_view block, int num_links) {
  // A Wormhole chip has at most 4 Ethernet links to a neighbour.
  if (num_links < 1 || num_links > 4) {
    ccl_detail::fail(block, "config.num_links must be 1..4, got " + std::to_string(num_links));
  }
}

void check_output_dtype(std::string_view block, DType dtype) {
  if (!is_floating(dtype)) {
    ccl_detail::fail(block, "config.output_dtype is " + std::string(dtype_name(dtype)) +
                                ", expected a floating dtype");
  }
}

std::string device_text(const Mesh& mesh, int device) {
  return "device " + std::to_string(device) + " (row " + std::to_string(device / mesh.cols) +
         ", col " + std::to_string(device % mesh.cols) + ")";
}

// A tensor's shape as outer x size x inner around `dim`.
struct Around {
  std::int64_t outer = 1;
  std::int64_t size = 1;
  std::int64_t inner = 1;
};

Around around(const Shape& shape, int dim) {
  Around result;
  for (int d = 0; d < dim; ++d) result.outer *= shape[d];
  result.size = shape[dim];
  for (std::size_t d = dim + 1; d < shape.size(); ++d) result.inner *= shape[d];
  return result;
}

Topology default_topology(const Mesh& mesh, Device device) {
  const bool ring_hardware = device == Device::T3K || device == Device::TG;
  return ring_hardware && mesh.size() == 8 ? Topology::ring : Topology::line;
}

int ring_hop(int chunk, int hop, int n) { return (chunk + 1 + hop) % n; }
int line_hop(int, int hop, int) { return hop; }

}  // namespace

std::string_view topology_name(Topology topology) {
  return topology == Topology::ring ? "ring" : "line";
}

Topology parse_topology(std::string_view name) {
  if (name == "ring") return Topology::ring;
  if (name == "line") return Topology::line;
  throw std::invalid_argument("unknown topology '" + std::string(name) +
                              "' (expected ring or line)");
}

void CclImplConfig::validate(std::string_view block) const {
  check_links(block, num_links);
  check_output_dtype(block, output_dtype);
}

void CclReduceImplConfig::validate(std::string_view block) const {
  check_links(block, num_links);
  // Partial sums are held as float32 between hops; float64 is the reference's, not a device's.
  if (!is_floating(reduce_dtype) || !is_held_as_float32(reduce_dtype)) {
    ccl_detail::fail(block, "config.reduce_dtype is " + std::string(dtype_name(reduce_dtype)) +
                                ", expected float32, bfloat16, float16, bfloat8_b or bfloat4_b");
  }
  check_output_dtype(block, output_dtype);
}

void to_json(nlohmann::json& json, const CclImplConfig& config) {
  write_json_fields(json, config, kGatherFields);
}
void read_json(const JsonNode& node, CclImplConfig& config) {
  read_json_fields(node, config, kGatherFields);
}
void from_json(const nlohmann::json& json, CclImplConfig& config) {
  read_json(JsonNode(json, "ccl impl_config"), config);
}
void to_json(nlohmann::json& json, const CclReduceImplConfig& config) {
  write_json_fields(json, config, kReduceFields);
}
void read_json(const JsonNode& node, CclReduceImplConfig& config) {
  read_json_fields(node, config, kReduceFields);
}
void from_json(const nlohmann::json& json, CclReduceImplConfig& config) {
  read_json(JsonNode(json, "ccl impl_config"), config);
}

namespace ccl_detail {

void fail(std::string_view block, const std::string& message) {
  throw std::invalid_argument("[" + std::string(block) + "] " + message);
}

void validate_mesh_axis(std::string_view block, const MeshAxis& spec) {
  if (spec.mesh.rows < 1 || spec.mesh.cols < 1) {
    fail(block, "spec.mesh must have >= 1 row and column, got " + std::to_string(spec.mesh.rows) +
                    "x" + std::to_string(spec.mesh.cols));
  }
  if (spec.axis != 0 && spec.axis != 1) {
    fail(block, "spec.axis must be 0 (rows) or 1 (columns), got " + std::to_string(spec.axis));
  }
}

nlohmann::json mesh_axis_json(const MeshAxis& spec) {
  return {{"mesh", mesh_name(spec.mesh)}, {"axis", spec.axis}};
}

Mesh read_mesh(const JsonNode& node) {
  const JsonNode mesh_node = node.at("mesh");
  try {
    return parse_mesh(mesh_node.string());
  } catch (const std::invalid_argument& error) {
    mesh_node.fail(error.what());
  }
}

nlohmann::json collective_json(const MeshAxis& spec, std::string_view field, int value,
                               std::int64_t width) {
  nlohmann::json json = mesh_axis_json(spec);
  json[std::string(field)] = value;
  if (width > 0) json["width"] = width;
  return json;
}

std::string collective_identity(std::string_view op, const MeshAxis& spec, std::string_view field,
                                int value, std::int64_t width) {
  Identity identity(op);
  identity.add("mesh", mesh_name(spec.mesh)).add("axis", spec.axis).add(field, value);
  if (width > 0) identity.add("width", width);
  return identity.str();
}

std::int64_t read_width(const JsonNode& node) {
  const auto width = node.find("width");
  return width ? width->integer_at_least(1) : 0;
}

void validate_width(std::string_view block, std::int64_t width) {
  if (width < 0) fail(block, "spec.width must be >= 0 (0: unset), got " + std::to_string(width));
}

void read_mesh_axis(const JsonNode& node, Mesh& mesh, int& axis) {
  mesh = read_mesh(node);
  if (const auto axis_node = node.find("axis")) {
    axis = static_cast<int>(axis_node->integer_in(0, 1));
  }
}

CclImplConfig default_move_config(const Mesh& mesh, Device device) {
  CclImplConfig config;
  config.topology = default_topology(mesh, device);
  config.num_links = device == Device::TG ? 2 : 1;
  return config;
}

CclReduceImplConfig default_reduce_config(const Mesh& mesh, Device device) {
  CclReduceImplConfig config;
  config.topology = default_topology(mesh, device);
  config.reduce_dtype = device == Device::TG ? DType::bfloat8_b : DType::bfloat16;
  return config;
}

int group_count(const Mesh& mesh, int axis) { return axis == 0 ? mesh.cols : mesh.rows; }

std::vector<int> group_devices(const Mesh& mesh, int axis, int group) {
  std::vector<int> devices;
  const int n = mesh.axis_size(axis);
  devices.reserve(n);
  for (int position = 0; position < n; ++position) {
    devices.push_back(axis == 1 ? group * mesh.cols + position : position * mesh.cols + group);
  }
  return devices;
}

std::vector<Tensor> gather_checked(std::string_view block, const MeshAxis& spec,
                                   const MeshTensor& x, int dim, bool divide) {
  const std::string mesh = mesh_name(spec.mesh);
  if (!(x.mesh == spec.mesh)) {
    fail(block, "the input is on mesh " + mesh_name(x.mesh) + ", spec.mesh is " + mesh);
  }
  std::vector<Tensor> shards;
  try {
    shards = mesh_transport().all_gather_shards(x);
  } catch (const std::invalid_argument& error) {
    fail(block, std::string("input: ") + error.what());
  }
  if (static_cast<int>(shards.size()) != spec.mesh.size()) {
    fail(block, "mesh " + mesh + " has " + std::to_string(spec.mesh.size()) +
                    " devices, the transport gathered " + std::to_string(shards.size()) +
                    " shards");
  }
  for (int device = 0; device < spec.mesh.size(); ++device) {
    const Tensor& shard = shards[device];
    if (!shard.defined()) {
      fail(block, "mesh " + mesh + ": the shard of " + device_text(spec.mesh, device) +
                      " is missing");
    }
    if (!is_floating(shard.dtype())) {
      fail(block, "mesh " + mesh + ": the shard of " + device_text(spec.mesh, device) + " is " +
                      std::string(dtype_name(shard.dtype())) + ", expected a floating dtype");
    }
    if (shard.shape() != shards[0].shape()) {
      fail(block, "mesh " + mesh + ": the shard of " + device_text(spec.mesh, device) +
                      " has shape " + shape_to_string(shard.shape()) + ", device 0's has " +
                      shape_to_string(shards[0].shape()));
    }
  }
  const Shape& shape = shards[0].shape();
  if (dim >= static_cast<int>(shape.size())) {
    fail(block, "spec.dim " + std::to_string(dim) + " is not a dimension of the input shards " +
                    shape_to_string(shape) + " on mesh " + mesh);
  }
  const int n = spec.mesh.axis_size(spec.axis);
  if (divide && shape[dim] % n != 0) {
    fail(block, "mesh " + mesh + " axis " + std::to_string(spec.axis) + " (" + std::to_string(n) +
                    " devices) does not divide dim " + std::to_string(dim) + " (size " +
                    std::to_string(shape[dim]) + ") of the input shards " +
                    shape_to_string(shape));
  }
  return shards;
}

Tensor slice(const Tensor& tensor, int dim, std::int64_t begin, std::int64_t count) {
  const Around shape = around(tensor.shape(), dim);
  Shape sliced = tensor.shape();
  sliced[dim] = count;
  // A block-float slice may cut blocks: its values come back exactly, as float32.
  const DType dtype = is_block_float(tensor.dtype()) ? DType::float32 : tensor.dtype();
  Tensor result(sliced, dtype);
  const std::size_t element = element_size(dtype);
  const std::size_t run = static_cast<std::size_t>(count * shape.inner) * element;
  const auto* from = static_cast<const unsigned char*>(tensor.bytes());
  auto* to = static_cast<unsigned char*>(result.mutable_bytes());
  for (std::int64_t o = 0; o < shape.outer; ++o) {
    std::memcpy(to + o * run, from + ((o * shape.size + begin) * shape.inner) * element, run);
  }
  return result;
}

Tensor concat(const std::vector<Tensor>& parts, int dim) {
  Shape shape = parts[0].shape();
  shape[dim] = 0;
  for (const Tensor& part : parts) shape[dim] += part.dim(dim);
  const DType dtype = is_block_float(parts[0].dtype()) ? DType::float32 : parts[0].dtype();
  Tensor result(shape, dtype);
  const Around whole = around(shape, dim);
  const std::size_t element = element_size(dtype);
  auto* to = static_cast<unsigned char*>(result.mutable_bytes());
  std::int64_t offset = 0;
  for (const Tensor& part : parts) {
    const std::size_t run = static_cast<std::size_t>(part.dim(dim) * whole.inner) * element;
    const auto* from = static_cast<const unsigned char*>(part.bytes());
    for (std::int64_t o = 0; o < whole.outer; ++o) {
      std::memcpy(to + ((o * whole.size + offset) * whole.inner) * element, from + o * run, run);
    }
    offset += part.dim(dim);
  }
  return result;
}

HopOrder hop_order(Topology topology) {
  return topology == Topology::ring ? ring_hop : line_hop;
}

Tensor in_dtype(const Tensor& tensor, DType dtype) {
  return tensor.dtype() == dtype ? tensor : tensor.to(dtype);
}

std::vector<Tensor> reduce_scatter_group(const std::vector<Tensor>& inputs, int dim,
                                         DType reduce_dtype, HopOrder order) {
  const int n = static_cast<int>(inputs.size());
  std::vector<Tensor> sent;
  sent.reserve(n);
  for (const Tensor& input : inputs) sent.push_back(in_dtype(input, reduce_dtype));
  const std::int64_t chunk = inputs[0].dim(dim) / n;
  std::vector<Tensor> chunks;
  chunks.reserve(n);
  for (int c = 0; c < n; ++c) {
    Tensor first = slice(sent[order(c, 0, n)], dim, c * chunk, chunk);
    std::vector<float> acc(first.floats().begin(), first.floats().end());
    const std::int64_t row_length = first.shape().empty() ? 1 : first.shape().back();
    for (int hop = 1; hop < n; ++hop) {
      const Tensor part = slice(sent[order(c, hop, n)], dim, c * chunk, chunk);
      const std::span<const float> values = part.floats();
      for (std::size_t i = 0; i < acc.size(); ++i) acc[i] += values[i];
      quantize_in_place(acc, row_length, reduce_dtype);
    }
    chunks.push_back(Tensor::from_floats(first.shape(), std::move(acc), reduce_dtype));
  }
  return chunks;
}

std::vector<Tensor> reduce_scatter_group_reference(const std::vector<Tensor>& inputs, int dim) {
  const int n = static_cast<int>(inputs.size());
  const std::int64_t chunk = inputs[0].dim(dim) / n;
  std::vector<Tensor> chunks;
  chunks.reserve(n);
  for (int c = 0; c < n; ++c) {
    Tensor sum;
    for (const Tensor& input : inputs) {
      const Tensor part = slice(input, dim, c * chunk, chunk).to(DType::float64);
      if (!sum.defined()) {
        sum = part;
        continue;
      }
      double* acc = sum.data<double>();
      const std::span<const double> values = part.doubles();
      for (std::size_t i = 0; i < values.size(); ++i) acc[i] += values[i];
    }
    chunks.push_back(std::move(sum));
  }
  return chunks;
}

MeshTensor per_group(const MeshAxis& spec, const MeshTensor& x,
                     const std::vector<Tensor>& gathered, Placement along_axis, bool held_only,
                     const GroupResult& compute) {
  MeshTensor result{spec.mesh, x.placements, std::vector<Tensor>(spec.mesh.size())};
  result.placements[spec.axis] = along_axis;
  const MeshTransport& transport = mesh_transport();
  for (int group = 0; group < group_count(spec.mesh, spec.axis); ++group) {
    const std::vector<int> devices = group_devices(spec.mesh, spec.axis, group);
    std::vector<bool> wanted(devices.size());
    bool any = false;
    for (std::size_t p = 0; p < devices.size(); ++p) {
      wanted[p] = !held_only || transport.holds(spec.mesh, devices[p]);
      any = any || wanted[p];
    }
    if (!any) continue;
    std::vector<Tensor> inputs;
    inputs.reserve(devices.size());
    for (const int device : devices) inputs.push_back(gathered[device]);
    std::vector<Tensor> results = compute(inputs);
    for (std::size_t p = 0; p < devices.size(); ++p) {
      if (wanted[p]) result.shards[devices[p]] = std::move(results[p]);
    }
  }
  return result;
}

}  // namespace ccl_detail
}  // namespace ttt

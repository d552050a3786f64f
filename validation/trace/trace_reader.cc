#include "validation/trace/trace_reader.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <utility>
#include <map>
#include <nlohmann/json.hpp>

#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/trace/internal/common.h"
#include "validation/trace/internal/h5.h"
#include "validation/trace/internal/tensor_io.h"

namespace ttt {
namespace {

using trace_internal::NodeSource;

// Containers nest ("kv/0"); deeper nesting than this is a malformed (or cyclic) file.
constexpr int kMaxContainerDepth = 8;

bool is_decimal(const std::string& text, std::size_t max_digits) {
  return !text.empty() && text.size() <= max_digits &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Container elements "0", "1", ..., "10" in index order; other names in HDF5's name order.
void sort_members(std::vector<std::string>& names) {
  const bool all_indices = std::all_of(names.begin(), names.end(),
                                       [](const std::string& name) { return is_decimal(name, 9); });
  if (all_indices) {
    std::stable_sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return std::stoll(a) < std::stoll(b);
    });
  }
}

std::string required_string(hid_t object, const char* name, const h5::Where& where) {
  std::optional<std::string> value = h5::read_string_attribute(object, name, where);
  if (!value) h5::fail(where, "missing attribute '" + std::string(name) + "'");
  return *value;
}

std::string json_attribute(hid_t object, const char* name, const h5::Where& where,
                           bool must_be_object) {
  std::string text = h5::read_string_attribute(object, name, where).value_or("{}");
  nlohmann::json parsed;
  try {
    parsed = parse_json(text, "attribute '" + std::string(name) + "'");
  } catch (const std::invalid_argument& error) {
    h5::fail(where, std::string(error.what()) + " ('" + text.substr(0, 80) + "')");
  }
  if (must_be_object && !parsed.is_object()) {
    h5::fail(where, "attribute '" + std::string(name) + "' is not a JSON object");
  }
  return text;
}

// A mesh tensor's mesh and placements from its group's attributes (docs/trace-format.md "Mesh
// tensors"). Fails naming the group and the attribute for a mesh or placement this reader does
// not know.
std::pair<Mesh, std::array<Placement, 2>> mesh_layout(hid_t group, const h5::Where& where) {
  const std::string mesh_text = required_string(group, "ttt_mesh", where);
  const std::string placements_text = required_string(group, "ttt_placements", where);
  Mesh mesh;
  try {
    mesh = parse_mesh(mesh_text);
  } catch (const std::invalid_argument& error) {
    h5::fail(where, std::string("attribute 'ttt_mesh': ") + error.what());
  }
  nlohmann::json list;
  try {
    list = parse_json(placements_text, "attribute 'ttt_placements'");
  } catch (const std::invalid_argument& error) {
    h5::fail(where, error.what());
  }
  try {
    if (!list.is_array() || list.size() != 2 || !list[0].is_string() || !list[1].is_string()) {
      throw std::invalid_argument(
          "expected a JSON array of two placement names (rows, columns), got " + placements_text);
    }
    return {mesh, {parse_placement(list[0].get<std::string>()),
                   parse_placement(list[1].get<std::string>())}};
  } catch (const std::invalid_argument& error) {
    h5::fail(where, std::string("attribute 'ttt_placements': ") + error.what());
  }
}

}  // namespace

struct TraceReader::Impl {
  std::string path;
  h5::FileId file;
  TraceHeader header;
  // Filled on first use.
  mutable std::optional<std::vector<std::int64_t>> sequence;
  mutable std::map<std::int64_t, std::string> group_names;  // seq -> name under /calls.
  mutable std::optional<std::map<haddr_t, std::string>> shared_by_address;

  h5::Where where(const std::string& object) const { return {path, object}; }

  const std::map<haddr_t, std::string>& shared_addresses() const {
    if (!shared_by_address) {
      std::map<haddr_t, std::string> addresses;
      if (h5::link_exists(file.get(), "tensors", where("/tensors"))) {
        h5::GroupId tensors = h5::open_group(file.get(), "tensors", where("/tensors"));
        for (const std::string& key : h5::link_names(tensors.get(), where("/tensors"))) {
          addresses.emplace(h5::object_info(tensors.get(), key, where("/tensors/" + key)).address,
                            key);
        }
      }
      shared_by_address = std::move(addresses);
    }
    return *shared_by_address;
  }

  TraceTensor describe(const std::string& name, const std::string& tensor_path,
                       const h5::ObjectInfo& info) const {
    const trace_internal::TensorNode node =
        trace_internal::describe_tensor_node(file.get(), path, tensor_path);
    TraceTensor tensor;
    tensor.name = name;
    tensor.path = tensor_path;
    tensor.shape = node.shape;
    tensor.dtype = node.dtype;
    tensor.source =
        node.source == NodeSource::generator ? TensorSource::generator : TensorSource::dataset;
    tensor.stored_type = node.stored_type;
    tensor.stored_bytes = node.stored_bytes;
    if (info.link_count > 1) {
      const auto& shared = shared_addresses();
      if (const auto it = shared.find(info.address); it != shared.end()) {
        tensor.shared_key = it->second;
      }
    }
    return tensor;
  }

  // A mesh tensor's group: its shards 0 .. n-1 (datasets or generator nodes, nothing else), one
  // shape and dtype, placements that name dimensions of the shards.
  TraceTensor describe_mesh(const std::string& name, const std::string& group_path,
                            hid_t group) const {
    const h5::Where at = where(group_path);
    const auto [mesh, placements] = mesh_layout(group, at);
    TraceTensor tensor;
    tensor.name = name;
    tensor.path = group_path;
    tensor.mesh = std::to_string(mesh.rows) + "x" + std::to_string(mesh.cols);
    for (const Placement& placement : placements) {
      tensor.placements.push_back(placement_name(placement));
    }
    const std::size_t members = h5::link_names(group, at).size();
    if (members != static_cast<std::size_t>(mesh.size())) {
      h5::fail(at, "mesh " + tensor.mesh + " has " + std::to_string(mesh.size()) +
                       " devices but the group holds " + std::to_string(members) +
                       " members (the shards 0.." + std::to_string(mesh.size() - 1) + ")");
    }
    for (int device = 0; device < mesh.size(); ++device) {
      const std::string member = std::to_string(device);
      const std::string shard_path = group_path + "/" + member;
      if (!h5::link_exists(group, member, where(shard_path))) {
        h5::fail(at, "the shard of device " + member + " is missing");
      }
      TraceTensor shard =
          describe(name + "/" + member, shard_path, h5::object_info(group, member, where(shard_path)));
      const TraceTensor* first = tensor.shards.empty() ? &shard : &tensor.shards.front();
      if (shard.shape != first->shape || shard.dtype != first->dtype) {
        h5::fail(where(shard_path), "shard " + shape_to_string(shard.shape) + " " +
                                        std::string(dtype_name(shard.dtype)) +
                                        " differs from device 0's " +
                                        shape_to_string(first->shape) + " " +
                                        std::string(dtype_name(first->dtype)));
      }
      tensor.stored_bytes += shard.stored_bytes;
      tensor.shards.push_back(std::move(shard));
    }
    const TraceTensor& first = tensor.shards.front();
    tensor.shape = first.shape;
    tensor.dtype = first.dtype;
    tensor.source = first.source;
    tensor.stored_type = first.stored_type;
    for (int axis = 0; axis < 2; ++axis) {
      if (placements[axis].kind != Placement::Kind::sharded) continue;
      if (placements[axis].dim >= static_cast<int>(tensor.shape.size())) {
        h5::fail(at, "mesh " + tensor.mesh + " axis " + std::to_string(axis) +
                         " shards dimension " + std::to_string(placements[axis].dim) +
                         ", but the shards have rank " + std::to_string(tensor.shape.size()));
      }
      tensor.shape[placements[axis].dim] *= mesh.axis_size(axis);
    }
    return tensor;
  }

  // Lists the tensors under `group_path` (inputs, outputs or reference), containers flattened.
  void list_tensors(const std::string& group_path, const std::string& prefix, int depth,
                    std::vector<TraceTensor>& out) const {
    if (depth > kMaxContainerDepth) {
      h5::fail(where(group_path),
               "containers nest deeper than " + std::to_string(kMaxContainerDepth) + " levels");
    }
    h5::GroupId group = h5::open_group(file.get(), group_path, where(group_path));
    std::vector<std::string> names = h5::link_names(group.get(), where(group_path));
    sort_members(names);
    for (const std::string& member : names) {
      const std::string member_path = group_path + "/" + member;
      if (h5::link_kind(group.get(), member, where(member_path)) ==
          h5::LinkKind::external_or_other) {
        h5::fail(where(member_path),
                 "is an external or user-defined link, which traces do not use");
      }
      const h5::ObjectInfo info = h5::object_info(group.get(), member, where(member_path));
      const std::string name = prefix + member;
      if (info.type == H5O_TYPE_DATASET) {
        out.push_back(describe(name, member_path, info));
      } else if (info.type == H5O_TYPE_GROUP) {
        h5::GroupId child = h5::open_group(group.get(), member, where(member_path));
        if (trace_internal::is_generator_node(child.get(), path, member_path)) {
          out.push_back(describe(name, member_path, info));
        } else if (h5::has_attribute(child.get(), "ttt_mesh", where(member_path))) {
          out.push_back(describe_mesh(name, member_path, child.get()));
        } else {
          list_tensors(member_path, name + "/", depth + 1, out);
        }
      } else {
        h5::fail(where(member_path), "is neither a dataset nor a group");
      }
    }
  }

  std::vector<TraceTensor> tensors_under(hid_t call_group, const std::string& call_path,
                                         const char* member) const {
    std::vector<TraceTensor> tensors;
    const std::string group_path = call_path + "/" + member;
    if (!h5::link_exists(call_group, member, where(group_path))) return tensors;
    const h5::ObjectInfo info = h5::object_info(call_group, member, where(group_path));
    if (info.type != H5O_TYPE_GROUP) h5::fail(where(group_path), "is not a group");
    list_tensors(group_path, "", 0, tensors);
    return tensors;
  }

  std::string group_name_of(std::int64_t seq) const {
    const std::string canonical = trace_internal::call_group_path(seq).substr(7);
    if (h5::link_exists(file.get(), "/calls", where("/calls")) &&
        h5::link_exists(file.get(), "/calls/" + canonical, where("/calls/" + canonical))) {
      return canonical;
    }
    list_sequence();
    const auto it = group_names.find(seq);
    if (it == group_names.end()) {
      h5::fail(where(trace_internal::call_group_path(seq)),
               "no such call (the trace has " + std::to_string(sequence->size()) + " calls)");
    }
    return it->second;
  }

  const std::vector<std::int64_t>& list_sequence() const {
    if (sequence) return *sequence;
    std::vector<std::int64_t> numbers;
    if (h5::link_exists(file.get(), "calls", where("/calls"))) {
      h5::GroupId calls = h5::open_group(file.get(), "calls", where("/calls"));
      for (const std::string& name : h5::link_names(calls.get(), where("/calls"))) {
        if (!is_decimal(name, 18)) {
          h5::fail(where("/calls/" + name),
                   "call group names must be decimal sequence numbers (e.g. 000012)");
        }
        const std::int64_t seq = std::stoll(name);
        if (!group_names.emplace(seq, name).second) {
          h5::fail(where("/calls/" + name), "sequence number " + std::to_string(seq) +
                                                " appears twice (also /calls/" + group_names[seq] +
                                                ")");
        }
        numbers.push_back(seq);
      }
    }
    std::sort(numbers.begin(), numbers.end());
    sequence = std::move(numbers);
    return *sequence;
  }
};

TraceReader::TraceReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TraceReader::TraceReader(TraceReader&&) noexcept = default;
TraceReader& TraceReader::operator=(TraceReader&&) noexcept = default;
TraceReader::~TraceReader() = default;

TraceReader TraceReader::open(const std::string& path) {
  const std::string journal = path + std::string(trace_internal::kJournalSuffix);
  if (::access(journal.c_str(), F_OK) == 0) {
    throw TraceError(path, "",
                     "the journal of an unfinished capture is beside it (" + journal +
                         "): the capture is still running, or was killed; once it is not "
                         "running, run `ttt trace recover " +
                         path + "`");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = h5::open_file_read_only(path);
  const hid_t root = impl->file.get();
  const h5::Where where{path, "/"};
  const std::optional<std::string> format = h5::read_string_attribute(root, "ttt_format", where);
  if (!format) {
    h5::fail(where,
             "not a ttt trace: the root has no attribute 'ttt_format' (an HDF5 file "
             "written by something else?)");
  }
  if (*format != trace_internal::kFormatName) {
    h5::fail(where, "not a ttt trace: attribute 'ttt_format' is \"" + *format +
                        "\", expected \"ttt-trace\"");
  }
  const std::optional<std::int64_t> version =
      h5::read_int_attribute(root, "ttt_format_version", where);
  if (!version) h5::fail(where, "missing attribute 'ttt_format_version'");
  if (*version > kTraceFormatVersion) {
    h5::fail(where, "ttt_format_version " + std::to_string(*version) +
                        " is newer than this reader understands (" +
                        std::to_string(kTraceFormatVersion) + "): upgrade tttv2");
  }
  if (*version < 1) {
    h5::fail(where, "ttt_format_version " + std::to_string(*version) + " is not a valid version");
  }
  impl->header.format = *format;
  impl->header.format_version = *version;
  impl->header.producer = h5::read_string_attribute(root, "producer", where).value_or("");
  impl->header.created_utc = h5::read_string_attribute(root, "created_utc", where).value_or("");
  impl->header.meta_json = h5::read_string_attribute(root, "meta", where).value_or("{}");
  if (h5::read_string_attribute(root, "config", where)) {
    impl->header.config_json = json_attribute(root, "config", where, true);
  }
  return TraceReader(std::move(impl));
}

const std::string& TraceReader::path() const { return impl_->path; }
const TraceHeader& TraceReader::header() const { return impl_->header; }

const std::vector<std::int64_t>& TraceReader::sequence_numbers() const {
  return impl_->list_sequence();
}

TraceCall TraceReader::call(std::int64_t seq) const {
  const Impl& impl = *impl_;
  TraceCall call;
  call.seq = seq;
  call.path = "/calls/" + impl.group_name_of(seq);
  const h5::Where where = impl.where(call.path);
  h5::GroupId group = h5::open_group(impl.file.get(), call.path, where);
  const hid_t id = group.get();
  call.name = required_string(id, "name", where);
  call.block = required_string(id, "block", where);
  call.spec_json = json_attribute(id, "spec", where, false);
  call.impl_config_json = json_attribute(id, "impl_config", where, false);
  call.device = h5::read_string_attribute(id, "device", where).value_or("");
  call.scalars_json = json_attribute(id, "scalars", where, true);
  call.device_ns = h5::read_int_attribute(id, "device_ns", where).value_or(0);
  call.reference_ns = h5::read_int_attribute(id, "reference_ns", where).value_or(-1);
  call.verdict = h5::read_string_attribute(id, "verdict", where).value_or("unchecked");
  if (call.verdict != "pass" && call.verdict != "fail" && call.verdict != "unchecked") {
    h5::fail(where,
             "attribute 'verdict' is \"" + call.verdict + "\", expected pass, fail or unchecked");
  }
  call.metrics_json = json_attribute(id, "metrics", where, false);
  if (h5::read_string_attribute(id, "fingerprint", where)) {
    const nlohmann::json fingerprint =
        nlohmann::json::parse(json_attribute(id, "fingerprint", where, true));
    try {
      call.fingerprint = fingerprint_from_json(JsonNode(fingerprint, "attribute 'fingerprint'"));
    } catch (const std::invalid_argument& error) {
      h5::fail(where, error.what());
    }
  }
  call.inputs = impl.tensors_under(id, call.path, "inputs");
  call.outputs = impl.tensors_under(id, call.path, "outputs");
  call.reference_outputs = impl.tensors_under(id, call.path, "reference");
  return call;
}

Tensor TraceReader::read(const TraceTensor& tensor) const {
  if (tensor.shards.empty()) return read(tensor.path);
  const MeshTensor mesh = read_mesh(tensor);
  try {
    return compose(mesh);
  } catch (const std::invalid_argument& error) {
    h5::fail(impl_->where(tensor.path), error.what());
  }
}

MeshTensor TraceReader::read_mesh(const TraceTensor& tensor) const {
  const h5::Where at = impl_->where(tensor.path);
  if (tensor.shards.empty()) h5::fail(at, "is not a mesh tensor");
  h5::GroupId group = h5::open_group(impl_->file.get(), tensor.path, at);
  const auto [mesh, placements] = mesh_layout(group.get(), at);
  MeshTensor result{mesh, placements, {}};
  for (const TraceTensor& shard : tensor.shards) result.shards.push_back(read(shard.path));
  return result;
}

Tensor TraceReader::read(const std::string& path) const {
  return trace_internal::read_tensor_node(impl_->file.get(), impl_->path, path);
}

NamedTensor TraceReader::read_named(const TraceTensor& tensor) const {
  if (tensor.shards.empty()) return {tensor.name, read(tensor)};
  auto mesh = std::make_shared<const MeshTensor>(read_mesh(tensor));
  try {
    return {tensor.name, compose(*mesh), mesh};
  } catch (const std::invalid_argument& error) {
    h5::fail(impl_->where(tensor.path), error.what());
  }
}

std::vector<NamedTensor> TraceReader::read_all(const std::vector<TraceTensor>& tensors) const {
  std::vector<NamedTensor> values;
  values.reserve(tensors.size());
  for (const TraceTensor& tensor : tensors) values.push_back(read_named(tensor));
  return values;
}

std::vector<SharedTensor> TraceReader::shared_tensors() const {
  const Impl& impl = *impl_;
  std::vector<SharedTensor> shared;
  if (!h5::link_exists(impl.file.get(), "tensors", impl.where("/tensors"))) return shared;
  h5::GroupId tensors = h5::open_group(impl.file.get(), "tensors", impl.where("/tensors"));
  for (const std::string& key : h5::link_names(tensors.get(), impl.where("/tensors"))) {
    const std::string tensor_path = "/tensors/" + key;
    const h5::ObjectInfo info = h5::object_info(tensors.get(), key, impl.where(tensor_path));
    SharedTensor entry;
    entry.tensor = impl.describe(key, tensor_path, info);
    entry.tensor.shared_key = key;
    entry.links = static_cast<std::int64_t>(info.link_count) - 1;
    shared.push_back(std::move(entry));
  }
  return shared;
}

}  // namespace ttt

#include "validation/trace/internal/tensor_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>

#include "validation/input/allocation_limit.h"
#include "validation/tensor/random.h"
#include "validation/trace/internal/h5.h"
#include "validation/trace/trace_error.h"

namespace ttt::trace_internal {
namespace {

const char* type_class_name(H5T_class_t type_class) {
  switch (type_class) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "floating-point";
    case H5T_TIME:
      return "time";
    case H5T_STRING:
      return "string";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_COMPOUND:
      return "compound";
    case H5T_REFERENCE:
      return "reference";
    case H5T_ENUM:
      return "enum";
    case H5T_VLEN:
      return "variable-length";
    case H5T_ARRAY:
      return "array";
    default:
      return "unknown";
  }
}

// The stored type name of a dataset, or a TraceError saying what is supported.
std::string stored_type_of(const h5::DatasetInfo& info, const h5::Where& where) {
  if (info.type_class == H5T_FLOAT && info.type_size == 4) return "float32";
  if (info.type_class == H5T_FLOAT && info.type_size == 8) return "float64";
  if (info.type_class == H5T_INTEGER && info.is_signed && info.type_size == 4) return "int32";
  if (info.type_class == H5T_INTEGER && info.is_signed && info.type_size == 8) return "int64";
  std::string found = std::to_string(info.type_size * 8) + "-bit " +
                      (info.type_class == H5T_INTEGER && !info.is_signed ? "unsigned " : "") +
                      type_class_name(info.type_class);
  std::string hint;
  if (info.type_class == H5T_FLOAT && info.type_size == 2) {
    hint = "; the trace format stores float16 values as float32 with ttt_dtype = \"float16\"";
  }
  h5::fail(where, "unsupported dataset type (" + found +
                      "); supported: float32, float64, int32, int64" + hint);
}

std::optional<DType> logical_dtype_attribute(hid_t object, const h5::Where& where) {
  const std::optional<std::string> name = h5::read_string_attribute(object, "ttt_dtype", where);
  if (!name) return std::nullopt;
  try {
    return parse_dtype(*name);
  } catch (const std::invalid_argument&) {
    h5::fail(where, "attribute 'ttt_dtype' = \"" + *name +
                        "\" is not a dtype (float32, float16, bfloat16, bfloat8_b, bfloat4_b, "
                        "int32, int64, float64)");
  }
}

DType logical_dtype_of_dataset(hid_t dataset, const std::string& stored, const h5::Where& where) {
  const bool stored_float = stored == "float32" || stored == "float64";
  const std::optional<DType> declared = logical_dtype_attribute(dataset, where);
  if (!declared) {
    // A float64 dataset without ttt_dtype (h5py's default for numpy float64 data) keeps its
    // precision.
    if (stored_float) return stored == "float64" ? DType::float64 : DType::float32;
    return stored == "int32" ? DType::int32 : DType::int64;
  }
  if (is_floating(*declared) != stored_float) {
    h5::fail(where, "attribute 'ttt_dtype' = \"" + std::string(dtype_name(*declared)) +
                        "\" contradicts the dataset's " + stored + " values");
  }
  return *declared;
}

Shape checked_shape(const std::vector<std::int64_t>& dims, const h5::Where& where) {
  if (dims.size() > static_cast<std::size_t>(kMaxRank)) {
    h5::fail(where, "attribute 'shape' has rank " + std::to_string(dims.size()) + ", more than " +
                        std::to_string(kMaxRank));
  }
  std::int64_t numel = 1;
  for (const std::int64_t dim : dims) {
    if (dim < 0) h5::fail(where, "attribute 'shape' has a negative dimension");
    if (dim > 0 && numel > std::numeric_limits<std::int64_t>::max() / dim) {
      h5::fail(where, "attribute 'shape' " + shape_to_string(dims) + " has too many elements");
    }
    numel *= dim;
  }
  return dims;
}

// Refuses `numel` values of `value_bytes` each that the allocation limit does not allow, before
// anything is allocated: "trace.h5: /calls/000001/inputs/x: shape [2147483648] of float32 needs
// 8.0 GiB ...".
void require_allocatable(const Shape& shape, std::size_t value_bytes, const std::string& type,
                         const h5::Where& where) {
  try {
    check_allocation(bytes_of(static_cast<std::uint64_t>(shape_numel(shape)), value_bytes),
                     "shape " + shape_to_string(shape) + " of " + type);
  } catch (const std::invalid_argument& error) {
    h5::fail(where, error.what());
  }
}

// A generator node's description.
struct GeneratorNode {
  std::string generator;
  std::uint64_t seed = 0;
  Shape shape;
  DType dtype = DType::float32;
  double a = 0.0;  // mean or low
  double b = 1.0;  // std or high
};

GeneratorNode read_generator(hid_t group, const h5::Where& where) {
  GeneratorNode node;
  node.generator = h5::read_string_attribute(group, "ttt_generator", where).value_or("");
  const bool normal = node.generator == "splitmix64-normal";
  const bool uniform = node.generator == "splitmix64-uniform";
  const bool integers = node.generator == "splitmix64-integers";
  if (!normal && !uniform && !integers) {
    h5::fail(where, "unknown ttt_generator \"" + node.generator +
                        "\" (known: splitmix64-normal, splitmix64-uniform, splitmix64-integers)");
  }
  const auto seed = h5::read_uint_attribute(group, "seed", where);
  if (!seed) h5::fail(where, "generator node has no attribute 'seed'");
  node.seed = *seed;
  const auto shape = h5::read_int_array_attribute(group, "shape", where);
  if (!shape) h5::fail(where, "generator node has no attribute 'shape'");
  node.shape = checked_shape(*shape, where);
  node.dtype =
      logical_dtype_attribute(group, where).value_or(integers ? DType::int64 : DType::float32);
  if (is_floating(node.dtype) == integers) {
    h5::fail(where, "ttt_dtype \"" + std::string(dtype_name(node.dtype)) + "\" does not suit " +
                        node.generator);
  }
  require_allocatable(node.shape, element_size(node.dtype), std::string(dtype_name(node.dtype)),
                      where);
  const char* first = normal ? "mean" : "low";
  const char* second = normal ? "std" : "high";
  const auto a = h5::read_number_attribute(group, first, where);
  const auto b = h5::read_number_attribute(group, second, where);
  if (integers && (!a || !b)) {
    h5::fail(where, "splitmix64-integers needs attributes 'low' and 'high'");
  }
  node.a = a.value_or(0.0);
  node.b = b.value_or(1.0);
  if (!std::isfinite(node.a) || !std::isfinite(node.b)) {
    h5::fail(where, std::string("attributes '") + first + "' and '" + second + "' must be finite");
  }
  if (normal && node.b < 0.0) h5::fail(where, "attribute 'std' is negative");
  if (!normal && !(node.a < node.b)) {
    h5::fail(where, "attribute 'low' must be below 'high'");
  }
  if (integers && (node.a != std::floor(node.a) || node.b != std::floor(node.b) ||
                   std::fabs(node.a) > 9.0e18 || std::fabs(node.b) > 9.0e18)) {
    h5::fail(where, "attributes 'low' and 'high' of splitmix64-integers must be integers");
  }
  return node;
}

Tensor generate(const GeneratorNode& node) {
  if (node.generator == "splitmix64-integers") {
    return random_integers(node.shape, node.seed, static_cast<std::int64_t>(node.a),
                           static_cast<std::int64_t>(node.b), node.dtype);
  }
  const Distribution distribution =
      node.generator == "splitmix64-normal" ? Distribution::normal : Distribution::uniform;
  return random_tensor(node.shape, RandomSpec{distribution, node.seed, node.a, node.b}, node.dtype);
}

// Floating values declared in a narrower dtype must already be values of that dtype.
void require_representable(const std::vector<float>& values, const Shape& shape, DType dtype,
                           const h5::Where& where) {
  if (dtype == DType::float32) return;
  const Tensor rounded = Tensor::from_floats(shape, values, dtype);
  const std::span<const float> expected = rounded.floats();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float value = values[i];
    if (std::isnan(value) && std::isnan(expected[i])) continue;
    if (std::memcmp(&value, &expected[i], sizeof(float)) != 0) {
      const std::vector<std::int64_t> index = unflatten_index(shape, static_cast<std::int64_t>(i));
      h5::fail(where, "value " + std::to_string(value) + " at " + shape_to_string(index) +
                          " is not exactly representable in " + std::string(dtype_name(dtype)) +
                          " (ttt_dtype); store the " + std::string(dtype_name(dtype)) +
                          " values themselves");
    }
  }
}

// A dataset's declared shape must be backed by the file: an unfiltered dataset stores every value
// (a 1 KB file declaring 2^31 values with no chunks written is refused here, not after 8 GiB are
// committed). A filtered one may compress any amount into few bytes; the allocation limit bounds
// it.
void require_backed_by_file(const h5::DatasetInfo& info, const std::string& stored, DType dtype,
                            const h5::Where& where) {
  const std::int64_t numel = shape_numel(info.shape, "trace dataset");
  const std::uint64_t declared = bytes_of(static_cast<std::uint64_t>(numel), info.type_size);
  if (!info.filtered && static_cast<std::uint64_t>(info.storage_bytes) < declared) {
    h5::fail(where, "shape " + shape_to_string(info.shape) + " of " + stored + " declares " +
                        std::to_string(declared) + " bytes but the file stores " +
                        std::to_string(info.storage_bytes) +
                        " for the dataset (unwritten chunks or a truncated file)");
  }
  require_allocatable(info.shape, std::max(info.type_size, element_size(dtype)), stored, where);
}

Tensor read_dataset_tensor(hid_t dataset, const h5::DatasetInfo& info, const std::string& stored,
                           DType dtype, const h5::Where& where) {
  require_backed_by_file(info, stored, dtype, where);
  const std::int64_t numel = shape_numel(info.shape, "trace dataset");
  const auto count = static_cast<std::size_t>(numel);
  if (dtype == DType::float64) {
    std::vector<double> values(count);  // float32 data widens exactly.
    if (count > 0) h5::read_dataset(dataset, H5T_NATIVE_DOUBLE, values.data(), where);
    return Tensor::from_doubles(info.shape, std::move(values));
  }
  if (is_floating(dtype)) {
    std::vector<float> values(count);
    if (stored == "float64") {
      std::vector<double> wide(count);
      if (count > 0) h5::read_dataset(dataset, H5T_NATIVE_DOUBLE, wide.data(), where);
      for (std::size_t i = 0; i < count; ++i) {
        values[i] = static_cast<float>(wide[i]);
        // A float64 dataset declared as a float32-held dtype must hold float32 values: never
        // round silently.
        if (static_cast<double>(values[i]) != wide[i] && !std::isnan(wide[i])) {
          const std::vector<std::int64_t> index =
              unflatten_index(info.shape, static_cast<std::int64_t>(i));
          char text[32];
          std::snprintf(text, sizeof(text), "%.17g", wide[i]);
          h5::fail(where, "float64 value " + std::string(text) + " at " +
                              shape_to_string(index) + " is not exactly representable in " +
                              std::string(dtype_name(dtype)) +
                              " (ttt_dtype); drop ttt_dtype to read the values as float64");
        }
      }
    } else if (count > 0) {
      h5::read_dataset(dataset, H5T_NATIVE_FLOAT, values.data(), where);
    }
    require_representable(values, info.shape, dtype, where);
    return Tensor::from_floats(info.shape, std::move(values), dtype);
  }
  std::vector<std::int64_t> values(count);
  if (count > 0) h5::read_dataset(dataset, H5T_NATIVE_INT64, values.data(), where);
  if (dtype == DType::int64) return Tensor::from_int64(info.shape, std::move(values));
  std::vector<std::int32_t> narrow(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (values[i] < std::numeric_limits<std::int32_t>::min() ||
        values[i] > std::numeric_limits<std::int32_t>::max()) {
      h5::fail(where, "value " + std::to_string(values[i]) + " at flat index " + std::to_string(i) +
                          " does not fit ttt_dtype int32");
    }
    narrow[i] = static_cast<std::int32_t>(values[i]);
  }
  return Tensor::from_int32(info.shape, std::move(narrow));
}

struct OpenedNode {
  H5O_type_t type = H5O_TYPE_UNKNOWN;
  h5::DatasetId dataset;
  h5::GroupId group;
};

OpenedNode open_node(hid_t file_id, const std::string& file, const std::string& path) {
  require_path(file_id, file, path);
  const h5::Where where{file, path};
  OpenedNode node;
  node.type = h5::object_info(file_id, path, where).type;
  if (node.type == H5O_TYPE_DATASET) {
    node.dataset = h5::open_dataset(file_id, path, where);
  } else if (node.type == H5O_TYPE_GROUP) {
    node.group = h5::open_group(file_id, path, where);
    if (!is_generator_node(node.group.get(), file, path)) {
      const std::vector<std::string> members = h5::link_names(node.group.get(), where);
      std::string listed;
      for (std::size_t i = 0; i < members.size() && i < 8; ++i) {
        listed += (i == 0 ? "" : ", ") + members[i];
      }
      if (members.size() > 8) listed += ", ...";
      h5::fail(where, "is a group, not a dataset (members: " +
                          (listed.empty() ? std::string("none") : listed) + ")");
    }
  } else {
    h5::fail(where, "is neither a dataset nor a group");
  }
  return node;
}

}  // namespace

bool is_generator_node(hid_t group, const std::string& file, const std::string& path) {
  return h5::has_attribute(group, "ttt_generator", {file, path});
}

void require_path(hid_t file_id, const std::string& file, const std::string& path) {
  const h5::Where where{file, path};
  if (path.empty() || path[0] != '/') h5::fail(where, "the path inside the file must start with /");
  std::string walked;
  std::size_t start = 1;
  while (start < path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    if (part.empty()) h5::fail(where, "the path has an empty component");
    const std::string parent = walked.empty() ? "/" : walked;
    walked += "/" + part;
    if (!h5::link_exists(file_id, walked, where)) {
      h5::fail(where, "does not exist ('" + parent + "' has no member '" + part + "')");
    }
    if (h5::link_kind(file_id, walked, where) == h5::LinkKind::external_or_other) {
      h5::fail({file, walked}, "is an external or user-defined link, which traces do not use");
    }
    start = end + 1;
  }
}

TensorNode describe_tensor_node(hid_t file_id, const std::string& file, const std::string& path) {
  const h5::Where where{file, path};
  OpenedNode node = open_node(file_id, file, path);
  TensorNode described;
  if (node.type == H5O_TYPE_GROUP) {
    const GeneratorNode generator = read_generator(node.group.get(), where);
    described.source = NodeSource::generator;
    described.shape = generator.shape;
    described.dtype = generator.dtype;
    described.stored_type = generator.generator;
    return described;
  }
  const h5::DatasetInfo info = h5::dataset_info(node.dataset.get(), where);
  if (info.is_null) h5::fail(where, "dataset has a null dataspace (no values)");
  described.stored_type = stored_type_of(info, where);
  described.dtype = logical_dtype_of_dataset(node.dataset.get(), described.stored_type, where);
  described.shape = info.shape;
  described.stored_bytes = info.storage_bytes;
  return described;
}

Tensor read_tensor_node(hid_t file_id, const std::string& file, const std::string& path) {
  const h5::Where where{file, path};
  OpenedNode node = open_node(file_id, file, path);
  if (node.type == H5O_TYPE_GROUP) return generate(read_generator(node.group.get(), where));
  const h5::DatasetInfo info = h5::dataset_info(node.dataset.get(), where);
  if (info.is_null) h5::fail(where, "dataset has a null dataspace (no values)");
  const std::string stored = stored_type_of(info, where);
  const DType dtype = logical_dtype_of_dataset(node.dataset.get(), stored, where);
  return read_dataset_tensor(node.dataset.get(), info, stored, dtype, where);
}

}  // namespace ttt::trace_internal

#include "validation/trace/internal/h5.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "validation/trace/trace_error.h"

namespace ttt::h5 {
namespace {

// Collects the descriptions of an error stack, outermost (the API call) first.
herr_t collect_description(unsigned /*position*/, const H5E_error2_t* error, void* out) {
  auto* descriptions = static_cast<std::vector<std::string>*>(out);
  if (error->desc != nullptr && error->desc[0] != '\0') descriptions->emplace_back(error->desc);
  return 0;
}

// HDF5's file driver describes a failed system call at length, over two lines ("file write failed:
// time = ..., filename = ..., errno = 28, error message = 'No space left on device', buf = 0x...,
// ..."): keeps what failed and why, "file write failed: No space left on device".
std::string shorten_system_error(const std::string& text) {
  constexpr std::string_view kMarker = "error message = '";
  const std::size_t marker = text.find(kMarker);
  if (marker == std::string::npos) return text;
  const std::size_t start = marker + kMarker.size();
  const std::size_t end = text.find('\'', start);
  if (end == std::string::npos) return text;
  return text.substr(0, text.find_first_of(":,")) + ": " + text.substr(start, end - start);
}

// The innermost description names the cause ("object 'x' doesn't exist", "truncated file: ...").
std::string error_stack_text() {
  std::vector<std::string> descriptions;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_description, &descriptions);
  H5Eclear2(H5E_DEFAULT);
  if (descriptions.empty()) return "HDF5 reported no detail";
  return shorten_system_error(descriptions.back());
}

std::vector<hsize_t> to_hsize(const std::vector<std::int64_t>& values) {
  return {values.begin(), values.end()};
}

// A one-element dataspace (scalar, or simple with one element), as attributes hold.
void require_single_value(hid_t attribute, const char* name, const Where& where) {
  SpaceId space(
      call(where, "read the dataspace of attribute " + std::string(name), H5Aget_space, attribute));
  const hssize_t count = call(where, "count the values of attribute " + std::string(name),
                              H5Sget_simple_extent_npoints, space.get());
  if (count != 1) {
    fail(where, "attribute '" + std::string(name) + "' holds " + std::to_string(count) +
                    " values, expected a single value");
  }
}

struct OpenedAttribute {
  AttributeId attribute;
  TypeId type;
  H5T_class_t type_class = H5T_NO_CLASS;
};

std::optional<OpenedAttribute> open_attribute(hid_t object, const char* name, const Where& where) {
  if (!has_attribute(object, name, where)) return std::nullopt;
  OpenedAttribute opened;
  opened.attribute = AttributeId(
      call(where, "open attribute " + std::string(name), H5Aopen, object, name, H5P_DEFAULT));
  opened.type = TypeId(call(where, "read the type of attribute " + std::string(name), H5Aget_type,
                            opened.attribute.get()));
  opened.type_class = call(where, "read the type class of attribute " + std::string(name),
                           H5Tget_class, opened.type.get());
  return opened;
}

[[noreturn]] void wrong_attribute_type(const char* name, const char* expected, const Where& where) {
  fail(where, "attribute '" + std::string(name) + "' is not " + expected);
}

}  // namespace

void fail(const Where& where, std::string_view message) {
  throw TraceError(std::string(where.file), std::string(where.object), std::string(message));
}

void fail_with_stack(const Where& where, std::string_view action) {
  fail(where, "cannot " + std::string(action) + ": " + error_stack_text());
}

void silence_errors() {
  thread_local bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

namespace {

// Runs before HDF5's exit handler (exit handlers run in reverse order of registration, and this
// one is registered after HDF5 initialised) and ends the process with the status it was given.
void exit_before_hdf5(int status, void*) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::_exit(status);
}

}  // namespace

void after_failed_file_close() {
  static std::once_flag registered;
  std::call_once(registered, [] { ::on_exit(exit_before_hdf5, nullptr); });
}

// ---- Files -----------------------------------------------------------------------------------

FileId create_file(const std::string& path) {
  const Where where{path, ""};
  PropertyListId access(call(where, "create a file access list", H5Pcreate, H5P_FILE_ACCESS));
  call(where, "set the file format version", H5Pset_libver_bounds, access.get(), H5F_LIBVER_V18,
       H5F_LIBVER_LATEST);
  // Metadata in larger blocks: fewer, bigger writes per flushed call.
  call(where, "set the metadata block size", H5Pset_meta_block_size, access.get(), hsize_t{65536});
  return FileId(call(where, "create the file", H5Fcreate, path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT,
                     access.get()));
}

FileId open_file_read_only(const std::string& path) {
  const Where where{path, ""};
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) {
    fail(where, std::string("cannot open the file: ") + std::strerror(errno));
  }
  if (!S_ISREG(status.st_mode)) fail(where, "not a regular file");
  silence_errors();
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 == 0) fail(where, "not an HDF5 file (no HDF5 signature found)");
  if (is_hdf5 < 0) fail_with_stack(where, "check for an HDF5 signature");
  return FileId(
      call(where, "open the HDF5 file", H5Fopen, path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
}

// ---- Groups and links ------------------------------------------------------------------------

WriterIds make_writer_ids(const Where& where) {
  const std::string action = "prepare the writer's types";
  WriterIds ids;
  ids.utf8_string = TypeId(call(where, action, H5Tcopy, H5T_C_S1));
  call(where, action, H5Tset_size, ids.utf8_string.get(), H5T_VARIABLE);
  call(where, action, H5Tset_cset, ids.utf8_string.get(), H5T_CSET_UTF8);
  ids.scalar = SpaceId(call(where, action, H5Screate, H5S_SCALAR));
  ids.group_creation = PropertyListId(call(where, action, H5Pcreate, H5P_GROUP_CREATE));
  call(where, action, H5Pset_attr_phase_change, ids.group_creation.get(), kCompactAttributes,
       kCompactAttributes * 3 / 4);
  ids.contiguous_dataset_creation =
      PropertyListId(call(where, action, H5Pcreate, H5P_DATASET_CREATE));
  const hid_t contiguous = ids.contiguous_dataset_creation.get();
  call(where, action, H5Pset_fill_time, contiguous, H5D_FILL_TIME_NEVER);
  call(where, action, H5Pset_layout, contiguous, H5D_CONTIGUOUS);
  call(where, action, H5Pset_alloc_time, contiguous, H5D_ALLOC_TIME_EARLY);
  return ids;
}

GroupId create_group(hid_t parent, const std::string& name, const WriterIds& ids,
                     const Where& where) {
  return GroupId(call(where, "create group", H5Gcreate2, parent, name.c_str(), H5P_DEFAULT,
                      ids.group_creation.get(), H5P_DEFAULT));
}

GroupId open_group(hid_t parent, const std::string& name, const Where& where) {
  return GroupId(call(where, "open group", H5Gopen2, parent, name.c_str(), H5P_DEFAULT));
}

DatasetId open_dataset(hid_t parent, const std::string& name, const Where& where) {
  return DatasetId(call(where, "open dataset", H5Dopen2, parent, name.c_str(), H5P_DEFAULT));
}

bool link_exists(hid_t group, const std::string& name, const Where& where) {
  return call(where, "look up link " + name, H5Lexists, group, name.c_str(), H5P_DEFAULT) > 0;
}

void create_hard_link(hid_t file, const std::string& target, hid_t link_group,
                      const std::string& link_name, const Where& where) {
  call(where, "create a hard link to " + target, H5Lcreate_hard, file, target.c_str(), link_group,
       link_name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
}

namespace {
herr_t collect_link_name(hid_t /*group*/, const char* name, const H5L_info_t* /*info*/, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> link_names(hid_t group, const Where& where) {
  std::vector<std::string> names;
  call(where, "list the group's links", H5Literate, group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
       collect_link_name, &names);
  return names;
}

LinkKind link_kind(hid_t group, const std::string& name, const Where& where) {
  H5L_info_t info{};
  call(where, "read link " + name, H5Lget_info, group, name.c_str(), &info, H5P_DEFAULT);
  if (info.type == H5L_TYPE_HARD) return LinkKind::hard;
  if (info.type == H5L_TYPE_SOFT) return LinkKind::soft;
  return LinkKind::external_or_other;
}

ObjectInfo object_info(hid_t parent, const std::string& name, const Where& where) {
  H5O_info_t info{};
  call(where, "read the object header", H5Oget_info_by_name2, parent, name.c_str(), &info,
       H5O_INFO_BASIC, H5P_DEFAULT);
  return {info.type, info.addr, info.rc};
}

// ---- Attributes ------------------------------------------------------------------------------

bool has_attribute(hid_t object, const char* name, const Where& where) {
  return call(where, "look up attribute " + std::string(name), H5Aexists, object, name) > 0;
}

namespace {
void write_scalar_attribute(hid_t object, const char* name, hid_t type, const void* value,
                            const WriterIds& ids, const Where& where) {
  const std::string action = "write attribute " + std::string(name);
  AttributeId attribute(call(where, action, H5Acreate2, object, name, type, ids.scalar.get(),
                             H5P_DEFAULT, H5P_DEFAULT));
  call(where, action, H5Awrite, attribute.get(), type, value);
}
}  // namespace

void write_attribute(hid_t object, const char* name, std::string_view value, const WriterIds& ids,
                     const Where& where) {
  const std::string text(value);
  const char* pointer = text.c_str();
  write_scalar_attribute(object, name, ids.utf8_string.get(), &pointer, ids, where);
}

void write_attribute(hid_t object, const char* name, std::int64_t value, const WriterIds& ids,
                     const Where& where) {
  write_scalar_attribute(object, name, H5T_STD_I64LE, &value, ids, where);
}

void write_attribute(hid_t object, const char* name, double value, const WriterIds& ids,
                     const Where& where) {
  write_scalar_attribute(object, name, H5T_IEEE_F64LE, &value, ids, where);
}

void write_attribute(hid_t object, const char* name, const std::vector<std::int64_t>& values,
                     const Where& where) {
  const std::string action = "write attribute " + std::string(name);
  const hsize_t count = values.size();
  SpaceId space(call(where, action, H5Screate_simple, 1, &count, nullptr));
  AttributeId attribute(call(where, action, H5Acreate2, object, name, H5T_STD_I64LE, space.get(),
                             H5P_DEFAULT, H5P_DEFAULT));
  call(where, action, H5Awrite, attribute.get(), H5T_NATIVE_INT64, values.data());
}

std::optional<std::string> read_string_attribute(hid_t object, const char* name,
                                                 const Where& where) {
  auto opened = open_attribute(object, name, where);
  if (!opened) return std::nullopt;
  if (opened->type_class != H5T_STRING) wrong_attribute_type(name, "a string", where);
  require_single_value(opened->attribute.get(), name, where);
  const std::string action = "read attribute " + std::string(name);
  const H5T_cset_t charset = H5Tget_cset(opened->type.get());
  TypeId memory(call(where, action, H5Tcopy, H5T_C_S1));
  call(where, action, H5Tset_cset, memory.get(),
       charset == H5T_CSET_UTF8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
  if (call(where, action, H5Tis_variable_str, opened->type.get()) > 0) {
    call(where, action, H5Tset_size, memory.get(), H5T_VARIABLE);
    char* text = nullptr;
    call(where, action, H5Aread, opened->attribute.get(), memory.get(), &text);
    std::string value = text != nullptr ? std::string(text) : std::string();
    H5free_memory(text);
    return value;
  }
  const std::size_t size = H5Tget_size(opened->type.get());
  if (size == 0) fail_with_stack(where, action);
  call(where, action, H5Tset_size, memory.get(), size);
  call(where, action, H5Tset_strpad, memory.get(), H5T_STR_NULLPAD);
  std::string value(size, '\0');
  call(where, action, H5Aread, opened->attribute.get(), memory.get(), value.data());
  value.resize(std::strlen(value.c_str()));
  if (H5Tget_strpad(opened->type.get()) == H5T_STR_SPACEPAD) {
    value.erase(value.find_last_not_of(' ') + 1);
  }
  return value;
}

std::optional<std::int64_t> read_int_attribute(hid_t object, const char* name, const Where& where) {
  auto opened = open_attribute(object, name, where);
  if (!opened) return std::nullopt;
  if (opened->type_class != H5T_INTEGER) wrong_attribute_type(name, "an integer", where);
  require_single_value(opened->attribute.get(), name, where);
  const std::string action = "read attribute " + std::string(name);
  if (H5Tget_sign(opened->type.get()) == H5T_SGN_NONE && H5Tget_size(opened->type.get()) >= 8) {
    std::uint64_t value = 0;
    call(where, action, H5Aread, opened->attribute.get(), H5T_NATIVE_UINT64, &value);
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(where, "attribute '" + std::string(name) + "' value " + std::to_string(value) +
                      " does not fit a signed 64-bit integer");
    }
    return static_cast<std::int64_t>(value);
  }
  std::int64_t value = 0;
  call(where, action, H5Aread, opened->attribute.get(), H5T_NATIVE_INT64, &value);
  return value;
}

std::optional<std::uint64_t> read_uint_attribute(hid_t object, const char* name,
                                                 const Where& where) {
  auto opened = open_attribute(object, name, where);
  if (!opened) return std::nullopt;
  if (opened->type_class != H5T_INTEGER) wrong_attribute_type(name, "an integer", where);
  require_single_value(opened->attribute.get(), name, where);
  const std::string action = "read attribute " + std::string(name);
  if (H5Tget_sign(opened->type.get()) == H5T_SGN_NONE) {
    std::uint64_t value = 0;
    call(where, action, H5Aread, opened->attribute.get(), H5T_NATIVE_UINT64, &value);
    return value;
  }
  std::int64_t value = 0;
  call(where, action, H5Aread, opened->attribute.get(), H5T_NATIVE_INT64, &value);
  if (value < 0) {
    fail(where, "attribute '" + std::string(name) + "' is negative (" + std::to_string(value) +
                    "), expected an unsigned integer");
  }
  return static_cast<std::uint64_t>(value);
}

std::optional<double> read_number_attribute(hid_t object, const char* name, const Where& where) {
  auto opened = open_attribute(object, name, where);
  if (!opened) return std::nullopt;
  if (opened->type_class != H5T_FLOAT && opened->type_class != H5T_INTEGER) {
    wrong_attribute_type(name, "a number", where);
  }
  require_single_value(opened->attribute.get(), name, where);
  double value = 0.0;
  call(where, "read attribute " + std::string(name), H5Aread, opened->attribute.get(),
       H5T_NATIVE_DOUBLE, &value);
  return value;
}

std::optional<std::vector<std::int64_t>> read_int_array_attribute(hid_t object, const char* name,
                                                                  const Where& where) {
  auto opened = open_attribute(object, name, where);
  if (!opened) return std::nullopt;
  const std::string action = "read attribute " + std::string(name);
  SpaceId space(call(where, action, H5Aget_space, opened->attribute.get()));
  const H5S_class_t space_class = H5Sget_simple_extent_type(space.get());
  if (space_class == H5S_NULL) return std::vector<std::int64_t>{};
  const int rank = call(where, action, H5Sget_simple_extent_ndims, space.get());
  if (rank > 1) fail(where, "attribute '" + std::string(name) + "' is not a 1-D array");
  const hssize_t count = call(where, action, H5Sget_simple_extent_npoints, space.get());
  if (count == 0 && (opened->type_class == H5T_INTEGER || opened->type_class == H5T_FLOAT)) {
    return std::vector<std::int64_t>{};  // h5py writes `()` as an empty float64 array.
  }
  if (opened->type_class != H5T_INTEGER) wrong_attribute_type(name, "an integer array", where);
  if (count > 64) {
    fail(where, "attribute '" + std::string(name) + "' holds " + std::to_string(count) +
                    " values, too many for a shape");
  }
  std::vector<std::int64_t> values(static_cast<std::size_t>(count));
  call(where, action, H5Aread, opened->attribute.get(), H5T_NATIVE_INT64, values.data());
  return values;
}

// ---- Datasets --------------------------------------------------------------------------------

StoredType stored_type_for(DType dtype) {
  if (dtype == DType::int32) return StoredType::int32;
  if (dtype == DType::int64) return StoredType::int64;
  if (dtype == DType::float64) return StoredType::float64;
  return StoredType::float32;
}

std::string_view stored_type_name(StoredType type) {
  switch (type) {
    case StoredType::float32:
      return "float32";
    case StoredType::int32:
      return "int32";
    case StoredType::int64:
      return "int64";
    case StoredType::float64:
      return "float64";
  }
  return "float32";
}

StoredType parse_stored_type(std::string_view name) {
  if (name == "float32") return StoredType::float32;
  if (name == "int32") return StoredType::int32;
  if (name == "int64") return StoredType::int64;
  if (name == "float64") return StoredType::float64;
  throw std::invalid_argument("unknown stored type '" + std::string(name) + "'");
}

hid_t file_type(StoredType type) {
  switch (type) {
    case StoredType::float32:
      return H5T_IEEE_F32LE;
    case StoredType::int32:
      return H5T_STD_I32LE;
    case StoredType::int64:
      return H5T_STD_I64LE;
    case StoredType::float64:
      return H5T_IEEE_F64LE;
  }
  return H5T_IEEE_F32LE;
}

hid_t memory_type(StoredType type) {
  switch (type) {
    case StoredType::float32:
      return H5T_NATIVE_FLOAT;
    case StoredType::int32:
      return H5T_NATIVE_INT32;
    case StoredType::int64:
      return H5T_NATIVE_INT64;
    case StoredType::float64:
      return H5T_NATIVE_DOUBLE;
  }
  return H5T_NATIVE_FLOAT;
}

std::size_t stored_size(StoredType type) {
  return type == StoredType::int64 || type == StoredType::float64 ? 8 : 4;
}

namespace {
// Chunk dimensions near `target_bytes`: inner dimensions whole, outer dimensions cut.
std::vector<hsize_t> chunk_dims_for(const Shape& shape, std::size_t element_size,
                                    std::int64_t target_bytes) {
  const std::int64_t target =
      std::max<std::int64_t>(1, target_bytes / static_cast<std::int64_t>(element_size));
  std::vector<hsize_t> chunk(shape.begin(), shape.end());
  for (std::size_t axis = 0; axis < chunk.size(); ++axis) {
    std::int64_t inner = 1;
    for (std::size_t j = axis + 1; j < chunk.size(); ++j)
      inner *= static_cast<std::int64_t>(chunk[j]);
    if (inner * static_cast<std::int64_t>(chunk[axis]) <= target) break;
    chunk[axis] = static_cast<hsize_t>(std::max<std::int64_t>(1, target / inner));
  }
  return chunk;
}
}  // namespace

bool is_chunked(const Layout& layout, const Shape& shape) {
  const std::int64_t numel = shape_numel(shape, "trace dataset");  // Throws for a bad shape.
  return layout.deflate_level > 0 && !shape.empty() && numel > 0;
}

DatasetId create_dataset(hid_t parent, const std::string& name, StoredType type, const Shape& shape,
                         const Layout& layout, const WriterIds& ids, const Where& where) {
  const std::string action = "create dataset";
  const bool chunked = is_chunked(layout, shape);
  SpaceId space;
  if (shape.empty()) {
    space = SpaceId(call(where, action, H5Screate, H5S_SCALAR));
  } else {
    const std::vector<hsize_t> dims = to_hsize(shape);
    space = SpaceId(
        call(where, action, H5Screate_simple, static_cast<int>(dims.size()), dims.data(), nullptr));
  }
  if (!chunked) {
    return DatasetId(call(where, action, H5Dcreate2, parent, name.c_str(), file_type(type),
                          space.get(), H5P_DEFAULT, ids.contiguous_dataset_creation.get(),
                          H5P_DEFAULT));
  }
  PropertyListId create(call(where, action, H5Pcreate, H5P_DATASET_CREATE));
  call(where, action, H5Pset_fill_time, create.get(), H5D_FILL_TIME_NEVER);
  std::vector<hsize_t> chunk = layout.chunk_dims.empty()
                                   ? chunk_dims_for(shape, stored_size(type), layout.chunk_bytes)
                                   : to_hsize(layout.chunk_dims);
  if (chunk.size() != shape.size()) fail(where, "chunk rank differs from the dataset's rank");
  call(where, action, H5Pset_chunk, create.get(), static_cast<int>(chunk.size()), chunk.data());
  if (layout.shuffle) call(where, action, H5Pset_shuffle, create.get());
  call(where, action, H5Pset_deflate, create.get(), static_cast<unsigned>(layout.deflate_level));
  return DatasetId(call(where, action, H5Dcreate2, parent, name.c_str(), file_type(type),
                        space.get(), H5P_DEFAULT, create.get(), H5P_DEFAULT));
}

void write_dataset(hid_t dataset, StoredType type, const void* data, const Where& where) {
  call(where, "write dataset", H5Dwrite, dataset, memory_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT,
       data);
}

void write_dataset_file_bytes(hid_t dataset, StoredType type, const void* bytes,
                              const Where& where) {
  call(where, "write dataset", H5Dwrite, dataset, file_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT,
       bytes);
}

std::optional<std::uint64_t> contiguous_offset(hid_t dataset, const Where& where) {
  silence_errors();
  const haddr_t address = H5Dget_offset(dataset);
  H5Eclear2(H5E_DEFAULT);
  (void)where;
  if (address == HADDR_UNDEF) return std::nullopt;
  return static_cast<std::uint64_t>(address);
}

std::vector<ChunkInfo> chunk_infos(hid_t dataset, const Where& where) {
  const std::string action = "list the dataset's chunks";
  SpaceId space(call(where, action, H5Dget_space, dataset));
  const int rank = call(where, action, H5Sget_simple_extent_ndims, space.get());
  hsize_t count = 0;
  call(where, action, H5Dget_num_chunks, dataset, space.get(), &count);
  std::vector<ChunkInfo> chunks;
  chunks.reserve(count);
  std::vector<hsize_t> coordinates(static_cast<std::size_t>(rank));
  for (hsize_t index = 0; index < count; ++index) {
    unsigned mask = 0;
    haddr_t address = HADDR_UNDEF;
    hsize_t size = 0;
    call(where, action, H5Dget_chunk_info, dataset, space.get(), index, coordinates.data(), &mask,
         &address, &size);
    if (address == HADDR_UNDEF) fail(where, "a chunk of the dataset has no file address");
    chunks.push_back({{coordinates.begin(), coordinates.end()}, address, size, mask});
  }
  return chunks;
}

std::vector<std::int64_t> chunk_dims(hid_t dataset, const Where& where) {
  const std::string action = "read the dataset's layout";
  PropertyListId create(call(where, action, H5Dget_create_plist, dataset));
  if (call(where, action, H5Pget_layout, create.get()) != H5D_CHUNKED) return {};
  std::vector<hsize_t> dims(kMaxRank);
  const int rank = call(where, action, H5Pget_chunk, create.get(), kMaxRank, dims.data());
  return {dims.begin(), dims.begin() + rank};
}

void write_raw_chunk(hid_t dataset, const ChunkInfo& chunk, const void* bytes, const Where& where) {
  const std::vector<hsize_t> offset = to_hsize(chunk.coordinates);
  call(where, "write a raw chunk", H5Dwrite_chunk, dataset, H5P_DEFAULT, chunk.filter_mask,
       offset.data(), static_cast<std::size_t>(chunk.size), bytes);
}

DatasetInfo dataset_info(hid_t dataset, const Where& where) {
  const std::string action = "read the dataset's type and shape";
  DatasetInfo info;
  TypeId type(call(where, action, H5Dget_type, dataset));
  info.type_class = call(where, action, H5Tget_class, type.get());
  info.type_size = H5Tget_size(type.get());
  if (info.type_class == H5T_INTEGER) {
    info.is_signed = call(where, action, H5Tget_sign, type.get()) != H5T_SGN_NONE;
  }
  SpaceId space(call(where, action, H5Dget_space, dataset));
  const H5S_class_t space_class = H5Sget_simple_extent_type(space.get());
  if (space_class == H5S_NO_CLASS) fail_with_stack(where, action);
  info.is_null = space_class == H5S_NULL;
  if (space_class == H5S_SIMPLE) {
    const int rank = call(where, action, H5Sget_simple_extent_ndims, space.get());
    if (rank > kMaxRank) {
      fail(where, "dataset has rank " + std::to_string(rank) + ", more than the " +
                      std::to_string(kMaxRank) + " a tensor may have");
    }
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    call(where, action, H5Sget_simple_extent_dims, space.get(), dims.data(), nullptr);
    for (const hsize_t dim : dims) {
      if (dim > static_cast<hsize_t>(std::numeric_limits<std::int64_t>::max() / 16)) {
        fail(where, "dataset dimension " + std::to_string(dim) + " is too large");
      }
      info.shape.push_back(static_cast<std::int64_t>(dim));
    }
  }
  info.storage_bytes = static_cast<std::int64_t>(H5Dget_storage_size(dataset));
  PropertyListId create(call(where, action, H5Dget_create_plist, dataset));
  info.filtered = call(where, action, H5Pget_nfilters, create.get()) > 0;
  return info;
}

void read_dataset(hid_t dataset, hid_t memory, void* out, const Where& where) {
  call(where, "read dataset", H5Dread, dataset, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
}

}  // namespace ttt::h5

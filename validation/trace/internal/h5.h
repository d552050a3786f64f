// The trace library's thin RAII layer over the HDF5 C API. Private: never installed, and the only
// header besides .cc files that includes hdf5.h (tools/check_layering.sh checks it).
//
// Rules (HighFive's): a move-only handle owns each hid_t and its destructor never throws; every C
// call goes through call(), which turns a failure and HDF5's error stack into a TraceError naming
// the file and the path inside it ("t.h5:/calls/000012/inputs/x: cannot open dataset: object 'x'
// doesn't exist"); HDF5's own printing of error stacks is silenced on every thread that uses it.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "validation/tensor/tensor.h"

namespace ttt::h5 {

// What an HDF5 call works on, for error messages: the file and the object path inside it.
struct Where {
  std::string_view file;
  std::string_view object;
};

// Throws TraceError "<file>:<object>: <message>".
[[noreturn]] void fail(const Where& where, std::string_view message);

// Throws TraceError "<file>:<object>: cannot <action>: <HDF5 error stack>" for the failure that
// the last HDF5 call on this thread left on its error stack.
[[noreturn]] void fail_with_stack(const Where& where, std::string_view action);

// Turns off HDF5's automatic printing of error stacks for the calling thread (HDF5 keeps that
// setting per thread). Cheap after the first call on a thread.
void silence_errors();

// HDF5 1.10 frees a file whose closing flush failed (a full disk) but leaves its id registered;
// the exit handler HDF5 installs then closes that file again and crashes the process (SIGSEGV,
// exit 139, after the real error was reported). Called after a failed H5Fclose: the process will
// end, whenever it does, with its own exit status but without running that handler (nor the exit
// handlers registered before this call); C and C++ standard streams are flushed first.
void after_failed_file_close();

// The one checked helper: calls `function(args...)` with printing silenced; a negative result
// (HDF5's failure value for hid_t, herr_t, htri_t and ssize_t) throws via fail_with_stack().
template <typename Function, typename... Args>
auto call(const Where& where, std::string_view action, Function&& function, Args&&... args) {
  silence_errors();
  auto result = std::forward<Function>(function)(std::forward<Args>(args)...);
  using Result = decltype(result);
  if constexpr (std::is_enum_v<Result>) {
    // HDF5's enums (H5T_class_t, H5D_layout_t, ...) use -1 for failure.
    if (static_cast<std::underlying_type_t<Result>>(result) < 0) fail_with_stack(where, action);
  } else {
    static_assert(std::is_signed_v<Result>, "call() checks functions that fail with < 0");
    if (result < 0) fail_with_stack(where, action);
  }
  return result;
}

// A move-only owner of one hid_t, closed by `Close` (errors ignored: destructors never throw).
template <herr_t (*Close)(hid_t)>
class Id {
 public:
  Id() = default;
  explicit Id(hid_t id) noexcept : id_(id) {}
  Id(Id&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Id& operator=(Id&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() { reset(); }

  hid_t get() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }
  void reset() noexcept {
    if (id_ >= 0) {
      silence_errors();
      if (Close(id_) < 0) closing_failed();
      id_ = H5I_INVALID_HID;
    }
  }
  // Closes now and reports failure (a file's final close writes metadata and must be checked).
  void close(const Where& where, std::string_view action) {
    const hid_t id = std::exchange(id_, H5I_INVALID_HID);
    if (id < 0) return;
    silence_errors();
    if (Close(id) < 0) {
      closing_failed();
      fail_with_stack(where, action);
    }
  }

 private:
  static void closing_failed() noexcept {
    if constexpr (Close == &H5Fclose) after_failed_file_close();
  }

  hid_t id_ = H5I_INVALID_HID;
};

using FileId = Id<H5Fclose>;
using GroupId = Id<H5Gclose>;
using DatasetId = Id<H5Dclose>;
using SpaceId = Id<H5Sclose>;
using TypeId = Id<H5Tclose>;
using AttributeId = Id<H5Aclose>;
using PropertyListId = Id<H5Pclose>;
using ObjectId = Id<H5Oclose>;

// ---- Files -----------------------------------------------------------------------------------

// Creates (truncates) `path` for writing: file format 1.8 or later (dense link storage, so a
// /calls group with many calls stays cheap).
FileId create_file(const std::string& path);

// Opens `path` read-only. Throws TraceError naming the file when it does not exist, is not an
// HDF5 file, or HDF5 cannot open it (a truncated file, for example).
FileId open_file_read_only(const std::string& path);

// ---- Groups and links ------------------------------------------------------------------------

// Ids a writer reuses for every group and attribute it creates: making them anew for each object
// was a measurable part of capturing a call (docs/PERFORMANCE.md, "Trace capture throughput").
struct WriterIds {
  TypeId utf8_string;  // Variable-length UTF-8 string, the type of every string attribute.
  SpaceId scalar;      // The dataspace of every single-value attribute.
  // Group creation properties: attributes stay in the group's object header ("compact" storage)
  // up to kCompactAttributes. HDF5's default moves a group with more than 8 attributes to dense
  // storage, a fractal heap and a B-tree of its own; a call group has 10.
  PropertyListId group_creation;
  // Dataset creation properties of every contiguous dataset (see create_dataset()).
  PropertyListId contiguous_dataset_creation;
};
inline constexpr unsigned kCompactAttributes = 32;
WriterIds make_writer_ids(const Where& where);

// Creates group `name` in `parent` with `ids.group_creation`.
GroupId create_group(hid_t parent, const std::string& name, const WriterIds& ids,
                     const Where& where);
GroupId open_group(hid_t parent, const std::string& name, const Where& where);
DatasetId open_dataset(hid_t parent, const std::string& name, const Where& where);

// True when `name` is a link in `group` (no intermediate path components).
bool link_exists(hid_t group, const std::string& name, const Where& where);

// A hard link `link_name` in `link_group` to the object at absolute path `target`.
void create_hard_link(hid_t file, const std::string& target, hid_t link_group,
                      const std::string& link_name, const Where& where);

// The names of the links in `group`, in HDF5's name order.
std::vector<std::string> link_names(hid_t group, const Where& where);

enum class LinkKind { hard, soft, external_or_other };
LinkKind link_kind(hid_t group, const std::string& name, const Where& where);

struct ObjectInfo {
  H5O_type_t type = H5O_TYPE_UNKNOWN;
  haddr_t address = HADDR_UNDEF;  // Identity of the object within its file.
  unsigned link_count = 0;        // Hard links to the object.
};
ObjectInfo object_info(hid_t parent, const std::string& name, const Where& where);

// ---- Attributes ------------------------------------------------------------------------------

bool has_attribute(hid_t object, const char* name, const Where& where);
// Variable-length UTF-8 string, int64 scalar, float64 scalar, int64 1-D array.
void write_attribute(hid_t object, const char* name, std::string_view value, const WriterIds& ids,
                     const Where& where);
void write_attribute(hid_t object, const char* name, std::int64_t value, const WriterIds& ids,
                     const Where& where);
void write_attribute(hid_t object, const char* name, double value, const WriterIds& ids,
                     const Where& where);
void write_attribute(hid_t object, const char* name, const std::vector<std::int64_t>& values,
                     const Where& where);

// Readers accept what other tools write: strings fixed or variable length (ASCII or UTF-8),
// integers of any width and sign that fit, floats of any width. nullopt when the attribute is
// absent; TraceError naming the attribute when it has another type or is not a single value.
std::optional<std::string> read_string_attribute(hid_t object, const char* name,
                                                 const Where& where);
std::optional<std::int64_t> read_int_attribute(hid_t object, const char* name, const Where& where);
std::optional<std::uint64_t> read_uint_attribute(hid_t object, const char* name,
                                                 const Where& where);
// Integers are accepted too (h5py writes `mean=0` as an integer).
std::optional<double> read_number_attribute(hid_t object, const char* name, const Where& where);
// A 1-D integer array (a rank-0 shape may be an empty array or a zero-length dataspace).
std::optional<std::vector<std::int64_t>> read_int_array_attribute(hid_t object, const char* name,
                                                                  const Where& where);

// ---- Datasets --------------------------------------------------------------------------------

// How a dataset is laid out in the file.
struct Layout {
  int deflate_level = 0;  // 0: contiguous, allocated at creation; 1-9: chunked + deflate.
  bool shuffle = true;    // With deflate only.
  std::int64_t chunk_bytes = 1 << 20;
  // Explicit chunk dimensions (recovery re-creates a dataset exactly); empty: from chunk_bytes.
  std::vector<std::int64_t> chunk_dims;
};

// Whether create_dataset() makes a dataset of `shape` chunked under `layout` (else contiguous).
bool is_chunked(const Layout& layout, const Shape& shape);

// The element types tensors are stored as.
enum class StoredType { float32, int32, int64, float64 };
StoredType stored_type_for(DType dtype);
std::string_view stored_type_name(StoredType type);
StoredType parse_stored_type(std::string_view name);  // Throws std::invalid_argument.
hid_t file_type(StoredType type);                     // Little-endian IEEE / two's complement.
hid_t memory_type(StoredType type);                   // Native.
std::size_t stored_size(StoredType type);

// Creates dataset `name` in `parent` with the given shape (rank 0: a scalar dataspace).
// Rank-0 and empty tensors are always contiguous. Contiguous datasets are allocated at creation
// and never filled, so contiguous_offset() is known before any value is written.
DatasetId create_dataset(hid_t parent, const std::string& name, StoredType type, const Shape& shape,
                         const Layout& layout, const WriterIds& ids, const Where& where);

// Writes a whole dataset from memory of `type`'s native representation.
void write_dataset(hid_t dataset, StoredType type, const void* data, const Where& where);

// Writes a whole dataset from bytes in the file's representation of `type` (little-endian), as
// recovery copies them from a damaged trace.
void write_dataset_file_bytes(hid_t dataset, StoredType type, const void* bytes,
                              const Where& where);

// Where a contiguous dataset's bytes are in the file; nullopt when it has no storage yet (empty).
std::optional<std::uint64_t> contiguous_offset(hid_t dataset, const Where& where);

// One stored chunk of a chunked dataset, as the file holds it (filters applied).
struct ChunkInfo {
  std::vector<std::int64_t> coordinates;  // Element offset of the chunk's first element.
  std::uint64_t address = 0;
  std::uint64_t size = 0;
  std::uint32_t filter_mask = 0;
};
std::vector<ChunkInfo> chunk_infos(hid_t dataset, const Where& where);
// The chunk dimensions of a chunked dataset (empty for other layouts).
std::vector<std::int64_t> chunk_dims(hid_t dataset, const Where& where);

// Writes one raw chunk (already filtered) into a chunked dataset.
void write_raw_chunk(hid_t dataset, const ChunkInfo& chunk, const void* bytes, const Where& where);

// What a dataset holds, as far as readers care.
struct DatasetInfo {
  H5T_class_t type_class = H5T_NO_CLASS;
  std::size_t type_size = 0;
  bool is_signed = true;           // Integers only.
  bool is_null = false;            // H5S_NULL dataspace: no values at all.
  Shape shape;                     // Empty for a scalar dataspace.
  std::int64_t storage_bytes = 0;  // Bytes the values occupy in the file.
  bool filtered = false;           // Compressed or otherwise filtered: storage_bytes is no
                                   // measure of the values' size.
};
DatasetInfo dataset_info(hid_t dataset, const Where& where);

// Reads a whole dataset converted by HDF5 into `memory` (a native type id).
void read_dataset(hid_t dataset, hid_t memory, void* out, const Where& where);

}  // namespace ttt::h5

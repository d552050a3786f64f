#include "models/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian values; this reader copies them as they are");

// The format caps the header at 100 MB (safetensors' MAX_HEADER_SIZE).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw std::invalid_argument("[safetensors] " + path + ": " + message);
}

// Bytes per element of every dtype the format defines; 0 for an unknown name.
std::uint64_t dtype_bytes(std::string_view dtype) {
  static const std::map<std::string, std::uint64_t, std::less<>> kSizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  const auto it = kSizes.find(dtype);
  return it == kSizes.end() ? 0 : it->second;
}

std::uint64_t read_u64(const unsigned char* bytes) {
  std::uint64_t value = 0;
  std::memcpy(&value, bytes, sizeof(value));
  return value;
}

// One header entry, read strictly: errors name the file and the entry's JSON Pointer
// ("model.safetensors: /w/data_offsets: [0, 16] go beyond the data section (8 bytes)").
SafetensorsEntry parse_entry(const JsonNode& body, const std::string& name,
                             std::uint64_t data_bytes) {
  body.allow_only({"dtype", "shape", "data_offsets"});
  SafetensorsEntry entry;
  entry.name = name;
  const JsonNode dtype = body.at("dtype");
  entry.dtype = dtype.string();
  const std::uint64_t element_bytes = dtype_bytes(entry.dtype);
  if (element_bytes == 0) dtype.fail("unknown dtype '" + entry.dtype + "'");

  const JsonNode shape = body.at("shape");
  if (shape.size() > static_cast<std::size_t>(kMaxRank)) {
    shape.fail(shape.json().dump() + " has more than " + std::to_string(kMaxRank) + " dimensions");
  }
  std::uint64_t numel = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const auto size = static_cast<std::uint64_t>(shape.at(i).integer_at_least(0));
    if (size > 0 && numel > std::numeric_limits<std::uint64_t>::max() / size / element_bytes) {
      shape.fail(shape.json().dump() + " is too large");
    }
    numel *= size;
    entry.shape.push_back(static_cast<std::int64_t>(size));
  }

  const JsonNode offsets = body.at("data_offsets");
  if (offsets.size() != 2) offsets.fail("expected [begin, end], got " + offsets.json().dump());
  entry.begin = static_cast<std::uint64_t>(offsets.at(0).integer_at_least(0));
  entry.end = static_cast<std::uint64_t>(offsets.at(1).integer_at_least(0));
  const std::string range =
      "[" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "]";
  if (entry.begin > entry.end) offsets.fail(range + " end before they begin");
  if (entry.end > data_bytes) {
    offsets.fail(range + " go beyond the data section (" + std::to_string(data_bytes) + " bytes)");
  }
  if (entry.end - entry.begin != numel * element_bytes) {
    offsets.fail(range + " hold " + std::to_string(entry.end - entry.begin) + " bytes, but shape " +
                 shape_to_string(entry.shape) + " of " + entry.dtype + " needs " +
                 std::to_string(numel * element_bytes));
  }
  return entry;
}

}  // namespace

struct SafetensorsFile::Mapping {
  std::string path;
  const unsigned char* bytes = nullptr;  // The whole file, mapped read-only.
  std::size_t size = 0;
  const unsigned char* data = nullptr;  // The data section.
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;

  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (bytes != nullptr) ::munmap(const_cast<unsigned char*>(bytes), size);
  }
};

SafetensorsFile::SafetensorsFile(std::shared_ptr<const Mapping> mapping)
    : mapping_(std::move(mapping)) {}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  auto mapping = std::make_shared<Mapping>();
  mapping->path = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  mapping->size = static_cast<std::size_t>(status.st_size);
  if (mapping->size < 8) {
    ::close(fd);
    fail(path, "truncated: " + std::to_string(mapping->size) +
                   " bytes, shorter than the 8-byte header length");
  }
  void* address = ::mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (address == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(errno));
  mapping->bytes = static_cast<const unsigned char*>(address);

  const std::uint64_t header_bytes = read_u64(mapping->bytes);
  if (header_bytes > kMaxHeaderBytes) {
    fail(path, "header length " + std::to_string(header_bytes) +
                   " exceeds the format's limit of 100000000 bytes");
  }
  if (header_bytes > mapping->size - 8) {
    fail(path, "header length " + std::to_string(header_bytes) + " goes beyond the file (" +
                   std::to_string(mapping->size) + " bytes): truncated or not a safetensors file");
  }
  const char* header_text = reinterpret_cast<const char*>(mapping->bytes + 8);
  nlohmann::json header;
  try {
    header = parse_json(std::string_view(header_text, header_bytes), "the header");
  } catch (const std::invalid_argument& error) {
    fail(path, error.what());
  }
  const JsonNode root(header, path);
  mapping->data = mapping->bytes + 8 + header_bytes;
  const std::uint64_t data_bytes = mapping->size - 8 - header_bytes;

  for (const auto& [name, body] : root.object().items()) {
    const JsonNode node = root.at(name);
    if (name == "__metadata__") {
      for (const auto& [key, value] : node.object().items()) {
        mapping->metadata[key] = node.at(key).string();
      }
      continue;
    }
    mapping->entries.push_back(parse_entry(node, name, data_bytes));
  }
  std::sort(mapping->entries.begin(), mapping->entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  return SafetensorsFile(std::move(mapping));
}

const std::string& SafetensorsFile::path() const { return mapping_->path; }

const std::vector<SafetensorsEntry>& SafetensorsFile::entries() const { return mapping_->entries; }

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  const auto& entries = mapping_->entries;
  const auto it = std::lower_bound(
      entries.begin(), entries.end(), name,
      [](const SafetensorsEntry& entry, std::string_view key) { return entry.name < key; });
  return it != entries.end() && it->name == name ? &*it : nullptr;
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const {
  return mapping_->metadata;
}

Tensor SafetensorsFile::load(std::string_view name) const {
  const SafetensorsEntry* entry = find(name);
  if (entry == nullptr) fail(path(), "no tensor '" + std::string(name) + "'");
  Tensor tensor(entry->shape, DType::float32);
  float* out = tensor.data<float>();
  const unsigned char* in = mapping_->data + entry->begin;
  const auto count = static_cast<std::size_t>(tensor.numel());
  if (entry->dtype == "F32") {
    if (count > 0) std::memcpy(out, in, count * sizeof(float));
  } else if (entry->dtype == "F16" || entry->dtype == "BF16") {
    const bool brain = entry->dtype == "BF16";
    for (std::size_t i = 0; i < count; ++i) {
      std::uint16_t bits = 0;
      std::memcpy(&bits, in + 2 * i, sizeof(bits));
      out[i] = brain ? bfloat16_bits_to_float(bits) : float16_bits_to_float(bits);
    }
  } else {
    fail(path(), "tensor '" + entry->name + "' has dtype " + entry->dtype +
                     "; only F32, F16 and BF16 can be loaded");
  }
  return tensor;
}

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error || !fs::exists(status)) {
    throw std::invalid_argument("[safetensors] " + path + ": no such file or directory");
  }
  std::vector<std::string> paths;
  SafetensorsCheckpoint checkpoint;
  if (fs::is_directory(status)) {
    for (const fs::directory_entry& item : fs::directory_iterator(path)) {
      if (item.is_regular_file() && item.path().extension() == ".safetensors") {
        paths.push_back(item.path().string());
      }
    }
    if (paths.empty()) {
      throw std::invalid_argument("[safetensors] " + path + ": no .safetensors file in directory");
    }
    std::sort(paths.begin(), paths.end());
    checkpoint.description_ =
        path + " (" + std::to_string(paths.size()) + (paths.size() == 1 ? " file)" : " files)");
  } else {
    paths.push_back(path);
    checkpoint.description_ = path;
  }
  for (const std::string& file_path : paths) {
    checkpoint.files_.push_back(SafetensorsFile::open(file_path));
    const std::size_t index = checkpoint.files_.size() - 1;
    for (const SafetensorsEntry& entry : checkpoint.files_.back().entries()) {
      const auto [it, inserted] = checkpoint.index_.emplace(entry.name, index);
      if (!inserted) {
        throw std::invalid_argument("[safetensors] " + file_path + ": tensor '" + entry.name +
                                    "' is also in " + checkpoint.files_[it->second].path());
      }
    }
  }
  return checkpoint;
}

const SafetensorsFile* SafetensorsCheckpoint::file_of(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &files_[it->second];
}

std::string make_safetensors(const std::vector<NamedTensor>& tensors, std::string_view dtype,
                             const std::map<std::string, std::string>& metadata) {
  if (dtype != "F32" && dtype != "F16" && dtype != "BF16") {
    throw std::invalid_argument("[make_safetensors] dtype '" + std::string(dtype) +
                                "' is not F32, F16 or BF16");
  }
  const std::uint64_t element_bytes = dtype_bytes(dtype);
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const NamedTensor& named : tensors) {
    const Tensor values = named.tensor.to(DType::float32);
    const std::uint64_t begin = data.size();
    for (const float value : values.floats()) {
      if (dtype == "F32") {
        data.append(reinterpret_cast<const char*>(&value), sizeof(value));
      } else {
        const std::uint16_t bits =
            dtype == "BF16" ? float_to_bfloat16_bits(value) : float_to_float16_bits(value);
        data.append(reinterpret_cast<const char*>(&bits), sizeof(bits));
      }
    }
    header[named.name] = {{"dtype", dtype},
                          {"shape", values.shape()},
                          {"data_offsets", {begin, begin + values.numel() * element_bytes}}};
  }
  const std::string text = header.dump();
  const std::uint64_t length = text.size();
  std::string bytes(reinterpret_cast<const char*>(&length), sizeof(length));
  return bytes + text + data;
}

}  // namespace ttt

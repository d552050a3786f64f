// Reading .safetensors checkpoints (https://huggingface.co/docs/safetensors): lazily, from a
// memory-mapped file.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON header
//   {"<tensor name>": {"dtype": "BF16", "shape": [2048, 8192], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"format": "pt"}}
// then the data section; offsets are relative to its start. Opening a file maps it and parses and
// checks the header (every entry's dtype, shape and byte range); a tensor's bytes are read only
// when it is loaded. Loading converts F32, F16 and BF16 to a float32 Tensor (every F16 and BF16
// value is exactly a float32); other dtypes are listed but refused when loaded.
//
// Every problem throws std::invalid_argument with one line naming the file. The header is read by
// the strict JSON reader (validation/input/json_reader.h), so a header problem names the field's
// JSON Pointer, the tensor first: "model.safetensors: /lm_head.weight/data_offsets: [0, 1024] hold
// 1024 bytes, but shape [64, 8] of F32 needs 2048". A problem with the file itself is
// "[safetensors] model.safetensors: truncated: 4 bytes, shorter than the 8-byte header length".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "validation/tensor/tensor.h"

namespace ttt {

// One tensor listed in a header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // As written: "F32", "F16", "BF16", "I64", ...
  Shape shape;
  std::uint64_t begin = 0;  // Byte range in the data section.
  std::uint64_t end = 0;
};

// An open .safetensors file. Copies share the mapping; the file stays mapped while any copy (or a
// lazily loading weight holding one) lives. Thread-safe to load from.
class SafetensorsFile {
 public:
  // Maps `path` and checks its header. Throws std::invalid_argument naming the file when it cannot
  // be opened, is shorter than 8 bytes, has a header length beyond the file (or above 100 MB, the
  // format's limit), a header that is not a JSON object, an entry without dtype/shape/
  // data_offsets, an unknown dtype, a negative or non-integer dimension, or data offsets that are
  // out of the data section or disagree with the shape.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const;
  // The entries, sorted by name.
  const std::vector<SafetensorsEntry>& entries() const;
  // The entry called `name`, or nullptr.
  const SafetensorsEntry* find(std::string_view name) const;
  // The header's "__metadata__" (string to string), empty when absent.
  const std::map<std::string, std::string>& metadata() const;

  // The values of tensor `name` as a float32 tensor of its shape. Throws std::invalid_argument
  // naming the file and the tensor when it is missing or its dtype is not F32, F16 or BF16.
  Tensor load(std::string_view name) const;

 private:
  struct Mapping;
  explicit SafetensorsFile(std::shared_ptr<const Mapping> mapping);
  std::shared_ptr<const Mapping> mapping_;
};

// A checkpoint of one or more .safetensors files (Hugging Face shards a large model as
// model-00001-of-00004.safetensors, ...): tensors are looked up by name across all files.
class SafetensorsCheckpoint {
 public:
  // `path` is a .safetensors file, or a directory whose *.safetensors files are all opened.
  // Throws std::invalid_argument naming the path when it does not exist, a directory holds no
  // .safetensors file, a file is bad (as SafetensorsFile::open), or a tensor name appears in two
  // files.
  static SafetensorsCheckpoint open(const std::string& path);

  // The files, sorted by path.
  const std::vector<SafetensorsFile>& files() const { return files_; }
  // The file holding tensor `name`, or nullptr.
  const SafetensorsFile* file_of(std::string_view name) const;
  // A description for messages: "model.safetensors" or "<dir> (4 files)".
  const std::string& description() const { return description_; }

 private:
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t, std::less<>> index_;  // Tensor name -> file.
  std::string description_;
};

// The bytes of a .safetensors file holding `tensors` (float32 values written as `dtype`: "F32",
// "F16" or "BF16", rounded to nearest even), with optional metadata. For tests and tools that
// make small checkpoints. Throws std::invalid_argument for another dtype.
std::string make_safetensors(const std::vector<NamedTensor>& tensors, std::string_view dtype,
                             const std::map<std::string, std::string>& metadata = {});

}  // namespace ttt

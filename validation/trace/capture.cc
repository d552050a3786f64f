#include "validation/trace/capture.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "validation/mesh/mesh.h"
#include "validation/trace/internal/common.h"
#include "validation/trace/internal/h5.h"
#include "validation/trace/internal/journal.h"
#include "validation/trace/internal/raw_file.h"
#include "validation/trace/trace_error.h"

namespace ttt {
namespace {

using trace_internal::call_group_path;
using trace_internal::utc_now_iso8601;

// The process's command line, arguments joined by spaces ("" where the platform does not say).
std::string process_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  std::replace(raw.begin(), raw.end(), '\0', ' ');
  return raw;
}

std::string random_session_id() {
  std::random_device device;
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%08x%08x", device(), device());
  return buffer;
}

nlohmann::json parse_json_field(const std::string& text, const char* field) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    throw std::invalid_argument(std::string(field) + " is not valid JSON: '" + text.substr(0, 80) +
                                "'");
  }
  return value;
}

// Names in one list (inputs, outputs or reference outputs) must be valid HDF5 paths, unique, and
// no name may be a container of another ("kv" and "kv/0").
void validate_names(const std::vector<NamedTensor>& tensors, const char* list) {
  std::set<std::string> names;
  for (const auto& [name, tensor, mesh] : tensors) {
    if (!trace_internal::valid_relative_name(name)) {
      throw std::invalid_argument(std::string(list) + " name '" + name +
                                  "' is not a valid name (empty, or an empty, '.' or '..' part)");
    }
    // A mesh tensor is written as its shards: its composed tensor may be missing (replicas that
    // differ are kept as they are, to show which device diverged).
    if (mesh != nullptr) {
      validate(*mesh);
    } else if (!tensor.defined()) {
      throw std::invalid_argument(std::string(list) + " '" + name + "' is an undefined tensor");
    }
    if (!names.insert(name).second) {
      throw std::invalid_argument(std::string(list) + " name '" + name + "' appears twice");
    }
  }
  for (const std::string& name : names) {
    const auto after = names.lower_bound(name + "/");
    if (after != names.end() && after->rfind(name + "/", 0) == 0) {
      throw std::invalid_argument(std::string(list) + " '" + name + "' is both a tensor and the " +
                                  "container of '" + *after + "'");
    }
  }
}

void validate_call(const CapturedCall& call) {
  if (call.name.empty()) throw std::invalid_argument("the call has an empty name");
  parse_json_field(call.spec_json, "spec");
  parse_json_field(call.impl_config_json, "impl_config");
  parse_json_field(call.metrics_json, "metrics");
  if (!parse_json_field(call.scalars_json, "scalars").is_object()) {
    throw std::invalid_argument("scalars is not a JSON object: '" + call.scalars_json + "'");
  }
  if (call.verdict != "pass" && call.verdict != "fail" && call.verdict != "unchecked") {
    throw std::invalid_argument("verdict '" + call.verdict +
                                "' is not one of pass, fail, unchecked");
  }
  validate_names(call.inputs, "input");
  validate_names(call.outputs, "output");
  validate_names(call.reference_outputs, "reference output");
}

// What makes two inputs "the same tensor": the same memory, seen through the same shape and dtype.
struct TensorIdentity {
  const void* storage = nullptr;
  const void* data = nullptr;
  DType dtype = DType::float32;
  Shape shape;
  auto operator<=>(const TensorIdentity&) const = default;
};

TensorIdentity identity_of(const Tensor& tensor) {
  return {tensor.storage_id(), tensor.bytes(), tensor.dtype(), tensor.shape()};
}

// One commit in the making: creates groups, datasets, links and attributes in the trace and
// records each in the journal commit (internal/journal.h) so recovery can re-create them.
class CommitBuilder {
 public:
  CommitBuilder(hid_t file, const std::string& file_name, const trace_internal::RawFile& values,
                const h5::Layout& layout, const h5::WriterIds& ids,
                std::map<std::string, hid_t> existing_groups)
      : file_(file),
        file_name_(file_name),
        values_(values),
        layout_(layout),
        ids_(ids),
        existing_(std::move(existing_groups)) {
    commit_["groups"] = nlohmann::json::array();
    commit_["datasets"] = nlohmann::json::array();
    commit_["links"] = nlohmann::json::array();
    commit_["attributes"] = nlohmann::json::array();
  }

  nlohmann::json& commit() { return commit_; }

  // The group at absolute `path`, created (with its parents) when it does not exist yet.
  hid_t group(const std::string& path) {
    if (const auto it = existing_.find(path); it != existing_.end()) return it->second;
    if (const auto it = created_.find(path); it != created_.end()) return it->second.get();
    const auto [parent, name] = split(path);
    const hid_t parent_id = group(parent);
    h5::GroupId id = h5::create_group(parent_id, name, ids_, {file_name_, path});
    const hid_t raw = id.get();
    created_.emplace(path, std::move(id));
    commit_["groups"].push_back(path);
    return raw;
  }

  // Writes `tensor` as a dataset at absolute `path`, with its `ttt_dtype` attribute.
  void dataset(const std::string& path, const Tensor& tensor) {
    const auto [parent, name] = split(path);
    const hid_t parent_id = group(parent);
    const h5::Where where{file_name_, path};
    const h5::StoredType type = h5::stored_type_for(tensor.dtype());
    Pending pending{path,
                    type,
                    tensor.shape(),
                    h5::create_dataset(parent_id, name, type, tensor.shape(), layout_, ids_, where),
                    h5::is_chunked(layout_, tensor.shape()),
                    std::nullopt};
    if (!pending.chunked) pending.offset = h5::contiguous_offset(pending.id.get(), where);
    if (tensor.numel() > 0) write_values(pending, tensor, where);
    const std::string dtype(dtype_name(tensor.dtype()));
    h5::write_attribute(pending.id.get(), "ttt_dtype", std::string_view(dtype), ids_, where);
    commit_["attributes"].push_back({path, "ttt_dtype", dtype});
    pending_.push_back(std::move(pending));
  }

  // A hard link at absolute `path` to the object at absolute `target`.
  void link(const std::string& path, const std::string& target) {
    const auto [parent, name] = split(path);
    h5::create_hard_link(file_, target, group(parent), name, {file_name_, path});
    commit_["links"].push_back({{"path", path}, {"target", target}});
  }

  // A string or integer attribute on the group at absolute `path`.
  template <typename Value>
  void group_attribute(const std::string& path, const char* name, const Value& value) {
    h5::write_attribute(group(path), name, value, ids_, {file_name_, path});
    commit_["attributes"].push_back({path, name, value});
  }

  // Records where each dataset's values are in the file, and closes everything. Every value is
  // in the file already (write_values), so the journal never points at bytes still in a cache.
  nlohmann::json finish() {
    for (Pending& pending : pending_) {
      const h5::Where where{file_name_, pending.path};
      nlohmann::json entry = {{"path", pending.path},
                              {"type", std::string(h5::stored_type_name(pending.type))},
                              {"shape", pending.shape}};
      if (!pending.chunked) {
        const std::int64_t bytes =
            shape_numel(pending.shape) * static_cast<std::int64_t>(h5::stored_size(pending.type));
        if (bytes > 0 && !pending.offset) h5::fail(where, "dataset has no storage after writing");
        entry["offset"] = pending.offset ? nlohmann::json(*pending.offset) : nlohmann::json();
        entry["bytes"] = bytes;
      } else {
        entry["chunk"] = h5::chunk_dims(pending.id.get(), where);
        entry["deflate"] = layout_.deflate_level;
        entry["shuffle"] = layout_.shuffle;
        nlohmann::json chunks = nlohmann::json::array();
        for (const h5::ChunkInfo& info : h5::chunk_infos(pending.id.get(), where)) {
          chunks.push_back({info.address, info.size, info.filter_mask, info.coordinates});
        }
        entry["chunks"] = std::move(chunks);
      }
      commit_["datasets"].push_back(std::move(entry));
    }
    pending_.clear();
    created_.clear();
    return std::move(commit_);
  }

 private:
  struct Pending {
    std::string path;
    h5::StoredType type;
    Shape shape;
    h5::DatasetId id;
    bool chunked = false;
    std::optional<std::uint64_t> offset;  // Contiguous datasets: where the values are.
  };

  // Contiguous datasets are allocated at creation: their values go straight to their file offset
  // with one pwrite (H5Dwrite costs an extra pass over the data). The file stores little-endian
  // values, so this needs a little-endian host; elsewhere, and for chunked datasets, H5Dwrite.
  void write_values(const Pending& pending, const Tensor& tensor, const h5::Where& where) {
    if constexpr (std::endian::native == std::endian::little) {
      if (!pending.chunked) {
        if (!pending.offset) h5::fail(where, "a contiguous dataset has no file offset");
        values_.write(*pending.offset, tensor.bytes(), tensor.nbytes(), std::string(where.object));
        return;
      }
    }
    h5::write_dataset(pending.id.get(), pending.type, tensor.bytes(), where);
    // Out of HDF5's caches, into the file.
    h5::call(where, "flush dataset", H5Dflush, pending.id.get());
  }

  static std::pair<std::string, std::string> split(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
  }

  hid_t file_;
  const std::string& file_name_;
  const trace_internal::RawFile& values_;
  const h5::Layout& layout_;
  const h5::WriterIds& ids_;
  std::map<std::string, hid_t> existing_;
  std::map<std::string, h5::GroupId> created_;
  std::vector<Pending> pending_;
  nlohmann::json commit_;
};

}  // namespace

// ---- TraceSession ----------------------------------------------------------------------------

struct TraceSession::Impl {
  std::string path;
  TraceOptions options;
  h5::Layout layout;

  // Serialises writers in the order capture() was entered: a ticket at entry, a turn to write.
  std::atomic<std::uint64_t> next_ticket{0};
  std::mutex write_mutex;
  std::condition_variable turn_changed;
  std::uint64_t now_serving = 0;  // Guarded by write_mutex, as is everything below it.

  h5::FileId file;
  h5::WriterIds writer_ids;
  trace_internal::RawFile values;  // The same file, for values written by offset.
  h5::GroupId calls_group;
  h5::GroupId tensors_group;
  trace_internal::JournalWriter journal;
  std::int64_t next_seq = 0;
  bool failed = false;  // An I/O error: the file may hold a partial call; later calls are dropped.
  // The trace or the journal was deleted or replaced: the error naming it, and nothing to recover.
  std::optional<TraceError> files_lost;

  // Sharing: inputs written so far (by identity) and registered weights.
  struct WrittenTensor {
    std::string path;        // Where its values are.
    std::string shared_key;  // Its name under /tensors once shared; "" before.
    std::string first_name;  // "<call name>.<arg>", the key it gets when it is shared.
  };
  std::map<TensorIdentity, WrittenTensor> written_inputs;
  std::map<TensorIdentity, std::string> registered;  // Identity -> key.
  std::set<std::string> shared_keys;

  // Per-name counts for max_calls_per_name; guarded by counts_mutex (wants() reads them).
  mutable std::mutex counts_mutex;
  std::unordered_map<std::string, std::int64_t> accepted_per_name;

  std::atomic<bool> open{false};
  std::atomic<std::int64_t> written{0};
  std::atomic<std::int64_t> dropped{0};
  mutable std::mutex error_mutex;
  std::optional<std::string> first_error;

  // Waits for `ticket`'s turn; the destructor passes the turn on.
  class Turn {
   public:
    Turn(Impl& impl, std::uint64_t ticket) : impl_(impl), lock_(impl.write_mutex) {
      impl_.turn_changed.wait(lock_, [&] { return impl_.now_serving == ticket; });
    }
    ~Turn() {
      ++impl_.now_serving;
      lock_.unlock();
      impl_.turn_changed.notify_all();
    }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;

   private:
    Impl& impl_;
    std::unique_lock<std::mutex> lock_;
  };

  bool filter_accepts(std::string_view name) const {
    return options.name_filter == "*" ||
           trace_internal::glob_match(options.name_filter, std::string(name));
  }

  bool below_limit(std::string_view name) const {
    if (options.max_calls_per_name < 0) return true;
    std::lock_guard lock(counts_mutex);
    const auto it = accepted_per_name.find(std::string(name));
    return it == accepted_per_name.end() || it->second < options.max_calls_per_name;
  }

  // Takes one of the name's slots; false when the limit is reached.
  bool take_slot(const std::string& name) {
    std::lock_guard lock(counts_mutex);
    std::int64_t& count = accepted_per_name[name];
    if (options.max_calls_per_name >= 0 && count >= options.max_calls_per_name) return false;
    ++count;
    return true;
  }

  void record_error(const std::string& message) {
    bool print = false;
    {
      std::lock_guard lock(error_mutex);
      if (!first_error) {
        first_error = message;
        print = true;
      }
    }
    if (print) {
      std::cerr << "[trace] " << message << " (further capture errors are not printed; see "
                << "TraceSession::error())\n";
    }
  }

  std::map<std::string, hid_t> existing_groups() const {
    return {{"/", file.get()}, {"/calls", calls_group.get()}, {"/tensors", tensors_group.get()}};
  }

  // Throws TraceError naming the trace or the journal when either was deleted or replaced since
  // the session created it (another process, a `rm`): writing on would lose every call silently.
  void check_files_in_place() {
    try {
      values.check_in_place();
      journal.check_in_place();
    } catch (const TraceError& error) {
      files_lost = error;
      throw;
    }
  }

  // Writes one call, then journals it. Throws on I/O errors.
  void write_call(const CapturedCall& call) {
    check_files_in_place();
    const std::int64_t seq = next_seq;
    const std::string group = call_group_path(seq);
    CommitBuilder builder(file.get(), path, values, layout, writer_ids, existing_groups());
    builder.commit()["seq"] = seq;
    builder.group(group);
    builder.group(group + "/inputs");
    builder.group(group + "/outputs");
    for (const NamedTensor& input : call.inputs) {
      const std::string input_path = group + "/inputs/" + input.name;
      if (input.mesh == nullptr) {
        write_input(builder, call.name, input_path, input.name, input.tensor);
        continue;
      }
      // Each shard is an input of its own: a weight's shards are shared across calls.
      write_mesh_attributes(builder, input_path, *input.mesh);
      for (std::size_t device = 0; device < input.mesh->shards.size(); ++device) {
        const std::string shard = "/" + std::to_string(device);
        write_input(builder, call.name, input_path + shard, input.name + shard,
                    input.mesh->shards[device]);
      }
    }
    for (const NamedTensor& output : call.outputs) {
      write_output(builder, group + "/outputs/" + output.name, output);
    }
    if (options.capture_reference && !call.reference_outputs.empty()) {
      builder.group(group + "/reference");
      for (const NamedTensor& output : call.reference_outputs) {
        write_output(builder, group + "/reference/" + output.name, output);
      }
    }
    builder.group_attribute(group, "name", call.name);
    builder.group_attribute(group, "block", call.block);
    builder.group_attribute(group, "spec", call.spec_json);
    builder.group_attribute(group, "impl_config", call.impl_config_json);
    builder.group_attribute(group, "device", call.device);
    builder.group_attribute(group, "scalars", call.scalars_json);
    builder.group_attribute(group, "device_ns", call.device_ns);
    builder.group_attribute(group, "reference_ns", call.reference_ns);
    builder.group_attribute(group, "verdict", call.verdict);
    builder.group_attribute(group, "metrics", call.metrics_json);
    if (call.fingerprint) {
      builder.group_attribute(group, "fingerprint", to_json(*call.fingerprint).dump());
    }
    journal.append(builder.finish());
    next_seq = seq + 1;
  }

  // The group of a mesh tensor at `tensor_path` with its mesh and placements (docs/trace-format.md
  // "Mesh tensors"); the shards go under it as 0, 1, ... in device order.
  static void write_mesh_attributes(CommitBuilder& builder, const std::string& tensor_path,
                                    const MeshTensor& mesh) {
    builder.group(tensor_path);
    builder.group_attribute(tensor_path, "ttt_mesh",
                            std::to_string(mesh.mesh.rows) + "x" + std::to_string(mesh.mesh.cols));
    nlohmann::json placements = nlohmann::json::array();
    for (const Placement& placement : mesh.placements) {
      placements.push_back(placement_name(placement));
    }
    builder.group_attribute(tensor_path, "ttt_placements", placements.dump());
  }

  // An output (device or reference): a dataset, or a mesh tensor's group of shard datasets.
  static void write_output(CommitBuilder& builder, const std::string& tensor_path,
                           const NamedTensor& output) {
    if (output.mesh == nullptr) {
      builder.dataset(tensor_path, output.tensor);
      return;
    }
    write_mesh_attributes(builder, tensor_path, *output.mesh);
    for (std::size_t device = 0; device < output.mesh->shards.size(); ++device) {
      builder.dataset(tensor_path + "/" + std::to_string(device), output.mesh->shards[device]);
    }
  }

  // An input: a link to a registered or already written identical tensor, else a new dataset.
  void write_input(CommitBuilder& builder, const std::string& call_name,
                   const std::string& input_path, const std::string& arg, const Tensor& tensor) {
    const TensorIdentity identity = identity_of(tensor);
    if (const auto it = registered.find(identity); it != registered.end()) {
      builder.link(input_path, "/tensors/" + it->second);
      return;
    }
    if (!options.share_tensors) {
      builder.dataset(input_path, tensor);
      return;
    }
    const auto it = written_inputs.find(identity);
    if (it != written_inputs.end() && same_values(it->second.path, tensor)) {
      WrittenTensor& previous = it->second;
      if (previous.shared_key.empty()) {
        previous.shared_key = unique_key(previous.first_name);
        builder.link("/tensors/" + previous.shared_key, previous.path);
      }
      builder.link(input_path, "/tensors/" + previous.shared_key);
      return;
    }
    builder.dataset(input_path, tensor);
    std::string first_name = call_name + "." + arg;
    std::replace(first_name.begin(), first_name.end(), '/', '.');
    written_inputs[identity] = {input_path, "", std::move(first_name)};
  }

  // Whether the dataset at `dataset_path` holds exactly the tensor's values (bit for bit): the
  // same storage may have been updated in place (a KV cache) or freed and reused.
  bool same_values(const std::string& dataset_path, const Tensor& tensor) {
    const h5::Where where{path, dataset_path};
    h5::DatasetId dataset = h5::open_dataset(file.get(), dataset_path, where);
    const h5::StoredType type = h5::stored_type_for(tensor.dtype());
    std::vector<std::byte> stored(tensor.nbytes());
    if (!stored.empty())
      h5::read_dataset(dataset.get(), h5::memory_type(type), stored.data(), where);
    return stored.empty() || std::memcmp(stored.data(), tensor.bytes(), stored.size()) == 0;
  }

  std::string unique_key(const std::string& wanted) {
    std::string key = wanted;
    for (int n = 2; shared_keys.count(key) != 0; ++n) key = wanted + "#" + std::to_string(n);
    shared_keys.insert(key);
    return key;
  }

  void write_header() {
    nlohmann::json meta = nlohmann::json::parse(options.meta_json);
    if (!meta.contains("command_line")) {
      const std::string command_line = process_command_line();
      if (!command_line.empty()) meta["command_line"] = command_line;
    }
    CommitBuilder builder(file.get(), path, values, layout, writer_ids, {{"/", file.get()}});
    builder.commit()["session"] = random_session_id();
    builder.commit()["pid"] = static_cast<std::int64_t>(::getpid());
    builder.group_attribute("/", "ttt_format", std::string(trace_internal::kFormatName));
    builder.group_attribute("/", "ttt_format_version", trace_internal::kFormatVersion);
    builder.group_attribute("/", "producer", std::string("tttv2 ") + TTT_VERSION);
    builder.group_attribute("/", "created_utc", utc_now_iso8601());
    builder.group_attribute("/", "meta", meta.dump());
    if (!options.config_json.empty()) builder.group_attribute("/", "config", options.config_json);
    calls_group = h5::create_group(file.get(), "calls", writer_ids, {path, "/calls"});
    tensors_group = h5::create_group(file.get(), "tensors", writer_ids, {path, "/tensors"});
    builder.commit()["groups"] = {"/calls", "/tensors"};
    journal.append(builder.finish());
  }
};

TraceSession::TraceSession(std::string path, TraceOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (path.empty()) throw std::invalid_argument("[TraceSession] the trace path is empty");
  if (options.compression_level < 0 || options.compression_level > 9) {
    throw std::invalid_argument("[TraceSession] compression_level " +
                                std::to_string(options.compression_level) + " is outside 0-9");
  }
  if (options.chunk_bytes <= 0) {
    throw std::invalid_argument("[TraceSession] chunk_bytes must be positive");
  }
  const nlohmann::json meta = nlohmann::json::parse(options.meta_json, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) {
    throw std::invalid_argument("[TraceSession] meta_json is not a JSON object: '" +
                                options.meta_json + "'");
  }
  if (!options.config_json.empty()) {
    const nlohmann::json config = nlohmann::json::parse(options.config_json, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      throw std::invalid_argument("[TraceSession] config_json is not a JSON object");
    }
  }
  const std::string journal_path = path + std::string(trace_internal::kJournalSuffix);
  if (::access(journal_path.c_str(), F_OK) == 0) {
    // A running capture of the same trace holds the journal's lock: say so, with its process id.
    { const trace_internal::JournalLock not_running(journal_path); }
    throw TraceError(path, "",
                     "a journal from an unfinished capture exists (" + journal_path +
                         "); run `ttt trace recover " + path + "` or delete both files first");
  }
  Impl& impl = *impl_;
  impl.path = std::move(path);
  impl.options = std::move(options);
  impl.layout.deflate_level = impl.options.compression_level;
  impl.layout.shuffle = impl.options.shuffle;
  impl.layout.chunk_bytes = impl.options.chunk_bytes;
  impl.journal = trace_internal::JournalWriter(journal_path);
  try {
    impl.file = h5::create_file(impl.path);
    impl.writer_ids = h5::make_writer_ids({impl.path, ""});
    impl.values = trace_internal::RawFile(impl.path, trace_internal::RawFile::Mode::write);
    impl.write_header();
  } catch (...) {
    // Leave nothing behind that looks like an unfinished capture.
    impl.calls_group.reset();
    impl.tensors_group.reset();
    impl.file.reset();
    ::unlink(impl.path.c_str());
    ::unlink(journal_path.c_str());
    throw;
  }
  impl.open = true;
}

TraceSession::~TraceSession() {
  try {
    close();
  } catch (const std::exception& error) {
    std::cerr << "[trace] " << error.what() << "\n";
  }
}

bool TraceSession::wants(std::string_view name) const {
  return impl_->open.load(std::memory_order_relaxed) && impl_->filter_accepts(name) &&
         impl_->below_limit(name);
}

void TraceSession::capture(const CapturedCall& call) {
  Impl& impl = *impl_;
  if (!impl.open.load() || !impl.filter_accepts(call.name)) return;
  const std::uint64_t ticket = impl.next_ticket.fetch_add(1);
  Impl::Turn turn(impl, ticket);
  if (!impl.open.load() || impl.failed) return;
  try {
    validate_call(call);
  } catch (const std::exception& error) {
    ++impl.dropped;
    impl.record_error(impl.path + ": call '" + call.name + "' dropped: " + error.what());
    return;
  }
  if (!impl.take_slot(call.name)) return;
  try {
    impl.write_call(call);
    ++impl.written;
  } catch (const std::exception& error) {
    impl.failed = true;
    ++impl.dropped;
    impl.record_error(std::string("capture stopped: ") + error.what());
  }
}

bool TraceSession::capture_reference_outputs() const { return impl_->options.capture_reference; }

void TraceSession::register_shared_tensor(const std::string& key, const Tensor& tensor) {
  if (key.empty() || key == "." || key == ".." || key.find('/') != std::string::npos) {
    throw std::invalid_argument("[register_shared_tensor] key '" + key +
                                "' is empty, '.' or '..', or contains '/'");
  }
  if (!tensor.defined()) {
    throw std::invalid_argument("[register_shared_tensor] tensor '" + key + "' is undefined");
  }
  Impl& impl = *impl_;
  const std::uint64_t ticket = impl.next_ticket.fetch_add(1);
  Impl::Turn turn(impl, ticket);
  if (!impl.open.load() || impl.failed) {
    throw std::invalid_argument("[register_shared_tensor] the session for " + impl.path +
                                " is closed or has failed");
  }
  if (impl.shared_keys.count(key) != 0) {
    throw std::invalid_argument("[register_shared_tensor] key '" + key + "' is already in use");
  }
  try {
    CommitBuilder builder(impl.file.get(), impl.path, impl.values, impl.layout, impl.writer_ids,
                          impl.existing_groups());
    builder.dataset("/tensors/" + key, tensor);
    impl.journal.append(builder.finish());
  } catch (...) {
    impl.failed = true;
    throw;
  }
  impl.shared_keys.insert(key);
  impl.registered[identity_of(tensor)] = key;
}

void TraceSession::close() {
  Impl& impl = *impl_;
  const std::uint64_t ticket = impl.next_ticket.fetch_add(1);
  Impl::Turn turn(impl, ticket);
  if (!impl.open.exchange(false)) return;
  impl.calls_group.reset();
  impl.tensors_group.reset();
  impl.file.close({impl.path, ""}, "close the trace");
  impl.writer_ids = {};
  if (!impl.failed) {
    try {
      impl.check_files_in_place();
    } catch (const TraceError& error) {
      impl.failed = true;
      std::lock_guard lock(impl.error_mutex);
      if (!impl.first_error) impl.first_error = error.what();
    }
  }
  if (impl.files_lost) {
    // A journal that describes another file, or none, is no use to recovery: remove it if it is
    // still the one this session wrote.
    bool journal_in_place = true;
    try {
      impl.journal.check_in_place();
    } catch (const TraceError&) {
      journal_in_place = false;
    }
    if (journal_in_place) impl.journal.close_and_remove();
    throw *impl.files_lost;
  }
  if (impl.failed) {
    throw TraceError(impl.path, "",
                     "the capture failed (" + impl.first_error.value_or("unknown error") +
                         "); the journal " + impl.journal.path() +
                         " is kept: run `ttt trace recover " + impl.path + "`");
  }
  impl.journal.close_and_remove();
}

const std::string& TraceSession::path() const { return impl_->path; }
std::int64_t TraceSession::calls_written() const { return impl_->written.load(); }
std::int64_t TraceSession::calls_dropped() const { return impl_->dropped.load(); }
std::optional<std::string> TraceSession::error() const {
  std::lock_guard lock(impl_->error_mutex);
  return impl_->first_error;
}

// ---- The process-wide session ----------------------------------------------------------------

namespace {

// Every session the process started stays alive until exit, so that a pointer a thread got from
// active_trace_session() never dangles; closing at exit removes the journals.
class SessionRegistry {
 public:
  SessionRegistry() {
    // HDF5 registers its own exit handler when it initialises; initialising it first makes this
    // registry's destructor (which closes trace files) run before HDF5 shuts down.
    H5open();
  }
  ~SessionRegistry() {
    for (auto& session : sessions_) {
      try {
        session->close();
      } catch (const std::exception& error) {
        std::cerr << "[trace] " << error.what() << "\n";
      }
    }
  }
  std::mutex mutex;
  std::vector<std::unique_ptr<TraceSession>> sessions_;
};

SessionRegistry& registry() {
  static SessionRegistry instance;
  return instance;
}

// The active session, or kUnresolved before the environment was consulted.
constexpr std::uintptr_t kUnresolved = 1;
std::atomic<std::uintptr_t> active_session{kUnresolved};

TraceSession* as_session(std::uintptr_t value) { return reinterpret_cast<TraceSession*>(value); }

// Options from TTT_TRACE_FILTER, TTT_TRACE_MAX_CALLS_PER_NAME, TTT_TRACE_COMPRESSION and
// TTT_TRACE_REFERENCE (docs/trace-format.md).
TraceOptions options_from_environment() {
  TraceOptions options;
  const auto integer = [](const char* variable, std::int64_t low, std::int64_t high) {
    const char* text = std::getenv(variable);
    if (text == nullptr) return std::optional<std::int64_t>();
    char* end = nullptr;
    const long long value = std::strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < low || value > high) {
      throw std::invalid_argument(std::string(variable) + "='" + text + "' is not an integer in [" +
                                  std::to_string(low) + ", " + std::to_string(high) + "]");
    }
    return std::optional<std::int64_t>(value);
  };
  if (const char* filter = std::getenv("TTT_TRACE_FILTER"); filter != nullptr && *filter != '\0') {
    options.name_filter = filter;
  }
  if (auto limit = integer("TTT_TRACE_MAX_CALLS_PER_NAME", -1, INT64_MAX)) {
    options.max_calls_per_name = *limit;
  }
  if (auto level = integer("TTT_TRACE_COMPRESSION", 0, 9)) {
    options.compression_level = static_cast<int>(*level);
  }
  if (auto reference = integer("TTT_TRACE_REFERENCE", 0, 1)) {
    options.capture_reference = *reference == 1;
  }
  return options;
}

TraceSession* resolve_from_environment() {
  SessionRegistry& sessions = registry();
  std::lock_guard lock(sessions.mutex);
  const std::uintptr_t current = active_session.load();
  if (current != kUnresolved) return as_session(current);
  TraceSession* session = nullptr;
  const char* path = std::getenv("TTT_TRACE");
  if (path != nullptr && *path != '\0') {
    try {
      sessions.sessions_.push_back(
          std::make_unique<TraceSession>(path, options_from_environment()));
      session = sessions.sessions_.back().get();
    } catch (const std::exception& error) {
      std::cerr << "[trace] TTT_TRACE is set but capture is off: " << error.what() << "\n";
    }
  }
  active_session.store(reinterpret_cast<std::uintptr_t>(session));
  return session;
}

}  // namespace

TraceSession* active_trace_session() {
  const std::uintptr_t current = active_session.load(std::memory_order_acquire);
  if (current != kUnresolved) return as_session(current);
  return resolve_from_environment();
}

TraceSession& start_trace(const std::string& path, const TraceOptions& options) {
  auto session = std::make_unique<TraceSession>(path, options);
  SessionRegistry& sessions = registry();
  std::lock_guard lock(sessions.mutex);
  const std::uintptr_t previous = active_session.load();
  if (previous != kUnresolved && previous != 0) as_session(previous)->close();
  sessions.sessions_.push_back(std::move(session));
  TraceSession* started = sessions.sessions_.back().get();
  active_session.store(reinterpret_cast<std::uintptr_t>(started));
  return *started;
}

void stop_trace() {
  SessionRegistry& sessions = registry();
  std::lock_guard lock(sessions.mutex);
  const std::uintptr_t previous = active_session.exchange(0);
  if (previous != kUnresolved && previous != 0) as_session(previous)->close();
}

ScopedTrace::ScopedTrace(const std::string& path, const TraceOptions& options)
    : session_(&start_trace(path, options)) {}

ScopedTrace::~ScopedTrace() {
  try {
    // Stops the process-wide capture only if this guard's session is still the active one.
    SessionRegistry& sessions = registry();
    std::lock_guard lock(sessions.mutex);
    std::uintptr_t mine = reinterpret_cast<std::uintptr_t>(session_);
    active_session.compare_exchange_strong(mine, 0);
    session_->close();
  } catch (const std::exception& error) {
    std::cerr << "[trace] " << error.what() << "\n";
  }
}

}  // namespace ttt

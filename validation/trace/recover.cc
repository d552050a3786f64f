#include "validation/trace/recover.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "validation/input/json_reader.h"
#include "validation/trace/internal/common.h"
#include "validation/trace/internal/h5.h"
#include "validation/trace/internal/journal.h"
#include "validation/trace/internal/raw_file.h"
#include "validation/trace/trace_error.h"

namespace ttt {
namespace {

constexpr const char* kRecoveredAttribute = "ttt_recovered_session";

using trace_internal::RawFile;

// The journal's fields are read by the strict JSON reader: a record is named by its index, as if
// the journal were an array of records ("t.h5.journal: /3/datasets/0/shape: expected an array,
// got 5").
JsonNode record_node(const nlohmann::json& commit, const std::string& journal_path,
                     std::size_t index) {
  const JsonNode record(commit, journal_path, json_child_path("", index));
  record.allow_only({"seq", "session", "pid", "groups", "datasets", "links", "attributes"});
  return record;
}

// The items of the array `key` of a commit; none when absent.
std::vector<JsonNode> items_of(const JsonNode& commit, std::string_view key) {
  std::vector<JsonNode> items;
  if (const auto list = commit.find(key)) {
    for (std::size_t i = 0; i < list->size(); ++i) items.push_back(list->at(i));
  }
  return items;
}

std::vector<std::int64_t> integers_of(const JsonNode& node) {
  std::vector<std::int64_t> values;
  for (std::size_t i = 0; i < node.size(); ++i) values.push_back(node.at(i).integer());
  return values;
}

std::uint64_t unsigned_of(const JsonNode& node) {
  return static_cast<std::uint64_t>(node.integer_at_least(0));
}

void apply_dataset(hid_t file, const std::string& file_name, const RawFile& raw,
                   const h5::WriterIds& ids, const JsonNode& entry) {
  entry.allow_only(
      {"path", "type", "shape", "offset", "bytes", "chunk", "deflate", "shuffle", "chunks"});
  const std::string path = entry.at("path").string();
  const h5::Where where{file_name, path};
  const JsonNode type_node = entry.at("type");
  const JsonNode shape_node = entry.at("shape");
  h5::StoredType type{};
  Shape shape;
  std::int64_t bytes = 0;
  try {
    type = h5::parse_stored_type(type_node.string());
  } catch (const std::invalid_argument& error) {
    type_node.fail(error.what());
  }
  shape = integers_of(shape_node);
  try {
    bytes =
        shape_numel(shape, "journal dataset") * static_cast<std::int64_t>(h5::stored_size(type));
  } catch (const std::invalid_argument& error) {
    shape_node.fail(error.what());
  }
  const std::optional<JsonNode> chunks = entry.find("chunks");
  h5::Layout layout;
  if (chunks) {
    layout.deflate_level = static_cast<int>(entry.at("deflate").integer_in(0, 9));
    layout.shuffle = entry.at("shuffle").boolean();
    layout.chunk_dims = integers_of(entry.at("chunk"));
  }
  h5::DatasetId dataset = h5::create_dataset(file, path, type, shape, layout, ids, where);
  if (chunks) {
    for (std::size_t i = 0; i < chunks->size(); ++i) {
      const JsonNode chunk = chunks->at(i);
      if (chunk.size() != 4) {
        chunk.fail("expected [address, size, filter_mask, coordinates], got " +
                   chunk.json().dump());
      }
      h5::ChunkInfo info;
      info.address = unsigned_of(chunk.at(0));
      info.size = unsigned_of(chunk.at(1));
      info.filter_mask = static_cast<std::uint32_t>(
          chunk.at(2).integer_in(0, std::numeric_limits<std::uint32_t>::max()));
      info.coordinates = integers_of(chunk.at(3));
      const std::vector<std::byte> data = raw.read(info.address, info.size, path);
      h5::write_raw_chunk(dataset.get(), info, data.data(), where);
    }
    return;
  }
  const JsonNode bytes_node = entry.at("bytes");
  if (bytes_node.integer() != bytes) {
    bytes_node.fail("the journal's byte count does not match the dataset's shape");
  }
  if (bytes == 0) return;
  const std::vector<std::byte> data =
      raw.read(unsigned_of(entry.at("offset")), static_cast<std::uint64_t>(bytes), path);
  h5::write_dataset_file_bytes(dataset.get(), type, data.data(), where);
}

void apply_attribute(hid_t file, const std::string& file_name, const h5::WriterIds& ids,
                     const JsonNode& entry) {
  if (entry.size() != 3) entry.fail("expected [object, name, value], got " + entry.json().dump());
  const std::string path = entry.at(0).string();
  const std::string name = entry.at(1).string();
  const JsonNode value = entry.at(2);
  const h5::Where where{file_name, path};
  h5::ObjectId object(h5::call(where, "open object", H5Oopen, file, path.c_str(), H5P_DEFAULT));
  if (value.json().is_string()) {
    h5::write_attribute(object.get(), name.c_str(), std::string_view(value.string()), ids, where);
  } else if (value.json().is_number_integer()) {
    h5::write_attribute(object.get(), name.c_str(), value.integer(), ids, where);
  } else if (value.json().is_number_float()) {
    h5::write_attribute(object.get(), name.c_str(), value.number(), ids, where);
  } else if (value.json().is_array()) {
    h5::write_attribute(object.get(), name.c_str(), integers_of(value), where);
  } else {
    value.fail("attribute '" + name + "' is of an unknown kind: " + value.json().dump());
  }
}

// Re-creates one commit (internal/journal.h) in `file`.
void apply_commit(hid_t file, const std::string& file_name, const RawFile& raw,
                  const h5::WriterIds& ids, const JsonNode& commit) {
  for (const JsonNode& group : items_of(commit, "groups")) {
    const std::string path = group.string();
    h5::create_group(file, path, ids, {file_name, path});
  }
  for (const JsonNode& dataset : items_of(commit, "datasets")) {
    apply_dataset(file, file_name, raw, ids, dataset);
  }
  for (const JsonNode& link : items_of(commit, "links")) {
    link.allow_only({"path", "target"});
    const std::string path = link.at("path").string();
    h5::create_hard_link(file, link.at("target").string(), file, path, {file_name, path});
  }
  for (const JsonNode& attribute : items_of(commit, "attributes")) {
    apply_attribute(file, file_name, ids, attribute);
  }
}

// The session a trace was recovered from, if it opens and says so.
std::optional<std::string> recovered_session_of(const std::string& path) {
  try {
    h5::FileId file = h5::open_file_read_only(path);
    return h5::read_string_attribute(file.get(), kRecoveredAttribute, {path, "/"});
  } catch (const TraceError&) {
    return std::nullopt;
  }
}

std::int64_t count_shared(const std::vector<JsonNode>& records) {
  std::int64_t shared = 0;
  const auto under_tensors = [](const JsonNode& entry) {
    return entry.at("path").string().rfind("/tensors/", 0) == 0;
  };
  for (const JsonNode& record : records) {
    for (const JsonNode& dataset : items_of(record, "datasets")) shared += under_tensors(dataset);
    for (const JsonNode& link : items_of(record, "links")) shared += under_tensors(link);
  }
  return shared;
}

}  // namespace

std::string trace_journal_path(const std::string& trace_path) {
  return trace_path + std::string(trace_internal::kJournalSuffix);
}

RecoveryReport recover_trace(const std::string& trace_path, const std::string& output_path) {
  const std::string journal_path = trace_journal_path(trace_path);
  const bool in_place = output_path.empty() || output_path == trace_path;
  RecoveryReport report;
  report.output = in_place ? trace_path : output_path;
  if (::access(journal_path.c_str(), F_OK) != 0) {
    throw TraceError(trace_path, "",
                     "nothing to recover: there is no journal " + journal_path +
                         " (the capture was closed cleanly, or the trace was not written by "
                         "tttv2)");
  }
  // Held until the end: a capture still writing the trace holds it, and refuses a second recovery.
  const trace_internal::JournalLock lock(journal_path);
  const trace_internal::JournalContents journal = trace_internal::read_journal(journal_path);
  std::vector<JsonNode> records;
  for (std::size_t index = 0; index < journal.commits.size(); ++index) {
    records.push_back(record_node(journal.commits[index], journal_path, index));
  }
  if (records.empty() || !records.front().has("session")) {
    throw TraceError(journal_path, "",
                     "the journal has no header record: the capture was killed before it "
                     "wrote its first call, so there is nothing to recover");
  }
  const std::string session = records.front().at("session").string();
  report.discarded_journal_bytes = journal.discarded_bytes;
  for (const JsonNode& record : records) report.calls += record.has("seq");
  report.shared_tensors = count_shared(records);

  if (in_place && recovered_session_of(trace_path) == session) {
    trace_internal::JournalWriter::remove(journal_path);
    report.already_recovered = true;
    return report;
  }

  const std::string temporary = report.output + ".recovering";
  {
    const RawFile raw(trace_path, RawFile::Mode::read);
    h5::FileId file;
    try {
      // Inside the try: on a full disk the file is created and then cannot be written.
      file = h5::create_file(temporary);
      const h5::WriterIds ids = h5::make_writer_ids({temporary, ""});
      for (const JsonNode& record : records) apply_commit(file.get(), temporary, raw, ids, record);
      h5::write_attribute(file.get(), kRecoveredAttribute, std::string_view(session), ids,
                          {temporary, "/"});
      file.close({temporary, ""}, "close the recovered trace");
    } catch (...) {
      file.reset();
      ::unlink(temporary.c_str());
      throw;
    }
  }
  if (std::rename(temporary.c_str(), report.output.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw TraceError(report.output, "", "cannot move the recovered trace in place: " + reason);
  }
  if (in_place) trace_internal::JournalWriter::remove(journal_path);
  return report;
}

}  // namespace ttt

#include "validation/trace/recover.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "validation/trace/internal/common.h"
#include "validation/trace/internal/h5.h"
#include "validation/trace/internal/journal.h"
#include "validation/trace/internal/raw_file.h"
#include "validation/trace/trace_error.h"

namespace ttt {
namespace {

constexpr const char* kRecoveredAttribute = "ttt_recovered_session";

using trace_internal::RawFile;

void apply_dataset(hid_t file, const std::string& file_name, const RawFile& raw,
                   const h5::WriterIds& ids, const nlohmann::json& entry) {
  const std::string path = entry.at("path").get<std::string>();
  const h5::Where where{file_name, path};
  const h5::StoredType type = h5::parse_stored_type(entry.at("type").get<std::string>());
  const Shape shape = entry.at("shape").get<Shape>();
  const std::int64_t bytes =
      shape_numel(shape, "journal dataset") * static_cast<std::int64_t>(h5::stored_size(type));
  h5::Layout layout;
  if (entry.contains("chunks")) {
    layout.deflate_level = entry.at("deflate").get<int>();
    layout.shuffle = entry.at("shuffle").get<bool>();
    layout.chunk_dims = entry.at("chunk").get<std::vector<std::int64_t>>();
  }
  h5::DatasetId dataset = h5::create_dataset(file, path, type, shape, layout, ids, where);
  if (entry.contains("chunks")) {
    for (const nlohmann::json& chunk : entry.at("chunks")) {
      h5::ChunkInfo info;
      info.address = chunk.at(0).get<std::uint64_t>();
      info.size = chunk.at(1).get<std::uint64_t>();
      info.filter_mask = chunk.at(2).get<std::uint32_t>();
      info.coordinates = chunk.at(3).get<std::vector<std::int64_t>>();
      const std::vector<std::byte> data = raw.read(info.address, info.size, path);
      h5::write_raw_chunk(dataset.get(), info, data.data(), where);
    }
    return;
  }
  if (entry.at("bytes").get<std::int64_t>() != bytes) {
    h5::fail(where, "the journal's byte count does not match the dataset's shape");
  }
  if (bytes == 0) return;
  const std::vector<std::byte> data =
      raw.read(entry.at("offset").get<std::uint64_t>(), static_cast<std::uint64_t>(bytes), path);
  h5::write_dataset_file_bytes(dataset.get(), type, data.data(), where);
}

void apply_attribute(hid_t file, const std::string& file_name, const h5::WriterIds& ids,
                     const nlohmann::json& entry) {
  const std::string path = entry.at(0).get<std::string>();
  const std::string name = entry.at(1).get<std::string>();
  const nlohmann::json& value = entry.at(2);
  const h5::Where where{file_name, path};
  h5::ObjectId object(h5::call(where, "open object", H5Oopen, file, path.c_str(), H5P_DEFAULT));
  if (value.is_string()) {
    h5::write_attribute(object.get(), name.c_str(), std::string_view(value.get<std::string>()), ids,
                        where);
  } else if (value.is_number_integer()) {
    h5::write_attribute(object.get(), name.c_str(), value.get<std::int64_t>(), ids, where);
  } else if (value.is_number_float()) {
    h5::write_attribute(object.get(), name.c_str(), value.get<double>(), ids, where);
  } else if (value.is_array()) {
    h5::write_attribute(object.get(), name.c_str(), value.get<std::vector<std::int64_t>>(), where);
  } else {
    h5::fail(where, "the journal holds attribute '" + name + "' of an unknown kind");
  }
}

// Re-creates one commit (internal/journal.h) in `file`.
void apply_commit(hid_t file, const std::string& file_name, const RawFile& raw,
                  const h5::WriterIds& ids, const nlohmann::json& commit) {
  for (const nlohmann::json& group : commit.value("groups", nlohmann::json::array())) {
    const std::string path = group.get<std::string>();
    h5::create_group(file, path, ids, {file_name, path});
  }
  for (const nlohmann::json& dataset : commit.value("datasets", nlohmann::json::array())) {
    apply_dataset(file, file_name, raw, ids, dataset);
  }
  for (const nlohmann::json& link : commit.value("links", nlohmann::json::array())) {
    const std::string path = link.at("path").get<std::string>();
    h5::create_hard_link(file, link.at("target").get<std::string>(), file, path, {file_name, path});
  }
  for (const nlohmann::json& attribute : commit.value("attributes", nlohmann::json::array())) {
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

std::int64_t count_shared(const std::vector<nlohmann::json>& commits) {
  std::int64_t shared = 0;
  const auto under_tensors = [](const nlohmann::json& path) {
    return path.get<std::string>().rfind("/tensors/", 0) == 0;
  };
  for (const nlohmann::json& commit : commits) {
    for (const auto& dataset : commit.value("datasets", nlohmann::json::array())) {
      shared += under_tensors(dataset.at("path")) ? 1 : 0;
    }
    for (const auto& link : commit.value("links", nlohmann::json::array())) {
      shared += under_tensors(link.at("path")) ? 1 : 0;
    }
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
  if (journal.commits.empty() || !journal.commits.front().contains("session")) {
    throw TraceError(journal_path, "",
                     "the journal has no header record: the capture was killed before it "
                     "wrote its first call, so there is nothing to recover");
  }
  const std::string session = journal.commits.front().at("session").get<std::string>();
  report.discarded_journal_bytes = journal.discarded_bytes;
  for (const nlohmann::json& commit : journal.commits) report.calls += commit.contains("seq");
  report.shared_tensors = count_shared(journal.commits);

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
      for (std::size_t index = 0; index < journal.commits.size(); ++index) {
        try {
          apply_commit(file.get(), temporary, raw, ids, journal.commits[index]);
        } catch (const nlohmann::json::exception& error) {
          throw TraceError(
              journal_path, "",
              "journal record " + std::to_string(index) + " is malformed: " + error.what());
        } catch (const std::invalid_argument& error) {
          throw TraceError(
              journal_path, "",
              "journal record " + std::to_string(index) + " is malformed: " + error.what());
        }
      }
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

#include "validation/trace/internal/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "validation/input/input_file.h"
#include "validation/input/lock_file.h"
#include "validation/trace/internal/raw_file.h"
#include "validation/trace/trace_error.h"

namespace ttt::trace_internal {
namespace {

constexpr std::array<char, 4> kMagic = {'T', 'T', 'J', '1'};
constexpr std::size_t kHeaderBytes = 12;
// A single commit is small JSON (chunk lists at most); anything larger is corruption.
constexpr std::uint32_t kMaxPayloadBytes = 1u << 30;

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

void put_u32(std::byte* out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::byte>((value >> (8 * i)) & 0xFFu);
}

std::uint32_t get_u32(const std::byte* in) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= std::to_integer<std::uint32_t>(in[i]) << (8 * i);
  return value;
}

[[noreturn]] void fail_errno(const std::string& path, const std::string& action) {
  throw TraceError(path, "", "cannot " + action + ": " + std::strerror(errno));
}

// "process 4242": who wrote the journal's first record, "" when the journal does not say.
std::string writer_of(const std::string& path) {
  try {
    const JournalContents contents = read_journal(path);
    if (!contents.commits.empty() && contents.commits.front().contains("pid")) {
      return " (process " + contents.commits.front().at("pid").dump() + ")";
    }
  } catch (const std::exception&) {
    // Only for the message: the lock is the answer, the pid a courtesy.
  }
  return "";
}

// Takes the exclusive lock on an open journal without waiting (JournalWriter, JournalLock).
// The journal is its own lock file: its holder is named by its first record, not by a LockFile.
void lock_journal(int descriptor, const std::string& path) {
  if (!try_lock_exclusive(descriptor, path)) {
    throw TraceError(path, "",
                     "the capture journal is locked: the capture writing this trace" +
                         writer_of(path) +
                         " is still running, or a recovery of it is in progress; wait until it "
                         "has finished (recover only a capture whose process has ended)");
  }
}

}  // namespace

std::uint32_t crc32(std::span<const std::byte> bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (const std::byte b : bytes)
    c = kCrcTable[(c ^ std::to_integer<std::uint32_t>(b)) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

JournalWriter::JournalWriter(std::string path) : path_(std::move(path)) {
  // Locked before it is truncated: a journal another process holds is left as it is.
  descriptor_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (descriptor_ < 0) fail_errno(path_, "create the capture journal");
  try {
    lock_journal(descriptor_, path_);
    if (::ftruncate(descriptor_, 0) != 0) fail_errno(path_, "truncate the capture journal");
  } catch (...) {
    ::close(std::exchange(descriptor_, -1));
    throw;
  }
}

JournalWriter::JournalWriter(JournalWriter&& other) noexcept
    : path_(std::move(other.path_)), descriptor_(std::exchange(other.descriptor_, -1)) {}

JournalWriter& JournalWriter::operator=(JournalWriter&& other) noexcept {
  if (this != &other) {
    if (descriptor_ >= 0) ::close(descriptor_);
    path_ = std::move(other.path_);
    descriptor_ = std::exchange(other.descriptor_, -1);
  }
  return *this;
}

JournalWriter::~JournalWriter() {
  if (descriptor_ >= 0) ::close(descriptor_);
}

void JournalWriter::append(const nlohmann::json& commit) {
  const std::string payload = commit.dump();
  std::vector<std::byte> record(kHeaderBytes + payload.size());
  std::memcpy(record.data(), kMagic.data(), kMagic.size());
  put_u32(record.data() + 4, static_cast<std::uint32_t>(payload.size()));
  std::memcpy(record.data() + kHeaderBytes, payload.data(), payload.size());
  put_u32(record.data() + 8, crc32({record.data() + kHeaderBytes, payload.size()}));
  std::size_t written = 0;
  while (written < record.size()) {
    const ssize_t n = ::write(descriptor_, record.data() + written, record.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(path_, "append to the capture journal");
    }
    written += static_cast<std::size_t>(n);
  }
}

void JournalWriter::close_and_remove() {
  if (descriptor_ >= 0) {
    ::close(descriptor_);
    descriptor_ = -1;
  }
  remove(path_);
}

void JournalWriter::remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    fail_errno(path, "remove the capture journal");
}

void JournalWriter::check_in_place() const {
  check_file_in_place(descriptor_, path_, "the capture journal");
}

JournalLock::JournalLock(const std::string& path) {
  descriptor_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor_ < 0) fail_errno(path, "open the capture journal");
  try {
    lock_journal(descriptor_, path);
  } catch (...) {
    ::close(std::exchange(descriptor_, -1));
    throw;
  }
}

JournalLock::JournalLock(JournalLock&& other) noexcept
    : descriptor_(std::exchange(other.descriptor_, -1)) {}

JournalLock::~JournalLock() {
  if (descriptor_ >= 0) ::close(descriptor_);
}

JournalContents parse_journal(std::span<const std::byte> bytes, const std::string& name) {
  JournalContents contents;
  std::size_t position = 0;
  while (bytes.size() - position >= kHeaderBytes) {
    const std::byte* header = bytes.data() + position;
    if (std::memcmp(header, kMagic.data(), kMagic.size()) != 0) break;
    const std::uint32_t length = get_u32(header + 4);
    if (length > kMaxPayloadBytes || bytes.size() - position - kHeaderBytes < length) break;
    const std::span<const std::byte> payload = bytes.subspan(position + kHeaderBytes, length);
    if (crc32(payload) != get_u32(header + 8)) break;
    nlohmann::json commit;
    try {
      commit = parse_json(
          std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()), name);
    } catch (const std::invalid_argument&) {
      commit = nullptr;  // Named below, with the record's offset.
    }
    if (!commit.is_object()) {
      throw TraceError(name, "",
                       "journal record at byte " + std::to_string(position) +
                           " has a valid checksum but is not a JSON object");
    }
    contents.commits.push_back(std::move(commit));
    position += kHeaderBytes + length;
  }
  contents.valid_bytes = position;
  contents.discarded_bytes = bytes.size() - position;
  return contents;
}

JournalContents read_journal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_errno(path, "open the capture journal");
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail_errno(path, "read the capture journal");
  return parse_journal(std::as_bytes(std::span<const char>(data)), path);
}

}  // namespace ttt::trace_internal

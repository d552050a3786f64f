// The capture journal's framing: CRC-32, whole records, torn and corrupt tails.
#include "validation/trace/internal/journal.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "tests/validation/trace/trace_test_util.h"
#include "validation/trace/trace_error.h"

namespace ttt::trace_internal {
namespace {

std::vector<std::byte> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(data.size());
  std::memcpy(bytes.data(), data.data(), data.size());
  return bytes;
}

TEST(Journal, Crc32OfTheCheckString) {
  const char* check = "123456789";
  EXPECT_EQ(crc32(std::as_bytes(std::span<const char>(check, 9))), 0xCBF43926u);
  EXPECT_EQ(crc32({}), 0u);
}

TEST(Journal, RecordsReadBackAndATornOrCorruptTailIsDropped) {
  ttt::test_support::ScratchDir dir;
  const std::string path = dir.file("j");
  {
    JournalWriter writer(path);
    writer.append({{"seq", 0}});
    writer.append({{"seq", 1}, {"groups", {"/calls/000001"}}});
    writer.append({{"seq", 2}});
  }
  const std::vector<std::byte> whole = bytes_of(path);
  const JournalContents all = parse_journal(whole, path);
  ASSERT_EQ(all.commits.size(), 3u);
  EXPECT_EQ(all.commits[1].at("groups").at(0), "/calls/000001");
  EXPECT_EQ(all.valid_bytes, whole.size());
  EXPECT_EQ(all.discarded_bytes, 0u);
  EXPECT_EQ(read_journal(path).commits.size(), 3u);

  // A kill in the middle of the last append: every prefix length keeps the whole records only.
  const std::size_t third_start = whole.size() - (12 + std::string(R"({"seq":2})").size());
  for (std::size_t cut = third_start; cut < whole.size(); ++cut) {
    const JournalContents torn = parse_journal(std::span(whole).first(cut), path);
    EXPECT_EQ(torn.commits.size(), 2u) << cut;
    EXPECT_EQ(torn.discarded_bytes, cut - third_start) << cut;
  }
  // A flipped payload byte fails the checksum: that record and everything after are dropped.
  std::vector<std::byte> corrupt = whole;
  corrupt[12 + 3] ^= std::byte{0x01};
  EXPECT_EQ(parse_journal(corrupt, path).commits.size(), 0u);
  // A record with a valid checksum that is not JSON is an error, not a silent loss.
  JournalWriter(path).append(nlohmann::json::array({1, 2}));
  EXPECT_THROW(read_journal(path), TraceError);
}

TEST(Journal, CloseAndRemoveDeletesTheFile) {
  ttt::test_support::ScratchDir dir;
  JournalWriter writer(dir.file("j"));
  writer.append({{"seq", 0}});
  writer.close_and_remove();
  EXPECT_FALSE(std::ifstream(dir.file("j")).good());
  EXPECT_THROW(read_journal(dir.file("j")), TraceError);
}

}  // namespace
}  // namespace ttt::trace_internal

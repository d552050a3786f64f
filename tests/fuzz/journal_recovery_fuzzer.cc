// libFuzzer target for capture journals: recover_trace() meets a valid trace and the journal a
// crashed capture left next to it, and must rebuild a trace (then read in full) or throw a
// std::exception naming what is wrong; anything else is a finding. docs/testing.md "Fuzzing".
//
// The first input byte chooses what the rest is:
//   even: the journal's bytes as they are (framing, lengths, torn records, CRC mismatches);
//   odd: one commit payload per line, each framed as the writer frames it ("TTJ1", length,
//        CRC-32), so mutations reach recovery's JSON handling past the checksum.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <fstream>
#include <span>
#include <string>

#include "tests/fuzz/trace_template.h"
#include "validation/trace/internal/journal.h"
#include "validation/trace/recover.h"

namespace {

void put_u32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Lines of `text`, each framed as one journal record.
std::string frame_lines(const std::string& text) {
  std::string journal;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string payload = text.substr(start, end - start);
    journal += "TTJ1";
    put_u32(journal, static_cast<std::uint32_t>(payload.size()));
    put_u32(journal, ttt::trace_internal::crc32(std::as_bytes(std::span(payload))));
    journal += payload;
    start = end + 1;
  }
  return journal;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ready = (ttt::fuzz::write_template(), true);
  (void)ready;
  if (size == 0) return 0;
  const bool framed = data[0] % 2 == 1;
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string& trace = ttt::fuzz::kTrace();
  const std::string recovered = ttt::fuzz::scratch_directory() + "/recovered.h5";
  ttt::fuzz::copy_file(ttt::fuzz::kTemplate(), trace);
  {
    std::ofstream journal(ttt::trace_journal_path(trace), std::ios::binary | std::ios::trunc);
    journal << (framed ? frame_lines(rest) : rest);
  }
  try {
    ttt::recover_trace(trace, recovered);
    ttt::fuzz::read_everything(recovered);
  } catch (const std::exception&) {
  }
  ::unlink(ttt::trace_journal_path(trace).c_str());
  return 0;
}

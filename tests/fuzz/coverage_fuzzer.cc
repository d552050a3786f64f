// libFuzzer target for coverage data: the input is a coverage file (JSON Lines records) or suite
// results, read as `ttt coverage report` reads them, then reported against the built-in catalog
// in every rendering. Every path must end in success or a std::exception. docs/testing.md
// "Fuzzing".
#include <cstddef>
#include <cstdint>
#include <exception>

#include "coverage/catalog/catalog.h"
#include "coverage/record.h"
#include "coverage/report.h"
#include "coverage/suite_coverage.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = ttt::fuzz::write_input("coverage.jsonl", data, size);
  try {
    const std::vector<ttt::CoverageRecord> records = ttt::read_coverage_data(path);
    ttt::to_jsonl(ttt::aggregate_coverage(records));
    const ttt::CoverageReport report =
        ttt::build_coverage_report(records, ttt::builtin_catalog(), {.sources = {path}});
    ttt::format_coverage_console(report);
    ttt::format_coverage_markdown(report);
    ttt::format_coverage_html(report);
    ttt::to_json(report).dump();
    ttt::check_coverage(report, 50.0, {});
  } catch (const std::exception&) {
  }
  return 0;
}

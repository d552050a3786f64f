// libFuzzer target for suite files: the input is a suite file, read as `ttt suite check` and
// `ttt suite list` read it (load_suite_file, make_suite, the suite's problems, fingerprint and
// selection), without running cases. Every path must end in success or a std::exception.
// docs/testing.md "Fuzzing".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>

#include "suites/suite/suite.h"
#include "suites/suite/suite_file.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Seeded cases may declare huge shapes: the allocation limit must refuse them, and a small
  // limit keeps the fuzzer's memory bounded (its RSS limit is 2 GB).
  static const bool ready = (::setenv("TTT_MAX_ALLOC_BYTES", "64M", 1), true);
  (void)ready;
  const std::string path = ttt::fuzz::write_input("suite.json", data, size);
  try {
    const ttt::SuiteFile file = ttt::load_suite_file(path);
    const ttt::Suite suite = ttt::make_suite(file);
    suite.problems();
    suite.fingerprint();
    suite.selected_cases();
  } catch (const std::exception&) {
  }
  return 0;
}

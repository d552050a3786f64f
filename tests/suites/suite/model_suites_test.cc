// The declarative model suites of suites/*.json as GoogleTest tests, through the GoogleTest
// adapter (suites/suite/gtest_adapter.h): one test per case, named "<suite>.<case id>".
// Built twice: with TTT_MODEL_SUITES_QUICK=1 the cases tagged "quick" (label model: CI runs them),
// with 0 every other case (labels model and slow).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "suites/suite/gtest_adapter.h"
#include "suites/suite/suite_file.h"

namespace ttt {
namespace {

std::vector<std::string> suite_files() {
  std::vector<std::string> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(TTT_SOURCE_DIR) / "suites")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

const bool kRegistered = [] {
  for (const std::string& path : suite_files()) {
    try {
      SuiteRunOptions options;
      if (TTT_MODEL_SUITES_QUICK) {
        options.require_tags = {"quick"};
      } else {
        options.exclude_tags = {"quick"};
      }
      register_suite_tests(
          std::make_shared<const Suite>(make_suite(load_suite_file(path), options)));
    } catch (const std::exception& error) {
      register_failing_test("suite_files", std::filesystem::path(path).stem().string(),
                            error.what());
    }
  }
  return true;
}();

}  // namespace
}  // namespace ttt

// An opt-in GoogleTest listener that ties wrapped calls to the test that made them.
//
// After each test it looks at the validation records the test added (compare_to_reference calls
// made while it ran, in any thread):
//   - when one failed, the test fails, with one line per failed call and its wrapping site;
//   - a summary is attached as test properties, which gtest writes into its XML report
//     (--gtest_output=xml) as <property name="ttt_validation_calls" value="12"/> and so on.
// Install it once, before RUN_ALL_TESTS(): from main(), or with gmock_main / gtest_main from a
// static initializer in any test file:
//   static const bool kValidationListener = (ttt::install_validation_listener(), true);
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

namespace ttt {

struct ValidationListenerOptions {
  // Fail the test when a wrapped call inside it failed. Default: true.
  bool fail_test_on_failed_calls = true;
  // Attach the summary as test properties (ttt_validation_calls, _passed, _failed, _worst_pcc,
  // _summary). Default: true.
  bool record_properties = true;
};

class ValidationListener : public ::testing::EmptyTestEventListener {
 public:
  explicit ValidationListener(ValidationListenerOptions options = {}) : options_(options) {}

  // Remembers where the registry stands when the test starts.
  void OnTestStart(const ::testing::TestInfo& test_info) override;
  // Attaches properties and fails the test when one of its wrapped calls failed. GoogleTest calls
  // listeners' OnTestEnd in reverse order, so this runs before the result printer reports it.
  void OnTestEnd(const ::testing::TestInfo& test_info) override;

 private:
  ValidationListenerOptions options_;
  std::int64_t first_sequence_ = 0;
};

// Appends a ValidationListener to GoogleTest's listeners (GoogleTest owns and deletes it).
void install_validation_listener(ValidationListenerOptions options = {});

}  // namespace ttt

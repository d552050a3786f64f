// GoogleTest adapter: every case of a suite becomes a GoogleTest test, so suites run under any
// GoogleTest runner (filters, sharding, XML output, CTest through gtest_discover_tests).
//
//   static const bool registered = [] {
//     auto suite = std::make_shared<ttt::Suite>(...);  // or from a suite file
//     ttt::register_suite_tests(suite);
//     return true;
//   }();
//
// Tests are named "<suite>.<case id>" with every character other than letters, digits and '_'
// replaced by '_' ("llama_3_1_8b.attention_decode_ctx127"). A test runs its case (capturing its
// inputs, if it takes them from a callable, for that test alone), records the case's worst PCC and
// p50/p90 wall time as test properties (--gtest_output=xml shows them) and fails with each
// failure line of the case. Link tttv2::suites_gtest.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "suites/suite/suite.h"

namespace ttt {

// `text` with every character outside [A-Za-z0-9_] replaced by '_'.
std::string gtest_name(std::string_view text);

// Registers the selected cases of `suite` (its filter, tags and shard) as tests. Returns how
// many. REQUIRES: called before RUN_ALL_TESTS(); the suite is kept alive by the tests.
std::size_t register_suite_tests(std::shared_ptr<const Suite> suite);

// Registers one test "<test_suite>.<test_name>" that fails with `message` (a suite file that
// could not be loaded still shows up as a failing test rather than a crash at start-up).
void register_failing_test(const std::string& test_suite, const std::string& test_name,
                           const std::string& message);

}  // namespace ttt

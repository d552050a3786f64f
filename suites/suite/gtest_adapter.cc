#include "suites/suite/gtest_adapter.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <utility>

#include "validation/markup/number.h"

namespace ttt {
namespace {

class SuiteCaseTest : public ::testing::Test {
 public:
  SuiteCaseTest(std::shared_ptr<const Suite> suite, std::size_t index)
      : suite_(std::move(suite)), index_(index) {}

  void TestBody() override {
    const CaseResult result = suite_->run_case(index_);
    double worst_pcc = std::nan("");
    for (const OutputResult& output : result.outputs) {
      if (std::isnan(worst_pcc) || output.metrics.pcc < worst_pcc) worst_pcc = output.metrics.pcc;
    }
    if (!std::isnan(worst_pcc)) RecordProperty("worst_pcc", format_number(worst_pcc));
    if (result.timing && !result.timing->wall_ns.empty()) {
      const TimingStats wall = compute_timing_stats(result.timing->wall_ns);
      RecordProperty("wall_p50_ms", format_number(wall.p50 / 1e6));
      RecordProperty("wall_p90_ms", format_number(wall.p90 / 1e6));
    }
    if (!result.identity.empty()) RecordProperty("identity", result.identity);
    for (const std::string& line : result.failure_lines()) {
      ADD_FAILURE() << suite_->name() << "/" << result.id << ": " << line;
    }
  }

 private:
  std::shared_ptr<const Suite> suite_;
  std::size_t index_;
};

class FailingTest : public ::testing::Test {
 public:
  explicit FailingTest(std::string message) : message_(std::move(message)) {}
  void TestBody() override { ADD_FAILURE() << message_; }

 private:
  std::string message_;
};

}  // namespace

std::string gtest_name(std::string_view text) {
  std::string name(text);
  for (char& c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_') c = '_';
  }
  return name.empty() ? "_" : name;
}

std::size_t register_suite_tests(std::shared_ptr<const Suite> suite) {
  const std::string test_suite = gtest_name(suite->name());
  std::size_t count = 0;
  for (std::size_t index : suite->selected_cases()) {
    const std::string test_name = gtest_name(suite->case_at(index).id());
    ::testing::RegisterTest(
        test_suite.c_str(), test_name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
        [suite, index]() -> ::testing::Test* { return new SuiteCaseTest(suite, index); });
    ++count;
  }
  return count;
}

void register_failing_test(const std::string& test_suite, const std::string& test_name,
                           const std::string& message) {
  ::testing::RegisterTest(gtest_name(test_suite).c_str(), gtest_name(test_name).c_str(), nullptr,
                          nullptr, __FILE__, __LINE__,
                          [message]() -> ::testing::Test* { return new FailingTest(message); });
}

}  // namespace ttt

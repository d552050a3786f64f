// The validation listener: in process (its failure and properties inside a running test) and as
// GoogleTest runs it (a fixture program and its XML report).
#include "validation/gtest/listener.h"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "validation/wrapper/compare_to_reference.h"

namespace ttt {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

Tensor offset(const Tensor& x) {
  Tensor y = x.clone();
  for (float& v : y.mutable_floats()) v += 0.5f;
  return y;
}

Tensor same(const Tensor& x) { return x; }

const ::testing::TestInfo& current_test() {
  return *::testing::UnitTest::GetInstance()->current_test_info();
}

std::map<std::string, std::string> current_properties() {
  std::map<std::string, std::string> properties;
  const ::testing::TestResult& result = *current_test().result();
  for (int i = 0; i < result.test_property_count(); ++i) {
    properties[result.GetTestProperty(i).key()] = result.GetTestProperty(i).value();
  }
  return properties;
}

// Runs listener.OnTestEnd() and returns the failures it reported (without failing this test).
std::vector<::testing::TestPartResult> failures_of_test_end(ValidationListener& listener) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    listener.OnTestEnd(current_test());
  }
  std::vector<::testing::TestPartResult> copies;
  for (int i = 0; i < results.size(); ++i) copies.push_back(results.GetTestPartResult(i));
  return copies;
}

class ListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_validation_enabled(true);
    validation_registry().reset();
  }
};

TEST_F(ListenerTest, FailsTheTestWithEveryFailedCallAtTheWrappingSite) {
  auto good = compare_to_reference("listener.good", same, same);
  const int line = __LINE__ + 1;
  auto bad = compare_to_reference("listener.bad", offset, same);
  good(Tensor::from_floats({2}, {1, 2}));  // Before the test "starts": not counted.
  ValidationListener listener;
  listener.OnTestStart(current_test());
  good(Tensor::from_floats({2}, {1, 2}));
  bad(Tensor::from_floats({2}, {1, 2}));
  bad(Tensor::from_floats({2}, {3, 4}));
  const std::vector<::testing::TestPartResult> results = failures_of_test_end(listener);
  ASSERT_EQ(results.size(), 1u);
  const ::testing::TestPartResult& failure = results[0];
  EXPECT_TRUE(failure.nonfatally_failed());
  EXPECT_THAT(failure.file_name(), EndsWith("listener_test.cc"));
  EXPECT_EQ(failure.line_number(), line);
  const std::string site = "listener_test.cc:" + std::to_string(line) + "): ";
  EXPECT_THAT(failure.message(),
              HasSubstr("2 of 3 wrapped calls failed:\n  listener.bad call 0 ("));
  // float32's default: nmse 0.5^2 * 2 / (1 + 4) = 0.1, then 0.5^2 * 2 / (9 + 16) = 0.02.
  EXPECT_THAT(failure.message(), HasSubstr(site + "out0: nmse 0.1 > 2.3283064365386963e-10\n"
                                                  "  listener.bad call 1 ("));
  EXPECT_THAT(failure.message(), EndsWith(site + "out0: nmse 0.02 > 2.3283064365386963e-10"));

  const std::map<std::string, std::string> properties = current_properties();
  EXPECT_EQ(properties.at("ttt_validation_calls"), "3");
  EXPECT_EQ(properties.at("ttt_validation_passed"), "1");
  EXPECT_EQ(properties.at("ttt_validation_failed"), "2");
  // Offset outputs correlate perfectly: PCC 1 up to the last bit of its double, recorded in full
  // (round-trip) so the property reads back as the value computed.
  EXPECT_NEAR(std::stod(properties.at("ttt_validation_worst_pcc")), 1.0, 1e-15);
  EXPECT_EQ(properties.at("ttt_validation_summary"),
            "listener.good: 1 call, 0 failed, worst pcc 1; listener.bad: 2 calls, 2 failed, "
            "worst pcc 1");
}

TEST_F(ListenerTest, TestsWithoutWrappedCallsAreLeftAlone) {
  ValidationListener listener;
  listener.OnTestStart(current_test());
  EXPECT_EQ(failures_of_test_end(listener).size(), 0u);
  EXPECT_THAT(current_properties(), IsEmpty());
}

TEST_F(ListenerTest, OptionsTurnOffFailingAndProperties) {
  auto bad = compare_to_reference("listener.options", offset, same);
  ValidationListener no_fail({.fail_test_on_failed_calls = false});
  no_fail.OnTestStart(current_test());
  bad(Tensor::from_floats({1}, {1}));
  EXPECT_EQ(failures_of_test_end(no_fail).size(), 0u);
  EXPECT_EQ(current_properties().at("ttt_validation_failed"), "1");
}

TEST_F(ListenerTest, OptionsTurnOffProperties) {
  auto good = compare_to_reference("listener.no_properties", same, same);
  ValidationListener no_properties({.record_properties = false});
  no_properties.OnTestStart(current_test());
  good(Tensor::from_floats({1}, {1}));
  EXPECT_EQ(failures_of_test_end(no_properties).size(), 0u);
  EXPECT_THAT(current_properties(), IsEmpty());
}

// The <testcase name="..."> element of `xml`, up to its end.
std::string testcase_element(const std::string& xml, const std::string& name) {
  const std::size_t start = xml.find("<testcase name=\"" + name + "\"");
  if (start == std::string::npos) return "";
  const std::size_t self_closing = xml.find("/>", start);
  const std::size_t open_end = xml.find('>', start);
  if (self_closing != std::string::npos && self_closing + 1 == open_end) {
    return xml.substr(start, self_closing + 2 - start);
  }
  const std::size_t end = xml.find("</testcase>", start);
  return xml.substr(start, end - start);
}

TEST(ListenerProgram, FailsTheRightTestsAndWritesPropertiesIntoGtestXml) {
  const test_support::ScratchDir scratch;
  const std::string xml_path = scratch.file("listener_fixture.xml");
  const std::string command = std::string(TTT_LISTENER_FIXTURE) +
                              " --gtest_output=xml:" + xml_path + " > " +
                              scratch.file("listener_fixture.log") + " 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);  // One test failed.
  std::ifstream file(xml_path);
  std::stringstream contents;
  contents << file.rdbuf();
  const std::string xml = contents.str();
  ASSERT_THAT(xml, HasSubstr("<testsuites"));

  const std::string passing = testcase_element(xml, "PassingCalls");
  EXPECT_THAT(passing, HasSubstr("result=\"completed\""));
  EXPECT_THAT(passing, Not(HasSubstr("<failure")));
  EXPECT_THAT(passing, HasSubstr("<property name=\"ttt_validation_calls\" value=\"2\"/>"));
  EXPECT_THAT(passing, HasSubstr("<property name=\"ttt_validation_failed\" value=\"0\"/>"));
  EXPECT_THAT(passing, HasSubstr("<property name=\"ttt_validation_summary\" value=\"fixture.scale: "
                                 "2 calls, 0 failed, worst pcc 1\"/>"));

  const std::string failing = testcase_element(xml, "FailingCall");
  EXPECT_THAT(failing, HasSubstr("<failure message="));
  EXPECT_THAT(failing, HasSubstr("1 of 1 wrapped calls failed:"));
  EXPECT_THAT(failing, HasSubstr("fixture.offset call 0 ("));
  EXPECT_THAT(failing, HasSubstr("<property name=\"ttt_validation_failed\" value=\"1\"/>"));

  const std::string unwrapped = testcase_element(xml, "NoWrappedCalls");
  EXPECT_THAT(unwrapped, Not(HasSubstr("<failure")));
  EXPECT_THAT(unwrapped, Not(HasSubstr("ttt_validation")));
}

}  // namespace
}  // namespace ttt

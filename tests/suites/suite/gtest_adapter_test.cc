// The GoogleTest adapter: a suite registered at start-up shows up as tests that run their cases
// (the registered tests below run as part of this program), and names are sanitized.
#include "suites/suite/gtest_adapter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "suites/suite/targets.h"
#include "tests/common/scratch_dir.h"
#include "validation/markup/number.h"

namespace ttt {
namespace {

std::shared_ptr<const Suite> adapter_suite() {
  auto suite = std::make_shared<Suite>("adapter.suite", SuiteOptions{.seed = 3});
  suite->add_case(block_case({.kind = "rms_norm", .spec = {{"dim", 64}}, .mode = Mode::decode}))
      .with_seeded_inputs({.batch = 2})
      .expect_pcc(0.9999);
  suite->add_case(block_case({.kind = "layer_norm", .spec = {{"dim", 64}}, .mode = Mode::prefill}))
      .with_seeded_inputs({.batch = 1, .seq_len = 4})
      .expect_pcc(0.9999)
      .tagged({"excluded"});
  suite->options().exclude_tags = {"excluded"};
  return suite;
}

std::size_t registered_count = 0;
const bool kRegistered = [] {
  registered_count = register_suite_tests(adapter_suite());
  return true;
}();

TEST(GtestAdapter, RegistersTheSelectedCasesAsTests) {
  EXPECT_EQ(registered_count, 1u);
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  bool found = false;
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& test_suite = *unit.GetTestSuite(i);
    if (std::string(test_suite.name()) != "adapter_suite") continue;
    ASSERT_EQ(test_suite.total_test_count(), 1);
    EXPECT_STREQ(test_suite.GetTestInfo(0)->name(), "rms_norm_decode");
    found = true;
  }
  EXPECT_TRUE(found);
}

// The value of the XML property `name` in GoogleTest's XML report `xml`, or "" without it.
std::string xml_property(const std::string& xml, const std::string& name) {
  const std::string key = "<property name=\"" + name + "\" value=\"";
  const std::size_t start = xml.find(key);
  if (start == std::string::npos) return "";
  const std::size_t first = start + key.size();
  return xml.substr(first, xml.find('"', first) - first);
}

// The registered test, run in a child process of this program, records the worst PCC so that it
// reads back as the same double (as the suite results' JUnit does), not with std::to_string's
// six decimals ("1.000000", "0.999999" for 0.9999994).
TEST(GtestAdapter, RecordsTheWorstPccInFull) {
  const test_support::ScratchDir scratch;
  const std::filesystem::path& directory = scratch.path();
  const std::filesystem::path xml_path = directory / "report.xml";
  const std::string command =
      "'" + std::filesystem::read_symlink("/proc/self/exe").string() +
      "' --gtest_filter='adapter_suite.*' --gtest_output='xml:" + xml_path.string() +
      "' >/dev/null 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  std::ifstream file(xml_path);
  const std::string xml{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  const std::string recorded = xml_property(xml, "worst_pcc");
  ASSERT_FALSE(recorded.empty()) << xml;

  // The same seeded case, run again here: one output, so its PCC is the worst.
  const CaseResult result = adapter_suite()->run_case(0);
  ASSERT_EQ(result.outputs.size(), 1u);
  const double pcc = result.outputs[0].metrics.pcc;
  EXPECT_EQ(std::strtod(recorded.c_str(), nullptr), pcc) << recorded;
  EXPECT_EQ(recorded, format_number(pcc));
}

TEST(GtestAdapter, SanitizesNames) {
  EXPECT_EQ(gtest_name("llama-3.1-8b"), "llama_3_1_8b");
  EXPECT_EQ(gtest_name("attention.decode.ctx127"), "attention_decode_ctx127");
  EXPECT_EQ(gtest_name(""), "_");
}

}  // namespace
}  // namespace ttt

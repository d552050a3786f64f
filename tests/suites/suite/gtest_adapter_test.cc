// The GoogleTest adapter: a suite registered at start-up shows up as tests that run their cases
// (the registered tests below run as part of this program), and names are sanitized.
#include "suites/suite/gtest_adapter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "suites/suite/targets.h"

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

TEST(GtestAdapter, SanitizesNames) {
  EXPECT_EQ(gtest_name("llama-3.1-8b"), "llama_3_1_8b");
  EXPECT_EQ(gtest_name("attention.decode.ctx127"), "attention_decode_ctx127");
  EXPECT_EQ(gtest_name(""), "_");
}

}  // namespace
}  // namespace ttt

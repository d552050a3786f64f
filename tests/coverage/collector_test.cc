// Collecting coverage records of validated wrapper calls (coverage/collector.h): with the API, and
// with TTT_COVERAGE in a program that calls nothing from the coverage library.
#include "coverage/collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "coverage/record.h"
#include "tests/common/scratch_dir.h"
#include "validation/wrapper/compare_to_reference.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class Collector : public ::testing::Test {
 protected:
  void SetUp() override {
    validation_registry().reset();
    set_validation_enabled(true);
  }
  void TearDown() override { set_validation_enabled(true); }
  std::string path(const std::string& name) const { return scratch_.file(name); }

  test_support::ScratchDir scratch_;
};

CompareOptions norm_options() {
  CompareOptions options;
  options.block = "rms_norm";
  options.spec_json = R"({"dim": 4, "eps": 1e-05})";
  options.device = "N300";
  options.input_names = {"x"};
  return options;
}

Tensor copy(const Tensor& x) { return x.clone(); }

TEST_F(Collector, WritesOneRecordPerValidatedCall) {
  const std::string file = path("api.jsonl");
  auto norm = compare_to_reference("layers.0.attention_norm.prefill", copy, copy, norm_options());
  const Tensor x = Tensor::from_floats({1, 3, 4}, std::vector<float>(12, 1.0f));
  norm(x);  // Before the collector: not recorded.
  {
    ScopedCoverage coverage(file, {.origin = "unit-test"});
    norm(x);
    norm(x);
    set_validation_enabled(false);
    norm(x);  // Not validated: no record.
    set_validation_enabled(true);
    EXPECT_EQ(coverage.collector().records_written(), 2);
    EXPECT_FALSE(coverage.collector().error().has_value());
  }
  norm(x);  // After: not recorded.
  const std::vector<CoverageRecord> records = read_coverage_file(file);
  ASSERT_EQ(records.size(), 2u);
  const CoverageRecord& record = records[0];
  EXPECT_EQ(record.source, "wrapper");
  EXPECT_EQ(record.origin, "unit-test");
  EXPECT_EQ(record.block, "rms_norm");
  EXPECT_EQ(record.mode, "prefill");
  EXPECT_EQ(record.device, "N300");
  EXPECT_EQ(record.identity, "RMS_NORM(dim=4,eps=1e-05,offset=0)");
  EXPECT_EQ(record.seq_len, 4);  // 3 tokens, bucketed.
  EXPECT_EQ(record.passed, 1);
  const std::vector<CoverageRecord> merged = aggregate_coverage(records);
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].calls, 2);
}

TEST_F(Collector, RecordsFromManyThreadsAreWholeLines) {
  const std::string file = path("threads.jsonl");
  auto norm = compare_to_reference("layers.0.ffn_norm.decode", copy, copy, norm_options());
  const Tensor x = Tensor::from_floats({2, 4}, std::vector<float>(8, 0.5f));
  {
    ScopedCoverage coverage(file);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 25; ++i) norm(x);
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  const std::vector<CoverageRecord> records = read_coverage_file(file);  // Every line parses.
  ASSERT_EQ(records.size(), 100u);
  EXPECT_EQ(aggregate_coverage(records).at(0).calls, 100);
}

TEST_F(Collector, AnUnwritableFileThrowsWhenOpenedNow) {
  EXPECT_THAT([] { CoverageCollector collector("/nonexistent/dir/cov.jsonl"); },
              ::testing::ThrowsMessage<std::runtime_error>(
                  HasSubstr("[coverage] /nonexistent/dir/cov.jsonl: cannot open")));
  EXPECT_THROW(CoverageCollector(""), std::invalid_argument);
}

TEST_F(Collector, LazyOpenFailureIsRecordedAndDoesNotStopTheRun) {
  auto norm = compare_to_reference("layers.1.ffn_norm.decode", copy, copy, norm_options());
  CoverageCollector collector("/nonexistent/dir/cov.jsonl", {.open_now = false});
  const Tensor y = norm(Tensor::from_floats({1, 4}, {1, 2, 3, 4}));
  EXPECT_EQ(y.shape(), (Shape{1, 4}));
  ASSERT_TRUE(collector.error().has_value());
  EXPECT_THAT(*collector.error(), HasSubstr("cannot open"));
  EXPECT_EQ(collector.records_written(), 0);
}

TEST_F(Collector, EnvironmentVariableCollectsFromAProgramThatOnlyLinksTheLibrary) {
  const std::string file = path("env.jsonl");
  const std::string command = "TTT_COVERAGE='" + file + "' TTT_COVERAGE_ORIGIN=env-test '" +
                              TTT_COVERAGE_ENV_PROGRAM + "' > '" + path("out.txt") + "' 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  const std::vector<CoverageRecord> merged = aggregate_coverage(read_coverage_file(file));
  // Three validated calls (two pass, one fails) of one configuration; the unvalidated call is
  // not recorded.
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].calls, 3);
  EXPECT_EQ(merged[0].passed, 2);
  EXPECT_EQ(merged[0].failed, 1);
  EXPECT_EQ(merged[0].origin, "env-test");
  EXPECT_EQ(merged[0].mode, "decode");
  EXPECT_EQ(merged[0].batch, 2);
  // A second run appends.
  ASSERT_EQ(std::system(command.c_str()), 0);
  EXPECT_EQ(aggregate_coverage(read_coverage_file(file)).at(0).calls, 6);
  // With validation off the program validates nothing, and the file is never created.
  const std::string unused = path("unused.jsonl");
  ASSERT_EQ(std::system(("TTT_VALIDATE=0 TTT_COVERAGE='" + unused + "' '" +
                         TTT_COVERAGE_ENV_PROGRAM + "' > /dev/null")
                            .c_str()),
            0);
  EXPECT_FALSE(fs::exists(unused));
}

}  // namespace
}  // namespace ttt

// Recovery from a journal whose records are whole (their CRC holds) but whose JSON is wrong: the
// strict JSON reader names the journal and the field's JSON Pointer, the records numbered from 0.
#include "validation/trace/recover.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "validation/trace/internal/journal.h"

namespace ttt {
namespace {

using test_support::ScratchDir;
using ::testing::StrEq;
using ::testing::ThrowsMessage;

// A header record and one call with an empty dataset: recovery reads no bytes of the trace file,
// so any file stands for the damaged trace (the records are not a whole trace's: the recovered
// file is HDF5 but not a trace TraceReader opens).
std::vector<nlohmann::json> good_records() {
  return {{{"session", "s1"}, {"pid", 1}, {"groups", {"/calls", "/tensors"}}},
          {{"seq", 0},
           {"groups", {"/calls/000000"}},
           {"datasets",
            {{{"path", "/calls/000000/x"},
              {"type", "float32"},
              {"shape", {0, 4}},
              {"offset", nullptr},
              {"bytes", 0}}}},
           {"links", nlohmann::json::array()},
           {"attributes", {{"/calls/000000", "name", "layers.0.scale"}}}}};
}

// Writes `records` as the journal of `trace` (an empty stand-in file) and recovers it to a copy.
RecoveryReport recover_with(const ScratchDir& dir, const std::vector<nlohmann::json>& records) {
  const std::string trace = dir.file("t.h5");
  std::ofstream(trace).put('\0');
  {
    trace_internal::JournalWriter journal(trace_journal_path(trace));
    for (const nlohmann::json& record : records) journal.append(record);
  }
  return recover_trace(trace, dir.file("fixed.h5"));
}

TEST(Recovery, AWellFormedJournalRecoversItsCalls) {
  const ScratchDir dir;
  const RecoveryReport report = recover_with(dir, good_records());
  EXPECT_EQ(report.calls, 1);
  EXPECT_EQ(report.shared_tensors, 0);
  EXPECT_TRUE(std::filesystem::exists(dir.file("fixed.h5")));
}

TEST(Recovery, AMalformedRecordNamesTheJournalAndTheField) {
  const ScratchDir dir;
  const std::string journal = trace_journal_path(dir.file("t.h5"));
  const auto expect_error = [&](const std::vector<nlohmann::json>& records,
                                const std::string& pointer_and_what) {
    EXPECT_THAT([&] { recover_with(dir, records); },
                ThrowsMessage<std::invalid_argument>(StrEq(journal + ": " + pointer_and_what)));
  };
  // Wrong types (nlohmann's "type_error.302 ..." before, with no file or field).
  std::vector<nlohmann::json> records = good_records();
  records[0]["session"] = 5;
  expect_error(records, "/0/session: expected a string, got 5");
  records = good_records();
  records[1]["datasets"][0]["shape"] = "wide";
  expect_error(records, "/1/datasets/0/shape: expected an array, got \"wide\"");
  records = good_records();
  records[1]["datasets"][0]["type"] = "float16";
  expect_error(records, "/1/datasets/0/type: unknown stored type 'float16'");
  records = good_records();
  records[1]["datasets"][0]["bytes"] = 16;
  expect_error(records,
               "/1/datasets/0/bytes: the journal's byte count does not match the dataset's shape");
  // A missing field.
  records = good_records();
  records[1]["datasets"][0].erase("type");
  expect_error(records, "/1/datasets/0: missing field 'type'");
  // Unknown fields: the journal is TTTv2's own format, read strictly.
  records = good_records();
  records[1]["datasets"][0]["shap"] = {1};
  expect_error(records,
               "/1/datasets/0/shap: unknown field 'shap' (expected one of: path, type, shape, "
               "offset, bytes, chunk, deflate, shuffle, chunks)");
  records = good_records();
  records[1]["sequence"] = 0;
  expect_error(records,
               "/1/sequence: unknown field 'sequence' (expected one of: seq, session, pid, groups, "
               "datasets, links, attributes)");
  records = good_records();
  records[1]["attributes"][0] = {"/calls/000000", "name"};
  expect_error(records,
               "/1/attributes/0: expected [object, name, value], got [\"/calls/000000\",\"name\"]");
  // Nothing is left behind by a refused recovery.
  EXPECT_FALSE(std::filesystem::exists(dir.file("fixed.h5")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("fixed.h5.recovering")));
}

}  // namespace
}  // namespace ttt

// Coverage records (coverage/record.h): bucketing, mode inference, JSON Lines, aggregation and
// the errors a bad file gets.
#include "coverage/record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "coverage/sources.h"
#include "tests/common/scratch_dir.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// A file in this process's scratch directory.
std::string temp_path(const std::string& name) {
  static const test_support::ScratchDir scratch;
  return scratch.file(name);
}

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

CallObservation norm_call(const std::string& name, Shape x_shape) {
  CallObservation call;
  call.source = "wrapper";
  call.name = name;
  call.kind = "rms_norm";
  call.spec = {{"dim", 4096}, {"eps", 1e-5}};
  call.device = "N150";
  call.inputs = {{"x", std::move(x_shape), DType::bfloat16}, {"weight", {4096}, DType::float32}};
  call.outcome = CallObservation::Outcome::passed;
  return call;
}

TEST(MakeCoverageRecord, PrefillBucketsSequenceAndBatchOfTheActivation) {
  const CoverageRecord record =
      make_coverage_record(norm_call("layers.3.attention_norm.prefill", {3, 100, 4096}));
  EXPECT_EQ(record.block, "rms_norm");
  EXPECT_EQ(record.mode, "prefill");  // From the name's component.
  EXPECT_EQ(record.batch, 4);
  EXPECT_EQ(record.seq_len, 128);
  ASSERT_EQ(record.inputs.size(), 2u);  // Sorted by name: weight, x.
  EXPECT_THAT(record.inputs[1].shape, ElementsAre(4, 128, 4096));
  EXPECT_EQ(record.inputs[1].dtype, "bfloat16");
  EXPECT_THAT(record.inputs[0].shape, ElementsAre(4096));  // Other inputs keep exact shapes.
  // The identity is the block's own, with the Spec's defaults filled in.
  EXPECT_EQ(record.identity, "RMS_NORM(dim=4096,eps=1e-05,offset=0)");
  EXPECT_EQ(record.calls, 1);
  EXPECT_EQ(record.passed, 1);
  EXPECT_EQ(record.failed, 0);
}

TEST(MakeCoverageRecord, DecodeBatchIsTheTokenDimensionsProduct) {
  const CoverageRecord record =
      make_coverage_record(norm_call("layers.3.attention_norm.decode", {20, 4096}));
  EXPECT_EQ(record.mode, "decode");
  EXPECT_EQ(record.batch, 32);
  EXPECT_EQ(record.seq_len, 1);
  EXPECT_THAT(record.inputs[1].shape, ElementsAre(32, 4096));
}

// A trace lists inputs by name: the gated MLP's w_down comes first, yet batch and seq_len are
// the activation x's (before the fix: seq_len 4096 from w_down [14336, 4096]).
TEST(MakeCoverageRecord, TokensComeFromTheActivationInWhateverOrder) {
  CallObservation call;
  call.kind = "gated_mlp";
  call.mode = "prefill";
  call.spec = {{"hidden_dim", 4096}, {"ffn_dim", 14336}};
  call.inputs = {{"w_down", {14336, 4096}, DType::bfloat16},
                 {"w_gate", {4096, 14336}, DType::bfloat16},
                 {"w_up", {4096, 14336}, DType::bfloat16},
                 {"x", {1, 32, 4096}, DType::bfloat16}};
  const CoverageRecord record = make_coverage_record(call);
  EXPECT_EQ(record.batch, 1);
  EXPECT_EQ(record.seq_len, 32);
  EXPECT_THAT(record.inputs[0].shape, ElementsAre(14336, 4096));
}

// A suite case on one of 8 vocabulary shards stands for the whole vocabulary.
TEST(MakeCoverageRecord, VocabularyShardNamesTheWholeConfiguration) {
  CallObservation call;
  call.kind = "lm_head";
  call.mode = "decode";
  call.spec = {{"hidden_dim", 2048}, {"vocab_size", 16032}, {"tied_embeddings", true}};
  call.inputs = {{"x", {1, 2048}, DType::bfloat16}, {"weight", {16032, 2048}, DType::float32}};
  call.vocab_shards = 8;
  const CoverageRecord record = make_coverage_record(call);
  EXPECT_EQ(record.spec.at("vocab_size"), 128256);
  EXPECT_EQ(record.identity, "LM_HEAD(hidden=2048,vocab=128256,tied=1,softcap=0)");
  EXPECT_EQ(record.vocab_shards, 8);
  EXPECT_EQ(to_json(record).at("vocab_shards"), 8);
  EXPECT_EQ(coverage_record_from_json(to_json(record), "r").vocab_shards, 8);
  call.spec.erase("vocab_size");
  EXPECT_THROW(make_coverage_record(call), std::invalid_argument);
}

TEST(AggregateCoverage, CountsPastSigned64BitsAndOverflowIsAnError) {
  CoverageRecord record = make_coverage_record(norm_call("n.decode", {1, 4096}));
  record.calls = record.passed = (std::uint64_t{1} << 63) - 1;
  std::vector<CoverageRecord> merged = aggregate_coverage({record, record});
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].calls, 18446744073709551614u);
  record.calls = record.passed = std::uint64_t{1} << 63;
  EXPECT_THROW(aggregate_coverage({record, record}), std::overflow_error);
}

TEST(MakeCoverageRecord, IntegerIdsHaveNoFeatureDimension) {
  CallObservation call;
  call.kind = "embedding";
  call.mode = "prefill";
  call.inputs = {{"ids", {2, 5}, DType::int32}};
  const CoverageRecord record = make_coverage_record(call);
  EXPECT_EQ(record.batch, 2);
  EXPECT_EQ(record.seq_len, 8);
  EXPECT_EQ(record.passed + record.failed, 0);  // Unchecked.
}

TEST(MakeCoverageRecord, ModeComesFromKindSuffixThenScalarThenName) {
  CallObservation call = norm_call("layers.0.attention.prefill", {1, 4096});
  call.kind = "attention.decode";
  EXPECT_EQ(make_coverage_record(call).mode, "decode");
  EXPECT_EQ(make_coverage_record(call).block, "attention");
  call.kind = "rms_norm";
  call.scalars = {{"mode", "decode"}};
  EXPECT_EQ(make_coverage_record(call).mode, "decode");
  call.scalars = nlohmann::json::object();
  call.name = "my_call";
  EXPECT_EQ(make_coverage_record(call).mode, "");
}

TEST(MakeCoverageRecord, UnknownBlocksKeepTheirJsonAsIdentity) {
  CallObservation call;
  call.kind = "my_model.gate";
  call.spec = {{"alpha", 2}};
  const CoverageRecord record = make_coverage_record(call);
  EXPECT_EQ(record.block, "my_model.gate");
  EXPECT_EQ(record.identity, "my_model.gate{\"alpha\":2}");
  EXPECT_EQ(record.batch, 0);
  EXPECT_EQ(record.seq_len, 0);
}

TEST(CoverageRecordJson, RoundTripsEveryField) {
  CallObservation call = norm_call("layers.1.ffn_norm.decode", {1, 4096});
  call.outcome = CallObservation::Outcome::failed;
  call.origin = "llama-3.1-8b";
  const CoverageRecord record = make_coverage_record(call);
  const nlohmann::json json = to_json(record);
  EXPECT_EQ(json.at("ttt_coverage"), kCoverageFormatVersion);
  EXPECT_EQ(json.at("failed"), 1);
  EXPECT_EQ(coverage_record_from_json(json, "here"), record);
}

TEST(AggregateCoverage, SumsIdenticalRecordsAndKeepsOthers) {
  const CoverageRecord a = make_coverage_record(norm_call("x.decode", {1, 4096}));
  CallObservation failing = norm_call("y.decode", {1, 4096});
  failing.outcome = CallObservation::Outcome::failed;
  const CoverageRecord b = make_coverage_record(failing);
  const CoverageRecord c = make_coverage_record(norm_call("z.decode", {32, 4096}));
  const std::vector<CoverageRecord> merged = aggregate_coverage({a, b, c, a});
  ASSERT_EQ(merged.size(), 2u);  // The names differ but are not part of a record.
  const auto& one = merged[0].batch == 1 ? merged[0] : merged[1];
  const auto& other = merged[0].batch == 1 ? merged[1] : merged[0];
  EXPECT_EQ(one.calls, 3);
  EXPECT_EQ(one.passed, 2);
  EXPECT_EQ(one.failed, 1);
  EXPECT_EQ(other.calls, 1);
}

TEST(CoverageFiles, WriteReadAndMerge) {
  const std::string path = temp_path("merge.jsonl");
  const CoverageRecord a = make_coverage_record(norm_call("x.decode", {1, 4096}));
  write_coverage_file(path, {a, a});
  const std::vector<CoverageRecord> read = read_coverage_file(path);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0], a);
  const std::vector<CoverageRecord> merged = aggregate_coverage(read_coverage_files({path, path}));
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].calls, 4);
}

TEST(CoverageFiles, BadLinesNameTheFileAndLine) {
  const std::string path = temp_path("bad.jsonl");
  const std::string good = to_json(make_coverage_record(norm_call("x.decode", {1, 8}))).dump();
  write(path, good + "\n\n{not json\n");
  EXPECT_THAT([&] { read_coverage_file(path); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(path + ":3: not JSON")));
  write(path, "{\"hello\": 1}\n");
  EXPECT_THAT([&] { read_coverage_file(path); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr(path + ":1: not a coverage record (no ttt_coverage key)")));
  nlohmann::json wrong = nlohmann::json::parse(good);
  wrong["calls"] = -1;
  write(path, wrong.dump() + "\n");
  EXPECT_THAT([&] { read_coverage_file(path); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  path + ":1: /calls: expected an integer in [0, 18446744073709551615], got -1")));
  wrong = nlohmann::json::parse(good);
  wrong["passed"] = 5;
  write(path, wrong.dump() + "\n");
  EXPECT_THAT([&] { read_coverage_file(path); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("exceed calls (1)")));
  wrong = nlohmann::json::parse(good);
  wrong["ttt_coverage"] = 99;
  write(path, wrong.dump() + "\n");
  EXPECT_THAT([&] { read_coverage_file(path); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("version 99 is newer")));
  wrong = nlohmann::json::parse(good);
  wrong["mode"] = "train";
  write(path, wrong.dump() + "\n");
  EXPECT_THAT([&] { read_coverage_file(path); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  path + ":1: /mode: expected \"prefill\", \"decode\" or \"\", got \"train\"")));
  // Read strictly: a misspelt field is an error naming it, not a record with a default.
  wrong = nlohmann::json::parse(good);
  wrong["inputs"][0]["shpe"] = wrong["inputs"][0]["shape"];
  write(path, wrong.dump() + "\n");
  EXPECT_THAT([&] { read_coverage_file(path); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr(path + ":1: /inputs/0/shpe: unknown field 'shpe' (expected one of: "
                                   "name, shape, dtype)")));
  EXPECT_THAT(
      [] { read_coverage_file("/nonexistent/cov.jsonl"); },
      ThrowsMessage<std::invalid_argument>(HasSubstr("/nonexistent/cov.jsonl: cannot open")));
}

TEST(CoverageFromValidationRecord, CarriesProvenanceAndVerdict) {
  ValidationRecord record;
  record.name = "layers.0.ffn.decode";
  record.block = "gated_mlp";
  record.spec_json = R"({"hidden_dim": 64, "ffn_dim": 128, "activation": "silu"})";
  record.device = "T3K";
  record.inputs = {{"x", {8, 64}, DType::bfloat16}};
  record.passed = false;
  const CoverageRecord coverage = coverage_record(record, "ci");
  EXPECT_EQ(coverage.source, "wrapper");
  EXPECT_EQ(coverage.origin, "ci");
  EXPECT_EQ(coverage.block, "gated_mlp");
  EXPECT_EQ(coverage.mode, "decode");
  EXPECT_EQ(coverage.device, "T3K");
  EXPECT_EQ(coverage.batch, 8);
  EXPECT_EQ(coverage.identity, "GATED_MLP(hidden=64,ffn=128,act=silu)");
  EXPECT_EQ(coverage.failed, 1);
}

}  // namespace
}  // namespace ttt

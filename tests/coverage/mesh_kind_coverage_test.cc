// How a mesh kind's calls count (docs/coverage.md "Topologies"): a tensor-parallel kind runs a
// single-device block on every device, so its record is that block's configuration on the
// Spec's mesh (tp_gated_mlp on T3K: the GATED_MLP(...) Llama-3.1-70B@T3K needs), its vocabulary
// shard scales the single-device Spec's vocab_size, and the block's domain reads its fields.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "coverage/catalog/catalog.h"
#include "coverage/record.h"
#include "coverage/report.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// Llama-3.1-70B's FFN (model_configs.md: hidden 8192, intermediate 28672, SwiGLU) as TTTv1 runs
// it on T3K: column/row-parallel over the 8 devices of axis 1.
CallObservation tp_gated_mlp_call(const std::string& mode) {
  CallObservation call;
  call.source = "suite";
  call.name = "ffn." + mode;
  call.kind = "tp_gated_mlp";
  call.mode = mode;
  call.spec = {{"mlp", {{"hidden_dim", 8192}, {"ffn_dim", 28672}, {"activation", "silu"}}},
               {"mesh", "T3K"},
               {"axis", 1}};
  call.device = "T3K";
  call.inputs = {{"x", {1, 32, 8192}, DType::bfloat16}};
  call.outcome = CallObservation::Outcome::passed;
  return call;
}

// Llama-3.1-70B's LM head (hidden 8192, vocabulary 128256, untied) on T3K, run as one of 8
// vocabulary parts of 16032 columns (2004 per device), as suites/llama-3.1-70b-t3k.json does.
CallObservation tp_lm_head_shard_call() {
  CallObservation call;
  call.source = "suite";
  call.name = "lm_head.decode";
  call.kind = "tp_lm_head";
  call.mode = "decode";
  call.spec = {
      {"lm_head", {{"hidden_dim", 8192}, {"vocab_size", 16032}}}, {"mesh", "T3K"}, {"axis", 1}};
  call.device = "T3K";
  call.vocab_shards = 8;
  call.inputs = {{"x", {1, 8192}, DType::bfloat16}};
  call.outcome = CallObservation::Outcome::passed;
  return call;
}

// The row's configuration of `block` in `mode` with `weight_dtype` ("": any), or nullptr.
const ConfigCoverage* find_config(const ModelCoverage& row, const std::string& block,
                                  const std::string& mode, const std::string& weight_dtype = "") {
  for (const ConfigCoverage& config : row.configurations) {
    if (config.config.block == block && config.config.mode == mode &&
        (weight_dtype.empty() || config.config.weight_dtype == weight_dtype)) {
      return &config;
    }
  }
  return nullptr;
}

TEST(MeshKindCoverage, ATensorParallelMlpRecordIsTheGatedMlpOnItsMesh) {
  const CoverageRecord record = make_coverage_record(tp_gated_mlp_call("prefill"));
  EXPECT_EQ(record.kind, "tp_gated_mlp");
  EXPECT_EQ(record.block, "gated_mlp");
  EXPECT_EQ(record.identity, "GATED_MLP(hidden=8192,ffn=28672,act=silu)");
  // The record keeps the call's Spec: its mesh is the record's topology.
  EXPECT_EQ(record.spec.at("mesh"), "T3K");
  const CoverageRecord read = coverage_record_from_json(to_json(record), "r");
  EXPECT_EQ(read.key(), record.key());
}

// Before the mesh kinds described their single-device block, this record was "tp_gated_mlp"
// with the identity TP_GATED_MLP(...) and covered nothing.
TEST(MeshKindCoverage, ATensorParallelMlpOnT3KCoversLlama70BOnT3KOnly) {
  const CoverageReport report = build_coverage_report(
      {make_coverage_record(tp_gated_mlp_call("prefill"))}, builtin_catalog());
  const ModelCoverage* t3k = report.find_model("Llama-3.1-70B@T3K");
  const ModelCoverage* one_device = report.find_model("Llama-3.1-70B");
  const ModelCoverage* tg = report.find_model("Llama-3.1-70B@TG");
  ASSERT_NE(t3k, nullptr);
  ASSERT_NE(one_device, nullptr);
  ASSERT_NE(tg, nullptr);
  // T3K's defaults keep the gated MLP's bfloat8_b FF1/FF3 weights (the default preset).
  const ConfigCoverage* covered = find_config(*t3k, "gated_mlp", "prefill", "bfloat8_b");
  ASSERT_NE(covered, nullptr);
  EXPECT_EQ(covered->config.identity, "GATED_MLP(hidden=8192,ffn=28672,act=silu)");
  EXPECT_EQ(covered->status, ConfigStatus::passing);
  EXPECT_EQ(covered->calls, 1u);
  EXPECT_EQ(t3k->counts.passing, 1);
  EXPECT_EQ(find_config(*one_device, "gated_mlp", "prefill", "bfloat8_b")->status,
            ConfigStatus::missing);
  EXPECT_EQ(find_config(*tg, "gated_mlp", "prefill", "bfloat8_b")->status, ConfigStatus::missing);
  EXPECT_TRUE(report.unmatched.empty());
}

// The gated MLP's domain reads the single-device fields: the Spec's dims and the ImplConfig's
// FF1/FF3 fidelity (TTTv1's HiFi2 default), not the mesh kind's wrapper.
TEST(MeshKindCoverage, TheGatedMlpDomainCountsTheTensorParallelRecord) {
  const CoverageReport report =
      build_coverage_report({make_coverage_record(tp_gated_mlp_call("prefill")),
                             make_coverage_record(tp_gated_mlp_call("decode"))},
                            builtin_catalog());
  const auto block = std::find_if(report.blocks.begin(), report.blocks.end(),
                                  [](const BlockCoverage& b) { return b.block == "gated_mlp"; });
  ASSERT_NE(block, report.blocks.end());
  EXPECT_EQ(block->records, 2);
  EXPECT_TRUE(block->has_domain);
  EXPECT_EQ(std::count_if(report.blocks.begin(), report.blocks.end(),
                          [](const BlockCoverage& b) { return b.block == "tp_gated_mlp"; }),
            0);
  for (const ParameterCoverage& parameter : block->parameters) {
    SCOPED_TRACE(parameter.name);
    EXPECT_EQ(parameter.unknown, 0);
    if (parameter.name == "hidden_dim") {
      EXPECT_THAT(parameter.tested, ::testing::ElementsAre(8192));
    }
    if (parameter.name == "fidelity") {
      EXPECT_THAT(parameter.tested, ::testing::ElementsAre("HiFi2"));
    }
    if (parameter.name == "mode") {
      EXPECT_THAT(parameter.tested, ::testing::ElementsAre("prefill", "decode"));
    }
  }
}

// The vocabulary of a tp_lm_head is its LM head's: 16032 x 8 = 128256, the whole of Llama's.
TEST(MeshKindCoverage, AVocabularyShardScalesTheSingleDeviceVocabulary) {
  const CoverageRecord record = make_coverage_record(tp_lm_head_shard_call());
  EXPECT_EQ(record.block, "lm_head");
  EXPECT_EQ(record.spec.at("lm_head").at("vocab_size"), 128256);
  EXPECT_FALSE(record.spec.contains("vocab_size"));
  EXPECT_EQ(record.vocab_shards, 8);
  EXPECT_EQ(record.identity, "LM_HEAD(hidden=8192,vocab=128256,tied=0,softcap=0)");
  const CoverageReport report = build_coverage_report({record}, builtin_catalog());
  // Llama-3.1-70B needs one LM head per mode (every preset keeps its weight format).
  const ConfigCoverage* covered =
      find_config(*report.find_model("Llama-3.1-70B@T3K"), "lm_head", "decode");
  ASSERT_NE(covered, nullptr);
  EXPECT_EQ(covered->config.identity, record.identity);
  EXPECT_EQ(covered->status, ConfigStatus::passing);
}

TEST(MeshKindCoverage, AVocabularyShardWithoutTheInnerVocabularyIsAnError) {
  CallObservation call = tp_lm_head_shard_call();
  call.spec.at("lm_head").erase("vocab_size");
  call.spec["vocab_size"] = 16032;  // At the wrong level: the mesh kind's Spec has none.
  EXPECT_THAT([&] { make_coverage_record(call); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[coverage] lm_head.decode: a call run on a vocabulary shard needs "
                            "an integer spec.lm_head.vocab_size")));
  call.spec.erase("lm_head");
  EXPECT_THAT([&] { make_coverage_record(call); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("spec.lm_head.vocab_size")));
}

}  // namespace
}  // namespace ttt

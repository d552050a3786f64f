// Suite files: the schema of docs/suites.md, module resolution against the model, every error
// naming the file and the JSON path, the suites shipped in suites/, sharding.
#include "suites/suite/suite_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "tests/common/scratch_dir.h"
#include "validation/input/allocation_limit.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;

nlohmann::json minimal() {
  return nlohmann::json::parse(R"({
    "suite": "tiny",
    "seed": 7,
    "defaults": {"shapes": {"batch": 1, "seq_len": 16, "context_len": 15},
                 "expect": {"pcc": 0.99}},
    "cases": [
      {"block": "gated_mlp", "mode": "decode",
       "spec": {"hidden_dim": 64, "ffn_dim": 128}, "tags": ["quick"]},
      {"block": "attention.prefill", "mode": "prefill",
       "spec": {"hidden_dim": 64, "num_heads": 4, "num_kv_heads": 2,
                "rope": {"head_dim": 16}},
       "expect": {"latency": {"p": 0.9, "ms": 50, "tolerance": 0.2}}},
      {"name": "norm.strict", "block": "rms_norm", "mode": "prefill", "spec": {"dim": 64},
       "shapes": {"batch": 2, "seq_len": 4}, "expect": {"pcc": 0.9999}, "repetitions": 11,
       "inputs": {"weight_std": 0.1}}
    ]})");
}

std::string error_of(const nlohmann::json& json) {
  try {
    parse_suite_file(json, "suites/tiny.json", "");
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no error";
}

TEST(SuiteFile, ParsesCasesWithDefaults) {
  const SuiteFile file = parse_suite_file(minimal(), "suites/tiny.json", "");
  EXPECT_EQ(file.name, "tiny");
  EXPECT_EQ(file.seed, 7u);
  EXPECT_EQ(file.device, Device::N150);
  ASSERT_EQ(file.cases.size(), 3u);
  const SuiteFileCase& ffn = file.cases[0];
  EXPECT_EQ(ffn.id, "gated_mlp.decode");
  EXPECT_EQ(ffn.path, "/cases/0");
  EXPECT_EQ(ffn.shapes, (CaseShapes{1, 0, 0}));  // Decode reads only the batch.
  EXPECT_EQ(ffn.expectations.accuracy.pcc, 0.99);
  EXPECT_FALSE(ffn.expectations.latency.has_value());
  EXPECT_EQ(ffn.spec.at("activation"), "silu");  // Normalized: every field of the Spec.
  EXPECT_EQ(ffn.tags, (std::vector<std::string>{"quick"}));
  EXPECT_EQ(ffn.occurrences, 0);
  const SuiteFileCase& attention = file.cases[1];
  EXPECT_EQ(attention.id, "attention.prefill.s16");
  EXPECT_EQ(attention.shapes.seq_len, 16);
  EXPECT_EQ(attention.expectations.accuracy.pcc, 0.99);  // The default, with the case's latency.
  ASSERT_TRUE(attention.expectations.latency.has_value());
  EXPECT_DOUBLE_EQ(attention.expectations.latency->tolerance, 0.2);
  const SuiteFileCase& norm = file.cases[2];
  EXPECT_EQ(norm.id, "norm.strict");
  EXPECT_EQ(norm.shapes, (CaseShapes{2, 4, 0}));
  EXPECT_EQ(norm.expectations.accuracy.pcc, 0.9999);
  EXPECT_EQ(norm.repetitions, 11);
  EXPECT_DOUBLE_EQ(norm.seeded.weight_std, 0.1);

  const Suite suite = make_suite(file, {.filter = "*norm*"});
  EXPECT_EQ(suite.size(), 3u);
  EXPECT_EQ(suite.selected_cases(), (std::vector<std::size_t>{2}));
  EXPECT_TRUE(suite.problems().empty());
}

TEST(SuiteFile, FieldErrorsNameTheFileAndTheJsonPath) {
  struct Mutation {
    std::string what;
    std::function<void(nlohmann::json&)> apply;
    std::string expected;
  };
  const std::vector<Mutation> mutations = {
      {"integer", [](auto& j) { j["cases"][1]["spec"]["num_heads"] = "32"; },
       "suites/tiny.json: /cases/1/spec/num_heads: expected an integer, got \"32\""},
      {"nested", [](auto& j) { j["cases"][1]["spec"]["rope"]["theta"] = "big"; },
       "suites/tiny.json: /cases/1/spec/rope/theta:"},
      {"validate", [](auto& j) { j["cases"][1]["spec"]["num_kv_heads"] = 3; },
       "suites/tiny.json: /cases/1/spec/num_heads: [attention]"},
      {"name", [](auto& j) { j.erase("suite"); }, "suites/tiny.json: /: missing field 'suite'"},
      {"top", [](auto& j) { j["sweet"] = 1; }, "suites/tiny.json: /sweet: unknown field 'sweet'"},
      {"mode", [](auto& j) { j["cases"][0]["mode"] = "train"; },
       "suites/tiny.json: /cases/0/mode: "},
      {"shape",
       [](auto& j) {
         j["cases"][0]["shapes"] = {{"context_len", 3}};
       },
       "suites/tiny.json: /cases/0/shapes/context_len: is not used by gated_mlp in decode "
       "(it reads: batch)"},
      {"seq",
       [](auto& j) {
         j["cases"][2]["shapes"] = {{"seq_len", 0}};
       },
       "suites/tiny.json: /cases/2/shapes/seq_len: expected an integer >= 1, got 0"},
      {"latency", [](auto& j) { j["cases"][1]["expect"]["latency"]["p"] = 2; },
       "suites/tiny.json: /cases/1/expect/latency/p: expected a number in [0, 1]"},
      {"default expect", [](auto& j) { j["defaults"]["expect"]["pcc"] = "x"; },
       "suites/tiny.json: /defaults/expect/pcc: expected a number"},
      {"no expect", [](auto& j) { j["defaults"].erase("expect"); },
       "suites/tiny.json: /cases/0: no expectation"},
      {"reps", [](auto& j) { j["cases"][2]["repetitions"] = 3; },
       "suites/tiny.json: /cases/2/repetitions: expected an integer from 9 to 2147483647, got 3"},
      // 2^32 + 9 used to wrap to 9 repetitions, 2^32 warm-ups to 0, 2^64 - 1 to -1.
      {"reps wrap", [](auto& j) { j["defaults"]["repetitions"] = 4294967305LL; },
       "suites/tiny.json: /defaults/repetitions: expected an integer from 9 to 2147483647, got "
       "4294967305"},
      {"warmup wrap", [](auto& j) { j["cases"][0]["warmup"] = 4294967296LL; },
       "suites/tiny.json: /cases/0/warmup: expected an integer from 0 to 2147483647"},
      {"uint64", [](auto& j) { j["cases"][0]["warmup"] = 18446744073709551615ULL; },
       "suites/tiny.json: /cases/0/warmup: integer 18446744073709551615 is out of range"},
      // Above 2^63 - 1, a Spec's int64 field used to wrap to a negative number.
      {"int spec", [](auto& j) { j["cases"][1]["spec"]["num_heads"] = 18446744073709551615ULL; },
       "suites/tiny.json: /cases/1/spec/num_heads: integer 18446744073709551615 is out of range"},
      // Used to be reported at /cases/2/spec/bogus.
      {"impl_config",
       [](auto& j) {
         j["cases"][2]["impl_config"] = {{"bogus", 1}};
       },
       "suites/tiny.json: /cases/2/impl_config/bogus: "},
      // 2^40 values per row: refused by the allocation limit before anything is drawn.
      {"huge", [](auto& j) { j["cases"][2]["spec"]["dim"] = 1099511627776LL; },
       "suites/tiny.json: /cases/2: seeded input 'x' (shape [2, 4, 1099511627776]), with the "
       "inputs before it, needs 32.0 TiB (35184372088832 bytes), more than the allocation limit"},
      {"duplicate", [](auto& j) { j["cases"][2]["name"] = "gated_mlp.decode"; },
       "suites/tiny.json: /cases/2: its id 'gated_mlp.decode' is also the id of /cases/0"},
      {"kind", [](auto& j) { j["cases"][0]["block"] = "conv2d"; },
       "suites/tiny.json: /cases/0/block: 'conv2d' has no seeded inputs (known kinds: "
       "all_gather, all_reduce, attention.decode, attention.prefill, broadcast, "},
      {"source",
       [](auto& j) {
         j["cases"][0]["inputs"] = {{"source", "random"}};
       },
       "suites/tiny.json: /cases/0/inputs/source: unknown input source 'random'"},
      {"std",
       [](auto& j) {
         j["cases"][0]["inputs"] = {{"weight_std", 0}};
       },
       "suites/tiny.json: /cases/0/inputs/weight_std: must be > 0"},
      {"attention mode", [](auto& j) { j["cases"][1]["mode"] = "decode"; },
       "suites/tiny.json: /cases/1/mode: attention.prefill runs in prefill mode only"},
      {"model", [](auto& j) { j["model"] = "llama-9"; },
       "suites/tiny.json: /model: [model_catalog] 'llama-9' is neither a catalog model"},
      {"module without model", [](auto& j) { j["cases"][0]["module"] = "layers.*.ffn"; },
       "suites/tiny.json: /cases/0/module: a module needs the suite's \"model\""},
      {"split",
       [](auto& j) {
         j["cases"][0]["split"] = {{"vocab_size", 2}};
       },
       "suites/tiny.json: /cases/0/split: needs a \"module\""},
      {"device", [](auto& j) { j["device"] = "P150"; }, "suites/tiny.json: /device: "},
      {"cases", [](auto& j) { j["cases"] = nlohmann::json::array(); },
       "suites/tiny.json: /cases: a suite needs at least one case"},
  };
  for (const Mutation& mutation : mutations) {
    nlohmann::json json = minimal();
    mutation.apply(json);
    EXPECT_THAT(error_of(json), HasSubstr(mutation.expected)) << mutation.what;
  }
}

nlohmann::json model_suite(const std::string& model, nlohmann::json cases) {
  return {{"suite", "m"},
          {"model", model},
          {"defaults",
           {{"shapes", {{"batch", 1}, {"seq_len", 8}, {"context_len", 7}}},
            {"expect", {{"pcc", 0.99}}}}},
          {"cases", cases}};
}

TEST(SuiteFile, ModulesTakeTheirSpecFromTheModelAndCountOccurrences) {
  const SuiteFile file = parse_suite_file(
      model_suite("llama-3.2-1b",
                  {{{"module", "layers.*.ffn"}, {"mode", "decode"}},
                   {{"module", "layers.*.attention"}, {"mode", "decode"}, {"tags", {"quick"}}},
                   {{"module", "layers.3.attention_norm"}, {"mode", "prefill"}},
                   {{"module", "lm_head"}, {"mode", "decode"}, {"split", {{"vocab_size", 8}}}},
                   {{"module", "embedding"}, {"mode", "decode"}, {"split", {{"vocab_size", 8}}}}}),
      "m.json", "");
  ASSERT_EQ(file.cases.size(), 5u);
  const SuiteFileCase& ffn = file.cases[0];
  EXPECT_EQ(ffn.id, "ffn.decode");
  EXPECT_EQ(ffn.block, "gated_mlp");
  EXPECT_EQ(ffn.spec.at("ffn_dim"), 8192);
  EXPECT_EQ(ffn.module->layers.size(), 16u);
  EXPECT_EQ(ffn.occurrences, 16);
  const SuiteFileCase& attention = file.cases[1];
  EXPECT_EQ(attention.id, "attention.decode.ctx7");
  EXPECT_EQ(attention.block, "attention.decode");
  EXPECT_EQ(attention.spec.at("head_dim"), 64);
  EXPECT_EQ(file.cases[2].id, "layers.3.attention_norm.prefill.s8");
  EXPECT_EQ(file.cases[2].occurrences, 1);
  const SuiteFileCase& head = file.cases[3];
  EXPECT_EQ(head.spec.at("vocab_size"), 16032);
  EXPECT_EQ(head.occurrences, 8);  // Eight vocabulary shards make one LM head.
  EXPECT_EQ(head.module->split, 8);
  EXPECT_EQ(file.cases[4].occurrences, 1);  // A token's row lives in one shard.
  EXPECT_EQ(file.cases[4].shapes.context_len, 7);
}

TEST(SuiteFile, ModuleErrorsNameWhatDiffersFromTheModel) {
  const auto module_error = [](const std::string& model, nlohmann::json c) {
    return error_of(model_suite(model, {c}));
  };
  EXPECT_THAT(
      module_error("llama-3.2-1b",
                   {{"module", "layers.*.ffn"}, {"mode", "decode"}, {"spec", {{"ffn_dim", 4096}}}}),
      HasSubstr("/cases/0/spec: no layers.*.ffn of llama-3.2-1b has this spec "
                "(/ffn_dim: 4096 here, 8192 in the model)"));
  // A Spec the block itself rejects is named at its field.
  EXPECT_THAT(
      module_error("llama-3.2-1b",
                   {{"module", "layers.*.ffn"}, {"mode", "decode"}, {"spec", {{"ffn_dim", 8191}}}}),
      HasSubstr("/cases/0/spec/ffn_dim: [gated_mlp] config.reduction_shards 1 does not "
                "split spec.ffn_dim 8191"));
  EXPECT_THAT(
      module_error("llama-3.2-1b",
                   {{"module", "layers.*.ffn"}, {"block", "moe"}, {"mode", "decode"}}),
      HasSubstr("/cases/0/block: the model's layers.*.ffn is gated_mlp in decode, not moe"));
  EXPECT_THAT(module_error("llama-3.2-1b", {{"module", "layers.*.mlp"}, {"mode", "decode"}}),
              HasSubstr("/cases/0/module: unknown module 'layers.*.mlp'"));
  EXPECT_THAT(module_error("llama-3.2-1b", {{"module", "layers.16.ffn"}, {"mode", "decode"}}),
              HasSubstr("/cases/0/module: layer 16 is beyond the model's 16 layers"));
  EXPECT_THAT(
      module_error("llama-3.2-1b", {{"module", "layers.*.post_ffn_norm"}, {"mode", "decode"}}),
      HasSubstr("/cases/0/module: llama-3.2-1b has no post_ffn_norm"));
  EXPECT_THAT(module_error("llama-3.2-1b", {{"module", "embedding_norm"}, {"mode", "decode"}}),
              HasSubstr("/cases/0/module: the model has no embedding_norm"));
  EXPECT_EQ(module_error("bloom-560m", {{"module", "embedding_norm"}, {"mode", "decode"}}),
            "no error");  // BLOOM's word_embeddings_layernorm.
  EXPECT_THAT(module_error(
                  "llama-3.2-1b",
                  {{"module", "layers.*.ffn"}, {"mode", "decode"}, {"split", {{"vocab_size", 2}}}}),
              HasSubstr("/cases/0/split: only lm_head and embedding can be split"));
  EXPECT_THAT(
      module_error("gpt2",
                   {{"module", "lm_head"}, {"mode", "decode"}, {"split", {{"vocab_size", 8}}}}),
      HasSubstr("/cases/0/split/vocab_size: does not divide the vocabulary of 50257"));
  EXPECT_THAT(
      module_error("gemma-2-9b", {{"module", "layers.*.attention"}, {"mode", "decode"}}),
      HasSubstr("/cases/0/module: the layers of gemma-2-9b have different attention specs"));
}

TEST(SuiteFile, ASpecPicksTheLayersOfAModule) {
  const SuiteFile file =
      parse_suite_file(model_suite("gemma-2-9b", {{{"module", "layers.*.attention"},
                                                   {"mode", "decode"},
                                                   {"name", "local"},
                                                   {"spec", {{"sliding_window", 4096}}}},
                                                  {{"module", "layers.*.attention"},
                                                   {"mode", "decode"},
                                                   {"name", "global"},
                                                   {"spec", {{"sliding_window", 0}}}}}),
                       "gemma.json", "");
  EXPECT_EQ(file.cases[0].module->layers.front(), 0);
  EXPECT_EQ(file.cases[0].occurrences, 21);
  EXPECT_EQ(file.cases[1].module->layers.front(), 1);
  EXPECT_EQ(file.cases[1].occurrences, 21);
  EXPECT_EQ(file.cases[1].spec.at("logit_softcap"), 50.0);
}

TEST(SuiteFile, AModelSliceAndAConfigFile) {
  const test_support::ScratchDir scratch;
  const std::filesystem::path& dir = scratch.path();
  nlohmann::json config = catalog_config("qwen2.5-0.5b");
  std::ofstream(dir / "config.json") << config.dump();
  nlohmann::json json = model_suite("", {{{"module", "layers.*.ffn"}, {"mode", "decode"}}});
  json["model"] = {{"config", "config.json"}, {"num_layers", 2}, {"vocab_size", 1024}};
  std::ofstream(dir / "suite.json") << json.dump();
  const SuiteFile file = load_suite_file((dir / "suite.json").string());
  ASSERT_TRUE(file.model.has_value());
  EXPECT_EQ(file.model->spec.layers.size(), 2u);
  EXPECT_EQ(file.model->spec.lm_head.vocab_size, 1024);
  EXPECT_EQ(file.cases[0].occurrences, 2);
  EXPECT_EQ(file.model_name, (dir / "config.json").string());
  std::ofstream(dir / "broken.json") << "{\"suite\": ";
  EXPECT_THAT(
      [&] {
        try {
          load_suite_file((dir / "broken.json").string());
        } catch (const std::invalid_argument& error) {
          return std::string(error.what());
        }
        return std::string();
      }(),
      HasSubstr("broken.json: not JSON"));
}

// The forward's module instances in one mode, and how many cases cover each.
std::map<std::string, int> coverage(const SuiteFile& file, Mode mode) {
  std::map<std::string, int> covered;
  const CausalLmSpec& spec = file.model->spec;
  for (const char* slot : {"embedding", "norm", "lm_head"}) covered[slot] = 0;
  for (std::size_t layer = 0; layer < spec.layers.size(); ++layer) {
    for (const char* slot : {"attention_norm", "attention", "post_attention_norm", "ffn_norm",
                             "ffn", "post_ffn_norm"}) {
      if (!module_block_kind(spec, slot, static_cast<std::int64_t>(layer), mode).empty()) {
        covered["layers." + std::to_string(layer) + "." + slot] = 0;
      }
    }
  }
  for (const SuiteFileCase& c : file.cases) {
    if (!c.module || c.mode != mode || c.occurrences == 0 || c.preset) continue;
    if (!c.module->per_layer) {
      ++covered[c.module->slot];
      continue;
    }
    for (std::int64_t layer : c.module->layers) {
      ++covered["layers." + std::to_string(layer) + "." + c.module->slot];
    }
  }
  return covered;
}

TEST(ShippedSuites, ParseValidateAndCoverEveryModuleOnceInBothModes) {
  const std::filesystem::path dir = std::filesystem::path(TTT_SOURCE_DIR) / "suites";
  std::set<std::string> models;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    SCOPED_TRACE(entry.path().string());
    const SuiteFile file = load_suite_file(entry.path().string());
    EXPECT_TRUE(make_suite(file).problems().empty());
    ASSERT_TRUE(file.model.has_value());
    models.insert(file.model_name);
    int quick_decode = 0;
    for (const SuiteFileCase& c : file.cases) {
      const bool quick = std::find(c.tags.begin(), c.tags.end(), "quick") != c.tags.end();
      if (quick) {
        EXPECT_EQ(c.mode, Mode::decode) << c.id;
        // Standalone block cases (the T3K suite's collectives) may be quick too.
        if (c.module) ++quick_decode;
      }
    }
    EXPECT_EQ(quick_decode, 1) << "one quick decode module case per model";
    for (Mode mode : {Mode::prefill, Mode::decode}) {
      for (const auto& [instance, count] : coverage(file, mode)) {
        EXPECT_EQ(count, 1) << instance << " in " << mode_name(mode);
      }
    }
  }
  EXPECT_GE(files, 7);
  for (const char* model : {"llama-3.1-8b", "llama-3.2-1b", "mistral-7b", "qwen2.5-7b",
                            "gemma-2-9b", "mixtral-8x7b", "gpt2"}) {
    EXPECT_EQ(models.count(model), 1u) << model;
  }
}

// An MoE case with 2^40 experts of 1x32 weights: the router (4 TiB) fits an 8 TiB limit, the
// experts (384 bytes each) do not. The size check used to add the experts one by one, looping
// about 2^33 times before the total crossed the limit; it now multiplies once.
TEST(SuiteFile, HugeExpertCountIsRefusedAtOnce) {
  nlohmann::json json = minimal();
  json["cases"][0] = {
      {"block", "moe"},
      {"mode", "decode"},
      {"spec",
       {{"hidden_dim", 1}, {"ffn_dim", 32}, {"num_experts", 1099511627776LL}, {"top_k", 1}}}};
  set_allocation_limit(std::uint64_t{8} << 40);
  const auto start = std::chrono::steady_clock::now();
  const std::string error = error_of(json);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  set_allocation_limit(0);
  // x [1, 1] and router [1, 2^40] (4 + 4 * 2^40 bytes) before the experts' 384 * 2^40 bytes.
  EXPECT_EQ(error,
            "suites/tiny.json: /cases/0: seeded inputs w_gate, w_up (shape [1, 32]) and w_down of "
            "1099511627776 experts, with the inputs before them, needs 388.0 TiB (426610511577092 "
            "bytes), more than the allocation limit of 8.0 TiB (TTT_MAX_ALLOC_BYTES)");
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(Sharding, ParsesIndexOverTotal) {
  EXPECT_EQ(parse_shard("0/4"), (Shard{0, 4}));
  EXPECT_EQ(parse_shard("3/4"), (Shard{3, 4}));
  for (const char* bad : {"4/4", "-1/2", "1", "a/b", "1/0", "1/2x", ""}) {
    EXPECT_THROW(parse_shard(bad), std::invalid_argument) << bad;
  }
}

TEST(Sharding, FollowsGoogleTestsEnvironment) {
  ::unsetenv("GTEST_SHARD_INDEX");
  ::unsetenv("GTEST_TOTAL_SHARDS");
  EXPECT_FALSE(shard_from_environment().has_value());
  const test_support::ScratchDir scratch;
  const std::filesystem::path status = scratch.path() / "shard_status";
  ::setenv("GTEST_SHARD_INDEX", "2", 1);
  ::setenv("GTEST_TOTAL_SHARDS", "3", 1);
  ::setenv("GTEST_SHARD_STATUS_FILE", status.c_str(), 1);
  EXPECT_EQ(shard_from_environment(), (Shard{2, 3}));
  EXPECT_TRUE(std::filesystem::exists(status));
  ::setenv("GTEST_SHARD_INDEX", "3", 1);
  EXPECT_THROW(shard_from_environment(), std::invalid_argument);
  ::unsetenv("GTEST_SHARD_INDEX");
  ::unsetenv("GTEST_TOTAL_SHARDS");
  ::unsetenv("GTEST_SHARD_STATUS_FILE");
}

}  // namespace
}  // namespace ttt

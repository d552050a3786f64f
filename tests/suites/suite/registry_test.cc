// The fingerprint registry (suites/suite/registry.h): the strict reader, check (every bad or
// stale entry at once), update from real suite results, diff, and the misses with their
// suggested suite-file cases.
#include "suites/suite/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "blocks/common/block_kind.h"
#include "suites/suite/suite_file.h"
#include "tests/common/scratch_dir.h"
#include "tests/suites/suite/tiny_suite.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Json = nlohmann::json;
namespace fs = std::filesystem;

// The tiny suite with the gated MLP's ffn_dim set.
Json tiny_suite(std::int64_t ffn_dim = 128) {
  Json suite = Json::parse(test_support::kTinySuite);
  suite["cases"][1]["spec"]["ffn_dim"] = ffn_dim;
  return suite;
}

class RegistryTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.file(name); }

  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name)) << text;
  }

  // Writes the tiny suite and runs it.
  RunResults run_tiny(std::int64_t ffn_dim = 128) const {
    write("tiny.json", tiny_suite(ffn_dim).dump(2));
    return run_suite_files({path("tiny.json")});
  }

  // A registry at dir/registry.json updated from one run of the tiny suite, written and read back.
  Registry updated_registry() const {
    Registry registry = empty_registry(path("registry.json"));
    registry.description = "test";
    update_registry(registry, run_tiny(), "r.json");
    write_registry(registry);
    return load_registry(path("registry.json"));
  }

  test_support::ScratchDir dir_;
};

// The fingerprint of a configuration filled by hand: the kind's configure, then the parts.
Fingerprint expected_fingerprint(const std::string& kind_name, const Json& spec, Mode mode,
                                 std::int64_t tokens) {
  const BlockKind& kind = *find_block_kind(kind_name);
  const Json none = Json::object();
  const ConfiguredBlock block =
      kind.configure(JsonNode(spec, "t"), Device::N150, mode, std::nullopt, JsonNode(none, "t"));
  FingerprintParts parts;
  parts.kind = kind_name;
  parts.mode = std::string(mode_name(mode));
  parts.spec = block.spec;
  parts.impl_config = block.impl_config;
  parts.identity = block.identity;
  parts.batch = 1;
  parts.tokens = tokens;
  return make_fingerprint(parts);
}

TEST_F(RegistryTest, UpdateFromRealResultsRoundTripsAndChecksClean) {
  const Registry registry = updated_registry();
  ASSERT_EQ(registry.entries.size(), 2u);
  // Decode RMSNorm: blind to the context, 1 token; the prefill FFN: 12 tokens in the bucket 16.
  const Fingerprint norm = expected_fingerprint("rms_norm", {{"dim", 64}}, Mode::decode, 1);
  const Fingerprint ffn =
      expected_fingerprint("gated_mlp", {{"hidden_dim", 64}, {"ffn_dim", 128}}, Mode::prefill, 16);
  const RegistryEntry* norm_entry = registry.find(norm.id);
  const RegistryEntry* ffn_entry = registry.find(ffn.id);
  ASSERT_NE(norm_entry, nullptr);
  ASSERT_NE(ffn_entry, nullptr);
  EXPECT_EQ(norm_entry->fingerprint.summary, norm.summary);
  EXPECT_EQ(ffn_entry->config.tokens, 16);
  EXPECT_EQ(ffn_entry->config.batch, 1);
  EXPECT_EQ(ffn_entry->config.mesh, "1x1");
  EXPECT_EQ(ffn_entry->config.device, "N150");
  EXPECT_EQ(norm_entry->config.tokens, 1);
  ASSERT_EQ(ffn_entry->evidence.size(), 1u);
  EXPECT_EQ(ffn_entry->evidence[0].suite, "tiny.json");  // Relative to the registry's directory.
  EXPECT_EQ(ffn_entry->evidence[0].case_id, "ffn");
  ASSERT_TRUE(ffn_entry->evidence[0].result.has_value());
  EXPECT_EQ(ffn_entry->evidence[0].result->repetitions, 9);
  EXPECT_GT(ffn_entry->evidence[0].result->pcc, 0.99);
  EXPECT_GT(ffn_entry->evidence[0].result->wall_p50_ns, 0.0);
  // Written and read back: the same document.
  Registry copy = registry;
  copy.file = path("copy.json");
  write_registry(copy);
  EXPECT_EQ(to_json(load_registry(copy.file)), to_json(registry));
  EXPECT_THAT(check_registry(registry), ElementsAre());
}

TEST_F(RegistryTest, UpdateAgainReplacesResultsAndMovesChangedCases) {
  Registry registry = updated_registry();
  RegistryUpdate again = update_registry(registry, run_tiny(), "r2.json");
  EXPECT_EQ(again.added.size(), 0u);
  EXPECT_EQ(again.updated.size(), 2u);
  EXPECT_EQ(registry.entries.size(), 2u);
  // The FFN case now runs another width: its evidence moves to the new fingerprint and the old
  // entry, left without evidence, is dropped; the norm's entry stays.
  const Fingerprint old_ffn =
      expected_fingerprint("gated_mlp", {{"hidden_dim", 64}, {"ffn_dim", 128}}, Mode::prefill, 16);
  const Fingerprint new_ffn =
      expected_fingerprint("gated_mlp", {{"hidden_dim", 64}, {"ffn_dim", 256}}, Mode::prefill, 16);
  const RegistryUpdate moved = update_registry(registry, run_tiny(256), "r3.json");
  EXPECT_THAT(moved.added, ElementsAre(new_ffn.id + " " + new_ffn.summary));
  EXPECT_THAT(moved.dropped, ElementsAre(old_ffn.id + " " + old_ffn.summary));
  EXPECT_EQ(registry.entries.size(), 2u);
  EXPECT_EQ(registry.find(old_ffn.id), nullptr);
  ASSERT_NE(registry.find(new_ffn.id), nullptr);
}

TEST_F(RegistryTest, UpdateSkipsCasesThatDidNotPass) {
  Registry registry = empty_registry(path("registry.json"));
  RunResults results = run_tiny();
  results.suites[0].cases[1].status = CaseStatus::fail;
  const RegistryUpdate update = update_registry(registry, results, "r.json");
  EXPECT_EQ(update.added.size(), 1u);
  EXPECT_THAT(update.skipped,
              ElementsAre("tiny/ffn: status fail (only passing cases are accepted)"));
}

TEST_F(RegistryTest, UpdateRefusesACaseWhoseRecordedFingerprintIsAnother) {
  Registry registry = empty_registry(path("registry.json"));
  RunResults results = run_tiny();
  ASSERT_TRUE(results.suites[0].cases[1].fingerprint.has_value());
  const std::string computed = results.suites[0].cases[1].fingerprint->id;
  results.suites[0].cases[1].fingerprint->id = "00000000000000ff";
  try {
    update_registry(registry, results, "r.json");
    FAIL() << "no error";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()),
              "r.json: /suites/0/cases/1/fingerprint/id: the case recorded fp=00000000000000ff, "
              "its config computes fp=" +
                  computed +
                  " in this build (results of another TTTv2 version?); run the case again");
  }
}

TEST_F(RegistryTest, ReaderNamesFileAndPath) {
  const Json good = to_json(updated_registry());
  const std::string file = path("bad.json");
  const auto error = [&](const std::function<void(Json&)>& edit) {
    Json json = good;
    edit(json);
    write("bad.json", json.dump());
    try {
      load_registry(file);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error([](Json& j) { j["entries"][0]["fingerprint"]["id"] = "XYZ"; }),
            file + ": /entries/0/fingerprint/id: expected 16 lower-case hex digits, got \"XYZ\"");
  EXPECT_EQ(error([](Json& j) { j["entries"][1]["fingerprint"] = j["entries"][0]["fingerprint"]; }),
            file + ": /entries/1/fingerprint/id: fingerprint " +
                good["entries"][0]["fingerprint"]["id"].get<std::string>() +
                " is also the id of /entries/0");
  EXPECT_EQ(error([](Json& j) { j["entries"][0]["evidence"] = Json::array(); }),
            file + ": /entries/0/evidence: an entry needs at least one evidence case");
  EXPECT_EQ(error([](Json& j) { j["entries"][0]["config"]["tokenz"] = 1; }),
            file +
                ": /entries/0/config/tokenz: unknown field 'tokenz' (expected one of: kind, "
                "mode, device, mesh, batch, tokens, spec, impl_config)");
  EXPECT_EQ(error([](Json& j) { j["format_version"] = 2; }),
            file + ": /format_version: version 2 is not supported (this build reads up to 1)");
  EXPECT_EQ(
      error([](Json& j) { j["entries"][0]["evidence"][0]["result"]["accuracy"]["pcc"] = "1"; }),
      file + ": /entries/0/evidence/0/result/accuracy/pcc: expected a number, got \"1\"");
  write("corrupt.json", "{\"format\": ");
  EXPECT_THROW(
      {
        try {
          load_registry(path("corrupt.json"));
        } catch (const std::invalid_argument& e) {
          EXPECT_THAT(e.what(), StartsWith(path("corrupt.json") + ": "));
          throw;
        }
      },
      std::invalid_argument);
}

TEST_F(RegistryTest, CheckListsEveryBadAndStaleEntryAtOnce) {
  Registry registry = updated_registry();
  ASSERT_EQ(registry.entries.size(), 2u);
  const std::string file = registry.file;
  // Entry 0 and 1 are in id order; which kind each is does not matter to the messages' form.
  RegistryEntry unknown = registry.entries[0];
  unknown.path = "/entries/2";
  unknown.fingerprint.id = "00000000000000aa";
  unknown.config.kind = "conv9";
  RegistryEntry rejected = registry.entries[0];
  rejected.path = "/entries/3";
  rejected.fingerprint.id = "00000000000000bb";
  rejected.config.kind = "rms_norm";
  rejected.config.spec = {{"dim", "x"}};
  registry.entries[0].fingerprint.id = "0123456789abcdef";  // Hand-edited id.
  registry.entries[0].path = "/entries/0";
  // A default the kind adds now: the recorded ImplConfig lacks a field it writes.
  const std::string dropped_field = registry.entries[1].config.impl_config.begin().key();
  registry.entries[1].config.impl_config.erase(dropped_field);
  registry.entries[1].path = "/entries/1";
  registry.entries.push_back(unknown);
  registry.entries.push_back(rejected);
  const std::vector<std::string> problems = check_registry(registry, /*evidence=*/false);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_THAT(problems[0], StartsWith(file + ": /entries/0: stale fingerprint 0123456789abcdef: "
                                             "its config hashes to "));
  EXPECT_THAT(problems[0], HasSubstr("the version or the fingerprint scheme changed, or the id "
                                     "or config was edited"));
  EXPECT_THAT(problems[1], StartsWith(file + ": /entries/1: stale fingerprint "));
  EXPECT_THAT(problems[1], HasSubstr("the kind now writes another impl_config (/" + dropped_field +
                                     ": not recorded, now "));
  EXPECT_THAT(problems[2], StartsWith(file + ": /entries/2/config/kind: unknown block kind "
                                             "'conv9' (known: "));
  EXPECT_THAT(problems[3], StartsWith(file + ": /entries/3/config/spec/dim: "));
}

TEST_F(RegistryTest, CheckFindsEvidenceWhoseCaseIsGoneOrChanged) {
  const Registry registry = updated_registry();
  EXPECT_THAT(check_registry(registry), ElementsAre());
  // The suite's FFN changes width, and its norm case is renamed.
  Json suite = tiny_suite(256);
  suite["cases"][0]["name"] = "norm2";
  write("tiny.json", suite.dump());
  const std::vector<std::string> problems = check_registry(registry);
  ASSERT_EQ(problems.size(), 2u);
  const Fingerprint now =
      expected_fingerprint("gated_mlp", {{"hidden_dim", 64}, {"ffn_dim", 256}}, Mode::prefill, 16);
  const std::string joined = problems[0] + "\n" + problems[1];
  EXPECT_THAT(joined, HasSubstr("/evidence/0: tiny.json/norm: the suite file has no case 'norm'"));
  EXPECT_THAT(
      joined,
      HasSubstr("/evidence/0: tiny.json/ffn: stale evidence: the case now runs fp=" + now.id));
  fs::remove(path("tiny.json"));
  for (const std::string& problem : check_registry(registry)) {
    EXPECT_THAT(problem, HasSubstr("the suite file cannot be read"));
  }
}

TEST_F(RegistryTest, DiffNamesAddedRemovedAndMovedResults) {
  const Registry a = updated_registry();
  Registry b = a;
  b.entries.erase(b.entries.begin());
  RegistryResult& result = *b.entries[0].evidence[0].result;
  const RegistryResult before = result;
  result.pcc = 0.995;
  result.wall_p50_ns = before.wall_p50_ns * 1.5;
  result.commit = "newcommit";
  const std::vector<std::string> lines = diff_registries(a, b);
  const RegistryEntry& removed = a.entries[0];
  const RegistryEntry& kept = a.entries[1];
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "- " + removed.fingerprint.id + " " + removed.fingerprint.summary);
  EXPECT_THAT(lines[1], StartsWith("~ " + kept.fingerprint.id + " tiny.json/" +
                                   kept.evidence[0].case_id + ": pcc "));
  EXPECT_THAT(lines[1], HasSubstr("-> 0.995, "));
  EXPECT_THAT(lines[1], HasSubstr("(+50.0%)"));
  EXPECT_THAT(lines[1], HasSubstr("commit " + before.commit + " -> newcommit"));
  EXPECT_THAT(diff_registries(b, a)[0], StartsWith("+ " + removed.fingerprint.id + " "));
  EXPECT_THAT(diff_registries(a, a), ElementsAre());
}

TEST_F(RegistryTest, LookupTakesAUniquePrefix) {
  const Registry registry = updated_registry();
  const std::string id = registry.entries[0].fingerprint.id;
  EXPECT_EQ(&registry.lookup(id.substr(0, 8)), &registry.entries[0]);
  EXPECT_THROW(registry.lookup("ab"), std::invalid_argument);
  EXPECT_THROW(registry.lookup("zzzzzzzz"), std::invalid_argument);
}

// A configuration with no evidence: the miss names it and prints a case that, added to a suite
// file and run, gives exactly that fingerprint its evidence.
TEST_F(RegistryTest, MissSuggestsACaseThatGivesItsFingerprintEvidence) {
  Registry registry = updated_registry();
  // The norm of the registry (a hit), and a gated MLP in decode under the performance preset
  // (FF1/FF3 in bfloat4_b at LoFi): no evidence.
  const Json spec = {{"hidden_dim", 64}, {"ffn_dim", 128}};
  const BlockKind& kind = *find_block_kind("gated_mlp");
  const Json none = Json::object();
  const ConfiguredBlock block = kind.configure(JsonNode(spec, "t"), Device::N150, Mode::decode,
                                               Preset::performance, JsonNode(none, "t"));
  ObservedBlock miss_block;
  miss_block.parts = fingerprint_parts(kind, block, Mode::decode, CallShapes{1, 0, 100});
  miss_block.calls = 3;
  ObservedBlock hit = miss_block;
  const RegistryEntry& norm =
      registry.entries[registry.entries[0].config.kind == "rms_norm" ? 0 : 1];
  const BlockKind& norm_kind = *find_block_kind("rms_norm");
  hit.parts =
      fingerprint_parts(norm_kind,
                        norm_kind.configure(JsonNode(norm.config.spec, "t"), Device::N150,
                                            Mode::decode, std::nullopt, JsonNode(none, "t")),
                        Mode::decode, CallShapes{1, 0, 0});
  const std::vector<EvidenceMiss> misses = find_misses(registry, {hit, miss_block, miss_block});
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0].block.calls, 6);
  const std::string id = make_fingerprint(miss_block.parts).id;
  EXPECT_EQ(misses[0].fingerprint.id, id);
  EXPECT_EQ(misses[0].description,
            "gated_mlp decode, GATED_MLP(hidden=64,ffn=128,act=silu), bfloat4_b/HiFi2,LoFi, N150, "
            "batch<=1 tokens<=1, mesh 1x1");

  const std::string report = format_misses(misses, registry);
  std::istringstream lines(report);
  std::string header, message, case_text;
  std::getline(lines, header);
  std::getline(lines, message);
  std::getline(lines, case_text);
  EXPECT_EQ(header, "1 fingerprint has no evidence in " + registry.file + ":");
  EXPECT_EQ(message, "no evidence for fp=" + id + " (" + misses[0].description +
                         "): add a case with device N150 and mesh N150 (the suite file's "
                         "\"device\" and \"mesh\") to a suite file:");
  // The printed line is a case of a suite file: added to one and run, its result gives the
  // fingerprint evidence and the miss goes away.
  const Json suggested = Json::parse(case_text);
  EXPECT_EQ(suggested.at("block"), "gated_mlp");
  EXPECT_EQ(suggested.at("shapes"), Json({{"batch", 1}}));
  // Only the fields the preset changes from the defaults (FF1/FF3 weights and fidelity).
  EXPECT_EQ(suggested.at("impl_config"),
            Json::parse(R"({"ff1_ff3": {"fidelity": "LoFi", "weight_dtype": "bfloat4_b"}})"));
  const Json suite = {{"suite", "added"},
                      {"device", "N150"},
                      {"defaults", {{"warmup", 0}}},
                      {"cases", Json::array({suggested})}};
  write("added.json", suite.dump());
  const RunResults results = run_suite_files({path("added.json")});
  ASSERT_EQ(results.suites[0].cases[0].status, CaseStatus::pass)
      << results.suites[0].cases[0].error;
  const std::vector<ObservedBlock> ran = observed_blocks(results);
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(make_fingerprint(ran[0].parts).id, id);
  update_registry(registry, results, "added.json");
  EXPECT_THAT(find_misses(registry, {miss_block}), ElementsAre());
}

// A traced call whose recorded id this build does not compute (another TTTv2 version): reported
// with its recorded summary, without a case line that would not give it evidence.
TEST_F(RegistryTest, MissRecordedByAnotherVersionHasNoCaseLine) {
  const Registry registry = empty_registry(path("registry.json"));
  const BlockKind& kind = *find_block_kind("rms_norm");
  const Json spec = {{"dim", 64}};
  const Json none = Json::object();
  ObservedBlock block;
  block.parts = fingerprint_parts(kind,
                                  kind.configure(JsonNode(spec, "t"), Device::N150, Mode::decode,
                                                 std::nullopt, JsonNode(none, "t")),
                                  Mode::decode, CallShapes{});
  block.recorded =
      Fingerprint{"00000000000000ee", "rms_norm decode | old | batch<=1 tokens<=1 | 1x1"};
  const std::vector<EvidenceMiss> misses = find_misses(registry, {block});
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0].fingerprint.id, "00000000000000ee");
  EXPECT_TRUE(misses[0].suggested_case.is_null());
  EXPECT_THAT(format_misses(misses, registry),
              HasSubstr("no evidence for fp=00000000000000ee (rms_norm decode | old | batch<=1 "
                        "tokens<=1 | 1x1): its recorded fingerprint is not what this build "
                        "computes for its config (recorded by another TTTv2 version?)\n"));
}

TEST_F(RegistryTest, MissOfASuiteCaseSaysToUpdate) {
  const Registry registry = empty_registry(path("registry.json"));
  const RunResults results = run_tiny();
  const std::vector<EvidenceMiss> misses = find_misses(registry, observed_blocks(results));
  ASSERT_EQ(misses.size(), 2u);
  const std::string report = format_misses(misses, registry);
  EXPECT_THAT(report, HasSubstr("): case 'norm' of " + path("tiny.json") +
                                " runs it; record its passing result with `ttt registry update "
                                "--registry " +
                                registry.file + " --results R.json`"));
  EXPECT_EQ(format_misses({}, registry), "");
}

}  // namespace
}  // namespace ttt

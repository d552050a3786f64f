// Test selection (gate/select.h, gate/changes.h) on the repository's own suite files with fixed
// lists of changed paths, and on scratch git repositories. Expected selections are derived from
// the suite files' block kinds and the kinds' folders as read off the tree, not from the
// selection code.
#include "gate/select.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "gate/changes.h"
#include "tests/common/scratch_dir.h"
#include "validation/input/input_file.h"

namespace ttt {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Every suite file of the repository, unchanged.
std::vector<SuiteAtHead> repository_suites() {
  std::vector<SuiteAtHead> suites;
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(fs::path(TTT_SOURCE_DIR) / "suites")) {
    paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  for (const fs::path& path : paths) {
    const std::string relative = "suites/" + path.filename().string();
    if (classify_path(relative).effect != PathEffect::suite_file) continue;
    suites.push_back(
        {.path = relative, .head = load_suite_file(path.string()), .existed_at_base = true});
  }
  return suites;
}

// The fingerprint ids of `suites`' cases: the evidence of a registry that recorded them all.
std::set<std::string> fingerprints_of(const std::vector<SuiteAtHead>& suites) {
  std::set<std::string> ids;
  for (const PlannedCase& c : select_cases({.suites = suites}, {}).cases) {
    if (c.fingerprint) ids.insert(c.fingerprint->id);
  }
  return ids;
}

std::size_t total_cases(const std::vector<SuiteAtHead>& suites) {
  std::size_t total = 0;
  for (const SuiteAtHead& suite : suites) total += suite.head.cases.size();
  return total;
}

// The cases whose block kind is in `kinds`, as "<suite>/<id>", read from the suite files.
std::set<std::string> cases_of_kinds(const std::vector<SuiteAtHead>& suites,
                                     const std::set<std::string>& kinds) {
  std::set<std::string> ids;
  for (const SuiteAtHead& suite : suites) {
    for (const SuiteFileCase& c : suite.head.cases) {
      if (kinds.contains(c.block)) ids.insert(suite.head.name + "/" + c.id);
    }
  }
  return ids;
}

std::set<std::string> selected(const SelectionPlan& plan) {
  std::set<std::string> ids;
  for (const PlannedCase& c : plan.cases) {
    if (c.selected()) ids.insert(c.suite + "/" + c.id);
  }
  return ids;
}

SelectionPlan select_paths(const std::vector<SuiteAtHead>& suites, std::vector<std::string> paths) {
  return select_cases({.paths = std::move(paths), .suites = suites}, fingerprints_of(suites));
}

// The kinds of blocks/ffn/kinds.cc.
const std::set<std::string> kFfnKinds = {"mlp", "gated_mlp", "tp_gated_mlp", "tp2d_gated_mlp",
                                         "moe", "ep_moe"};
const std::set<std::string> kAttentionKinds = {"attention.prefill", "attention.decode",
                                               "tp_attention"};

TEST(ClassifyPath, EachPathHasTheEffectItsFolderGivesIt) {
  const auto effect = [](const char* path) { return classify_path(path).effect; };
  EXPECT_EQ(effect("docs/gate.md"), PathEffect::none);
  EXPECT_EQ(effect("README.md"), PathEffect::none);
  EXPECT_EQ(effect("blocks/ffn/README.md"), PathEffect::none);
  EXPECT_EQ(effect("tests/gate/gate_test.cc"), PathEffect::none);
  EXPECT_EQ(effect("coverage/report.cc"), PathEffect::none);
  EXPECT_EQ(effect("gate/gate.cc"), PathEffect::none);
  EXPECT_EQ(effect("tools/ttt/gate_command.cc"), PathEffect::none);
  EXPECT_EQ(effect("suites/targets/gpt2.N150.json"), PathEffect::none);
  EXPECT_EQ(effect("blocks/common/matmul.cc"), PathEffect::all);
  EXPECT_EQ(effect("blocks/CMakeLists.txt"), PathEffect::all);
  EXPECT_EQ(effect("validation/tensor/tensor.cc"), PathEffect::all);
  EXPECT_EQ(effect("suites/suite/suite_file.cc"), PathEffect::all);
  EXPECT_EQ(effect("tools/ttt/suite_command.cc"), PathEffect::all);
  EXPECT_EQ(effect("tools/setup.sh"), PathEffect::all);
  EXPECT_EQ(effect("CMakeLists.txt"), PathEffect::all);
  EXPECT_EQ(effect("CMakePresets.json"), PathEffect::all);
  EXPECT_EQ(effect("newtop/file.cc"), PathEffect::all);
  EXPECT_EQ(effect("blocks/newfamily/x.cc"), PathEffect::all);  // No kinds.cc: to be safe.
  EXPECT_EQ(effect("suites/qwen3-8b.json"), PathEffect::suite_file);
  EXPECT_EQ(effect("suites/registry/registry.json"), PathEffect::configuration);
  EXPECT_EQ(effect("models/catalog/qwen3-8b.json"), PathEffect::configuration);
  EXPECT_EQ(effect("patterns/decoder_layer.cc"), PathEffect::configuration);
  const PathClass rope = classify_path("blocks/rope/rope.cc");
  EXPECT_EQ(rope.effect, PathEffect::kinds);
  EXPECT_EQ(rope.folder, "blocks/rope");
}

TEST(SelectCases, AChangeUnderBlocksFfnSelectsOnlyTheFfnKindsCases) {
  const std::vector<SuiteAtHead> suites = repository_suites();
  // moe.cc is included by blocks/ffn only (its kinds.cc and ep_moe): no other folder's kind.
  const SelectionPlan plan = select_paths(suites, {"blocks/ffn/moe.cc"});
  const std::set<std::string> expected = cases_of_kinds(suites, kFfnKinds);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(selected(plan), expected);
  for (const PlannedCase& c : plan.cases) {
    if (!c.selected()) continue;
    EXPECT_EQ(c.reasons, (std::vector<CaseReason>{{SelectReason::block_folder, "blocks/ffn"}}));
  }
  EXPECT_EQ(plan.summary(),
            std::to_string(expected.size()) + " of " + std::to_string(total_cases(suites)) +
                " cases: " + std::to_string(expected.size()) + " touched by blocks/ffn");
  EXPECT_LT(expected.size(), total_cases(suites));
}

TEST(SelectCases, AnFfnSourceThatAttentionUsesAlsoSelectsTheAttentionCases) {
  // blocks/attention/attention.cc includes blocks/ffn/projection.h (its q, k, v, o matmuls).
  const std::vector<SuiteAtHead> suites = repository_suites();
  const SelectionPlan plan = select_paths(suites, {"blocks/ffn/projection.cc"});
  std::set<std::string> kinds = kFfnKinds;
  kinds.insert(kAttentionKinds.begin(), kAttentionKinds.end());
  EXPECT_EQ(selected(plan), cases_of_kinds(suites, kinds));
}

TEST(SelectCases, ARopeChangeSelectsRopeAndTheAttentionThatAppliesIt) {
  const std::vector<SuiteAtHead> suites = repository_suites();
  const SelectionPlan plan = select_paths(suites, {"blocks/rope/rope.cc", "docs/blocks.md"});
  std::set<std::string> kinds = kAttentionKinds;
  kinds.insert("rope");
  const std::set<std::string> expected = cases_of_kinds(suites, kinds);
  EXPECT_EQ(selected(plan), expected);
  EXPECT_THAT(plan.summary(),
              HasSubstr(": " + std::to_string(expected.size()) + " touched by blocks/rope/rope"));
}

TEST(SelectCases, BlocksCommonSelectsEveryCase) {
  const std::vector<SuiteAtHead> suites = repository_suites();
  const SelectionPlan plan = select_paths(suites, {"blocks/common/matmul.cc"});
  const std::string total = std::to_string(total_cases(suites));
  EXPECT_EQ(plan.selected_count(), total_cases(suites));
  EXPECT_EQ(plan.filter(), "*");
  EXPECT_EQ(plan.summary(), total + " of " + total + " cases: " + total +
                                " run framework code changed in blocks/common/matmul.cc");
}

TEST(SelectCases, DocumentationAndTestsSelectNothing) {
  const std::vector<SuiteAtHead> suites = repository_suites();
  const SelectionPlan plan =
      select_paths(suites, {"README.md", "docs/gate.md", "tests/gate/gate_test.cc"});
  EXPECT_EQ(plan.selected_count(), 0u);
  EXPECT_EQ(plan.filter(), "-*");
  EXPECT_TRUE(plan.suite_files().empty());
  EXPECT_EQ(plan.summary(), "0 of " + std::to_string(total_cases(suites)) +
                                " cases: no changed path affects a case");
}

// A suite file written for a test: `cases` is the JSON of its case list.
SuiteAtHead new_suite(const std::string& name, const std::string& model, const std::string& cases) {
  const std::string text = R"({"suite": ")" + name + R"(", "model": {"name": ")" + model +
                           R"(", "num_layers": 1}, "device": "N150", "seed": 7,
      "defaults": {"expect": {"pcc": 0.99}}, "cases": )" +
                           cases + "}";
  const std::string path = "suites/" + name + ".json";
  return {.path = path,
          .head = parse_suite_file(parse_json(text, path), path,
                                   std::string(TTT_SOURCE_DIR) + "/suites"),
          .changed = true,
          .existed_at_base = false};
}

constexpr const char* kLayerCases = R"([
    {"module": "layers.*.attention_norm", "mode": "prefill", "shapes": {"batch": 1, "seq_len": 128}},
    {"module": "layers.*.attention", "mode": "prefill", "shapes": {"batch": 1, "seq_len": 128}},
    {"module": "layers.*.ffn", "mode": "prefill", "shapes": {"batch": 1, "seq_len": 128}},
    {"module": "layers.*.attention", "mode": "decode", "shapes": {"batch": 1, "context_len": 127}},
    {"module": "layers.*.ffn", "mode": "decode", "shapes": {"batch": 1}}])";

// The same modules at other token counts in the same buckets (100 -> 128, 120 -> 128).
constexpr const char* kLayerCasesOtherShapes = R"([
    {"module": "layers.*.attention_norm", "mode": "prefill", "shapes": {"batch": 1, "seq_len": 100}},
    {"module": "layers.*.attention", "mode": "prefill", "shapes": {"batch": 1, "seq_len": 100}},
    {"module": "layers.*.ffn", "mode": "prefill", "shapes": {"batch": 1, "seq_len": 100}},
    {"module": "layers.*.attention", "mode": "decode", "shapes": {"batch": 1, "context_len": 120}},
    {"module": "layers.*.ffn", "mode": "decode", "shapes": {"batch": 1}}])";

TEST(SelectCases, ANewModelWhoseConfigurationsAllHaveEvidenceSelectsNoCase) {
  // Llama-3.1-8B-Instruct has Llama-3.1-8B's config.json: a new suite file for it, at other
  // token counts in the same buckets and another seed, runs only configurations with evidence.
  SuiteAtHead recorded = new_suite("llama-8b-recorded", "llama-3.1-8b", kLayerCases);
  recorded.changed = false;
  recorded.existed_at_base = true;
  const std::set<std::string> evidence = fingerprints_of({recorded});
  const SuiteAtHead instruct =
      new_suite("llama-8b-instruct", "llama-3.1-8b", kLayerCasesOtherShapes);
  const SelectionPlan plan =
      select_cases({.paths = {instruct.path}, .suites = {recorded, instruct}}, evidence);
  EXPECT_EQ(plan.cases.size(), 10u);
  EXPECT_EQ(plan.selected_count(), 0u);
  EXPECT_EQ(plan.summary(), "0 of 10 cases: no changed path affects a case");

  // A second Llama-3 size (Llama-3.2-3B: hidden 3072, ffn 8192) is new everywhere until the
  // registry records it; once its fingerprints have evidence, adding its suite selects nothing.
  const SuiteAtHead size = new_suite("llama-3b", "llama-3.2-3b", kLayerCases);
  const SelectionPlan unrecorded =
      select_cases({.paths = {size.path}, .suites = {recorded, size}}, evidence);
  EXPECT_EQ(unrecorded.summary(),
            "5 of 10 cases: 5 of llama-3b without evidence (5 new fingerprints)");
  std::set<std::string> with_size = evidence;
  for (const std::string& id : fingerprints_of({size})) with_size.insert(id);
  EXPECT_EQ(
      select_cases({.paths = {size.path}, .suites = {recorded, size}}, with_size).selected_count(),
      0u);
}

TEST(SelectCases, Qwen3SelectsOnlyItsQkNormAttentionWhenEverythingElseHasEvidence) {
  const std::vector<SuiteAtHead> suites = repository_suites();
  const auto qwen = std::find_if(suites.begin(), suites.end(),
                                 [](const SuiteAtHead& s) { return s.head.name == "qwen3-8b"; });
  ASSERT_NE(qwen, suites.end());
  // Evidence for Qwen3-8B's every configuration but with qk_norm off: what a registry holds when
  // an earlier model had the same blocks without the per-head q/k RMSNorm.
  SuiteAtHead without_qk_norm = *qwen;
  std::size_t attention_cases = 0;
  for (SuiteFileCase& c : without_qk_norm.head.cases) {
    if (c.spec.contains("qk_norm")) {
      ASSERT_TRUE(c.spec["qk_norm"].get<bool>()) << c.id;
      c.spec["qk_norm"] = false;
      ++attention_cases;
    }
  }
  EXPECT_EQ(attention_cases, 4u);  // Prefill and decode, default and accuracy presets.
  SuiteAtHead added = *qwen;
  added.changed = true;
  added.existed_at_base = false;
  const SelectionPlan plan =
      select_cases({.paths = {qwen->path}, .suites = {added}}, fingerprints_of({without_qk_norm}));
  EXPECT_EQ(selected(plan), (std::set<std::string>{"qwen3-8b/attention.prefill.s32",
                                                   "qwen3-8b/attention.decode.ctx31",
                                                   "qwen3-8b/attention.prefill.s32.accuracy",
                                                   "qwen3-8b/attention.decode.ctx31.accuracy"}));
  EXPECT_EQ(plan.summary(), "4 of 18 cases: 4 of qwen3-8b without evidence (4 new fingerprints)");
}

TEST(SelectCases, Qwen3AgainstTheOtherSuitesIsNewEverywhere) {
  // Against the repository's other suites Qwen3-8B shares no configuration: its vocabulary shard
  // (18992), FFN width 12288, RMSNorm eps 1e-6 at width 4096 and its prefill bucket of 32 tokens
  // appear in no other suite. 18 cases, of 14 configurations: the three RMSNorms of a mode are
  // one configuration (attention_norm, ffn_norm, norm).
  std::vector<SuiteAtHead> others = repository_suites();
  const auto qwen = std::find_if(others.begin(), others.end(),
                                 [](const SuiteAtHead& s) { return s.head.name == "qwen3-8b"; });
  ASSERT_NE(qwen, others.end());
  SuiteAtHead added = *qwen;
  added.changed = true;
  added.existed_at_base = false;
  others.erase(qwen);
  const std::set<std::string> evidence = fingerprints_of(others);
  others.push_back(added);
  const SelectionPlan plan = select_cases({.paths = {added.path}, .suites = others}, evidence);
  EXPECT_EQ(plan.selected_count(), 18u);
  EXPECT_THAT(plan.summary(), HasSubstr(": 18 of qwen3-8b without evidence (14 new fingerprints)"));
  EXPECT_EQ(plan.suite_files(), std::vector<std::string>{"suites/qwen3-8b.json"});
}

TEST(SelectionPlan, FilterNamesTheSelectedCasesAndEscapesGlobCharacters) {
  SelectionPlan plan;
  plan.cases = {{.suite = "a", .id = "ffn.decode", .reasons = {{SelectReason::no_evidence, ""}}},
                {.suite = "a", .id = "norm.decode"},
                {.suite = "b", .id = "odd*[id]", .reasons = {{SelectReason::framework, "x"}}}};
  EXPECT_EQ(plan.filter(), R"(a/ffn.decode,b/odd\*\[id\])");
}

TEST(SelectionPlan, JsonRoundTripsAndBadFilesNameTheField) {
  const std::vector<SuiteAtHead> suites = repository_suites();
  const SelectionPlan plan = select_paths(suites, {"blocks/rope/rope.cc", "docs/blocks.md"});
  const nlohmann::json json = to_json(plan);
  EXPECT_EQ(json["format"], "ttt-selection-plan");
  EXPECT_EQ(json["filter"], plan.filter());
  const SelectionPlan back = selection_plan_from_json(JsonNode(json, "plan.json"));
  EXPECT_EQ(to_json(back), json);

  nlohmann::json bad = json;
  bad["cases"][0]["reasons"] = nlohmann::json::array({{{"reason", "whim"}, {"detail", ""}}});
  EXPECT_THAT([&] { selection_plan_from_json(JsonNode(bad, "plan.json")); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("plan.json: /cases/0/reasons/0/reason: unknown name 'whim'")));
  bad = json;
  bad["selected_cases"] = 3;
  EXPECT_THAT([&] { selection_plan_from_json(JsonNode(bad, "plan.json")); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("plan.json: /selected_cases: the counts disagree")));
  bad = json;
  bad["format"] = "ttt-suite-results";
  EXPECT_THROW(selection_plan_from_json(JsonNode(bad, "plan.json")), std::invalid_argument);
}

// A scratch git repository in a directory of its own (removed with it).
class ScratchRepo {
 public:
  explicit ScratchRepo(const std::string& name)
      : scratch_("select_" + name), dir_(scratch_.path()) {
    fs::create_directories(dir_ / "suites");
    git("init -q");
    git("config user.email t@example.com");
    git("config user.name test");
  }
  const fs::path& dir() const { return dir_; }
  void write(const std::string& path, const std::string& text) const {
    fs::create_directories((dir_ / path).parent_path());
    std::ofstream(dir_ / path) << text;
  }
  // Commits everything and returns the commit's hash.
  std::string commit(const std::string& message) const {
    git("add -A");
    git("commit -q -m '" + message + "'");
    const std::string out = (dir_ / "head.txt").string();
    git("rev-parse HEAD > '" + out + "'");
    std::ifstream in(out);
    std::string hash;
    in >> hash;
    fs::remove(out);
    return hash;
  }

 private:
  void git(const std::string& args) const {
    const std::string command = "git -C '" + dir_.string() + "' " + args;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  test_support::ScratchDir scratch_;
  fs::path dir_;
};

std::string block_suite(const std::string& norm_pcc, bool extra) {
  std::string cases =
      R"({"name": "norm", "block": "rms_norm", "mode": "decode", "spec": {"dim": 64}, "expect": {"pcc": )" +
      norm_pcc + R"(}},
      {"name": "ffn", "block": "gated_mlp", "mode": "decode", "spec": {"hidden_dim": 64, "ffn_dim": 128}})";
  if (extra) {
    cases +=
        R"(, {"name": "mlp", "block": "mlp", "mode": "decode", "spec": {"hidden_dim": 64, "ffn_dim": 128}})";
  }
  return R"({"suite": "tiny", "device": "N150", "defaults": {"expect": {"pcc": 0.99}}, "cases": [)" +
         cases + "]}";
}

TEST(ReadGitChange, CommitsGiveTheirPathsAndAChangedSuiteFileItsNewAndChangedCases) {
  const ScratchRepo repo("commits");
  repo.write("suites/tiny.json", block_suite("0.999", false));
  repo.write("docs/a.md", "a\n");
  repo.write("blocks/ffn/gated_mlp.cc", "// 1\n");
  const std::string base = repo.commit("base");
  repo.write("suites/tiny.json", block_suite("0.9999", true));  // norm changed, mlp new.
  repo.write("docs/b.md", "b\n");
  repo.write("blocks/rope/rope.cc", "// new\n");
  const std::string head = repo.commit("head");

  const ChangeSet change = read_git_change(repo.dir().string(), base, head);
  EXPECT_EQ(change.base, base);
  EXPECT_EQ(change.head, head);
  EXPECT_EQ(change.paths,
            (std::vector<std::string>{"blocks/rope/rope.cc", "docs/b.md", "suites/tiny.json"}));
  ASSERT_EQ(change.suites.size(), 1u);
  EXPECT_TRUE(change.suites[0].changed);
  EXPECT_TRUE(change.suites[0].existed_at_base);
  ASSERT_TRUE(change.suites[0].base.has_value());
  EXPECT_EQ(change.suites[0].base->cases.size(), 2u);

  std::set<std::string> evidence;
  for (const PlannedCase& c : select_cases(change, {}).cases) evidence.insert(c.fingerprint->id);
  const SelectionPlan plan = select_cases(change, evidence);
  ASSERT_EQ(plan.cases.size(), 3u);
  EXPECT_EQ(plan.cases[0].reasons,
            (std::vector<CaseReason>{{SelectReason::suite_case, "changed case"}}));
  EXPECT_TRUE(plan.cases[1].reasons.empty());  // ffn: same definition, rope is not its code.
  EXPECT_EQ(plan.cases[2].reasons,
            (std::vector<CaseReason>{{SelectReason::suite_case, "new case"}}));
  EXPECT_EQ(plan.filter(), "tiny/norm,tiny/mlp");
  EXPECT_EQ(plan.summary(), "2 of 3 cases: 2 new or changed in the suite file of tiny");
}

TEST(ReadGitChange, TheWorkingTreeCountsUncommittedAndUntrackedFiles) {
  const ScratchRepo repo("worktree");
  repo.write("suites/tiny.json", block_suite("0.999", false));
  const std::string base = repo.commit("base");
  repo.write("blocks/ffn/mlp.cc", "// untracked\n");
  repo.write("suites/other.json", R"({"suite": "other", "cases": [
      {"name": "n", "block": "rms_norm", "mode": "decode", "spec": {"dim": 32}, "expect": {"pcc": 0.9}}]})");
  const ChangeSet change = read_git_change(repo.dir().string(), base, "");
  EXPECT_EQ(change.head, "");
  EXPECT_EQ(change.paths, (std::vector<std::string>{"blocks/ffn/mlp.cc", "suites/other.json"}));
  ASSERT_EQ(change.suites.size(), 2u);
  EXPECT_EQ(change.suites[0].path, "suites/other.json");
  EXPECT_FALSE(change.suites[0].existed_at_base);
  EXPECT_FALSE(change.suites[1].changed);
  // With no registry every case lacks evidence; blocks/ffn adds its reason to the FFN case.
  const SelectionPlan plan = select_cases(change, {});
  EXPECT_EQ(plan.selected_count(), 3u);
  EXPECT_EQ(plan.cases[2].reasons,
            (std::vector<CaseReason>{{SelectReason::block_folder, "blocks/ffn"},
                                     {SelectReason::no_evidence, ""}}));
}

TEST(ReadGitChange, ARegistryBesideTheSuiteFilesIsNotASuiteFile) {
  // Trees before the registry moved to suites/registry/ kept it as suites/registry.json.
  const ScratchRepo repo("old_registry");
  repo.write("suites/tiny.json", block_suite("0.999", false));
  const std::string registry =
      R"({"format": "ttt-fingerprint-registry", "format_version": 1, "entries": []})";
  repo.write("suites/registry.json", registry);
  const std::string base = repo.commit("base");
  repo.write("suites/registry.json", registry + "\n");
  repo.write("blocks/ffn/mlp.cc", "// 2\n");
  const std::string head = repo.commit("head");
  for (const std::string& at : {head, std::string()}) {
    const ChangeSet change = read_git_change(repo.dir().string(), base, at);
    ASSERT_EQ(change.suites.size(), 1u) << "head '" << at << "'";
    EXPECT_EQ(change.suites[0].path, "suites/tiny.json");
    EXPECT_EQ(change.paths,
              (std::vector<std::string>{"blocks/ffn/mlp.cc", "suites/registry.json"}));
  }
  // A suite file that is not valid JSON is still an error naming it.
  repo.write("suites/broken.json", "{");
  try {
    read_git_change(repo.dir().string(), base, "");
    FAIL() << "expected an error for suites/broken.json";
  } catch (const std::exception& error) {
    EXPECT_THAT(error.what(), HasSubstr("suites/broken.json"));
  }
}

TEST(ReadGitChange, ABaseOrHeadThatIsNotACommitIsAnErrorNamingTheArgument) {
  const ScratchRepo repo("bad");
  repo.write("suites/tiny.json", block_suite("0.999", false));
  const std::string base = repo.commit("base");
  const std::string where = repo.dir().string();
  EXPECT_THAT([&] { read_git_change(where, "no-such-branch", ""); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[select] --base 'no-such-branch' is not a commit of " + where)));
  EXPECT_THAT([&] { read_git_change(where, "--all", ""); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[select] --base '--all' is not a commit")));
  EXPECT_THAT([&] { read_git_change(where, base, "0123456789abcdef0123"); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[select] --head '0123456789abcdef0123' is not a commit")));
  // A tree object is not a commit.
  EXPECT_THAT([&] { read_git_change(where, base + "^{tree}", ""); },
              ::testing::ThrowsMessage<std::invalid_argument>(HasSubstr("is not a commit")));
}

}  // namespace
}  // namespace ttt

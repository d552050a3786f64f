// Test selection: which suite cases a change must run (docs/fingerprints.md "Selection").
//
//   ttt::ChangeSet change = ttt::read_git_change(".", "origin/main", "");  // gate/changes.h
//   ttt::SelectionPlan plan = ttt::select_cases(change, evidence);  // ids with registry evidence
//   plan.filter();   // "qwen3-8b/attention.decode.ctx31,...": ttt suite run --filter
//   plan.summary();  // "12 of 262 cases: 8 of qwen3-8b without evidence (6 new fingerprints), ..."
//
// A case is selected when
//   - a changed path is framework code every case runs (blocks/common, validation/, suites/suite,
//     the build): every case;
//   - a changed path lies in a folder of blocks/ the case's kind declares (BlockKind::folder and
//     depends_on, checked against the include graph by tests/gate/select_sources_test.cc);
//   - its suite file existed at base and the case is new there or its definition changed;
//   - its fingerprint has no evidence in the registry: a new model, or a configuration that
//     models/, patterns/ or a suite file changed (a changed configuration has a new fingerprint).
// The other cases keep the registry's evidence; the gate can check that every selected case ran
// (GateInputs::selection). Documentation, tests, coverage, the gate and the other tools select
// nothing; a path no rule knows selects every case.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "suites/suite/suite_file.h"
#include "validation/fingerprint/fingerprint.h"
#include "validation/input/json_reader.h"

namespace ttt {

// What a changed path means for the suite cases.
enum class PathEffect : std::uint8_t {
  none,           // Cannot change a case's result (docs, tests, coverage, the gate, other tools).
  all,            // Framework code every case runs, or a path no rule knows.
  kinds,          // A folder of blocks/ with kinds: the cases of the kinds that declare it.
  suite_file,     // A suite file: its new and changed cases.
  configuration,  // What the cases' Specs and evidence derive from (models/, patterns/, the
                  // registry): a configuration it changes has a fingerprint without evidence.
};
std::string_view path_effect_name(PathEffect effect);

struct PathClass {
  PathEffect effect = PathEffect::all;
  std::string reason;  // "documentation", "framework every case runs (validation/)", ...
  std::string folder;  // kinds: the folder, "blocks/rope".
};
// The effect of a repository-relative path ("blocks/rope/rope.cc"). The suite files are the
// JSON files directly under suites/; suites/registry/registry.json is the registry.
PathClass classify_path(std::string_view path);

// One suite file of the head of a change.
struct SuiteAtHead {
  std::string path = "";  // Repository-relative: "suites/qwen3-8b.json".
  SuiteFile head = {};
  bool changed = false;  // Its text differs from base's (or it is new).
  bool existed_at_base = false;
  // The base version, parsed with this ttt; unset when the file is new or unchanged, or when
  // it no longer parses (base_error says why: every case then counts as changed).
  std::optional<SuiteFile> base = std::nullopt;
  std::string base_error = "";
};

// A change: the paths it touches and the suite files at its head.
struct ChangeSet {
  std::string base = "";  // Commit hashes; head "" is the working tree.
  std::string head = "";
  std::vector<std::string> paths = {};  // Changed paths, repository-relative, sorted.
  std::vector<SuiteAtHead> suites = {};
};

// Why a case is selected, in the order the summary counts a case (under its first reason).
enum class SelectReason : std::uint8_t {
  framework,     // detail: the first changed framework path.
  suite_case,    // detail: "new case", "changed case" or "base version does not parse: ...".
  block_folder,  // detail: the kind's code touched: "blocks/rope", "blocks/ffn/projection".
  no_evidence,   // detail: "" (or why the fingerprint cannot be computed).
};
std::string_view select_reason_name(SelectReason reason);

struct CaseReason {
  SelectReason reason = SelectReason::framework;
  std::string detail = "";
  bool operator==(const CaseReason&) const = default;
};

// One case of one suite file at head, selected or not.
struct PlannedCase {
  std::string suite = "";  // The suite's name.
  std::string file = "";   // Repository-relative path of its file.
  std::string id = "";
  std::string kind = "";
  std::string mode = "";
  // Unset when the case cannot be configured (its kind or Spec is refused): then selected.
  std::optional<Fingerprint> fingerprint = std::nullopt;
  bool evidence = false;                 // The registry has evidence for the fingerprint.
  std::vector<CaseReason> reasons = {};  // Empty: not selected (its evidence stands).
  bool selected() const { return !reasons.empty(); }
};

struct ChangedPath {
  std::string path;
  PathClass what;
};

// What a change must run.
struct SelectionPlan {
  std::string base;
  std::string head;
  std::vector<ChangedPath> paths;
  std::vector<PlannedCase> cases;  // Every case of every suite file, in file and case order.

  std::size_t selected_count() const;
  // The suite files holding a selected case, in order.
  std::vector<std::string> suite_files() const;
  // A `ttt suite run --filter` value: "*" when every case is selected, "-*" when none (skip the
  // run then: it would say that no case is selected), else "<suite>/<id>" of each selected case,
  // comma-separated (glob characters in an id escaped with '\').
  std::string filter() const;
  // "12 of 262 cases: 8 of qwen3-8b without evidence (6 new fingerprints), 4 touched by
  // blocks/rope"; "0 of 262 cases: nothing to run (documentation)".
  std::string summary() const;
};

// Selects the cases of `change` (the rules at the top). `evidence` holds the fingerprint ids the
// registry has evidence for. Throws std::invalid_argument for two suite files of one name.
SelectionPlan select_cases(const ChangeSet& change, const std::set<std::string>& evidence);

// The plan file (`ttt select --json`): {"format": "ttt-selection-plan", "version": 1, "base",
// "head", "summary", "total_cases", "selected_cases", "suite_files", "filter", "paths": [{"path",
// "effect", "reason", "folder"}], "cases": [{"suite", "file", "id", "kind", "mode",
// "fingerprint", "evidence", "selected", "reasons": [{"reason", "detail"}]}]}.
inline constexpr std::string_view kSelectionPlanFormat = "ttt-selection-plan";
nlohmann::json to_json(const SelectionPlan& plan);
// Inverse. Throws std::invalid_argument "<file>: <JSON path>: <what>".
SelectionPlan selection_plan_from_json(const JsonNode& node);
// Reads a plan file. Throws std::invalid_argument naming the file.
SelectionPlan load_selection_plan(const std::string& path);

}  // namespace ttt

#include "gate/select.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <utility>

#include "blocks/common/block_kind.h"
#include "validation/input/input_file.h"

namespace ttt {
namespace {

// The paths whose effect a prefix decides, first match wins (after documentation, blocks/ and
// suites/, which classify_path decides itself). A prefix ending in '/' is a folder; any other
// entry is a file name, or the start of one ("tools/ttt/command." for command.h and command.cc).
struct PrefixRule {
  std::string_view prefix;
  PathEffect effect;
  std::string_view reason;
};
constexpr PrefixRule kPrefixRules[] = {
    {"validation/", PathEffect::all, "framework every case runs (validation/)"},
    {"models/", PathEffect::configuration, "model definitions the cases' Specs derive from"},
    {"patterns/", PathEffect::configuration, "model patterns the cases' Specs derive from"},
    {"tools/ttt/suite_command.cc", PathEffect::all, "the suite runner (ttt suite run)"},
    {"tools/ttt/main.cc", PathEffect::all, "the ttt command line every run goes through"},
    {"tools/ttt/command.", PathEffect::all, "the ttt command line every run goes through"},
    {"tools/ttt/CMakeLists.txt", PathEffect::all, "the build of ttt"},
    {"tools/ttt/", PathEffect::none, "another ttt subcommand (not ttt suite run)"},
    {"tools/setup.sh", PathEffect::all, "the dependencies every case links (tools/setup.sh)"},
    {"tools/CMakeLists.txt", PathEffect::all, "the build of ttt"},
    {"tools/", PathEffect::none, "scripts the suites do not run"},
    {"CMakeLists.txt", PathEffect::all, "the build every case is compiled by"},
    {"CMakePresets.json", PathEffect::all, "the build every case is compiled by"},
    {"cmake/", PathEffect::all, "the build every case is compiled by"},
    {"docs/", PathEffect::none, "documentation"},
    {"tests/", PathEffect::none, "tests, not suite cases"},
    {"bench/", PathEffect::none, "benchmarks, not suite cases"},
    {"goldens/", PathEffect::none, "goldens of the tests, not suite cases"},
    {"coverage/", PathEffect::none, "coverage reads suite results and runs no case"},
    {"gate/", PathEffect::none, "the gate judges results and runs no case"},
    {".ci/", PathEffect::none, "the CI script (what runs, not what a case computes)"},
    {".clang-format", PathEffect::none, "formatting configuration"},
    {".clang-tidy", PathEffect::none, "lint configuration"},
    {".gitignore", PathEffect::none, "git configuration"},
};

constexpr std::string_view kRegistryPath = "suites/registry/registry.json";

PathClass make_class(PathEffect effect, std::string reason, std::string folder = "") {
  return {effect, std::move(reason), std::move(folder)};
}

bool rule_matches(std::string_view prefix, std::string_view path) {
  if (prefix.ends_with('/') || prefix.ends_with('.')) return path.starts_with(prefix);
  return path == prefix;
}

PathClass classify_blocks_path(std::string_view path) {
  const std::string_view rest = path.substr(7);
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return make_class(PathEffect::all, "the build and registration of every block kind");
  }
  const std::string folder(rest.substr(0, slash));
  if (folder == "common") {
    return make_class(PathEffect::all, "block framework every kind uses (blocks/common)");
  }
  const std::vector<std::string>& folders = block_kind_folders();
  if (std::binary_search(folders.begin(), folders.end(), folder)) {
    return make_class(PathEffect::kinds, "block kinds' code", "blocks/" + folder);
  }
  return make_class(PathEffect::all, "a folder of blocks/ without kinds: every case, to be safe");
}

PathClass classify_suites_path(std::string_view path) {
  if (path.starts_with("suites/suite/") || path == "suites/CMakeLists.txt") {
    return make_class(PathEffect::all, "the suite runner every case goes through (suites/suite)");
  }
  if (path.starts_with("suites/targets/")) {
    return make_class(PathEffect::none, "model targets of ttt compose, not case results");
  }
  if (path == kRegistryPath) {
    return make_class(PathEffect::configuration, "the registry of evidence");
  }
  if (path.find('/', 7) == std::string_view::npos && path.ends_with(".json")) {
    return make_class(PathEffect::suite_file, "a suite file");
  }
  return make_class(PathEffect::all, "no rule knows this path: every case, to be safe");
}

// What decides a case's result besides its block's code: everything a suite file says about it.
// Tags and occurrences are left out (they select and compose, they do not change a result).
nlohmann::json case_definition(const SuiteFile& file, const SuiteFileCase& c) {
  nlohmann::json definition = {
      {"block", c.block},
      {"spec", c.spec},
      {"mode", std::string(mode_name(c.mode))},
      {"preset", c.preset ? std::string(preset_name(*c.preset)) : ""},
      {"impl_config", c.impl_config},
      {"shapes", {c.shapes.batch, c.shapes.seq_len, c.shapes.context_len}},
      {"seeded", {c.seeded.activation_std, c.seeded.weight_std}},
      {"expect", to_json(c.expectations)},
      {"module", c.module ? c.module->module : ""},
      {"warmup", c.warmup.value_or(file.warmup)},
      {"repetitions", c.repetitions.value_or(file.repetitions)},
      {"seed", file.seed},
      {"device", std::string(device_name(file.device))},
      {"mesh", mesh_name(file.mesh)},
  };
  if (c.trace) {
    definition["trace"] = {c.trace->file, c.trace->call, c.trace->call_index};
  }
  return definition;
}

// The fingerprint of case `index` as `ttt suite run` computes it (make_suite, case_fingerprint);
// nullopt with `error` set when the case's kind or Spec is refused.
std::optional<Fingerprint> fingerprint_at(const Suite& suite, const SuiteFileCase& c,
                                          std::size_t index, std::string& error) {
  const CaseTarget& target = suite.case_at(index).target();
  std::optional<Fingerprint> fingerprint = case_fingerprint(target.describe(), c.shapes);
  if (!fingerprint) {
    error = "no fingerprint";
    for (const std::string& problem : target.problems()) error += ": " + problem;
  }
  return fingerprint;
}

// The reason a changed suite file gives its case, if any.
std::optional<CaseReason> suite_case_reason(const SuiteAtHead& suite, const SuiteFileCase& c) {
  if (!suite.changed || !suite.existed_at_base) return std::nullopt;
  if (!suite.base) {
    return CaseReason{SelectReason::suite_case, "base version does not parse: " + suite.base_error};
  }
  const auto base = std::find_if(suite.base->cases.begin(), suite.base->cases.end(),
                                 [&](const SuiteFileCase& b) { return b.id == c.id; });
  if (base == suite.base->cases.end()) return CaseReason{SelectReason::suite_case, "new case"};
  if (case_definition(*suite.base, *base) != case_definition(suite.head, c)) {
    return CaseReason{SelectReason::suite_case, "changed case"};
  }
  return std::nullopt;
}

// The code of `kind` a changed path touches: its folder ("blocks/ffn") or a depends_on entry
// ("blocks/ccl" for "blocks/ccl/", "blocks/ffn/projection"); "" when none.
std::string touched_code(const BlockKind& kind, std::string_view path) {
  if (path.starts_with(kind.folder + "/")) return kind.folder;
  for (const std::string& entry : kind.depends_on) {
    if (entry.ends_with('/') && path.starts_with(entry)) return entry.substr(0, entry.size() - 1);
    if (!entry.ends_with('/') && path.starts_with(entry + ".")) return entry;
  }
  return "";
}

std::string escape_glob(const std::string& text) {
  std::string escaped;
  for (const char ch : text) {
    if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') escaped += '\\';
    escaped += ch;
  }
  return escaped;
}

std::string plural(std::size_t count, const std::string& one, const std::string& many) {
  return std::to_string(count) + " " + (count == 1 ? one : many);
}

}  // namespace

std::string_view path_effect_name(PathEffect effect) {
  switch (effect) {
    case PathEffect::none:
      return "none";
    case PathEffect::all:
      return "all";
    case PathEffect::kinds:
      return "kinds";
    case PathEffect::suite_file:
      return "suite_file";
    case PathEffect::configuration:
      return "configuration";
  }
  return "all";
}

std::string_view select_reason_name(SelectReason reason) {
  switch (reason) {
    case SelectReason::framework:
      return "framework";
    case SelectReason::suite_case:
      return "suite_case";
    case SelectReason::block_folder:
      return "block_folder";
    case SelectReason::no_evidence:
      return "no_evidence";
  }
  return "framework";
}

PathClass classify_path(std::string_view path) {
  if (path.ends_with(".md")) return make_class(PathEffect::none, "documentation");
  if (path.starts_with("blocks/")) return classify_blocks_path(path);
  if (path.starts_with("suites/")) return classify_suites_path(path);
  for (const PrefixRule& rule : kPrefixRules) {
    if (rule_matches(rule.prefix, path)) return make_class(rule.effect, std::string(rule.reason));
  }
  return make_class(PathEffect::all, "no rule knows this path: every case, to be safe");
}

SelectionPlan select_cases(const ChangeSet& change, const std::set<std::string>& evidence) {
  SelectionPlan plan;
  plan.base = change.base;
  plan.head = change.head;
  std::string framework_path;
  std::vector<std::string> block_paths;
  for (const std::string& path : change.paths) {
    ChangedPath changed{path, classify_path(path)};
    if (changed.what.effect == PathEffect::all && framework_path.empty()) framework_path = path;
    if (changed.what.effect == PathEffect::kinds) block_paths.push_back(path);
    plan.paths.push_back(std::move(changed));
  }
  std::set<std::string> names;
  for (const SuiteAtHead& suite : change.suites) {
    if (!names.insert(suite.head.name).second) {
      throw std::invalid_argument("[select] two suite files are called '" + suite.head.name +
                                  "' (" + suite.path + ")");
    }
    const Suite built = make_suite(suite.head);
    for (std::size_t index = 0; index < suite.head.cases.size(); ++index) {
      const SuiteFileCase& c = suite.head.cases[index];
      PlannedCase planned{.suite = suite.head.name,
                          .file = suite.path,
                          .id = c.id,
                          .kind = c.block,
                          .mode = std::string(mode_name(c.mode))};
      std::string error;
      planned.fingerprint = fingerprint_at(built, c, index, error);
      planned.evidence = planned.fingerprint && evidence.contains(planned.fingerprint->id);
      if (!framework_path.empty()) {
        planned.reasons.push_back({SelectReason::framework, framework_path});
      }
      if (auto reason = suite_case_reason(suite, c)) planned.reasons.push_back(std::move(*reason));
      if (const BlockKind* kind = find_block_kind(c.block)) {
        std::set<std::string> touched;
        for (const std::string& path : block_paths) {
          std::string code = touched_code(*kind, path);
          if (!code.empty() && touched.insert(code).second) {
            planned.reasons.push_back({SelectReason::block_folder, std::move(code)});
          }
        }
      }
      if (!planned.evidence) planned.reasons.push_back({SelectReason::no_evidence, error});
      plan.cases.push_back(std::move(planned));
    }
  }
  return plan;
}

std::size_t SelectionPlan::selected_count() const {
  return static_cast<std::size_t>(
      std::count_if(cases.begin(), cases.end(), [](const PlannedCase& c) { return c.selected(); }));
}

std::vector<std::string> SelectionPlan::suite_files() const {
  std::vector<std::string> files;
  for (const PlannedCase& c : cases) {
    if (c.selected() && std::find(files.begin(), files.end(), c.file) == files.end()) {
      files.push_back(c.file);
    }
  }
  return files;
}

std::string SelectionPlan::filter() const {
  const std::size_t selected = selected_count();
  if (selected == 0) return "-*";
  if (selected == cases.size()) return "*";
  std::string filter;
  for (const PlannedCase& c : cases) {
    if (!c.selected()) continue;
    if (!filter.empty()) filter += ',';
    filter += escape_glob(c.suite + "/" + c.id);
  }
  return filter;
}

std::string SelectionPlan::summary() const {
  std::string text =
      std::to_string(selected_count()) + " of " + plural(cases.size(), "case", "cases");
  // Each selected case counts once, under its first reason; groups keep first-seen order.
  struct Group {
    std::string label;
    std::size_t cases = 0;
    std::set<std::string> fingerprints = {};
  };
  std::vector<Group> groups;
  const auto group = [&](const std::string& label) -> Group& {
    for (Group& g : groups) {
      if (g.label == label) return g;
    }
    groups.push_back({label});
    return groups.back();
  };
  for (const PlannedCase& c : cases) {
    if (!c.selected()) continue;
    const CaseReason& first = c.reasons.front();
    switch (first.reason) {
      case SelectReason::framework:
        ++group("framework:" + first.detail).cases;
        break;
      case SelectReason::suite_case:
        ++group("suite:" + c.suite).cases;
        break;
      case SelectReason::block_folder:
        ++group("folder:" + first.detail).cases;
        break;
      case SelectReason::no_evidence: {
        Group& g = group("evidence:" + c.suite);
        ++g.cases;
        g.fingerprints.insert(c.fingerprint ? c.fingerprint->id : c.id);
        break;
      }
    }
  }
  if (groups.empty()) {
    return text + (paths.empty() ? ": no change" : ": no changed path affects a case");
  }
  std::string separator = ": ";
  for (const Group& g : groups) {
    const std::size_t colon = g.label.find(':');
    const std::string what = g.label.substr(0, colon);
    const std::string detail = g.label.substr(colon + 1);
    text += separator + std::to_string(g.cases) + " ";
    if (what == "framework") {
      text += "run framework code changed in " + detail;
    } else if (what == "suite") {
      text += "new or changed in the suite file of " + detail;
    } else if (what == "folder") {
      text += "touched by " + detail;
    } else {
      text += "of " + detail + " without evidence (" +
              plural(g.fingerprints.size(), "new fingerprint", "new fingerprints") + ")";
    }
    separator = ", ";
  }
  return text;
}

nlohmann::json to_json(const SelectionPlan& plan) {
  nlohmann::json paths = nlohmann::json::array();
  for (const ChangedPath& path : plan.paths) {
    paths.push_back({{"path", path.path},
                     {"effect", std::string(path_effect_name(path.what.effect))},
                     {"reason", path.what.reason},
                     {"folder", path.what.folder}});
  }
  nlohmann::json cases = nlohmann::json::array();
  for (const PlannedCase& c : plan.cases) {
    nlohmann::json reasons = nlohmann::json::array();
    for (const CaseReason& reason : c.reasons) {
      reasons.push_back(
          {{"reason", std::string(select_reason_name(reason.reason))}, {"detail", reason.detail}});
    }
    cases.push_back({{"suite", c.suite},
                     {"file", c.file},
                     {"id", c.id},
                     {"kind", c.kind},
                     {"mode", c.mode},
                     {"fingerprint", c.fingerprint ? to_json(*c.fingerprint) : nlohmann::json()},
                     {"evidence", c.evidence},
                     {"selected", c.selected()},
                     {"reasons", std::move(reasons)}});
  }
  return {{"format", std::string(kSelectionPlanFormat)},
          {"version", 1},
          {"base", plan.base},
          {"head", plan.head},
          {"summary", plan.summary()},
          {"total_cases", plan.cases.size()},
          {"selected_cases", plan.selected_count()},
          {"suite_files", plan.suite_files()},
          {"filter", plan.filter()},
          {"paths", std::move(paths)},
          {"cases", std::move(cases)}};
}

namespace {

template <typename Enum>
Enum parse_name(const JsonNode& node, std::initializer_list<Enum> values,
                std::string_view (*name)(Enum)) {
  const std::string text = node.string();
  std::string known;
  for (const Enum value : values) {
    if (name(value) == text) return value;
    known += (known.empty() ? "" : ", ") + std::string(name(value));
  }
  node.fail("unknown name '" + text + "' (expected one of " + known + ")");
}

}  // namespace

SelectionPlan selection_plan_from_json(const JsonNode& node) {
  node.allow_only({"format", "version", "base", "head", "summary", "total_cases", "selected_cases",
                   "suite_files", "filter", "paths", "cases"});
  if (node.at("format").string() != kSelectionPlanFormat) {
    node.at("format").fail("expected \"" + std::string(kSelectionPlanFormat) + "\"");
  }
  if (node.at("version").integer() != 1) node.at("version").fail("unsupported version");
  SelectionPlan plan;
  plan.base = node.at("base").string();
  plan.head = node.at("head").string();
  const JsonNode paths = node.at("paths");
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const JsonNode path = paths.at(i);
    path.allow_only({"path", "effect", "reason", "folder"});
    plan.paths.push_back({path.at("path").string(),
                          {parse_name(path.at("effect"),
                                      {PathEffect::none, PathEffect::all, PathEffect::kinds,
                                       PathEffect::suite_file, PathEffect::configuration},
                                      path_effect_name),
                           path.at("reason").string(), path.at("folder").string()}});
  }
  const JsonNode cases = node.at("cases");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const JsonNode c = cases.at(i);
    c.allow_only(
        {"suite", "file", "id", "kind", "mode", "fingerprint", "evidence", "selected", "reasons"});
    PlannedCase planned{.suite = c.at("suite").string(),
                        .file = c.at("file").string(),
                        .id = c.at("id").string(),
                        .kind = c.at("kind").string(),
                        .mode = c.at("mode").string()};
    if (!c.at("fingerprint").json().is_null()) {
      planned.fingerprint = fingerprint_from_json(c.at("fingerprint"));
    }
    planned.evidence = c.at("evidence").boolean();
    const JsonNode reasons = c.at("reasons");
    for (std::size_t r = 0; r < reasons.size(); ++r) {
      const JsonNode reason = reasons.at(r);
      reason.allow_only({"reason", "detail"});
      planned.reasons.push_back({parse_name(reason.at("reason"),
                                            {SelectReason::framework, SelectReason::suite_case,
                                             SelectReason::block_folder, SelectReason::no_evidence},
                                            select_reason_name),
                                 reason.at("detail").string()});
    }
    if (c.at("selected").boolean() != planned.selected()) {
      c.at("selected").fail("a case is selected exactly when it has reasons");
    }
    plan.cases.push_back(std::move(planned));
  }
  if (static_cast<std::size_t>(node.at("total_cases").integer()) != plan.cases.size() ||
      static_cast<std::size_t>(node.at("selected_cases").integer()) != plan.selected_count()) {
    node.at("selected_cases").fail("the counts disagree with the cases");
  }
  return plan;
}

SelectionPlan load_selection_plan(const std::string& path) {
  const nlohmann::json json = read_json_file(path, "the selection plan");
  return selection_plan_from_json(JsonNode(json, path));
}

}  // namespace ttt

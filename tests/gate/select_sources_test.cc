// Test selection trusts declarations (BlockKind::folder and depends_on, and the path rules of
// gate/select.h); these tests hold them to the include graph of the sources, so that a block
// that starts using another folder's code without declaring it, or a suite runner that starts
// including a folder the rules call irrelevant, fails here instead of silently missing cases.
//
// The graph: every quoted #include of the project's .h and .cc files, followed transitively; a
// .cc file implements what its first #include names (Google style puts a source's own header
// first), and a .cc without its own header first (blocks/attention/flash.cc) belongs to any
// header of its folder it includes. A kind's code starts at blocks/<folder>/<family>.h; its
// folder's kinds.cc is checked per folder (all kinds of the folder share it).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "blocks/common/block_kind.h"
#include "gate/select.h"

namespace ttt {
namespace {

namespace fs = std::filesystem;

struct SourceFile {
  std::vector<std::string> includes;  // Quoted includes that are project files.
  std::string first_include;          // The first #include when quoted, else "".
};

class SourceGraph {
 public:
  explicit SourceGraph(const fs::path& root) {
    const std::regex include(R"(^\s*#\s*include\s*([<"])([^>"]+)[>"])");
    for (const char* top : {"blocks", "validation", "suites", "models", "patterns", "tools/ttt"}) {
      for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
        const std::string ext = entry.path().extension().string();
        if (!entry.is_regular_file() || (ext != ".h" && ext != ".cc")) continue;
        const std::string relative = fs::relative(entry.path(), root).generic_string();
        std::ifstream in(entry.path());
        SourceFile file;
        bool first = true;
        for (std::string line; std::getline(in, line);) {
          std::smatch match;
          if (!std::regex_search(line, match, include)) continue;
          if (first && match[1] == "\"") file.first_include = match[2];
          first = false;
          if (match[1] == "\"") file.includes.push_back(match[2]);
        }
        files_[relative] = std::move(file);
      }
    }
    for (auto& [path, file] : files_) {
      std::erase_if(file.includes, [&](const std::string& i) { return !files_.contains(i); });
    }
  }

  bool has(const std::string& path) const { return files_.contains(path); }

  std::vector<std::string> under(const std::string& prefix) const {
    std::vector<std::string> result;
    for (const auto& [path, file] : files_) {
      if (path.starts_with(prefix)) result.push_back(path);
    }
    return result;
  }

  // Everything `start` includes and the sources implementing it (see the top of the file);
  // kinds.cc files join only when they are in `start`.
  std::set<std::string> closure(const std::vector<std::string>& start) const {
    std::set<std::string> reached(start.begin(), start.end());
    for (bool grew = true; grew;) {
      grew = false;
      for (const std::string& path : std::vector<std::string>(reached.begin(), reached.end())) {
        for (const std::string& include : files_.at(path).includes) {
          grew |= reached.insert(include).second;
        }
      }
      for (const auto& [path, file] : files_) {
        if (reached.contains(path) || !path.ends_with(".cc") || path.ends_with("/kinds.cc")) {
          continue;
        }
        const bool implements =
            file.first_include.empty()
                ? std::any_of(file.includes.begin(), file.includes.end(),
                              [&](const std::string& i) {
                                return reached.contains(i) && folder(i) == folder(path);
                              })
                : reached.contains(file.first_include);
        if (implements) grew |= reached.insert(path).second;
      }
    }
    return reached;
  }

  // "blocks/ffn" of "blocks/ffn/gated_mlp.h"; "blocks/attention" of its internal/ files.
  static std::string folder(const std::string& path) {
    const std::size_t first = path.find('/');
    return path.substr(0, path.find('/', first + 1));
  }

 private:
  std::map<std::string, SourceFile> files_;
};

const SourceGraph& graph() {
  static const SourceGraph built(TTT_SOURCE_DIR);
  return built;
}

// Whether a depends_on entry ("blocks/ccl/", "blocks/ffn/projection") covers `path`.
bool covers(const std::string& entry, const std::string& path) {
  return entry.ends_with('/') ? path.starts_with(entry) : path.starts_with(entry + ".");
}

// The files of other kind folders in `reached` (not blocks/common, not `own`).
std::vector<std::string> foreign_block_files(const std::set<std::string>& reached,
                                             const std::string& own) {
  std::vector<std::string> foreign;
  for (const std::string& path : reached) {
    if (path.starts_with("blocks/") && path.find('/', 7) != std::string::npos &&
        SourceGraph::folder(path) != own && SourceGraph::folder(path) != "blocks/common") {
      foreign.push_back(path);
    }
  }
  return foreign;
}

TEST(SelectSources, TheGraphFollowsIncludesAndTheSourcesImplementingThem) {
  // Read off the tree by hand: attention.h includes rms_norm.h and rope.h; attention.cc (its own
  // header first) includes internal/sdpa.h and ffn/projection.h; flash.cc starts with <algorithm>
  // and includes internal/sdpa.h; rms_norm.cc includes row_sums.h. tp_attention.h is included
  // by none of them, and gated_mlp.cc by nothing attention reaches.
  const std::set<std::string> reached = graph().closure({"blocks/attention/attention.h"});
  for (const char* path :
       {"blocks/attention/attention.cc", "blocks/attention/internal/sdpa.h",
        "blocks/attention/flash.cc", "blocks/attention/reference.cc", "blocks/ffn/projection.h",
        "blocks/ffn/projection.cc", "blocks/normalization/rms_norm.cc",
        "blocks/normalization/row_sums.cc", "blocks/rope/rope.cc"}) {
    EXPECT_TRUE(reached.contains(path)) << path;
  }
  for (const char* path : {"blocks/attention/tp_attention.h", "blocks/attention/kinds.cc",
                           "blocks/ffn/gated_mlp.cc", "blocks/ccl/all_reduce.h"}) {
    EXPECT_FALSE(reached.contains(path)) << path;
  }
}

TEST(SelectSources, EveryKindDeclaresExactlyTheOtherBlockCodeItsSourcesInclude) {
  ASSERT_FALSE(block_kinds().empty());
  for (const BlockKind& kind : block_kinds()) {
    SCOPED_TRACE(kind.name);
    const std::string header = kind.folder + "/" + kind.family + ".h";
    ASSERT_TRUE(graph().has(header)) << header << ": a kind's code starts at its family's header";
    const std::vector<std::string> foreign =
        foreign_block_files(graph().closure({header}), kind.folder);
    for (const std::string& path : foreign) {
      EXPECT_TRUE(std::any_of(kind.depends_on.begin(), kind.depends_on.end(),
                              [&](const std::string& e) { return covers(e, path); }))
          << kind.name << " uses " << path << " (from " << header
          << "), which its depends_on does not declare";
    }
    for (const std::string& entry : kind.depends_on) {
      EXPECT_TRUE(std::any_of(foreign.begin(), foreign.end(),
                              [&](const std::string& path) { return covers(entry, path); }))
          << kind.name << " declares '" << entry << "', which its sources do not use";
    }
  }
}

TEST(SelectSources, EachFoldersKindsDeclareWhatTheWholeFolderIncludingKindsCcUses) {
  for (const std::string& name : block_kind_folders()) {
    const std::string folder = "blocks/" + name;
    SCOPED_TRACE(folder);
    std::vector<std::string> declared;
    for (const BlockKind& kind : block_kinds()) {
      if (kind.folder == folder) {
        declared.insert(declared.end(), kind.depends_on.begin(), kind.depends_on.end());
      }
    }
    for (const std::string& path :
         foreign_block_files(graph().closure(graph().under(folder + "/")), folder)) {
      EXPECT_TRUE(std::any_of(declared.begin(), declared.end(),
                              [&](const std::string& e) { return covers(e, path); }))
          << folder << " uses " << path << ", which no kind of the folder declares";
    }
  }
}

TEST(SelectSources, KindFoldersAreSetFromWhereTheirKindsCcIs) {
  // Hand-checked against the tree: blocks/ffn/kinds.cc defines gated_mlp and tp_gated_mlp,
  // blocks/attention/kinds.cc the attention kinds, blocks/rope/kinds.cc rope.
  EXPECT_EQ(find_block_kind("gated_mlp")->folder, "blocks/ffn");
  EXPECT_EQ(find_block_kind("tp_gated_mlp")->folder, "blocks/ffn");
  EXPECT_EQ(find_block_kind("attention.decode")->folder, "blocks/attention");
  EXPECT_EQ(find_block_kind("rope")->folder, "blocks/rope");
  EXPECT_EQ(find_block_kind("all_reduce")->folder, "blocks/ccl");
  EXPECT_TRUE(find_block_kind("gated_mlp")->depends_on.empty());
  EXPECT_EQ(find_block_kind("tp_gated_mlp")->depends_on, std::vector<std::string>{"blocks/ccl/"});
}

TEST(SelectSources, WhatTheBlocksAndTheSuiteRunnerIncludeIsNeverCalledIrrelevant) {
  // Everything a case's run compiles in: the blocks, the suite runner and the ttt front end of
  // `ttt suite run`. Each path must select every case (framework), its kinds (block code), or
  // be checked through fingerprints (the models and patterns the Specs derive from).
  std::vector<std::string> start = graph().under("blocks/");
  for (const std::string& path : graph().under("suites/suite/")) start.push_back(path);
  for (const char* path : {"tools/ttt/suite_command.cc", "tools/ttt/main.cc",
                           "tools/ttt/command.cc", "tools/ttt/command.h"}) {
    start.emplace_back(path);
  }
  std::size_t checked = 0;
  for (const std::string& path : graph().closure(start)) {
    const PathClass what = classify_path(path);
    EXPECT_TRUE(what.effect == PathEffect::all || what.effect == PathEffect::kinds ||
                what.effect == PathEffect::configuration)
        << path << " is compiled into every suite run but classified "
        << path_effect_name(what.effect) << " (" << what.reason << ")";
    ++checked;
  }
  EXPECT_GT(checked, 200u);
}

}  // namespace
}  // namespace ttt

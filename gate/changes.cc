#include "gate/changes.h"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "suites/suite/registry.h"
#include "validation/input/input_file.h"

namespace ttt {
namespace {

std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (const char ch : text) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out += ch;
    }
  }
  return out + "'";
}

// Runs `git -C repo <arguments>`, its standard error discarded; nullopt when it exits non-zero.
std::optional<std::string> git(const std::string& repo, const std::string& arguments) {
  const std::string command = "git -C " + shell_quoted(repo) + " " + arguments + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("[select] cannot run git");
  std::string output;
  std::array<char, 4096> buffer{};
  std::size_t read = 0;
  while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    output.append(buffer.data(), read);
  }
  const int status = pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return output;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) result.push_back(line);
  }
  return result;
}

// The full hash of the commit `rev` names; `option` names the argument in the error.
std::string commit_of(const std::string& repo, const std::string& rev, const std::string& option) {
  if (rev.empty() || rev.starts_with('-')) {
    throw std::invalid_argument("[select] " + option + " '" + rev + "' is not a commit of " + repo);
  }
  const auto hash = git(repo, "rev-parse --verify --quiet " + shell_quoted(rev + "^{commit}"));
  if (!hash || lines(*hash).size() != 1) {
    throw std::invalid_argument("[select] " + option + " '" + rev + "' is not a commit of " + repo);
  }
  return lines(*hash).front();
}

// The text of `path` at `commit`, or nullopt when the commit has no such file.
std::optional<std::string> file_at(const std::string& repo, const std::string& commit,
                                   const std::string& path) {
  return git(repo, "show " + shell_quoted(commit + ":" + path));
}

std::string read_file(const std::string& path) { return read_input_file(path, "the suite file"); }

SuiteFile parse_text(const std::string& text, const std::string& source,
                     const std::string& suites_dir) {
  return parse_suite_file(parse_json(text, source), source, suites_dir);
}

// A fingerprint registry ("format": "ttt-fingerprint-registry"), whatever else it holds.
bool is_registry_text(const std::string& text) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.contains("format") && json["format"] == kRegistryFormat;
}

}  // namespace

ChangeSet read_git_change(const std::string& repo, const std::string& base,
                          const std::string& head) {
  if (!git(repo, "rev-parse --git-dir")) {
    throw std::invalid_argument("[select] " + repo + " is not a git repository");
  }
  ChangeSet change;
  change.base = commit_of(repo, base, "--base");
  if (!head.empty()) change.head = commit_of(repo, head, "--head");
  const std::string tip = head.empty() ? commit_of(repo, "HEAD", "HEAD") : change.head;
  const auto fork = git(repo, "merge-base " + shell_quoted(change.base) + " " + shell_quoted(tip));
  if (!fork || lines(*fork).size() != 1) {
    throw std::invalid_argument("[select] --base '" + base + "' and " +
                                (head.empty() ? std::string("HEAD") : "--head '" + head + "'") +
                                " have no common ancestor in " + repo);
  }
  const std::string merge_base = lines(*fork).front();

  // Changed paths: committed (and, for the working tree, uncommitted and untracked ones).
  const std::string range = head.empty()
                                ? shell_quoted(merge_base)
                                : shell_quoted(merge_base) + " " + shell_quoted(change.head);
  const auto diff = git(repo, "diff --no-renames --name-only " + range);
  if (!diff) throw std::invalid_argument("[select] git diff " + range + " failed in " + repo);
  change.paths = lines(*diff);
  if (head.empty()) {
    const auto untracked = git(repo, "ls-files --others --exclude-standard");
    if (untracked) {
      for (std::string& path : lines(*untracked)) change.paths.push_back(std::move(path));
    }
  }
  std::sort(change.paths.begin(), change.paths.end());
  change.paths.erase(std::unique(change.paths.begin(), change.paths.end()), change.paths.end());

  // The suite files at head.
  const std::string suites_dir = (std::filesystem::path(repo) / "suites").string();
  std::vector<std::string> suite_paths;
  if (head.empty()) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(suites_dir, error)) {
      suite_paths.push_back("suites/" + entry.path().filename().string());
    }
  } else {
    const auto tree = git(repo, "ls-tree --name-only " + shell_quoted(change.head) + " suites/");
    if (tree) suite_paths = lines(*tree);
  }
  std::sort(suite_paths.begin(), suite_paths.end());
  for (const std::string& path : suite_paths) {
    if (classify_path(path).effect != PathEffect::suite_file) continue;
    std::string text;
    if (head.empty()) {
      text = read_file((std::filesystem::path(repo) / path).string());
    } else {
      auto at_head = file_at(repo, change.head, path);
      if (!at_head) throw std::invalid_argument("[select] cannot read " + path + " at --head");
      text = std::move(*at_head);
    }
    // Until the registry moved to suites/registry/, it was suites/registry.json: a tree of that
    // time holds a registry beside its suite files, and it is not one of them.
    if (is_registry_text(text)) continue;
    SuiteAtHead suite;
    suite.path = path;
    suite.head = parse_text(text, path, suites_dir);
    suite.changed = std::binary_search(change.paths.begin(), change.paths.end(), path);
    const auto base_text = file_at(repo, merge_base, path);
    suite.existed_at_base = base_text.has_value();
    if (suite.changed && base_text) {
      try {
        suite.base = parse_text(*base_text, merge_base.substr(0, 12) + ":" + path, suites_dir);
      } catch (const std::exception& e) {
        suite.base_error = e.what();
      }
    }
    change.suites.push_back(std::move(suite));
  }
  return change;
}

}  // namespace ttt

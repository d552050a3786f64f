// A change read from git, for test selection (gate/select.h, docs/fingerprints.md "Selection").
//
//   ttt::ChangeSet change = ttt::read_git_change(".", "origin/main", "");
//
// The paths are those changed since the merge base of base and head (what a pull request adds,
// as `git diff base...head` lists them), so that commits on the base branch after the fork do not
// count; without a head, the working tree (uncommitted and untracked files included) is the head.
#pragma once

#include <string>

#include "gate/select.h"

namespace ttt {

// Reads the change between `base` and `head` ("" = the working tree) of the git repository at
// `repo`, and every suite file at head, parsed, with its base version when it changed. Throws
// std::invalid_argument "[select] --base 'x' is not a commit of <repo>" (likewise --head, a
// repository that is not one, no merge base) and "<path>: <JSON path>: ..." for a suite file at
// head that does not parse.
ChangeSet read_git_change(const std::string& repo, const std::string& base,
                          const std::string& head);

}  // namespace ttt

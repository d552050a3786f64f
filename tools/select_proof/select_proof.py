#!/usr/bin/python3
"""Proof that `ttt select` misses nothing on this repository's history (issue 15, "Proof").

    /usr/bin/python3 tools/select_proof/select_proof.py --dry-run      # what it would build
    /usr/bin/python3 tools/select_proof/select_proof.py --report /tmp/select-proof.json
    /usr/bin/python3 tools/select_proof/select_proof.py -n 5 --cases quick

For the last N (default 20) commits C of --rev (default HEAD) that touched blocks/, patterns/ or
validation/, it runs the suite cases at C's parent P (C~1) and at C, each tree with its own `ttt`,
and compares the cases whose results changed with the cases `ttt select` selects for the change
P..C. Selection must miss none (safety); the fraction it selects says what it saves.

How:
  1. One scratch git worktree (`git worktree add --detach WORK/src`, default WORK
     /tmp/ttt-select-proof) visits the trees P and C of every commit in topological order, oldest
     first, so each `git checkout --detach` rewrites only the files that changed and the one build
     directory (WORK/build, configured once: Ninja, RelWithDebInfo -O2 -g1, no tests, no
     benchmarks) rebuilds only the target ttt incrementally.
  2. At each tree, that tree's ttt runs its suite files one by one: `ttt suite run FILE --json ...
     --warmup 0 --warm-caches --quiet` (the default repetitions, at least 9; timings are not
     compared, so warm caches only save time). --cases registry (default) runs what the shipped
     registry's evidence was recorded from (suites/registry/registry.json "description"): every
     case of gpt2, qwen3-8b, phi-3-mini-4k, stablelm-2-1.6b and bloom-560m, and the cases tagged
     quick of every other suites/*.json; --cases quick runs only the quick cases. A suite file
     absent at a tree is skipped there (recorded); one without a quick case runs none. Exit 1 of
     `ttt suite run` (a case failed) is a result; another exit is an error of that suite at that
     tree, recorded, and its cases are left out of the comparison (reported as unchecked).
     Results are cached under WORK/results/<sha>/<cases>/ (one JSON per suite file, tree.json when
     the tree is done), so a rerun, or a run after an interruption, skips what is finished; remove
     a tree's directory to run it again.
  3. A case (suite name and case id) changed between P and C when its status, its error, its
     verdicts other than latency (expectation, passed, message) or its outputs (name, reference
     RMS, every metric, compared exactly) differ; timing, seconds, the machine, created_utc and
     the commit are not compared. A case of C that P did not run is changed (new).
     Missed: changed and not selected, except a new case that passes and whose fingerprint has
     evidence at P (a new model's case that shares a configuration with another: the evidence
     stands for it, as selection intends, and it agrees).
  4. Selected for C: the reasons of HEAD's `ttt select --base P --head C --json plan.json` (--ttt)
     that read paths and suite files (framework, suite_case, block_folder), plus `no_evidence`
     emulated: a case of C whose fingerprint (as C's own results record it) is not among the
     fingerprints of the cases that passed at P.

Why that emulation is the right one: selection assumes a registry kept up to date, i.e. updated
(`ttt registry update --results`) from the last accepted run, which before C is P's run. Such a
registry holds exactly the fingerprints of P's passing cases (update accepts nothing else). The
fingerprint of a case at C depends on C's code (models/ and patterns/ derive Specs; defaults and
the TTTv2 version are hashed), which HEAD's ttt cannot compute for an old tree: C's own ttt did,
and wrote it into C's results. The plan's own `no_evidence` reasons are ignored: they compare
HEAD's fingerprints with HEAD's registry. The path rules are HEAD's (classify_path, the kinds'
folders and depends_on), applied to old changes: what is proved is that today's rules would have
missed nothing. A case of C with no fingerprint in its results (a wrapped callable) is selected
only by the plan; a case of C absent from the plan counts as not selected by it (listed).

Report: per commit, the cases run at C, changed, selected, missed (changed and not selected: ids
listed) and selected but unchanged, with totals and the fraction selected; a JSON report
(--report FILE) and a Markdown table on standard output for docs/suites.md "Selection on this
repository's history". --dry-run lists the commits and the trees to build (and which are
cached) and builds nothing; it creates no worktree.

Builds and suite runs take /tmp/ttt-build.lock (flock, tools/common/build_lock.py) when that file
exists, unless a parent process holds it. The worktree stays registered for the next run; remove
it with `git worktree remove --force WORK/src`.

Exit status: 0 every commit was checked and none missed a case; 1 a commit missed a case, or the
proof is incomplete (a tree that did not build, a suite run that erred, a plan that failed: the
report says which); 2 bad input (not a git repository, a --rev that is not a commit, -n < 1, a
missing ttt binary, a --work inside the repository). Standard library only.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "common"))
from build_lock import BuildLock  # noqa: E402  (tools/common)
from tool_cli import EXIT_BAD_INPUT, EXIT_OK, BadInput, add_run_options, run_main  # noqa: E402

EXIT_MISSED = 1

WATCHED = ("blocks", "patterns", "validation")
# The suites the shipped registry's evidence ran in full (suites/registry/registry.json).
FULL_SUITES = ("gpt2", "qwen3-8b", "phi-3-mini-4k", "stablelm-2-1.6b", "bloom-560m")
CASES_MODES = ("registry", "quick")
# The plan's reasons that read paths and suite files; no_evidence is emulated (docstring).
PLAN_REASONS = ("framework", "suite_case", "block_folder")
CONFIGURE = ["-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
             "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG",
             "-DTTT_BUILD_TESTS=OFF", "-DTTT_BUILD_BENCHMARKS=OFF"]
SHA = re.compile(r"^[0-9a-f]{40}$")


# ---- git ---------------------------------------------------------------------------------------


def git(repo, *args, check=True):
    """Standard output of `git -C repo ARGS`; BadInput naming the command when it fails."""
    try:
        result = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True)
    except OSError as error:
        raise BadInput(f"cannot run git: {error}")
    if check and result.returncode != 0:
        raise BadInput(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout if result.returncode == 0 else None


def parse_commit_list(text):
    """The commit hashes of `git log --format=%H` / `git rev-list` output, in order."""
    commits = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if not SHA.match(line):
            raise BadInput(f"line {number} of git's commit list is not a commit hash: {line!r}")
        commits.append(line)
    return commits


def repository_root(path):
    """The top level of the git working tree at `path`."""
    if not os.path.isdir(path):
        raise BadInput(f"--repo {path}: no such directory")
    root = git(path, "rev-parse", "--show-toplevel", check=False)
    if root is None:
        raise BadInput(f"--repo {path} is not a git repository")
    return root.strip()


def resolve_commit(repo, rev):
    sha = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if sha is None:
        raise BadInput(f"--rev '{rev}' is not a commit of {repo}")
    return sha.strip()


def touching_commits(repo, rev, count):
    """The last `count` commits of `rev` that touched blocks/, patterns/ or validation/."""
    text = git(repo, "log", "--format=%H", "-n", str(count), rev, "--", *WATCHED)
    commits = parse_commit_list(text)
    if not commits:
        raise BadInput(f"--rev {rev}: no commit touched {', '.join(w + '/' for w in WATCHED)}")
    return commits


def parent_of(repo, sha):
    """The first parent of `sha`, or None for a root commit."""
    parent = git(repo, "rev-parse", "--verify", "--quiet", f"{sha}~1^{{commit}}", check=False)
    return parent.strip() if parent else None


def build_order(needed, topo_text):
    """The trees of `needed` in the order of `git rev-list --topo-order --reverse` output
    (oldest first), so each checkout changes as little as possible."""
    order = [sha for sha in parse_commit_list(topo_text) if sha in needed]
    missing = set(needed) - set(order)
    if missing:
        raise BadInput(f"commits not reachable from the revision: {', '.join(sorted(missing))}")
    return order


def suite_files_in(tree):
    """The suite files of the checked-out tree `tree`: suites/*.json (not below), sorted, without
    the registry, which lay at suites/registry.json from 667a782 until e0aebc9 moved it."""
    directory = os.path.join(tree, "suites")
    files = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        path = os.path.join(directory, name)
        if not name.endswith(".json") or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                if json.load(f).get("format") == "ttt-fingerprint-registry":
                    continue
        except (OSError, ValueError, AttributeError):
            pass  # Not readable here: ttt suite run says why.
        files.append("suites/" + name)
    return files


def suite_runs(files, cases):
    """[(file, tags)] for `ttt suite run`: every case of the registry's full suites (--cases
    registry), the quick cases of the others; tags () for every case, ("quick",) for quick."""
    runs = []
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0]
        full = cases == "registry" and stem in FULL_SUITES
        runs.append((path, () if full else ("quick",)))
    return runs


def missing_full_suites(files, cases):
    """The suite files --cases registry runs in full that `files` lacks (an older tree)."""
    if cases != "registry":
        return []
    return [f"suites/{name}.json" for name in FULL_SUITES if f"suites/{name}.json" not in files]


# ---- comparing results -------------------------------------------------------------------------


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise BadInput(f"cannot read {what} {path}: {error}")


def case_map(results_list):
    """{"suite/id": case} over results JSONs (`ttt suite run --json`), each case with its
    suite's "file" added as "_file"."""
    cases = {}
    for results in results_list:
        for suite in results.get("suites", []):
            for case in suite.get("cases", []):
                cases[f"{suite['name']}/{case['id']}"] = dict(case, _file=suite.get("file", ""))
    return cases


def result_view(case):
    """What of a case's result is compared: not its timing, seconds or latency verdicts."""
    return {
        "status": case.get("status"),
        "error": case.get("error", ""),
        "verdicts": [{k: v.get(k) for k in ("expectation", "passed", "message")}
                     for v in case.get("verdicts", []) if v.get("expectation") != "latency"],
        "outputs": [{k: o.get(k) for k in ("name", "reference_rms", "metrics")}
                    for o in case.get("outputs", [])],
    }


def diff_results(before, after):
    """(changed, new): ids of `after` whose results differ from `before`'s, and those of them
    `before` does not have. Both sorted; new ids are also in changed."""
    changed, new = [], []
    for key in sorted(after):
        if key not in before:
            changed.append(key)
            new.append(key)
        elif result_view(before[key]) != result_view(after[key]):
            changed.append(key)
    return changed, new


def fingerprint_id(case):
    fingerprint = case.get("fingerprint")
    return fingerprint.get("id") if isinstance(fingerprint, dict) else None


def evidence_of(before):
    """The fingerprints `ttt registry update` would record from `before`: of the passing cases
    with finite accuracy metrics."""
    evidence = set()
    for case in before.values():
        fp = fingerprint_id(case)
        outputs = case.get("outputs") or []
        finite = outputs and all(
            all((o.get("metrics") or {}).get(m) is not None
                for m in ("pcc", "nmse", "max_abs_error")) for o in outputs)
        if fp and case.get("status") == "pass" and finite:
            evidence.add(fp)
    return evidence


def plan_reasons(plan):
    """{"suite/id": [reason, ...]} of a selection plan, without no_evidence."""
    if plan.get("format") != "ttt-selection-plan":
        raise BadInput("the selection plan's format is not \"ttt-selection-plan\"")
    reasons = {}
    for case in plan.get("cases", []):
        names = [r["reason"] for r in case.get("reasons", []) if r["reason"] in PLAN_REASONS]
        reasons[f"{case['suite']}/{case['id']}"] = names
    return reasons


def check_commit(plan, before, after, unchecked_files=()):
    """The comparison of one commit: `before`, `after` case maps (case_map) of P and C, `plan`
    the selection plan of P..C. Cases of C from `unchecked_files` (a suite that erred at P or C)
    are left out. Missed: changed, not selected, and not a new case that passes on its
    fingerprint's evidence."""
    skip = set(unchecked_files)
    after = {k: c for k, c in after.items() if c["_file"] not in skip}
    changed, new = diff_results(before, after)
    reasons = plan_reasons(plan)
    evidence = evidence_of(before)
    by_plan, by_evidence, not_in_plan, without_fingerprint = set(), set(), [], 0
    for key, case in after.items():
        if key not in reasons:
            not_in_plan.append(key)
        elif reasons[key]:
            by_plan.add(key)
        fp = fingerprint_id(case)
        if fp is None:
            without_fingerprint += 1
        elif fp not in evidence:
            by_evidence.add(key)
    selected = by_plan | by_evidence
    # A new case nothing selects stands on the evidence of its fingerprint at the parent, which
    # is of passing cases: the evidence holds when the new case passes too.
    covered = [key for key in new if key not in selected
               and fingerprint_id(after[key]) is not None and after[key].get("status") == "pass"]
    return {
        "cases_run": len(after),
        "changed": changed,
        "new": new,
        "selected": len(selected),
        "selected_by_plan": len(by_plan),
        "selected_by_evidence": len(by_evidence),
        "selected_by_evidence_only": sorted(by_evidence - by_plan),
        "new_covered_by_evidence": covered,
        "missed": [key for key in changed if key not in selected and key not in covered],
        "selected_unchanged": len(selected - set(changed)),
        "not_in_plan": sorted(not_in_plan),
        "without_fingerprint": without_fingerprint,
    }


# ---- the scratch worktree, builds and suite runs ---------------------------------------------


def tree_dir(work, sha, cases):
    return os.path.join(work, "results", sha, cases)


def is_cached(work, sha, cases):
    return os.path.exists(os.path.join(tree_dir(work, sha, cases), "tree.json"))


def clean_environment():
    """The environment of the suite runs: nothing of the caller's switches (TTT_*, GoogleTest's
    sharding) and one BLAS thread, as tools/guard/record.sh runs them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTT_", "GTEST_"))}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", LC_ALL="C")
    return env


def tail(text, lines=30):
    return "\n".join(text.splitlines()[-lines:])


class Scratch:
    """The worktree WORK/src, the build directory WORK/build and the results cache."""

    def __init__(self, repo, work, cases, jobs, lock, log):
        self.repo, self.work, self.cases = repo, work, cases
        self.src = os.path.join(work, "src")
        self.build_dir = os.path.join(work, "build")
        self.jobs, self.lock, self.log = jobs, lock, log

    def run(self, command, cwd, locked, log_path=None, env=None):
        """(exit code, output) of a command; the output also goes to log_path."""
        self.log("$ " + " ".join(command))
        with BuildLock(enabled=self.lock and locked):
            result = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace",
                                    env=env)
        if log_path:
            with open(log_path, "w", encoding="utf-8") as f:
                f.write(result.stdout)
        return result.returncode, result.stdout

    def prepare(self, first):
        """Creates the worktree at `first` (or checks the existing one) and configures once."""
        if not os.path.exists(self.src):
            os.makedirs(self.work, exist_ok=True)
            git(self.repo, "worktree", "add", "--detach", self.src, first)
        else:
            common = git(self.src, "rev-parse", "--path-format=absolute", "--git-common-dir",
                         check=False)
            ours = git(self.repo, "rev-parse", "--path-format=absolute", "--git-common-dir")
            top = git(self.src, "rev-parse", "--show-toplevel", check=False)
            same = (common is not None and top is not None
                    and os.path.realpath(common.strip()) == os.path.realpath(ours.strip())
                    and os.path.realpath(top.strip()) == os.path.realpath(self.src))
            if not same:
                raise BadInput(f"--work: {self.src} exists and is not a worktree of {self.repo}")
        if not os.path.exists(os.path.join(self.build_dir, "CMakeCache.txt")):
            os.makedirs(self.build_dir, exist_ok=True)
            code, out = self.run(["cmake", "-S", self.src, "-B", self.build_dir, *CONFIGURE],
                                 self.work, locked=True,
                                 log_path=os.path.join(self.work, "configure.log"))
            if code != 0:
                raise BadInput(f"configuring {self.build_dir} failed:\n{tail(out)}")

    def visit(self, sha):
        """Checks out, builds and runs the tree `sha`: its record, written to tree.json (which
        caches the tree) only when ttt built."""
        started = time.time()
        directory = tree_dir(self.work, sha, self.cases)
        os.makedirs(directory, exist_ok=True)
        git(self.src, "checkout", "--detach", "--quiet", sha)
        code, out = self.run(["cmake", "--build", self.build_dir, "-j", str(self.jobs),
                              "--target", "ttt"], self.work, locked=True,
                             log_path=os.path.join(directory, "build.log"))
        files = suite_files_in(self.src)
        record = {"commit": sha, "cases": self.cases, "build": code == 0, "suites": [],
                  "missing": missing_full_suites(files, self.cases)}
        if code != 0:
            record["error"] = f"the build of ttt failed (exit {code}):\n{tail(out)}"
            record["seconds"] = round(time.time() - started, 1)
            return record  # Not cached: a rerun tries again.
        ttt = os.path.join(self.build_dir, "tools", "ttt", "ttt")
        for path, tags in suite_runs(files, self.cases):
            record["suites"].append(self.run_suite(ttt, path, tags, directory))
        record["seconds"] = round(time.time() - started, 1)
        with open(os.path.join(directory, "tree.json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
        return record

    def run_suite(self, ttt, path, tags, directory):
        """One suite file at the checked-out tree: {file, tags, status, exit, results, message}.
        Status ran (exit 0 or 1), no_case (no case has the tags) or error."""
        stem = os.path.splitext(os.path.basename(path))[0]
        results = os.path.join(directory, stem + ".json")
        entry = {"file": path, "tags": list(tags), "status": "ran", "exit": 0,
                 "results": stem + ".json", "message": ""}
        if os.path.exists(results):
            return entry  # Finished before an interruption.
        partial = results + ".partial"
        command = [ttt, "suite", "run", path, "--json", partial, "--warmup", "0",
                   "--warm-caches", "--quiet"]
        for tag in tags:
            command += ["--tag", tag]
        started = time.time()
        code, out = self.run(command, self.src, locked=True,
                             log_path=os.path.join(directory, stem + ".log"),
                             env=clean_environment())
        entry["exit"] = code
        entry["seconds"] = round(time.time() - started, 1)
        if code in (0, 1) and os.path.exists(partial):
            os.replace(partial, results)
        elif code == 2 and "no case selected" in out:
            entry.update(status="no_case", results=None)
        else:
            entry.update(status="error", results=None, message=tail(out, 10))
            if os.path.exists(partial):
                os.remove(partial)
        self.log(f"  {path}: {entry['status']} (exit {code}, {entry['seconds']} s)")
        return entry


def load_tree(work, sha, cases):
    """(case map, suite files that erred) of a finished tree."""
    directory = tree_dir(work, sha, cases)
    record = load_json(os.path.join(directory, "tree.json"), "the tree record")
    results, erred = [], []
    for suite in record.get("suites", []):
        if suite["status"] == "ran":
            results.append(load_json(os.path.join(directory, suite["results"]), "suite results"))
        elif suite["status"] == "error":
            erred.append(suite["file"])
    return case_map(results), erred


def tree_summary(work, sha, cases):
    """A finished tree's line in the report: time, suite files by status, full suites absent."""
    record = load_json(os.path.join(tree_dir(work, sha, cases), "tree.json"), "the tree record")
    by_status = {}
    for suite in record.get("suites", []):
        by_status.setdefault(suite["status"], []).append(suite["file"])
    return {"commit": sha, "seconds": record.get("seconds"), "suites": by_status,
            "missing": record.get("missing", [])}


def unchecked_reasons(erred_before, erred_after):
    """"suites/x.json erred at the parent" (the commit, both) for each suite left out."""
    reasons = []
    for path in sorted(set(erred_before) | set(erred_after)):
        where = ("both" if path in erred_before and path in erred_after
                 else "the parent" if path in erred_before else "the commit")
        reasons.append(f"{path} erred at {where}")
    return reasons


# ---- the proof ---------------------------------------------------------------------------------


def plan_for(ttt, repo, parent, commit, path, log):
    """(plan, error) of HEAD's `ttt select --base parent --head commit`."""
    command = [ttt, "select", "--base", parent, "--head", commit, "--repo", repo, "--json", path]
    log("$ " + " ".join(command))
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, errors="replace")
    if result.returncode != 0:
        return None, f"ttt select exited {result.returncode}: {tail(result.stderr, 5)}"
    return load_json(path, "the selection plan"), None


def totals_of(entries):
    checked = [e for e in entries if "error" not in e]
    run = sum(e["cases_run"] for e in checked)
    selected = sum(e["selected"] for e in checked)
    return {
        "commits": len(entries),
        "commits_checked": len(checked),
        "cases_run": run,
        "changed": sum(len(e["changed"]) for e in checked),
        "selected": selected,
        "missed": sum(len(e["missed"]) for e in checked),
        "selected_unchanged": sum(e["selected_unchanged"] for e in checked),
        "fraction_selected": round(selected / run, 4) if run else None,
    }


def verdict(report):
    """0 when every commit was checked, completely, and none missed a case; else 1."""
    for entry in report["commits"]:
        if "error" in entry or entry["missed"] or entry["unchecked"]:
            return EXIT_MISSED
    return EXIT_OK


def shortened(text, width):
    return text if len(text) <= width else text[:width - 3] + "..."


def percent(part, whole):
    return f"{100.0 * part / whole:.0f}%" if whole else "-"


def render_markdown(report):
    """The per-commit table and totals, for docs/suites.md."""
    lines = [f"`ttt select` against the cases whose results changed: the last "
             f"{len(report['commits'])} commits of {report['rev'][:7]} that touched `blocks/`, "
             f"`patterns/` or `validation/`, cases `{report['cases']}`.", "",
             "| commit | what | cases | changed | selected | missed | selected, unchanged |",
             "|---|---|---|---|---|---|---|"]
    for e in report["commits"]:
        what = shortened(e["subject"], 60).replace("|", "\\|")
        if "error" in e:
            lines.append(f"| {e['commit'][:7]} | {what} | not checked: "
                         f"{e['error'].splitlines()[0]} | | | | |")
            continue
        lines.append(f"| {e['commit'][:7]} | {what} | {e['cases_run']} | {len(e['changed'])} | "
                     f"{e['selected']} ({percent(e['selected'], e['cases_run'])}) | "
                     f"{len(e['missed'])} | {e['selected_unchanged']} |")
    t = report["totals"]
    lines += ["", f"In all, {t['selected']} of {t['cases_run']} case runs selected "
                  f"({percent(t['selected'], t['cases_run'])}) over {t['commits_checked']} of "
                  f"{t['commits']} commits checked; {t['changed']} changed, {t['missed']} missed, "
                  f"{t['selected_unchanged']} selected but unchanged."]
    for e in report["commits"]:
        if e.get("missed"):
            lines.append(f"- {e['commit'][:7]} missed: " + ", ".join(f"`{k}`" for k in e["missed"]))
        if e.get("unchecked"):
            lines.append(f"- {e['commit'][:7]} unchecked: " + "; ".join(e["unchecked"]))
    for tree in report.get("trees", []):
        if tree.get("error"):
            lines.append(f"- tree {tree['commit'][:7]}: {tree['error'].splitlines()[0]}")
        if tree.get("missing"):
            lines.append(f"- tree {tree['commit'][:7]} has no " + ", ".join(tree["missing"]))
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def compare_commit(scratch, ttt, commit, parent, failed_trees, log):
    """The report entry of one commit, from the trees' results and the plan."""
    entry = {"commit": commit, "parent": parent,
             "subject": git(scratch.repo, "log", "-1", "--format=%s", commit).strip()}
    if parent is None:
        return dict(entry, error="a root commit: no parent to compare with")
    for sha in (parent, commit):
        if sha in failed_trees:
            return dict(entry, error=f"tree {sha[:7]}: {failed_trees[sha].splitlines()[0]}")
    os.makedirs(os.path.join(scratch.work, "plans"), exist_ok=True)
    plan, error = plan_for(ttt, scratch.repo, parent, commit,
                           os.path.join(scratch.work, "plans", commit + ".json"), log)
    if error:
        return dict(entry, error=error)
    before, erred_before = load_tree(scratch.work, parent, scratch.cases)
    after, erred_after = load_tree(scratch.work, commit, scratch.cases)
    entry.update(check_commit(plan, before, after, erred_before + erred_after))
    entry["unchecked"] = unchecked_reasons(erred_before, erred_after)
    entry["plan_summary"] = plan.get("summary", "")
    if after and entry["without_fingerprint"] == len(after):
        entry["note"] = "no case of the commit's results carries a fingerprint"
    return entry


def run_proof(args, repo, rev_sha, commits, parents, order, log):
    scratch = Scratch(repo, args.work, args.cases, args.jobs, not args.no_lock, log)
    todo = [sha for sha in order if not is_cached(args.work, sha, args.cases)]
    failed_trees = {}
    if todo:
        for tool in ("cmake", "ninja"):
            if shutil.which(tool) is None:
                raise BadInput(f"{tool} is not on PATH (needed to build {len(todo)} trees)")
        scratch.prepare(todo[0])
    for number, sha in enumerate(todo, start=1):
        log(f"[{number}/{len(todo)}] tree {sha[:7]}")
        record = scratch.visit(sha)
        if not record["build"]:
            failed_trees[sha] = record["error"]
            log(f"  {record['error']}")
    entries = [compare_commit(scratch, args.ttt, c, parents[c], failed_trees, log)
               for c in commits]
    report = {"format": "ttt-select-proof", "version": 1, "repo": repo, "rev": rev_sha,
              "cases": args.cases, "ttt": args.ttt, "work": args.work, "commits": entries,
              "totals": totals_of(entries),
              "trees": [tree_summary(args.work, sha, args.cases) if sha not in failed_trees
                        else {"commit": sha, "error": failed_trees[sha]} for sha in order],
              "notes": [f"{e['commit'][:7]}: {e['note']}" for e in entries if "note" in e]}
    return report


def render_dry_run(args, repo, rev_sha, commits, parents, order, subjects):
    lines = [f"{len(commits)} commits of {args.rev} ({rev_sha[:7]}) that touched "
             f"{', '.join(w + '/' for w in WATCHED)}, newest first:"]
    for c in commits:
        parent = parents[c][:7] if parents[c] else "none (root commit)"
        lines.append(f"  {c[:7]}  parent {parent}  {shortened(subjects[c], 72)}")
    cached = [sha for sha in order if is_cached(args.work, sha, args.cases)]
    lines.append(f"trees, oldest first ({len(order)}: {len(order) - len(cached)} to build and "
                 f"run, {len(cached)} cached under {os.path.join(args.work, 'results')}):")
    for sha in order:
        state = "cached" if sha in cached else "to build"
        lines.append(f"  {sha[:7]}  {state}")
    src = os.path.join(args.work, "src")
    lines.append(f"worktree {src}: " + ("exists" if os.path.exists(src) else
                                        "absent (`git worktree add --detach` would create it)"))
    what = (f"every case of {', '.join(FULL_SUITES)} and the quick cases of the other suites"
            if args.cases == "registry" else "the quick cases of every suite")
    lines.append(f"cases: {args.cases} ({what})")
    lines.append(f"each tree: an incremental build of ttt in {os.path.join(args.work, 'build')} "
                 f"and one `ttt suite run` per suite file; then HEAD's ttt select per commit")
    return "\n".join(lines) + "\n"


# ---- command line -------------------------------------------------------------------------------


def parse_args(argv):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(
        prog="select_proof.py",
        description="Checks on the repository's history that `ttt select` misses no case whose "
                    "results changed (docs/suites.md \"Selection on this repository's history\").",
        epilog="Examples:\n  /usr/bin/python3 tools/select_proof/select_proof.py --dry-run\n"
               "  /usr/bin/python3 tools/select_proof/select_proof.py --report /tmp/proof.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--commits", type=int, default=20, metavar="N",
                        help="the last N commits that touched blocks/, patterns/ or validation/ "
                             "(default %(default)s)")
    parser.add_argument("--rev", default="HEAD", help="the revision (default %(default)s)")
    parser.add_argument("--repo", default=repo,
                        help="the git repository (default: this script's, %(default)s)")
    parser.add_argument("--ttt", help="the ttt whose `ttt select` is proved "
                                      "(default: <repo>/build/ci/tools/ttt/ttt)")
    parser.add_argument("--cases", choices=CASES_MODES, default="registry",
                        help="registry: the cases the shipped registry's evidence ran (default); "
                             "quick: the cases tagged quick")
    parser.add_argument("--work", default="/tmp/ttt-select-proof", metavar="DIR",
                        help="worktree, build and results cache (default %(default)s)")
    parser.add_argument("--report", metavar="FILE", help="write the JSON report to FILE")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the commits and trees (and which are cached); build nothing")
    add_run_options(parser, "build jobs (default 2)")
    return parser.parse_args(argv)


def main(argv=None, out=sys.stdout, err=sys.stderr):
    return run_main("select_proof.py", parse_args, lambda args, log: run(args, log, out), argv,
                    err)


def run(args, log, out):
    """main's work once the arguments parsed."""
    if args.commits < 1:
        raise BadInput(f"--commits (-n) must be >= 1, got {args.commits}")
    if shutil.which("git") is None:
        raise BadInput("git is not on PATH")
    repo = repository_root(os.path.abspath(args.repo))
    args.work = os.path.abspath(args.work)
    if args.work == repo or args.work.startswith(repo + os.sep):
        raise BadInput(f"--work {args.work} must lie outside the repository {repo}")
    args.ttt = os.path.abspath(args.ttt or os.path.join(repo, "build", "ci", "tools", "ttt",
                                                        "ttt"))
    rev_sha = resolve_commit(repo, args.rev)
    commits = touching_commits(repo, rev_sha, args.commits)
    parents = {c: parent_of(repo, c) for c in commits}
    needed = set(commits) | {p for p in parents.values() if p}
    order = build_order(needed, git(repo, "rev-list", "--topo-order", "--reverse", rev_sha))
    if args.dry_run:
        subjects = {c: git(repo, "log", "-1", "--format=%s", c).strip() for c in commits}
        out.write(render_dry_run(args, repo, rev_sha, commits, parents, order, subjects))
        return EXIT_OK
    if not (os.path.isfile(args.ttt) and os.access(args.ttt, os.X_OK)):
        raise BadInput(f"--ttt {args.ttt}: no executable (build the target ttt)")

    report = run_proof(args, repo, rev_sha, commits, parents, order, log)
    if args.report:
        directory = os.path.dirname(os.path.abspath(args.report))
        os.makedirs(directory, exist_ok=True)
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(json.dumps(report, indent=2) + "\n")
    out.write(render_markdown(report))
    return verdict(report)


if __name__ == "__main__":
    sys.exit(main())

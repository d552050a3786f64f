"""Unit tests of tools/select_proof/select_proof.py's logic: the commit list and tree order, which
suite files and cases run, the results diff (changed, new, timing ignored), the emulated evidence,
the missed computation from a plan and two results files, the report and the exit codes (bad
input; a whole proof over cached trees of a scratch repository, with a stand-in ttt select).
Nothing is built.

Run: /usr/bin/python3 tests/tools/select_proof_test.py (CTest: tools.select_proof_logic, label
unit).
"""

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "select_proof"))

import select_proof as proof  # noqa: E402

SHA_A = "a" * 40
SHA_B = "0123456789abcdef0123456789abcdef01234567"


def case(case_id, fp=None, status="pass", pcc=0.9999, seconds=1.5, wall=1000, verdicts=None):
    """A case of a results JSON, as `ttt suite run --json` writes it (the fields compared and
    the ones that are not)."""
    c = {"id": case_id, "kind": "rms_norm", "mode": "decode", "status": status, "error": "",
         "verdicts": verdicts if verdicts is not None else
         [{"expectation": "accuracy:out", "passed": status == "pass", "message": f"pcc {pcc}"}],
         "outputs": [{"name": "out", "reference_rms": 0.5,
                      "metrics": {"pcc": pcc, "nmse": 1e-6, "max_abs_error": 0.01}}],
         "timing": {"repetitions": 9, "wall_ns": [wall] * 9}, "seconds": seconds}
    if fp:
        c["fingerprint"] = {"id": fp, "summary": "rms_norm decode | RMS_NORM(dim=64)"}
    return c


def results(cases, suite="s", file="suites/s.json", created="2026-12-08T10:00:00Z",
            commit=SHA_A):
    return {"format": "ttt-suite-results", "format_version": 1, "created_utc": created,
            "machine": {"cpu_model": "AMD EPYC", "cores": 2, "hostname": "vm", "commit": commit},
            "suites": [{"name": suite, "file": file, "fingerprint": "f", "cases": cases}]}


def plan(reasons):
    """A selection plan of `ttt select --json`: {"suite/id": [reason, ...]}."""
    cases = []
    for key, names in reasons.items():
        suite, case_id = key.split("/", 1)
        cases.append({"suite": suite, "file": f"suites/{suite}.json", "id": case_id,
                      "kind": "rms_norm", "mode": "decode", "fingerprint": None,
                      "evidence": False, "selected": bool(names),
                      "reasons": [{"reason": n, "detail": ""} for n in names]})
    return {"format": "ttt-selection-plan", "version": 1, "base": SHA_A, "head": SHA_B,
            "summary": "test plan", "cases": cases}


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)


class CommitsAndTrees(unittest.TestCase):
    def test_commit_list_parsing(self):
        self.assertEqual(proof.parse_commit_list(f"{SHA_B}\n\n{SHA_A}\n"), [SHA_B, SHA_A])
        self.assertEqual(proof.parse_commit_list(""), [])
        with self.assertRaises(proof.BadInput) as caught:
            proof.parse_commit_list(f"{SHA_A}\nfatal: bad revision\n")
        self.assertIn("line 2", str(caught.exception))
        self.assertIn("fatal: bad revision", str(caught.exception))
        with self.assertRaises(proof.BadInput):
            proof.parse_commit_list(SHA_A[:39])  # An abbreviated hash is not what git printed.

    def test_build_order_follows_the_topological_list(self):
        c = [f"{i:040x}" for i in range(1, 6)]  # Oldest first, as rev-list --reverse prints.
        topo = "\n".join(c) + "\n"
        self.assertEqual(proof.build_order({c[4], c[1], c[2]}, topo), [c[1], c[2], c[4]])
        with self.assertRaises(proof.BadInput) as caught:
            proof.build_order({c[0], "f" * 40}, topo)
        self.assertIn("f" * 40, str(caught.exception))

    def test_suite_files_leave_out_the_registry_and_subfolders(self):
        with tempfile.TemporaryDirectory() as tree:
            write_json(os.path.join(tree, "suites", "gpt2.json"), {"suite": "gpt2", "cases": []})
            write_json(os.path.join(tree, "suites", "mistral-7b.json"), {"suite": "m"})
            # The registry's place from 667a782 until e0aebc9, and its place since.
            write_json(os.path.join(tree, "suites", "registry.json"),
                       {"format": "ttt-fingerprint-registry", "entries": []})
            write_json(os.path.join(tree, "suites", "registry", "registry.json"),
                       {"format": "ttt-fingerprint-registry", "entries": []})
            with open(os.path.join(tree, "suites", "broken.json"), "w") as f:
                f.write("{not json")  # Kept: ttt suite run names the error.
            with open(os.path.join(tree, "suites", "CMakeLists.txt"), "w") as f:
                f.write("")
            self.assertEqual(proof.suite_files_in(tree), ["suites/broken.json", "suites/gpt2.json",
                                                          "suites/mistral-7b.json"])
            self.assertEqual(proof.suite_files_in(os.path.join(tree, "nowhere")), [])

    def test_which_cases_run(self):
        files = ["suites/gpt2.json", "suites/llama-3.1-8b.json", "suites/qwen3-8b.json"]
        self.assertEqual(proof.suite_runs(files, "registry"),
                         [("suites/gpt2.json", ()), ("suites/llama-3.1-8b.json", ("quick",)),
                          ("suites/qwen3-8b.json", ())])
        self.assertEqual(proof.suite_runs(files, "quick"),
                         [(f, ("quick",)) for f in files])
        self.assertEqual(proof.missing_full_suites(files, "registry"),
                         ["suites/phi-3-mini-4k.json", "suites/stablelm-2-1.6b.json",
                          "suites/bloom-560m.json"])
        self.assertEqual(proof.missing_full_suites(files, "quick"), [])


class ResultsDiff(unittest.TestCase):
    def test_timing_seconds_machine_and_latency_verdicts_are_not_compared(self):
        before = proof.case_map([results([case("a", fp="1" * 16)])])
        latency = {"expectation": "latency", "passed": True, "message": "p90 1.2 ms"}
        moved = case("a", fp="1" * 16, seconds=9.0, wall=5555)
        moved["verdicts"].append(dict(latency, message="p90 9.9 ms"))
        before["s/a"]["verdicts"].append(latency)
        after = proof.case_map([results([moved], created="2027-01-01T00:00:00Z", commit=SHA_B)])
        self.assertEqual(proof.diff_results(before, after), ([], []))

    def test_a_metric_a_status_a_verdict_or_an_error_changes_a_case(self):
        base = case("a", fp="1" * 16, pcc=0.999912)
        before = proof.case_map([results([base])])
        last_digit = case("a", fp="1" * 16, pcc=0.999913)
        self.assertEqual(proof.diff_results(before, proof.case_map([results([last_digit])])),
                         (["s/a"], []))
        failed = copy.deepcopy(base)
        failed["status"] = "fail"
        self.assertEqual(proof.diff_results(before, proof.case_map([results([failed])]))[0],
                         ["s/a"])
        verdict = copy.deepcopy(base)
        verdict["verdicts"][0]["passed"] = False
        self.assertEqual(proof.diff_results(before, proof.case_map([results([verdict])]))[0],
                         ["s/a"])
        rms = copy.deepcopy(base)
        rms["outputs"][0]["reference_rms"] = 0.25
        self.assertEqual(proof.diff_results(before, proof.case_map([results([rms])]))[0],
                         ["s/a"])
        erred = copy.deepcopy(base)
        erred.update(status="error", error="cannot seed x")
        self.assertEqual(proof.diff_results(before, proof.case_map([results([erred])]))[0],
                         ["s/a"])
        nonfinite = copy.deepcopy(base)
        nonfinite["outputs"][0]["metrics"]["pcc"] = None  # A NaN PCC is written as null.
        self.assertEqual(proof.diff_results(before, proof.case_map([results([nonfinite])]))[0],
                         ["s/a"])

    def test_new_cases_are_changed_removed_ones_are_not_listed(self):
        before = proof.case_map([results([case("a"), case("gone")])])
        after = proof.case_map([results([case("a"), case("b")]),
                                results([case("a")], suite="t", file="suites/t.json")])
        self.assertEqual(proof.diff_results(before, after), (["s/b", "t/a"], ["s/b", "t/a"]))
        self.assertEqual(after["t/a"]["_file"], "suites/t.json")

    def test_evidence_is_what_registry_update_accepts(self):
        nan = case("nan", fp="4" * 16)
        nan["outputs"][0]["metrics"]["nmse"] = None
        no_outputs = case("none", fp="5" * 16)
        no_outputs["outputs"] = []
        before = proof.case_map([results([case("ok", fp="1" * 16),
                                          case("failed", fp="2" * 16, status="fail"),
                                          case("wrapped"), nan, no_outputs])])
        self.assertEqual(proof.evidence_of(before), {"1" * 16})


class Missed(unittest.TestCase):
    """One commit: the plan and the parent's and the commit's results as files on disk."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        fp = {k: str(i) * 16 for i, k in enumerate("abcdf", start=1)}
        write_json(os.path.join(d, "before.json"), results([
            case("a", fp=fp["a"], pcc=0.99),
            case("b", fp=fp["b"]),
            case("c", fp=fp["c"], pcc=0.98),
            case("d", fp=fp["d"], status="fail"),  # No evidence: a failed case is not accepted.
        ]))
        write_json(os.path.join(d, "after.json"), results([
            case("a", fp=fp["a"], pcc=0.991),  # Changed, its kind's folder touched: selected.
            case("b", fp=fp["b"]),  # Unchanged, not selected.
            case("c", fp=fp["c"], pcc=0.981),  # Changed; the plan's no_evidence is not used.
            case("d", fp=fp["d"], status="fail"),  # Unchanged, selected: no evidence.
            case("e", fp=fp["b"]),  # New, passes, on b's evidence: covered.
            case("f", fp=fp["f"]),  # New, a new fingerprint: selected.
            case("g"),  # New, no fingerprint, not in the plan: missed.
        ]))
        write_json(os.path.join(d, "plan.json"), plan({
            "s/a": ["block_folder"], "s/b": [], "s/c": ["no_evidence"], "s/d": []}))

    def tearDown(self):
        self.dir.cleanup()

    def load(self, name, what):
        return proof.load_json(os.path.join(self.dir.name, name), what)

    def test_missed_selected_and_counts(self):
        before = proof.case_map([self.load("before.json", "results")])
        after = proof.case_map([self.load("after.json", "results")])
        got = proof.check_commit(self.load("plan.json", "plan"), before, after)
        self.assertEqual(got, {
            "cases_run": 7,
            "changed": ["s/a", "s/c", "s/e", "s/f", "s/g"],
            "new": ["s/e", "s/f", "s/g"],
            "selected": 3,
            "selected_by_plan": 1,
            "selected_by_evidence": 2,
            "selected_by_evidence_only": ["s/d", "s/f"],
            "new_covered_by_evidence": ["s/e"],
            "missed": ["s/c", "s/g"],
            "selected_unchanged": 1,
            "not_in_plan": ["s/e", "s/f", "s/g"],
            "without_fingerprint": 1,
        })

    def test_a_new_case_that_fails_on_passing_evidence_is_missed(self):
        before = proof.case_map([self.load("before.json", "results")])
        after = proof.case_map([results([case("e", fp="2" * 16, status="fail")])])
        got = proof.check_commit(plan({}), before, after)
        self.assertEqual((got["missed"], got["new_covered_by_evidence"]), (["s/e"], []))

    def test_cases_of_a_suite_that_erred_are_left_out(self):
        before = proof.case_map([self.load("before.json", "results")])
        after = proof.case_map([self.load("after.json", "results"),
                                results([case("x")], suite="t", file="suites/t.json")])
        got = proof.check_commit(self.load("plan.json", "plan"), before, after,
                                 ["suites/t.json"])
        self.assertEqual((got["cases_run"], got["missed"]), (7, ["s/c", "s/g"]))
        self.assertEqual(proof.unchecked_reasons(["suites/t.json", "suites/u.json"],
                                                 ["suites/t.json", "suites/v.json"]),
                         ["suites/t.json erred at both", "suites/u.json erred at the parent",
                          "suites/v.json erred at the commit"])

    def test_a_file_that_is_not_a_plan_is_refused(self):
        with self.assertRaises(proof.BadInput) as caught:
            proof.check_commit({"format": "ttt-suite-results"}, {}, {})
        self.assertIn("ttt-selection-plan", str(caught.exception))
        with self.assertRaises(proof.BadInput) as caught:
            proof.load_json(os.path.join(self.dir.name, "absent.json"), "the selection plan")
        self.assertIn("absent.json", str(caught.exception))

    def test_totals_verdict_and_table(self):
        entries = [
            {"commit": SHA_B, "subject": "blocks: a | b", "cases_run": 8, "changed": ["s/a"],
             "selected": 2, "selected_unchanged": 1, "missed": [], "unchecked": []},
            {"commit": SHA_A, "subject": "patterns", "cases_run": 4, "changed": [],
             "selected": 0, "selected_unchanged": 0, "missed": [], "unchecked": []},
            {"commit": "c" * 40, "subject": "x" * 80, "error": "ttt select exited 2: bad"},
        ]
        totals = proof.totals_of(entries)
        self.assertEqual(totals, {"commits": 3, "commits_checked": 2, "cases_run": 12,
                                  "changed": 1, "selected": 2, "missed": 0,
                                  "selected_unchanged": 1, "fraction_selected": 0.1667})
        report = {"rev": SHA_B, "cases": "registry", "commits": entries, "totals": totals,
                  "trees": [{"commit": SHA_A, "missing": ["suites/gpt2.json"]}], "notes": []}
        text = proof.render_markdown(report)
        self.assertIn("| 0123456 | blocks: a \\| b | 8 | 1 | 2 (25%) | 0 | 1 |", text)
        self.assertIn("| aaaaaaa | patterns | 4 | 0 | 0 (0%) | 0 | 0 |", text)
        self.assertIn("| ccccccc | " + "x" * 57 + "... | not checked: ttt select exited 2: bad",
                      text)
        self.assertIn("In all, 2 of 12 case runs selected (17%) over 2 of 3 commits checked; "
                      "1 changed, 0 missed, 1 selected but unchanged.", text)
        self.assertIn("- tree aaaaaaa has no suites/gpt2.json", text)
        self.assertEqual(proof.verdict(report), proof.EXIT_MISSED)  # Incomplete.
        report["commits"] = entries[:2]
        self.assertEqual(proof.verdict(report), proof.EXIT_OK)
        report["commits"] = [dict(entries[0], missed=["s/a"])]
        self.assertEqual(proof.verdict(report), proof.EXIT_MISSED)
        report["commits"] = [dict(entries[0], unchecked=["suites/t.json erred at both"])]
        self.assertEqual(proof.verdict(report), proof.EXIT_MISSED)


FAKE_SUITE_RUN = """#!/usr/bin/python3
import json, os, signal, sys
a = sys.argv
suite, out = a[3], a[a.index("--json") + 1]
if "crash" in suite:
    os.kill(os.getpid(), signal.SIGSEGV)
if "none" in suite:
    print("ttt: error: no case selected (--filter '*', tags and shard)")
    sys.exit(2)
if "bad" in suite:
    print("ttt: error: suites/bad.json: /cases/0/block: unknown kind 'nope'")
    sys.exit(2)
with open(out, "w") as f:
    json.dump({"argv": a[1:], "cwd": os.getcwd(), "ttt_vars": sorted(
        k for k in os.environ if k.startswith(("TTT_", "GTEST_"))),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}, f)
sys.exit(1 if "fail" in suite else 0)
"""


class SuiteRuns(unittest.TestCase):
    """Scratch.run_suite with a stand-in ttt: which exits are results, which are errors."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.ttt = os.path.join(self.dir.name, "ttt")
        with open(self.ttt, "w") as f:
            f.write(FAKE_SUITE_RUN)
        os.chmod(self.ttt, 0o755)
        self.results = os.path.join(self.dir.name, "results")
        os.makedirs(self.results)
        os.makedirs(os.path.join(self.dir.name, "src"))  # The worktree the suites run in.
        self.scratch = proof.Scratch("/nonexistent/repo", self.dir.name, "registry", 1,
                                     lock=False, log=lambda message: None)

    def tearDown(self):
        self.dir.cleanup()

    def run_suite(self, path, tags=()):
        os.environ["TTT_VALIDATE"] = "1"
        try:
            return self.scratch.run_suite(self.ttt, path, tags, self.results)
        finally:
            del os.environ["TTT_VALIDATE"]

    def test_exit_0_and_1_are_results(self):
        entry = self.run_suite("suites/ok.json", ("quick",))
        self.assertEqual((entry["status"], entry["exit"], entry["results"]),
                         ("ran", 0, "ok.json"))
        ran = proof.load_json(os.path.join(self.results, "ok.json"), "results")
        self.assertEqual(ran["argv"], ["suite", "run", "suites/ok.json", "--json",
                                       os.path.join(self.results, "ok.json.partial"),
                                       "--warmup", "0", "--warm-caches", "--quiet",
                                       "--tag", "quick"])
        self.assertEqual(ran["cwd"], os.path.join(self.dir.name, "src"))  # The worktree.
        self.assertEqual((ran["ttt_vars"], ran["blas_threads"]), ([], "1"))
        self.assertFalse(os.path.exists(os.path.join(self.results, "ok.json.partial")))
        entry = self.run_suite("suites/fail.json")
        self.assertEqual((entry["status"], entry["exit"]), ("ran", 1))
        self.assertNotIn("--tag", proof.load_json(os.path.join(self.results, "fail.json"),
                                                  "results")["argv"])
        self.assertTrue(os.path.exists(os.path.join(self.results, "fail.log")))

    def test_no_quick_case_is_not_an_error_other_exits_are(self):
        entry = self.run_suite("suites/none.json", ("quick",))
        self.assertEqual((entry["status"], entry["results"]), ("no_case", None))
        entry = self.run_suite("suites/bad.json")
        self.assertEqual((entry["status"], entry["exit"]), ("error", 2))
        self.assertIn("unknown kind 'nope'", entry["message"])
        entry = self.run_suite("suites/crash.json")
        self.assertEqual((entry["status"], entry["exit"]), ("error", -11))

    def test_a_suite_finished_before_an_interruption_is_not_run_again(self):
        write_json(os.path.join(self.results, "bad.json"), results([case("a")]))
        entry = self.run_suite("suites/bad.json")  # Would err if it ran.
        self.assertEqual((entry["status"], entry["results"]), ("ran", "bad.json"))


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


class CommandLine(unittest.TestCase):
    """main() on a scratch repository: c0 (README), c1 (blocks/), c2 (docs/), c3 (patterns/)."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.repo = os.path.join(self.dir.name, "repo")
        os.makedirs(self.repo)
        git(self.repo, "init", "-q", "-b", "main")
        self.shas = []
        for path, subject in [("README.md", "c0 readme"), ("blocks/ffn/a.cc", "c1 blocks"),
                              ("docs/x.md", "c2 docs"), ("patterns/p.cc", "c3 patterns")]:
            os.makedirs(os.path.dirname(os.path.join(self.repo, path)), exist_ok=True)
            with open(os.path.join(self.repo, path), "w") as f:
                f.write(subject + "\n")
            git(self.repo, "add", path)
            git(self.repo, "commit", "-q", "-m", subject)
            self.shas.append(git(self.repo, "rev-parse", "HEAD"))
        self.work = os.path.join(self.dir.name, "work")

    def tearDown(self):
        self.dir.cleanup()

    def run_main(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err):  # argparse's own messages.
            code = proof.main(list(argv), out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    def test_bad_input_exits_2_naming_the_argument(self):
        code, _, err = self.run_main("--repo", self.repo, "-n", "0", "--dry-run")
        self.assertEqual(code, 2)
        self.assertIn("--commits (-n) must be >= 1, got 0", err)
        code, _, err = self.run_main("--repo", self.dir.name, "--dry-run")
        self.assertEqual(code, 2)
        self.assertIn(f"--repo {self.dir.name} is not a git repository", err)
        code, _, err = self.run_main("--repo", self.repo, "--rev", "nope", "--dry-run")
        self.assertEqual(code, 2)
        self.assertIn(f"--rev 'nope' is not a commit of {self.repo}", err)
        code, _, err = self.run_main("--repo", self.repo, "--rev", self.shas[0], "--dry-run")
        self.assertEqual(code, 2)
        self.assertIn("no commit touched blocks/, patterns/, validation/", err)
        code, _, err = self.run_main("--repo", self.repo, "--ttt", "/nonexistent/ttt",
                                     "--work", self.work)
        self.assertEqual(code, 2)
        self.assertIn("--ttt /nonexistent/ttt: no executable", err)
        code, _, err = self.run_main("--repo", self.repo, "--work",
                                     os.path.join(self.repo, "scratch"), "--dry-run")
        self.assertEqual(code, 2)
        self.assertIn("must lie outside the repository", err)
        code, _, err = self.run_main("--cases", "all")
        self.assertEqual(code, 2)
        self.assertIn("argument --cases: invalid choice: 'all'", err)
        self.assertEqual(self.run_main("--bogus")[0], 2)
        self.assertFalse(os.path.exists(self.work))

    def test_dry_run_lists_commits_and_trees_and_creates_nothing(self):
        c0, c1, c2, c3 = self.shas
        write_json(os.path.join(self.work, "results", c2, "registry", "tree.json"), {})
        code, out, err = self.run_main("--repo", self.repo, "--work", self.work, "--dry-run")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("2 commits of HEAD", out)
        self.assertIn(f"  {c3[:7]}  parent {c2[:7]}  c3 patterns\n  {c1[:7]}  parent {c0[:7]}  "
                      "c1 blocks\n", out)
        self.assertIn(f"(4: 3 to build and run, 1 cached under {self.work}/results):\n"
                      f"  {c0[:7]}  to build\n  {c1[:7]}  to build\n  {c2[:7]}  cached\n"
                      f"  {c3[:7]}  to build\n", out)
        self.assertIn("absent (`git worktree add --detach` would create it)", out)
        self.assertFalse(os.path.exists(os.path.join(self.work, "src")))
        self.assertEqual(git(self.repo, "worktree", "list").count("\n"), 0)  # One: the repo.
        code, out, _ = self.run_main("--repo", self.repo, "--work", self.work, "--dry-run",
                                     "-n", "1", "--cases", "quick")
        self.assertIn("(2: 2 to build and run, 0 cached", out)  # Quick runs cache apart.
        self.assertIn("cases: quick", out)

    def test_the_scratch_worktree_is_created_once_and_checked(self):
        c0 = self.shas[0]
        write_json(os.path.join(self.work, "build", "CMakeCache.txt"), {})  # No configure here.
        scratch = proof.Scratch(self.repo, self.work, "registry", 1, lock=False,
                                log=lambda message: None)
        scratch.prepare(c0)
        src = os.path.join(self.work, "src")
        self.assertEqual(git(src, "rev-parse", "HEAD"), c0)
        self.assertIn(src, git(self.repo, "worktree", "list"))
        scratch.prepare(self.shas[1])  # Already there: kept as it is.
        self.assertEqual(git(src, "rev-parse", "HEAD"), c0)
        other = proof.Scratch(self.repo, os.path.join(self.dir.name, "other"), "registry", 1,
                              lock=False, log=lambda message: None)
        os.makedirs(other.src)  # A plain directory where the worktree should be.
        with self.assertRaises(proof.BadInput) as caught:
            other.prepare(c0)
        self.assertIn(f"{other.src} exists and is not a worktree of {self.repo}",
                      str(caught.exception))

    def cache_tree(self, sha, cases):
        directory = os.path.join(self.work, "results", sha, "registry")
        write_json(os.path.join(directory, "s.json"), results(cases))
        write_json(os.path.join(directory, "tree.json"), {
            "commit": sha, "cases": "registry", "build": True, "seconds": 1.0, "missing": [],
            "suites": [{"file": "suites/s.json", "tags": [], "status": "ran", "exit": 0,
                        "results": "s.json", "message": ""},
                       {"file": "suites/t.json", "tags": ["quick"], "status": "no_case",
                        "exit": 2, "results": None, "message": ""}]})

    def fake_ttt(self, plans):
        """A stand-in for `ttt select`: writes plans[head] to --json."""
        directory = os.path.join(self.dir.name, "plans")
        for head, value in plans.items():
            write_json(os.path.join(directory, head + ".json"), value)
        path = os.path.join(self.dir.name, "ttt")
        with open(path, "w") as f:
            f.write("#!/usr/bin/python3\nimport shutil, sys\na = sys.argv\n"
                    f"shutil.copy({directory!r} + '/' + a[a.index('--head') + 1] + '.json', "
                    "a[a.index('--json') + 1])\n")
        os.chmod(path, 0o755)
        return path

    def test_a_whole_proof_over_cached_trees(self):
        c0, c1, c2, c3 = self.shas
        for sha in (c0, c2):
            self.cache_tree(sha, [case("a", fp="1" * 16, pcc=0.9), case("b", fp="2" * 16)])
        self.cache_tree(c1, [case("a", fp="1" * 16, pcc=0.8), case("b", fp="2" * 16)])
        self.cache_tree(c3, [case("a", fp="1" * 16, pcc=0.9), case("b", fp="2" * 16, pcc=0.7)])
        ttt = self.fake_ttt({c1: plan({"s/a": ["block_folder"], "s/b": []}),
                             c3: plan({"s/a": [], "s/b": []})})  # c3 misses s/b.
        report_path = os.path.join(self.dir.name, "out", "report.json")
        code, out, err = self.run_main("--repo", self.repo, "--work", self.work, "--ttt", ttt,
                                       "--report", report_path)
        self.assertEqual(code, proof.EXIT_MISSED, err)
        self.assertIn(f"| {c3[:7]} | c3 patterns | 2 | 1 | 0 (0%) | 1 | 0 |", out)
        self.assertIn(f"| {c1[:7]} | c1 blocks | 2 | 1 | 1 (50%) | 0 | 0 |", out)
        self.assertIn(f"- {c3[:7]} missed: `s/b`", out)
        report = proof.load_json(report_path, "the report")
        self.assertEqual(report["totals"]["fraction_selected"], 0.25)
        self.assertEqual(report["commits"][0]["missed"], ["s/b"])
        self.assertEqual(report["trees"][0]["suites"],
                         {"ran": ["suites/s.json"], "no_case": ["suites/t.json"]})
        self.assertFalse(os.path.exists(os.path.join(self.work, "src")))  # Nothing was built.
        # The same trees with a plan that selects s/b: nothing missed.
        ttt = self.fake_ttt({c1: plan({"s/a": ["block_folder"], "s/b": []}),
                             c3: plan({"s/a": [], "s/b": ["suite_case"]})})
        code, out, err = self.run_main("--repo", self.repo, "--work", self.work, "--ttt", ttt)
        self.assertEqual(code, proof.EXIT_OK, err)
        self.assertIn("In all, 2 of 4 case runs selected (50%) over 2 of 2 commits checked; "
                      "2 changed, 0 missed, 0 selected but unchanged.", out)


# Stand-ins for a tree's build: `cmake` configures by writing CMakeCache.txt and "builds" ttt by
# installing TREE_TTT, failing when the checked-out tree holds a file BROKEN; the tree's ttt
# answers `ttt suite run` with the cases the tree's fake_results.json gives its suite file.
FAKE_CMAKE = """#!/usr/bin/python3
import os, shutil, sys
a = sys.argv
if "-S" in a:
    open(os.path.join(a[a.index("-B") + 1], "CMakeCache.txt"), "w").close()
    sys.exit(0)
build = a[a.index("--build") + 1]
if os.path.exists(os.path.join(os.path.dirname(build), "src", "BROKEN")):
    print("FAILED: blocks/ffn/x.cc.o")
    sys.exit(1)
os.makedirs(os.path.join(build, "tools", "ttt"), exist_ok=True)
shutil.copy(os.environ["TREE_TTT"], os.path.join(build, "tools", "ttt", "ttt"))
"""
TREE_TTT = """#!/usr/bin/python3
import json, os, sys
a = sys.argv
suite = os.path.splitext(os.path.basename(a[3]))[0]
cases = json.load(open("fake_results.json")).get(suite)
if cases is None:
    print("ttt: error: no case selected (--filter '*', tags and shard)")
    sys.exit(2)
with open(a[a.index("--json") + 1], "w") as f:
    json.dump({"format": "ttt-suite-results", "suites": [
        {"name": suite, "file": a[3], "cases": cases}]}, f)
"""


class EndToEnd(unittest.TestCase):
    """main() building trees with stand-in cmake and ttt: the worktree walks the history, a
    broken tree is reported and the proof is incomplete, finished trees are cached."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        self.bin = os.path.join(d, "bin")
        os.makedirs(self.bin)
        for name, text in (("cmake", FAKE_CMAKE), ("tree_ttt", TREE_TTT)):
            with open(os.path.join(self.bin, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(self.bin, name), 0o755)
        self.repo = os.path.join(d, "repo")
        os.makedirs(self.repo)
        git(self.repo, "init", "-q", "-b", "main")
        unchanged = [case("a", fp="1" * 16, pcc=0.9), case("b", fp="2" * 16)]
        changed = [case("a", fp="1" * 16, pcc=0.8), case("b", fp="2" * 16)]
        self.shas = []
        for files, subject in [
                ({"suites/s.json": {}, "suites/t.json": {}, "README.md": "r",
                  "fake_results.json": {"s": unchanged}}, "c0"),
                ({"blocks/ffn/x.cc": "x", "fake_results.json": {"s": changed}}, "c1 blocks"),
                ({"docs/x.md": "d"}, "c2 docs"),
                ({"patterns/p.cc": "p", "BROKEN": ""}, "c3 patterns, broken")]:
            for path, content in files.items():
                full = os.path.join(self.repo, path)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "w") as f:
                    f.write(content if isinstance(content, str) else json.dumps(content))
                git(self.repo, "add", path)
            git(self.repo, "commit", "-q", "-m", subject)
            self.shas.append(git(self.repo, "rev-parse", "HEAD"))
        self.work = os.path.join(d, "work")
        # HEAD's ttt select: c1's plan selects a, c3's nothing.
        plans = os.path.join(d, "plans")
        write_json(os.path.join(plans, self.shas[1] + ".json"),
                   plan({"s/a": ["block_folder"], "s/b": []}))
        write_json(os.path.join(plans, self.shas[3] + ".json"), plan({"s/a": [], "s/b": []}))
        self.ttt = os.path.join(self.bin, "ttt")
        with open(self.ttt, "w") as f:
            f.write("#!/usr/bin/python3\nimport shutil, sys\na = sys.argv\n"
                    f"shutil.copy({plans!r} + '/' + a[a.index('--head') + 1] + '.json', "
                    "a[a.index('--json') + 1])\n")
        os.chmod(self.ttt, 0o755)
        self.saved = {k: os.environ.get(k) for k in ("PATH", "TREE_TTT")}
        os.environ["PATH"] = self.bin + os.pathsep + os.environ["PATH"]
        os.environ["TREE_TTT"] = os.path.join(self.bin, "tree_ttt")

    def tearDown(self):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self.dir.cleanup()

    def run_main(self):
        out, err = io.StringIO(), io.StringIO()
        code = proof.main(["--repo", self.repo, "--work", self.work, "--ttt", self.ttt,
                           "--no-lock", "--report", os.path.join(self.work, "r.json")],
                          out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    def test_trees_are_built_run_compared_and_cached(self):
        c0, c1, c2, c3 = self.shas
        code, out, err = self.run_main()
        self.assertEqual(code, proof.EXIT_MISSED, err)  # c3's tree does not build.
        self.assertIn(f"| {c1[:7]} | c1 blocks | 2 | 1 | 1 (50%) | 0 | 0 |", out)
        self.assertIn(f"| {c3[:7]} | c3 patterns, broken | not checked: tree {c3[:7]}: the "
                      "build of ttt failed (exit 1): |", out)
        report = proof.load_json(os.path.join(self.work, "r.json"), "the report")
        self.assertEqual([t["commit"] for t in report["trees"]], [c0, c1, c2, c3])
        self.assertEqual(report["trees"][0]["suites"],
                         {"ran": ["suites/s.json"], "no_case": ["suites/t.json"]})
        self.assertIn("FAILED: blocks/ffn/x.cc.o", report["trees"][3]["error"])
        self.assertEqual(report["totals"]["commits_checked"], 1)
        self.assertEqual(git(os.path.join(self.work, "src"), "rev-parse", "HEAD"), c3)
        for sha in (c0, c1, c2):
            self.assertTrue(proof.is_cached(self.work, sha, "registry"))
        self.assertFalse(proof.is_cached(self.work, c3, "registry"))
        # A rerun builds only the tree that failed.
        code, _, err = self.run_main()
        self.assertEqual(code, proof.EXIT_MISSED)
        self.assertIn("[1/1] tree " + c3[:7], err)


if __name__ == "__main__":
    unittest.main()

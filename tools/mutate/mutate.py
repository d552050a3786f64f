#!/usr/bin/python3
"""Mutation runs: inject each realistic fault of tools/mutate/mutants.py and see which tests fail.

    /usr/bin/python3 tools/mutate/mutate.py [--only ID[,ID]] [--report FILE] [--jobs N]
    /usr/bin/python3 tools/mutate/mutate.py --list      # the mutants
    /usr/bin/python3 tools/mutate/mutate.py --check     # each applies exactly once; no build

A full run
  1. copies the working tree's tracked and untracked-not-ignored files into a scratch directory
     (default /tmp/ttt-mutate/src; only files whose content changed are copied, and files gone
     from the tree are removed, so rebuilds stay incremental), configures it once with
     `cmake --preset ci` and builds everything;
  2. runs the tests the selected mutants name on the clean tree: every one must pass (no false
     alarm), else it stops with exit 1;
  3. for each mutant: replaces its original text (which must occur exactly once) in the scratch
     copy, rebuilds the test programs it selects (a mutant that does not compile is reported as
     defective, never as caught), runs its tests with `ctest --output-junit`, collects the failing
     tests and restores the file;
  4. reports, per mutant, the tests that caught it and whether at least two INDEPENDENT tests did.

Two failing tests are independent when they belong to different test programs: different
GoogleTest executables (which, in this tree, are built from different source files), or, for a
test CTest runs through a driver (cmake -P, bash, python), different CTest tests. Two cases of one
program count once, because one edit of one file could weaken both.

Builds and test runs take /tmp/ttt-build.lock (flock) when that file exists, unless a parent
process already holds it (a `flock /tmp/ttt-build.lock ctest ...` running this as a test).

Exit status: 0 every mutant caught by at least two independent tests; 1 a mutant caught fewer
than twice, a defective mutant, or a false alarm on the clean tree; 2 bad input (an unknown
mutant id, a mutant whose original text is not found exactly once, a missing tool).
Standard library only. docs/testing.md, "Mutation runs", describes the list and how to add to it.
"""

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "common"))
import mutants as mutant_list  # noqa: E402  (the list lives next to this script)
from build_lock import BuildLock  # noqa: E402  (tools/common)
from tool_cli import EXIT_BAD_INPUT, EXIT_OK, BadInput, add_run_options, run_main  # noqa: E402

EXIT_NOT_CAUGHT = 1

BUILD_DIR = os.path.join("build", "ci")
MANIFEST = ".ttt-mutate-files"
# Labels whose tests a mutation run never starts: the slow tier, and this run itself.
EXCLUDED_LABELS = ("slow", "mutate")
# Commands that drive a test rather than being the program under test.
DRIVERS = ("cmake", "ctest", "bash", "sh", "python3", "python")
# Statuses of a mutant in the report.
CAUGHT = "caught"  # By at least two independent tests.
CAUGHT_ONCE = "caught_once"  # By tests of one program only.
NOT_CAUGHT = "not_caught"
DEFECTIVE = "defective"  # Does not build: the mutant, not the tests, is wrong.
# A test's result in a run.
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


# ---- the mutants ------------------------------------------------------------------------------


def validate_mutants(mutants):
    """Raises BadInput naming the mutant and field when the list is malformed."""
    seen = set()
    for m in mutants:
        for name in ("id", "area", "file", "original", "replacement", "description"):
            if not isinstance(getattr(m, name), str) or not getattr(m, name):
                raise BadInput(f"mutant {m.id!r}: field {name} must be a non-empty string")
        if m.id in seen:
            raise BadInput(f"mutant {m.id}: the id is used twice")
        seen.add(m.id)
        if m.area not in mutant_list.AREAS:
            raise BadInput(f"mutant {m.id}: area {m.area!r} is not one of "
                           f"{', '.join(mutant_list.AREAS)}")
        if m.original == m.replacement:
            raise BadInput(f"mutant {m.id}: the replacement equals the original text")
        if not m.tests and not m.programs:
            raise BadInput(f"mutant {m.id}: names no tests (tests regex or programs)")
        try:
            re.compile(m.tests)
        except re.error as error:
            raise BadInput(f"mutant {m.id}: tests regex {m.tests!r} is invalid: {error}")


def choose(mutants, only):
    """The mutants whose ids are listed in `only` ("A,B"), in list order; all when empty."""
    if not only:
        return list(mutants)
    wanted = [part.strip() for part in only.split(",") if part.strip()]
    known = {m.id for m in mutants}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise BadInput(f"--only: unknown mutant id {', '.join(unknown)} (see --list)")
    return [m for m in mutants if m.id in wanted]


def mutated_text(text, mutant):
    """`text` with the mutant's original replaced; BadInput unless it occurs exactly once."""
    count = text.count(mutant.original)
    if count != 1:
        raise BadInput(f"mutant {mutant.id}: its original text occurs {count} times in "
                       f"{mutant.file}, expected exactly once: {mutant.original!r}")
    return text.replace(mutant.original, mutant.replacement, 1)


class Applied:
    """Context manager: the mutant applied to `root`/file, the file restored on exit."""

    def __init__(self, root, mutant):
        self.path = os.path.join(root, mutant.file)
        self.mutant = mutant
        self.saved = None

    def __enter__(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                self.saved = f.read()
        except OSError as error:
            raise BadInput(f"mutant {self.mutant.id}: cannot read {self.mutant.file}: {error}")
        text = mutated_text(self.saved, self.mutant)
        write_text(self.path, text)
        return self

    def __exit__(self, *exc):
        # Written back (not renamed, not re-dated): the file is newer than anything built from the
        # mutant, so the next build recompiles it.
        write_text(self.path, self.saved)
        return False


def write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def check_mutants(root, mutants):
    """BadInput for the first mutant that does not apply exactly once to the tree at `root`."""
    for m in mutants:
        path = os.path.join(root, m.file)
        try:
            with open(path, encoding="utf-8") as f:
                mutated_text(f.read(), m)
        except OSError as error:
            raise BadInput(f"mutant {m.id}: cannot read {m.file}: {error}")


# ---- which tests, which programs ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TestInfo:
    number: int  # CTest's test number (1-based, the order of `ctest -N`).
    name: str
    program: str  # The independence key: the executable, or the test name for a driver.
    labels: tuple = ()
    executable: str = ""  # The program's path inside the build tree, else "".
    driven: bool = False  # Run through a driver (cmake -P, bash): what it runs is not named.


def program_of(name, command, build_dir):
    """(independence key, built executable or "", driven) of a test from its CTest command."""
    if not command:
        return name, "", True
    exe = command[0]
    base = os.path.basename(exe)
    if base in DRIVERS:
        return name, "", True
    inside = os.path.abspath(exe).startswith(os.path.abspath(build_dir) + os.sep)
    return base, exe if inside else "", False


def parse_ctest_json(text, build_dir):
    """The tests of `ctest --show-only=json-v1` output."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"ctest --show-only=json-v1 printed no JSON: {error}")
    tests = []
    for number, test in enumerate(data.get("tests", []), start=1):
        labels = ()
        for prop in test.get("properties", []):
            if prop.get("name") == "LABELS":
                value = prop.get("value", [])
                labels = tuple(value if isinstance(value, list) else [value])
        program, exe, driven = program_of(test["name"], test.get("command", []), build_dir)
        tests.append(TestInfo(number, test["name"], program, labels, exe, driven))
    return tests


def select_tests(tests, mutant):
    """The tests a mutant runs: its regex or programs, never a slow or mutate test."""
    pattern = re.compile(mutant.tests) if mutant.tests else None
    chosen = []
    for t in tests:
        if any(label in EXCLUDED_LABELS for label in t.labels):
            continue
        if (pattern is not None and pattern.search(t.name)) or t.program in mutant.programs:
            chosen.append(t)
    return chosen


def independent_programs(failed):
    """The distinct programs among failing TestInfos: the count the rule of two compares."""
    return sorted({t.program for t in failed})


def classify(built, failed):
    """A mutant's status from whether it built and the tests that failed."""
    if not built:
        return DEFECTIVE
    programs = independent_programs(failed)
    if len(programs) >= 2:
        return CAUGHT
    return CAUGHT_ONCE if programs else NOT_CAUGHT


def parse_junit(text):
    """{test name: PASSED, FAILED or SKIPPED} from CTest's --output-junit file."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise BadInput(f"ctest wrote an unreadable JUnit file: {error}")
    results = {}
    for case in root.iter("testcase"):
        status = case.get("status")
        if case.find("failure") is not None or case.find("error") is not None or status == "fail":
            results[case.get("name")] = FAILED
        elif status in ("notrun", "disabled") or case.find("skipped") is not None:
            results[case.get("name")] = SKIPPED
        else:
            results[case.get("name")] = PASSED
    return results


# --- test programs as the sources declare them (for --check, without a build) -------------------

TEST_MACRO = re.compile(r"^\s*(?:TEST|TEST_F|TEST_P|TYPED_TEST|TYPED_TEST_P)\(\s*(\w+)\s*,\s*(\w+)",
                        re.M)
INSTANTIATE = re.compile(r"INSTANTIATE_(?:TYPED_)?TEST_SUITE_P\(\s*(\w+)\s*,\s*(\w+)")
ADD_TEST_NAME = re.compile(r"add_test\(\s*NAME\s+([\w.${}-]+)")
FOREACH = re.compile(r"foreach\((\w+)\s+([^)]*)\)(.*?)endforeach\(\)", re.S)
ADD_ONE = re.compile(r"ttt_add_test\(\s*([\w${}]+)\s+SOURCES\s+([\w${}./]+)")
ADD_GLOB = re.compile(r"ttt_add_tests_glob\(\s*(\w+)")


def expand_foreach(text):
    """CMake text with `foreach(VAR a b c) body endforeach()` unrolled (literal item lists)."""
    def unroll(match):
        var, items, body = match.group(1), match.group(2).split(), match.group(3)
        if items and items[0] in ("IN", "RANGE"):
            return body
        return "\n".join(body.replace("${" + var + "}", item) for item in items)
    return FOREACH.sub(unroll, text)


def source_programs(cmake_dir, cmake_text, existing_files):
    """{source file path: [program names]} declared by one tests/ CMakeLists.txt."""
    programs = {}
    text = expand_foreach(cmake_text)
    for name, source in ADD_ONE.findall(text):
        if "$" in name or "$" in source:
            continue
        programs.setdefault(os.path.join(cmake_dir, source), []).append(name)
    for prefix in ADD_GLOB.findall(text):
        for file in existing_files:
            if file.endswith("_test.cc") and os.path.dirname(file) == cmake_dir:
                stem = os.path.basename(file)[:-3]
                programs.setdefault(file, []).append(f"{prefix}_{stem}")
    return programs


def declared_tests(root):
    """[(test name, program)] of the tests the sources under root/tests declare: GoogleTest cases
    (parameterised ones as Prefix/Suite.Case/0) and add_test names (their own program)."""
    tests_dir = os.path.join(root, "tests")
    files = []
    for directory, _, names in os.walk(tests_dir):
        files.extend(os.path.join(directory, n) for n in names)
    programs = {}
    declared = []
    for file in files:
        if os.path.basename(file) != "CMakeLists.txt":
            continue
        with open(file, encoding="utf-8") as f:
            text = f.read()
        programs.update(source_programs(os.path.dirname(file), text, files))
        declared.extend((name, name) for name in ADD_TEST_NAME.findall(text) if "$" not in name)
    for file in files:
        if not file.endswith(".cc") or file not in programs:
            continue
        with open(file, encoding="utf-8") as f:
            text = f.read()
        prefixes = {}
        for prefix, suite in INSTANTIATE.findall(text):
            prefixes.setdefault(suite, []).append(prefix)
        for suite, case in TEST_MACRO.findall(text):
            names = [f"{p}/{suite}.{case}/0" for p in prefixes.get(suite, [])] or [f"{suite}.{case}"]
            for program in programs[file]:
                declared.extend((name, program) for name in names)
    return declared


def check_selections(root, mutants):
    """Problems of each mutant's selection against the declared tests: a regex matching no test,
    an unknown program, a selection that spans fewer than two programs (the rule of two cannot
    hold). Returns [(mutant id, message)]; the programs spanned, per mutant, in `spans`."""
    declared = declared_tests(root)
    known_programs = {program for _, program in declared}
    with_cmake = set()
    for directory, _, names in os.walk(os.path.join(root, "tests")):
        if "CMakeLists.txt" in names:
            with open(os.path.join(directory, "CMakeLists.txt"), encoding="utf-8") as f:
                with_cmake.update(re.findall(r"\w+", f.read()))
    problems = []
    spans = {}
    for m in mutants:
        spanned = set()
        if m.tests:
            pattern = re.compile(m.tests)
            matched = {program for name, program in declared if pattern.search(name)}
            if not matched:
                problems.append((m.id, f"tests regex matches no declared test: {m.tests}"))
            spanned |= matched
        for program in m.programs:
            if program not in known_programs and program not in with_cmake:
                problems.append((m.id, f"program {program} is not declared under tests/"))
            spanned.add(program)
        spans[m.id] = sorted(spanned)
        if len(spanned) < 2:
            problems.append((m.id, f"selects tests of {len(spanned)} program(s); the rule of two "
                                   "needs at least two"))
    return problems, spans


# ---- the scratch tree ------------------------------------------------------------------------


def tree_files(source):
    """Relative paths of the tracked and untracked-not-ignored files of the git tree `source`
    that exist (a tracked file deleted in the working tree is left out)."""
    try:
        out = subprocess.run(
            ["git", "-C", source, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise BadInput(f"cannot list the files of {source} with git: {error}")
    files = []
    for rel in sorted(set(out.decode("utf-8", "surrogateescape").split("\0"))):
        path = os.path.join(source, rel)
        if rel and (os.path.islink(path) or os.path.isfile(path)):
            files.append(rel)
    return files


def same_content(a, b):
    if os.path.islink(a) or os.path.islink(b):
        return os.path.islink(a) and os.path.islink(b) and os.readlink(a) == os.readlink(b)
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            chunk_a, chunk_b = fa.read(1 << 20), fb.read(1 << 20)
            if chunk_a != chunk_b:
                return False
            if not chunk_a:
                return True


def sync_tree(source, scratch, files):
    """Makes `scratch` hold exactly `files` of `source`: copies a file only when its content
    differs (a copy is dated now, so the build sees it), removes the files an earlier sync copied
    that are no longer listed. Returns (copied, removed) counts."""
    os.makedirs(scratch, exist_ok=True)
    manifest = os.path.join(scratch, MANIFEST)
    previous = set()
    if os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as f:
            previous = {line.rstrip("\n") for line in f if line.strip()}
    copied = 0
    for rel in files:
        src, dst = os.path.join(source, rel), os.path.join(scratch, rel)
        if os.path.lexists(dst) and same_content(src, dst):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.lexists(dst):
            os.remove(dst)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copyfile(src, dst)
            shutil.copymode(src, dst)
        copied += 1
    removed = 0
    for rel in sorted(previous - set(files)):
        path = os.path.join(scratch, rel)
        if os.path.lexists(path):
            os.remove(path)
            removed += 1
    write_text(manifest, "".join(rel + "\n" for rel in files))
    return copied, removed


# ---- building and testing ----------------------------------------------------------------------


class Runner:
    """Configures, builds and tests the scratch tree."""

    def __init__(self, scratch, jobs, lock, log):
        self.scratch = scratch
        self.build_dir = os.path.join(scratch, BUILD_DIR)
        self.jobs = jobs
        self.lock = lock
        self.log = log

    def run(self, command, locked=True):
        """(exit code, combined output) of a command run in the scratch tree."""
        self.log("$ " + " ".join(command))
        with BuildLock(enabled=self.lock and locked):
            result = subprocess.run(command, cwd=self.scratch, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace")
        return result.returncode, result.stdout

    def configure(self):
        if os.path.exists(os.path.join(self.build_dir, "CMakeCache.txt")):
            return
        code, out = self.run(["cmake", "--preset", "ci"])
        if code != 0:
            raise BadInput("cmake --preset ci failed in the scratch tree:\n" + tail(out))

    def build(self, targets=None):
        """(built, output): builds `targets` (all when None), keeping going past a failure."""
        command = ["cmake", "--build", self.build_dir, "-j", str(self.jobs)]
        if targets:
            command += ["--target", *targets]
        code, out = self.run(command + ["--", "-k", "0"])
        return code == 0, out

    def list_tests(self):
        code, out = self.run(["ctest", "--test-dir", self.build_dir, "--show-only=json-v1"],
                             locked=False)
        if code != 0:
            raise BadInput("ctest --show-only=json-v1 failed:\n" + tail(out))
        return parse_ctest_json(out, self.build_dir)

    def run_tests(self, tests):
        """{name: PASSED, FAILED or SKIPPED} for `tests`, run by number with ctest -j."""
        if not tests:
            return {}
        with tempfile.TemporaryDirectory(prefix="ttt-mutate-") as directory:
            junit = os.path.join(directory, "junit.xml")
            numbers = ",".join(str(t.number) for t in tests)
            self.run(["ctest", "--test-dir", self.build_dir, "-I", f"0,0,0,{numbers}",
                      "-j", str(self.jobs), "--output-junit", junit])
            results = {}
            if os.path.exists(junit):
                with open(junit, encoding="utf-8") as f:
                    results = parse_junit(f.read())
        # A selected test CTest did not report (it could not start) failed.
        return {t.name: results.get(t.name, FAILED) for t in tests}


def tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def build_targets(tests):
    """The executables to build for `tests`, or None (build everything) when a test runs through
    a driver whose inputs the build tree does not name. A test running a program from outside
    the build tree (the compiler) needs nothing built."""
    targets = set()
    for t in tests:
        if t.driven:
            return None
        if t.executable:
            targets.add(os.path.basename(t.executable))
    return sorted(targets)


DISCOVERY_FAILURE = re.compile(r"Error running test executable\.\s*\n\s*Path: '([^']+)'")
COMPILE_FAILURE = re.compile(r"^FAILED: \S+\.o\b", re.M)


def run_mutation(runner, source, mutants, log):
    """The full run: the report dict."""
    started = time.time()
    check_mutants(source, mutants)  # Before any copy or build: a stale list fails at once.
    copied, removed = sync_tree(source, runner.scratch, tree_files(source))
    log(f"scratch tree {runner.scratch}: {copied} files copied, {removed} removed")
    check_mutants(runner.scratch, mutants)
    runner.configure()
    built, out = runner.build()
    if not built:
        raise BadInput("the clean scratch tree does not build:\n" + tail(out))
    tests = runner.list_tests()
    selections = {m.id: select_tests(tests, m) for m in mutants}
    union = sorted({t for chosen in selections.values() for t in chosen}, key=lambda t: t.number)
    clean_started = time.time()
    results = runner.run_tests(union)
    false_alarms = sorted(name for name, status in results.items() if status == FAILED)
    report = {
        "source": source,
        "scratch": runner.scratch,
        "clean": {"tests": len(union), "false_alarms": false_alarms,
                  "skipped": sorted(n for n, status in results.items() if status == SKIPPED),
                  "seconds": round(time.time() - clean_started, 1)},
        "mutants": [],
    }
    if false_alarms:
        log(f"clean tree: {len(false_alarms)} of {len(union)} tests fail; stopping")
        report["seconds"] = round(time.time() - started, 1)
        return report
    log(f"clean tree: all {len(union)} selected tests pass")
    by_name = {t.name: t for t in tests}
    for m in mutants:
        chosen = selections[m.id]
        mutant_started = time.time()
        with Applied(runner.scratch, m):
            built, out = runner.build(build_targets(chosen))
            discovery = DISCOVERY_FAILURE.findall(out)
            # A test program that builds but crashes while listing its tests caught the mutant;
            # anything else that fails to build is a defective mutant.
            compiled = built or (bool(discovery) and not COMPILE_FAILURE.search(out))
            failed = []
            if compiled:
                failed = [TestInfo(0, os.path.basename(path) + " (test discovery)",
                                   os.path.basename(path)) for path in sorted(set(discovery))]
                results = runner.run_tests(chosen)
                failed += [by_name[name] for name, status in sorted(results.items())
                           if status == FAILED]
        status = classify(compiled, failed)
        entry = {
            "id": m.id, "area": m.area, "file": m.file, "description": m.description,
            "status": status, "selected": len(chosen),
            "caught_by": [t.name for t in failed],
            "programs": independent_programs(failed),
            "seconds": round(time.time() - mutant_started, 1),
        }
        if status == DEFECTIVE:
            entry["build_output"] = tail(out)
        report["mutants"].append(entry)
        log(f"{m.id}: {status} ({len(entry['programs'])} programs, {len(failed)} tests)")
    report["seconds"] = round(time.time() - started, 1)
    return report


# ---- the report ------------------------------------------------------------------------------


def verdict(report):
    """0 when the clean tree passed and every mutant was caught twice, else 1."""
    if report["clean"]["false_alarms"]:
        return EXIT_NOT_CAUGHT
    return EXIT_OK if all(m["status"] == CAUGHT for m in report["mutants"]) else EXIT_NOT_CAUGHT


def render_markdown(report):
    """The report as Markdown: the clean run, then one row per mutant."""
    clean = report["clean"]
    lines = ["# Mutation run", ""]
    if clean["false_alarms"]:
        lines.append(f"Clean tree: **{len(clean['false_alarms'])} false alarms** of "
                     f"{clean['tests']} tests (the run stopped): "
                     + ", ".join(f"`{n}`" for n in clean["false_alarms"]))
    else:
        lines.append(f"Clean tree: all {clean['tests']} selected tests pass (0 false alarms).")
    if clean.get("skipped"):
        lines.append(f"Skipped on the clean tree (they can catch nothing): "
                     + ", ".join(f"`{n}`" for n in clean["skipped"]))
    mutants = report["mutants"]
    caught = sum(1 for m in mutants if m["status"] == CAUGHT)
    lines += ["", f"Caught by at least two independent tests: {caught} of {len(mutants)}"
                  f" mutants. Run time: {report.get('seconds', 0)} s.", ""]
    if mutants:
        lines += ["| mutant | area | status | programs | tests that caught it |",
                  "|---|---|---|---|---|"]
        for m in mutants:
            shown = ", ".join(f"`{n}`" for n in m["caught_by"][:8])
            if len(m["caught_by"]) > 8:
                shown += f" and {len(m['caught_by']) - 8} more"
            lines.append(f"| `{m['id']}` | {m['area']} | {m['status']} | {len(m['programs'])} "
                         f"| {shown or '-'} |")
    return "\n".join(lines) + "\n"


def write_report(base, report):
    """Writes base.json and base.md (a .json or .md suffix of `base` is dropped)."""
    root, suffix = os.path.splitext(base)
    if suffix in (".json", ".md"):
        base = root
    directory = os.path.dirname(os.path.abspath(base))
    os.makedirs(directory, exist_ok=True)
    write_text(base + ".json", json.dumps(report, indent=2) + "\n")
    write_text(base + ".md", render_markdown(report))


def render_list(mutants):
    lines = []
    for m in mutants:
        lines.append(f"{m.id:40} {m.area:9} {m.file}")
        lines.append(f"    {m.description}")
    return "\n".join(lines) + f"\n{len(mutants)} mutants\n"


# ---- command line -------------------------------------------------------------------------------


def parse_args(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(
        prog="mutate.py", description="Mutation runs of the TTTv2 tests (docs/testing.md).",
        epilog="Examples:\n  /usr/bin/python3 tools/mutate/mutate.py --check\n"
               "  /usr/bin/python3 tools/mutate/mutate.py --only B01-rms-eps-after-sqrt "
               "--report /tmp/mutate",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--check", action="store_true",
                        help="verify each mutant applies exactly once and selects tests of at "
                             "least two programs; no build")
    parser.add_argument("--only", default="", metavar="ID[,ID]", help="run these mutants only")
    parser.add_argument("--scratch", default="/tmp/ttt-mutate/src", metavar="DIR",
                        help="the scratch copy of the tree (default: %(default)s)")
    parser.add_argument("--source", default=os.path.dirname(os.path.dirname(here)),
                        metavar="DIR", help="the tree to mutate (default: this script's tree)")
    parser.add_argument("--report", metavar="FILE", help="write FILE.json and FILE.md")
    add_run_options(parser, "build and ctest jobs (default 2)")
    return parser.parse_args(argv)


def main(argv=None, out=sys.stdout, err=sys.stderr):
    return run_main("mutate.py", parse_args, lambda args, log: run(args, log, out, err), argv, err)


def run(args, log, out, err):
    """main's work once the arguments parsed."""
    validate_mutants(mutant_list.MUTANTS)
    mutants = choose(mutant_list.MUTANTS, args.only)
    if args.list:
        out.write(render_list(mutants))
        return EXIT_OK
    source = os.path.abspath(args.source)
    if args.check:
        check_mutants(source, mutants)
        problems, spans = check_selections(source, mutants)
        for mutant_id, message in problems:
            err.write(f"mutate.py: error: mutant {mutant_id}: {message}\n")
        if problems:
            return EXIT_BAD_INPUT
        for m in mutants:
            out.write(f"{m.id}: applies once; selects tests of {len(spans[m.id])} programs\n")
        out.write(f"{len(mutants)} mutants checked\n")
        return EXIT_OK
    for tool in ("git", "cmake", "ctest"):
        if shutil.which(tool) is None:
            raise BadInput(f"{tool} is not on PATH")
    scratch = os.path.abspath(args.scratch)
    if scratch == source or scratch.startswith(source + os.sep):
        raise BadInput(f"--scratch {scratch} must lie outside the source tree {source}")
    runner = Runner(scratch, args.jobs, not args.no_lock, log)
    report = run_mutation(runner, source, mutants, log)
    if args.report:
        write_report(args.report, report)
    out.write(render_markdown(report))
    return verdict(report)


if __name__ == "__main__":
    sys.exit(main())

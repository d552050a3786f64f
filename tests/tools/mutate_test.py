"""Unit tests of tools/mutate/mutate.py's logic: applying and restoring a mutant, the exactly-once
rule, test selection, the independence rule, JUnit and CTest parsing, the scratch sync, the build
lock's ancestor check, the report and the command line's exit codes. Nothing is built.

Run: /usr/bin/python3 tests/tools/mutate_test.py (CTest: tools.mutate_logic, label unit).
"""

import io
import json
import os
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "mutate"))
sys.path.insert(0, os.path.join(ROOT, "tools", "common"))

import build_lock  # noqa: E402
import mutate  # noqa: E402
import mutants  # noqa: E402
from mutants import Mutant  # noqa: E402


def mutant(**fields):
    base = dict(id="X01-test", area="blocks", file="f.cc", original="a + b", replacement="a - b",
                description="sign error", tests=r"^Foo\.")
    base.update(fields)
    return Mutant(**base)


def info(number, name, program, labels=("unit",)):
    return mutate.TestInfo(number, name, program, labels, "/b/" + program)


class ApplyAndRestore(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "f.cc")
        with open(self.path, "w") as f:
            f.write("int f(int a, int b) { return a + b; }\n")

    def tearDown(self):
        self.dir.cleanup()

    def read(self):
        with open(self.path) as f:
            return f.read()

    def test_applies_then_restores_the_exact_text(self):
        with mutate.Applied(self.dir.name, mutant()):
            self.assertEqual(self.read(), "int f(int a, int b) { return a - b; }\n")
        self.assertEqual(self.read(), "int f(int a, int b) { return a + b; }\n")

    def test_restores_when_the_body_raises(self):
        with self.assertRaises(RuntimeError):
            with mutate.Applied(self.dir.name, mutant()):
                raise RuntimeError("build crashed")
        self.assertEqual(self.read(), "int f(int a, int b) { return a + b; }\n")

    def test_restored_file_is_newer_than_the_mutant_build(self):
        before = os.stat(self.path).st_mtime_ns
        time.sleep(0.01)
        with mutate.Applied(self.dir.name, mutant()):
            pass
        self.assertGreater(os.stat(self.path).st_mtime_ns, before)

    def test_missing_original_names_the_mutant_and_the_file(self):
        with self.assertRaises(mutate.BadInput) as caught:
            with mutate.Applied(self.dir.name, mutant(original="a * b")):
                pass
        self.assertIn("X01-test", str(caught.exception))
        self.assertIn("f.cc", str(caught.exception))
        self.assertIn("occurs 0 times", str(caught.exception))
        self.assertEqual(self.read(), "int f(int a, int b) { return a + b; }\n")

    def test_an_original_found_twice_is_refused(self):
        with self.assertRaises(mutate.BadInput) as caught:
            mutate.mutated_text("a + b; a + b;", mutant())
        self.assertIn("occurs 2 times", str(caught.exception))

    def test_a_missing_file_names_the_mutant(self):
        with self.assertRaises(mutate.BadInput) as caught:
            mutate.check_mutants(self.dir.name, [mutant(file="absent.cc")])
        self.assertIn("X01-test", str(caught.exception))
        self.assertIn("absent.cc", str(caught.exception))


class TheList(unittest.TestCase):
    def test_shipped_list_is_valid_and_spans_every_area(self):
        mutate.validate_mutants(mutants.MUTANTS)
        self.assertGreaterEqual(len(mutants.MUTANTS), 30)
        areas = {m.area for m in mutants.MUTANTS}
        for area in ("numerics", "blocks", "metrics", "wrapper", "traces"):
            self.assertIn(area, areas)

    def test_shipped_mutants_apply_exactly_once_to_this_tree(self):
        mutate.check_mutants(ROOT, mutants.MUTANTS)

    def test_malformed_entries_are_refused(self):
        cases = [
            ([mutant(), mutant()], "used twice"),
            ([mutant(area="gpu")], "area"),
            ([mutant(replacement="a + b")], "equals the original"),
            ([mutant(tests="", programs=())], "names no tests"),
            ([mutant(tests="^(Foo")], "invalid"),
            ([mutant(description="")], "description"),
        ]
        for given, message in cases:
            with self.assertRaises(mutate.BadInput) as caught:
                mutate.validate_mutants(given)
            self.assertIn(message, str(caught.exception))

    def test_only_keeps_list_order_and_refuses_unknown_ids(self):
        a, b = mutant(id="A"), mutant(id="B")
        self.assertEqual([m.id for m in mutate.choose([a, b], "B,A")], ["A", "B"])
        self.assertEqual(len(mutate.choose([a, b], "")), 2)
        with self.assertRaises(mutate.BadInput) as caught:
            mutate.choose([a, b], "A,C")
        self.assertIn("unknown mutant id C", str(caught.exception))


class Selection(unittest.TestCase):
    tests = [
        info(1, "Foo.One", "foo_test"),
        info(2, "Foo.Two", "foo_test"),
        info(3, "Bar.One", "bar_test"),
        info(4, "Foo.Slow", "foo_slow_test", ("model", "slow")),
        info(5, "tools.mutate", "tools.mutate", ("slow", "mutate")),
        info(6, "Baz.Any", "baz_test"),
    ]

    def test_regex_and_programs_without_slow_or_mutate(self):
        chosen = mutate.select_tests(self.tests, mutant(tests=r"^Foo\.|mutate",
                                                        programs=("baz_test",)))
        self.assertEqual([t.number for t in chosen], [1, 2, 6])

    def test_build_targets_are_the_programs_or_everything_for_a_driver(self):
        self.assertEqual(mutate.build_targets(self.tests[:3]), ["bar_test", "foo_test"])
        compiler = mutate.TestInfo(7, "wrapper_compile_error", "c++", ("unit",), "")
        self.assertEqual(mutate.build_targets([self.tests[0], compiler]), ["foo_test"])
        driven = mutate.TestInfo(8, "docs.snippet.a", "docs.snippet.a", ("unit",), "", True)
        self.assertIsNone(mutate.build_targets([self.tests[0], driven]))


class Independence(unittest.TestCase):
    def test_two_cases_of_one_program_count_once(self):
        failed = [info(1, "Foo.One", "foo_test"), info(2, "Foo.Two", "foo_test")]
        self.assertEqual(mutate.independent_programs(failed), ["foo_test"])
        self.assertEqual(mutate.classify(True, failed), mutate.CAUGHT_ONCE)

    def test_two_programs_are_independent(self):
        failed = [info(1, "Foo.One", "foo_test"), info(3, "Bar.One", "bar_test")]
        self.assertEqual(mutate.classify(True, failed), mutate.CAUGHT)

    def test_nothing_failed_and_defective(self):
        self.assertEqual(mutate.classify(True, []), mutate.NOT_CAUGHT)
        self.assertEqual(mutate.classify(False, [info(1, "Foo.One", "foo_test")]),
                         mutate.DEFECTIVE)

    def test_driver_tests_are_their_own_programs(self):
        build = "/tmp/b"
        self.assertEqual(mutate.program_of("docs.snippet.a", ["/usr/bin/cmake", "-P", "x"], build),
                         ("docs.snippet.a", "", True))
        self.assertEqual(
            mutate.program_of("Foo.One", ["/tmp/b/tests/foo_test", "--gtest_filter=Foo.One"],
                              build), ("foo_test", "/tmp/b/tests/foo_test", False))
        self.assertEqual(mutate.program_of("x", ["/usr/bin/c++", "-fsyntax-only"], build),
                         ("c++", "", False))


class Parsing(unittest.TestCase):
    def test_ctest_json_gives_numbers_programs_and_labels(self):
        text = json.dumps({"tests": [
            {"name": "Foo.One", "command": ["/b/ci/tests/foo_test", "--gtest_filter=Foo.One"],
             "properties": [{"name": "LABELS", "value": ["unit"]}]},
            {"name": "project.layering", "command": ["/usr/bin/bash", "check.sh"],
             "properties": [{"name": "LABELS", "value": ["slow", "mutate"]}]},
        ]})
        tests = mutate.parse_ctest_json(text, "/b/ci")
        self.assertEqual(tests[0], mutate.TestInfo(1, "Foo.One", "foo_test", ("unit",),
                                                   "/b/ci/tests/foo_test"))
        self.assertEqual(tests[1].number, 2)
        self.assertEqual(tests[1].program, "project.layering")
        self.assertTrue(tests[1].driven)
        self.assertEqual(tests[1].labels, ("slow", "mutate"))
        with self.assertRaises(mutate.BadInput):
            mutate.parse_ctest_json("not json", "/b/ci")

    def test_junit_statuses(self):
        text = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="x" tests="4" failures="1" disabled="0" skipped="1">
  <testcase name="Foo.One" classname="Foo.One" time="0.1" status="run"/>
  <testcase name="Foo.Two" classname="Foo.Two" time="0.1" status="fail">
    <failure message="Failed">out</failure>
  </testcase>
  <testcase name="Bar.One" classname="Bar.One" time="0" status="notrun"><skipped/></testcase>
  <testcase name="Baz.One" classname="Baz.One" time="0"/>
</testsuite>"""
        self.assertEqual(mutate.parse_junit(text), {
            "Foo.One": mutate.PASSED, "Foo.Two": mutate.FAILED, "Bar.One": mutate.SKIPPED,
            "Baz.One": mutate.PASSED})
        with self.assertRaises(mutate.BadInput):
            mutate.parse_junit("<testsuite>")

    def test_cmake_programs_expand_globs_and_foreach(self):
        files = ["/t/a/x_test.cc", "/t/a/y_test.cc", "/t/a/helper.cc", "/t/b/x_test.cc"]
        text = ("ttt_add_tests_glob(blocks_a DEPS tttv2::blocks LABELS unit)\n"
                "foreach(stem one two)\n"
                "  ttt_add_test(s_${stem}_test SOURCES ${stem}_test.cc DEPS x LABELS unit)\n"
                "endforeach()\n"
                "ttt_add_test(s_quick SOURCES one_test.cc DEPS x)\n")
        programs = mutate.source_programs("/t/a", text, files)
        self.assertEqual(programs["/t/a/x_test.cc"], ["blocks_a_x_test"])
        self.assertEqual(programs["/t/a/one_test.cc"], ["s_one_test", "s_quick"])
        self.assertEqual(programs["/t/a/two_test.cc"], ["s_two_test"])
        self.assertNotIn("/t/b/x_test.cc", programs)

    def test_declared_tests_of_this_tree_include_parameterised_names(self):
        declared = dict(mutate.declared_tests(ROOT))
        self.assertEqual(declared["NormalizationHandChecked.RmsNormGemmaUnitOffset"],
                         "blocks_normalization_hand_checked_test")
        self.assertEqual(
            declared["Goldens/GoldenFileTest.ReferenceMatchesPyTorchAndDeviceMeetsExpectations/0"],
            "goldens_goldens_test")
        self.assertEqual(declared["project.layering"], "project.layering")


class ScratchSync(unittest.TestCase):
    def test_copies_changed_files_only_and_removes_dropped_ones(self):
        with tempfile.TemporaryDirectory() as source, tempfile.TemporaryDirectory() as scratch:
            for rel, text in (("a.cc", "a"), ("d/b.cc", "b"), ("c.cc", "c")):
                os.makedirs(os.path.dirname(os.path.join(source, rel)), exist_ok=True)
                with open(os.path.join(source, rel), "w") as f:
                    f.write(text)
            self.assertEqual(mutate.sync_tree(source, scratch, ["a.cc", "d/b.cc", "c.cc"]),
                             (3, 0))
            unchanged = os.stat(os.path.join(scratch, "a.cc")).st_mtime_ns
            with open(os.path.join(source, "d/b.cc"), "w") as f:
                f.write("B")
            self.assertEqual(mutate.sync_tree(source, scratch, ["a.cc", "d/b.cc"]), (1, 1))
            self.assertEqual(os.stat(os.path.join(scratch, "a.cc")).st_mtime_ns, unchanged)
            with open(os.path.join(scratch, "d/b.cc")) as f:
                self.assertEqual(f.read(), "B")
            self.assertFalse(os.path.exists(os.path.join(scratch, "c.cc")))


class Lock(unittest.TestCase):
    def test_holders_of_an_inode_leave_out_waiters_and_other_files(self):
        locks = ("1: FLOCK  ADVISORY  WRITE 4242 08:01:777 0 EOF\n"
                 "1: -> FLOCK  ADVISORY  WRITE 5151 08:01:777 0 EOF\n"
                 "2: POSIX  ADVISORY  WRITE 6161 08:01:777 0 EOF\n"
                 "3: FLOCK  ADVISORY  WRITE 7171 08:01:778 0 EOF\n")
        self.assertEqual(build_lock.lock_holders(locks, 777), {4242})

    def test_ancestors_start_with_this_process(self):
        chain = build_lock.ancestors()
        self.assertEqual(chain[0], os.getpid())
        self.assertIn(os.getppid(), chain)

    def test_an_absent_lock_file_is_not_taken(self):
        with build_lock.BuildLock(path="/nonexistent/ttt-build.lock") as lock:
            self.assertIsNone(lock.fd)


class ReportAndCommandLine(unittest.TestCase):
    report = {
        "clean": {"tests": 3, "false_alarms": [], "skipped": []},
        "mutants": [
            {"id": "A", "area": "blocks", "status": mutate.CAUGHT, "caught_by": ["Foo.One",
             "Bar.One"], "programs": ["bar_test", "foo_test"]},
            {"id": "B", "area": "metrics", "status": mutate.CAUGHT_ONCE,
             "caught_by": ["Foo.Two"], "programs": ["foo_test"]},
        ],
        "seconds": 12.5,
    }

    def test_markdown_table_and_verdict(self):
        text = mutate.render_markdown(self.report)
        self.assertIn("all 3 selected tests pass (0 false alarms)", text)
        self.assertIn("1 of 2 mutants", text)
        self.assertIn("| `A` | blocks | caught | 2 | `Foo.One`, `Bar.One` |", text)
        self.assertIn("| `B` | metrics | caught_once | 1 | `Foo.Two` |", text)
        self.assertEqual(mutate.verdict(self.report), mutate.EXIT_NOT_CAUGHT)
        caught = dict(self.report, mutants=self.report["mutants"][:1])
        self.assertEqual(mutate.verdict(caught), mutate.EXIT_OK)
        alarm = dict(caught, clean={"tests": 3, "false_alarms": ["Foo.One"], "skipped": []})
        self.assertEqual(mutate.verdict(alarm), mutate.EXIT_NOT_CAUGHT)
        self.assertIn("**1 false alarms**", mutate.render_markdown(alarm))

    def test_report_files(self):
        with tempfile.TemporaryDirectory() as directory:
            mutate.write_report(os.path.join(directory, "r.json"), self.report)
            with open(os.path.join(directory, "r.json")) as f:
                self.assertEqual(json.load(f)["mutants"][1]["id"], "B")
            with open(os.path.join(directory, "r.md")) as f:
                self.assertIn("# Mutation run", f.read())

    def run_main(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        code = mutate.main(list(argv), out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    def test_list_check_and_bad_input_exit_codes(self):
        code, out, _ = self.run_main("--list")
        self.assertEqual(code, 0)
        self.assertIn("B01-rms-eps-after-sqrt", out)
        code, out, err = self.run_main("--check", "--only", "B01-rms-eps-after-sqrt")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("1 mutants checked", out)
        code, _, err = self.run_main("--only", "NOPE", "--list")
        self.assertEqual(code, 2)
        self.assertIn("unknown mutant id NOPE", err)
        code, _, err = self.run_main("--jobs", "0")
        self.assertEqual(code, 2)
        self.assertIn("--jobs", err)
        with tempfile.TemporaryDirectory() as empty:
            code, _, err = self.run_main("--check", "--source", empty, "--only", "N01-bf16-round-half-away")
            self.assertEqual(code, 2)
            self.assertIn("N01-bf16-round-half-away", err)
        code, _, _ = self.run_main("--bogus-option")
        self.assertEqual(code, 2)

    def test_scratch_inside_the_source_is_refused(self):
        code, _, err = self.run_main("--only", "B01-rms-eps-after-sqrt", "--scratch",
                                     os.path.join(ROOT, "build", "mutate"))
        self.assertEqual(code, 2)
        self.assertIn("must lie outside the source tree", err)


if __name__ == "__main__":
    unittest.main()

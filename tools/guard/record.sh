#!/usr/bin/env bash
# Records the behaviour guard's fingerprint of this tree into OUT_DIR (docs/guard.md):
#
#   tools/guard/record.sh [--quick] [--build DIR] OUT_DIR
#
#   seeded_inputs.jsonl      hash, dtype and shape of every seeded input of every case of suites/
#   coverage_facts.jsonl     what coverage makes of the suites' planned records and the goldens'
#                            replayed records (catalog matches, domain parameter values)
#   coverage_catalog.jsonl   `ttt coverage catalog`: every configuration of every catalog model
#   suites/<suite>.jsonl     `ttt suite run` of each suite: status, verdicts and metrics per case
#   demo.jsonl               `ttt demo`'s report.json: every validated call's metrics and verdict
#   goldens_replay.jsonl     `ttt replay` of goldens/*.h5: every call's comparisons and status
#   manifest.txt             what was recorded (full or --quick)
#
# --quick runs only the suite cases tagged `quick` (one per model); everything else is the same.
# --build DIR is the build directory holding tools/ttt/ttt and tools/guard/ttt_guard_facts
# (default: build/ci). Exit 0 when recorded, 2 for bad usage or a step that could not run.
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { echo "record.sh: error: $*" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$repo/build/ci"
quick=0
out=""
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --build) (($# >= 2)) || fail "--build needs a directory"; build=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) fail "unknown option '$1' (see --help)" ;;
    *) [[ -z "$out" ]] || fail "one OUT_DIR expected, got '$out' and '$1'"; out=$1 ;;
  esac
  shift
done
[[ -n "$out" ]] || { usage >&2; exit 2; }
build=$(cd "$build" 2>/dev/null && pwd) || fail "--build: no directory '$build'"
ttt="$build/tools/ttt/ttt"
facts="$build/tools/guard/ttt_guard_facts"
for program in "$ttt" "$facts"; do
  [[ -x "$program" ]] || fail "$program is missing: build the targets ttt and ttt_guard_facts"
done
if [[ -e "$out" && -n "$(ls -A "$out")" ]]; then
  fail "$out is not empty: record into a new directory (or remove it first)"
fi
mkdir -p "$out/suites" || fail "cannot create $out"
out=$(cd "$out" && pwd)

# Nothing of the caller's environment may change what runs: the project's switches (TTT_VALIDATE,
# TTT_TRACE, TTT_COVERAGE, ...), GoogleTest's sharding (ttt suite run honours it), BLAS threads.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(TTT_|GTEST_)' || true)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 LC_ALL=C

work=$(mktemp -d "${TMPDIR:-/tmp}/ttt-guard.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$repo"  # Suite files and goldens are named relative to the repository.

# run STEP COMMAND...: runs a step; exit 0 and 1 (a verdict: a case or call failed) are results,
# anything else stops the recording with the step's output.
run() {
  local step=$1 status=0
  shift
  "$@" >"$work/step.log" 2>&1 || status=$?
  if ((status > 1)); then
    cat "$work/step.log" >&2
    fail "$step exited $status"
  fi
}

# The guard fingerprints what TTTv2 computes on one device; the mesh suites (a top-level "mesh":
# 70B widths on T3K and TG) take hours in full and are left out (docs/guard.md "What it records").
suites=()
for suite in suites/*.json; do
  grep -q '^  "mesh":' "$suite" || suites+=("$suite")
done
goldens=(goldens/*.h5)

echo "record.sh: seeded inputs, coverage plan and catalog" >&2
"$facts" seeded-inputs "${suites[@]}" >"$out/seeded_inputs.jsonl"
run "ttt suite check" "$ttt" suite check "${suites[@]}" --coverage "$work/plan.jsonl"
run "ttt coverage catalog" "$ttt" coverage catalog --json "$work/catalog.json"
"$facts" catalog "$work/catalog.json" >"$out/coverage_catalog.jsonl"

selection=(--tag quick)
((quick)) || selection=()
for suite in "${suites[@]}"; do
  name=$(basename "$suite" .json)
  echo "record.sh: ttt suite run $suite${selection[*]:+ ${selection[*]}}" >&2
  run "ttt suite run $suite" "$ttt" suite run "$suite" "${selection[@]}" --json "$work/$name.json" \
    --repetitions 9 --warmup 0 --warm-caches --quiet
  "$facts" suite-results "$work/$name.json" >"$out/suites/$name.jsonl"
done

echo "record.sh: ttt demo" >&2
run "ttt demo" "$ttt" demo --out-dir "$work/demo" --quiet
"$facts" validation-report "$work/demo/report.json" >"$out/demo.jsonl"
rm -rf "$work/demo"  # Its trace is 375 MB.

replays=()
for golden in "${goldens[@]}"; do
  name=$(basename "$golden" .h5)
  echo "record.sh: ttt replay $golden" >&2
  run "ttt replay $golden" "$ttt" replay "$golden" --json "$work/replay-$name.json" \
    --coverage "$work/replay-$name.jsonl" --quiet
  "$facts" replay-report "$work/replay-$name.json" >"$work/replay-$name.lines"
  replays+=("$work/replay-$name.jsonl")
done
sort "$work"/replay-*.lines >"$out/goldens_replay.jsonl"
"$facts" coverage-facts "$work/plan.jsonl" "${replays[@]}" >"$out/coverage_facts.jsonl"

{
  echo "ttt behaviour guard, format 1 (docs/guard.md)"
  if ((quick)); then
    echo "suites: --quick: only the cases tagged quick ran"
  else
    echo "suites: every case ran"
  fi
  echo "suite files: ${suites[*]}"
  echo "goldens: ${goldens[*]}"
  echo "demo: ttt demo with its defaults"
} >"$out/manifest.txt"
echo "record.sh: recorded into $out" >&2

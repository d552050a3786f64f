#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, libraries instrumented, ASan + UBSan) and
# runs each for a short time from its seed corpus; prints executions, coverage and the rate, and
# fails on any crash, sanitizer report, hang (> 10 s on one input) or memory blow-up (> 2 GB).
#
#   tools/fuzz_smoke.sh [SECONDS_PER_TARGET] [TARGET...]     default: 25 s, every target
#
# trace_reader_fuzzer runs its structure-aware mode only (TTT_FUZZ_TRACE_EDITS_ONLY): whole corrupt
# files make libhdf5 1.10.8 hang within a minute (docs/testing.md); FUZZ_WHOLE_FILES=1 includes them.
#
# Without clang++ it says so and exits 0 (bash tools/setup.sh --fuzz installs it). Longer runs:
# docs/testing.md "Fuzzing". New inputs go to a temporary directory, never into the repository;
# the input of a finding is kept in build/fuzz/findings/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-25}
shift || true
targets=("$@")
chosen=${#targets[@]}
if [[ $chosen -eq 0 ]]; then
  targets=(trace_reader_fuzzer journal_recovery_fuzzer npy_fuzzer suite_file_fuzzer
           coverage_fuzzer gate_fuzzer)
fi
if ! command -v clang++ >/dev/null; then
  echo "fuzz_smoke: clang++ is not installed (bash tools/setup.sh --fuzz): skipped"
  exit 0
fi
cd "$root"
[[ -f build/fuzz/build.ninja ]] || cmake --preset fuzz >/dev/null
if [[ $chosen -eq 0 ]]; then
  # Only the targets this compiler can build (tests/fuzz/CMakeLists.txt).
  available=$(ninja -C build/fuzz -t targets all | sed -n 's/^\([a-z_]*_fuzzer\): .*/\1/p')
  targets=($(printf '%s\n' "${targets[@]}" | grep -Fx -f <(echo "$available")))
fi
cmake --build build/fuzz --target "${targets[@]}"

work=$(mktemp -d /tmp/ttt_fuzz_smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
findings=build/fuzz/findings
mkdir -p "$findings"
failed=0
for target in "${targets[@]}"; do
  seeds=()
  case $target in
    trace_reader_fuzzer)
      # A whole real trace (mode byte 1), made here so the repository keeps one copy of it.
      mkdir -p "$work/seeds_$target"
      { printf '\001'; cat tests/data/interop_trace.h5; } >"$work/seeds_$target/interop_trace"
      seeds=(tests/fuzz/corpus/trace_reader "$work/seeds_$target")
      [[ ${FUZZ_WHOLE_FILES:-0} == 1 ]] || export TTT_FUZZ_TRACE_EDITS_ONLY=1 ;;
    journal_recovery_fuzzer) seeds=(tests/fuzz/corpus/journal_recovery) ;;
    npy_fuzzer) seeds=(tests/data/npy) ;;
    suite_file_fuzzer)
      mkdir -p "$work/seeds_$target"
      cp suites/*.json "$work/seeds_$target/"
      seeds=("$work/seeds_$target") ;;
    coverage_fuzzer) seeds=(tests/fuzz/corpus/coverage) ;;
    gate_fuzzer) seeds=(tests/fuzz/corpus/gate) ;;
    *) echo "fuzz_smoke: unknown target $target" >&2; exit 2 ;;
  esac
  binary=$(find build/fuzz/tests/fuzz -maxdepth 1 -name "$target" -type f)
  mkdir -p "$work/corpus_$target"
  log="$work/$target.log"
  if ! "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$findings/$target-" "$work/corpus_$target" "${seeds[@]}" >"$log" 2>&1; then
    echo "fuzz_smoke: $target FAILED; the end of its log:"
    tail -40 "$log"
    failed=1
    continue
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  echo "$target: $runs executions in ${seconds} s ($((runs / seconds))/s), cov $cov, ft $ft"
done
exit $failed

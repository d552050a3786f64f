#!/usr/bin/env bash
# Compares two recordings of the behaviour guard (docs/guard.md):
#
#   tools/guard/compare.sh [--lines N] BASE_DIR HEAD_DIR
#
# Exit 0 when every file is byte-identical. Otherwise prints, per file that differs, the number of
# lines removed and added and the first N lines (default 40) of its unified diff, lists the files
# only one side has, and exits 1. Exit 2 for bad usage (a directory that does not exist).
set -euo pipefail

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { echo "compare.sh: error: $*" >&2; exit 2; }

lines=40
dirs=()
while (($#)); do
  case "$1" in
    --lines)
      (($# >= 2)) && [[ "$2" =~ ^[0-9]+$ ]] || fail "--lines needs a number of lines"
      lines=$2
      shift
      ;;
    -h|--help) usage; exit 0 ;;
    -*) fail "unknown option '$1' (see --help)" ;;
    *) dirs+=("$1") ;;
  esac
  shift
done
((${#dirs[@]} == 2)) || { usage >&2; exit 2; }
base=${dirs[0]}
head_dir=${dirs[1]}
for dir in "$base" "$head_dir"; do
  [[ -d "$dir" ]] || fail "no directory '$dir'"
done

files() { (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort); }
differs=0
while IFS= read -r file; do
  if [[ ! -f "$base/$file" ]]; then
    echo "only in $head_dir: $file"
    differs=1
  elif [[ ! -f "$head_dir/$file" ]]; then
    echo "only in $base: $file"
    differs=1
  elif ! cmp -s "$base/$file" "$head_dir/$file"; then
    differs=1
    diff_text=$(diff -u --label "$base/$file" --label "$head_dir/$file" \
      "$base/$file" "$head_dir/$file" || true)
    # Past the two header lines, '-' and '+' start the removed and added lines.
    removed=$(awk 'NR > 2 && /^-/' <<<"$diff_text" | wc -l)
    added=$(awk 'NR > 2 && /^\+/' <<<"$diff_text" | wc -l)
    echo "differs: $file ($removed lines removed, $added added)"
    head -n "$lines" <<<"$diff_text"
    total=$(wc -l <<<"$diff_text")
    ((total <= lines)) || echo "... $((total - lines)) more lines of diff"
  fi
done < <({ files "$base"; files "$head_dir"; } | LC_ALL=C sort -u)

if ((differs)); then
  echo "compare.sh: $base and $head_dir differ"
  exit 1
fi
echo "compare.sh: $base and $head_dir are identical"

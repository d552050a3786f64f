#!/usr/bin/env bash
# guard.baseline: records the fingerprint of the build in BUILD_DIR into SCRATCH_DIR (emptied
# first) and compares it with the committed tests/guard/baseline/ (docs/guard.md).
#   check_baseline.sh BUILD_DIR SCRATCH_DIR
set -euo pipefail
(($# == 2)) || { echo "usage: check_baseline.sh BUILD_DIR SCRATCH_DIR" >&2; exit 2; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rm -rf "$2"
bash "$repo/tools/guard/record.sh" --build "$1" "$2"
bash "$repo/tools/guard/compare.sh" "$repo/tests/guard/baseline" "$2"

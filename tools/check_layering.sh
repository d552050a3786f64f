#!/usr/bin/env bash
# Proves the one-way dependency rule of TTTv2:
#   tensor, metrics <- blocks <- patterns, wrapper, traces <- suites, coverage, gate <- ttt CLI
# Each layer may include only layers below it. In particular blocks never include HDF5, trace,
# wrapper, coverage or suite code (the seeds: core modules never import their test tooling).
# Prints every violation as file:line and exits 1 if there is any.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"

violations=0
# check <directory> <description> <forbidden include regex>
check() {
  local dir="$1" what="$2" pattern="$3"
  [[ -d "$dir" ]] || return 0
  local hits
  hits=$(grep -rnE --include='*.h' --include='*.cc' "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "$dir" || true)
  if [[ -n "$hits" ]]; then
    echo "layering violation: $what"
    echo "$hits" | sed 's/^/  /'
    violations=$((violations + 1))
  fi
}

upper='validation/(wrapper|trace|gtest)/|patterns/|suites/|coverage/|tools/'
check validation/input "validation/input includes another part of TTTv2" \
  "validation/(tensor|metrics|registry|markup)/|$upper|blocks/|hdf5|H5[A-Za-z]*\.h"
check validation/tensor "validation/tensor includes metrics or a higher layer" \
  "validation/(metrics|registry)/|$upper|blocks/|hdf5|H5[A-Za-z]*\.h"
check validation/metrics "validation/metrics includes a higher layer" \
  "validation/registry/|$upper|blocks/|hdf5|H5[A-Za-z]*\.h"
check validation/registry "validation/registry includes a higher layer" \
  "$upper|blocks/|hdf5|H5[A-Za-z]*\.h"
check blocks "blocks include HDF5, traces, the wrapper, coverage or suites" \
  "$upper|hdf5|H5[A-Za-z]*\.h"
check validation/trace "validation/trace includes the wrapper or a higher layer" \
  "validation/(wrapper|gtest)/|patterns/|suites/|coverage/|tools/"
check validation/wrapper "validation/wrapper includes a higher layer" \
  "validation/gtest/|suites/|coverage/|tools/"
check patterns "patterns include suites, coverage or the CLI" "suites/|coverage/|tools/"

# hdf5.h stays out of every public header (only validation/trace/internal and .cc files).
public_hdf5=$(grep -rlE --include='*.h' '#[[:space:]]*include[[:space:]]*[<"](hdf5|H5[A-Za-z]*)\.h' \
  validation blocks suites coverage 2>/dev/null | grep -v '/internal/' || true)
if [[ -n "$public_hdf5" ]]; then
  echo "layering violation: hdf5.h included by a public header"
  echo "$public_hdf5" | sed 's/^/  /'
  violations=$((violations + 1))
fi

if ((violations > 0)); then
  echo "check_layering: $violations violation(s)"
  exit 1
fi
echo "check_layering: ok"

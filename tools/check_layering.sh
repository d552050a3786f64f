#!/usr/bin/env bash
# Proves the one-way dependency rule of TTTv2. The top-level layers, lowest first:
#   validation -> blocks -> patterns -> models -> suites -> coverage -> gate -> tools
# A directory includes only its own layer and lower ones (a layer missing from a tree is empty:
# nothing below may include it). Inside validation/ the libraries are ordered too:
#   input <- tensor <- fingerprint <- mesh <- metrics <- registry <- trace <- wrapper <- gtest
#   (markup stands aside).
# Blocks never include HDF5, trace, wrapper, coverage or suite code (the seeds: core modules never
# import their test tooling), hdf5.h never appears in a public header, and mpi.h appears only in
# validation/mesh/mpi/*.cc.
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

# The top-level order: each layer may not include any layer after it.
layers=(validation blocks patterns models suites coverage gate tools)
for ((i = 0; i + 1 < ${#layers[@]}; i++)); do
  higher=$(IFS='|'; echo "${layers[*]:i+1}")
  check "${layers[i]}" "${layers[i]}/ includes a higher layer (${higher//|/, })" "($higher)/"
done

# Inside validation/ (the top-level rule keeps every higher layer out already).
hdf5='hdf5|H5[A-Za-z]*\.h'
check validation/input "validation/input includes another part of TTTv2" \
  "validation/(tensor|fingerprint|metrics|registry|markup|trace|wrapper|gtest)/|$hdf5"
check validation/tensor "validation/tensor includes metrics or a higher layer" \
  "validation/(fingerprint|metrics|registry|trace|wrapper|gtest)/|$hdf5"
check validation/fingerprint "validation/fingerprint includes mesh, metrics or a higher layer" \
  "validation/(mesh|metrics|registry|markup|trace|wrapper|gtest)/|$hdf5"
check validation/mesh "validation/mesh includes metrics or a higher layer" \
  "validation/(metrics|registry|trace|wrapper|gtest)/|$hdf5"
check validation/metrics "validation/metrics includes a higher layer" \
  "validation/(registry|trace|wrapper|gtest)/|$hdf5"
check validation/registry "validation/registry includes a higher layer" \
  "validation/(trace|wrapper|gtest)/|$hdf5"
check validation/trace "validation/trace includes the wrapper or a higher layer" \
  "validation/(wrapper|gtest)/"
check validation/wrapper "validation/wrapper includes a higher layer" "validation/gtest/"
# Blocks see tensors, metrics and the registry only: no HDF5, traces, wrapper or GoogleTest
# support (coverage and suites are higher layers, refused above).
check blocks "blocks include HDF5, traces, the wrapper or GoogleTest support" \
  "validation/(wrapper|trace|gtest)/|$hdf5"

# hdf5.h stays out of every public header (only validation/trace/internal and .cc files).
public_hdf5=$(grep -rnE --include='*.h' '#[[:space:]]*include[[:space:]]*[<"](hdf5|H5[A-Za-z]*)\.h' \
  validation blocks patterns models suites coverage gate 2>/dev/null | grep -v '/internal/' || true)
if [[ -n "$public_hdf5" ]]; then
  echo "layering violation: hdf5.h included by a public header"
  echo "$public_hdf5" | sed 's/^/  /'
  violations=$((violations + 1))
fi

# mpi.h stays in the MPI transport's .cc files: the rest builds without MPI, and a program links
# MPI only through tttv2::mesh_mpi.
mpi_includes=$(grep -rnE --include='*.h' --include='*.cc' \
  '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](mpi|mpio|mpi-ext)\.h[>"]' \
  validation blocks patterns models suites coverage gate tools tests bench 2>/dev/null |
  grep -vE '^validation/mesh/mpi/[^/:]*\.cc:' || true)
if [[ -n "$mpi_includes" ]]; then
  echo "layering violation: mpi.h included outside validation/mesh/mpi/*.cc"
  echo "$mpi_includes" | sed 's/^/  /'
  violations=$((violations + 1))
fi

if ((violations > 0)); then
  echo "check_layering: $violations violation(s)"
  exit 1
fi
echo "check_layering: ok"

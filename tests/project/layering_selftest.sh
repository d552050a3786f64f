#!/usr/bin/env bash
# The layering checker must fail on a tree where blocks/ includes trace code, and pass on a clean one.
set -euo pipefail
checker="$1"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/blocks/norm" "$tree/validation/trace"
echo '#include "validation/tensor/tensor.h"' > "$tree/blocks/norm/ok.cc"
bash "$checker" "$tree" > /dev/null || { echo "clean tree rejected"; exit 1; }
echo '#include "validation/trace/capture.h"' > "$tree/blocks/norm/bad.cc"
if output=$(bash "$checker" "$tree"); then
  echo "planted violation not detected"; exit 1
fi
grep -q "blocks/norm/bad.cc:1" <<< "$output" || { echo "violation not located: $output"; exit 1; }
rm "$tree/blocks/norm/bad.cc"
echo '#include <hdf5.h>' > "$tree/validation/trace/public.h"
if bash "$checker" "$tree" > /dev/null; then echo "public hdf5.h not detected"; exit 1; fi
echo "layering self-test: ok"

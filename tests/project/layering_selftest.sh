#!/usr/bin/env bash
# The layering checker must pass on a clean tree and catch each planted violation: blocks/
# including trace code, a public header including hdf5.h, and the top-level order
# validation -> blocks -> patterns -> models -> suites -> coverage -> gate -> tools broken
# (suites including coverage, coverage including gate, patterns or blocks including models,
# models including suites), and mpi.h outside validation/mesh/mpi/*.cc, each located at file:line.
set -euo pipefail
checker="$1"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT

# expect_violation <file> <include line> <what>: plants the include, expects the checker to fail
# naming file:1, then removes it and expects the tree clean again.
expect_violation() {
  local file="$1" line="$2" what="$3" output
  echo "$line" > "$tree/$file"
  if output=$(bash "$checker" "$tree"); then
    echo "planted violation not detected: $what"; exit 1
  fi
  grep -q "$file:1" <<< "$output" || { echo "$what: violation not located: $output"; exit 1; }
  rm "$tree/$file"
  bash "$checker" "$tree" > /dev/null || { echo "clean tree rejected after $what"; exit 1; }
}

# A clean tree: every layer includes only itself and lower ones (the top layer, tools/, anything).
mkdir -p "$tree/blocks/norm" "$tree/validation/trace" "$tree/patterns" "$tree/suites/suite" \
  "$tree/models/llama" "$tree/coverage" "$tree/gate" "$tree/tools/ttt"
echo '#include "validation/tensor/tensor.h"' > "$tree/blocks/norm/ok.cc"
echo '#include "blocks/norm/norm.h"' > "$tree/patterns/ok.cc"
echo '#include "patterns/causal_lm.h"' > "$tree/models/llama/ok.cc"
echo '#include "models/llama/model.h"' > "$tree/suites/suite/ok.cc"
echo '#include "suites/suite/results.h"' > "$tree/coverage/ok.cc"
printf '#include "coverage/report.h"\n#include "suites/suite/results.h"\n' > "$tree/gate/ok.cc"
echo '#include "gate/gate.h"' > "$tree/tools/ttt/ok.cc"
mkdir -p "$tree/validation/mesh/mpi" "$tree/tests/validation/mesh/mpi"
echo '#include <mpi.h>' > "$tree/validation/mesh/mpi/mpi_transport.cc"
bash "$checker" "$tree" > /dev/null || { echo "clean tree rejected"; exit 1; }

expect_violation blocks/norm/bad.cc '#include "validation/trace/capture.h"' "blocks including trace"
expect_violation validation/trace/public.h '#include <hdf5.h>' "a public header including hdf5.h"
expect_violation suites/suite/bad.cc '#include "coverage/record.h"' "suites including coverage"
expect_violation coverage/bad.h '#include "gate/gate.h"' "coverage including gate"
expect_violation patterns/bad.cc '#include "models/model.h"' "patterns including models"
expect_violation models/llama/bad.cc '#include "suites/suite/suite.h"' "models including suites"
expect_violation validation/trace/bad.cc '#include "blocks/norm/norm.h"' "validation including blocks"
# mpi.h only in the MPI transport's .cc files: not in its public header, not in tools or tests.
expect_violation validation/mesh/mpi/mpi_transport.h '#include <mpi.h>' "the MPI header including mpi.h"
expect_violation tools/ttt/mpi_bad.cc '#include "mpi.h"' "tools including mpi.h"
expect_violation tests/validation/mesh/mpi/bad.cc '#include <mpi.h>' "a test including mpi.h"
expect_violation validation/mesh/bad.cc '#  include <mpi.h>' "validation/mesh including mpi.h"
echo "layering self-test: ok"

#!/usr/bin/env bash
# Installs the Debian packages TTTv2 needs, and nothing else. Idempotent: when every package is
# already installed it changes nothing and touches no network.
#
#   tools/setup.sh            build, tests and benchmarks
#   tools/setup.sh --python   also numpy, h5py and PyTorch, to regenerate goldens and test data
#                             and to run the PyTorch/numpy baselines of bench/
#   tools/setup.sh --fuzz     also clang (14, the `fuzz` preset's default) and clang 16 (which
#                             builds all six fuzz targets), with their sanitizer runtimes
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config          # toolchain
  libgtest-dev libgmock-dev                  # GoogleTest / GoogleMock
  libbenchmark-dev                           # Google Benchmark
  nlohmann-json3-dev libcli11-dev            # JSON, command line
  libhdf5-dev hdf5-tools                     # traces (h5dump is used by an interop test)
  libopenblas-dev                            # BLAS for the blocks' matmuls
  chromium                                   # headless check of the HTML coverage report
  libxml2-utils                              # xmllint: JUnit reports checked against a schema
  openmpi-bin libopenmpi-dev                 # mpirun and MPI: the distributed mesh transport
)
for arg in "$@"; do
  case "$arg" in
    --python) packages+=(python3 python3-numpy python3-h5py python3-torch) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev clang-16 libclang-rt-16-dev) ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "setup.sh: all ${#packages[@]} packages are installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh: missing packages: ${missing[*]}; run as root (or with sudo)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup.sh: installed ${missing[*]}"

#!/usr/bin/python3
"""Baselines for the metrics engine's fused pass, run side by side with bench/metrics_bench.

Times numpy.corrcoef and torch.corrcoef (one thread) on two float32 vectors of the same size as
the C++ benchmark, and reports input bytes read per second (2 * numel * 4 bytes per call, GB =
1e9 bytes). With --bench it first runs the C++ benchmark binary on the same machine, in the same
session, and prints the ratios docs/PERFORMANCE.md records:

    /usr/bin/python3 bench/metrics_baseline.py --bench build/release/bench/metrics_bench

Uses the Debian python3-numpy and python3-torch (hence /usr/bin/python3). The machine is shared
and noisy: every figure is the best of --repetitions runs (noise only ever slows a run down), and
the median is printed beside it.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

GB = 1e9


def make_inputs(numel, seed=2024):
    """Reference uniform in [-1, 1), device = reference + up to 1e-3 (like metrics_bench.cc)."""
    rng = np.random.default_rng(seed)
    expected = rng.uniform(-1.0, 1.0, numel).astype(np.float32)
    actual = expected + (1e-3 * rng.uniform(-1.0, 1.0, numel)).astype(np.float32)
    return actual, expected


def time_calls(function, repetitions):
    """Wall-clock seconds of each call."""
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def rates(times, numel):
    """(best, median) GB/s of input read."""
    nbytes = 2 * numel * 4
    return nbytes / min(times) / GB, nbytes / statistics.median(times) / GB


def run_cpp_benchmark(binary, numel, repetitions):
    """{benchmark name: (best, median) GB/s} for the C++ benchmarks at `numel` elements."""
    command = [
        binary,
        f"--benchmark_filter=/{numel}/",
        f"--benchmark_repetitions={repetitions}",
        "--benchmark_format=json",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    per_run = {}
    for entry in json.loads(output)["benchmarks"]:
        if entry.get("run_type") != "iteration":
            continue
        name = entry["run_name"].split("/")[0]
        per_run.setdefault(name, []).append(entry["bytes_per_second"] / GB)
    return {name: (max(values), statistics.median(values)) for name, values in per_run.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--numel", type=int, default=64 << 20, help="elements per side")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--bench", help="path to the metrics_bench binary to run first")
    args = parser.parse_args()

    results = {}
    if args.bench:
        results.update(run_cpp_benchmark(args.bench, args.numel, args.repetitions))

    torch.set_num_threads(1)
    actual, expected = make_inputs(args.numel)
    results["numpy.corrcoef"] = rates(
        time_calls(lambda: np.corrcoef(actual, expected), args.repetitions), args.numel)
    actual_t, expected_t = torch.from_numpy(actual), torch.from_numpy(expected)
    results["torch.corrcoef (1 thread)"] = rates(
        time_calls(lambda: torch.corrcoef(torch.stack([actual_t, expected_t])), args.repetitions),
        args.numel)

    print(f"numel {args.numel} per side, {2 * args.numel * 4 / GB:.3f} GB of input per call, "
          f"best and median of {args.repetitions}")
    for name, (best, median) in results.items():
        print(f"  {name:34s} best {best:7.3f} GB/s   median {median:7.3f} GB/s")
    ours = results.get("BM_ComputeMetricsFusedPass")
    if ours:
        print("ratios of the fused pass (best / best):")
        for name in ["BM_MemoryRead", "numpy.corrcoef", "torch.corrcoef (1 thread)"]:
            if name in results:
                print(f"  ours / {name:28s} {ours[0] / results[name][0]:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

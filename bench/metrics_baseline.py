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


def best_rates(function, numel, repetitions):
    """(wall, cpu) GB/s of input read, each from the fastest of `repetitions` calls."""
    nbytes = 2 * numel * 4
    wall, cpu = [], []
    for _ in range(repetitions):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        function()
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return nbytes / min(wall) / GB, nbytes / min(cpu) / GB


def run_cpp_benchmark(binary, numel, repetitions):
    """{benchmark name: (wall, cpu) GB/s} for the C++ benchmarks at `numel` elements."""
    command = [
        binary,
        f"--benchmark_filter=/{numel}/",
        f"--benchmark_repetitions={repetitions}",
        "--benchmark_format=json",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    nbytes = 2 * numel * 4
    per_run = {}
    for entry in json.loads(output)["benchmarks"]:
        if entry.get("run_type") != "iteration":
            continue
        unit = seconds[entry["time_unit"]]
        rates = per_run.setdefault(entry["run_name"].split("/")[0], ([], []))
        rates[0].append(nbytes / (entry["real_time"] * unit) / GB)
        rates[1].append(nbytes / (entry["cpu_time"] * unit) / GB)
    return {name: (max(wall), max(cpu)) for name, (wall, cpu) in per_run.items()}


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
    results["numpy.corrcoef"] = best_rates(lambda: np.corrcoef(actual, expected), args.numel,
                                           args.repetitions)
    actual_t, expected_t = torch.from_numpy(actual), torch.from_numpy(expected)
    results["torch.corrcoef"] = best_rates(
        lambda: torch.corrcoef(torch.stack([actual_t, expected_t])), args.numel, args.repetitions)

    print(f"numel {args.numel} per side, {2 * args.numel * 4 / GB:.3f} GB of input per call, "
          f"best of {args.repetitions}, one thread")
    print(f"  {'':34s} {'wall GB/s':>10s} {'CPU GB/s':>10s}")
    for name, (wall, cpu) in results.items():
        print(f"  {name:34s} {wall:10.3f} {cpu:10.3f}")
    ours = results.get("BM_ComputeMetricsFusedPass")
    if ours:
        print("ratios of the fused pass:")
        for name in ["BM_MemoryRead", "numpy.corrcoef", "torch.corrcoef"]:
            if name in results:
                theirs = results[name]
                print(f"  ours / {name:28s} {ours[0] / theirs[0]:8.2f} {ours[1] / theirs[1]:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

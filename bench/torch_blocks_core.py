#!/usr/bin/python3
"""The math of bench/norm_bench.cc, bench/ffn_bench.cc and bench/lm_head_bench.cc in PyTorch on
the CPU, for docs/PERFORMANCE.md ("Blocks: norms, FFN, LM head").

Llama-3.1-8B shapes: hidden 4096, SwiGLU ffn 14336, vocab 128256 (untied LM head); prefill of
128 tokens, decode of 1 and 32 users. Weights are [in, out] as in the C++ blocks:
  rms_norm:   x * rsqrt(mean(x^2) + eps) * w
  layer_norm: torch.nn.functional.layer_norm with weight and bias
  gated_mlp:  (silu(x @ w_gate) * (x @ w_up)) @ w_down
  lm_head:    x @ w   (w [4096, 128256], 2.1 GB in float32)
PyTorch computes in the dtype of its tensors; the C++ device path emulates bfloat16/bfloat8_b
numerics over float32 GEMMs, so float32 is the like-for-like baseline (--dtype bfloat16 is there
for reference).

Run with the thread count given to the C++ benchmarks (TTT_BENCH_THREADS):
  /usr/bin/python3 bench/torch_blocks_core.py --threads 2 [--dtype float32|bfloat16] [--repeats 5]
  [--norms-only | --skip-lm-head]
"""
import argparse
import statistics
import time

import torch

HIDDEN, FFN, VOCAB = 4096, 14336, 128256


def timed(function, repeats):
    """Best wall and best process-CPU time in milliseconds over `repeats` runs after a warm-up.

    On a shared machine noise only slows a run down, so the best run is the estimate; CPU time
    leaves out the time other processes held the core (it sums all threads, so compare it with
    wall time only for one thread)."""
    function()
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        function()
        wall.append((time.perf_counter() - wall_start) * 1e3)
        cpu.append((time.process_time() - cpu_start) * 1e3)
    return min(wall), min(cpu), statistics.median(wall)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-lm-head", action="store_true", help="skip the 2.1 GB LM head")
    parser.add_argument("--norms-only", action="store_true", help="time RMSNorm and LayerNorm only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    g = torch.Generator().manual_seed(0)

    def normal(*shape, std=1.0):
        return (torch.randn(*shape, generator=g) * std).to(dtype)

    rows_cases = [("decode", 1), ("decode", 32), ("prefill", 128)]
    results = []
    with torch.inference_mode():
        norm_w = normal(HIDDEN, std=0.1) + 1
        norm_b = normal(HIDDEN, std=0.1)
        for mode, rows in rows_cases:
            x = normal(rows, HIDDEN)
            rms = lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm_w
            results.append(("rms_norm", mode, rows, *timed(rms, args.repeats * 20)))
            ln = lambda: torch.nn.functional.layer_norm(x, (HIDDEN,), norm_w, norm_b, 1e-5)
            results.append(("layer_norm", mode, rows, *timed(ln, args.repeats * 20)))

        if not args.norms_only:
            w_gate = normal(HIDDEN, FFN, std=1 / 64)
            w_up = normal(HIDDEN, FFN, std=1 / 64)
            w_down = normal(FFN, HIDDEN, std=1 / 119.7)
            for mode, rows in rows_cases:
                x = normal(rows, HIDDEN)
                mlp = lambda: (torch.nn.functional.silu(x @ w_gate) * (x @ w_up)) @ w_down
                results.append(("gated_mlp", mode, rows, *timed(mlp, args.repeats)))
            del w_gate, w_up, w_down

        if not (args.skip_lm_head or args.norms_only):
            w_head = normal(HIDDEN, VOCAB, std=1 / 64)
            for mode, rows in rows_cases:
                x = normal(rows, HIDDEN)
                results.append(("lm_head", mode, rows, *timed(lambda: x @ w_head, args.repeats)))

    print(f"# torch {torch.__version__}, {args.threads} threads, {args.dtype}")
    print("| block | mode | rows | best wall ms | best CPU ms | median wall ms |")
    print("|---|---|---|---|---|---|")
    for block, mode, rows, wall, cpu, median in results:
        print(f"| {block} | {mode} | {rows} | {wall:.3f} | {cpu:.3f} | {median:.3f} |")


if __name__ == "__main__":
    main()

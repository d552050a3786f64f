#!/usr/bin/python3
"""The attention math of bench/attention_bench.cc in PyTorch on the CPU, for docs/PERFORMANCE.md.

Llama-3.1-8B shapes: hidden 4096, 32 query heads, 8 KV heads, head_dim 128, llama3 RoPE.
  prefill: 128 tokens, causal, keys/values written to a cache of 1024 positions;
  decode:  batch 1 and 32, every user at position 1023 of a 1024-position cache.
The same steps as the C++ block: fused QKV matmul, rotate-half RoPE from precomputed cos/sin
tables, cache write, grouped-query scores (queries of a group read their KV head without
repeat_kv copies), float32 softmax, P.V, output projection. Weights are [in, out].

Run with the thread count given to the C++ benchmark (TTT_BENCH_THREADS):
  /usr/bin/python3 bench/torch_attention.py --threads 2 [--dtype float32|bfloat16]
"""
import argparse
import math
import os
import statistics
import sys
import time


def _threads_from_argv():
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "2"


# Debian's torch does its float32 matmuls in the same OpenBLAS as the C++ block; its thread count
# is read when the library loads, so it is set before torch is imported.
os.environ["OPENBLAS_NUM_THREADS"] = _threads_from_argv()

import torch  # noqa: E402

HIDDEN, HEADS, KV_HEADS, HEAD_DIM = 4096, 32, 8, 128
GROUP = HEADS // KV_HEADS
CACHE = 1024


def llama3_inv_freq():
    inv = 1.0 / (500000.0 ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float64) / HEAD_DIM))
    factor, low, high, old = 8.0, 1.0, 4.0, 8192
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > old / low, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) & ~(wavelen > old / low)
    return torch.where(medium, smoothed, scaled).float()


class Attention:
    def __init__(self, dtype):
        g = torch.Generator().manual_seed(0)
        std = 1.0 / 64.0
        self.wqkv = (torch.randn(HIDDEN, (HEADS + 2 * KV_HEADS) * HEAD_DIM, generator=g) * std).to(dtype)
        self.wo = (torch.randn(HEADS * HEAD_DIM, HIDDEN, generator=g) * std).to(dtype)
        angles = torch.arange(8192, dtype=torch.float32)[:, None] * llama3_inv_freq()[None, :]
        self.cos = angles.cos().to(dtype)
        self.sin = angles.sin().to(dtype)
        self.scale = 1.0 / math.sqrt(HEAD_DIM)
        self.dtype = dtype

    def rope(self, x, positions):  # x [tokens, heads, HEAD_DIM]
        cos = self.cos[positions][:, None, :]
        sin = self.sin[positions][:, None, :]
        first, second = x[..., : HEAD_DIM // 2], x[..., HEAD_DIM // 2:]
        return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)

    def qkv(self, x, positions):
        qkv = x @ self.wqkv
        q = qkv[:, : HEADS * HEAD_DIM].view(-1, HEADS, HEAD_DIM)
        k = qkv[:, HEADS * HEAD_DIM: (HEADS + KV_HEADS) * HEAD_DIM].view(-1, KV_HEADS, HEAD_DIM)
        v = qkv[:, (HEADS + KV_HEADS) * HEAD_DIM:].view(-1, KV_HEADS, HEAD_DIM)
        return self.rope(q, positions), self.rope(k, positions), v

    def prefill(self, x, k_cache, v_cache):  # x [seq, HIDDEN]; caches [1, KV, CACHE, D]
        seq = x.shape[0]
        q, k, v = self.qkv(x, torch.arange(seq))
        k_cache[0, :, :seq] = k.transpose(0, 1)
        v_cache[0, :, :seq] = v.transpose(0, 1)
        q = q.view(seq, KV_HEADS, GROUP, HEAD_DIM).permute(1, 2, 0, 3)  # [KV, G, seq, D]
        keys = k.transpose(0, 1)[:, None]  # [KV, 1, seq, D]
        values = v.transpose(0, 1)[:, None]
        scores = (q @ keys.transpose(-1, -2)).float() * self.scale
        mask = torch.ones(seq, seq, dtype=torch.bool).triu(1)
        probs = scores.masked_fill(mask, float("-inf")).softmax(dim=-1).to(self.dtype)
        out = (probs @ values).permute(2, 0, 1, 3).reshape(seq, HEADS * HEAD_DIM)
        return out @ self.wo

    def decode(self, x, positions, k_cache, v_cache):  # x [batch, HIDDEN]
        batch = x.shape[0]
        q, k, v = self.qkv(x, positions)
        users = torch.arange(batch)
        k_cache[users, :, positions] = k
        v_cache[users, :, positions] = v
        length = int(positions.max()) + 1
        q = q.view(batch, KV_HEADS, GROUP, HEAD_DIM)
        scores = (q @ k_cache[:, :, :length].transpose(-1, -2)).float() * self.scale
        visible = torch.arange(length)[None, :] <= positions[:, None]  # [batch, length]
        scores = scores.masked_fill(~visible[:, None, None, :], float("-inf"))
        probs = scores.softmax(dim=-1).to(self.dtype)
        out = (probs @ v_cache[:, :, :length]).reshape(batch, HEADS * HEAD_DIM)
        return out @ self.wo


def timed(function, repetitions):
    """Best and median wall time and best process CPU time (all threads) over the repetitions."""
    function()  # Warm-up.
    wall, cpu = [], []
    for _ in range(repetitions):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), statistics.median(wall), min(cpu)


def report(name, tokens, figures):
    best, median, cpu = figures
    print(f"{name:<12s} wall best {best * 1e3:8.2f} ms  median {median * 1e3:8.2f} ms  "
          f"cpu best {cpu * 1e3:8.2f} ms  {tokens / best:8.1f} tokens/s (wall)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    block = Attention(dtype)
    g = torch.Generator().manual_seed(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.dtype}")
    with torch.no_grad():
        k_cache = torch.zeros(1, KV_HEADS, CACHE, HEAD_DIM, dtype=dtype)
        v_cache = torch.zeros_like(k_cache)
        x = torch.randn(128, HIDDEN, generator=g).to(dtype)
        report("prefill/128", 128, timed(lambda: block.prefill(x, k_cache, v_cache),
                                          args.repetitions))
        for batch in (1, 32):
            k_cache = torch.randn(batch, KV_HEADS, CACHE, HEAD_DIM, generator=g).to(dtype)
            v_cache = torch.randn(batch, KV_HEADS, CACHE, HEAD_DIM, generator=g).to(dtype)
            x = torch.randn(batch, HIDDEN, generator=g).to(dtype)
            positions = torch.full((batch,), CACHE - 1, dtype=torch.int64)
            report(f"decode/{batch}", batch,
                   timed(lambda: block.decode(x, positions, k_cache, v_cache), args.repetitions))


if __name__ == "__main__":
    main()

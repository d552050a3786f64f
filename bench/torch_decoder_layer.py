#!/usr/bin/python3
"""The decoder layer of bench/decoder_layer_bench.cc in PyTorch on the CPU: the same math at the
same Llama-3.1-8B shapes (RMSNorm, GQA attention with llama3-scaled RoPE, SwiGLU, residual sums),
float32 weights and activations, on the same number of threads.

    /usr/bin/python3 bench/torch_decoder_layer.py [--threads 2] [--repetitions 10]

Prints one line per case with the median wall time (and min/max) and the median process CPU time
(every thread) in milliseconds; docs/PERFORMANCE.md
"Decoder layer" records them beside the C++ benchmark. Also measures a streaming read of 1 GiB
(torch.sum) for the weight-bandwidth roofline.
"""
import argparse
import math
import statistics
import time

import torch

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN = 4096, 32, 8, 128, 14336
PREFILL = 128
THETA = 500000.0


def llama3_inverse_frequencies():
    """Hugging Face's _compute_llama3_parameters with factor 8, low 1, high 4, original 8192."""
    factor, low_freq_factor, high_freq_factor, original = 8.0, 1.0, 4.0, 8192
    inv_freq = 1.0 / (THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float64) / HEAD_DIM))
    low_freq_wavelen = original / low_freq_factor
    high_freq_wavelen = original / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (original / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return torch.where(medium, smoothed, scaled).float()


class Layer:
    def __init__(self, generator):
        def matrix(rows, cols):
            return torch.randn(rows, cols, generator=generator) * 0.02

        self.attention_norm = 1 + 0.02 * torch.randn(HIDDEN, generator=generator)
        self.wqkv = matrix(HIDDEN, (HEADS + 2 * KV_HEADS) * HEAD_DIM)
        self.wo = matrix(HEADS * HEAD_DIM, HIDDEN)
        self.ffn_norm = 1 + 0.02 * torch.randn(HIDDEN, generator=generator)
        self.w_gate = matrix(HIDDEN, FFN)
        self.w_up = matrix(HIDDEN, FFN)
        self.w_down = matrix(FFN, HIDDEN)
        self.inv_freq = llama3_inverse_frequencies()

    @staticmethod
    def rms_norm(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * weight

    def rope(self, x, positions):
        """x [batch, heads, seq, head_dim], positions [batch, seq]: rotate half."""
        angles = positions[..., None].float() * self.inv_freq
        cos = torch.cat([angles.cos(), angles.cos()], -1)[:, None]
        sin = torch.cat([angles.sin(), angles.sin()], -1)[:, None]
        half = HEAD_DIM // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rotated * sin

    def attention(self, x, positions, k_cache, v_cache):
        batch, seq, _ = x.shape
        qkv = x @ self.wqkv
        q, k, v = qkv.split([HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM], -1)
        q = self.rope(q.view(batch, seq, HEADS, HEAD_DIM).transpose(1, 2), positions)
        k = self.rope(k.view(batch, seq, KV_HEADS, HEAD_DIM).transpose(1, 2), positions)
        v = v.view(batch, seq, KV_HEADS, HEAD_DIM).transpose(1, 2)
        start = int(positions[0, 0])
        k_cache[:batch, :, start:start + seq] = k
        v_cache[:batch, :, start:start + seq] = v
        keys = k_cache[:batch, :, :start + seq].repeat_interleave(HEADS // KV_HEADS, 1)
        values = v_cache[:batch, :, :start + seq].repeat_interleave(HEADS // KV_HEADS, 1)
        scores = (q @ keys.transpose(-1, -2)) / math.sqrt(HEAD_DIM)
        if seq > 1:  # Causal: query i (at position start + i) sees keys 0..start + i.
            mask = torch.ones(seq, start + seq, dtype=torch.bool).tril(start)
            scores = scores.masked_fill(~mask, float("-inf"))
        out = torch.softmax(scores, -1) @ values
        return out.transpose(1, 2).reshape(batch, seq, HEADS * HEAD_DIM) @ self.wo

    def forward(self, x, positions, k_cache, v_cache):
        h = x + self.attention(self.rms_norm(x, self.attention_norm), positions, k_cache, v_cache)
        f = self.rms_norm(h, self.ffn_norm)
        return h + (torch.nn.functional.silu(f @ self.w_gate) * (f @ self.w_up)) @ self.w_down


def timed(function, repetitions):
    """Median, min and max wall time, and median process CPU time (all threads), in ms."""
    function()  # Warm-up.
    times, cpu = [], []
    for _ in range(repetitions):
        start, cpu_start = time.perf_counter(), time.process_time()
        function()
        times.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - cpu_start) * 1e3)
    return statistics.median(times), min(times), max(times), statistics.median(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    layer = Layer(generator)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32")

    with torch.inference_mode():
        k_cache = torch.randn(32, KV_HEADS, PREFILL, HEAD_DIM, generator=generator)
        v_cache = torch.randn(32, KV_HEADS, PREFILL, HEAD_DIM, generator=generator)
        x = torch.randn(1, PREFILL, HIDDEN, generator=generator)
        positions = torch.arange(PREFILL)[None]
        median, low, high, cpu = timed(lambda: layer.forward(x, positions, k_cache, v_cache),
                                       args.repetitions)
        print(f"prefill {PREFILL}: median {median:.1f} ms (min {low:.1f}, max {high:.1f}), "
              f"process CPU {cpu:.1f} ms, {PREFILL / median * 1e3:.0f} tokens/s")
        for batch in (1, 32):
            step = torch.randn(batch, 1, HIDDEN, generator=generator)
            at = torch.full((batch, 1), PREFILL - 1)
            median, low, high, cpu = timed(lambda: layer.forward(step, at, k_cache, v_cache),
                                           args.repetitions)
            print(f"decode batch {batch}: median {median:.1f} ms (min {low:.1f}, max {high:.1f}), "
                  f"process CPU {cpu:.1f} ms, {batch / median * 1e3:.1f} tokens/s")
        data = torch.ones(1 << 28)
        median, low, _, _ = timed(lambda: data.sum(), args.repetitions)
        print(f"streaming read 1 GiB: median {median:.1f} ms (min {low:.1f}), "
              f"{4.0 * (1 << 28) / low / 1e6:.2f} GB/s at best")


if __name__ == "__main__":
    main()

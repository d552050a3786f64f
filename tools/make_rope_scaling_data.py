#!/usr/bin/python3
"""Writes tests/data/rope/rope_scalings.json: RoPE inverse frequencies, attention factors and
rotated vectors computed the way Hugging Face transformers computes them, for the C++ rope tests.

The functions below transcribe transformers' modeling_rope_utils (_compute_default_rope_parameters,
_compute_linear_scaling_rope_parameters, _compute_llama3_parameters, _compute_yarn_parameters,
_compute_longrope_parameters) and LlamaRotaryEmbedding/apply_rotary_pos_emb (rotate_half), with
every tensor in float64 so the C++ float64 reference can be checked to ~1e-12. The C++ code is not
consulted: this is the independent side of the test.

Run (Debian python3-torch, python3-numpy):
  /usr/bin/python3 tools/make_rope_scaling_data.py            # rewrites the JSON file
"""
import json
import math
import os

import numpy as np
import torch

DT = torch.float64


def default_inv_freq(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(DT) / dim))


def linear(cfg):
    return default_inv_freq(cfg["theta"], cfg["dim"]) / cfg["factor"], 1.0


def llama3(cfg):
    inv_freq = default_inv_freq(cfg["theta"], cfg["dim"])
    factor = cfg["factor"]
    low_freq_factor = cfg["low_freq_factor"]
    high_freq_factor = cfg["high_freq_factor"]
    old_context_len = cfg["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama), 1.0


def yarn(cfg):
    base = cfg["theta"]
    dim = cfg["dim"]
    factor = cfg["factor"]
    attention_factor = cfg.get("attention_factor")
    mscale = cfg.get("mscale")
    mscale_all_dim = cfg.get("mscale_all_dim")
    original_max_position_embeddings = (
        cfg.get("original_max_position_embeddings") or cfg["max_position_embeddings"])

    def get_mscale(scale, mscale=1):
        if scale <= 1:
            return 1.0
        return 0.1 * mscale * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
        else:
            attention_factor = get_mscale(factor)
    beta_fast = cfg.get("beta_fast") or 32
    beta_slow = cfg.get("beta_slow") or 1

    def find_correction_dim(num_rotations, dim, base, max_position_embeddings):
        return (dim * math.log(max_position_embeddings / (num_rotations * 2 * math.pi))) / (2 * math.log(base))

    def find_correction_range(low_rot, high_rot, dim, base, max_position_embeddings, truncate):
        low = find_correction_dim(low_rot, dim, base, max_position_embeddings)
        high = find_correction_dim(high_rot, dim, base, max_position_embeddings)
        if truncate:
            low = math.floor(low)
            high = math.ceil(high)
        return max(low, 0), min(high, dim - 1)

    def linear_ramp_factor(min, max, dim):
        if min == max:
            max += 0.001
        linear_func = (torch.arange(dim, dtype=DT) - min) / (max - min)
        return torch.clamp(linear_func, 0, 1)

    pos_freqs = base ** (torch.arange(0, dim, 2).to(DT) / dim)
    inv_freq_extrapolation = 1.0 / pos_freqs
    inv_freq_interpolation = 1.0 / (factor * pos_freqs)
    truncate = cfg.get("truncate", True)
    low, high = find_correction_range(beta_fast, beta_slow, dim, base,
                                      original_max_position_embeddings, truncate)
    inv_freq_extrapolation_factor = 1 - linear_ramp_factor(low, high, dim // 2)
    inv_freq = (inv_freq_interpolation * (1 - inv_freq_extrapolation_factor)
                + inv_freq_extrapolation * inv_freq_extrapolation_factor)
    return inv_freq, attention_factor


def longrope(cfg, seq_len):
    base = cfg["theta"]
    dim = cfg["dim"]
    long_factor = cfg["long_factor"]
    short_factor = cfg["short_factor"]
    factor = cfg.get("factor")
    attention_factor = cfg.get("attention_factor")
    if cfg.get("original_max_position_embeddings"):
        original_max_position_embeddings = cfg["original_max_position_embeddings"]
        factor = cfg["max_position_embeddings"] / original_max_position_embeddings
    else:
        original_max_position_embeddings = cfg["max_position_embeddings"]
    if attention_factor is None:
        if factor <= 1.0:
            attention_factor = 1.0
        else:
            attention_factor = math.sqrt(1 + math.log(factor) / math.log(original_max_position_embeddings))
    if seq_len and seq_len > original_max_position_embeddings:
        ext_factors = torch.tensor(long_factor, dtype=DT)
    else:
        ext_factors = torch.tensor(short_factor, dtype=DT)
    inv_freq_shape = torch.arange(0, dim, 2, dtype=torch.int64).to(DT) / dim
    return 1.0 / (ext_factors * base ** inv_freq_shape), attention_factor


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, positions, inv_freq, attention_factor, rotary_dim):
    """x [tokens, heads, head_dim]; LlamaRotaryEmbedding + apply_rotary_pos_emb (partial as
    GPT-NeoX/Phi: the first rotary_dim values rotate, the rest pass through)."""
    freqs = positions.to(DT)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos = (emb.cos() * attention_factor)[:, None, :]
    sin = (emb.sin() * attention_factor)[:, None, :]
    x_rot, x_pass = x[..., :rotary_dim], x[..., rotary_dim:]
    out = x_rot * cos + rotate_half(x_rot) * sin
    return torch.cat((out, x_pass), dim=-1)


def main():
    rng = np.random.default_rng(20240605)
    # Phi-3-style longrope factor lists (synthetic values of the published shape: short near 1,
    # long growing to ~50): the formula, not the checkpoint, is under test.
    short_factor = [round(1.0 + 0.02 * i + 0.01 * math.sin(i), 6) for i in range(48)]
    long_factor = [round(1.0 + 1.05 ** i, 6) for i in range(48)]
    cases = [
        {"name": "default_llama2", "scaling": "default", "theta": 10000.0, "head_dim": 128, "dim": 128},
        {"name": "partial_neox", "scaling": "default", "theta": 10000.0, "head_dim": 128, "dim": 32},
        {"name": "linear_x4", "scaling": "linear", "theta": 10000.0, "head_dim": 128, "dim": 128,
         "factor": 4.0},
        {"name": "llama3_1_8b", "scaling": "llama3", "theta": 500000.0, "head_dim": 128, "dim": 128,
         "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 8192, "max_position_embeddings": 131072},
        {"name": "llama3_2_1b", "scaling": "llama3", "theta": 500000.0, "head_dim": 64, "dim": 64,
         "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 8192, "max_position_embeddings": 131072},
        {"name": "yarn_qwen2_5", "scaling": "yarn", "theta": 1000000.0, "head_dim": 128, "dim": 128,
         "factor": 4.0, "original_max_position_embeddings": 32768, "max_position_embeddings": 131072},
        {"name": "yarn_deepseek_v3", "scaling": "yarn", "theta": 10000.0, "head_dim": 64, "dim": 64,
         "factor": 40.0, "mscale": 1.0, "mscale_all_dim": 1.0, "beta_fast": 32.0, "beta_slow": 1.0,
         "original_max_position_embeddings": 4096, "max_position_embeddings": 163840},
        {"name": "yarn_untruncated", "scaling": "yarn", "theta": 150000.0, "head_dim": 64, "dim": 64,
         "factor": 32.0, "truncate": False, "original_max_position_embeddings": 4096,
         "max_position_embeddings": 131072},
        {"name": "longrope_phi3_short", "scaling": "longrope", "theta": 10000.0, "head_dim": 96,
         "dim": 96, "short_factor": short_factor, "long_factor": long_factor,
         "original_max_position_embeddings": 4096, "max_position_embeddings": 131072,
         "positions": [0, 1, 17, 4095]},
        {"name": "longrope_phi3_long", "scaling": "longrope", "theta": 10000.0, "head_dim": 96,
         "dim": 96, "short_factor": short_factor, "long_factor": long_factor,
         "original_max_position_embeddings": 4096, "max_position_embeddings": 131072,
         "positions": [0, 5, 4096, 9000]},
    ]
    out = []
    for case in cases:
        positions = case.get("positions", [1, 7, 1000, 8191])
        scaling = case["scaling"]
        if scaling == "default":
            inv_freq, attention_factor = default_inv_freq(case["theta"], case["dim"]), 1.0
        elif scaling == "linear":
            inv_freq, attention_factor = linear(case)
        elif scaling == "llama3":
            inv_freq, attention_factor = llama3(case)
        elif scaling == "yarn":
            inv_freq, attention_factor = yarn(case)
        else:
            inv_freq, attention_factor = longrope(case, max(positions) + 1)
        heads = 1
        x = rng.standard_normal((len(positions), heads, case["head_dim"])).astype(np.float32)
        rotated = apply_rope(torch.from_numpy(x).to(DT), torch.tensor(positions), inv_freq,
                             attention_factor, case["dim"])
        record = dict(case)
        record.update({
            "positions": positions,
            "inv_freq": inv_freq.tolist(),
            "attention_factor": attention_factor,
            "x": [float(f"{v:.9g}") for v in x.reshape(-1).tolist()],
            "x_shape": list(x.shape),
            "rotated": rotated.reshape(-1).tolist(),
        })
        out.append(record)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "rope",
                        "rope_scalings.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"generator": "tools/make_rope_scaling_data.py", "torch": torch.__version__,
                   "cases": out}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()

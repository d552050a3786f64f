#!/usr/bin/python3
"""Expected values of the hand-checked device cases (tests/blocks/*/hand_checked_test.cc).

An independent float64 transcription of each block's formula in numpy, sharing nothing with the
C++ blocks or their references. Inputs are the tests' `pattern` tensors (the same formula,
written again below): value i of a tensor is ((a * i + b) % m - m // 2) / d, small dyadic
numbers that every format the tests use holds exactly. Run it and paste a case's printed list
into its test when a case changes:

    /usr/bin/python3 tools/hand_checked_values.py            # every case
    /usr/bin/python3 tools/hand_checked_values.py attention  # the cases whose name starts so

docs/testing.md "Hand-checked device cases" lists the cases and the faults each one catches.
"""
import math
import sys

import numpy as np


def pattern(shape, a, b, m, d):
    n = int(np.prod(shape))
    return np.array([((a * i + b) % m - m // 2) / d for i in range(n)], dtype=np.float64).reshape(shape)


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def layer_norm(x, w, b, eps):
    mean = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mean) ** 2, axis=-1, keepdims=True)  # biased, as torch.nn.LayerNorm
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def gated_mlp(x, wg, wu, wd):
    return (silu(x @ wg) * (x @ wu)) @ wd


def rope(x, positions, inv_freq, rotary_dim, attention_factor=1.0):
    """x [tokens, heads, head_dim], rotate-half over the first rotary_dim values."""
    out = x.copy()
    h = rotary_dim // 2
    for t, p in enumerate(positions):
        angle = p * inv_freq
        c, s = np.cos(angle) * attention_factor, np.sin(angle) * attention_factor
        first, second = x[t, :, :h], x[t, :, h:rotary_dim]
        out[t, :, :h] = first * c - second * s
        out[t, :, h:rotary_dim] = second * c + first * s
    return out


def softmax(s):
    e = np.exp(s - s.max())
    return e / e.sum()


def show(name, values, note=""):
    flat = np.asarray(values, dtype=np.float64).ravel()
    print(f"// {name}{(' ' + note) if note else ''}")
    print("{" + ", ".join(f"{v:.9g}" for v in flat) + "}")


def normalization():
    w = np.array([0.5, 1.0, 1.5, 2.0])
    x = np.array([[2**-8, -(2**-8), 2**-8, -(2**-8)], [1.0, -2.0, 3.0, -4.0]])
    show("normalization.rms_norm eps=1e-5", rms_norm(x, w, 1e-5))
    show("normalization.rms_norm fault: eps after sqrt", x / (np.sqrt(np.mean(x * x, -1, keepdims=True)) + 1e-5) * w)
    ln_x = np.array([[17.0, 18.0, 19.0, 20.0], [0.0, 2**-8, 0.0, 2**-8]])
    ln_b = np.array([0.25, -0.25, 0.5, -0.5])
    show("normalization.layer_norm eps=1e-5", layer_norm(ln_x, w, ln_b, 1e-5))


def ffn():
    # mlp: hidden 2, ffn 32 (whole tiles), gelu (erf), biases.
    x = pattern((2, 2), 3, 1, 7, 4)
    w_up, b_up = pattern((2, 32), 5, 2, 9, 4), pattern((32,), 1, 0, 5, 8)
    w_down, b_down = pattern((32, 2), 2, 1, 7, 32), pattern((2,), 3, 1, 5, 8)
    show("ffn.mlp x", x)
    show("ffn.mlp gelu", gelu(x @ w_up + b_up) @ w_down + b_down)
    show("ffn.mlp fault: b_up after the activation", (gelu(x @ w_up) + b_up) @ w_down + b_down)
    # gated MLP (also the tensor-parallel kinds): hidden 4, ffn 64, silu.
    gx = pattern((2, 4), 3, 1, 7, 4)
    wg, wu, wd = pattern((4, 64), 5, 2, 9, 8), pattern((4, 64), 7, 3, 11, 8), pattern((64, 4), 3, 2, 7, 16)
    show("ffn.gated_mlp", gated_mlp(gx, wg, wu, wd))
    show("ffn.gated_mlp fault: activation on up", ((gx @ wg) * silu(gx @ wu)) @ wd)
    # moe: hidden 2, ffn 32, 4 experts, top 2. The router is written out in the test.
    mx = np.array([[1.0, 0.0], [0.0, 1.0]])
    router = np.array([[0.0, math.log(3.0), -1.0, -2.0], [0.5, 0.5, 0.5, -3.0]])
    experts = [(pattern((2, 32), 3, e, 7, 4), pattern((2, 32), 5, e + 1, 9, 4),
                pattern((32, 2), 2, e + 2, 7, 32)) for e in range(4)]
    out = np.zeros((2, 2))
    for t in range(2):
        logits = mx[t] @ router
        top = sorted(range(4), key=lambda e: (-logits[e], e))[:2]  # ties: the lower index
        weights = softmax(logits[top])
        for e, wgt in zip(top, weights):
            out[t] += wgt * gated_mlp(mx[t:t + 1], *experts[e])[0]
        print(f"// moe token {t}: experts {top}, weights {weights}")
    show("ffn.moe", out)
    bad = np.zeros((2, 2))
    for t in range(2):
        logits = mx[t] @ router
        top = sorted(range(4), key=lambda e: (-logits[e], e))[:2]
        weights = softmax(logits)[top]  # fault: no renormalisation over the selected experts
        for e, wgt in zip(top, weights):
            bad[t] += wgt * gated_mlp(mx[t:t + 1], *experts[e])[0]
    show("ffn.moe fault: softmax over all logits", bad)


def lm_head():
    # untied, softcap 2: logits [3, -1, 0.5, 40] for x = [1, -0.5].
    logits = np.array([3.0, -1.0, 0.5, 40.0])
    show("lm_head.softcap cap=2", 2.0 * np.tanh(logits / 2.0))
    # tensor-parallel: hidden 2, vocab 64, softcap 2.
    x = pattern((2, 2), 3, 1, 7, 4)
    w = pattern((2, 64), 5, 1, 13, 2)
    show("lm_head.tp_lm_head", 2.0 * np.tanh((x @ w) / 2.0))


def embeddings():
    # sinusoidal, hidden 4, base 10000: w_i = 10000^(-2i/4) = [1, 0.01], interleaved sin/cos.
    tok = pattern((3, 4), 3, 1, 7, 4)
    rows = []
    for token, p in [(2, 3), (0, 5)]:
        w = np.array([1.0, 0.01])
        pe = np.empty(4)
        pe[0::2], pe[1::2] = np.sin(p * w), np.cos(p * w)
        rows.append(tok[token] + pe)
    show("embeddings.sinusoidal decode ids [2, 0] positions [3, 5]", np.array(rows))


def rope_cases():
    x = pattern((2, 1, 4), 3, 1, 9, 4)
    show("rope.x", x)
    inv = 10000.0 ** (-np.arange(0, 4, 2) / 4.0)  # [1, 0.01]
    show("rope.default positions [3, 7]", rope(x, [3, 7], inv, 4))
    x6 = pattern((1, 2, 6), 5, 2, 9, 4)
    inv4 = 10000.0 ** (-np.arange(0, 4, 2) / 4.0)
    show("rope.partial rotary 4 of 6, position 5", rope(x6, [5], inv4, 4))
    show("rope.linear factor 4, positions [12, 30]", rope(x, [12, 30], inv / 4.0, 4))


def attention():
    # prefill: hidden 4, 2 heads of 2 (MHA), no positions, qkv and output bias, scale 1/sqrt(8),
    # softcap 0.5, sliding window 2, 4 tokens.
    x = pattern((4, 4), 3, 1, 7, 4)
    wq, wk, wv, wo = (pattern((4, 4), a, b, 9, 4) for a, b in [(5, 1), (7, 2), (2, 3), (4, 1)])
    bq, bk, bv, bo = (pattern((4,), a, b, 5, 8) for a, b in [(1, 0), (2, 1), (3, 2), (1, 3)])
    q, k, v = x @ wq + bq, x @ wk + bk, x @ wv + bv

    def prefill(scale, cap, window):
        out = np.zeros((4, 4))
        for h in range(2):
            qh, kh, vh = q[:, 2 * h:2 * h + 2], k[:, 2 * h:2 * h + 2], v[:, 2 * h:2 * h + 2]
            for i in range(4):
                s = (kh @ qh[i]) * scale
                s = cap * np.tanh(s / cap)
                mask = np.array([j > i or j <= i - window for j in range(4)])
                s[mask] = -np.inf
                out[i, 2 * h:2 * h + 2] = softmax(s) @ vh
        return out @ wo + bo

    show("attention.prefill", prefill(1 / math.sqrt(8), 0.5, 2))
    show("attention.prefill fault: scale 1/sqrt(head_dim)", prefill(1 / math.sqrt(2), 0.5, 2))
    show("attention.prefill fault: window admits i - window", prefill(1 / math.sqrt(8), 0.5, 3))
    show("attention.prefill fault: softcap skipped", prefill(1 / math.sqrt(8), 1e9, 2))

    # decode: hidden 4, 4 heads of 2, 2 KV heads (GQA), RoPE theta 10000 (inv_freq [1]), qk_norm
    # eps 1e-6; 2 users at positions [1, 3] of a cache of 4 positions (user 1 fills it).
    dx = pattern((2, 4), 5, 2, 7, 4)
    dq, dk, dv, do = pattern((4, 8), 5, 1, 9, 4), pattern((4, 4), 7, 2, 9, 4), pattern((4, 4), 2, 3, 9, 4), pattern((8, 4), 4, 1, 9, 4)
    qn, kn = np.array([1.5, 0.5]), np.array([0.75, 1.25])
    kc, vc = pattern((2, 2, 4, 2), 3, 1, 11, 8), pattern((2, 2, 4, 2), 5, 3, 11, 8)
    positions = [1, 3]
    out = np.zeros((2, 8))
    for b, p in enumerate(positions):
        qb = (dx[b] @ dq).reshape(4, 2)
        kb = (dx[b] @ dk).reshape(2, 2)
        vb = (dx[b] @ dv).reshape(2, 2)
        qb, kb = rms_norm(qb, qn, 1e-6), rms_norm(kb, kn, 1e-6)
        qb = rope(qb[None], [p], np.array([1.0]), 2)[0]
        kb = rope(kb[None], [p], np.array([1.0]), 2)[0]
        keys, values = kc[b].copy(), vc[b].copy()
        keys[:, p], values[:, p] = kb, vb
        for h in range(4):
            g = h // 2
            s = keys[g, :p + 1] @ qb[h] / math.sqrt(2.0)
            out[b, 2 * h:2 * h + 2] = softmax(s) @ values[g, :p + 1]
    show("attention.decode", out @ do)


def ccl():
    # reduce_scatter / all_reduce on 1x4, bfloat16 partial sums, ring: worked by hand in the test.
    x = np.array([[2**-8, -(2**-8), 2**-8, -(2**-8)], [1.0, -2.0, 3.0, -4.0]])
    show("ccl.distributed_rms_norm = normalization.rms_norm", rms_norm(x, np.array([0.5, 1.0, 1.5, 2.0]), 1e-5))


if __name__ == "__main__":
    prefix = sys.argv[1] if len(sys.argv) > 1 else ""
    for name, case in [("normalization", normalization), ("ffn", ffn), ("lm_head", lm_head),
                       ("embeddings", embeddings), ("rope", rope_cases), ("attention", attention),
                       ("ccl", ccl)]:
        if name.startswith(prefix):
            case()

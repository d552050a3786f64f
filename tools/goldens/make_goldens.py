#!/usr/bin/python3
"""Writes the PyTorch goldens: goldens/<model>.h5, one trace per model (docs/trace-format.md).

Every block kind registered for `ttt replay` (blocks/registration.h) is computed here by PyTorch in
float64, written independently of the C++ code: RMSNorm / LayerNorm, token embedding (Gemma's
sqrt(hidden) scale, GPT-2's learned positions), RoPE (Hugging Face's inverse frequencies and
rotate-half, tools/make_rope_scaling_data.py), causal attention prefill and decode against a KV
cache (explicit softmax, GQA by repeat_interleave as Hugging Face's repeat_kv, Gemma-2's logit
softcapping and query_pre_attn_scalar, sliding windows), MLP (GELU tanh, biases), gated MLP
(SwiGLU, GeGLU), Mixtral MoE (torch.topk, softmax over the selected logits) and the LM head
(tied embeddings, Gemma-2's final softcapping). Each call holds the block kind, its Spec and
ImplConfig JSON (TTTv1's default precision: bfloat8_b weights and KV cache, HiFi2 matmuls), its
inputs and PyTorch's output under reference/y.

Inputs and weights are drawn by tools/ttt_random.py, the numpy twin of the C++ generator, and
stored as generator nodes (ttt_generator, seed, shape, mean/std): the C++ reader regenerates the
same float32 values bit for bit, so a golden holds only seeds for its weights and a few kilobytes
of PyTorch outputs. Small integer inputs (token ids, positions) are stored as datasets; KV caches
are generator nodes in bfloat8_b (the twin's float32 values rounded by block_float() below, the
rounding of docs/formats.md).

Model configurations are the published ones (model_configs.md of the project's reference notes):
the hidden size, head_dim, the GQA ratio, rope theta and scaling, eps, activation, biases,
softcapping, sliding window and the embedding scale are real. To keep `ctest` to a few seconds
per model, three widths are reduced where the real ones would need gigabytes: the number of
attention heads (2 KV heads, the ratio kept), the ffn width and the vocabulary (GOLDEN_WIDTHS
below; goldens/README.md lists them). Sequences are short, except the KV caches of the
sliding-window models, which reach past the window. Mixtral's golden leaves out the embedding and
LM head, which are Mistral's.

Run with Debian's interpreter (python3-torch, python3-numpy, python3-h5py):
    /usr/bin/python3 tools/goldens/make_goldens.py goldens            # every model
    /usr/bin/python3 tools/goldens/make_goldens.py goldens gpt-2      # some models
"""

import argparse
import datetime
import json
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOOLS)
import ttt_random  # noqa: E402  (the numpy twin of validation/tensor/random.h)
import make_rope_scaling_data as hf_rope  # noqa: E402  (Hugging Face's RoPE formulas in torch)

DT = torch.float64
DEVICE = "N150"

# TTTv1's default precision, written out in each call's impl_config (the registry overlays it on
# default_impl_config(spec, N150, mode)): bfloat8_b weights with HiFi2; the MLP accumulates in
# bfloat16 (TTTv1's HIFI2_FP16), attention and the LM head in float32; the KV cache in bfloat8_b.
MATMUL_DEFAULT = {"weight_dtype": "bfloat8_b", "fidelity": "HiFi2"}
MLP_MATMUL_DEFAULT = dict(MATMUL_DEFAULT, accumulation="bf16")


# ------------------------------------------------------------------------------------------------
# Model configurations (published config.json values) and the golden widths.

def llama3_rope(theta, head_dim, factor):
    return {"head_dim": head_dim, "theta": theta, "max_position_embeddings": 131072,
            "scaling": "llama3", "factor": factor, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}


def default_rope(theta, head_dim, max_positions):
    return {"head_dim": head_dim, "theta": theta, "max_position_embeddings": max_positions,
            "scaling": "default"}


MODELS = {
    "llama-3.1-8b": dict(
        title="Llama-3.1-8B", hidden=4096, ffn=14336, heads=32, kv_heads=8, head_dim=128,
        vocab=128256, eps=1e-5, tie=False, norm="rms", ffn_kind="gated_mlp", activation="silu",
        rope=llama3_rope(500000.0, 128, 8.0), flash=True),
    "llama-3.2-1b": dict(
        title="Llama-3.2-1B", hidden=2048, ffn=8192, heads=32, kv_heads=8, head_dim=64,
        vocab=128256, eps=1e-5, tie=True, norm="rms", ffn_kind="gated_mlp", activation="silu",
        rope=llama3_rope(500000.0, 64, 32.0)),
    "mistral-7b": dict(
        title="Mistral-7B-v0.1", hidden=4096, ffn=14336, heads=32, kv_heads=8, head_dim=128,
        vocab=32000, eps=1e-5, tie=False, norm="rms", ffn_kind="gated_mlp", activation="silu",
        rope=default_rope(10000.0, 128, 32768), sliding_window=4096),
    "qwen2.5-7b": dict(
        title="Qwen2.5-7B", hidden=3584, ffn=18944, heads=28, kv_heads=4, head_dim=128,
        vocab=152064, eps=1e-6, tie=False, norm="rms", ffn_kind="gated_mlp", activation="silu",
        rope=default_rope(1000000.0, 128, 32768), qkv_bias=True,
        # Qwen2.5's documented long-context setting (rope_scaling yarn, factor 4, original 32768).
        yarn={"head_dim": 128, "theta": 1000000.0, "max_position_embeddings": 131072,
              "scaling": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}),
    "gemma-2-9b": dict(
        title="Gemma-2-9B", hidden=3584, ffn=14336, heads=16, kv_heads=8, head_dim=256,
        vocab=256000, eps=1e-6, tie=True, norm="rms_offset", ffn_kind="gated_mlp",
        activation="gelu_tanh", rope=default_rope(10000.0, 256, 8192), sliding_window=4096,
        query_pre_attn_scalar=256.0, attn_softcap=50.0, final_softcap=30.0,
        embedding_scale=math.sqrt(3584.0)),
    "mixtral-8x7b": dict(
        title="Mixtral-8x7B-v0.1", hidden=4096, ffn=14336, heads=32, kv_heads=8, head_dim=128,
        vocab=32000, eps=1e-5, tie=False, norm="rms", ffn_kind="moe", activation="silu",
        experts=8, top_k=2, rope=default_rope(1000000.0, 128, 32768)),
    "gpt-2": dict(
        title="GPT-2 (124M)", hidden=768, ffn=3072, heads=12, kv_heads=12, head_dim=64,
        vocab=50257, eps=1e-5, tie=True, norm="layer", ffn_kind="mlp", activation="gelu_tanh",
        rope=None, qkv_bias=True, output_bias=True, learned_positions=1024),
}

# Widths of the goldens where they differ from the model's: attention heads (kv_heads * ratio),
# the ffn width and the vocabulary. Everything else is the model's own.
GOLDEN_WIDTHS = {
    "llama-3.1-8b": dict(kv_heads=2, ffn=1024, vocab=1024),
    "llama-3.2-1b": dict(kv_heads=2, ffn=1024, vocab=1024),
    "mistral-7b": dict(kv_heads=2, ffn=1024, vocab=1024),
    "qwen2.5-7b": dict(kv_heads=2, ffn=1024, vocab=1024),
    "gemma-2-9b": dict(kv_heads=2, ffn=1024, vocab=1024),
    "mixtral-8x7b": dict(kv_heads=2, ffn=256, vocab=1024),
    "gpt-2": dict(vocab=1001),
}

PREFILL_TOKENS = 16  # Attention prefill: one user, positions 0..15.
ROWS = 8  # Norms, FFNs, LM head: tokens per call.
MOE_ROWS = 16  # MoE: enough tokens that most experts are chosen.
# Decode: two users, a short and a long context. With a sliding window the second user sits past
# the window (window + 54), so its oldest keys are masked; GPT-2's stays within its 1024 learned
# positions.
DECODE_POSITIONS = [37, 1500]
# The MoE inputs are redrawn (seed suffix #1, #2, ...) until every token's k-th and (k+1)-th
# router logits differ by this much: the device routes on bfloat16 logits, and a golden whose
# expert choice flips on a rounding would test tie-breaking, not numerics.
ROUTER_MARGIN = 0.05


def golden_dims(name):
    """The model's configuration with the golden widths applied."""
    model = dict(MODELS[name])
    widths = GOLDEN_WIDTHS[name]
    ratio = model["heads"] // model["kv_heads"]
    model["real"] = {k: MODELS[name][k] for k in ("hidden", "ffn", "heads", "kv_heads", "vocab")}
    if "kv_heads" in widths:
        model["kv_heads"] = widths["kv_heads"]
        model["heads"] = widths["kv_heads"] * ratio
    model["ffn"] = widths.get("ffn", model["ffn"])
    model["vocab"] = widths.get("vocab", model["vocab"])
    return model


# ------------------------------------------------------------------------------------------------
# Tensors: seeded draws of the twin, described by generator nodes.

def fnv1a64(text):
    """FNV-1a 64 of a UTF-8 string: the seed of the tensor with that key."""
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x100000001B3) % (1 << 64)
    return value


def block_float(values, mantissa_bits):
    """float32 values rounded to bfloat8_b (7) / bfloat4_b (3) as docs/formats.md specifies for
    finite inputs: blocks of 16 along the last dimension share the largest exponent field E, one
    unit is 2^(E - 126 - M), |x| / unit rounds to nearest even and clamps to 2^M - 1."""
    x = np.asarray(values, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("[block_float] only finite values are supported here")
    width = x.shape[-1]
    padded_width = -(-width // 16) * 16
    rows = np.zeros((x.size // width, padded_width), dtype=np.float32)
    rows[:, :width] = x.reshape(-1, width)
    blocks = rows.reshape(rows.shape[0], -1, 16)
    exponent = ((blocks.view(np.uint32) >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int64)
    shared = exponent.max(axis=-1, keepdims=True)
    unit = np.ldexp(1.0, shared - 126 - mantissa_bits)
    q = np.minimum(np.rint(np.abs(blocks.astype(np.float64)) / unit), (1 << mantissa_bits) - 1)
    q[exponent == 0] = 0.0  # float32 subnormals count as zero.
    rounded = (np.sign(blocks) * q * unit).astype(np.float32) + np.float32(0.0)  # no -0.0
    return rounded.reshape(rows.shape)[:, :width].reshape(x.shape)


class Gen:
    """A tensor drawn by the twin: normal(mean, std) with the seed of `key`, optionally rounded
    to a block format (its ttt_dtype)."""

    def __init__(self, model, key, shape, mean=0.0, std=1.0, ttt_dtype="float32"):
        self.key = key
        self.seed = fnv1a64(model + "/" + key)
        self.shape = tuple(int(d) for d in shape)
        self.mean = float(mean)
        self.std = float(std)
        self.ttt_dtype = ttt_dtype
        values = ttt_random.normal(self.shape, self.seed, self.mean, self.std)
        if ttt_dtype == "bfloat8_b":
            values = block_float(values, 7)
        elif ttt_dtype != "float32":
            raise ValueError(f"unsupported generated dtype {ttt_dtype}")
        self.values = values

    def torch(self):
        return torch.from_numpy(self.values).to(DT)

    def write(self, group, name):
        node = group.create_group(name)
        node.attrs["ttt_generator"] = "splitmix64-normal"
        node.attrs["seed"] = np.uint64(self.seed)
        node.attrs["shape"] = np.array(self.shape, dtype=np.int64)
        node.attrs["mean"] = np.float64(self.mean)
        node.attrs["std"] = np.float64(self.std)
        node.attrs["ttt_dtype"] = self.ttt_dtype
        node.attrs["key"] = self.key  # Informative: the seed is FNV-1a 64 of "<model>/<key>".
        return node


class Data:
    """A tensor stored as a dataset (token ids, positions)."""

    def __init__(self, values, ttt_dtype):
        self.values = np.asarray(values)
        self.ttt_dtype = ttt_dtype

    def torch(self):
        return torch.from_numpy(self.values)

    def write(self, group, name):
        dataset = group.create_dataset(name, data=self.values)
        dataset.attrs["ttt_dtype"] = self.ttt_dtype
        return dataset


def weight(model, key, rows, cols):
    """A projection weight [in, out] ~ normal(0, 1/sqrt(in)): unit-variance inputs give outputs
    of unit variance, as trained layers roughly do."""
    return Gen(model, key, (rows, cols), 0.0, 1.0 / math.sqrt(rows))


# ------------------------------------------------------------------------------------------------
# The blocks in PyTorch, float64.

def rms_norm(x, weight_, eps, unit_offset):
    scale = (1.0 + weight_) if unit_offset else weight_
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * scale


def rope_tables(spec):
    """Hugging Face's inv_freq and attention factor for a rope JSON spec."""
    cfg = {"theta": spec["theta"], "dim": spec["head_dim"],
           "max_position_embeddings": spec["max_position_embeddings"]}
    cfg.update({k: v for k, v in spec.items() if k not in ("scaling", "theta", "head_dim")})
    if spec["scaling"] == "default":
        return hf_rope.default_inv_freq(spec["theta"], spec["head_dim"]), 1.0
    if spec["scaling"] == "llama3":
        return hf_rope.llama3(cfg)
    if spec["scaling"] == "yarn":
        return hf_rope.yarn(cfg)
    raise ValueError(f"no golden for rope scaling {spec['scaling']}")


def rope(x, positions, spec):
    """x [tokens, heads, head_dim] rotated at positions [tokens] (rotate-half, full rotary)."""
    inv_freq, attention_factor = rope_tables(spec)
    return hf_rope.apply_rope(x, positions, inv_freq, attention_factor, spec["head_dim"])


def attend(spec, q, k, v, query_positions, key_positions):
    """Softmax attention of q [B, Sq, H, hd] over k, v [B, Sk, KV, hd]: causal by position,
    sliding window, Gemma-2 softcapping; returns [B, Sq, H * hd]."""
    heads, kv_heads = spec["num_heads"], spec["num_kv_heads"]
    group = heads // kv_heads
    k = k.repeat_interleave(group, dim=2)  # Query head h reads KV head h // group (repeat_kv).
    v = v.repeat_interleave(group, dim=2)
    scale = 1.0 / math.sqrt(spec["query_pre_attn_scalar"] or spec["head_dim"])
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) * scale
    if spec["logit_softcap"]:
        cap = spec["logit_softcap"]
        scores = cap * torch.tanh(scores / cap)
    i = query_positions[:, :, None]
    j = key_positions[:, None, :]
    masked = j > i
    if spec["sliding_window"]:
        masked = masked | (j <= i - spec["sliding_window"])
    scores = scores.masked_fill(masked[:, None, :, :], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = torch.einsum("bhqk,bkhd->bqhd", probs, v)
    return out.reshape(out.shape[0], out.shape[1], heads * spec["head_dim"])


def linear(x, w, b=None):
    y = x @ w
    return y if b is None else y + b


def project_qkv(spec, weights, x, positions):
    """q [B, S, H, hd], k and v [B, S, KV, hd] of x [B, S, hidden] at positions [B, S]."""
    hd = spec["head_dim"]
    batch, seq = x.shape[0], x.shape[1]
    q = linear(x, weights["wq"], weights.get("bq")).reshape(batch, seq, -1, hd)
    k = linear(x, weights["wk"], weights.get("bk")).reshape(batch, seq, -1, hd)
    v = linear(x, weights["wv"], weights.get("bv")).reshape(batch, seq, -1, hd)
    if spec["positions"] == "rope":
        flat = positions.reshape(-1)
        q = rope(q.reshape(batch * seq, -1, hd), flat, spec["rope"]).reshape(q.shape)
        k = rope(k.reshape(batch * seq, -1, hd), flat, spec["rope"]).reshape(k.shape)
    return q, k, v


def attention_prefill(spec, weights, x):
    batch, seq = x.shape[0], x.shape[1]
    positions = torch.arange(seq).expand(batch, seq)
    q, k, v = project_qkv(spec, weights, x, positions)
    out = attend(spec, q, k, v, positions, positions)
    return linear(out, weights["wo"], weights.get("bo"))


def attention_decode(spec, weights, x, positions, k_cache, v_cache):
    """x [B, hidden], user b at positions[b] with past keys/values k_cache[b, :, :positions[b]]
    ([B, KV, max_seq, hd]); the new key and value go to positions[b]."""
    batch = x.shape[0]
    q, k, v = project_qkv(spec, weights, x[:, None, :], positions[:, None])
    keys = k_cache.clone().transpose(1, 2)  # [B, max_seq, KV, hd]
    values = v_cache.clone().transpose(1, 2)
    for b in range(batch):
        keys[b, positions[b]] = k[b, 0]
        values[b, positions[b]] = v[b, 0]
    key_positions = torch.arange(keys.shape[1]).expand(batch, -1)
    out = attend(spec, q, keys, values, positions[:, None], key_positions)
    return linear(out[:, 0], weights["wo"], weights.get("bo"))


def activation(name, x):
    if name == "silu":
        return F.silu(x)
    if name == "gelu_tanh":
        return F.gelu(x, approximate="tanh")
    raise ValueError(f"no golden for activation {name}")


def gated_mlp(act, x, w_gate, w_up, w_down):
    return (activation(act, x @ w_gate) * (x @ w_up)) @ w_down


def mixtral_moe(act, top_k, x, router, experts):
    """Mixtral's sparse MoE block: softmax over the top-k router logits of each token."""
    logits = x @ router
    top_logits, top_experts = torch.topk(logits, top_k, dim=-1)
    routing = torch.softmax(top_logits, dim=-1)
    y = torch.zeros_like(x)
    for e, (w_gate, w_up, w_down) in enumerate(experts):
        chosen = (top_experts == e)
        rows = chosen.any(dim=-1)
        if rows.any():
            weight_ = (routing * chosen).sum(dim=-1)[rows, None]
            y[rows] += weight_ * gated_mlp(act, x[rows], w_gate, w_up, w_down)
    return y


def router_margin(x, router, top_k):
    """The smallest gap between a token's k-th and (k+1)-th router logit."""
    logits, _ = torch.sort(x @ router, dim=-1, descending=True)
    return float((logits[:, top_k - 1] - logits[:, top_k]).min())


# ------------------------------------------------------------------------------------------------
# Writing a trace.

def open_trace(path, script, created_utc, meta):
    """A new trace file (format ttt-trace v1) with the root attributes every golden carries."""
    file = h5py.File(path, "w", libver="earliest")
    file.attrs["ttt_format"] = "ttt-trace"
    file.attrs["ttt_format_version"] = np.int64(1)
    file.attrs["producer"] = (f"tools/goldens/{script} (torch {torch.__version__}, numpy "
                              f"{np.__version__}, h5py {h5py.__version__})")
    file.attrs["created_utc"] = created_utc
    file.attrs["meta"] = json.dumps(meta)
    return file


class Golden:
    """One model's golden trace."""

    def __init__(self, path, name, model, created_utc):
        self.name = name
        meta = {"model": model["title"], "golden": name, "device": DEVICE,
                "published_widths": model["real"],
                "golden_widths": {k: model[k] for k in ("hidden", "ffn", "heads", "kv_heads",
                                                        "vocab")},
                "reference": "PyTorch float64", "torch": torch.__version__}
        self.file = open_trace(path, "make_goldens.py", created_utc, meta)
        self.calls = self.file.create_group("calls")
        self.shared = self.file.create_group("tensors")
        self.shared_keys = set()

    def gen(self, key, shape, mean=0.0, std=1.0, ttt_dtype="float32"):
        return Gen(self.name, key, shape, mean, std, ttt_dtype)

    def weight(self, key, rows, cols):
        return weight(self.name, key, rows, cols)

    def call(self, name, block, spec, impl_config, inputs, y, scalars=None, shared=()):
        """Writes one call; `inputs` maps names to Gen/Data, `shared` names the inputs stored once
        under /tensors and hard-linked (weights used by several calls)."""
        group = self.calls.create_group(f"{len(self.calls):06d}")
        group.attrs["name"] = f"{self.name}.{name}"
        group.attrs["block"] = block
        group.attrs["spec"] = json.dumps(spec)
        group.attrs["impl_config"] = json.dumps(impl_config)
        group.attrs["device"] = DEVICE
        group.attrs["scalars"] = json.dumps(scalars or {})
        group.attrs["verdict"] = "unchecked"
        inputs_group = group.create_group("inputs")
        for input_name, tensor in inputs.items():
            if input_name in shared:
                if tensor.key not in self.shared_keys:
                    tensor.write(self.shared, tensor.key)
                    self.shared_keys.add(tensor.key)
                inputs_group[input_name] = self.shared[tensor.key]
            elif "/" in input_name:
                container, index = input_name.split("/")
                sub = inputs_group.require_group(container)
                tensor.write(sub, index)
            else:
                tensor.write(inputs_group, input_name)
        reference = group.create_group("reference")
        values = y.detach().numpy().astype(np.float32)
        dataset = reference.create_dataset("y", data=values, compression="gzip",
                                           compression_opts=6, shuffle=True)
        dataset.attrs["ttt_dtype"] = "float32"
        dataset.attrs["computed_by"] = "PyTorch float64, rounded to float32"

    def close(self):
        self.file.close()


# ------------------------------------------------------------------------------------------------
# The calls of one model.

def write_norm(g, m):
    hidden = m["hidden"]
    x = g.gen("norm.x", (ROWS, hidden))
    if m["norm"] == "layer":
        w = g.gen("norm.weight", (hidden,), 1.0, 0.1)
        b = g.gen("norm.bias", (hidden,), 0.0, 0.1)
        y = F.layer_norm(x.torch(), (hidden,), w.torch(), b.torch(), m["eps"])
        g.call("layer_norm", "layer_norm", {"dim": hidden, "eps": m["eps"], "bias": True}, {},
               {"x": x, "weight": w, "bias": b}, y)
        return
    offset = m["norm"] == "rms_offset"
    # Gemma stores w with the model computing (1 + w): its weights sit around 0.
    w = g.gen("norm.weight", (hidden,), 0.0 if offset else 1.0, 0.1)
    y = rms_norm(x.torch(), w.torch(), m["eps"], offset)
    g.call("rms_norm", "rms_norm", {"dim": hidden, "eps": m["eps"], "add_unit_offset": offset},
           {}, {"x": x, "weight": w}, y)


def embedding_table(g, m):
    return g.gen("embedding.token_weight", (m["vocab"], m["hidden"]))


def write_embedding(g, m):
    hidden, vocab = m["hidden"], m["vocab"]
    scale = m.get("embedding_scale", 1.0)
    spec = {"vocab_size": vocab, "hidden_dim": hidden, "scale": scale}
    table = embedding_table(g, m)
    inputs = {"token_weight": table}
    position_table = None
    if "learned_positions" in m:
        spec.update(positions="learned", max_positions=m["learned_positions"])
        position_table = g.gen("embedding.position_weight", (m["learned_positions"], hidden), 0.0,
                               0.1)
        inputs["position_weight"] = position_table
    shared = ("token_weight",)
    # Prefill: ids [1, ROWS] at positions 0..ROWS-1.
    ids = Data(ttt_random.integers((1, ROWS), fnv1a64(g.name + "/embedding.ids"), 0, vocab),
               "int64")
    positions = torch.arange(ROWS)[None, :]
    y = F.embedding(ids.torch(), table.torch()) * scale
    if position_table is not None:
        y = y + F.embedding(positions, position_table.torch())
    g.call("embedding.prefill", "embedding", spec, {}, dict(inputs, ids=ids), y, shared=shared)
    # Decode: one token per user at its own position.
    decode_ids = Data(ttt_random.integers((4,), fnv1a64(g.name + "/embedding.decode_ids"), 0,
                                          vocab), "int64")
    decode_positions = Data(np.array([0, 5, 700, 1023], dtype=np.int64), "int64")
    y = F.embedding(decode_ids.torch(), table.torch()) * scale
    if position_table is not None:
        y = y + F.embedding(decode_positions.torch(), position_table.torch())
    g.call("embedding.decode", "embedding", spec, {},
           dict(inputs, ids=decode_ids, positions=decode_positions), y,
           scalars={"mode": "decode"}, shared=shared)


def write_rope(g, m, rope_spec, name):
    heads = m["heads"]
    # Prefill positions 0..7 and decode-like far positions up to the default table (8192 rows).
    positions = Data(np.array([0, 1, 2, 3, 4, 5, 6, 7, 100, 1000, 4095, 4096, 5000, 7000, 8000,
                               8191], dtype=np.int64), "int64")
    x = g.gen(name + ".x", (positions.values.size, heads, rope_spec["head_dim"]))
    y = rope(x.torch(), positions.torch(), rope_spec)
    g.call(name, "rope", rope_spec, {}, {"x": x, "positions": positions}, y)


def attention_spec(m, sliding_window):
    spec = {"hidden_dim": m["hidden"], "num_heads": m["heads"], "num_kv_heads": m["kv_heads"],
            "head_dim": m["head_dim"], "qkv_bias": m.get("qkv_bias", False),
            "output_bias": m.get("output_bias", False),
            "query_pre_attn_scalar": m.get("query_pre_attn_scalar", 0.0),
            "logit_softcap": m.get("attn_softcap", 0.0), "sliding_window": sliding_window,
            "positions": "rope" if m["rope"] else "none"}
    if m["rope"]:
        spec["rope"] = m["rope"]
    return spec


def attention_weights(g, m):
    hidden, hd = m["hidden"], m["head_dim"]
    q_width, kv_width = m["heads"] * hd, m["kv_heads"] * hd
    weights = {"wq": g.weight("attention.wq", hidden, q_width),
               "wk": g.weight("attention.wk", hidden, kv_width),
               "wv": g.weight("attention.wv", hidden, kv_width),
               "wo": g.weight("attention.wo", q_width, hidden)}
    if m.get("qkv_bias"):
        # Qwen2's q/k/v biases are large next to the projections: std 0.5.
        weights["bq"] = g.gen("attention.bq", (q_width,), 0.0, 0.5)
        weights["bk"] = g.gen("attention.bk", (kv_width,), 0.0, 0.5)
        weights["bv"] = g.gen("attention.bv", (kv_width,), 0.0, 0.5)
    if m.get("output_bias"):
        weights["bo"] = g.gen("attention.bo", (hidden,), 0.0, 0.1)
    return weights


ATTENTION_CONFIG = {"qkv": MATMUL_DEFAULT, "output": MATMUL_DEFAULT,
                    "kv_cache_dtype": "bfloat8_b"}


def write_attention(g, m):
    weights = attention_weights(g, m)
    tensors = {k: w.torch() for k, w in weights.items()}
    window = m.get("sliding_window", 0)
    # Gemma-2 alternates sliding-window (even layers) and global attention: decode goldens of
    # both. A 16-token prefill does not reach the window, so one prefill (layer 0's) covers both.
    variants = [("attention", window)]
    if m["norm"] == "rms_offset":
        variants = [("attention.local", window), ("attention.global", 0)]

    x = g.gen("attention.prefill.x", (1, PREFILL_TOKENS, m["hidden"]))
    name, variant_window = variants[0]
    spec = attention_spec(m, variant_window)
    y = attention_prefill(spec, tensors, x.torch())
    g.call(name + ".prefill", "attention.prefill", spec, ATTENTION_CONFIG, dict(weights, x=x), y,
           scalars={"mode": "prefill"}, shared=tuple(weights))
    if m.get("flash"):
        # The chunked (flash) path: an online softmax over chunks of 4 queries and 4 keys.
        flash = dict(ATTENTION_CONFIG, flash_min_seq_len=1, q_chunk_size=4, k_chunk_size=4)
        g.call(name + ".prefill.flash", "attention.prefill", spec, flash, dict(weights, x=x), y,
               scalars={"mode": "prefill"}, shared=tuple(weights))

    positions = list(DECODE_POSITIONS)
    if window:
        positions[1] = window + 54
    if "learned_positions" in m:
        positions[1] = m["learned_positions"] - 24
    max_seq = -(-(max(positions) + 1) // 64) * 64
    cache_shape = (len(positions), m["kv_heads"], max_seq, m["head_dim"])
    k_cache = g.gen("attention.decode.k_cache", cache_shape, ttt_dtype="bfloat8_b")
    v_cache = g.gen("attention.decode.v_cache", cache_shape, ttt_dtype="bfloat8_b")
    decode_x = g.gen("attention.decode.x", (len(positions), m["hidden"]))
    decode_positions = Data(np.array(positions, dtype=np.int64), "int64")
    for name, variant_window in variants:
        spec = attention_spec(m, variant_window)
        y = attention_decode(spec, tensors, decode_x.torch(), decode_positions.torch(),
                             k_cache.torch(), v_cache.torch())
        g.call(name + ".decode", "attention.decode", spec, ATTENTION_CONFIG,
               dict(weights, x=decode_x, positions=decode_positions, k_cache=k_cache,
                    v_cache=v_cache), y, scalars={"mode": "decode"},
               shared=tuple(weights) + ("k_cache", "v_cache"))


def write_ffn(g, m):
    hidden, ffn, act = m["hidden"], m["ffn"], m["activation"]
    if m["ffn_kind"] == "mlp":
        x = g.gen("mlp.x", (ROWS, hidden))
        w_up, w_down = g.weight("mlp.w_up", hidden, ffn), g.weight("mlp.w_down", ffn, hidden)
        b_up, b_down = g.gen("mlp.b_up", (ffn,), 0.0, 0.1), g.gen("mlp.b_down", (hidden,), 0.0, 0.1)
        y = linear(activation(act, linear(x.torch(), w_up.torch(), b_up.torch())),
                   w_down.torch(), b_down.torch())
        spec = {"hidden_dim": hidden, "ffn_dim": ffn, "activation": act, "bias": True}
        g.call("mlp", "mlp", spec, {"ff1": MLP_MATMUL_DEFAULT, "ff2": MLP_MATMUL_DEFAULT},
               {"x": x, "w_up": w_up, "w_down": w_down, "b_up": b_up, "b_down": b_down}, y)
        return
    if m["ffn_kind"] == "gated_mlp":
        x = g.gen("gated_mlp.x", (ROWS, hidden))
        w_gate = g.weight("gated_mlp.w_gate", hidden, ffn)
        w_up = g.weight("gated_mlp.w_up", hidden, ffn)
        w_down = g.weight("gated_mlp.w_down", ffn, hidden)
        y = gated_mlp(act, x.torch(), w_gate.torch(), w_up.torch(), w_down.torch())
        spec = {"hidden_dim": hidden, "ffn_dim": ffn, "activation": act}
        g.call("gated_mlp", "gated_mlp", spec,
               {"ff1_ff3": MLP_MATMUL_DEFAULT, "ff2": MLP_MATMUL_DEFAULT},
               {"x": x, "w_gate": w_gate, "w_up": w_up, "w_down": w_down}, y)
        return
    experts, top_k = m["experts"], m["top_k"]
    router = g.weight("moe.router", hidden, experts)
    weights = [(g.weight(f"moe.w_gate.{e}", hidden, ffn), g.weight(f"moe.w_up.{e}", hidden, ffn),
                g.weight(f"moe.w_down.{e}", ffn, hidden)) for e in range(experts)]
    for attempt in range(100):
        key = "moe.x" if attempt == 0 else f"moe.x#{attempt}"
        x = g.gen(key, (MOE_ROWS, hidden))
        if router_margin(x.torch(), router.torch(), top_k) >= ROUTER_MARGIN:
            break
    else:
        raise RuntimeError("[moe] no input with a clear top-k routing in 100 draws")
    y = mixtral_moe(act, top_k, x.torch(), router.torch(),
                    [tuple(w.torch() for w in expert) for expert in weights])
    inputs = {"x": x, "router": router}
    for e, (w_gate, w_up, w_down) in enumerate(weights):
        inputs.update({f"w_gate/{e}": w_gate, f"w_up/{e}": w_up, f"w_down/{e}": w_down})
    spec = {"hidden_dim": hidden, "ffn_dim": ffn, "num_experts": experts, "top_k": top_k,
            "activation": act}
    g.call("moe", "moe", spec,
           {"expert": {"ff1_ff3": MLP_MATMUL_DEFAULT, "ff2": MLP_MATMUL_DEFAULT}}, inputs, y)


def write_lm_head(g, m):
    hidden, vocab = m["hidden"], m["vocab"]
    x = g.gen("lm_head.x", (ROWS, hidden))
    tied = m["tie"]
    if tied:
        table = embedding_table(g, m)  # The embedding's token table, shared with it.
        logits = x.torch() @ table.torch().T
    else:
        table = g.weight("lm_head.weight", hidden, vocab)
        logits = x.torch() @ table.torch()
    cap = m.get("final_softcap", 0.0)
    if cap:
        logits = cap * torch.tanh(logits / cap)
    spec = {"hidden_dim": hidden, "vocab_size": vocab, "tied_embeddings": tied,
            "logit_softcap": cap}
    g.call("lm_head", "lm_head", spec, {"matmul": MATMUL_DEFAULT}, {"x": x, "weight": table},
           logits, shared=("weight",) if tied else ())


def write_model(directory, name, created_utc):
    m = golden_dims(name)
    path = os.path.join(directory, name + ".h5")
    g = Golden(path, name, m, created_utc)
    try:
        write_norm(g, m)
        if m["ffn_kind"] != "moe":  # Mixtral's embedding and LM head are Mistral's.
            write_embedding(g, m)
        if m["rope"]:
            write_rope(g, m, m["rope"], "rope")
        if "yarn" in m:
            write_rope(g, m, m["yarn"], "rope.yarn")
        write_attention(g, m)
        write_ffn(g, m)
        if m["ffn_kind"] != "moe":
            write_lm_head(g, m)
    finally:
        g.close()
    return path


def created_utc(text):
    """The file's created_utc: `text` (--created-utc) or now, ISO 8601."""
    return text or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_file_main(doc, file_name, write, argv=None):
    """The command line of a generator that writes one file, `write(directory, created)`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("directory", help=f"where to write {file_name} (goldens/)")
    parser.add_argument("--created-utc", help="ISO 8601 time for created_utc (default: now)")
    args = parser.parse_args(argv)
    path = write(args.directory, created_utc(args.created_utc))
    print(f"{path}: {os.path.getsize(path)} bytes")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", help="where to write <model>.h5 (the repository's goldens/)")
    parser.add_argument("models", nargs="*", help=f"default: all of {', '.join(MODELS)}")
    parser.add_argument("--created-utc", help="ISO 8601 time for created_utc (default: now)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.models if name not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    created = created_utc(args.created_utc)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    os.makedirs(args.directory, exist_ok=True)
    for name in args.models or list(MODELS):
        path = write_model(args.directory, name, created)
        print(f"{path}: {os.path.getsize(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

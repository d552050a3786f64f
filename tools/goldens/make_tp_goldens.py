#!/usr/bin/python3
"""Writes goldens/tensor_parallel.h5: PyTorch goldens of the mesh blocks built on the collectives.

The kinds (docs/multi-device.md): distributed_rms_norm (the hidden dimension split along a mesh
axis), tp_gated_mlp (ffn split along the axis, partials reduced), tp_lm_head (vocabulary split
along the axis, logits gathered), tp_attention (heads split along the axis, prefill; weights wq,
wk, wv, wo and bq, bk, bv as attention.prefill names them) and tp_embedding (the table split along
hidden; its mesh input is the token ids, stored as the container ids/0 .. and positions in
decode, as the embedding kind names them); tp2d_gated_mlp (TG's 2-D MLP: x split along hidden
over the columns, ffn over the rows). Each call's input x is stored per device as the container x/0 ..
x/<devices-1> (generator nodes of tools/ttt_random.py, float32 normals; replicated devices hold
the same seed) with its placements in the scalar "placements"; the weights are the whole
single-device weights under the single-device kinds' names (weight; w_gate, w_up, w_down;
weight), drawn as tools/goldens/make_goldens.py draws them. The impl_config is empty: the
registry fills in TTTv1's defaults for the call's device and mode (reduce-scatter of bfloat16
partials on N300/T3K, all-reduce of bfloat8_b partials on TG). ep_moe spreads Mixtral's experts
over the columns (router, w_gate/<e>, w_up/<e>, w_down/<e> as the moe kind names them) and
all-reduces the devices' bfloat16 partials.

PyTorch computes, independently of the C++, reference/y: the whole block in float64 on the
composed input (RMSNorm, silu(x W_gate) * (x W_up) W_down, x W with softcapping, Mixtral's
top-k MoE), composed over
the mesh as the block places its output. There is no outputs/y: the device arithmetic (bfloat8_b
matmuls at HiFi2, the norm kernels) is not emulated here, so tests/goldens/goldens_test.cc judges
the device path against reference/y with the kinds' accuracy expectations, as for the models.

Run with Debian's interpreter (python3-torch, python3-numpy, python3-h5py):
    /usr/bin/python3 tools/goldens/make_tp_goldens.py goldens
"""

import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_ccl_goldens import compose  # noqa: E402  (auto_compose of per-device shards)
from make_goldens import (MOE_ROWS, ROUTER_MARGIN, Data, Gen, attention_prefill,  # noqa: E402
                          attention_spec, fnv1a64, gated_mlp, golden_dims, mixtral_moe,
                          one_file_main, open_trace, rms_norm, router_margin, weight)
import ttt_random  # noqa: E402  (tools/ttt_random.py, on the path make_goldens sets)

NAME = "tensor_parallel"
ROWS = 8  # Rows (prefill tokens, decode users), as the models' norm, FFN and LM head goldens.
REPLICATED = ["replicated", "replicated"]


class Writer:
    def __init__(self, path, created_utc):
        self.file = open_trace(path, "make_tp_goldens.py", created_utc,
                               {"golden": NAME, "reference": "PyTorch float64",
                                "torch": torch.__version__})
        self.calls = self.file.create_group("calls")

    def call(self, name, block, spec, device, mode, placements, shards, weights, y,
             input_name="x"):
        """One call: `shards` the per-device Gen (or Data) of the mesh input `input_name` (device
        order), `weights` name -> Gen (or Data: positions)."""
        group = self.calls.create_group(f"{len(self.calls):06d}")
        group.attrs["name"] = f"{NAME}.{name}"
        group.attrs["block"] = block
        group.attrs["spec"] = json.dumps(spec)
        group.attrs["impl_config"] = json.dumps({})
        group.attrs["device"] = device
        group.attrs["scalars"] = json.dumps({"placements": placements, "mode": mode})
        group.attrs["verdict"] = "unchecked"
        inputs = group.create_group("inputs")
        xs = inputs.create_group(input_name)
        for index, shard in enumerate(shards):
            shard.write(xs, str(index))
        for input_name, tensor in weights.items():
            tensor.write(inputs, input_name)
        dataset = group.create_group("reference").create_dataset(
            "y", data=y.to(torch.float32).numpy(), compression="gzip", compression_opts=6,
            shuffle=True)
        dataset.attrs["ttt_dtype"] = "float32"
        dataset.attrs["computed_by"] = "PyTorch float64, rounded to float32"

    def close(self):
        self.file.close()


def mesh_shape(mesh):
    return tuple(int(v) for v in mesh.split("x"))


def replicated_x(name, mesh, rows, hidden):
    """x [rows, hidden] on every device: one seed, written once per device."""
    x = Gen(NAME, f"{name}.x", (rows, hidden))
    count = mesh_shape(mesh)[0] * mesh_shape(mesh)[1]
    return [x] * count, x.torch()


def distributed_rms_norm(w, name, mesh, device, mode, dim, eps, offset):
    """x split along its hidden (last) dimension over the mesh columns (axis 1), replicated down
    the rows; y placed as x."""
    rows, cols = mesh_shape(mesh)
    parts = [Gen(NAME, f"{name}.x/{c}", (ROWS, dim // cols)) for c in range(cols)]
    shards = [parts[c] for _ in range(rows) for c in range(cols)]
    x = torch.cat([p.torch() for p in parts], dim=-1)
    # Gemma stores w with the model computing (1 + w): its weights sit around 0.
    scale = Gen(NAME, f"{name}.weight", (dim,), 0.0 if offset else 1.0, 0.1)
    y = rms_norm(x, scale.torch(), eps, offset)
    placements = ["replicated", "shard(1)"]
    y_shards = [chunk for _ in range(rows) for chunk in torch.chunk(y, cols, dim=-1)]
    spec = {"dim": dim, "eps": eps, "add_unit_offset": offset, "mesh": mesh, "axis": 1}
    w.call(name, "distributed_rms_norm", spec, device, mode, placements, shards,
           {"weight": scale}, compose(y_shards, rows, cols, placements))


def tp_gated_mlp(w, name, mesh, device, mode, hidden, ffn, act, reduction):
    """x replicated; y split along hidden over the columns (reduce_scatter) or replicated
    (all_reduce)."""
    rows, cols = mesh_shape(mesh)
    shards, x = replicated_x(name, mesh, ROWS, hidden)
    w_gate = weight(NAME, f"{name}.w_gate", hidden, ffn)
    w_up = weight(NAME, f"{name}.w_up", hidden, ffn)
    w_down = weight(NAME, f"{name}.w_down", ffn, hidden)
    y = gated_mlp(act, x, w_gate.torch(), w_up.torch(), w_down.torch())
    if reduction == "reduce_scatter":
        placements = ["replicated", "shard(1)"]
        y_shards = [chunk for _ in range(rows) for chunk in torch.chunk(y, cols, dim=-1)]
    else:
        placements = REPLICATED
        y_shards = [y] * (rows * cols)
    spec = {"mlp": {"hidden_dim": hidden, "ffn_dim": ffn, "activation": act}, "mesh": mesh,
            "axis": 1}
    w.call(name, "tp_gated_mlp", spec, device, mode, REPLICATED, shards,
           {"w_gate": w_gate, "w_up": w_up, "w_down": w_down},
           compose(y_shards, rows, cols, placements))


def tp2d_gated_mlp(w, name, mesh, device, mode, hidden, ffn, act):
    """TG's 2-D MLP: x split along hidden over the columns (the hidden axis), replicated down the
    rows (the ffn axis); y placed as x. Composed, y is the whole MLP's."""
    rows, cols = mesh_shape(mesh)
    parts = [Gen(NAME, f"{name}.x/{c}", (ROWS, hidden // cols)) for c in range(cols)]
    shards = [parts[c] for _ in range(rows) for c in range(cols)]
    x = torch.cat([p.torch() for p in parts], dim=-1)
    w_gate = weight(NAME, f"{name}.w_gate", hidden, ffn)
    w_up = weight(NAME, f"{name}.w_up", hidden, ffn)
    w_down = weight(NAME, f"{name}.w_down", ffn, hidden)
    y = gated_mlp(act, x, w_gate.torch(), w_up.torch(), w_down.torch())
    spec = {"mlp": {"hidden_dim": hidden, "ffn_dim": ffn, "activation": act}, "mesh": mesh,
            "hidden_axis": 1}
    w.call(name, "tp2d_gated_mlp", spec, device, mode, ["replicated", "shard(1)"], shards,
           {"w_gate": w_gate, "w_up": w_up, "w_down": w_down}, y)


def tp_lm_head(w, name, mesh, device, mode, hidden, vocab, tied, softcap):
    """x replicated; the logits gathered along the vocabulary: replicated."""
    shards, x = replicated_x(name, mesh, ROWS, hidden)
    if tied:  # The embedding table [vocab, hidden], N(0, 1) as the models' tables.
        table = Gen(NAME, f"{name}.weight", (vocab, hidden))
        logits = x @ table.torch().T
    else:
        table = weight(NAME, f"{name}.weight", hidden, vocab)
        logits = x @ table.torch()
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    spec = {"lm_head": {"hidden_dim": hidden, "vocab_size": vocab, "tied_embeddings": tied,
                        "logit_softcap": softcap}, "mesh": mesh, "axis": 1}
    w.call(name, "tp_lm_head", spec, device, mode, REPLICATED, shards, {"weight": table}, logits)


PREFILL_TOKENS = 16  # Attention prefill: one user, positions 0..15 (as the models' goldens).


def tp_attention(w, name, mesh, device, model, kv_heads=None):
    """x [1, 16, hidden] replicated; the heads split over the columns (KV heads split or
    replicated on their query group's devices), the Wo partials reduced: y is the whole
    attention's, composed (a 1xN reduce-scatter composes to the whole sum, TG's all-reduce is
    replicated)."""
    m = golden_dims(model)
    if kv_heads is not None:  # The model's real head counts instead of the golden widths.
        m["heads"], m["kv_heads"] = m["real"]["heads"], kv_heads
    hidden, hd = m["hidden"], m["head_dim"]
    q_width, kv_width = m["heads"] * hd, m["kv_heads"] * hd
    weights = {"wq": weight(NAME, f"{name}.wq", hidden, q_width),
               "wk": weight(NAME, f"{name}.wk", hidden, kv_width),
               "wv": weight(NAME, f"{name}.wv", hidden, kv_width),
               "wo": weight(NAME, f"{name}.wo", q_width, hidden)}
    if m.get("qkv_bias"):  # Qwen2's large q/k/v biases, as make_goldens.py draws them.
        weights["bq"] = Gen(NAME, f"{name}.bq", (q_width,), 0.0, 0.5)
        weights["bk"] = Gen(NAME, f"{name}.bk", (kv_width,), 0.0, 0.5)
        weights["bv"] = Gen(NAME, f"{name}.bv", (kv_width,), 0.0, 0.5)
    x = Gen(NAME, f"{name}.x", (1, PREFILL_TOKENS, hidden))
    spec = attention_spec(m, 0)
    y = attention_prefill(spec, {k: v.torch() for k, v in weights.items()}, x.torch())
    rows, cols = mesh_shape(mesh)
    w.call(name, "tp_attention", {"attention": spec, "mesh": mesh, "axis": 1}, device, "prefill",
           REPLICATED, [x] * (rows * cols), weights, y)


def ep_moe(w, name, mesh, device, mode, model):
    """x [16, hidden] replicated; the experts spread over the columns, the partials all-reduced:
    y replicated. x is redrawn (key suffix #1, #2, ...) until every token's routing has the
    margin make_goldens.py's moe golden asks for (the device routes on bfloat16 logits)."""
    m = golden_dims(model)
    hidden, ffn, experts, top_k = m["hidden"], m["ffn"], m["experts"], m["top_k"]
    router = weight(NAME, f"{name}.router", hidden, experts)
    weights = [(weight(NAME, f"{name}.w_gate.{e}", hidden, ffn),
                weight(NAME, f"{name}.w_up.{e}", hidden, ffn),
                weight(NAME, f"{name}.w_down.{e}", ffn, hidden)) for e in range(experts)]
    for attempt in range(100):
        x = Gen(NAME, f"{name}.x" if attempt == 0 else f"{name}.x#{attempt}", (MOE_ROWS, hidden))
        if router_margin(x.torch(), router.torch(), top_k) >= ROUTER_MARGIN:
            break
    else:
        raise RuntimeError(f"[{name}] no input with a clear top-k routing in 100 draws")
    y = mixtral_moe(m["activation"], top_k, x.torch(), router.torch(),
                    [tuple(t.torch() for t in expert) for expert in weights])
    inputs = {"router": router}
    for e, (w_gate, w_up, w_down) in enumerate(weights):
        inputs.update({f"w_gate/{e}": w_gate, f"w_up/{e}": w_up, f"w_down/{e}": w_down})
    spec = {"moe": {"hidden_dim": hidden, "ffn_dim": ffn, "num_experts": experts,
                    "top_k": top_k, "activation": m["activation"]}, "mesh": mesh, "axis": 1}
    rows, cols = mesh_shape(mesh)
    w.call(name, "ep_moe", spec, device, mode, REPLICATED, [x] * (rows * cols), inputs, y)


def tp_embedding(w, name, mesh, device, mode, model):
    """ids replicated; the table (and the learned position table) split along hidden over the
    columns: y split along hidden, composed it is the whole embedding."""
    m = golden_dims(model)
    hidden, vocab = m["hidden"], m["vocab"]
    scale = m.get("embedding_scale", 1.0)
    embedding = {"vocab_size": vocab, "hidden_dim": hidden, "scale": scale}
    table = Gen(NAME, f"{name}.token_weight", (vocab, hidden))  # N(0, 1), as the models' tables.
    weights = {"token_weight": table}
    if mode == "prefill":  # ids [1, ROWS] at positions 0..ROWS-1.
        ids = Data(ttt_random.integers((1, ROWS), fnv1a64(f"{NAME}/{name}.ids"), 0, vocab),
                   "int64")
        positions = torch.arange(ROWS)[None, :]
    else:  # One token per user at its own position.
        ids = Data(ttt_random.integers((4,), fnv1a64(f"{NAME}/{name}.ids"), 0, vocab), "int64")
        positions = torch.tensor([0, 5, 700, 1023])
        weights["positions"] = Data(positions.numpy().astype(np.int64), "int64")
    y = F.embedding(ids.torch(), table.torch()) * scale
    if "learned_positions" in m:
        embedding.update(positions="learned", max_positions=m["learned_positions"])
        position_table = Gen(NAME, f"{name}.position_weight", (m["learned_positions"], hidden),
                             0.0, 0.1)
        weights["position_weight"] = position_table
        y = y + F.embedding(positions, position_table.torch())
    rows, cols = mesh_shape(mesh)
    w.call(name, "tp_embedding", {"embedding": embedding, "mesh": mesh, "axis": 1}, device, mode,
           REPLICATED, [ids] * (rows * cols), weights, y, input_name="ids")


def write(directory, created_utc):
    path = os.path.join(directory, NAME + ".h5")
    w = Writer(path, created_utc)
    try:
        # Hidden sizes, eps, activations, tying and softcaps are the models' (goldens/README.md);
        # ffn 1024 and vocabularies 1024 are the models' golden widths.
        # Llama-3.1-8B's norm on T3K (TTTv1's prefill DistributedNorm), Gemma-2-9B's (1 + w) on
        # N300, Llama-3.1-70B's on TG (hidden over the 4 columns, decode).
        distributed_rms_norm(w, "distributed_rms_norm.t3k", "1x8", "T3K", "prefill", 4096, 1e-5,
                             False)
        distributed_rms_norm(w, "distributed_rms_norm.n300_offset", "1x2", "N300", "prefill",
                             3584, 1e-6, True)
        distributed_rms_norm(w, "distributed_rms_norm.tg_decode", "8x4", "TG", "decode", 8192,
                             1e-5, False)
        # Llama-3.1-8B's MLP on T3K (prefill) and N300 (decode), Gemma-2-9B's GeGLU on T3K,
        # Llama-3.1-70B's on TG (ffn over the 4 columns, all-reduce).
        tp_gated_mlp(w, "tp_gated_mlp.t3k", "1x8", "T3K", "prefill", 4096, 1024, "silu",
                     "reduce_scatter")
        tp_gated_mlp(w, "tp_gated_mlp.n300_decode", "1x2", "N300", "decode", 4096, 1024, "silu",
                     "reduce_scatter")
        tp_gated_mlp(w, "tp_gated_mlp.t3k_gelu", "1x8", "T3K", "prefill", 3584, 1024,
                     "gelu_tanh", "reduce_scatter")
        tp_gated_mlp(w, "tp_gated_mlp.tg_decode", "8x4", "TG", "decode", 8192, 1024, "silu",
                     "all_reduce")
        # Llama-3.1-8B's LM head on T3K, Llama-3.2-1B's (tied) on N300 in decode, Gemma-2-9B's
        # (tied, softcap 30) on T3K.
        tp_lm_head(w, "tp_lm_head.t3k", "1x8", "T3K", "prefill", 4096, 1024, False, 0.0)
        tp_lm_head(w, "tp_lm_head.n300_tied_decode", "1x2", "N300", "decode", 2048, 1024, True,
                   0.0)
        tp_lm_head(w, "tp_lm_head.t3k_softcap", "1x8", "T3K", "prefill", 3584, 1024, True, 30.0)
        # Mixtral-8x7B's MoE (golden widths: ffn 256) with one expert per T3K chip (TTTv1's
        # layout), and four experts per N300 chip in decode.
        ep_moe(w, "ep_moe.t3k", "1x8", "T3K", "prefill", "mixtral-8x7b")
        ep_moe(w, "ep_moe.n300_decode", "1x2", "N300", "decode", "mixtral-8x7b")
        # Attention prefill (16 tokens): Llama-3.2-1B's real heads (32, 8 KV) on T3K, one KV head
        # per device; Llama-3.1-8B's golden widths (8 heads, 2 KV) on T3K, each KV head replicated
        # on its query group's 4 devices; Qwen2.5-7B's (14 heads, 2 KV, q/k/v biases) on N300;
        # Llama-3.2-1B's golden widths (8 heads, 2 KV) on TG's 4 columns, all-reduced.
        tp_attention(w, "tp_attention.t3k", "1x8", "T3K", "llama-3.2-1b", kv_heads=8)
        tp_attention(w, "tp_attention.t3k_kv_replicated", "1x8", "T3K", "llama-3.1-8b")
        tp_attention(w, "tp_attention.n300_qkv_bias", "1x2", "N300", "qwen2.5-7b")
        tp_attention(w, "tp_attention.tg", "8x4", "TG", "llama-3.2-1b")
        # Embedding lookups (TTTv1's table sharded along hidden): Llama-3.1-8B's on T3K
        # (prefill), Gemma-2-9B's scaled one on N300 (decode), GPT-2's learned positions on T3K
        # (prefill), Llama-3.1-8B's on TG's 4 columns (decode).
        tp_embedding(w, "tp_embedding.t3k", "1x8", "T3K", "prefill", "llama-3.1-8b")
        tp_embedding(w, "tp_embedding.n300_scaled_decode", "1x2", "N300", "decode", "gemma-2-9b")
        tp_embedding(w, "tp_embedding.t3k_learned", "1x8", "T3K", "prefill", "gpt-2")
        tp_embedding(w, "tp_embedding.tg_decode", "8x4", "TG", "decode", "llama-3.1-8b")
        # TG's 2-D MLP (hidden over the 4 columns, ffn over the 8 rows): Llama-3.1-70B's in
        # decode and prefill (FF1 partials reduce-scattered in bfloat8_b), and a 4096-wide one in
        # decode (FF1 partials all-reduced in bfloat16).
        tp2d_gated_mlp(w, "tp2d_gated_mlp.tg_decode", "8x4", "TG", "decode", 8192, 1024, "silu")
        tp2d_gated_mlp(w, "tp2d_gated_mlp.tg_prefill", "8x4", "TG", "prefill", 8192, 1024, "silu")
        tp2d_gated_mlp(w, "tp2d_gated_mlp.tg_decode_4096", "8x4", "TG", "decode", 4096, 1024,
                       "silu")
    finally:
        w.close()
    return path


def main(argv=None):
    return one_file_main(__doc__, "tensor_parallel.h5", write, argv)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Trains TTTv2's tiny byte-level Llama (models/trained/tiny-llama-bytes, docs/models.md "A model
with learned weights") on a corpus this script generates, and writes it as a Hugging Face model
directory: config.json, model.safetensors (float32), tokenizer_config.json, PROVENANCE.md, and
the PyTorch logits of a fixed prompt that tests/models/llama/trained_model_test.cc compares TTTv2's
float64 reference with.

Usage (from the repository root; Debian's python3 with python3-torch and python3-numpy):
    /usr/bin/python3 tools/train_tiny_llama.py models/trained/tiny-llama-bytes

Everything is seeded (--seed, default 20261207) and runs on one CPU thread, so a rerun on the
same machine and PyTorch writes the same bytes (PROVENANCE.md aside: it records the run time).

The model is Hugging Face's LlamaForCausalLM written out in plain PyTorch (no transformers
package here): pre-norm RMSNorm, rotary embeddings (rotate-half, theta 10000), grouped-query
attention, SwiGLU, tied embeddings. Tokens follow ByT5's byte scheme (Hugging Face's
ByT5Tokenizer with extra_ids=0): 0 pad, 1 end of sequence, 2 unknown, byte b is token b + 3;
the vocabulary is padded to 288 (a multiple of 32), ids 259..287 never occur.

The corpus (generated, seeded; no third-party text) is lines of three kinds, each with
regularities a small model can learn:
  * sentences of a small grammar: "the small cat sees a red ball near the house."
  * counting: "count from 317: 317 318 319 320 321 322."
  * addition facts: "48 + 27 = 75."
The held-out text is drawn from the same generator after the training text (other lines).
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import random
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 288
BYTE_OFFSET = 3  # ByT5: pad 0, eos 1, unk 2.
EOS = 1

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "hidden_act": "silu",
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "attention_bias": False,
    "tie_word_embeddings": True,
    "vocab_size": VOCAB,
    "initializer_range": 0.02,
    "bos_token_id": None,
    "eos_token_id": EOS,
    "pad_token_id": 0,
    "torch_dtype": "float32",
}

# The prompt whose PyTorch logits the C++ test compares with (also the demo's example prompt).
CHECK_PROMPT = "count from 120: 120 121 122"


# ---- The corpus ---------------------------------------------------------------------------------

DETERMINERS = ["the", "a", "every", "one"]
ADJECTIVES = ["small", "red", "old", "quiet", "green", "big", "happy", "dark"]
NOUNS = ["cat", "dog", "bird", "house", "ball", "tree", "river", "child", "car", "book"]
VERBS = ["sees", "likes", "finds", "moves", "follows", "watches", "keeps", "wants"]
PREPOSITIONS = ["near", "under", "behind", "over", "beside"]


def noun_phrase(rng):
    words = [rng.choice(DETERMINERS)]
    if rng.random() < 0.5:
        words.append(rng.choice(ADJECTIVES))
    words.append(rng.choice(NOUNS))
    return " ".join(words)


def sentence(rng):
    text = noun_phrase(rng) + " " + rng.choice(VERBS) + " " + noun_phrase(rng)
    if rng.random() < 0.5:
        text += " " + rng.choice(PREPOSITIONS) + " " + noun_phrase(rng)
    return text + "."


def counting(rng):
    start = rng.randrange(0, 1000)
    length = rng.randrange(4, 9)
    return f"count from {start}: " + " ".join(str(start + i) for i in range(length)) + "."


def addition(rng):
    a, b = rng.randrange(0, 50), rng.randrange(0, 50)
    return f"{a} + {b} = {a + b}."


def corpus_lines(rng, count):
    kinds = [sentence, counting, addition]
    return [kinds[rng.randrange(3)](rng) for _ in range(count)]


def encode(text):
    return [b + BYTE_OFFSET for b in text.encode("utf-8")]


def decode(ids):
    return bytes(i - BYTE_OFFSET for i in ids if BYTE_OFFSET <= i < 256 + BYTE_OFFSET).decode(
        "utf-8", errors="replace")


# ---- The model (Hugging Face's Llama in plain PyTorch) ------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_tables(head_dim, theta, length, dtype):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    freqs = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    angles = torch.cat((freqs, freqs), dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = (c["num_attention_heads"],
                                                    c["num_key_value_heads"], c["head_dim"])
        hidden = c["hidden_size"]
        self.q_proj = nn.Linear(hidden, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, hidden, bias=False)

    def forward(self, x, cos, sin):
        batch, seq, _ = x.shape
        q = self.q_proj(x).view(batch, seq, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = self.heads // self.kv_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        mask = torch.full((seq, seq), float("-inf"), dtype=x.dtype).triu(1)
        out = torch.softmax(scores + mask, dim=-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, -1))


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.up_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(c["intermediate_size"], c["hidden_size"], bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = Mlp(c)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class TinyLlama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = Body(c)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=c["initializer_range"])

    def forward(self, ids):
        c = self.config
        x = self.model.embed_tokens(ids)
        cos, sin = rope_tables(c["head_dim"], c["rope_theta"], ids.shape[1], x.dtype)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return self.model.norm(x) @ self.model.embed_tokens.weight.t()  # Tied LM head.


# ---- Writing ------------------------------------------------------------------------------------

def write_safetensors(path, tensors, metadata):
    """The safetensors format by hand (8-byte little-endian header length, JSON header, data),
    as Hugging Face writes it: tensors in name order, the header padded with spaces to 8 bytes."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype("<f4")).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_npy_f64(path, array):
    np.save(path, np.ascontiguousarray(array, dtype="<f8"))


# ---- Training and evaluation --------------------------------------------------------------------

def batches(tokens, rng, batch, seq):
    starts = [rng.randrange(0, len(tokens) - seq - 1) for _ in range(batch)]
    chunk = torch.tensor([tokens[s:s + seq + 1] for s in starts], dtype=torch.long)
    return chunk[:, :-1], chunk[:, 1:]


@torch.no_grad()
def held_out_accuracy(model, tokens, seq):
    """Top-1 next-token accuracy over the held-out text in windows of `seq` tokens (each window's
    first position predicted from a one-token context, as the model would be used)."""
    correct = total = 0
    for start in range(0, len(tokens) - seq - 1, seq):
        ids = torch.tensor([tokens[start:start + seq]], dtype=torch.long)
        target = torch.tensor(tokens[start + 1:start + seq + 1], dtype=torch.long)
        predicted = model(ids)[0].argmax(-1)
        correct += int((predicted == target).sum())
        total += seq
    return correct / total, total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--seq", type=int, default=128)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    train_text = "\n".join(corpus_lines(rng, 40000)) + "\n"
    held_out_text = "\n".join(corpus_lines(rng, 2000)) + "\n"
    train, held_out = encode(train_text), encode(held_out_text)

    # The unigram baseline: always predict the most frequent training token.
    counts = np.bincount(np.array(train), minlength=VOCAB)
    unigram_token = int(counts.argmax())
    held = np.array(held_out[1:])
    unigram_accuracy = float((held == unigram_token).mean())

    model = TinyLlama(CONFIG)
    parameters = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95),
                                  weight_decay=0.01)
    warmup = 50
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) *
        0.5 * (1 + math.cos(math.pi * min(step, args.steps) / args.steps)))
    start = time.time()
    for step in range(args.steps):
        x, y = batches(train, rng, args.batch, args.seq)
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d} loss {loss.item():.4f} ({time.time() - start:.0f} s)",
                  flush=True)
    train_seconds = time.time() - start
    model.eval()
    accuracy, positions = held_out_accuracy(model, held_out, args.seq)
    print(f"held-out top-1 {accuracy:.4f} over {positions} positions; unigram {unigram_accuracy:.4f}")
    if accuracy < unigram_accuracy + 0.25:
        sys.exit(f"the model did not learn enough: top-1 {accuracy:.4f} does not beat the "
                 f"unigram baseline {unigram_accuracy:.4f} by 0.25")

    os.makedirs(args.out_dir, exist_ok=True)
    config = {k: v for k, v in CONFIG.items() if v is not None}
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "ByT5Tokenizer", "extra_ids": 0, "pad_token": "<pad>",
                   "eos_token": "</s>", "unk_token": "<unk>"}, f, indent=2)
        f.write("\n")
    tensors = {name: p for name, p in model.state_dict().items()}
    weights_path = os.path.join(args.out_dir, "model.safetensors")
    write_safetensors(weights_path, tensors, {"format": "pt"})
    with open(weights_path, "rb") as f:
        weights_sha256 = hashlib.sha256(f.read()).hexdigest()

    # PyTorch's float64 logits of the check prompt, for the C++ test.
    prompt = encode(CHECK_PROMPT)
    with torch.no_grad():
        logits = model.double()(torch.tensor([prompt], dtype=torch.long))[0].numpy()
    write_npy_f64(os.path.join(args.out_dir, "check_logits.npy"), logits)
    greedy = list(prompt)
    with torch.no_grad():
        for _ in range(24):
            greedy.append(int(model(torch.tensor([greedy]))[0, -1].argmax()))
    continuation = decode(greedy[len(prompt):])

    provenance = f"""# tiny-llama-bytes: provenance

A Llama-style model with learned weights, small enough to ship (issue 16 item 0): TTTv2's token
accuracy, its degenerate-output check and `ttt demo --model` need a model that has learned
something, and no checkpoint can be downloaded here.

| | |
|---|---|
| script | `tools/train_tiny_llama.py` |
| command | `/usr/bin/python3 tools/train_tiny_llama.py {args.out_dir}` (from the repository root; about 8 minutes on one core) |
| seed | {args.seed} (Python's `random` for the corpus and batches, `torch.manual_seed` for the initial weights) |
| threads | 1 (`torch.set_num_threads(1)`) |
| PyTorch | {torch.__version__} (Debian python3-torch), float32 on the CPU |
| numpy | {np.__version__} |
| trained | {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')}, {train_seconds:.0f} s, {args.steps} steps of {args.batch} x {args.seq} tokens, AdamW lr 3e-3 (warm-up 50 steps, cosine), weight decay 0.01, gradient clip 1.0 |
| parameters | {parameters:,} (hidden 128, 4 layers, 4 query / 2 key-value heads of 32, SwiGLU 384, tied embeddings) |
| weights | `model.safetensors`, float32, sha256 `{weights_sha256}` |

## Corpus

Generated by the script (no third-party text, nothing to license): {len(train):,} training bytes
and {len(held_out):,} held-out bytes of lines of three kinds: sentences of a small grammar ("the
small cat sees a red ball near the house."), counting ("count from 317: 317 318 319 320."), and
addition facts ("48 + 27 = 75."). The held-out lines are drawn after the training lines from the
same seeded generator.

## Tokens

ByT5's byte scheme (`tokenizer_config.json`: Hugging Face's `ByT5Tokenizer` with `extra_ids` 0):
0 pad, 1 end of sequence, 2 unknown, byte b is token b + 3. The vocabulary is padded to 288 (a
multiple of 32); ids 259..287 never occur in the corpus.

## What it learned

| | held-out next-token top-1 |
|---|---|
| this model | {accuracy:.4f} ({positions:,} positions, windows of {args.seq}) |
| unigram baseline (always token {unigram_token}, {bytes([unigram_token - BYTE_OFFSET])!r}) | {unigram_accuracy:.4f} |
| margin | {accuracy - unigram_accuracy:+.4f} (the script fails below +0.25) |

Greedy continuation of `{CHECK_PROMPT}` by PyTorch (Python string syntax): `{continuation!r}`

`check_logits.npy` holds PyTorch's float64 logits of that prompt ([{len(prompt)}, {VOCAB}]), which
`tests/models/llama/trained_model_test.cc` compares with TTTv2's float64 reference.

## Token golden and targets (written by `ttt`, not by this script)

`reference_tokens.h5` is the model's token golden (docs/trace-format.md "Token goldens"), made by
TTTv2's float64 reference after training:

    ttt accuracy --model {args.out_dir} --make-golden {args.out_dir}/reference_tokens.h5 \\
        --prompt "{CHECK_PROMPT}" --continuation 96

`accuracy_targets.json` holds the teacher-forced top-1/top-5 each device's default ImplConfigs
must reach against it (`ttt accuracy --model {args.out_dir} --device D`), set from the measured
values rounded down, with a tolerance of 0.02. Retraining changes the weights: make the golden
again and review the targets.
"""
    with open(os.path.join(args.out_dir, "PROVENANCE.md"), "w") as f:
        f.write(provenance)
    print(f"wrote {args.out_dir}; greedy continuation: {continuation!r}")


if __name__ == "__main__":
    main()

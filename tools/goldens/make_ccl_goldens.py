#!/usr/bin/python3
"""Writes goldens/collectives.h5: PyTorch goldens of the collective blocks (blocks/ccl).

Each call is one collective on a mesh (docs/blocks.md "Collectives"): its input x is stored per
device as the container x/0 .. x/<devices-1> (generator nodes of tools/ttt_random.py, float32
normals), its placements as the scalar "placements". PyTorch computes, independently of the C++:
  - reference/y: the exact result in float64 (sum or concatenation, composed over the mesh);
  - outputs/y:   the device's emulated result, the reduction done with torch bfloat16 / float32
                 tensor additions in ring order (chunk c starts at device (c + 1) % n and ends at
                 c) or line order (device 0 to n - 1), as docs/numerics.md "Collectives" says.
tests/blocks/ccl/ccl_goldens_test.cc replays every call: the reference must match reference/y to
float32 rounding and the device path must reproduce outputs/y bit for bit.

Run with Debian's interpreter (python3-torch, python3-numpy, python3-h5py):
    /usr/bin/python3 tools/goldens/make_ccl_goldens.py goldens
"""

import json
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import Gen, one_file_main, open_trace  # noqa: E402  (generator nodes of tools/ttt_random.py)

NAME = "collectives"
TORCH_DTYPE = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def groups(rows, cols, axis):
    """Devices of each group along `axis`, in axis order (row-major device ids)."""
    if axis == 1:
        return [[r * cols + c for c in range(cols)] for r in range(rows)]
    return [[r * cols + c for r in range(rows)] for c in range(cols)]


def chunks(x, n, dim):
    return list(torch.chunk(x, n, dim=dim))


def reduce_scatter(inputs, dim, topology, dtype):
    """Chunk c of the group's sum, accumulated in torch `dtype` in ring or line order."""
    n = len(inputs)
    sent = [chunks(x.to(dtype), n, dim) for x in inputs]
    result = []
    for c in range(n):
        order = [(c + 1 + k) % n for k in range(n)] if topology == "ring" else list(range(n))
        acc = sent[order[0]][c]
        for k in order[1:]:
            acc = acc + sent[k][c]  # A torch bfloat16 add rounds the float32 sum to bfloat16.
        result.append(acc)
    return result


def compose(shards, rows, cols, placements):
    """The whole tensor of per-device shards (auto_compose): sharded axes concatenated."""
    def along(axis_parts, placement):
        if placement == "replicated":
            return axis_parts[0]
        return torch.cat(axis_parts, dim=int(placement[len("shard("):-1]))
    row_tensors = [along([shards[r * cols + c] for c in range(cols)], placements[1])
                   for r in range(rows)]
    return along(row_tensors, placements[0])


class Writer:
    def __init__(self, path, created_utc):
        self.file = open_trace(path, "make_ccl_goldens.py", created_utc,
                               {"golden": NAME, "reference": "PyTorch float64",
                                "torch": torch.__version__})
        self.calls = self.file.create_group("calls")

    def call(self, name, block, spec, impl_config, device, placements, xs, device_y, exact_y):
        group = self.calls.create_group(f"{len(self.calls):06d}")
        group.attrs["name"] = f"{NAME}.{name}"
        group.attrs["block"] = block
        group.attrs["spec"] = json.dumps(spec)
        group.attrs["impl_config"] = json.dumps(impl_config)
        group.attrs["device"] = device
        group.attrs["scalars"] = json.dumps({"placements": placements})
        group.attrs["verdict"] = "unchecked"
        inputs = group.create_group("inputs").create_group("x")
        for index, x in enumerate(xs):
            x.write(inputs, str(index))
        for where, values, dtype, by in (
                ("outputs", device_y, impl_config["output_dtype"],
                 "PyTorch, ring/line order in the reduce dtype"),
                ("reference", exact_y, "float32", "PyTorch float64, rounded to float32")):
            dataset = group.create_group(where).create_dataset(
                "y", data=values.to(torch.float32).numpy(), compression="gzip",
                compression_opts=6, shuffle=True)
            dataset.attrs["ttt_dtype"] = dtype
            dataset.attrs["computed_by"] = by

    def close(self):
        self.file.close()


def collective(w, name, block, mesh, axis, extra, config, device, placements, shape):
    rows, cols = (int(v) for v in mesh.split("x"))
    xs = [Gen(NAME, f"{name}.x/{d}", shape) for d in range(rows * cols)]
    values = [x.torch() for x in xs]  # float64
    out_dtype = TORCH_DTYPE[config["output_dtype"]]
    device_shards = [None] * (rows * cols)
    exact_shards = [None] * (rows * cols)
    out_placements = list(placements)
    for members in groups(rows, cols, axis):
        group_in = [values[d] for d in members]
        n = len(members)
        if block == "all_gather":
            dev = [torch.cat([v.to(out_dtype) for v in group_in], dim=extra["dim"])] * n
            ref = [torch.cat(group_in, dim=extra["dim"])] * n
        elif block == "broadcast":
            dev = [group_in[extra["root"]].to(out_dtype)] * n
            ref = [group_in[extra["root"]]] * n
        else:
            rs = reduce_scatter(group_in, extra["dim"], config["topology"],
                                TORCH_DTYPE[config["reduce_dtype"]])
            exact = chunks(sum(group_in[1:], group_in[0]), n, extra["dim"])
            if block == "reduce_scatter":
                dev = [chunk.to(out_dtype) for chunk in rs]
                ref = exact
            else:
                dev = [torch.cat(rs, dim=extra["dim"]).to(out_dtype)] * n
                ref = [torch.cat(exact, dim=extra["dim"])] * n
        for position, d in enumerate(members):
            device_shards[d] = dev[position]
            exact_shards[d] = ref[position]
    out_placements[axis] = f"shard({extra['dim']})" if block == "reduce_scatter" else "replicated"
    spec = dict({"mesh": mesh, "axis": axis}, **extra)
    w.call(name, block, spec, config, device, placements, xs,
           compose(device_shards, rows, cols, out_placements),
           compose(exact_shards, rows, cols, out_placements))


def write(directory, created_utc):
    path = os.path.join(directory, NAME + ".h5")
    w = Writer(path, created_utc)
    ring = {"topology": "ring", "num_links": 1, "reduce_dtype": "bfloat16",
            "output_dtype": "bfloat16"}
    line = dict(ring, topology="line")
    move = {"topology": "ring", "num_links": 1, "output_dtype": "bfloat16"}
    rep = ["replicated", "replicated"]
    try:
        # T3K (1x8): TTTv1's FF2 all-reduce of a decode batch of 32 rows of 256 (dim 1 chunks).
        collective(w, "all_reduce.t3k_ring_bf16", "all_reduce", "1x8", 1, {"dim": 1}, ring, "T3K",
                   rep, (32, 256))
        collective(w, "all_reduce.t3k_ring_fp32", "all_reduce", "1x8", 1, {"dim": 1},
                   dict(ring, reduce_dtype="float32", output_dtype="float32"), "T3K", rep,
                   (32, 256))
        collective(w, "all_reduce.n300_line_bf16", "all_reduce", "1x2", 1, {"dim": 1}, line,
                   "N300", rep, (32, 256))
        collective(w, "reduce_scatter.t3k_ring_bf16", "reduce_scatter", "1x8", 1, {"dim": 1},
                   ring, "T3K", rep, (32, 256))
        collective(w, "reduce_scatter.2x4_line_bf16", "reduce_scatter", "2x4", 0, {"dim": 0},
                   line, "TG", ["replicated", "shard(1)"], (8, 64))
        collective(w, "all_gather.t3k", "all_gather", "1x8", 1, {"dim": 1}, move, "T3K",
                   ["replicated", "shard(1)"], (32, 32))
        collective(w, "all_gather.tg_columns", "all_gather", "8x4", 0, {"dim": 0},
                   dict(move, topology="line", num_links=2), "TG", ["shard(0)", "shard(1)"],
                   (4, 16))
        collective(w, "broadcast.t3k_root3", "broadcast", "1x8", 1, {"root": 3}, move, "T3K",
                   ["replicated", "shard(1)"], (32, 32))
    finally:
        w.close()
    return path


def main(argv=None):
    return one_file_main(__doc__, "collectives.h5", write, argv)


if __name__ == "__main__":
    sys.exit(main())

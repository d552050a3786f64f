#!/usr/bin/env python3
"""Writes a small TTTv2 trace with h5py alone, following docs/trace-format.md to the letter.

The output, tests/data/interop_trace.h5, is checked in; a C++ test reads and replays it. It is the
proof that other tools can write our format without any TTTv2 code. Every expected value in it is
computed here with numpy (never by the C++ code under test):

  /calls/000000  ttt.scale, float32 x, output float32: y = x * 2 (exact)
  /calls/000001  ttt.scale, bfloat16 x, output rounded to bfloat16 (round to nearest, ties to even)
  /calls/000002  ttt.scale, x is a generator node (seeded splitmix64-normal, no stored values):
                 its outputs come from tools/ttt_random.py, the numpy twin of the C++ generator
  /calls/000003  no block: int64 tokens, a container kv/0, kv/1, a float64 dataset (read as
                 float64), a rank-0 int32
  /calls/000004  ttt.scale whose x is a hard link to the shared tensor /tensors/x_shared; only the
                 required attributes name and block, every optional one left out
Unknown extra attributes are sprinkled around: readers must ignore them.

Usage (Debian's python3 with python3-numpy and python3-h5py; tools/setup.sh --python):
    python3 tools/make_interop_trace.py tests/data/interop_trace.h5
"""

import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ttt_random  # noqa: E402  (the numpy twin of validation/tensor/random.h)


def to_bfloat16(values):
    """float32 -> the nearest bfloat16 value (ties to even), returned as float32."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounding = np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))
    rounded = ((bits + rounding) >> np.uint64(16)) << np.uint64(16)
    return rounded.astype(np.uint32).view(np.float32)


def tensor(group, name, values, ttt_dtype):
    """A dataset with the trace format's ttt_dtype attribute."""
    dataset = group.create_dataset(name, data=values)
    dataset.attrs["ttt_dtype"] = ttt_dtype
    return dataset


def scale_call(calls, seq, x, scale, output_dtype, x_dtype):
    """A ttt.scale call: device y = float32(x * scale) rounded to output_dtype; reference in
    float64, stored as float32."""
    group = calls.create_group(seq)
    group.attrs["name"] = "model.scale." + seq
    group.attrs["block"] = "ttt.scale"
    group.attrs["spec"] = json.dumps({"shape": list(np.shape(x))})
    group.attrs["impl_config"] = json.dumps({"output_dtype": output_dtype})
    group.attrs["device"] = "N150"
    group.attrs["scalars"] = json.dumps({"scale": scale})
    group.attrs["device_ns"] = np.int64(1234)
    group.attrs["reference_ns"] = np.int64(5678)
    group.attrs["verdict"] = "pass"
    group.attrs["metrics"] = "{}"
    inputs = group.create_group("inputs")
    if x is not None:
        tensor(inputs, "x", x, x_dtype)
    return group


def outputs(group, x, scale, output_dtype):
    device = (np.asarray(x, dtype=np.float32) * np.float32(scale)).astype(np.float32)
    if output_dtype == "bfloat16":
        device = to_bfloat16(device)
    reference = (np.asarray(x, dtype=np.float64) * scale).astype(np.float32)
    tensor(group.create_group("outputs"), "y", device, output_dtype)
    tensor(group.create_group("reference"), "y", reference, "float32")


def main(path):
    with h5py.File(path, "w", libver="earliest") as f:
        f.attrs["ttt_format"] = "ttt-trace"
        f.attrs["ttt_format_version"] = np.int64(1)
        f.attrs["producer"] = "tools/make_interop_trace.py (h5py %s)" % h5py.__version__
        f.attrs["created_utc"] = "2024-06-01T12:00:00Z"
        f.attrs["meta"] = json.dumps({"model": "interop", "writer": "h5py"})
        f.attrs["writer_note"] = "an attribute readers do not know and must ignore"
        calls = f.create_group("calls")
        shared = f.create_group("tensors")

        x0 = np.array([[1.0, -2.5, 3.25], [0.0, 4.0, -0.125]], dtype=np.float32)
        call = scale_call(calls, "000000", x0, 2.0, "float32", "float32")
        call.attrs["unknown_call_attribute"] = np.int64(42)
        outputs(call, x0, 2.0, "float32")

        x1 = to_bfloat16(np.linspace(-3.0, 3.0, 24, dtype=np.float32).reshape(4, 6))
        call = scale_call(calls, "000001", x1, 0.3, "bfloat16", "bfloat16")
        outputs(call, x1, 0.3, "bfloat16")

        call = scale_call(calls, "000002", None, 1.5, "bfloat16", None)
        call.attrs["spec"] = json.dumps({"shape": [4, 16]})
        generated = call["inputs"].create_group("x")
        generated.attrs["ttt_generator"] = "splitmix64-normal"
        generated.attrs["seed"] = np.uint64(7)
        generated.attrs["shape"] = np.array([4, 16], dtype=np.int64)
        generated.attrs["mean"] = 0.0
        generated.attrs["std"] = 1.0
        generated.attrs["ttt_dtype"] = "float32"
        outputs(call, ttt_random.normal((4, 16), seed=7, mean=0.0, std=1.0), 1.5, "bfloat16")

        call = calls.create_group("000003")
        call.attrs["name"] = "model.embedding"
        call.attrs["block"] = ""
        inputs = call.create_group("inputs")
        tensor(inputs, "tokens", np.array([5, 17, 2**40], dtype=np.int64), "int64")
        kv = inputs.create_group("kv")
        tensor(kv, "0", np.ones((2, 2), dtype=np.float32), "float32")
        tensor(kv, "1", np.full((2, 2), 0.5, dtype=np.float32), "float32")
        inputs.create_dataset("wide", data=np.array([0.1, 1e300, -2.0], dtype=np.float64))
        inputs.create_dataset("position", data=np.int32(7))
        call.create_group("outputs")

        x4 = np.arange(8, dtype=np.float32).reshape(2, 4) - 3.0
        tensor(shared, "x_shared", x4, "float32").attrs["note"] = "extra"
        call = calls.create_group("000004")
        call.attrs["name"] = "model.scale.000004"
        call.attrs["block"] = "ttt.scale"
        call.attrs["scalars"] = json.dumps({"scale": -1.0})
        inputs = call.create_group("inputs")
        inputs["x"] = shared["x_shared"]  # A hard link: the shared tensor, stored once.
        outputs(call, x4, -1.0, "float32")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

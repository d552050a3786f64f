#!/usr/bin/env python3
"""Writes tests/data/compare/tensors.h5, the HDF5 inputs of tests/tools/compare_command_test.cc.

Run with Debian's python3 (python3-numpy, python3-h5py) from the repository root:
    python3 tools/make_compare_test_data.py tests/data/compare
"""

import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ttt_random  # noqa: E402  (the numpy twin of the C++ generator)


def round_to_bfloat16(values):
    """float32 -> nearest bfloat16 (ties to even) as float32; finite inputs only."""
    bits = values.astype(np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(
        0xFFFF0000)
    return rounded.view(np.float32)


def main(directory):
    os.makedirs(directory, exist_ok=True)
    reference = ttt_random.normal((2, 32), seed=1)
    with h5py.File(os.path.join(directory, "tensors.h5"), "w") as f:
        f["reference"] = reference
        # A bfloat16 device output: the trace format stores float32 values plus ttt_dtype.
        f["device_bf16"] = round_to_bfloat16(reference)
        f["device_bf16"].attrs["ttt_dtype"] = "bfloat16"
        f["reference_f64"] = reference.astype(np.float64)
        f["nested/ids_i32"] = np.arange(6, dtype=np.int32).reshape(2, 3)
        f["nested/ids_i64"] = np.arange(6, dtype=np.int64).reshape(2, 3)
        f["u8"] = np.arange(4, dtype=np.uint8)
        f["bad_ttt_dtype"] = reference
        f["bad_ttt_dtype"].attrs["ttt_dtype"] = "bfloat9"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_compare_test_data.py OUTPUT_DIRECTORY")
    main(sys.argv[1])

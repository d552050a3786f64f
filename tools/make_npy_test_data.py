#!/usr/bin/env python3
"""Writes the .npy files tests/validation/tensor/npy_test.cc reads, with numpy itself.

Run with Debian's python3 (python3-numpy) from the repository root:
    python3 tools/make_npy_test_data.py tests/data/npy

Valid files are written by np.save / np.lib.format.write_array; the broken ones are numpy output
cut or edited byte by byte, so every failure path of the reader has a real file.
"""

import io
import os
import sys

import numpy as np


def npy_bytes(array, version=None):
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array)
    else:
        np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


def header_end(data):
    """Offset of the first data byte of a version 1.0 file."""
    return 10 + data[8] + 256 * data[9]


def main(directory):
    os.makedirs(directory, exist_ok=True)
    files = {}

    # Valid files; npy_test.cc hard-codes these values.
    f4 = np.array([[0.0, 1.5, -2.0], [3.25, 1e-3, -0.0]], dtype=np.float32)
    files["f4_2x3.npy"] = npy_bytes(f4)
    files["f2_6.npy"] = npy_bytes(
        np.array([1.0, -2.5, 65504.0, 2.0 ** -24, np.inf, -0.0], dtype=np.float16))
    # float64 is read exactly (and written back bit for bit); converting it to float32 rounds to
    # nearest, ties to even, and beyond float32's range gives Inf.
    files["f8_8.npy"] = npy_bytes(np.array(
        [0.1, -1e300, 1e300, 1e-50, np.nan, 1.0 + 2.0 ** -24, 1.0 + 3 * 2.0 ** -24, -np.inf],
        dtype=np.float64))
    files["i4_3x2.npy"] = npy_bytes(
        np.array([[-2 ** 31, 2 ** 31 - 1], [0, -1], [7, 42]], dtype=np.int32))
    files["i8_4.npy"] = npy_bytes(
        np.array([-2 ** 63, 2 ** 63 - 1, 0, 123456789012], dtype=np.int64))
    files["v2_f4_2x3.npy"] = npy_bytes(f4, version=(2, 0))
    files["v3_f4_2x3.npy"] = npy_bytes(f4, version=(3, 0))
    files["scalar_f4.npy"] = npy_bytes(np.array(3.5, dtype=np.float32))
    files["empty_f4_0x3.npy"] = npy_bytes(np.zeros((0, 3), dtype=np.float32))
    files["rank3_i8_2x3x4.npy"] = npy_bytes(np.arange(24, dtype=np.int64).reshape(2, 3, 4))
    files["rank8_f4.npy"] = npy_bytes(np.full((1, 2, 1, 2, 1, 2, 1, 2), 0.25, dtype=np.float32))

    # Files the reader must reject with a clear message.
    files["fortran_f4_2x3.npy"] = npy_bytes(np.asfortranarray(f4))
    files["bigendian_f4_3.npy"] = npy_bytes(np.array([1.0, 2.0, 3.0], dtype=">f4"))
    files["bigendian_i8_3.npy"] = npy_bytes(np.array([1, 2, 3], dtype=">i8"))
    files["u1_3.npy"] = npy_bytes(np.array([1, 2, 3], dtype=np.uint8))
    files["bool_3.npy"] = npy_bytes(np.array([True, False, True]))
    files["c8_2.npy"] = npy_bytes(np.array([1 + 2j, 3 - 4j], dtype=np.complex64))
    files["structured.npy"] = npy_bytes(
        np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))
    files["rank9_f4.npy"] = npy_bytes(np.zeros((1,) * 9, dtype=np.float32))

    good = files["f4_2x3.npy"]
    files["truncated_data.npy"] = good[:-4]
    files["trailing_data.npy"] = good + b"\x00\x00\x00\x00"
    files["truncated_header.npy"] = good[:40]
    files["truncated_preamble.npy"] = good[:8]
    files["empty_file.npy"] = b""
    files["bad_magic.npy"] = b"PK\x03\x04" + good[4:]
    files["text_file.npy"] = b"0.5 1.5 2.5\n"
    files["bad_version.npy"] = good[:6] + b"\x04\x00" + good[8:]
    header_start, data_start = 10, header_end(good)
    header = good[header_start:data_start].decode("latin1")

    def with_header(text):
        """`good` with its header replaced by `text`, padded to the same length."""
        assert len(text) <= len(header) - 1
        return good[:header_start] + (text.ljust(len(header) - 1) + "\n").encode(
            "latin1") + good[data_start:]

    files["corrupt_header_bool.npy"] = with_header(
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }")
    files["corrupt_header_shape.npy"] = with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }")
    files["corrupt_header_unclosed.npy"] = with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)")
    files["missing_shape_key.npy"] = with_header("{'descr': '<f4', 'fortran_order': False, }")
    files["unknown_key.npy"] = with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1, }")
    files["shape_mismatch_data.npy"] = with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }")
    files["binary_garbage_header.npy"] = good[:header_start] + bytes(
        range(128, 128 + len(header))) + good[data_start:]

    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as out:
            out.write(data)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_npy_test_data.py OUTPUT_DIRECTORY")
    main(sys.argv[1])

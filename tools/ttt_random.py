#!/usr/bin/env python3
"""The numpy twin of TTTv2's seeded random tensors (validation/tensor/random.h).

For the same (seed, shape, distribution, parameters) this module produces float32 arrays that are
bit-identical to the C++ generator; docs/random.md writes the algorithm down. Only numpy is used,
and only operations IEEE 754 rounds exactly (+, -, *, /, sqrt, frexp, conversions): numpy's own
log, sin and cos differ from the C library in the last bit, so the normal distribution uses our
own logarithm, the same sequence of operations as random.cc.

As a module:
    import ttt_random
    x = ttt_random.normal((32, 4096), seed=1, mean=0.0, std=1.0)   # np.float32 array

As a command (Debian's python3 with python3-numpy):
    python3 tools/ttt_random.py normal --seed 1 --shape 32,4096 --out x.npy
    python3 tools/ttt_random.py uniform --seed 1 --shape 8 --low -1 --high 1
    python3 tools/ttt_random.py integers --seed 1 --shape 8 --low 0 --high 32000 --dtype int32
    python3 tools/ttt_random.py test-vectors tests/data/random   # regenerates the C++ test data
"""

import argparse
import json
import os
import sys

import numpy as np

U64 = np.uint64
GOLDEN_GAMMA = U64(0x9E3779B97F4A7C15)
MIX_1 = U64(0xBF58476D1CE4E5B9)
MIX_2 = U64(0x94D049BB133111EB)

# Elements generated per numpy step; bounds the temporaries for large tensors.
CHUNK = 1 << 20

# Our natural logarithm: log(p) = e*ln2 + 2*atanh(s), s = (f-1)/(f+1), f in [sqrt(1/2), sqrt(2)).
SQRT_HALF = np.sqrt(np.float64(0.5))
LN2_HI = np.float64(6.93147180369123816490e-01)  # ln 2 with 32 trailing zero bits: e*LN2_HI exact.
LN2_LO = np.float64(1.90821492927058770002e-10)  # ln 2 - LN2_HI.
LOG_TERMS = 11  # 1, 1/3, ..., 1/21: |s| <= 0.1716, so the next term is below 2^-56 relative.
LOG_COEFFICIENTS = [np.float64(1.0) / np.float64(2 * k + 1) for k in range(LOG_TERMS)]

# Peter Acklam's rational approximation of the normal quantile (relative error < 1.15e-9).
ACKLAM_A = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
            1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
ACKLAM_B = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
            6.680131188771972e+01, -1.328068155288572e+01]
ACKLAM_C = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
            -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
ACKLAM_D = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
            3.754408661907416e+00]
ACKLAM_P_LOW = np.float64(0.02425)

TWO_POW_MINUS_53 = np.float64(2.0 ** -53)
MANTISSA_MASK = U64((1 << 52) - 1)


def _u64(value):
    """A Python int (any sign) as numpy uint64, modulo 2^64."""
    return U64(int(value) % (1 << 64))


def splitmix64_at(seed, index):
    """SplitMix64 output number index+1 from state `seed`, for uint64 array `index`.

    z = seed + (index + 1) * 0x9E3779B97F4A7C15 (mod 2^64), then the SplitMix64 finalizer.
    """
    index = np.asarray(index, dtype=U64)
    with np.errstate(over="ignore"):
        z = _u64(seed) + (index + U64(1)) * GOLDEN_GAMMA
        z = (z ^ (z >> U64(30))) * MIX_1
        z = (z ^ (z >> U64(27))) * MIX_2
        return z ^ (z >> U64(31))


def log(p):
    """Natural log of positive normal float64 values, the same operations as random.cc."""
    f, e = np.frexp(np.asarray(p, dtype=np.float64))
    small = f < SQRT_HALF
    f = np.where(small, f * 2.0, f)
    e = np.where(small, e - 1, e).astype(np.float64)
    s = (f - 1.0) / (f + 1.0)
    s2 = s * s
    poly = np.full_like(s, LOG_COEFFICIENTS[-1])
    for coefficient in reversed(LOG_COEFFICIENTS[:-1]):
        poly = poly * s2 + coefficient
    return e * LN2_HI + (e * LN2_LO + (2.0 * s) * poly)


def _horner(coefficients, x):
    result = np.full_like(x, coefficients[0])
    for coefficient in coefficients[1:]:
        result = result * x + coefficient
    return result


def lower_normal_quantile(p):
    """Acklam's quantile for float64 p in (0, 0.5): a value <= 0."""
    p = np.asarray(p, dtype=np.float64)
    tail = p < ACKLAM_P_LOW
    # Tail: q = sqrt(-2 log p). Evaluated only where needed; `where` keeps log's input valid.
    q_tail = np.sqrt(-2.0 * log(np.where(tail, p, 0.25)))
    z_tail = _horner(ACKLAM_C, q_tail) / (_horner(ACKLAM_D, q_tail) * q_tail + 1.0)
    q = p - 0.5
    r = q * q
    z_central = _horner(ACKLAM_A, r) * q / (_horner(ACKLAM_B, r) * r + 1.0)
    return np.where(tail, z_tail, z_central)


def standard_normal_from_bits(bits):
    """The standard normal float64 value of 64-bit draws: bit 63 is the sign, bits 11..62 the
    probability p = (k + 0.5) * 2^-53 in (0, 0.5), z = -quantile(p) when the sign bit is set."""
    bits = np.asarray(bits, dtype=U64)
    k = (bits >> U64(11)) & MANTISSA_MASK
    p = (k.astype(np.float64) + 0.5) * TWO_POW_MINUS_53
    z = lower_normal_quantile(p)
    return np.where((bits >> U64(63)) == U64(1), -z, z)


def unit_uniform_from_bits(bits):
    """u = (bits >> 11) * 2^-53, uniform in [0, 1)."""
    return (np.asarray(bits, dtype=U64) >> U64(11)).astype(np.float64) * TWO_POW_MINUS_53


def _chunks(numel):
    for start in range(0, numel, CHUNK):
        yield start, min(numel, start + CHUNK)


def _numel(shape):
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def _shape(shape):
    return (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)


def _to_float32(values):
    with np.errstate(over="ignore"):
        return values.astype(np.float32)


def uniform(shape, seed, low=0.0, high=1.0):
    """float32 values float32(low + (high - low) * u) in [low, high); a value that rounds up to
    high or above is replaced by the next float32 below it."""
    shape = _shape(shape)
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high) and high > low and np.isfinite(high - low)):
        raise ValueError(f"[uniform] need finite low < high, got low={low!r} high={high!r}")
    numel = _numel(shape)
    out = np.empty(numel, dtype=np.float32)
    width = np.float64(high) - np.float64(low)
    for start, stop in _chunks(numel):
        u = unit_uniform_from_bits(splitmix64_at(seed, np.arange(start, stop, dtype=U64)))
        values = _to_float32(np.float64(low) + width * u)
        too_high = values.astype(np.float64) >= high
        values[too_high] = np.nextafter(values[too_high], np.float32(-np.inf))
        out[start:stop] = values
    return out.reshape(shape)


def normal(shape, seed, mean=0.0, std=1.0):
    """float32 values float32(mean + std * z), z standard normal (standard_normal_from_bits)."""
    shape = _shape(shape)
    mean, std = float(mean), float(std)
    if not (np.isfinite(mean) and np.isfinite(std) and std >= 0.0):
        raise ValueError(f"[normal] need finite mean and std >= 0, got mean={mean!r} std={std!r}")
    numel = _numel(shape)
    out = np.empty(numel, dtype=np.float32)
    for start, stop in _chunks(numel):
        z = standard_normal_from_bits(splitmix64_at(seed, np.arange(start, stop, dtype=U64)))
        out[start:stop] = _to_float32(np.float64(mean) + np.float64(std) * z)
    return out.reshape(shape)


def _mulhi64(x, y):
    """High 64 bits of the 128-bit product of uint64 arrays, from 32-bit halves."""
    mask32 = U64(0xFFFFFFFF)
    x_lo, x_hi = x & mask32, x >> U64(32)
    y_lo, y_hi = y & mask32, y >> U64(32)
    low_low = x_lo * y_lo
    high_low = x_hi * y_lo
    low_high = x_lo * y_hi
    high_high = x_hi * y_hi
    middle = (low_low >> U64(32)) + (high_low & mask32) + (low_high & mask32)
    return high_high + (high_low >> U64(32)) + (low_high >> U64(32)) + (middle >> U64(32))


def integers(shape, seed, low, high, dtype="int64"):
    """Integers in [low, high): low + floor(x * (high - low) / 2^64) (multiply-shift)."""
    shape = _shape(shape)
    low, high = int(low), int(high)
    limits = {"int32": (-(1 << 31), 1 << 31), "int64": (-(1 << 63), 1 << 63)}
    if dtype not in limits:
        raise ValueError(f"[integers] dtype must be int32 or int64, got {dtype!r}")
    lo_limit, hi_limit = limits[dtype]
    if not (lo_limit <= low < high <= hi_limit):
        raise ValueError(f"[integers] need {lo_limit} <= low < high <= {hi_limit} for {dtype}, "
                         f"got low={low} high={high}")
    numel = _numel(shape)
    out = np.empty(numel, dtype=np.int64)
    span = _u64(high - low)
    with np.errstate(over="ignore"):
        for start, stop in _chunks(numel):
            x = splitmix64_at(seed, np.arange(start, stop, dtype=U64))
            out[start:stop] = (_u64(low) + _mulhi64(x, np.full_like(x, span))).view(np.int64)
    return out.astype(dtype).reshape(shape)


def checksum(values):
    """A position-dependent 64-bit checksum: sum over i of splitmix64_at(bits_i, i) mod 2^64,
    bits_i being the float32 bit pattern (or the int64 two's complement) of element i (flat)."""
    flat = np.ascontiguousarray(values).reshape(-1)
    if flat.dtype == np.float32:
        bits = flat.view(np.uint32).astype(U64)
    elif flat.dtype in (np.int32, np.int64):
        bits = flat.astype(np.int64).view(U64)
    else:
        raise ValueError(f"[checksum] unsupported dtype {flat.dtype}")
    total = 0
    for start, stop in _chunks(flat.size):
        index = np.arange(start, stop, dtype=U64)
        with np.errstate(over="ignore"):
            z = bits[start:stop] + (index + U64(1)) * GOLDEN_GAMMA
            z = (z ^ (z >> U64(30))) * MIX_1
            z = (z ^ (z >> U64(27))) * MIX_2
            z = z ^ (z >> U64(31))
        total = (total + int(np.sum(z, dtype=U64))) % (1 << 64)
    return total


# ------------------------------------------------------------------------------------------------
# Test vectors for tests/validation/tensor/random_test.cc.

BIG_SEED = 0xDEADBEEFCAFEF00D
TAIL_SEED = 7
TAIL_NUMEL = 1 << 24

TENSOR_CASES = [
    # name, distribution, seed, shape, a, b, dtype (integers only)
    ("uniform_seed0", "uniform", 0, [4096], 0.0, 1.0, None),
    ("uniform_seed1", "uniform", 1, [64, 64], -2.0, 3.0, None),
    ("uniform_big_seed", "uniform", BIG_SEED, [2, 8, 256], -0.001, 0.001, None),
    ("normal_seed0", "normal", 0, [4096], 0.0, 1.0, None),
    ("normal_seed1", "normal", 1, [16, 256], 0.5, 2.0, None),
    ("normal_big_seed", "normal", BIG_SEED, [4, 4, 256], -3.0, 0.02, None),
    # [1, 1 + 2^-23): about half the values round up to high and are stepped down to 1.0.
    ("uniform_round_up", "uniform", 5, [1024], 1.0, 1.0 + 2.0 ** -23, None),
    ("integers_seed0", "integers", 0, [4096], 0, 32000, "int64"),
    ("integers_seed1", "integers", 1, [64, 64], -5, 5, "int32"),
    ("integers_big_seed", "integers", BIG_SEED, [4096], -(1 << 62), 1 << 62, "int64"),
    ("integers_full_range", "integers", 2, [4096], -(1 << 63), (1 << 63) - 1, "int64"),
    ("integers_int32_full_range", "integers", 4, [4096], -(1 << 31), 1 << 31, "int32"),
]

CHECKSUM_CASES = [
    # distribution, seed, shape, a, b: 16M values each, checked by their checksum.
    ("normal", 3, [4096, 4096], 0.0, 1.0),
    ("uniform", 3, [4096, 4096], -1.0, 1.0),
    ("integers", 3, [4096, 4096], -1000, 1000),
]


def draw(distribution, shape, seed, a, b, dtype=None):
    if distribution == "uniform":
        return uniform(shape, seed, a, b)
    if distribution == "normal":
        return normal(shape, seed, a, b)
    if distribution == "integers":
        return integers(shape, seed, a, b, dtype or "int64")
    raise ValueError(f"unknown distribution {distribution!r}")


def _hex(value):
    return f"0x{int(value):016x}"


def _special_bits():
    """64-bit draws that reach the generator's corners: both ends of p, the tail boundary, the
    largest |z| (p = 2^-54), both signs."""
    k_p_low = int(np.floor(float(ACKLAM_P_LOW) * 2.0 ** 53))  # k whose p is just below P_LOW.
    ks = [0, 1, 2, 3, 1000, k_p_low - 1, k_p_low, k_p_low + 1, (1 << 51), (1 << 52) - 2,
          (1 << 52) - 1]
    bits = []
    for k in ks:
        for sign in (0, 1):
            for low_bits in (0, 0x7FF):  # The 11 bits below 11 are ignored by the normal.
                bits.append((sign << 63) | (k << 11) | low_bits)
    return bits


def write_test_vectors(directory):
    os.makedirs(directory, exist_ok=True)
    cases = {
        "generated_by": "python3 tools/ttt_random.py test-vectors tests/data/random",
        "splitmix64": [],
        "standard_normal_from_bits": [],
        "tensors": [],
        "checksums": [],
        "tails": {"seed": _hex(TAIL_SEED), "numel": TAIL_NUMEL, "values": []},
    }
    for seed in (0, 1, BIG_SEED):
        indices = np.array([0, 1, 2, 3, 1000, (1 << 32) + 5, (1 << 64) - 1], dtype=U64)
        for index, value in zip(indices, splitmix64_at(seed, indices)):
            cases["splitmix64"].append(
                {"seed": _hex(seed), "index": _hex(index), "value": _hex(value)})
    bits = np.array(_special_bits(), dtype=U64)
    for b, z in zip(bits, standard_normal_from_bits(bits)):
        cases["standard_normal_from_bits"].append(
            {"bits": _hex(b), "value": _hex(np.float64(z).view(U64))})
    for name, distribution, seed, shape, a, b, dtype in TENSOR_CASES:
        values = draw(distribution, shape, seed, a, b, dtype)
        file_name = name + ".npy"
        np.save(os.path.join(directory, file_name), values)
        case = {"name": name, "distribution": distribution, "seed": _hex(seed), "shape": shape,
                "a": a, "b": b, "file": file_name}
        if dtype:
            case["dtype"] = dtype
        cases["tensors"].append(case)
    for distribution, seed, shape, a, b in CHECKSUM_CASES:
        values = draw(distribution, shape, seed, a, b)
        cases["checksums"].append({"distribution": distribution, "seed": _hex(seed),
                                   "shape": shape, "a": a, "b": b,
                                   "checksum": _hex(checksum(values))})
    tail = normal([TAIL_NUMEL], TAIL_SEED)
    order = np.argsort(tail, kind="stable")
    extreme = np.concatenate([order[:8], order[-8:]])
    for index in extreme:
        cases["tails"]["values"].append(
            {"index": int(index), "bits": f"0x{int(tail[index:index + 1].view(np.uint32)[0]):08x}",
             "value": float(tail[index])})
    cases["tails"]["checksum"] = _hex(checksum(tail))
    with open(os.path.join(directory, "cases.json"), "w", encoding="utf-8") as out:
        json.dump(cases, out, indent=1)
        out.write("\n")


def _parse_shape(text):
    return [int(d) for d in text.split(",") if d.strip()] if text else []


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("uniform", "normal", "integers"):
        p = sub.add_parser(name, help=f"draw a {name} tensor")
        p.add_argument("--seed", type=lambda t: int(t, 0), required=True)
        p.add_argument("--shape", type=_parse_shape, required=True, help="e.g. 32,4096")
        if name == "normal":
            p.add_argument("--mean", type=float, default=0.0)
            p.add_argument("--std", type=float, default=1.0)
        elif name == "uniform":
            p.add_argument("--low", type=float, default=0.0)
            p.add_argument("--high", type=float, default=1.0)
        else:
            p.add_argument("--low", type=int, required=True)
            p.add_argument("--high", type=int, required=True)
            p.add_argument("--dtype", choices=["int32", "int64"], default="int64")
        p.add_argument("--out", help="write a .npy file instead of printing")
    p = sub.add_parser("test-vectors", help="regenerate tests/data/random")
    p.add_argument("directory")
    args = parser.parse_args(argv)

    if args.command == "test-vectors":
        write_test_vectors(args.directory)
        return 0
    if args.command == "uniform":
        values = uniform(args.shape, args.seed, args.low, args.high)
    elif args.command == "normal":
        values = normal(args.shape, args.seed, args.mean, args.std)
    else:
        values = integers(args.shape, args.seed, args.low, args.high, args.dtype)
    if args.out:
        np.save(args.out, values)
    else:
        np.set_printoptions(threshold=64)
        print(values)
    return 0


if __name__ == "__main__":
    sys.exit(main())

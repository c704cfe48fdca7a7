#!/usr/bin/env python3
"""Generate reference fixtures for tests/quant from the PyPI `gguf` package (gguf-py).

gguf-py's numpy (de)quantizers are an implementation independent of ours, so they serve as
the reference for our block layouts and for the legacy formats' round-to-nearest quantizers.

Usage (the venv is not part of the repo):
    python3 -m venv /tmp/qvenv && /tmp/qvenv/bin/pip install gguf numpy
    /tmp/qvenv/bin/python tools/gen-quant-fixtures.py [out_dir]   # default tests/fixtures/quant

Files, all little-endian:
    dequant_<FMT>.bin  deterministic pseudo-random block bytes (scale fields overwritten with
                       sane finite f16 values) and gguf.quants.dequantize's float32 output
    quant_<FMT>.bin    deterministic float32 rows and gguf.quants.quantize's block bytes
                       (legacy formats, F16 and BF16 only: gguf-py has no K-quant quantizer)
Layout of each file:
    char[4]  magic "TMQF"
    u32      version (1)
    u32      kind: 0 = dequantize fixture, 1 = quantize fixture
    u32      ggml type id
    u32      n_rows
    u32      n_per_row (elements)
    u8[n_rows * row_bytes]   quantized rows
    f32[n_rows * n_per_row]  float rows
"""

import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

MAGIC = b"TMQF"
VERSION = 1

# Offsets of the f16 scale/min fields inside one block, from ggml's block structs.
SCALE_OFFSETS = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
}

DEQUANT_TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
                 T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
QUANT_TYPES = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]

N_ROWS = 4
N_PER_ROW = 512


def random_f16_scales(rng, count):
    """Finite f16 values of random sign with magnitudes 2^-20 .. 2^0 (some subnormal)."""
    mag = np.exp2(rng.uniform(-20.0, 0.0, size=count))
    sign = np.where(rng.random(count) < 0.5, -1.0, 1.0)
    return (sign * mag).astype(np.float16)


def random_plain_bits(rng, qtype, count):
    """Raw bits of finite F32/F16/BF16 values, including zeros and subnormals."""
    if qtype == T.F32:
        vals = rng.standard_normal(count).astype(np.float32) * np.float32(3.0)
        vals[:4] = [0.0, -0.0, 1e-40, -3e-39]  # zeros and subnormals
        return vals.view(np.uint8)
    bits = rng.integers(0, 1 << 16, size=count, dtype=np.uint32).astype(np.uint16)
    if qtype == T.F16:
        exp_all_ones = (bits & 0x7C00) == 0x7C00
        bits[exp_all_ones] &= np.uint16(0xBFFF)  # clear the exponent's top bit: finite
    else:  # BF16
        exp_all_ones = (bits & 0x7F80) == 0x7F80
        bits[exp_all_ones] &= np.uint16(0xBFFF)
    return bits.view(np.uint8)


def row_bytes(qtype, n):
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    return n // block_size * type_size


def write_fixture(path, kind, qtype, n_rows, n_per_row, qbytes, floats):
    qbytes = np.ascontiguousarray(qbytes, dtype=np.uint8).reshape(-1)
    floats = np.ascontiguousarray(floats, dtype="<f4").reshape(-1)
    assert qbytes.size == n_rows * row_bytes(qtype, n_per_row)
    assert floats.size == n_rows * n_per_row
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<5I", VERSION, kind, int(qtype), n_rows, n_per_row))
        f.write(qbytes.tobytes())
        f.write(floats.tobytes())


def dequant_fixture(rng, qtype):
    n_elems = N_ROWS * N_PER_ROW
    if qtype in (T.F32, T.F16, T.BF16):
        raw = random_plain_bits(rng, qtype, n_elems)
    else:
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        n_blocks = n_elems // block_size
        raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint16).astype(np.uint8)
        for off in SCALE_OFFSETS[qtype]:
            raw[:, off:off + 2] = random_f16_scales(rng, n_blocks).view(np.uint8).reshape(-1, 2)
    raw = raw.reshape(N_ROWS, -1)
    expected = quants.dequantize(raw, qtype).astype(np.float32)
    assert expected.shape == (N_ROWS, N_PER_ROW)
    assert np.all(np.isfinite(expected))
    return raw, expected


def quant_input(rng):
    """Rows exercising the quantizers: gaussian, tiny, a zero block, a constant block, ties."""
    x = rng.standard_normal((N_ROWS, N_PER_ROW)).astype(np.float32)
    x[1] *= np.float32(1e-3)
    x[2, :32] = 0.0                       # all-zero block: d = 0
    x[2, 32:64] = np.float32(0.75)        # constant block: max == min
    x[2, 64:96] = np.float32(-2.5)
    x[2, 100] = np.float32(4.0)           # +/- ties for the largest magnitude
    x[2, 101] = np.float32(-4.0)
    x[3] = rng.uniform(-100.0, 100.0, size=N_PER_ROW).astype(np.float32)
    return x


def quant_fixture(rng, qtype):
    x = quant_input(rng)
    if qtype == T.F16:
        q = x.astype("<f2").view(np.uint8)
    else:
        q = quants.quantize(x, qtype)
    return q.reshape(N_ROWS, -1), x


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "fixtures", "quant")
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    for qtype in DEQUANT_TYPES:
        rng = np.random.default_rng(1000 + int(qtype))
        raw, expected = dequant_fixture(rng, qtype)
        path = os.path.join(out_dir, f"dequant_{qtype.name}.bin")
        write_fixture(path, 0, qtype, N_ROWS, N_PER_ROW, raw, expected)
        total += os.path.getsize(path)
    for qtype in QUANT_TYPES:
        rng = np.random.default_rng(2000 + int(qtype))
        q, x = quant_fixture(rng, qtype)
        path = os.path.join(out_dir, f"quant_{qtype.name}.bin")
        write_fixture(path, 1, qtype, N_ROWS, N_PER_ROW, q, x)
        total += os.path.getsize(path)
    print(f"wrote {len(DEQUANT_TYPES) + len(QUANT_TYPES)} fixtures, {total} bytes, to {out_dir}")


if __name__ == "__main__":
    main()

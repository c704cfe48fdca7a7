#!/usr/bin/env python3
"""Round-trip RMSE of tokenmill's quantizers vs llama.cpp's, per format, on the same data.

256 rows x 4096 N(0, 1) values (numpy, seeded) are
  - quantized by llama.cpp's ggml_quantize_chunk (no importance matrix), loaded with ctypes from
    the pinned reference build (tools/llamacpp-reference/build -> ~/.cache/tokenmill-ref), and
  - written as one F32 tensor of a tiny GGUF and quantized by `tokenmill quantize --pure`;
both results are dequantized by gguf-py (independent of both) and compared with the input.
The numbers back the bounds in tests/quant/quantize_error_test.cpp.

Usage (gguf and numpy from PyPI, in a venv outside the repo):
  python3 -m venv /tmp/qvenv && /tmp/qvenv/bin/pip install gguf numpy
  /tmp/qvenv/bin/python tools/compare-quant-rmse.py [--tokenmill build/bin/tokenmill]
"""

import argparse
import ctypes
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter, quants

REPO = Path(__file__).resolve().parent.parent
LIB = Path.home() / ".cache/tokenmill-ref/build/bin/libggml-base.so"
# format -> the tokenmill quantize type whose --pure output is that format
FORMATS = {"Q8_0": "Q8_0", "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1",
           "Q2_K": "Q2_K", "Q3_K": "Q3_K_S", "Q4_K": "Q4_K_S", "Q5_K": "Q5_K_S", "Q6_K": "Q6_K"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenmill", default=str(REPO / "build/bin/tokenmill"))
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    lib = ctypes.CDLL(str(LIB))
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    rows, n = args.rows, args.cols
    x = np.random.default_rng(args.seed).standard_normal((rows, n)).astype(np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "gauss-F32.gguf"
        w = GGUFWriter(src, "llama")
        w.add_block_count(1)
        w.add_tensor("blk.0.ffn_up.weight", x)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        print(f"{'format':6} {'llama.cpp':>10} {'tokenmill':>10} {'ratio':>7}")
        for fmt, qtype in FORMATS.items():
            t = T[fmt]
            bs, tb = quants.GGML_QUANT_SIZES[t]
            ref = np.zeros(rows * n // bs * tb, dtype=np.uint8)
            lib.ggml_quantize_chunk(int(t), x.ctypes.data, ref.ctypes.data, 0, rows, n, None)
            y_ref = quants.dequantize(ref.reshape(rows, -1), t)

            out = Path(tmp) / f"gauss-{fmt}.gguf"
            subprocess.run([args.tokenmill, "quantize", str(src), str(out), qtype, "--pure"], check=True,
                           capture_output=True)
            tensor = GGUFReader(out).tensors[0]
            assert tensor.tensor_type == t, (fmt, tensor.tensor_type)
            y_ours = quants.dequantize(np.asarray(tensor.data).reshape(rows, -1), t)
            r_ref = float(np.sqrt(np.mean((y_ref - x) ** 2)))
            r_ours = float(np.sqrt(np.mean((y_ours - x) ** 2)))
            print(f"{fmt:6} {r_ref:10.6f} {r_ours:10.6f} {r_ours / r_ref:7.4f}")


if __name__ == "__main__":
    main()

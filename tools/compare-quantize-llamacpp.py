#!/usr/bin/env python3
"""Quantize one model with both `tokenmill quantize` and llama.cpp, and compare the results.

For each TYPE: quantizes IN with tokenmill and with llama.cpp's llama_model_quantize (through
llama-cpp-python from the pinned reference build, tools/llamacpp-reference/build), then reports
  - the tensor types each tool chose, and every tensor where they differ,
  - both tools' wall time,
  - with --ppl, the perplexity of both files in both engines (tokenmill perplexity and
    llama-perplexity, same text, context and chunks, flash attention off).
Not part of the build or CI; the files go to --workdir (default ~/.cache/tokenmill/quant-compare).

Usage (the reference venv has llama-cpp-python):
  ~/.cache/tokenmill-ref/venv/bin/python tools/compare-quantize-llamacpp.py \\
      ~/.cache/tokenmill/bench-models/smollm2-135m-random-F16.gguf Q4_K_M Q8_0 --ppl
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REF_BIN = Path.home() / ".cache/tokenmill-ref/build/bin"


def tensor_types(tokenmill, path):
    """name -> type from `tokenmill inspect`."""
    out = subprocess.run([tokenmill, "inspect", str(path)], check=True, capture_output=True, text=True).stdout
    types, in_table = {}, False
    for line in out.splitlines():
        if line.startswith("tensors"):
            in_table = True
            continue
        m = re.match(r"\s+(\S+)\s+(\w+)\s+\[", line) if in_table else None
        if m:
            types[m.group(1)] = m.group(2)
    return types


def llama_quantize(inp, out, ftype, threads):
    import llama_cpp

    quiet = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(quiet, None)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(inp).encode(), str(out).encode(), params)
    if rc != 0:
        sys.exit(f"llama_model_quantize failed ({rc})")


def perplexity(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    text = r.stdout + r.stderr
    if r.returncode != 0:
        return f"failed: {text[-300:]}"
    m = re.search(r"Final estimate: PPL = ([\d.]+)", text)  # llama-perplexity
    if m:
        return float(m.group(1))
    m = re.findall(r"perplexity[^\d]*([\d.]+)", text, re.IGNORECASE)
    return float(m[-1]) if m else f"no result in: {text[-300:]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("types", nargs="+")
    ap.add_argument("--tokenmill", default=str(REPO / "build/bin/tokenmill"))
    ap.add_argument("--workdir", default=str(Path.home() / ".cache/tokenmill/quant-compare"))
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--ppl", action="store_true", help="also compare perplexity")
    ap.add_argument("--text", default="/usr/share/common-licenses/GPL-3")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=8)
    args = ap.parse_args()

    # llama_ftype ids, as tokenmill's quant/quantize.h lists them.
    ftypes = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11,
              "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17,
              "Q6_K": 18}
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    stem = Path(args.input).stem.removesuffix("-F16").removesuffix("-F32")
    for t in args.types:
        ours, ref = work / f"{stem}-{t}.tokenmill.gguf", work / f"{stem}-{t}.llamacpp.gguf"
        t0 = time.time()
        r = subprocess.run([args.tokenmill, "quantize", args.input, str(ours), t, "-t", str(args.threads)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr[-2000:])
        t_ours = time.time() - t0
        t0 = time.time()
        llama_quantize(args.input, ref, ftypes[t], args.threads)
        t_ref = time.time() - t0
        a, b = tensor_types(args.tokenmill, ours), tensor_types(args.tokenmill, ref)
        diff = [(n, a.get(n), b.get(n)) for n in sorted(set(a) | set(b)) if a.get(n) != b.get(n)]
        hist = {}
        for n, ty in a.items():
            hist[ty] = hist.get(ty, 0) + 1
        print(f"{t}: {len(a)} tensors, {len(a) - len(diff)} same type in both "
              f"({', '.join(f'{k}:{v}' for k, v in sorted(hist.items()))}); "
              f"sizes {ours.stat().st_size / 2**20:.2f} vs {ref.stat().st_size / 2**20:.2f} MiB; "
              f"time tokenmill {t_ours:.1f} s, llama.cpp {t_ref:.1f} s")
        for n, x, y in diff:
            print(f"  differs: {n}: tokenmill {x}, llama.cpp {y}")
        if args.ppl:
            for label, f in (("tokenmill-quantized", ours), ("llama.cpp-quantized", ref)):
                p_tm = perplexity([args.tokenmill, "perplexity", "-m", str(f), "-f", args.text, "-c", str(args.ctx),
                                   "--chunks", str(args.chunks), "-t", str(args.threads)])
                env_bin = str(REF_BIN / "llama-perplexity")
                p_ll = perplexity([env_bin, "-m", str(f), "-f", args.text, "-c", str(args.ctx), "--chunks",
                                   str(args.chunks), "-t", str(args.threads), "-fa", "off"])
                print(f"  {label:20} ppl: tokenmill {p_tm}, llama.cpp {p_ll}")


if __name__ == "__main__":
    main()

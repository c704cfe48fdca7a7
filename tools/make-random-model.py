#!/usr/bin/env python3
"""Write a random-weight llama-architecture GGUF of a real model's exact shape, for benchmarks.

Shapes (--like):
  llama3.2-1b (default)  hidden 2048, 16 layers, 32 heads, 8 KV heads (head dim 64), FFN 8192,
                         vocab 128256, RoPE base 500000, tied embeddings  (~1.24B parameters)
  smollm2                hidden 576, 30 layers, 9 heads, 3 KV heads (head dim 64), FFN 1536,
                         vocab 49152, RoPE base 100000, tied embeddings   (~135M parameters)

Weights are N(0, 0.02) from a seeded generator (same --seed, same file); norm weights are 1.
2-D weights are stored as F16 (or --type F32/BF16), norms as F32, as convert_hf_to_gguf.py
does. The tokenizer metadata (tokenizer.*) is copied from a GGUF that has the right vocabulary,
so both tokenmill and llama.cpp load and run the file:
  llama3.2-1b: llama.cpp's vocab-only ggml-vocab-llama-bpe.gguf (the Llama 3 BPE vocabulary),
               looked for in ../shared/fixtures/tokenizer/ and in the llama.cpp source that
               tools/llamacpp-reference/build unpacks into ~/.cache/tokenmill-ref/src
  smollm2:     the shipped SmolLM2-135M-Instruct GGUF (scripts/fetch-models)
or from --vocab-from PATH. Llama 3's RoPE frequency scaling (rope_freqs) is left out: with
random weights it changes nothing worth measuring, and both engines run without it.

The output goes to ~/.cache/tokenmill/bench-models/<name>-<TYPE>.gguf (or --out), outside
the repository. Tensor data is generated and written one tensor at a time, so memory stays
at about one tensor (the 1B model's token embedding: 0.5 GB in F16).

Setup (the `gguf` package from PyPI, in a venv outside the repo):
  python3 -m venv /tmp/qvenv && /tmp/qvenv/bin/pip install gguf numpy
Usage:
  /tmp/qvenv/bin/python tools/make-random-model.py                 # Llama-3.2-1B shape, F16
  /tmp/qvenv/bin/python tools/make-random-model.py --like smollm2
  build/bin/tokenmill quantize ~/.cache/tokenmill/bench-models/llama3.2-1b-random-F16.gguf \\
      ~/.cache/tokenmill/bench-models/llama3.2-1b-random-Q4_K_M.gguf Q4_K_M
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("needs the gguf package: python3 -m venv /tmp/qvenv && /tmp/qvenv/bin/pip install gguf numpy")

REPO = Path(__file__).resolve().parent.parent
SHAPES = {
    "llama3.2-1b": dict(
        name="llama3.2-1b-random", hidden=2048, layers=16, heads=32, kv_heads=8, ffn=8192,
        vocab=128256, rope_base=500000.0, ctx=131072, eps=1e-5,
        vocab_files=[
            REPO.parent / "shared/fixtures/tokenizer/ggml-vocab-llama-bpe.gguf",
            Path.home() / ".cache/tokenmill-ref/src/vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf",
        ]),
    "smollm2": dict(
        name="smollm2-135m-random", hidden=576, layers=30, heads=9, kv_heads=3, ffn=1536,
        vocab=49152, rope_base=100000.0, ctx=8192, eps=1e-5,
        vocab_files=[
            Path(os.environ.get("TOKENMILL_MODELS", Path.home() / ".cache/tokenmill/models"))
            / "SmolLM2-135M-Instruct.Q4_1.gguf",
        ]),
}
TYPES = {
    "F32": (gguf.GGMLQuantizationType.F32, np.float32, 0),
    "F16": (gguf.GGMLQuantizationType.F16, np.float16, 1),
    "BF16": (gguf.GGMLQuantizationType.BF16, None, 32),
}


def tensor_list(s):
    """(name, numpy shape (outermost first, as gguf-py takes it), is_norm) in file order."""
    h, hd = s["hidden"], s["hidden"] // s["heads"]
    out = [("token_embd.weight", (s["vocab"], h), False)]
    for i in range(s["layers"]):
        p = f"blk.{i}."
        out += [
            (p + "attn_norm.weight", (h,), True),
            (p + "attn_q.weight", (s["heads"] * hd, h), False),
            (p + "attn_k.weight", (s["kv_heads"] * hd, h), False),
            (p + "attn_v.weight", (s["kv_heads"] * hd, h), False),
            (p + "attn_output.weight", (h, s["heads"] * hd), False),
            (p + "ffn_norm.weight", (h,), True),
            (p + "ffn_gate.weight", (s["ffn"], h), False),
            (p + "ffn_up.weight", (s["ffn"], h), False),
            (p + "ffn_down.weight", (h, s["ffn"]), False),
        ]
    out.append(("output_norm.weight", (h,), True))
    return out


def copy_tokenizer(writer, path):
    reader = gguf.GGUFReader(path)
    n = 0
    for field in reader.fields.values():
        if not field.name.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
        n += 1
    return n, reader


def to_bf16_bits(x):
    """float32 -> bfloat16 bits (round to nearest even), as uint16."""
    b = x.astype(np.float32).view(np.uint32)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--like", choices=sorted(SHAPES), default="llama3.2-1b")
    ap.add_argument("--type", choices=sorted(TYPES), default="F16", help="type of the 2-D weights")
    ap.add_argument("--out", help="output path (default ~/.cache/tokenmill/bench-models/<name>-<TYPE>.gguf)")
    ap.add_argument("--vocab-from", help="GGUF whose tokenizer.* metadata to copy")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--std", type=float, default=0.02)
    args = ap.parse_args()

    s = SHAPES[args.like]
    vocab_file = Path(args.vocab_from) if args.vocab_from else next((p for p in s["vocab_files"] if p.is_file()), None)
    if vocab_file is None or not vocab_file.is_file():
        sys.exit(f"no tokenizer source found (tried {', '.join(map(str, s['vocab_files']))}); pass --vocab-from")
    out = Path(args.out) if args.out else Path.home() / ".cache/tokenmill/bench-models" / f"{s['name']}-{args.type}.gguf"
    out.parent.mkdir(parents=True, exist_ok=True)
    qtype, np_dtype, ftype = TYPES[args.type]

    tmp = out.with_name(out.name + ".tmp")
    w = gguf.GGUFWriter(tmp, "llama")
    hd = s["hidden"] // s["heads"]
    w.add_name(s["name"])
    w.add_context_length(s["ctx"])
    w.add_embedding_length(s["hidden"])
    w.add_block_count(s["layers"])
    w.add_feed_forward_length(s["ffn"])
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv_heads"])
    w.add_rope_freq_base(s["rope_base"])
    w.add_layer_norm_rms_eps(s["eps"])
    w.add_rope_dimension_count(hd)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_vocab_size(s["vocab"])
    w.add_file_type(ftype)
    n_keys, reader = copy_tokenizer(w, vocab_file)
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if tokens is None or len(tokens.data) != s["vocab"]:
        sys.exit(f"{vocab_file}: vocabulary has {0 if tokens is None else len(tokens.data)} tokens, the shape needs {s['vocab']}")

    tensors = tensor_list(s)
    for name, shape, is_norm in tensors:
        if is_norm:
            w.add_tensor_info(name, shape, np.dtype(np.float32), int(np.prod(shape)) * 4)
        else:
            nbytes = int(np.prod(shape)) * (4 if args.type == "F32" else 2)
            dtype = np.dtype(np.float32 if args.type == "F32" else np.float16)
            w.add_tensor_info(name, shape, dtype, nbytes, raw_dtype=qtype if args.type == "BF16" else None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()

    rng = np.random.default_rng(args.seed)
    n_params = 0
    for i, (name, shape, is_norm) in enumerate(tensors):
        if is_norm:
            data = np.ones(shape, dtype=np.float32)
        else:
            x = rng.standard_normal(shape, dtype=np.float32) * np.float32(args.std)
            data = to_bf16_bits(x) if args.type == "BF16" else x.astype(np_dtype)
        n_params += int(np.prod(shape))
        w.write_tensor_data(data)
        if sys.stderr.isatty():
            print(f"\r[{i + 1}/{len(tensors)}] {name:40}", end="", file=sys.stderr, flush=True)
    w.close()
    os.replace(tmp, out)
    print(f"{chr(10) if sys.stderr.isatty() else ''}{out}: {n_params / 1e6:.1f}M parameters, {out.stat().st_size / 2**20:.1f} MiB, "
          f"tokenizer ({n_keys} keys) from {vocab_file}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes tests/fixtures/arch/: tiny random-weight GGUF models of every architecture tokenmill runs
(llama, qwen2, qwen3, gemma3) with llama.cpp's logits for one fixed 40-token sequence.

What it does
  1. Builds, for each architecture, a small model with random F32 weights (numpy seed fixed, so
     the output is the same on every run): n_embd 64, 4 query heads, n_ff 96, a 262-token
     byte-level BPE vocab (256 byte tokens, 4 merges, <|bos|>, <|eos|>), context 128. What each
     model exercises:
       llama   2 layers, GQA (2 KV heads), untied output.weight, RoPE "normal" (adjacent pairs),
               rope.freq_base 500000, linear RoPE scaling factor 2
       qwen2   2 layers, GQA (2 KV heads), Q/K/V biases, NeoX RoPE, tied output
       qwen3   2 layers, GQA (2 KV heads), key_length 32 != n_embd/n_head (Q width 128),
               per-head Q/K RMSNorm, NeoX RoPE, tied output
       gemma3  7 layers, 1 KV head, key_length 32, embeddings * sqrt(n_embd), GeGLU (tanh),
               Q/K norm, post-attention and post-FFN norms, sliding window 8 on layers 0-4 and 6
               (RoPE base 10000) and full attention on layer 5 (rope.freq_base 1000000), tied
     The GGUF files are written by a small writer in this script (GGUF v3), so only numpy and the
     llama_cpp bindings are needed.
  2. Runs llama.cpp (through llama-cpp-python) on TOKENS at positions 0..39 in one batch, no BOS
     added, logits for every position: n_ctx = n_batch = n_ubatch = 64, 2 threads, CPU, flash
     attention off, default (f16) KV cache.
  3. Runs an independent float64 numpy forward pass of the same model and checks it against
     llama.cpp (mean per-position cosine and top-1 agreement), so the fixture is known to be right
     before any tokenmill code is compared with it. Weights are drawn from seeds (SEED, arch,
     attempt) with attempt = 0, 1, ...: the first whose logits have a clear top-1 at every
     position (margin >= MIN_MARGIN logit std, far above llama.cpp's rounding noise) and are not
     dominated by the input token's own embedding is kept.
  4. Checks that deliberately wrong forward passes (MUTANTS: swapped RoPE pairing, missing biases
     or norms, wrong sliding window by one key, wrong RoPE base per layer kind, ...) disagree
     with llama.cpp's logits by more than the test tolerance, so the test can tell.
  5. Writes tests/fixtures/arch/<arch>.gguf, <arch>.logits (float32 little-endian, row-major
     [40][n_vocab]) and tokens.csv (the 40 ids, comma-separated), plus README.md.

Rerun (needs the llama.cpp build made by tools/llamacpp-reference/build):
    ~/.cache/tokenmill-ref/venv/bin/python tools/make-arch-fixtures.py [--check]
--check writes nothing: it regenerates everything in memory and compares with the committed files.
"""

from __future__ import annotations

import argparse
import io
import os
import struct
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT_DIR = os.path.join(REPO, "tests", "fixtures", "arch")

SEED = 20240611
N_TOKENS = 40
N_CTX = 64
N_THREADS = 2
ARCHS = ["llama", "qwen2", "qwen3", "gemma3"]

# --------------------------------------------------------------------------------------------
# Minimal GGUF v3 writer.

GGUF_ALIGN = 32
T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32 = 0


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype: int, v) -> bytes:
    if vtype == T_UINT32:
        return struct.pack("<I", v)
    if vtype == T_INT32:
        return struct.pack("<i", v)
    if vtype == T_FLOAT32:
        return struct.pack("<f", v)
    if vtype == T_BOOL:
        return struct.pack("<B", 1 if v else 0)
    if vtype == T_STRING:
        return _str(v)
    raise ValueError(vtype)


def write_gguf(kvs: list[tuple[str, int, object]], tensors: list[tuple[str, np.ndarray]]) -> bytes:
    """kvs: (key, type, value); for arrays type is (T_ARRAY, elem_type). tensors: numpy float32
    arrays, row-major; GGUF dims are written innermost first (ne[0] = last numpy axis)."""
    out = io.BytesIO()
    out.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for key, vtype, v in kvs:
        out.write(_str(key))
        if isinstance(vtype, tuple):
            _, et = vtype
            out.write(struct.pack("<IIQ", T_ARRAY, et, len(v)))
            for e in v:
                out.write(_value(et, e))
        else:
            out.write(struct.pack("<I", vtype) + _value(vtype, v))
    offset = 0
    blobs = []
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr, dtype="<f4")
        out.write(_str(name) + struct.pack("<I", arr.ndim))
        for d in reversed(arr.shape):
            out.write(struct.pack("<Q", d))
        out.write(struct.pack("<IQ", GGML_F32, offset))
        blob = arr.tobytes()
        blobs.append(blob)
        offset += (len(blob) + GGUF_ALIGN - 1) // GGUF_ALIGN * GGUF_ALIGN
    out.write(b"\0" * (-out.tell() % GGUF_ALIGN))
    for blob in blobs:
        out.write(blob + b"\0" * (-len(blob) % GGUF_ALIGN))
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Vocabulary: GPT-2 style byte-level BPE (each byte mapped to a printable code point).

def byte_tokens() -> list[str]:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    mapping = {}
    extra = 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return [mapping[b] for b in range(256)]


MERGES = ["Ġ t", "h e", "i n", "e r"]
VOCAB = byte_tokens() + [m.replace(" ", "") for m in MERGES] + ["<|bos|>", "<|eos|>"]
TOKEN_TYPES = [1] * (len(VOCAB) - 2) + [3, 3]  # normal, control
BOS_ID = len(VOCAB) - 2
EOS_ID = len(VOCAB) - 1
N_VOCAB = len(VOCAB)


# --------------------------------------------------------------------------------------------
# Model configurations and random weights.

CONFIGS = {
    "llama": dict(n_layer=2, n_embd=64, n_head=4, n_kv=2, head_dim=16, n_ff=96, rope_base=500000.0,
                  rope_linear=2.0, neox=False, tied=False, bias=False, qk_norm=False, gemma=False),
    "qwen2": dict(n_layer=2, n_embd=64, n_head=4, n_kv=2, head_dim=16, n_ff=96, rope_base=1000000.0,
                  rope_linear=None, neox=True, tied=True, bias=True, qk_norm=False, gemma=False),
    "qwen3": dict(n_layer=2, n_embd=64, n_head=4, n_kv=2, head_dim=32, n_ff=96, rope_base=1000000.0,
                  rope_linear=None, neox=True, tied=True, bias=False, qk_norm=True, gemma=False),
    "gemma3": dict(n_layer=7, n_embd=64, n_head=4, n_kv=1, head_dim=32, n_ff=96, rope_base=1000000.0,
                   rope_linear=None, neox=True, tied=True, bias=False, qk_norm=True, gemma=True,
                   window=8, pattern=6),
}
RMS_EPS = {"llama": 1e-5, "qwen2": 1e-6, "qwen3": 1e-6, "gemma3": 1e-6}


def make_weights(arch: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    c = CONFIGS[arch]
    d, hd, ff = c["n_embd"], c["head_dim"], c["n_ff"]
    qw, kvw = c["n_head"] * hd, c["n_kv"] * hd

    def lin(n_out, n_in, gain=1.0):  # stored [n_out][n_in]: y = W x
        return (rng.standard_normal((n_out, n_in)) * gain / np.sqrt(n_in)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    w = {}
    # Gemma scales embeddings by sqrt(d): keep the scaled embedding near unit size. Tied models
    # get small embeddings so the layers, not the input token's own row, decide the logits.
    embd_std = 1.0 / np.sqrt(d) if c["gemma"] else (0.25 if c["tied"] else 1.0)
    w["token_embd.weight"] = (rng.standard_normal((N_VOCAB, d)) * embd_std).astype(np.float32)
    for il in range(c["n_layer"]):
        p = f"blk.{il}."
        w[p + "attn_norm.weight"] = norm(d)
        w[p + "attn_q.weight"] = lin(qw, d)
        w[p + "attn_k.weight"] = lin(kvw, d)
        w[p + "attn_v.weight"] = lin(kvw, d)
        if c["bias"]:
            w[p + "attn_q.bias"] = (0.2 * rng.standard_normal(qw)).astype(np.float32)
            w[p + "attn_k.bias"] = (0.2 * rng.standard_normal(kvw)).astype(np.float32)
            w[p + "attn_v.bias"] = (0.2 * rng.standard_normal(kvw)).astype(np.float32)
        if c["qk_norm"]:
            w[p + "attn_q_norm.weight"] = norm(hd)
            w[p + "attn_k_norm.weight"] = norm(hd)
        w[p + "attn_output.weight"] = lin(d, qw, 0.5)
        if c["gemma"]:
            w[p + "post_attention_norm.weight"] = norm(d)
        w[p + "ffn_norm.weight"] = norm(d)
        w[p + "ffn_gate.weight"] = lin(ff, d)
        w[p + "ffn_up.weight"] = lin(ff, d)
        w[p + "ffn_down.weight"] = lin(d, ff, 0.5)
        if c["gemma"]:
            w[p + "post_ffw_norm.weight"] = norm(d)
    w["output_norm.weight"] = norm(d)
    if not c["tied"]:
        w["output.weight"] = lin(N_VOCAB, d, 2.0)
    return w


def make_gguf(arch: str, w: dict[str, np.ndarray]) -> bytes:
    c = CONFIGS[arch]
    a = arch
    kvs = [
        ("general.architecture", T_STRING, arch),
        ("general.name", T_STRING, f"tokenmill tiny {arch} (random weights)"),
        ("general.file_type", T_UINT32, 0),  # all F32
        (f"{a}.context_length", T_UINT32, 128),
        (f"{a}.embedding_length", T_UINT32, c["n_embd"]),
        (f"{a}.block_count", T_UINT32, c["n_layer"]),
        (f"{a}.feed_forward_length", T_UINT32, c["n_ff"]),
        (f"{a}.attention.head_count", T_UINT32, c["n_head"]),
        (f"{a}.attention.head_count_kv", T_UINT32, c["n_kv"]),
        (f"{a}.attention.layer_norm_rms_epsilon", T_FLOAT32, RMS_EPS[arch]),
        (f"{a}.rope.freq_base", T_FLOAT32, c["rope_base"]),
    ]
    if c["head_dim"] != c["n_embd"] // c["n_head"]:
        kvs += [(f"{a}.attention.key_length", T_UINT32, c["head_dim"]),
                (f"{a}.attention.value_length", T_UINT32, c["head_dim"])]
    if arch == "llama":
        kvs += [(f"{a}.rope.dimension_count", T_UINT32, c["head_dim"]),
                (f"{a}.vocab_size", T_UINT32, N_VOCAB)]
    if c["rope_linear"]:
        kvs += [(f"{a}.rope.scaling.type", T_STRING, "linear"),
                (f"{a}.rope.scaling.factor", T_FLOAT32, c["rope_linear"])]
    if c["gemma"]:
        kvs += [(f"{a}.attention.sliding_window", T_UINT32, c["window"])]
    kvs += [
        ("tokenizer.ggml.model", T_STRING, "gpt2"),
        ("tokenizer.ggml.pre", T_STRING, "default"),
        ("tokenizer.ggml.tokens", (T_ARRAY, T_STRING), VOCAB),
        ("tokenizer.ggml.token_type", (T_ARRAY, T_INT32), TOKEN_TYPES),
        ("tokenizer.ggml.merges", (T_ARRAY, T_STRING), MERGES),
        ("tokenizer.ggml.bos_token_id", T_UINT32, BOS_ID),
        ("tokenizer.ggml.eos_token_id", T_UINT32, EOS_ID),
        ("tokenizer.ggml.add_bos_token", T_BOOL, False),
    ]
    return write_gguf(kvs, list(w.items()))


# --------------------------------------------------------------------------------------------
# Independent float64 reference forward pass (causal, one sequence at positions 0..n-1).

def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x: np.ndarray, pos: np.ndarray, base: float, freq_scale: float, neox: bool) -> np.ndarray:
    """x: [n_tok][n_heads][hd]."""
    hd = x.shape[-1]
    half = hd // 2
    theta = (pos[:, None] * freq_scale) * base ** (-2.0 * np.arange(half) / hd)  # [n_tok][half]
    cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    if neox:
        x0, x1 = x[..., :half], x[..., half:]
    else:
        x0, x1 = x[..., 0::2], x[..., 1::2]
    r0, r1 = x0 * cos - x1 * sin, x0 * sin + x1 * cos
    y = np.empty_like(x)
    if neox:
        y[..., :half], y[..., half:] = r0, r1
    else:
        y[..., 0::2], y[..., 1::2] = r0, r1
    return y


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


# Deliberately wrong variants of the forward pass. Each must disagree clearly with llama.cpp's
# logits (cosine < MUTANT_MAX_COSINE or a top-1 mismatch), which shows the fixture can catch
# that mistake. Only the ones that apply to an architecture are tried.
MUTANTS = {
    "rope pairs swapped (normal <-> neox)": lambda c: True,
    "no rope": lambda c: True,
    "rope base ignored (10000 everywhere)": lambda c: c["rope_base"] != 10000.0 and not c["gemma"],
    "linear rope scaling ignored": lambda c: bool(c["rope_linear"]),
    "no q/k/v bias": lambda c: c["bias"],
    "no q/k norm": lambda c: c["qk_norm"],
    "kv head mapping h % n_kv": lambda c: 1 < c["n_kv"] < c["n_head"],
    "attention scale 1/sqrt(n_embd/n_head)": lambda c: c["head_dim"] != c["n_embd"] // c["n_head"],
    "no embedding scale": lambda c: c["gemma"],
    "silu instead of gelu": lambda c: c["gemma"],
    "no post-attention norm": lambda c: c["gemma"],
    "no post-ffn norm": lambda c: c["gemma"],
    "no sliding window": lambda c: c["gemma"],
    "sliding window one key wider": lambda c: c["gemma"],
    "sliding window one key narrower": lambda c: c["gemma"],
    "sliding window on every layer": lambda c: c["gemma"],
    "swa layers use the global rope base": lambda c: c["gemma"],
    "global layer uses rope base 10000": lambda c: c["gemma"],
}
MUTANT_MAX_COSINE = 0.9999


def reference_forward(arch: str, w32: dict[str, np.ndarray], tokens: list[int],
                      mutant: str | None = None) -> np.ndarray:
    c = CONFIGS[arch]
    mu = mutant or ""
    w = {k: v.astype(np.float64) for k, v in w32.items()}
    eps = RMS_EPS[arch]
    n, d, hd = len(tokens), c["n_embd"], c["head_dim"]
    nh, nkv = c["n_head"], c["n_kv"]
    pos = np.arange(n, dtype=np.float64)
    x = w["token_embd.weight"][tokens]
    if c["gemma"] and mu != "no embedding scale":
        x = x * np.sqrt(d)
    for il in range(c["n_layer"]):
        p = f"blk.{il}."
        swa = c["gemma"] and ((il % c["pattern"]) < c["pattern"] - 1 or mu == "sliding window on every layer")
        h = rms_norm(x, w[p + "attn_norm.weight"], eps)
        q = h @ w[p + "attn_q.weight"].T
        k = h @ w[p + "attn_k.weight"].T
        v = h @ w[p + "attn_v.weight"].T
        if c["bias"] and mu != "no q/k/v bias":
            q, k, v = q + w[p + "attn_q.bias"], k + w[p + "attn_k.bias"], v + w[p + "attn_v.bias"]
        q, k, v = q.reshape(n, nh, hd), k.reshape(n, nkv, hd), v.reshape(n, nkv, hd)
        if c["qk_norm"] and mu != "no q/k norm":
            q = rms_norm(q, w[p + "attn_q_norm.weight"], eps)
            k = rms_norm(k, w[p + "attn_k_norm.weight"], eps)
        base = 10000.0 if swa else c["rope_base"]
        if (mu == "rope base ignored (10000 everywhere)" or
                (mu == "global layer uses rope base 10000" and not swa)):
            base = 10000.0
        if mu == "swa layers use the global rope base" and swa:
            base = c["rope_base"]
        fscale = 1.0 if swa or not c["rope_linear"] else 1.0 / c["rope_linear"]
        if mu == "linear rope scaling ignored":
            fscale = 1.0
        neox = c["neox"] != (mu == "rope pairs swapped (normal <-> neox)")
        if mu != "no rope":
            q, k = rope(q, pos, base, fscale, neox), rope(k, pos, base, fscale, neox)
        # mask[i][j]: query i may see key j
        i_idx, j_idx = np.arange(n)[:, None], np.arange(n)[None, :]
        mask = j_idx <= i_idx
        if swa and mu != "no sliding window":
            window = c["window"] + {"sliding window one key wider": 1,
                                    "sliding window one key narrower": -1}.get(mu, 0)
            mask &= (i_idx - j_idx) < window
        scale = 1.0 / np.sqrt(hd if mu != "attention scale 1/sqrt(n_embd/n_head)" else d // nh)
        att = np.empty((n, nh, hd))
        for hh in range(nh):
            kvh = hh // (nh // nkv) if mu != "kv head mapping h % n_kv" else hh % nkv
            s = (q[:, hh, :] @ k[:, kvh, :].T) * scale
            s = np.where(mask, s, -np.inf)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            att[:, hh, :] = s @ v[:, kvh, :]
        o = att.reshape(n, nh * hd) @ w[p + "attn_output.weight"].T
        if c["gemma"] and mu != "no post-attention norm":
            o = rms_norm(o, w[p + "post_attention_norm.weight"], eps)
        x = x + o
        h = rms_norm(x, w[p + "ffn_norm.weight"], eps)
        g = h @ w[p + "ffn_gate.weight"].T
        u = h @ w[p + "ffn_up.weight"].T
        act = gelu_tanh(g) if c["gemma"] and mu != "silu instead of gelu" else g / (1.0 + np.exp(-g))
        f = (act * u) @ w[p + "ffn_down.weight"].T
        if c["gemma"] and mu != "no post-ffn norm":
            f = rms_norm(f, w[p + "post_ffw_norm.weight"], eps)
        x = x + f
    x = rms_norm(x, w["output_norm.weight"], eps)
    out = w["output.weight"] if "output.weight" in w else w["token_embd.weight"]
    return x @ out.T


# --------------------------------------------------------------------------------------------
# llama.cpp

def llamacpp_logits(gguf_bytes: bytes, tokens: list[int]) -> np.ndarray:
    from llama_cpp import Llama

    with tempfile.NamedTemporaryFile(suffix=".gguf") as f:
        f.write(gguf_bytes)
        f.flush()
        llm = Llama(f.name, n_ctx=N_CTX, n_batch=N_CTX, n_ubatch=N_CTX, n_threads=N_THREADS,
                    n_threads_batch=N_THREADS, n_gpu_layers=0, logits_all=True, flash_attn=False,
                    seed=0, verbose=False)
        assert llm.n_vocab() == N_VOCAB, llm.n_vocab()
        llm.eval(tokens)  # one batch from an empty cache: positions 0..n-1
        logits = np.array(llm.scores[: len(tokens)], dtype=np.float32)
        del llm
    return logits


MIN_MARGIN = 0.02      # smallest top1-top2 logit gap allowed, in units of the row's std
MAX_SELF_TOP1 = 0.5    # at most this share of positions may predict their own input token


def pick_weights(arch: str, tokens: list[int]) -> tuple[int, dict[str, np.ndarray], np.ndarray]:
    """The first weight seed (0, 1, ...) whose float64 logits have a clear top-1 at every
    position (so tiny numeric differences cannot flip it) and are not dominated by the input
    token's own embedding. Deterministic."""
    for attempt in range(1000):
        w = make_weights(arch, np.random.default_rng([SEED, ARCHS.index(arch), attempt]))
        ref = reference_forward(arch, w, tokens)
        s = np.sort(ref, axis=1)
        margin = ((s[:, -1] - s[:, -2]) / ref.std(axis=1)).min()
        self_top1 = (ref.argmax(axis=1) == np.array(tokens)).mean()
        if margin >= MIN_MARGIN and self_top1 <= MAX_SELF_TOP1:
            return attempt, w, ref
    raise RuntimeError(f"no weight seed found for {arch}")


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean per-row cosine, top-1 agreement, smallest top1-top2 gap of b relative to its std."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    cos = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    top1 = (a.argmax(1) == b.argmax(1)).mean()
    s = np.sort(b, axis=1)
    gap = ((s[:, -1] - s[:, -2]) / b.std(axis=1)).min()
    return float(cos.mean()), float(top1), float(gap)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    args = ap.parse_args()

    rng = np.random.default_rng(SEED)
    tokens = [int(t) for t in rng.integers(0, 256, size=N_TOKENS)]  # byte tokens only
    files: dict[str, bytes] = {"tokens.csv": (",".join(map(str, tokens)) + "\n").encode()}
    ok = True
    rows = []
    for arch in ARCHS:
        attempt, w, ref = pick_weights(arch, tokens)
        gguf = make_gguf(arch, w)
        lc = llamacpp_logits(gguf, tokens)
        cos, top1, gap = compare(ref, lc)
        noise = float((np.abs(lc - ref).max(axis=1) / ref.std(axis=1)).max())
        rows.append((arch, cos, top1, gap, []))
        print(f"{arch:7s} seed attempt {attempt}, gguf {len(gguf)} B: llama.cpp vs float64 numpy: "
              f"mean cosine {cos:.7f}, top-1 {100 * top1:.1f}%, smallest top-1 margin {gap:.3f} std, "
              f"largest difference {noise:.1e} std")
        if cos < 0.99999 or top1 < 1.0 or noise > gap / 4:
            print(f"  FAIL: llama.cpp and the numpy reference disagree for {arch}", file=sys.stderr)
            ok = False
        for name, applies in MUTANTS.items():
            if not applies(CONFIGS[arch]):
                continue
            mcos, mtop1, _ = compare(reference_forward(arch, w, tokens, name), lc)
            caught = mcos < MUTANT_MAX_COSINE or mtop1 < 1.0
            print(f"    mutant {name:40s} cosine {mcos:.6f}, top-1 {100 * mtop1:5.1f}%"
                  f"{'' if caught else '   NOT CAUGHT'}")
            ok = ok and caught
            rows[-1][4].append((name, mcos, mtop1))
        files[f"{arch}.gguf"] = gguf
        files[f"{arch}.logits"] = lc.astype("<f4").tobytes()
    files["README.md"] = readme(tokens, rows).encode()
    if not ok:
        return 1
    if args.check:
        for name, data in files.items():
            path = os.path.join(OUT_DIR, name)
            same = os.path.exists(path) and open(path, "rb").read() == data
            if name.endswith(".logits") and os.path.exists(path) and not same:
                old = np.frombuffer(open(path, "rb").read(), dtype="<f4")
                new = np.frombuffer(data, dtype="<f4")
                same = old.shape == new.shape and np.max(np.abs(old - new)) < 1e-4
            print(f"{name:14s} {'same' if same else 'DIFFERENT'}")
            ok = ok and same
        return 0 if ok else 1
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(OUT_DIR, name), "wb") as f:
            f.write(data)
    total = sum(len(d) for d in files.values())
    print(f"wrote {len(files)} files, {total} bytes, to {OUT_DIR}")
    return 0


def readme(tokens: list[int], rows) -> str:
    table = "\n".join(f"| {a} | {c:.7f} | {100 * t:.0f}% | {g:.3f} |" for a, c, t, g, _ in rows)
    mutants = "\n".join(f"| {a} | {name} | {mc:.4f} | {100 * mt:.0f}% |"
                         for a, _, _, _, ms in rows for name, mc, mt in ms)
    return f"""# arch/ — tiny random-weight models of every supported architecture, with llama.cpp's logits

Generated by `tools/make-arch-fixtures.py` (deterministic; see its header for what each model
exercises and how to rerun it). Used by `tests/model/arch_test.cpp`.

- `<arch>.gguf` (llama, qwen2, qwen3, gemma3): F32 random weights, n_embd 64, 4 heads, n_ff 96,
  {N_VOCAB}-token byte-level BPE vocab (bos {BOS_ID}, eos {EOS_ID}).
- `tokens.csv`: the {len(tokens)} token ids fed at positions 0..{len(tokens) - 1} (one sequence, no BOS).
- `<arch>.logits`: llama.cpp's logits (llama-cpp-python 0.3.36's llama.cpp, CPU, {N_THREADS} threads,
  one batch, flash attention off, f16 KV cache): float32 little-endian, row-major
  `[{len(tokens)}][{N_VOCAB}]`.

Checked against an independent float64 numpy forward pass when generated:

| arch | mean cosine | top-1 | smallest top-1 margin (in logit std) |
|---|---|---|---|
{table}

Deliberately wrong float64 forward passes against the same llama.cpp logits (the test requires
mean cosine >= 0.9999 and 100% top-1, so each of these would fail it):

| arch | mistake | mean cosine | top-1 |
|---|---|---|---|
{mutants}
"""


if __name__ == "__main__":
    sys.exit(main())

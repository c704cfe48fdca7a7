#!/usr/bin/env python3
"""Writes tests/fixtures/reference/<model>.json: llama.cpp's tokens, top-20 logits per position,
64 greedy tokens and a perplexity for each shipped model.

Run with the venv made by tools/llamacpp-reference/build:
    ~/.cache/tokenmill-ref/venv/bin/python tools/llamacpp-reference/gen-fixtures.py [MODEL...]
MODEL is smollm2-135m and/or gemma3-270m (default both). See README.md beside this file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np

import llama_cpp
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(REPO, "tests", "fixtures", "reference")
REF_DIR = os.environ.get("TOKENMILL_REF_DIR", os.path.expanduser("~/.cache/tokenmill-ref"))
MODELS_DIR = os.environ.get("TOKENMILL_MODELS", os.path.expanduser("~/.cache/tokenmill/models"))

PINNED_VERSION = "0.3.36"
TOP_K = 20
N_GREEDY = 64
N_CTX = 1024  # every prompt + greedy continuation fits; prompts are kept under 448 tokens
N_THREADS = 2
PPL_FILE = "/usr/share/common-licenses/GPL-3"
PPL_N_CTX = 512
PPL_CHUNKS = 8

MODELS = {
    "smollm2-135m": {
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "template": "chatml",
    },
    "gemma3-270m": {
        "file": "gemma-3-270m-q4_k_m.gguf",
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "template": "gemma",
    },
}

# ---------------------------------------------------------------------------------------------
# Prompts. Chat prompts are lists of (role, content) rendered with the model's template; plain
# prompts are fed as they are. All text here was written for this fixture set.

LONG_ENGLISH = (
    "The old lighthouse stood at the end of a narrow spit of land, where the road gave up and "
    "the gravel turned to sand. For ninety years its lamp had turned every night, first by "
    "clockwork that the keeper wound by hand each evening, later by an electric motor that "
    "hummed in the dark like a patient insect. The last keeper, a retired schoolteacher named "
    "Margit, kept a logbook long after the light was automated. She wrote down the weather, the "
    "ships she could name, the birds that rested on the gallery rail, and, now and then, a "
    "sentence about nothing in particular: the smell of tar after rain, the way the fog swallowed "
    "the horn's note and gave it back a moment later from somewhere else. When the coastal "
    "authority finally sold the building, the buyers found forty-one logbooks stacked in a "
    "cupboard under the stairs. They read them over one winter, a few pages each night, and "
    "decided not to change the tower at all. Instead they opened the ground floor as a small "
    "reading room, put the logbooks on a shelf by the window, and left the last page of the last "
    "book blank, with a pencil beside it, for whoever came next."
)

LONG_CODE = '''import heapq
from collections import defaultdict


class Graph:
    """A weighted directed graph stored as adjacency lists."""

    def __init__(self):
        self.edges = defaultdict(list)

    def add_edge(self, src, dst, weight):
        if weight < 0:
            raise ValueError("Dijkstra needs non-negative weights")
        self.edges[src].append((dst, weight))

    def shortest_paths(self, start):
        dist = {start: 0}
        prev = {}
        heap = [(0, start)]
        while heap:
            d, node = heapq.heappop(heap)
            if d > dist.get(node, float("inf")):
                continue
            for nxt, w in self.edges[node]:
                nd = d + w
                if nd < dist.get(nxt, float("inf")):
                    dist[nxt] = nd
                    prev[nxt] = node
                    heapq.heappush(heap, (nd, nxt))
        return dist, prev


def path_to(prev, target):
    path = [target]
    while path[-1] in prev:
        path.append(prev[path[-1]])
    return path[::-1]
'''

LONG_CHAT = (
    "I run a small bakery and I am trying to decide whether to open on Mondays. Right now we are "
    "closed Sunday evening through Tuesday morning. Our weekday sales are steady, about two "
    "hundred customers a day, and Saturdays are much busier. Opening on Monday would mean hiring "
    "one more part-time baker, because my current team already works five days each and I do not "
    "want to burn anyone out. The extra wages would be roughly six hundred dollars a week, plus "
    "electricity for the ovens. A café across the street is closed on Mondays, so there might be "
    "people looking for coffee and pastries, but I am not sure how many. I also worry that bread "
    "left over from Saturday is currently sold at a discount on Tuesday, and that would change. "
    "Two of my regular customers told me they would come in on Mondays, and a nearby office "
    "asked whether we could deliver sandwiches for their Monday meetings, which could add some "
    "predictable orders. Please give me a short list of the questions I should answer before I "
    "decide, and a simple way to test the idea for a month without committing to it."
)

PROMPTS = [
    # chat
    {"name": "chat-haiku", "kind": "chat", "messages": [("user", "Write a haiku about tokens.")]},
    {"name": "chat-capital", "kind": "chat",
     "messages": [("user", "What is the capital of France?")]},
    {"name": "chat-short-hi", "kind": "chat", "messages": [("user", "Hi")]},
    {"name": "chat-explain", "kind": "chat",
     "messages": [("user", "Explain gravity to a five-year-old in two sentences.")]},
    {"name": "chat-python", "kind": "chat",
     "messages": [("user", "Write a Python function that returns the n-th Fibonacci number.")]},
    {"name": "chat-c", "kind": "chat",
     "messages": [("user", "In C, how do I reverse a string in place? Show the code.")]},
    {"name": "chat-chinese", "kind": "chat",
     "messages": [("user", "请用中文简单介绍一下长城。")]},
    {"name": "chat-math", "kind": "chat",
     "messages": [("user", "What is 17 * 23? Show your work step by step.")]},
    {"name": "chat-system", "kind": "chat",
     "messages": [("system", "You are a concise assistant. Answer in at most five words."),
                  ("user", "What color is the sky on a clear day?")]},
    {"name": "chat-multiturn", "kind": "chat",
     "messages": [("user", "Hi! My name is Ana and I like sailing."),
                  ("assistant", "Hello Ana! Sailing sounds wonderful. How can I help you today?"),
                  ("user", "What is my name, and what hobby did I mention?")]},
    {"name": "chat-french-emoji", "kind": "chat",
     "messages": [("user", "Translate to French: \"The café is closed on Sundays.\" 🙂")]},
    {"name": "chat-long", "kind": "chat", "messages": [("user", LONG_CHAT)]},
    # plain
    {"name": "plain-short-hello", "kind": "plain", "text": "Hello"},
    {"name": "plain-short-once", "kind": "plain", "text": "Once upon a time"},
    {"name": "plain-english", "kind": "plain",
     "text": "The quick brown fox jumps over the lazy dog. Meanwhile, in the farmhouse,"},
    {"name": "plain-python", "kind": "plain",
     "text": "def quicksort(xs):\n    if len(xs) <= 1:\n        return xs\n    pivot = xs[0]\n"
             "    left = [x for x in xs[1:] if x < pivot]\n"},
    {"name": "plain-c", "kind": "plain",
     "text": "#include <stdio.h>\n\nint main(int argc, char **argv) {\n"
             "    for (int i = 0; i < argc; ++i) {\n        printf(\"%d: %s\\n\", i, argv[i]);\n"},
    {"name": "plain-js", "kind": "plain",
     "text": "const fetchJson = async (url) => {\n  const res = await fetch(url);\n"
             "  if (!res.ok) {\n    throw new Error(`HTTP ${res.status}`);\n  }\n"},
    {"name": "plain-chinese", "kind": "plain",
     "text": "北京是中国的首都，也是一座有三千多年历史的城市。每年春天，"},
    {"name": "plain-json", "kind": "plain",
     "text": "{\"name\": \"tokenmill\", \"version\": \"0.1.0\", \"tags\": [\"llm\", \"inference\"], "
             "\"license\": "},
    {"name": "plain-numbers", "kind": "plain", "text": "1, 1, 2, 3, 5, 8, 13, 21, 34,"},
    {"name": "plain-whitespace", "kind": "plain",
     "text": "  two leading spaces\n\n\ttab\tseparated\tvalues\n    four   spaces   inside\n\n\n"
             "end"},
    {"name": "plain-unicode-mix", "kind": "plain",
     "text": "naïve café — Ünïcödé … 日本語のテキスト и русский текст, ελληνικά, emoji 🚀🔥 done."},
    {"name": "plain-markdown", "kind": "plain",
     "text": "# Release notes\n\n- Faster **prefill** on AVX-512\n- Fixed a crash in `gguf` parsing\n\n"
             "## Known issues\n\n1."},
    {"name": "plain-long-english", "kind": "plain", "text": LONG_ENGLISH},
    {"name": "plain-long-code", "kind": "plain", "text": LONG_CODE},
]


def render_chat(template: str, messages: list[tuple[str, str]]) -> str:
    if template == "chatml":
        out = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
        return out + "<|im_start|>assistant\n"
    if template == "gemma":
        # Gemma 3: no system role; a system message is prepended to the first user turn.
        msgs = list(messages)
        system = None
        if msgs and msgs[0][0] == "system":
            system = msgs.pop(0)[1]
        out = ""
        for i, (role, content) in enumerate(msgs):
            if i == 0 and system is not None:
                content = system + "\n\n" + content
            r = "model" if role == "assistant" else role
            out += f"<start_of_turn>{r}\n{content}<end_of_turn>\n"
        return out + "<start_of_turn>model\n"
    raise ValueError(template)


# ---------------------------------------------------------------------------------------------


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def top_k(row: np.ndarray, k: int) -> list[list]:
    idx = np.argpartition(-row, k)[:k]
    # sort by logit desc, ties by id asc
    idx = sorted(idx.tolist(), key=lambda i: (-float(row[i]), i))
    return [[int(i), round(float(row[i]), 4)] for i in idx]


def gap(row: np.ndarray) -> float:
    two = np.partition(row, -2)[-2:]
    return round(float(two[1] - two[0]), 4)


def run_prompt(llm: Llama, vocab, text: str, add_bos: bool) -> dict:
    tokens = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
    # stay inside Gemma 3's 512-token sliding window so no attention is masked by it
    assert len(tokens) + N_GREEDY <= 512, (len(tokens), text[:40])
    llm.reset()
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
    llm.eval(tokens)  # one batch (n_batch = n_ubatch = N_CTX): logits for every position
    n = len(tokens)
    scores = llm.scores
    top = [top_k(scores[i], TOP_K) for i in range(n)]
    greedy, gaps = [], []
    row = scores[n - 1]
    first_eog = None
    for step in range(N_GREEDY):
        tok = int(np.argmax(row))  # ties -> lowest id
        greedy.append(tok)
        gaps.append(gap(row))
        if first_eog is None and llama_cpp.llama_vocab_is_eog(vocab, tok):
            first_eog = step
        if step + 1 < N_GREEDY:
            llm.eval([tok])  # one token at a time, position n + step
            row = scores[n + step]
    return {"tokens": [int(t) for t in tokens], "top": top, "greedy": greedy,
            "greedy_gap": gaps, "first_eog": first_eog}


PPL_METHOD = (
    "llama.cpp llama-perplexity (tools/perplexity/perplexity.cpp, function perplexity(), "
    "ppl_stride=0): the file is read whole and ONE trailing '\\n' is removed; it is tokenized "
    "once as a whole with add_special=true (BOS prepended iff the vocab's add_bos) and "
    "parse_special=false. n_chunk = min(--chunks, n_tokens / n_ctx) (integer division). Chunk i "
    "is tokens[i*n_ctx, (i+1)*n_ctx) with no overlap; if add_bos, the FIRST token of every chunk "
    "is REPLACED by BOS (not prepended), so chunk length stays n_ctx. Each chunk is evaluated "
    "from an empty KV cache at positions 0..n_ctx-1 (causal attention only within the chunk). "
    "Scored: with first = n_ctx/2, the logits at positions j = first .. n_ctx-2 predict the "
    "token at j+1 (the original token, BOS replacement only affects position 0), i.e. "
    "n_ctx-1-first = 255 predictions per chunk for n_ctx=512. nll_j = -(logit[tok] - max - "
    "log(sum_v exp(logit_v - max))) with sum in double over the full vocab; PPL = "
    "exp(sum nll / count) over all chunks, count = n_chunk*(n_ctx-1-first). The printed "
    "running values [k] are exp(mean nll) over chunks 1..k. Run as: llama-perplexity -m MODEL "
    "-f FILE -c 512 --chunks 8 -t 2 (default n_batch 2048, so 4 chunks are decoded in parallel "
    "as 4 sequences of one batch; each sequence only attends to itself; KV cache f16). "
    "Flash attention: the default 'auto' resolves to ON in this CPU build (see "
    "flash_attn_auto_resolved_to; same result as -fa on); ggml's CPU flash-attention kernel "
    "converts Q to F16 for the K.Q dot products and accumulates softmax.V in an F16 "
    "accumulator (ggml-cpu/ops.cpp), which moves PPL measurably. "
    "ppl_flash_attn_off is the same command with -fa off (plain F32 softmax(QK^T)V), the "
    "number an F32-attention implementation should match; python_check_ppl re-does the method "
    "above through llama-cpp-python (flash attention off, one chunk per decode) and agrees "
    "with it, which checks this description."
)


def llama_perplexity(model_path: str, extra: list[str]) -> dict:
    exe = os.path.join(REF_DIR, "build", "bin", "llama-perplexity")
    cmd = [exe, "-m", model_path, "-f", PPL_FILE, "-c", str(PPL_N_CTX), "--chunks",
           str(PPL_CHUNKS), "-t", str(N_THREADS)] + extra
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True)
    out = res.stdout + "\n" + res.stderr
    if res.returncode != 0:
        sys.stderr.write(out[-4000:])
        raise SystemExit(f"llama-perplexity failed ({res.returncode})")
    m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", out)
    if not m:
        sys.stderr.write(out[-4000:])
        raise SystemExit("could not parse llama-perplexity output")
    running = [float(v) for v in re.findall(r"\[\d+\]([0-9.]+),", out)]
    print(f"  llama-perplexity {' '.join(extra) or '(defaults)'}: PPL {m.group(1)} +/- "
          f"{m.group(2)} in {time.monotonic() - t0:.1f} s", flush=True)
    return {"ppl": float(m.group(1)), "ppl_stderr": float(m.group(2)), "running_ppl": running,
            "command": " ".join(["llama-perplexity", "-m", os.path.basename(model_path)] + cmd[3:])}


def python_perplexity(llm: Llama, add_bos: bool, bos: int) -> tuple[float, int]:
    """The method above, re-done through llama-cpp-python as a check of the description."""
    text = open(PPL_FILE, encoding="utf-8").read()
    if text.endswith("\n"):
        text = text[:-1]
    toks = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)
    n_chunk = min(PPL_CHUNKS, len(toks) // PPL_N_CTX)
    first = PPL_N_CTX // 2
    nll, count = 0.0, 0
    for c in range(n_chunk):
        chunk = list(toks[c * PPL_N_CTX:(c + 1) * PPL_N_CTX])
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
        llm.eval(chunk)
        logits = llm.scores[first:PPL_N_CTX - 1].astype(np.float64)
        mx = logits.max(axis=1, keepdims=True)
        lse = np.log(np.exp(logits - mx).sum(axis=1)) + mx[:, 0]
        targets = np.array(toks[c * PPL_N_CTX + first + 1:(c + 1) * PPL_N_CTX])
        nll += float((lse - logits[np.arange(len(targets)), targets]).sum())
        count += len(targets)
    return math.exp(nll / count), len(toks)


def _j(v) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def to_json(doc: dict) -> str:
    """Compact but diff-friendly: one top-level key per line, one prompt field per line and
    one position's top-20 per line."""
    lines = ["{"]
    keys = list(doc)
    for ki, k in enumerate(keys):
        end = "," if ki + 1 < len(keys) else ""
        if k == "prompts":
            lines.append(' "prompts": [')
            for pi, p in enumerate(doc["prompts"]):
                lines.append("  {")
                pkeys = list(p)
                for fi, f in enumerate(pkeys):
                    fend = "," if fi + 1 < len(pkeys) else ""
                    if f == "top":
                        lines.append('   "top": [')
                        rows = p["top"]
                        for ri, row in enumerate(rows):
                            lines.append("    " + _j(row) + ("," if ri + 1 < len(rows) else ""))
                        lines.append("   ]" + fend)
                    else:
                        lines.append(f"   {_j(f)}: {_j(p[f])}{fend}")
                lines.append("  }" + ("," if pi + 1 < len(doc["prompts"]) else ""))
            lines.append(" ]" + end)
        else:
            lines.append(f" {_j(k)}: {_j(doc[k])}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate(name: str) -> None:
    spec = MODELS[name]
    path = os.path.join(MODELS_DIR, spec["file"])
    if not os.path.exists(path):
        raise SystemExit(f"{path} missing: run scripts/fetch-models {name}")
    digest = sha256_of(path)
    if digest != spec["sha256"]:
        raise SystemExit(f"{path}: sha256 {digest} != {spec['sha256']}")
    print(f"{name}: loading {path}", flush=True)
    t0 = time.monotonic()
    llm = Llama(path, n_ctx=N_CTX, n_batch=N_CTX, n_ubatch=N_CTX, n_threads=N_THREADS,
                n_threads_batch=N_THREADS, logits_all=True, flash_attn=False, seed=0,
                verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
    bos = int(llama_cpp.llama_vocab_bos(vocab))
    n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))

    prompts = []
    for p in PROMPTS:
        text = render_chat(spec["template"], p["messages"]) if p["kind"] == "chat" else p["text"]
        r = run_prompt(llm, vocab, text, add_bos)
        print(f"  {p['name']:<22} {len(r['tokens']):4d} tokens, greedy: "
              f"{llm.detokenize(r['greedy'][:12], special=True)!r}", flush=True)
        prompts.append({"name": p["name"], "kind": p["kind"], "text": text, **r})
    lengths = [len(p["tokens"]) for p in prompts]
    assert max(lengths) >= 200, lengths
    print(f"{name}: {len(prompts)} prompts in {time.monotonic() - t0:.1f} s "
          f"(tokens: min {min(lengths)}, max {max(lengths)})", flush=True)

    ppl = llama_perplexity(path, [])
    ppl_fa_on = llama_perplexity(path, ["-fa", "on"])
    ppl_fa_off = llama_perplexity(path, ["-fa", "off"])
    fa_auto = "on" if ppl["ppl"] == ppl_fa_on["ppl"] else (
        "off" if ppl["ppl"] == ppl_fa_off["ppl"] else "unknown")
    t1 = time.monotonic()
    check, n_file_tokens = python_perplexity(llm, add_bos, bos)
    print(f"  python re-implementation of the method: PPL {check:.4f} "
          f"({time.monotonic() - t1:.1f} s)", flush=True)

    doc = {
        "model": name,
        "file": spec["file"],
        "sha256": digest,
        "llama_cpp_python": llama_cpp.__version__,
        "add_bos": add_bos,
        "bos": bos,
        "n_vocab": n_vocab,
        "eval": {
            "n_ctx": N_CTX, "n_batch": N_CTX, "n_ubatch": N_CTX, "n_threads": N_THREADS,
            "flash_attn": False, "kv_cache": "f16",
            "note": "Llama(logits_all=True); each prompt is decoded as one batch from an empty "
                    "KV cache (logits at every position); greedy tokens are argmax (lowest id on "
                    "ties) of the last logits, fed back one token per decode; 64 are produced "
                    "even past an end-of-generation token (first_eog: its index or null). "
                    "Logits are rounded to 4 decimals; greedy_gap = top1 - top2 logit of the "
                    "step's distribution.",
        },
        "prompts": prompts,
        "perplexity": {
            "file": PPL_FILE,
            "n_ctx": PPL_N_CTX,
            "n_chunks": PPL_CHUNKS,
            "add_bos": add_bos,
            "ppl": ppl["ppl"],
            "ppl_stderr": ppl["ppl_stderr"],
            "running_ppl": ppl["running_ppl"],
            "n_file_tokens": n_file_tokens,
            "command": ppl["command"],
            "flash_attn_auto_resolved_to": fa_auto,
            "ppl_flash_attn_off": ppl_fa_off["ppl"],
            "running_ppl_flash_attn_off": ppl_fa_off["running_ppl"],
            "python_check_ppl": round(check, 4),
            "method": PPL_METHOD,
        },
    }
    if llama_cpp.__version__ != PINNED_VERSION:
        print(f"warning: llama_cpp {llama_cpp.__version__} != pinned {PINNED_VERSION}")
    os.makedirs(OUT_DIR, exist_ok=True)
    out = os.path.join(OUT_DIR, f"{name}.json")
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(to_json(doc))
    json.loads(open(tmp, encoding="utf-8").read())  # round-trips
    os.replace(tmp, out)
    print(f"{name}: wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB) in "
          f"{time.monotonic() - t0:.1f} s", flush=True)
    if hasattr(llm, "close"):
        llm.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", metavar="MODEL",
                    help="smollm2-135m, gemma3-270m (default: both)")
    args = ap.parse_args()
    for name in args.models:
        if name not in MODELS:
            ap.error(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    for name in args.models or list(MODELS):
        generate(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Generates the reference token ids that tokenmill's tokenizer tests hold the shipped models to.

The strings are tools/tokenizer-corpus/corpus.jsonl (2,373 strings in 26 categories, built by
tools/tokenizer-corpus/build-corpus.py). For each model the reference encodes every string and
the result is written as JSON lines to tests/fixtures/tokenizer/<model>.jsonl:

  {"cat": ..., "text": ..., "ids": [...]}                 parse_special = false, no BOS/EOS
  ... "ids_special": [...]   special tokens parsed, when that differs (SmolLM2 only)
  ... "decoded": "..."       the reference's decode(ids) when it is not `text` (see below)

References
----------
SmolLM2 (byte-level BPE, tokenizer.ggml.pre = "smollm"):
  Hugging Face `transformers`' GGUF loader, AutoTokenizer.from_pretrained(dir, gguf_file=...),
  with two settings put back that the loader gets wrong for this model (both are what the
  model's own tokenizer.json says, and what llama.cpp does for pre = "smollm"):
    1. pre-tokenizer: the loader installs a plain ByteLevel regex split for every BPE vocab of
       a llama-architecture GGUF and ignores tokenizer.ggml.pre. SmolLM2 was trained with
       Digits(individual_digits=True) before ByteLevel; without it a whitespace run before a
       digit splits differently ("\\n\\n4" gives [198, 198, 36] instead of [1116, 36]): 832 of
       the first corpus' 2,000 strings differed.
    2. unknown bytes: the loader sets unk_token=<|endoftext|> and byte_fallback=True, so the 21
       bytes SmolLM2's vocab has no token for (0x04 0x06 0x13 0x14 0x16 0x1D, and bytes that
       never occur in UTF-8 text the model saw: 0xC0 0xC1 0xF1 0xF2 0xF5-0xFF) become id 0.
       SmolLM2's tokenizer.json has no unk token: such bytes are dropped.
  As a cross-check, an independent reference (Hugging Face `tokenizers` BPE built from the GGUF
  vocab and merges with the same pre-tokenizer) must give identical ids for every string; the
  script stops if it does not. The loader's uncorrected output is counted and reported.

Gemma 3 (SentencePiece BPE, tokenizer.ggml.model = "llama"):
  NOT the transformers GGUF loader: for gemma3 it builds a *Unigram* model from the BPE scores
  (GGUFGemmaConverter), which is not the algorithm Gemma 3 was trained with (SentencePiece BPE):
  "Hello world" becomes [9259, 515, 504, 671] ("Hello", "▁w", "or", "ld") instead of
  [9259, 1902]. It also rewrites the <0x09> byte piece as a literal tab and has no byte
  fallback for literal "<0xNN>" text. The reference is the `sentencepiece` library with a
  ModelProto rebuilt from the GGUF pieces, scores and types (model_type BPE, byte fallback, no
  dummy prefix, identity normalizer). The loader's agreement is still counted and reported.

llama-spm (llama.cpp's vocab-only fixture ggml-vocab-llama-spm.gguf, an extra check of the
  add_space_prefix path): `sentencepiece` as for Gemma 3, with the dummy prefix.

Round trips: "decoded" is written where the reference itself cannot give the text back, by
design: SmolLM2 drops bytes it has no token for; SentencePiece reads a literal U+2581 ("▁") in
the text as its space symbol, so it decodes as " ". tests/tokenizer/models_test.cpp checks that
each such row is explained by exactly that rule.

Also writes tests/fixtures/tokenizer/pretokenize.jsonl: pre-tokenizer splits from Hugging
Face's regex engine for a sample of the corpus.

Setup (no torch; a venv outside the repository):
  python3 -m venv /tmp/tokvenv
  /tmp/tokvenv/bin/pip install "transformers==4.57.6" "tokenizers==0.22.2" "gguf==0.19.0" \\
      "sentencepiece==0.2.3" "protobuf" "numpy"
transformers 5.x imports torch in its GGUF reader; 4.57's loader only checks that torch is
installed before reading metadata (it never touches tensors for a tokenizer), so this script
lifts that check (see load_with_transformers).

Usage: /tmp/tokvenv/bin/python tools/gen-tokenizer-fixtures.py [--models DIR] [--only NAME]
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "tokenizer-corpus", "corpus.jsonl")


def load_corpus(path=CORPUS):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
    return rows


def read_vocab(path):
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(path)

    def field(name):
        f = reader.fields.get(name)
        if f is None:
            return None
        if f.types[0] == GGUFValueType.ARRAY:
            if f.types[1] == GGUFValueType.STRING:
                return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
            return [f.parts[i].tolist()[0] for i in f.data]
        if f.types[0] == GGUFValueType.STRING:
            return bytes(f.parts[f.data[0]]).decode("utf-8")
        return f.parts[f.data[0]].tolist()[0]

    return {
        "model": field("tokenizer.ggml.model"),
        "pre": field("tokenizer.ggml.pre"),
        "tokens": field("tokenizer.ggml.tokens"),
        "types": field("tokenizer.ggml.token_type"),
        "scores": field("tokenizer.ggml.scores"),
        "merges": field("tokenizer.ggml.merges"),
        "bos": field("tokenizer.ggml.bos_token_id"),
        "eos": field("tokenizer.ggml.eos_token_id"),
        "unk": field("tokenizer.ggml.unknown_token_id"),
        "pad": field("tokenizer.ggml.padding_token_id"),
    }


def load_with_transformers(path):
    """AutoTokenizer.from_pretrained(dir, gguf_file=name): the transformers GGUF loader."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    # The loader refuses to run without torch even when it reads metadata only
    # (return_tensors=False, the tokenizer path); nothing below uses torch.
    gguf_utils.is_torch_available = lambda: True
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))


def smollm_pre_tokenizer():
    from tokenizers import pre_tokenizers

    return pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])


def hf_encoder(backend):
    """encode(text) -> (ids, ids with special tokens parsed, decode(ids))."""

    def encode(text):
        backend.encode_special_tokens = True
        plain = backend.encode(text, add_special_tokens=False).ids
        backend.encode_special_tokens = False
        special = backend.encode(text, add_special_tokens=False).ids
        return plain, special, backend.decode(plain, skip_special_tokens=False)

    return encode


def smollm_independent(v):
    from tokenizers import AddedToken, Tokenizer, decoders, models

    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in v["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = smollm_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(v["tokens"], v["types"]) if ty == 3])
    return hf_encoder(tok)


def smollm_reference(path, v, texts, stats):
    raw = hf_encoder(load_with_transformers(path).backend_tokenizer)
    raw_ids = [raw(t)[0] for t in texts]
    # A fresh instance: the first one's BPE word cache holds results made with unk.
    backend = load_with_transformers(path).backend_tokenizer
    backend.pre_tokenizer = smollm_pre_tokenizer()  # correction 1 (see the module docstring)
    backend.model.unk_token = None                  # correction 2
    backend.model.byte_fallback = False
    reference = hf_encoder(backend)
    independent = smollm_independent(v)
    results = []
    for text, raw_plain in zip(texts, raw_ids):
        got = reference(text)
        if got != independent(text):
            sys.exit(f"smollm2: transformers (corrected) and tokenizers disagree on {text!r}:\n"
                     f"  {got}\n  {independent(text)}")
        stats["raw_loader_agrees"] += raw_plain == got[0]
        results.append(got)
    stats["reference"] = "transformers GGUF loader (pre-tokenizer and unk corrected), cross-checked"
    return results


def spm_encoder(v, add_dummy_prefix):
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.trainer_spec.model_type = pb.TrainerSpec.BPE
    proto.trainer_spec.vocab_size = len(v["tokens"])
    proto.trainer_spec.byte_fallback = True
    for key in ("unk", "bos", "eos", "pad"):  # -1: the model has none
        setattr(proto.trainer_spec, key + "_id", -1 if v[key] is None else v[key])
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = add_dummy_prefix
    proto.normalizer_spec.remove_extra_whitespaces = False
    proto.normalizer_spec.escape_whitespaces = True
    # GGUF token types use SentencePiece's numbering (1 normal ... 6 byte). The GGUF converter
    # wrote user-defined pieces with plain spaces where the model has U+2581 ("\u2581\u2581"
    # became two spaces); undo that so SentencePiece can match them in normalized text.
    for text, score, ty in zip(v["tokens"], v["scores"], v["types"]):
        p = proto.pieces.add()
        p.piece = text.replace(" ", "\u2581") if ty == 4 else text
        p.score = score
        p.type = ty
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto.SerializeToString())

    def encode(text):
        ids = sp.encode(text)
        return ids, None, sp.decode(ids)

    return encode


def gemma_reference(path, v, texts, stats):
    encode = spm_encoder(v, add_dummy_prefix=False)
    results = [encode(t) for t in texts]
    try:
        loaded = load_with_transformers(path)
        for text, (ids, _, _) in zip(texts, results):
            stats["raw_loader_agrees"] += loaded.encode(text, add_special_tokens=False) == ids
    except Exception as e:  # reported, not fatal: the loader is not the reference here
        stats["raw_loader_error"] = repr(e)
    stats["reference"] = "sentencepiece (BPE, byte fallback) from the GGUF pieces"
    return results


def llama_spm_reference(path, v, texts, stats):
    encode = spm_encoder(v, add_dummy_prefix=True)
    stats["reference"] = "sentencepiece (BPE, byte fallback, dummy prefix) from the GGUF pieces"
    return [encode(t) for t in texts]


# Pre-tokenizer splits from Hugging Face's implementation (Oniguruma regexes) for the names
# whose HF pre-tokenizer is a plain sequence of regex splits; tokenmill runs the same patterns
# through PCRE2, so this catches any difference between the two regex engines.
GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
            r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT4O_RE = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
            r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}|"
            r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
CJK_RE = r"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+"


def pre_tokenizers_reference():
    from tokenizers import Regex, pre_tokenizers as pt

    def split(pattern):
        return pt.Split(Regex(pattern), behavior="isolated")

    return {
        "gpt-2": pt.Sequence([split(GPT2_RE)]),
        "llama3": pt.Sequence([split(LLAMA3_RE)]),
        "qwen2": pt.Sequence([split(QWEN2_RE)]),
        "gpt-4o": pt.Sequence([split(GPT4O_RE)]),
        "smollm": pt.Sequence([pt.Digits(individual_digits=True), split(GPT2_RE)]),
        "deepseek-coder": pt.Sequence([split(r"[\r\n]"), split(r"\s?\p{L}+"), split(r"\s?\p{P}+"),
                                       split(CJK_RE), pt.Digits(individual_digits=True)]),
    }


def write_pre_tokenizer_fixture(rows, out_dir):
    # The hand cases plus every 5th string of the rest, up to 2,000 characters each.
    texts = [r["text"] for i, r in enumerate(rows)
             if (r["category"] == "hand" or i % 5 == 0) and len(r["text"]) <= 2000]
    out_path = os.path.join(out_dir, "pretokenize.jsonl")
    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        for name, pre in pre_tokenizers_reference().items():
            for text in texts:
                words = [w for w, _ in pre.pre_tokenize_str(text)]
                out.write(json.dumps({"pre": name, "text": text, "words": words},
                                     ensure_ascii=False) + "\n")
    print(f"wrote {len(texts)} pre-tokenizer cases x 6 to {os.path.normpath(out_path)}")


# name -> (GGUF file, where it lives: the models folder or shared/fixtures/tokenizer, reference)
MODELS = {
    "smollm2": ("SmolLM2-135M-Instruct.Q4_1.gguf", "models", smollm_reference),
    "gemma3": ("gemma-3-270m-q4_k_m.gguf", "models", gemma_reference),
    "llama-spm": ("ggml-vocab-llama-spm.gguf", "shared", llama_spm_reference),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=os.environ.get("TOKENMILL_MODELS") or
                    os.path.join(os.path.expanduser("~"), ".cache", "tokenmill", "models"))
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared", "fixtures", "tokenizer"),
                    help="llama.cpp vocab fixtures (shared/fixtures/tokenizer)")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "fixtures", "tokenizer"))
    ap.add_argument("--only", choices=sorted(MODELS) + ["pretokenize"], help="generate one file")
    args = ap.parse_args()

    rows = load_corpus()
    texts = [r["text"] for r in rows]
    os.makedirs(args.out, exist_ok=True)
    if args.only in (None, "pretokenize"):
        write_pre_tokenizer_fixture(rows, args.out)
    for name, (filename, where, make) in MODELS.items():
        if args.only and name != args.only:
            continue
        path = os.path.join(args.models if where == "models" else args.shared, filename)
        if not os.path.exists(path):
            print(f"skip {name}: {path} not found", file=sys.stderr)
            continue
        stats = {"raw_loader_agrees": 0}
        results = make(path, read_vocab(path), texts, stats)
        out_path = os.path.join(args.out, f"{name}.jsonl")
        not_round_trip = 0
        with open(out_path, "w", encoding="utf-8", newline="\n") as out:
            for row, (plain, special, decoded) in zip(rows, results):
                line = {"cat": row["category"], "text": row["text"], "ids": plain}
                if special is not None and special != plain:
                    line["ids_special"] = special
                if decoded != row["text"]:
                    line["decoded"] = decoded
                    not_round_trip += 1
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        print(f"{name}: wrote {len(texts)} strings to {os.path.normpath(out_path)}; reference: "
              f"{stats['reference']}; reference decode differs from the text for {not_round_trip}")
        if name != "llama-spm":
            print(f"  transformers GGUF loader as is: {stats['raw_loader_agrees']}/{len(texts)} "
                  f"identical{'; ' + stats['raw_loader_error'] if 'raw_loader_error' in stats else ''}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generates reference token ids for tokenmill's tokenizer tests from independent tokenizers.

For each shipped model, the vocabulary is read from its GGUF file and handed to a reference
implementation configured the way the model was trained:
  - SmolLM2 (byte-level BPE): Hugging Face `tokenizers` with BPE(vocab, merges) and the
    pre-tokenizer of SmolLM2's tokenizer.json (Digits(individual) + ByteLevel regex);
  - Gemma 3 (SentencePiece BPE): the `sentencepiece` library with a ModelProto rebuilt from the
    GGUF pieces, scores and types (byte fallback, no dummy prefix).
A deterministic corpus (hand-written edge cases + seeded random text in many scripts) is
encoded and written as JSON lines to tests/fixtures/tokenizer/<model>.jsonl:
  {"text": ..., "ids": [...]}                      parse_special = false
  {"text": ..., "ids": [...], "ids_special": [...]} also with special tokens parsed (BPE only)

Needs: pip install gguf tokenizers sentencepiece protobuf  (no torch).
Usage: tools/gen-tokenizer-fixtures.py [--models DIR] [--out DIR] [--count N]
"""

import argparse
import json
import os
import random
import sys

CASES = [
    "", " ", "  ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\t\t\n  \n",
    "Hello", " Hello", "Hello world", "Hello, world!", "  leading", "trailing  ", "a  b   c    d",
    "I've been told he's there, you're sure? We'll see, I'd say, they'd've", "DON'T SHOUT, I'M HERE",
    "3", "33", "333", "3333", "12345678901234567890", "3.14159", "1,000,000", "-42", "0x1F", "1e-9",
    "2024-01-15T12:34:56Z", "$19.99", "50%", "#1", "v1.2.3",
    "🦙", "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅", "👨‍👩‍👧‍👦", "🇫🇷🇩🇪", "❤️", "⭐️⭐️⭐️",
    "нещо на Български", "Cửa Việt", "Äpfel über Straße", "ñandú", "façade naïve coöperate",
    "我想在apple工作1314151天～", "日本語のテキスト", "한국어 텍스트입니다", "ไทยภาษา", "العربية نص",
    "עברית טקסט", "हिन्दी पाठ", "Ελληνικά κείμενο", "Հայերեն", "ქართული", "កាន់តែពិសេសអាច",
    "e\u0301", "a\u0308o\u0308", "\u00a0nbsp\u00a0", "\u3000ideographic\u3000space", "zero\u200bwidth",
    "\u2028line\u2029para", "tab\u000bvt\u000cff", "\u0085nel",
    "def foo(x):\n    return x * 2\n", "if (a && b) { return c; }", "for i in range(10): print(i)",
    "#include <stdio.h>\nint main() { printf(\"%d\\n\", 42); }", "SELECT * FROM t WHERE id = 1;",
    "<div class=\"x\">Hi</div>", "**bold** _it_ `code` [link](http://x.y/z?a=1&b=2)",
    '{"key": [1, 2, {"n": null}], "s": "v"}', "https://example.com/path/to/file.html#frag",
    "user@example.com", "C:\\Users\\name\\file.txt", "/usr/local/bin", "~/.cache", "a->b=>c::d",
    "!!!!!!", "??!?!", "......", "------======", "'''''''```````\"\"\"\"", "((()))[[]]{{}}",
    "' era", "\n =", " (", "   Hello\n    Hello", "<|im_start|>user\nHi<|im_end|>",
    "<|endoftext|>", "<s>", "</s>", "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
    "<bos>text", "<eos>", "<pad>", "<unk>", "<mask>", "[multimodal]", "<unused0>", "<|im_end", "im_end|>",
    "<<|im_start|>>", "<|im_start|><|im_start|>", "text<|im_end|>more", "<start_of_image>",
]

WORDS = (
    "the of and to in is was he for it with as his on be at by had are but from or have an they "
    "which one you were all her she there would their we him been has when who will no more if out "
    "so up said what its about than into them can only other time new some could these two may "
    "first then do any like my now over such our man me even most made after also did many off "
    "before must well back through years much where your way down should because long each just "
    "people state being world however tokenizer model inference batch kernel quantized latency "
    "throughput server request stream cache prefix scheduler sampler embedding attention layer "
    "Paris London Tokyo Berlin Alice Bob NASA GPU CPU HTTP JSON API SmolLM Gemma don't can't "
    "it's I'm you're we've they'll she'd O'Brien rock'n'roll e-mail co-operate well-known "
    "naïve café résumé jalapeño Zürich São Paulo Kraków Ålesund Øresund Æsir"
).split()

SCRIPTS = [
    (0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x00FF), (0x0100, 0x017F), (0x0370, 0x03FF),
    (0x0400, 0x04FF), (0x0530, 0x058F), (0x05D0, 0x05EA), (0x0620, 0x064A), (0x0900, 0x097F),
    (0x0E01, 0x0E5B), (0x10A0, 0x10FF), (0x1780, 0x17DD), (0x3040, 0x309F), (0x30A0, 0x30FF),
    (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x2000, 0x206F), (0x2190, 0x21FF), (0x2200, 0x22FF),
    (0x2500, 0x257F), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F900, 0x1F9FF),
    (0xFF01, 0xFF5E), (0x0021, 0x002F), (0x003A, 0x0040), (0x005B, 0x0060), (0x007B, 0x007E),
    (0x0030, 0x0039), (0x0300, 0x036F), (0x1D400, 0x1D4FF),
]
SPACES = [" ", " ", " ", " ", "  ", "\n", "\t", "\n\n", "   ", "\u00a0", "\u3000", " \n", "\r\n"]
PUNCT = [".", ",", "!", "?", ";", ":", "'", '"', "(", ")", "-", "--", "...", "'s", "'ll", "/"]


def random_text(rng):
    kind = rng.random()
    parts = []
    n = rng.randint(1, 24)
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            w = rng.choice(WORDS)
            c = rng.random()
            if c < 0.15:
                w = w.capitalize()
            elif c < 0.2:
                w = w.upper()
            parts.append(w)
        elif r < 0.7:
            parts.append(str(rng.randint(0, 10 ** rng.randint(1, 12))))
        elif r < 0.85 or kind < 0.3:
            lo, hi = rng.choice(SCRIPTS)
            parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 8))))
        else:
            parts.append(rng.choice(PUNCT))
        parts.append(rng.choice(SPACES) if rng.random() < 0.85 else rng.choice(PUNCT))
    text = "".join(parts)
    if rng.random() < 0.2:
        text = rng.choice(SPACES) + text
    if rng.random() < 0.5:
        text = text.rstrip() if rng.random() < 0.5 else text
    # Lone surrogates cannot be encoded as UTF-8; they are outside every range above anyway.
    return text


def corpus(count, seed=20240611):
    rng = random.Random(seed)
    texts = list(CASES)
    seen = set(texts)
    while len(texts) < count:
        t = random_text(rng)
        if t not in seen:
            seen.add(t)
            texts.append(t)
    return texts


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


def smollm_reference(v):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in v["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = [AddedToken(t, special=True, normalized=False)
                for t, ty in zip(v["tokens"], v["types"]) if ty == 3]
    tok.add_special_tokens(specials)

    def encode(text):
        tok.encode_special_tokens = True
        plain = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        special = tok.encode(text, add_special_tokens=False).ids
        return plain, special

    return encode


def spm_reference(v, add_dummy_prefix):
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
        return sp.encode(text), None

    return encode


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


def write_pre_tokenizer_fixture(texts, out_dir):
    out_path = os.path.join(out_dir, "pretokenize.jsonl")
    with open(out_path, "w", encoding="utf-8") as out:
        for name, pre in pre_tokenizers_reference().items():
            for text in texts:
                words = [w for w, _ in pre.pre_tokenize_str(text)]
                out.write(json.dumps({"pre": name, "text": text, "words": words},
                                     ensure_ascii=False) + "\n")
    print(f"wrote pre-tokenizer splits to {os.path.normpath(out_path)}")


def gemma_reference(v):
    return spm_reference(v, add_dummy_prefix=False)


def llama_spm_reference(v):
    return spm_reference(v, add_dummy_prefix=True)


# name -> (GGUF file, where it lives: the models folder or shared/fixtures/tokenizer, reference)
MODELS = {
    "smollm2": ("SmolLM2-135M-Instruct.Q4_1.gguf", "models", smollm_reference),
    "gemma3": ("gemma-3-270m-q4_k_m.gguf", "models", gemma_reference),
    "llama-spm": ("ggml-vocab-llama-spm.gguf", "shared", llama_spm_reference),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=os.environ.get("TOKENMILL_MODELS") or
                    os.path.join(os.path.expanduser("~"), ".cache", "tokenmill", "models"))
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "shared", "fixtures", "tokenizer"),
                    help="llama.cpp vocab fixtures (shared/fixtures/tokenizer)")
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "tokenizer"))
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--only", choices=sorted(MODELS), help="generate one model's file")
    args = ap.parse_args()

    texts = corpus(args.count)
    os.makedirs(args.out, exist_ok=True)
    if not args.only:
        write_pre_tokenizer_fixture(texts[:400], args.out)
    for name, (filename, where, make) in MODELS.items():
        if args.only and name != args.only:
            continue
        path = os.path.join(args.models if where == "models" else args.shared, filename)
        if not os.path.exists(path):
            print(f"skip {name}: {path} not found", file=sys.stderr)
            continue
        encode = make(read_vocab(path))
        out_path = os.path.join(args.out, f"{name}.jsonl")
        with open(out_path, "w", encoding="utf-8") as out:
            for text in texts:
                plain, special = encode(text)
                row = {"text": text, "ids": plain}
                if special is not None and special != plain:
                    row["ids_special"] = special
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"wrote {len(texts)} cases to {os.path.normpath(out_path)}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds tools/tokenizer-corpus/corpus.jsonl: the strings tokenmill's tokenizers are checked on.

Every line is {"category": ..., "text": ...}. The text comes from the hand-written material in
material_text.py and material_code.py, the hand edge cases below, and seeded variations of
them, so the output is the same on every run (Python's `random` with fixed seeds; no hash
randomization is involved). Duplicates are dropped (first category wins).

    python3 tools/tokenizer-corpus/build-corpus.py          # rewrites corpus.jsonl, prints counts

tools/gen-tokenizer-fixtures.py reads corpus.jsonl and writes the expected token ids.
"""

import base64
import json
import os
import random
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)

from material_code import CODE  # noqa: E402
from material_text import (  # noqa: E402
    CJK, COMBINING, COMBINING_MARKS, EMOJI_SINGLE, EMOJI_ZWJ, EN_WORDS, FLAGS, INVISIBLE, KEYCAPS,
    MIXED, ODD_VALID, PROSE, SCRIPTS, SKIN_BASES, SKIN_TONES)

# Hand edge cases, kept from the first version of the fixtures.
HAND = [
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

SPACES = [" ", " ", " ", " ", "  ", "\n", "\t", "\n\n", "   ", "\u00a0", "\u3000", " \n", "\r\n"]
PUNCT = [".", ",", "!", "?", ";", ":", "'", '"', "(", ")", "-", "--", "...", "'s", "'ll", "/"]
RANGES = [
    (0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x00FF), (0x0100, 0x017F), (0x0370, 0x03FF),
    (0x0400, 0x04FF), (0x0530, 0x058F), (0x05D0, 0x05EA), (0x0620, 0x064A), (0x0900, 0x097F),
    (0x0E01, 0x0E5B), (0x10A0, 0x10FF), (0x1780, 0x17DD), (0x3040, 0x309F), (0x30A0, 0x30FF),
    (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x2000, 0x206F), (0x2190, 0x21FF), (0x2200, 0x22FF),
    (0x2500, 0x257F), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F900, 0x1F9FF),
    (0xFF01, 0xFF5E), (0x0021, 0x002F), (0x003A, 0x0040), (0x005B, 0x0060), (0x007B, 0x007E),
    (0x0030, 0x0039), (0x0300, 0x036F), (0x1D400, 0x1D4FF),
]


def run_of(rng, lo, hi, n):
    return "".join(chr(rng.randint(lo, hi)) for _ in range(n))


def random_mix(rng):
    """Word/number/script/punctuation soup (the first fixture version's generator)."""
    kind = rng.random()
    parts = []
    for _ in range(rng.randint(1, 24)):
        r = rng.random()
        if r < 0.55:
            w = rng.choice(EN_WORDS)
            c = rng.random()
            w = w.capitalize() if c < 0.15 else w.upper() if c < 0.2 else w
            parts.append(w)
        elif r < 0.7:
            parts.append(str(rng.randint(0, 10 ** rng.randint(1, 12))))
        elif r < 0.85 or kind < 0.3:
            lo, hi = rng.choice(RANGES)
            parts.append(run_of(rng, lo, hi, rng.randint(1, 8)))
        else:
            parts.append(rng.choice(PUNCT))
        parts.append(rng.choice(SPACES) if rng.random() < 0.85 else rng.choice(PUNCT))
    text = "".join(parts)
    if rng.random() < 0.2:
        text = rng.choice(SPACES) + text
    if rng.random() < 0.25:
        text = text.rstrip()
    return text


def sentence(rng, words=EN_WORDS):
    n = rng.randint(4, 18)
    ws = [rng.choice(words) for _ in range(n)]
    ws[0] = ws[0].capitalize()
    out = ""
    for i, w in enumerate(ws):
        out += w
        if i + 1 < n:
            out += ", " if rng.random() < 0.08 else " "
    return out + rng.choice([".", ".", ".", "!", "?", "...", ":"])


def gen_prose(rng):
    out = list(PROSE)
    joins = [" ", " ", "\n", "\n\n", "  ", "\r\n"]
    while len(out) < 260:
        r = rng.random()
        if r < 0.45:
            k = rng.randint(2, 5)
            i = rng.randrange(len(PROSE))
            picks = [PROSE[(i + j * 7) % len(PROSE)] for j in range(k)]
            t = rng.choice(joins).join(picks)
        elif r < 0.7:
            t = " ".join(sentence(rng) for _ in range(rng.randint(1, 6)))
        elif r < 0.8:
            t = rng.choice(PROSE)
            t = rng.choice([t.upper(), t.lower(), t.title(), " " + t, t + "\n", "> " + t, "- " + t,
                            '"' + t + '"', t.replace(" ", "  "), "\t" + t])
        elif r < 0.9:
            t = "\n".join(f"{i + 1}. {sentence(rng)}" for i in range(rng.randint(2, 6)))
        else:
            # A longer paragraph (1-3 KB).
            t = " ".join(rng.choice(PROSE) for _ in range(rng.randint(10, 30)))
        out.append(t)
    return out


def gen_code(rng, lang):
    snippets = CODE[lang]
    out = list(snippets)
    fence = {"python": "python", "c_cpp": "cpp", "js_ts": "typescript", "rust": "rust", "go": "go",
             "sql": "sql", "shell": "bash"}[lang]
    while len(set(out)) < 60:
        s = rng.choice(snippets)
        lines = s.split("\n")
        a = rng.randrange(len(lines))
        b = min(len(lines), a + rng.randint(1, 12))
        t = "\n".join(lines[a:b])
        r = rng.random()
        if r < 0.15:
            t = t.replace("\n", "\r\n")
        elif r < 0.3:
            t = t.replace("    ", "\t")
        elif r < 0.4:
            t = t.replace("\t", "    ")
        elif r < 0.5:
            t = f"```{fence}\n{t}\n```"
        elif r < 0.6:
            t = "Here is the code:\n\n" + t + "\n\nDoes that help?"
        elif r < 0.65:
            t = "\n".join(line + " " * rng.randint(0, 3) for line in t.split("\n"))
        if not t.strip():
            t = s
        out.append(t)
    return out


def gen_cjk(rng):
    out = list(CJK)
    zh, ja, ko = CJK[:12], CJK[12:21], CJK[21:]
    while len(set(out)) < 180:
        r = rng.random()
        if r < 0.3:
            pool = rng.choice([zh, ja, ko])
            t = rng.choice(["", " ", "\n", "　"]).join(rng.sample(pool, rng.randint(2, 4)))
        elif r < 0.5:
            lo, hi = rng.choice([(0x4E00, 0x6FFF), (0x3041, 0x3096), (0x30A1, 0x30FA), (0xAC00, 0xD7A3)])
            t = run_of(rng, lo, hi, rng.randint(1, 40))
        elif r < 0.7:
            t = rng.choice(CJK) + rng.choice([" ", ""]) + sentence(rng)
        elif r < 0.85:
            t = rng.choice(CJK).replace("，", ", ").replace("。", ". ")
        else:
            t = rng.choice(CJK) * rng.randint(2, 5)
        out.append(t)
    return out


def gen_scripts(rng, name):
    pool = SCRIPTS[name]
    out = list(pool)
    target = 34 if name != "latin_ext" else 30
    while len(out) < target:
        r = rng.random()
        if r < 0.4:
            t = rng.choice([" ", "\n", " — ", ". "]).join(rng.sample(pool, min(len(pool), rng.randint(2, 3))))
        elif r < 0.6:
            t = rng.choice(pool) + " " + str(rng.randint(0, 99999)) + rng.choice([".", "!", "?", ""])
        elif r < 0.8:
            words = " ".join(pool).split()
            t = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        else:
            t = rng.choice(pool).upper() + "\n" + rng.choice(pool).lower()
        out.append(t)
    return out


def gen_emoji(rng):
    out = []
    out += EMOJI_ZWJ + FLAGS + KEYCAPS
    for base in SKIN_BASES:
        for tone in SKIN_TONES:
            if rng.random() < 0.5:
                out.append(base + tone)
    everything = EMOJI_SINGLE + EMOJI_ZWJ + FLAGS + KEYCAPS + [b + t for b in SKIN_BASES for t in SKIN_TONES]
    while len(out) < 160:
        r = rng.random()
        if r < 0.3:
            t = "".join(rng.choice(everything) for _ in range(rng.randint(2, 8)))
        elif r < 0.5:
            t = " ".join(rng.choice(everything) for _ in range(rng.randint(2, 6)))
        elif r < 0.75:
            s = sentence(rng).split(" ")
            i = rng.randrange(len(s) + 1)
            s.insert(i, rng.choice(everything))
            t = rng.choice([" ", ""]).join(s) if rng.random() < 0.3 else " ".join(s)
        elif r < 0.85:
            # Regional indicators in odd numbers / mixed (pairing must not go wrong).
            t = "".join(chr(rng.randint(0x1F1E6, 0x1F1FF)) for _ in range(rng.randint(1, 7)))
        elif r < 0.95:
            t = rng.choice(SKIN_BASES) + "\u200D" + rng.choice(EMOJI_SINGLE) + rng.choice(SKIN_TONES)
        else:
            t = rng.choice(EMOJI_SINGLE) * rng.randint(3, 30)
        out.append(t)
    return out


def gen_combining(rng):
    out = list(COMBINING)
    latin = SCRIPTS["latin_ext"] + SCRIPTS["thai_sea"][9:] + PROSE[:5]
    while len(set(out)) < 105:
        r = rng.random()
        if r < 0.35:
            t = unicodedata.normalize("NFD", rng.choice(latin))
        elif r < 0.7:
            w = rng.choice(EN_WORDS)
            t = "".join(c + "".join(rng.choice(COMBINING_MARKS) for _ in range(rng.randint(0, 6))) for c in w)
        elif r < 0.85:
            t = rng.choice(COMBINING_MARKS) * rng.randint(1, 20)
        else:
            t = " ".join(rng.choice(COMBINING) for _ in range(rng.randint(2, 5)))
        out.append(t)
    return out


def gen_whitespace(rng):
    ws = [" ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\v", "\f", "\u2003", "  ", "\n\n"]
    out = []
    for c in [" ", "\t", "\n", "\r\n", "\r", "\u00a0"]:
        for n in (1, 2, 3, 5, 8, 17):
            out.append(c * n)
    while len(out) < 125:
        r = rng.random()
        if r < 0.4:
            words = [rng.choice(EN_WORDS) for _ in range(rng.randint(2, 10))]
            t = ""
            for w in words:
                t += w + "".join(rng.choice(ws) for _ in range(rng.randint(1, 5)))
            if rng.random() < 0.5:
                t = "".join(rng.choice(ws) for _ in range(rng.randint(1, 4))) + t
            if rng.random() < 0.4:
                t = t.rstrip()
        elif r < 0.6:
            t = "".join(rng.choice(ws) for _ in range(rng.randint(1, 30)))
        elif r < 0.8:
            lines = [rng.choice(["", "\t", "    ", "  ", "\t\t", "        "]) + sentence(rng) for _ in range(rng.randint(2, 6))]
            t = rng.choice(["\n", "\r\n", "\n\n", " \n", "\t\n"]).join(lines)
        else:
            t = rng.choice(EN_WORDS) + rng.choice(["\t", " \t ", "\n \n", "\r\n\r\n", " \r\n"]) * rng.randint(1, 6) + rng.choice(EN_WORDS)
        out.append(t)
    # Very long whitespace.
    for n in (64, 100, 257, 1000, 2048, 4100):
        out.append(" " * n)
        out.append("\n" * (n // 2))
        out.append(("\t" if n % 2 else " \t") * (n // 4) + "end")
        out.append("start" + "".join(rng.choice([" ", "\t", "\n", "\r\n"]) for _ in range(n)))
    return out


def gen_digits(rng):
    out = []
    for n in list(range(1, 41)) + [48, 64, 100, 333]:
        out.append("".join(str(rng.randint(0, 9)) for _ in range(n)))
    while len(out) < 135:
        r = rng.random()
        x = rng.randint(0, 10 ** rng.randint(1, 15))
        if r < 0.1:
            t = f"{x:,}"
        elif r < 0.2:
            t = f"{x:,}".replace(",", ".") + f",{rng.randint(0, 99):02d}"
        elif r < 0.3:
            t = f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
        elif r < 0.4:
            t = f"{rng.randint(1900, 2100)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999999)}"
        elif r < 0.5:
            t = ".".join(str(rng.randint(0, 255)) for _ in range(4)) + f":{rng.randint(1, 65535)}"
        elif r < 0.6:
            t = f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 9)}f}" + rng.choice(["", "e-12", "E+7", "%", " kg"])
        elif r < 0.7:
            t = "".join(rng.choice("abcXYZ_-") if rng.random() < 0.3 else str(rng.randint(0, 9)) for _ in range(rng.randint(4, 30)))
        elif r < 0.8:
            digits = rng.choice(["０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "⁰¹²³⁴⁵⁶⁷⁸⁹", "①②③④⑤⑥⑦⑧⑨", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗"])
            t = "".join(rng.choice(digits) for _ in range(rng.randint(1, 20)))
        elif r < 0.9:
            t = f"0x{x:x}" if rng.random() < 0.5 else f"v{rng.randint(0, 20)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}"
        else:
            t = " ".join(str(rng.randint(0, 10 ** rng.randint(1, 8))) for _ in range(rng.randint(2, 12)))
        out.append(t)
    return out


def gen_long_words(rng):
    out = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    for n in (1000, 1024, 1500, 2500, 4096):
        out.append("a" * n)
        out.append("".join(rng.choice(letters) for _ in range(n)))
    out.append("ab" * 700)
    out.append("xyz" * 500)
    out.append("Donaudampfschifffahrtsgesellschaftskapitän" * 30)
    out.append("Supercalifragilisticexpialidocious" * 40)
    out.append("pneumonoultramicroscopicsilicovolcanoconiosis" * 25)
    out.append("https://example.com/" + "/".join("seg" + str(i) for i in range(200)) + "?q=" + "x" * 300)
    for n in (800, 1500, 3000):
        out.append(base64.b64encode(rng.randbytes(n)).decode())
        out.append(rng.randbytes(n // 2).hex())
    out.append("_".join(rng.choice(EN_WORDS) for _ in range(250)))
    out.append("".join(rng.choice(EN_WORDS).capitalize() for _ in range(250)))
    out.append(run_of(rng, 0x4E00, 0x9FFF, 1200))
    out.append(run_of(rng, 0xAC00, 0xD7A3, 1100))
    out.append(run_of(rng, 0x3041, 0x3096, 1300))
    out.append("".join(rng.choice(SCRIPTS["thai_sea"][1:5])for _ in range(40)).replace(" ", ""))
    out.append(run_of(rng, 0x0430, 0x044F, 1500))
    out.append(run_of(rng, 0x0627, 0x064A, 1200))
    out.append(run_of(rng, 0x0905, 0x0939, 1100))
    out.append("".join(rng.choice(EMOJI_SINGLE) for _ in range(400)))
    out.append("🇺🇸" * 300)
    out.append("1234567890" * 120)
    out.append("=" * 1200)
    out.append("-" * 2000 + ">")
    out.append("." * 1500)
    out.append("é" * 1100)
    out.append(("e\u0301") * 800)
    out.append("\u200b".join(["word"] * 300))
    out.append("A" * 3000 + "!")
    out.append("Ab1" * 600)
    out.append("\U0001F600" * 700)
    out.append("ﬀ" * 1000)
    out.append("\u00a0" * 1200)
    while len(out) < 62:
        n = rng.randint(1000, 3000)
        alphabet = rng.choice([letters, letters.upper() + letters, "0123456789abcdef", "ёжзийклмнопрст", "αβγδεζηθικλμν"])
        out.append("".join(rng.choice(alphabet) for _ in range(n)))
    return out


LOOKALIKES = [
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<start_of_turn>", "<end_of_turn>", "<s>", "</s>",
    "<bos>", "<eos>", "<unk>", "<pad>", "<mask>", "<|im_", "im_start|>", "<|im_start", "|im_start|",
    "<|IM_START|>", "< |im_start| >", "<start_of_turn", "start_of_turn>", "<0x41>", "<0x0A>", "<0xZZ>",
    "<0x>", "<0x4142>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "<|begin_of_text|>",
    "<|start_header_id|>", "<|eot_id|>", "<think>", "</think>", "<tool_call>", "<|user|>",
    "<|assistant|>", "<|system|>", "<repo_name>", "<filename>", "<jupyter_code>", "<empty_output>",
    "<image_soft_token>", "<start_of_image>", "<unused99>", "[multimodal]", "<table>", "<tr>", "<br>",
    "<|fim_prefix|>", "<fim_middle>", "<｜begin▁of▁sentence｜>", "&lt;s&gt;", "\\<s\\>", "<<s>>",
    "<s><s></s>", "</s></s>", "<|im_start|>system", "<end_of_turn>\n", "<unk><unk>",
]


def gen_special(rng):
    out = list(LOOKALIKES)
    chat = [
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "<start_of_turn>user\nTranslate 'cat' to French.<end_of_turn>\n<start_of_turn>model\nchat<end_of_turn>\n",
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello!</s>",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        "<bos><start_of_turn>user\nhello<end_of_turn>",
        "The tag <s> marks a sentence start and </s> its end.",
        "In ChatML, messages are wrapped in <|im_start|> and <|im_end|> markers.",
        "Type <|im_ then press tab.",
        "byte token <0x41> is the letter A; <0xE2><0x96><0x81> is U+2581.",
    ]
    out += chat
    while len(out) < 160:
        r = rng.random()
        tok = rng.choice(LOOKALIKES)
        if r < 0.3:
            t = sentence(rng).replace(" ", f" {tok} ", 1)
        elif r < 0.5:
            t = rng.choice(EN_WORDS) + tok + rng.choice(EN_WORDS)
        elif r < 0.65:
            t = "".join(rng.choice(LOOKALIKES) for _ in range(rng.randint(2, 5)))
        elif r < 0.8:
            t = rng.choice([" ", "\n", "  ", "\t"]) + tok + rng.choice([" ", "\n", "  ", ""]) + sentence(rng)
        elif r < 0.9:
            cut = rng.randint(1, max(1, len(tok) - 1))
            t = tok[:cut] + rng.choice(["", " ", "x"]) + tok[cut:]
        else:
            t = rng.choice(chat).replace("\n", rng.choice(["\n", "\r\n", " "]))
        out.append(t)
    return out


def gen_unicode_edge(rng):
    out = list(ODD_VALID) + list(INVISIBLE)
    out += ["\uFEFF" + "Hello", "Hello\uFEFF", "\uFEFF\uFEFF", "\uFEFFdef main():\n    pass\n",
            "a\u00a0b\u00a0c", "10\u00a0000\u00a0€", "word\u200bword\u200bword", "zero\u200cnon\u200djoiner",
            "\u2060\u2060", "soft\u00adhyphen", "right\u202eto\u202cleft", "\u200f\u05e9\u05dc\u05d5\u05dd\u200e ok"]
    while len(out) < 130:
        r = rng.random()
        if r < 0.35:
            s = sentence(rng)
            i = rng.randrange(len(s) + 1)
            t = s[:i] + rng.choice(INVISIBLE) * rng.randint(1, 3) + s[i:]
        elif r < 0.6:
            t = rng.choice(EN_WORDS) + rng.choice(ODD_VALID) + rng.choice(EN_WORDS)
        elif r < 0.8:
            t = "".join(rng.choice(ODD_VALID + INVISIBLE) for _ in range(rng.randint(2, 8)))
        else:
            t = rng.choice(INVISIBLE).join(rng.choice(EN_WORDS) for _ in range(rng.randint(2, 8)))
        out.append(t)
    return out


def gen_mixed(rng):
    out = list(MIXED)
    pools = [PROSE, CJK] + list(SCRIPTS.values())
    while len(out) < 130:
        r = rng.random()
        if r < 0.4:
            t = rng.choice([" ", "", "\n", " / "]).join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(2, 4)))
        elif r < 0.6:
            code = rng.choice(list(CODE.values()))[0].split("\n")
            i = rng.randrange(len(code))
            code.insert(i, rng.choice(["# ", "// ", "-- "]) + rng.choice(CJK + SCRIPTS["cyrillic"] + SCRIPTS["arabic"]))
            t = "\n".join(code[max(0, i - 3): i + 4])
        elif r < 0.8:
            a = rng.choice(EN_WORDS)
            b = rng.choice(rng.choice(pools[1:])).split(" ")[0]
            t = a + b + rng.choice(EN_WORDS) + " " + b + a
        else:
            t = sentence(rng) + " " + rng.choice(EMOJI_SINGLE) + " " + rng.choice(CJK) + " " + str(rng.randint(0, 10 ** 6))
        out.append(t)
    return out


def build():
    rng = random.Random(20240611)
    cats = [("hand", HAND)]
    cats.append(("prose_en", gen_prose(random.Random(1))))
    for i, lang in enumerate(CODE):
        cats.append((f"code_{lang}", gen_code(random.Random(100 + i), lang)))
    cats.append(("cjk", gen_cjk(random.Random(2))))
    for i, name in enumerate(SCRIPTS):
        cats.append((f"script_{name}", gen_scripts(random.Random(200 + i), name)))
    cats.append(("emoji", gen_emoji(random.Random(3))))
    cats.append(("combining", gen_combining(random.Random(4))))
    cats.append(("whitespace", gen_whitespace(random.Random(5))))
    cats.append(("digits", gen_digits(random.Random(6))))
    cats.append(("long_words", gen_long_words(random.Random(7))))
    cats.append(("special_lookalikes", gen_special(random.Random(8))))
    cats.append(("unicode_edge", gen_unicode_edge(random.Random(9))))
    cats.append(("mixed_scripts", gen_mixed(random.Random(10))))
    mix = []
    seen_mix = set()
    while len(mix) < 200:
        t = random_mix(rng)
        if t not in seen_mix:
            seen_mix.add(t)
            mix.append(t)
    cats.append(("random_mix", mix))

    rows, seen, counts = [], set(), {}
    for cat, texts in cats:
        for t in texts:
            if t in seen:
                continue
            t.encode("utf-8")  # no lone surrogates
            seen.add(t)
            rows.append({"category": cat, "text": t})
            counts[cat] = counts.get(cat, 0) + 1
    return rows, counts


def main():
    rows, counts = build()
    path = os.path.join(HERE, "corpus.jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    width = max(len(c) for c in counts)
    for cat, n in counts.items():
        print(f"{cat:<{width}}  {n:5d}")
    print(f"{'total':<{width}}  {len(rows):5d}  -> {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
